//! Syncing with the server and hearing about changes.
//!
//! * [`BaomingClient::sync_now`] (WebSocket) and [`BaomingClient::sync_batch`] (plain HTTP, for
//!   short background fetches) sync every open registration once, upload pending photos, then
//!   send the queued actions; they block until done (at most `timeout_ms`).
//! * [`BaomingClient::start_live`] keeps a connection open in the client's own threads: local
//!   edits go out at once, server changes come in live, it reconnects with backoff;
//!   [`BaomingClient::stop_live`] ends it.
//! * A foreign [`Listener`] receives every [`Event`] on the client's threads (never while it
//!   holds its locks, so the listener may call the client); hop to the UI thread yourself.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use baoming_client::{ChangeOrigin, ClientError, ClientEvent, ClientListener, ConnectionState, UploadEvent};

use crate::client::BaomingClient;
use crate::draft::RejectedEditInfo;
use crate::errors::BaomingError;

/// Something the app may want to show; delivered to the [`Listener`].
#[derive(Debug, Clone, uniffi::Enum)]
#[allow(
    clippy::large_enum_variant,
    reason = "uniffi lifts enum fields by value (no Box); events are few and short-lived"
)]
pub enum Event {
    /// A registration's draft changed (already stored): re-read it.
    DocumentChanged {
        /// The exam session.
        exam_id: String,
        /// Whether the change came from the server (another device or the server itself).
        remote: bool,
    },
    /// The server's part changed: status, reason, deadline, ticket number.
    StatusChanged {
        /// The exam session.
        exam_id: String,
        /// The new status (`submitted`, `rejected`, …).
        status: String,
        /// The reason of a rejection or refusal.
        reason: Option<String>,
        /// Payment deadline (Unix milliseconds).
        deadline_ms: Option<i64>,
        /// The admission ticket number, once the center's arrangement has given one.
        ticket_number: Option<String>,
    },
    /// The server refused local edits; the draft is back at the server's state and the edits
    /// are kept (see `rejected_edits`).
    EditsRejected {
        /// The exam session.
        exam_id: String,
        /// The edits refused this time.
        edits: Vec<RejectedEditInfo>,
    },
    /// The live connection came up (`online`) or went down (`detail` says why).
    Connection {
        /// Whether the client is connected.
        online: bool,
        /// Why it is offline, in English; empty when online or connecting.
        detail: String,
    },
    /// A photo reached the server.
    PhotoUploaded {
        /// Its SHA-256.
        sha256: String,
    },
    /// A photo upload failed; `permanent`: choose another photo.
    PhotoUploadFailed {
        /// Its SHA-256.
        sha256: String,
        /// Whether retrying the same photo cannot help.
        permanent: bool,
        /// Why, in English.
        message: String,
    },
    /// Every registration is in sync with the server.
    Synced,
    /// A sync attempt failed (the live sync retries by itself).
    SyncFailed {
        /// Why, in English.
        message: String,
    },
    /// The server refused the session, or ended it while the live sync was connected (logout,
    /// a password change on another device, a recovery reset, expiry): the live sync has
    /// stopped. Sign the candidate in again (`login`), then `start_live`.
    SignInRequired,
    /// A queued action got its final answer (see `action_outcomes`).
    ActionFinished {
        /// The outcome.
        outcome: crate::actions::ActionOutcomeInfo,
    },
    /// A queued action could not be sent now; it stays queued and is retried.
    ActionDelayed {
        /// The exam session.
        exam_id: String,
        /// `submit`, `withdraw` or `apply_for_review`.
        action: String,
        /// Why, in English.
        reason: String,
    },
}

/// Implemented by the app (Kotlin / Swift / Python) to hear about changes.
#[uniffi::export(with_foreign)]
pub trait Listener: Send + Sync {
    /// Called for every event, on one of the client's threads; return quickly.
    fn on_event(&self, event: Event);
}

/// Adapts a foreign [`Listener`] to the core's listener.
pub(crate) struct ListenerBridge(pub(crate) Arc<dyn Listener>);

impl ClientListener for ListenerBridge {
    fn on_event(&self, event: ClientEvent) {
        let mapped = match event {
            ClientEvent::DocumentChanged { exam_id, origin } => {
                Event::DocumentChanged { exam_id, remote: origin == ChangeOrigin::Remote }
            }
            ClientEvent::ServerChanged { exam_id, server } => Event::StatusChanged {
                exam_id,
                status: server.status.to_string(),
                reason: server.reason,
                deadline_ms: server.deadline_ms,
                ticket_number: server.ticket,
            },
            ClientEvent::EditsRejected { exam_id, edits } => {
                Event::EditsRejected { exam_id, edits: edits.into_iter().map(Into::into).collect() }
            }
            ClientEvent::Connection(state) => match state {
                ConnectionState::Online => Event::Connection { online: true, detail: String::new() },
                ConnectionState::Connecting => Event::Connection { online: false, detail: String::new() },
                ConnectionState::Offline { reason, .. } => {
                    Event::Connection { online: false, detail: reason }
                }
            },
            ClientEvent::Upload(UploadEvent::Uploaded { sha256 }) => Event::PhotoUploaded { sha256 },
            ClientEvent::Upload(UploadEvent::Failed { sha256, permanent, message }) => {
                Event::PhotoUploadFailed { sha256, permanent, message }
            }
            ClientEvent::Upload(UploadEvent::Started { .. }) => return,
            ClientEvent::Synced => Event::Synced,
            ClientEvent::SyncFailed(ClientError::Unauthorized) => Event::SignInRequired,
            ClientEvent::SyncFailed(e) => Event::SyncFailed { message: e.to_string() },
            ClientEvent::ActionFinished(outcome) => Event::ActionFinished { outcome: outcome.into() },
            ClientEvent::ActionDelayed { action, reason, .. } => {
                Event::ActionDelayed { exam_id: action.exam_id, action: action.kind.to_string(), reason }
            }
        };
        self.0.on_event(mapped);
    }
}

