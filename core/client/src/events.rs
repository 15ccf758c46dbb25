//! What the client tells the app: one [`ClientEvent`] enum delivered to one [`ClientListener`].
//!
//! A listener is a `Send + Sync` trait object with a single method rather than a channel:
//! foreign-language bindings implement exactly this shape as a callback interface (one method
//! taking one enum), so an Android or iOS app is called back on its own terms instead of having
//! to poll. Rust callers who prefer a channel get one for free: `std::sync::mpsc::Sender` and
//! `tokio::sync::mpsc::UnboundedSender` of [`ClientEvent`] are listeners.
//!
//! Events are delivered on the client's own threads, never while the client holds its locks, so
//! a listener may call back into the client (e.g. read the draft). It should return quickly.

use std::time::Duration;

use baoming_core::document::RejectedEdit;
use baoming_core::draft::ServerSection;

use crate::error::ClientError;
use crate::outbox::{ActionOutcome, QueuedAction};

/// Where a document change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrigin {
    /// An edit made on this device through the client.
    Local,
    /// Changes received from the server (another device, or the server itself).
    Remote,
}

/// The client's link with the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the WebSocket and shaking hands.
    Connecting,
    /// Connected: local edits go out and server pushes come in live.
    Online,
    /// Not connected. `retry_in` is when the next attempt starts (`None`: no retry, e.g. after a
    /// stop or an authentication failure); `reason` says why in English, for logs.
    Offline {
        /// Delay until the next attempt, if one is planned.
        retry_in: Option<Duration>,
        /// Why the client is offline.
        reason: String,
    },
}

/// Progress of the photo uploads that must precede the sync of a photo reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadEvent {
    /// An upload starts (`index` of `total` pending, from 1).
    Started {
        /// The photo's SHA-256.
        sha256: String,
        /// Position in this round of uploads.
        index: usize,
        /// Photos in this round of uploads.
        total: usize,
    },
    /// The server has the photo.
    Uploaded {
        /// The photo's SHA-256.
        sha256: String,
    },
    /// The server refused the photo or the upload failed; the registration that references it is
    /// not synced until the photo is replaced (when `permanent`) or the upload succeeds.
    Failed {
        /// The photo's SHA-256.
        sha256: String,
        /// Whether retrying the same bytes cannot help (rejected, too large).
        permanent: bool,
        /// The failure, in English.
        message: String,
    },
}

/// Something the app may want to show.
#[derive(Debug)]
pub enum ClientEvent {
    /// A registration document changed (already persisted when this is delivered).
    DocumentChanged {
        /// The exam session of the registration.
        exam_id: String,
        /// Local edit or remote changes.
        origin: ChangeOrigin,
    },
    /// The server section (status, reason, deadline, ticket …) of a registration changed.
    ServerChanged {
        /// The exam session of the registration.
        exam_id: String,
        /// The new server section.
        server: ServerSection,
    },
    /// The server refused local edits; the document is back at the server's state and these
    /// edits are kept in the store (see `SyncClient::rejected_edits`).
    EditsRejected {
        /// The exam session of the registration.
        exam_id: String,
        /// The edits refused this time.
        edits: Vec<RejectedEdit>,
    },
    /// The connection state changed.
    Connection(ConnectionState),
    /// Photo upload progress or failure.
    Upload(UploadEvent),
    /// Every registration is in sync with the server (after a sync or a burst of changes).
    Synced,
    /// A sync attempt failed; see [`ConnectionState::Offline`] for the retry.
    SyncFailed(ClientError),
    /// A queued lifecycle action got its final answer — done, with the server's status, or a
    /// typed refusal — and left the outbox (also kept in `SyncClient::action_outcomes`).
    ActionFinished(ActionOutcome),
    /// A queued lifecycle action could not be sent now (no network, timeout, 408, 429, 5xx): it
    /// stays queued with its key and is retried after `retry_in` by the background sync, or at
    /// once by the next reconnection or explicit sync.
    ActionDelayed {
        /// The action, with its attempt count and this failure.
        action: QueuedAction,
        /// The failure, in English.
        reason: String,
        /// The backoff delay before the background sync tries again.
        retry_in: Duration,
    },
}

/// Receives the client's events: a `Send + Sync` trait object with one method, which the
/// bindings implement as a foreign callback. Events arrive on the client's threads, outside its
/// locks (a listener may read the client); return quickly.
pub trait ClientListener: Send + Sync {
    /// Called for every event, on one of the client's threads.
    fn on_event(&self, event: ClientEvent);
}

impl ClientListener for std::sync::mpsc::Sender<ClientEvent> {
    fn on_event(&self, event: ClientEvent) {
        let _ = self.send(event);
    }
}

impl ClientListener for tokio::sync::mpsc::UnboundedSender<ClientEvent> {
    fn on_event(&self, event: ClientEvent) {
        let _ = self.send(event);
    }
}
