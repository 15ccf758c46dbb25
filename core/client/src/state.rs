//! The client's shared state, below every transport and the façade: [`Inner`] holds the
//! configuration, the session token, the open registrations ([`Docs`], behind the one mutex
//! that is never held across an `.await`), the listener, the photo failures and the wake-up
//! signals; the transports and the façade each hold an `Arc` of it. Also here: what a sync
//! reports ([`SyncReport`]), the client's configuration ([`ClientConfig`]), the URL derivation
//! and the hop to tokio's blocking pool.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::document::{DocumentId, RejectedEdit};
use tokio::sync::Notify;

use crate::backoff::Backoff;
use crate::error::{ClientError, local_codes};
use crate::events::{ClientEvent, ClientListener};
use crate::outbox::{ActionOutcome, Outbox};
use crate::session::Docs;
use crate::store::LocalStore;

/// How a [`SyncClient`](crate::SyncClient) is set up.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The local store's folder (created if missing; one client at a time).
    pub store_dir: PathBuf,
    /// The server's base URL, `http://host[:port][/prefix]` or `https://…`; the WebSocket URL is
    /// derived from it (`ws://` or `wss://`).
    pub server_url: String,
    /// The candidate's account id (from the login response), which names their documents.
    pub account_id: String,
    /// Reconnect policy of the background sync.
    pub backoff: Backoff,
    /// Time allowed to connect and shake hands (default 10 s).
    pub connect_timeout: Duration,
    /// Time allowed for one HTTP request, upload or batch round (default 30 s).
    pub request_timeout: Duration,
    /// How often a live connection is checked with a ping (default 20 s); one that stays silent
    /// for two and a half intervals is taken as dead and reconnected.
    pub ping_interval: Duration,
}

impl ClientConfig {
    /// A configuration with the default timeouts and backoff.
    pub fn new(store_dir: impl Into<PathBuf>, server_url: &str, account_id: &str) -> ClientConfig {
        ClientConfig {
            store_dir: store_dir.into(),
            server_url: server_url.to_owned(),
            account_id: account_id.to_owned(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
        }
    }
}

/// What one [`SyncClient::sync_now`](crate::SyncClient::sync_now) or
/// [`SyncClient::sync_batch`](crate::SyncClient::sync_batch) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Exam ids of the registrations that received changes from the server.
    pub changed: Vec<String>,
    /// Edits the server refused during this sync (also kept in the store).
    pub rejected: Vec<RejectedEdit>,
    /// Sync messages sent.
    pub sent: usize,
    /// Sync messages received.
    pub received: usize,
    /// Queued lifecycle actions that got their final answer in this sync, in the order sent.
    pub outcomes: Vec<ActionOutcome>,
    /// Queued lifecycle actions still waiting afterwards (a transient failure, or their
    /// registration was held back).
    pub actions_waiting: usize,
}

impl SyncReport {
    /// Adds a later exchange's counts and changes to this one.
    pub(crate) fn merge(&mut self, later: SyncReport) {
        for exam in later.changed {
            self.note_changed(Some(exam));
        }
        self.rejected.extend(later.rejected);
        self.sent += later.sent;
        self.received += later.received;
    }

    pub(crate) fn note_changed(&mut self, exam_id: Option<String>) {
        if let Some(exam) = exam_id
            && !self.changed.contains(&exam)
        {
            self.changed.push(exam);
        }
    }
}

/// Why a photo upload failed, remembered so that its registration stays held back.
#[derive(Debug, Clone)]
pub(crate) enum PhotoFailure {
    /// The photo cannot be uploaded as it is ([`ClientError::PhotoRejected`]).
    Rejected { code: String, message: String },
    /// The server answered another error; the next sync tries again.
    Server { status: u16, code: ErrorCode, code_text: String, message: String },
    /// The upload failed on this device; the next sync tries again.
    Local { message: String },
}

impl PhotoFailure {
    /// Whether retrying the same bytes cannot help.
    pub(crate) fn permanent(&self) -> bool {
        matches!(self, PhotoFailure::Rejected { .. })
    }

    pub(crate) fn to_error(&self, sha256: &str) -> ClientError {
        let sha256 = sha256.to_owned();
        match self.clone() {
            PhotoFailure::Rejected { code, message } => ClientError::PhotoRejected { sha256, code, message },
            PhotoFailure::Server { status, code, code_text, message } => {
                ClientError::Server { status, code, code_text, message, retry_after: None }
            }
            PhotoFailure::Local { message } => {
                ClientError::PhotoNotUploaded { sha256, code: local_codes::UPLOAD_FAILED.into(), message }
            }
        }
    }
}

