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
//! * **Documents.** [`SyncClient::open_registration`] opens (or creates from genesis) the
//!   candidate's document for an exam session; [`SyncClient::edit`] runs one of the
//!   [`RegistrationDoc`] edit operations and persists it atomically before returning;
//!   [`SyncClient::draft`], [`SyncClient::server`] and [`SyncClient::read`] read.
//! * **Sync.** One transport at a time: [`SyncClient::sync_now`] connects over WebSocket,
//!   uploads pending photos, syncs every open registration until both sides are quiet and
//!   disconnects; [`SyncClient::start`] keeps a connection open, pushes local edits and applies
//!   server pushes live, reconnecting with exponential backoff and jitter ([`Backoff`]) and
//!   stopping on an authentication failure; [`SyncClient::sync_batch`] does the same exchange as
//!   HTTP requests. The sync state is persisted per document with a storage id kept in the
//!   store, so the server resumes where the device left off.
//! * **Refusals** (DESIGN §5). When the server refuses a batch, the document returns to what the
//!   server accepted (`PeerSync::reset_after_refusal`), the rewritten history is persisted with
//!   its new actor, the refused edits are appended to the store's rejected edits and reported as
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

pub mod account;
pub mod after_submit;
mod backoff;
mod events;
mod http;
pub mod outbox;
mod session;
pub mod store;
mod sync_client;
mod ws;

use automerge::ActorId;

pub use account::{AccountApi, Captcha, CaptchaAnswer, CatalogFetch, CenterSeats, Session, SubjectSeats};
pub use after_submit::{
    CandidateDocument, CenterNotices, DocumentRefusal, Notice, PaymentAnswer, PaymentOrder, TicketCode,
    idempotency_key,
};
pub use backoff::Backoff;
use baoming_core::document::{DocError, DocumentId, RegistrationDoc};
pub use events::{ChangeOrigin, ClientEvent, ClientListener, ConnectionState, UploadEvent};
pub use outbox::{
    ActionKind, ActionOutcome, ActionRefusal, ActionResult, QueueError, QueuedAction, RefusalCode,
    RegistrationStatus,
};
pub use store::{CachedCatalog, LocalStore, StoreError};
pub use sync_client::{ClientConfig, RunHandle, SyncClient, SyncReport};

/// Chunks kept on top of a snapshot before the document is compacted.
pub const COMPACT_AFTER_CHUNKS: usize = 32;

