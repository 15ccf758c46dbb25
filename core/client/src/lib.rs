//! The device side of Baoming: the local store, the registration documents kept in it, and the
//! network transport that syncs them with the server. The domain itself (documents, the sync
//! engine, validation, photos) is `baoming-core`'s; this crate adds the files, the clock and the
//! network around it.
//!
//! [`SyncClient`] is what an app (through the bindings) uses:
//!
//! ```text
//!  app ──edit()──► SyncClient ──persist──► LocalStore (folder: documents, sync state, photos …)
//!   ▲                │   │
//!   │ ClientEvent    │   └─ PUT /api/blobs/{sha256}   pending photos, before their reference
//!   └── listener ◄───┤
//!                    ├─ GET /api/sync  (WebSocket)    sync_now() once, or start() in background
//!                    ├─ POST /api/sync/batch (CBOR)   sync_batch() for background fetch
//!                    └─ POST /api/registrations/{exam}/{submit|withdraw|apply-review}
//!                                                     the outbox, after each successful sync
//! ```
//!
//! [`AccountApi`] holds the online-only calls: the account ([`account`]), the catalog, status
//! and seats, and what comes after submission ([`after_submit`]: pay, refresh the payment,
//! the PDFs, the center's notices).
//!
//! Every REST request, answer, error body, path and header is the core's REST contract,
//! re-exported as [`api`]: the calls answer its types (a registration is an
//! [`api::registrations::RegistrationView`], a refusal carries an [`api::error::ErrorCode`]),
//! and nothing here spells a path, a field or a code of the server's again. The client's own
//! codes, for photo uploads that never reached the server, are [`local_codes`].
//!
//! * **Documents.** [`SyncClient::open_registration`] opens (or creates from genesis) the
//!   candidate's document for an exam session; [`SyncClient::edit`] runs one of the
//!   [`RegistrationDoc`](baoming_core::RegistrationDoc) edit operations and persists it atomically before returning;
//!   [`SyncClient::draft`], [`SyncClient::server`] and [`SyncClient::read`] read.
//! * **Sync.** One transport at a time: [`SyncClient::sync_now`] connects over WebSocket,
//!   uploads pending photos, syncs every open registration until both sides are quiet and
//!   disconnects; [`SyncClient::start`] keeps a connection open, pushes local edits and applies
//!   server pushes live, reconnecting with exponential backoff and jitter ([`Backoff`]) and
//!   stopping on an authentication failure; [`SyncClient::sync_batch`] does the same exchange as
//!   HTTP requests. The sync state is persisted per document with a storage id kept in the
//!   store, so the server resumes where the device left off.
//! * **Refusals.** The server is the authority over what a candidate may still change, so a
//!   refused batch is final for those edits. The document returns to what the server accepted
//!   (`PeerSync::reset_after_refusal`), the rewritten history is persisted with its new actor,
//!   the refused edits are appended to the store's rejected edits and reported as
//!   [`ClientEvent::EditsRejected`], and the server's state is pulled. Nothing loops.
//! * **Photos.** [`SyncClient::attach_photo`] stores a prepared photo, marks it for upload and
//!   sets the reference. A registration whose photo is not yet on the server is held back —
//!   never synced — until the upload succeeds, so the server never sees a reference to a blob
//!   it lacks; a rejected photo is a typed error and an [`UploadEvent::Failed`].
//! * **Lifecycle actions** ([`outbox`]). [`SyncClient::submit`], [`SyncClient::withdraw`] and
//!   [`SyncClient::apply_for_review`] queue the action with a fresh idempotency key (a submission
//!   with the draft's heads at that moment) and persist it before returning, online or not. After
//!   each successful sync the queue is sent in order over HTTP with the stored keys, so a retry
//!   after a lost answer never acts twice; transient failures keep an action queued with backoff,
//!   final answers leave the queue as [`ActionOutcome`]s ([`ClientEvent::ActionFinished`],
//!   [`SyncClient::action_outcomes`]).
//! * **Token.** The session token is given by the app and kept in memory only
//!   ([`SyncClient::set_token`] after a new login).
//!
//! Edits are synchronous (they write files); everything that talks to the network is `async`
//! and needs a tokio runtime (the HTTP calls run on its blocking pool).
//!
//! # Layers
//!
//! Each module imports only from the rows below its own (`tests/layering.rs` checks this chart
//! against the imports, and that they have no cycle). The transports sit under the façade and
//! reach the client's state through `state`'s `Inner`, never through [`SyncClient`].
//!
//! ```text
//!  sync_client                  SyncClient (the façade), RunHandle, the background loop of start()
//!  ws · batch · after_submit    the WebSocket and the HTTP batch sync · pay, PDFs, notices
//!  drain · account              sending the queued actions after a sync · AccountApi
//!  http                         the blocking HTTP calls (ureq): blobs, batch rounds, actions
//!  state                        Inner (config, token, open documents, listener, wake-ups),
//!                               ClientConfig, SyncReport, URL derivation, the blocking pool
//!  session                      Docs: the open registrations and their sync bookkeeping
//!  events · persist             ClientEvent and ClientListener · a document in the store
//!  error · outbox               ClientError · the queued actions, their outcomes, the queue
//!  store · backoff · clock      the folder · reconnect delays · the wall clock
//! ```
//!
//! `lib.rs` itself only declares the modules and re-exports their public items.

pub mod account;
pub mod after_submit;
mod backoff;
mod batch;
mod clock;
mod drain;
mod error;
mod events;
mod http;
pub mod outbox;
mod persist;
mod session;
mod state;
pub mod store;
mod sync_client;
mod ws;

pub use account::{AccountApi, Captcha, CaptchaAnswer, CatalogFetch};
pub use after_submit::idempotency_key;
pub use backoff::Backoff;
pub use baoming_core::api;
pub use clock::now_ms;
pub use error::{ClientError, DocumentRefusal, local_codes};
pub use events::{ChangeOrigin, ClientEvent, ClientListener, ConnectionState, UploadEvent};
pub use outbox::{
    ActionKind, ActionOutcome, ActionRefusal, ActionResult, QueueError, QueuedAction, RefusalCode,
};
pub use state::{ClientConfig, SyncReport};
pub use store::{CachedCatalog, LocalStore, StoreError};
pub use sync_client::{RunHandle, SyncClient};
