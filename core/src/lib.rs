//! Baoming's shared core: the domain logic that the candidate's device and the server both run.
//!
//! * [`api`] — the REST contract shared by the server, the device client and the bindings:
//!   every JSON body, error code, path and header of the HTTP API, typed once.
//! * [`catalog`] — exam sessions, centers, subjects, agreement and form schema, loaded from TOML
//!   and validated.
//! * [`form`] — form field types and per-answer validation.
//! * [`coverage`] — which characters the PDF documents can print (the shipped fonts' coverage as
//!   a table, without the fonts), so text they cannot print is refused where it is entered.
//! * [`id_document`] — identity documents and their check rules (GB 11643-1999 and others).
//! * [`photo`] — photo rules, the photo checker and the preparer (orient, face-aware crop,
//!   resize, metadata-free re-encode into the byte range).
//! * [`seats`] — seat accounting (`held + paid + free == capacity`), all-or-nothing per registration.
//! * [`draft`] — the plain data of a registration (draft and server section).
//! * [`validate`](mod@validate) — whole-draft validation returning every issue at once.
//! * [`lifecycle`] — statuses, events, the transition function and the editable-path table.
//! * [`sync`] — the sans-IO sync engine: Automerge sync with the server's check on a fork and
//!   the device's refusal path.
//! * [`ticket`] — admission ticket payloads signed with the exam's Ed25519 key, verified offline.
//! * [`wire`] — the sync protocol's frame codec (automerge-repo protocol "1" in CBOR, plus
//!   Baoming's refusal extension).
//! * [`document`] — the Automerge registration document: deterministic id and genesis, the typed
//!   candidate API, and the incoming-change check.
//!
//! * [`documents`] (feature `documents`) — the registration form and admission ticket as PDF:
//!   pure rendering (data in, PDF bytes out) with a shipped CJK font embedded as a subset.
//!
//! Nothing here does I/O (no files, no network, no runtime) or knows about FFI: the device client
//! (crate `baoming-client`), the server and the bindings wrap it.

pub mod api;
pub mod catalog;
pub mod coverage;
pub mod document;
#[cfg(feature = "documents")]
pub mod documents;
pub mod draft;
pub mod form;
pub mod id_document;
pub mod lifecycle;
pub mod photo;
pub mod seats;
pub mod sync;
pub mod ticket;
pub mod validate;
pub mod wire;

pub use catalog::{Catalog, CatalogError, ExamSession, TestCenter};
pub use document::{DocError, DocumentId, Refusal, RegistrationDoc};
pub use draft::{Draft, ServerSection};
pub use id_document::{IdDocument, IdError, IdKind};
pub use lifecycle::{Event, Status, transition};
pub use validate::{Availability, Issue, IssueCode, validate};