/// Errors of the device-side client. Each variant says what the app can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The local store failed (disk full, permissions, corrupt file): show it, retry later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document operation failed (e.g. the status locks that part of the draft).
    #[error(transparent)]
    Document(#[from] DocError),
    /// The server URL is not `http://…` or `https://…`: a configuration error.
    #[error("invalid server URL `{0}`: expected http://host[:port] or https://host[:port]")]
    InvalidUrl(String),
    /// The server could not be reached (no network, DNS, connection refused or dropped):
    /// retry later; [`SyncClient::start`] does so by itself.
    #[error("the server cannot be reached: {0}")]
    Network(String),
    /// The session token was refused (HTTP 401): sign in again and call
    /// [`SyncClient::set_token`]. The background sync stops instead of retrying.
    #[error("the session token was refused: sign in again")]
    Unauthorized,
    /// The operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server answered an HTTP error with its machine-readable code.
    #[error("the server answered {status} {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The `code` of the JSON error body (empty if there was none).
        code: String,
        /// The `message` of the JSON error body.
        message: String,
    },
    /// The server ended the sync with an `error` frame (`code: message`, protocol.md §7–§8),
    /// e.g. `rate_limited`.
    #[error("the server ended the sync: {code}: {message}")]
    Refused {
        /// Machine-readable code.
        code: String,
        /// Text.
        message: String,
    },
    /// The server sent something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The server refused a photo (`photo_rejected`, `digest_mismatch`, `too_large` …): the
    /// registration that references it is not synced until the candidate picks another photo.
    #[error("photo {sha256} was refused by the server ({code}): {message}")]
    PhotoRejected {
        /// The photo's SHA-256.
        sha256: String,
        /// The server's code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server does not offer this registration (e.g. the exam session left the catalog).
    #[error("the server does not offer the registration for exam `{0}`")]
    DocumentUnavailable(String),
    /// No registration for this exam was opened with [`SyncClient::open_registration`].
    #[error("no registration for exam `{0}` is open on this device")]
    UnknownRegistration(String),
    /// Another sync (WebSocket, batch or the background task) is running; wait for it.
    #[error("another sync is already running")]
    Busy,
    /// The server will not hand out this document now (not paid, outside the printing window,
    /// not eligible for a ticket).
    #[error(transparent)]
    DocumentRefused(#[from] DocumentRefusal),
}

/// Opens the registration document of `account_id` for `exam_id` from the store, or creates it
/// from genesis with a fresh device actor (recorded in the store).
pub fn open_registration(
    store: &LocalStore,
    exam_id: &str,
    account_id: &str,
) -> Result<(DocumentId, RegistrationDoc), ClientError> {
    let id = DocumentId::derive(exam_id, account_id);
    let actor = match store.document_actor(&id)? {
        Some(a) => a,
        None => {
            let a = ActorId::random();
            store.set_document_actor(&id, &a)?;
            a
        }
    };
    let doc = match store.load_document(&id)? {
        Some(bytes) => RegistrationDoc::load(&bytes, actor)?,
        None => {
            let mut doc = RegistrationDoc::new(exam_id, actor)?;
            store.replace_document(&id, &doc.save())?;
            doc
        }
    };
    Ok((id, doc))
}

/// Persists what changed since the last save, compacting when the chunks pile up.
pub fn persist(store: &LocalStore, id: &DocumentId, doc: &mut RegistrationDoc) -> Result<(), ClientError> {
    let chunk = doc.save_incremental();
    if store.append_document_changes(id, &chunk)? > COMPACT_AFTER_CHUNKS {
        store.replace_document(id, &doc.save())?;
    }
    Ok(())
}

/// Persists a document whose history was rewritten (after a refusal reset): a full snapshot, its
/// new actor, and no stale sync state.
pub fn persist_replaced(
    store: &LocalStore,
    id: &DocumentId,
    doc: &mut RegistrationDoc,
) -> Result<(), ClientError> {
    store.replace_document(id, &doc.save())?;
    store.set_document_actor(id, doc.actor())?;
    store.clear_sync_state(id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_survives_reopening_and_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (id, actor) = {
            let store = LocalStore::open(dir.path()).expect("open");
            let (id, mut doc) = open_registration(&store, "ncre-2027-03", "acct-9").expect("open doc");
            for i in 0..(COMPACT_AFTER_CHUNKS + 5) {
                doc.set_field("address", &format!("海淀区{i}号")).expect("edit");
                persist(&store, &id, &mut doc).expect("persist");
            }
            (id, doc.actor().clone())
        };
        let store = LocalStore::open(dir.path()).expect("reopen");
        let (id2, doc) = open_registration(&store, "ncre-2027-03", "acct-9").expect("reopen doc");
        assert_eq!(id, id2);
        assert_eq!(doc.actor(), &actor, "the device keeps its actor");
        assert_eq!(doc.draft().fields.get("address").map(String::as_str), Some("海淀区36号"));
        let bytes = store.load_document(&id).expect("load").expect("present");
        assert!(bytes.len() < 4096, "compacted ({} bytes)", bytes.len());
    }

    #[test]
    fn a_replaced_history_takes_its_new_actor_and_drops_sync_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("open");
        let (id, mut doc) = open_registration(&store, "ncre-2027-03", "acct-10").expect("doc");
        store.save_sync_state(&id, b"old").expect("sync");
        doc.set_actor(ActorId::random());
        persist_replaced(&store, &id, &mut doc).expect("replace");
        assert_eq!(store.document_actor(&id).expect("actor").as_ref(), Some(doc.actor()));
        assert_eq!(store.load_sync_state(&id).expect("sync"), None);
    }
}