/// The client's shared state.
pub(crate) struct Inner {
    pub(crate) http_base: String,
    pub(crate) ws_url: String,
    pub(crate) storage_id: String,
    pub(crate) config: ClientConfig,
    pub(crate) agent: ureq::Agent,
    token: RwLock<String>,
    docs: Mutex<Docs>,
    listener: RwLock<Option<Arc<dyn ClientListener>>>,
    photo_failures: Mutex<HashMap<String, PhotoFailure>>,
    /// Signalled after every local edit: a live session pushes it.
    pub(crate) changed: Notify,
    /// Signalled by [`SyncClient::reconnect_now`](crate::SyncClient::reconnect_now): cuts a
    /// backoff wait short.
    pub(crate) retry: Notify,
    /// Signalled when a lifecycle action is queued: a live session in sync sends it.
    pub(crate) queued: Notify,
    /// One transport at a time.
    pub(crate) transport: tokio::sync::Mutex<()>,
}

impl Inner {
    /// Opens the client's state: derives the URLs, takes the store's lock, reads (or creates)
    /// its storage id and loads the outbox. `agent` makes the HTTP requests.
    pub(crate) fn open(config: ClientConfig, token: &str, agent: ureq::Agent) -> Result<Inner, ClientError> {
        let (http_base, ws_url) = urls(&config.server_url)?;
        let store = LocalStore::open(&config.store_dir)?;
        let storage_id = store.storage_id()?;
        let outbox = Outbox::load(&store, config.backoff)?;
        Ok(Inner {
            http_base,
            ws_url,
            storage_id,
            config,
            agent,
            token: RwLock::new(token.to_owned()),
            docs: Mutex::new(Docs { store, entries: BTreeMap::new(), outbox }),
            listener: RwLock::new(None),
            photo_failures: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            retry: Notify::new(),
            queued: Notify::new(),
            transport: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn docs(&self) -> MutexGuard<'_, Docs> {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn token(&self) -> String {
        self.token.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn set_token(&self, token: &str) {
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = token.to_owned();
    }

    pub(crate) fn set_listener(&self, listener: Option<Arc<dyn ClientListener>>) {
        *self.listener.write().unwrap_or_else(PoisonError::into_inner) = listener;
    }

    /// Delivers an event (never call with the documents locked).
    pub(crate) fn emit(&self, event: ClientEvent) {
        let listener = self.listener.read().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(l) = listener {
            l.on_event(event);
        }
    }

    pub(crate) fn emit_all(&self, events: Vec<ClientEvent>) {
        for e in events {
            self.emit(e);
        }
    }

    fn failures(&self) -> MutexGuard<'_, HashMap<String, PhotoFailure>> {
        self.photo_failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn photo_failure(&self, sha256: &str) -> Option<PhotoFailure> {
        self.failures().get(sha256).cloned()
    }

    pub(crate) fn record_photo_failure(&self, sha256: &str, failure: PhotoFailure) {
        self.failures().insert(sha256.to_owned(), failure);
    }

    pub(crate) fn clear_photo_failure(&self, sha256: &str) {
        self.failures().remove(sha256);
    }

    /// Why `id` may not be synced now (its photo is not on the server), if so.
    pub(crate) fn hold_reason(
        &self,
        docs: &Docs,
        id: &DocumentId,
        pending: &HashSet<String>,
    ) -> Option<ClientError> {
        let sha = docs.unsent_photo(id, pending)?;
        Some(match self.photo_failure(&sha) {
            Some(f) => f.to_error(&sha),
            None => ClientError::PhotoNotUploaded {
                message: format!("photo {sha} has not been uploaded yet"),
                sha256: sha,
                code: local_codes::UPLOAD_PENDING.into(),
            },
        })
    }
}

/// Splits a base URL into the HTTP base and the WebSocket sync URL.
pub(crate) fn urls(server_url: &str) -> Result<(String, String), ClientError> {
    let base = server_url.trim().trim_end_matches('/');
    let (ws_scheme, rest) = if let Some(rest) = base.strip_prefix("http://") {
        ("ws", rest)
    } else if let Some(rest) = base.strip_prefix("https://") {
        ("wss", rest)
    } else {
        return Err(ClientError::InvalidUrl(server_url.to_owned()));
    };
    if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
        return Err(ClientError::InvalidUrl(server_url.to_owned()));
    }
    Ok((base.to_owned(), format!("{ws_scheme}://{rest}{}", paths::SYNC)))
}

/// Runs blocking work (file and HTTP I/O) on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::Protocol(format!("a background task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_derive_the_websocket_url() {
        assert_eq!(
            urls("http://127.0.0.1:8080/").expect("ok"),
            ("http://127.0.0.1:8080".into(), "ws://127.0.0.1:8080/api/sync".into())
        );
        assert_eq!(
            urls("https://bm.example.cn/exam").expect("ok"),
            ("https://bm.example.cn/exam".into(), "wss://bm.example.cn/exam/api/sync".into())
        );
        for bad in ["ftp://x", "bm.example.cn", "http://", "https:///x", "http://a b", "http://x?y=1"] {
            assert!(matches!(urls(bad), Err(ClientError::InvalidUrl(_))), "{bad}");
        }
    }
}