/// What one sync did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncSummary {
    /// Exam ids whose documents changed.
    pub changed: Vec<String>,
    /// Edits the server refused in this sync.
    pub rejected: Vec<RejectedEditInfo>,
    /// Queued actions that got their final answer.
    pub actions_finished: Vec<crate::actions::ActionOutcomeInfo>,
    /// Actions still waiting to be sent.
    pub actions_waiting: u32,
}

impl From<baoming_client::SyncReport> for SyncSummary {
    fn from(r: baoming_client::SyncReport) -> Self {
        SyncSummary {
            changed: r.changed,
            rejected: r.rejected.into_iter().map(Into::into).collect(),
            actions_finished: r.outcomes.into_iter().map(Into::into).collect(),
            actions_waiting: u32::try_from(r.actions_waiting).unwrap_or(u32::MAX),
        }
    }
}

#[uniffi::export]
impl BaomingClient {
    /// Sets (or with `None` removes) the listener of every [`Event`]; it stays across sign-ins.
    pub fn set_listener(&self, listener: Option<Arc<dyn Listener>>) {
        let bridge = listener.map(|l| Arc::new(ListenerBridge(l)));
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = bridge.clone();
        if let Some(s) = self.session().as_ref() {
            s.sync.set_listener(bridge.map(|b| b as Arc<dyn ClientListener>));
        }
    }

    /// Syncs every open registration once over a WebSocket, then sends the queued actions.
    /// Blocks for at most `timeout_ms`. `Network` when the server cannot be reached (nothing
    /// is lost), `SignInRequired` when the token was refused, `Busy` during a live sync.
    /// `timeout_ms` is 20 000 (20 s) when left out.
    #[uniffi::method(default(timeout_ms = 20000))]
    pub fn sync_now(&self, timeout_ms: u64) -> Result<SyncSummary, BaomingError> {
        let timeout = Duration::from_millis(timeout_ms);
        self.with_sync(|s| Ok(self.runtime.block_on(s.sync_now(timeout))?.into()))
    }

    /// The same as [`BaomingClient::sync_now`] over plain HTTP requests, for background fetches
    /// (the same default timeout).
    #[uniffi::method(default(timeout_ms = 20000))]
    pub fn sync_batch(&self, timeout_ms: u64) -> Result<SyncSummary, BaomingError> {
        let timeout = Duration::from_millis(timeout_ms);
        self.with_sync(|s| Ok(self.runtime.block_on(s.sync_batch(timeout))?.into()))
    }

    /// Starts the live sync in the client's threads (no-op when already running): edits go out
    /// at once, server changes come in as events; it reconnects by itself and stops when the
    /// session is refused or ends (`SignInRequired`, then `Connection { online: false }`).
    pub fn start_live(&self) -> Result<(), BaomingError> {
        let mut session = self.session();
        let signed = session.as_mut().ok_or(BaomingError::SignInRequired)?;
        if signed.live.as_ref().is_some_and(|l| !l.is_finished()) {
            return Ok(());
        }
        let _guard = self.runtime.enter();
        signed.live = Some(signed.sync.start());
        Ok(())
    }

    /// Stops the live sync (waits for it to close the connection).
    pub fn stop_live(&self) {
        let live = self.session().as_mut().and_then(|s| s.live.take());
        if let Some(live) = live {
            let _ = self.runtime.block_on(live.stop());
        }
    }

    /// Cuts the live sync's backoff wait short (e.g. when the platform reports the network back).
    pub fn reconnect_now(&self) {
        if let Some(s) = self.session().as_ref() {
            s.sync.reconnect_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<Event>>);

    impl Listener for Seen {
        fn on_event(&self, event: Event) {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).push(event);
        }
    }

    #[test]
    fn a_refused_or_ended_session_reaches_the_app_as_sign_in_required() {
        let seen = Arc::new(Seen::default());
        let bridge = ListenerBridge(seen.clone());
        bridge.on_event(ClientEvent::SyncFailed(ClientError::Unauthorized));
        bridge.on_event(ClientEvent::SyncFailed(ClientError::Network("down".into())));
        let events = seen.0.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(matches!(events[0], Event::SignInRequired), "{events:?}");
        assert!(
            matches!(&events[1], Event::SyncFailed { message } if message.contains("down")),
            "{events:?}"
        );
    }
}
