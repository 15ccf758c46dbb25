//! Baoming's shared core: the domain logic that the candidate's device and the server both run.
//!
//! * [`catalog`] — exam sessions, centers, subjects, agreement and form schema, loaded from TOML
//!   and validated.
//! * [`form`] — form field types and per-answer validation.
//! * [`id_document`] — identity documents and their check rules (GB 11643-1999 and others).
//! * [`photo`] — photo rules, the photo checker and the preparer (orient, face-aware crop,
//!   resize, metadata-free re-encode into the byte range).
//! * [`draft`] — the plain data of a registration (draft and server section).
//! * [`validate`] — whole-draft validation returning every issue at once.
//! * [`lifecycle`] — statuses, events, the transition function and the editable-path table.
//! * [`document`] — the Automerge registration document: deterministic id and genesis, the typed
//!   candidate API, and the incoming-change check.
//!
//! Nothing here does I/O or knows about FFI; the server and the bindings wrap it.

pub mod catalog;
pub mod document;
pub mod draft;
pub mod form;
pub mod id_document;
pub mod lifecycle;
pub mod photo;
pub mod validate;

pub use catalog::{Catalog, CatalogError, ExamSession, TestCenter};
pub use document::{DocError, DocumentId, Refusal, RegistrationDoc};
pub use draft::{Draft, ServerSection};
pub use id_document::{IdDocument, IdError, IdKind};
pub use lifecycle::{Event, Status, transition};
pub use validate::{Availability, Issue, IssueCode, validate};
