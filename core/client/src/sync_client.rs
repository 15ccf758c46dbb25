//! [`SyncClient`]: the app-facing façade of the device side — registrations, edits, and the
//! three ways to sync them (see the [crate documentation](crate)) — and the background loop of
//! [`SyncClient::start`]. The top of the crate's layers: it drives the transports below it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use baoming_core::document::{DocError, DocumentId, RegistrationDoc, RejectedEdit};
use baoming_core::draft::{Draft, ServerSection};
use baoming_core::photo::PhotoRef;
use tokio::sync::watch;

use crate::backoff::Retry;
use crate::error::ClientError;
use crate::events::{ChangeOrigin, ClientEvent, ClientListener, ConnectionState};
use crate::outbox::{ActionKind, ActionOutcome, QueueError, QueuedAction};
use crate::persist::{open_registration, persist};
use crate::state::{ClientConfig, Inner, SyncReport};
use crate::{batch, drain, http, ws};

/// The device's client: owns the local store and the candidate's registration documents, and
/// syncs them with the server. Cheap to clone (all clones share one client).
#[derive(Clone)]
pub struct SyncClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("server", &self.inner.http_base)
            .field("account", &self.inner.config.account_id)
            .finish_non_exhaustive()
    }
}

/// A running background sync ([`SyncClient::start`]).
#[derive(Debug)]
pub struct RunHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), ClientError>>,
}

impl RunHandle {
    /// Stops the background sync (a live connection says `leave` and closes) and waits for it.
    /// Returns the error that had already ended it, if any (e.g. [`ClientError::Unauthorized`]).
    pub async fn stop(self) -> Result<(), ClientError> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until the background sync ends by itself, which it only does on an authentication
    /// failure (or after [`RunHandle::stop`] from a clone of the stop signal).
    pub async fn wait(self) -> Result<(), ClientError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ClientError::Protocol(format!("the background sync task failed: {e}"))),
        }
    }

    /// Whether the background sync has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl SyncClient {
    /// Opens the client: takes the store's lock and reads (or creates) its storage id. `token`
    /// is the candidate's session token; it is kept in memory only.
    pub fn open(config: ClientConfig, token: &str) -> Result<SyncClient, ClientError> {
        let agent = http::agent(config.request_timeout);
        Ok(SyncClient { inner: Arc::new(Inner::open(config, token, agent)?) })
    }

    /// Replaces the session token (after the candidate signs in again).
    pub fn set_token(&self, token: &str) {
        self.inner.set_token(token);
    }

    /// Registers the listener that receives every [`ClientEvent`] (replacing any previous one;
    /// `None` removes it).
    pub fn set_listener(&self, listener: Option<Arc<dyn ClientListener>>) {
        self.inner.set_listener(listener);
    }

    /// This device's storage id (kept in the store).
    pub fn storage_id(&self) -> &str {
        &self.inner.storage_id
    }

    /// Opens the candidate's registration for `exam_id` — from the store, or created from
    /// genesis — and includes it in every sync from now on. Opening it again is harmless.
    pub fn open_registration(&self, exam_id: &str) -> Result<DocumentId, ClientError> {
        let mut docs = self.inner.docs();
        let id = DocumentId::derive(exam_id, &self.inner.config.account_id);
        if !docs.entries.contains_key(&id) {
            let (id, doc) = open_registration(&docs.store, exam_id, &self.inner.config.account_id)?;
            docs.insert(id, exam_id, doc);
        }
        drop(docs);
        // A live session announces the new document.
        self.inner.changed.notify_one();
        Ok(id)
    }

    /// The exam ids of the open registrations.
    pub fn registrations(&self) -> Vec<String> {
        self.inner.docs().entries.values().map(|e| e.exam_id.clone()).collect()
    }

    fn id_of(&self, exam_id: &str) -> DocumentId {
        DocumentId::derive(exam_id, &self.inner.config.account_id)
    }

    /// Reads a registration.
    pub fn read<T>(&self, exam_id: &str, f: impl FnOnce(&RegistrationDoc) -> T) -> Result<T, ClientError> {
        let docs = self.inner.docs();
        let entry = docs
            .entries
            .get(&self.id_of(exam_id))
            .ok_or_else(|| ClientError::UnknownRegistration(exam_id.into()))?;
        Ok(f(&entry.doc))
    }

    /// The candidate's draft.
    pub fn draft(&self, exam_id: &str) -> Result<Draft, ClientError> {
        self.read(exam_id, RegistrationDoc::draft)
    }

    /// The server section (status, reason, deadline, ticket …).
    pub fn server(&self, exam_id: &str) -> Result<ServerSection, ClientError> {
        self.read(exam_id, RegistrationDoc::server)
    }

    /// Runs one edit on a registration — a [`RegistrationDoc`] operation such as `set_field`,
    /// `choose_center`, `add_subject`, `accept_agreement` or `declare` — and persists it
    /// atomically before returning; a live background sync then pushes it. The edit runs with
    /// the client's lock held: it must not call the client.
    ///
    /// ```no_run
    /// # fn demo(client: &baoming_client::SyncClient) -> Result<(), baoming_client::ClientError> {
    /// client.edit("ncre-2027-03", |doc| doc.set_field("name", "张三"))?;
    /// # Ok(()) }
    /// ```
    pub fn edit<T>(
        &self,
        exam_id: &str,
        f: impl FnOnce(&mut RegistrationDoc) -> Result<T, DocError>,
    ) -> Result<T, ClientError> {
        let id = self.id_of(exam_id);
        let result = {
            let mut guard = self.inner.docs();
            let docs = &mut *guard;
            let entry =
                docs.entries.get_mut(&id).ok_or_else(|| ClientError::UnknownRegistration(exam_id.into()))?;
            let before = entry.doc.heads();
            let result = f(&mut entry.doc);
            // Persist whatever was committed, even if the operation then failed.
            let changed = entry.doc.heads() != before;
            persist(&docs.store, &id, &mut entry.doc)?;
            result.map(|v| (v, changed))
        };
        let (value, changed) = result?;
        if changed {
            self.inner.emit(ClientEvent::DocumentChanged {
                exam_id: exam_id.to_owned(),
                origin: ChangeOrigin::Local,
            });
            self.inner.changed.notify_one();
        }
        Ok(value)
    }

    /// Stores a prepared photo (e.g. `photo::prepare`'s JPEG), marks it for upload and sets it
    /// as the registration's photo, in that order, so a crash never leaves a reference to a photo
    /// that is not kept for upload. The reference is synced only after the upload succeeds.
    pub fn attach_photo(
        &self,
        exam_id: &str,
        jpeg: &[u8],
        width: u32,
        height: u32,
    ) -> Result<PhotoRef, ClientError> {
        let bytes = u32::try_from(jpeg.len())
            .map_err(|_| DocError::InvalidValue { path: "draft.photo".into(), reason: "photo too large" })?;
        let sha256 = {
            let docs = self.inner.docs();
            let sha = docs.store.put_photo(jpeg)?;
            docs.store.mark_upload_pending(&sha)?;
            sha
        };
        self.inner.clear_photo_failure(&sha256);
        let photo = PhotoRef { sha256, bytes, width, height };
        self.edit(exam_id, |doc| doc.set_photo(&photo))?;
        Ok(photo)
    }

    /// Every edit the server refused on this registration and that the candidate has not
    /// dismissed, oldest first.
    pub fn rejected_edits(&self, exam_id: &str) -> Result<Vec<RejectedEdit>, ClientError> {
        Ok(self.inner.docs().store.load_rejected_edits(&self.id_of(exam_id))?)
    }

    /// Forgets the rejected edits of a registration (the candidate has seen them).
    pub fn dismiss_rejected_edits(&self, exam_id: &str) -> Result<(), ClientError> {
        Ok(self.inner.docs().store.save_rejected_edits(&self.id_of(exam_id), &[])?)
    }

    /// Queues a submission of the registration for `exam_id` as the draft stands now: its current
    /// heads are recorded, so later edits are not part of it. The action gets a fresh
    /// idempotency key and is persisted before this returns; it is sent after the next
    /// successful sync (see [`outbox`](crate::outbox) for the ordering rules). Refused locally when the
    /// registration is not open, when no center or subject is chosen
    /// ([`QueueError::NothingToSubmit`]; the server checks everything else) and when a
    /// submission is already the registration's last queued action.
    pub fn submit(&self, exam_id: &str) -> Result<QueuedAction, QueueError> {
        self.queue(exam_id, ActionKind::Submit)
    }

    /// Queues a withdrawal (releases the seats; see [`SyncClient::submit`] for how it is queued
    /// and sent).
    pub fn withdraw(&self, exam_id: &str) -> Result<QueuedAction, QueueError> {
        self.queue(exam_id, ActionKind::Withdraw)
    }

    /// Queues an application for the center's review (see [`SyncClient::submit`] for how it is
    /// queued and sent).
    pub fn apply_for_review(&self, exam_id: &str) -> Result<QueuedAction, QueueError> {
        self.queue(exam_id, ActionKind::ApplyForReview)
    }

    fn queue(&self, exam_id: &str, kind: ActionKind) -> Result<QueuedAction, QueueError> {
        let action = {
            let mut guard = self.inner.docs();
            let docs = &mut *guard;
            let entry = docs
                .entries
                .get_mut(&self.id_of(exam_id))
                .ok_or_else(|| QueueError::UnknownRegistration(exam_id.into()))?;
            let heads = match kind {
                ActionKind::Submit => {
                    let draft = entry.doc.draft();
                    let mut missing = Vec::new();
                    if draft.center.is_none() {
                        missing.push("center".to_owned());
                    }
                    if draft.subjects.is_empty() {
                        missing.push("subjects".to_owned());
                    }
                    if !missing.is_empty() {
                        return Err(QueueError::NothingToSubmit { exam_id: exam_id.to_owned(), missing });
                    }
                    entry.doc.heads().iter().map(ToString::to_string).collect()
                }
                ActionKind::Withdraw | ActionKind::ApplyForReview => Vec::new(),
            };
            docs.outbox.enqueue(&docs.store, exam_id, kind, heads)?
        };
        self.inner.queued.notify_one();
        Ok(action)
    }

    /// The lifecycle actions waiting to be sent, oldest first.
    pub fn queued_actions(&self) -> Vec<QueuedAction> {
        self.inner.docs().outbox.queued().to_vec()
    }

    /// The final answers to queued actions (done or refused), oldest first, until dismissed
    /// (the last [`MAX_OUTCOMES`](crate::outbox::MAX_OUTCOMES) are kept).
    pub fn action_outcomes(&self) -> Vec<ActionOutcome> {
        self.inner.docs().outbox.outcomes().to_vec()
    }

    /// Forgets the kept action outcomes (the candidate has seen them).
    pub fn dismiss_action_outcomes(&self) -> Result<(), ClientError> {
        let mut guard = self.inner.docs();
        let docs = &mut *guard;
        Ok(docs.outbox.clear_outcomes(&docs.store)?)
    }

    /// Syncs every open registration once over the WebSocket: connects, uploads pending photos,
    /// exchanges messages until both sides are in sync, and disconnects. Then sends the queued
    /// lifecycle actions (at once, whatever their retry delay; see [`outbox`](crate::outbox))
    /// and, if any got an answer, syncs once more so the documents show the server's new status
    /// ([`SyncReport::outcomes`], [`SyncReport::actions_waiting`]; should that second sync fail,
    /// its error is returned and the outcomes stay in [`SyncClient::action_outcomes`] and the
    /// events already delivered). Fails with [`ClientError::Timeout`] if that takes longer than
    /// `timeout`, and with
    /// [`ClientError::PhotoRejected`] (after syncing the others) if a registration was held back
    /// because the server refused its photo.
    pub async fn sync_now(&self, timeout: Duration) -> Result<SyncReport, ClientError> {
        let _one = self.inner.transport.try_lock().map_err(|_| ClientError::Busy)?;
        match tokio::time::timeout(timeout, sync_and_send(&self.inner, Transport::WebSocket)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout(format!("sync did not finish within {timeout:?}"))),
        }
    }

    /// The same exchange as [`SyncClient::sync_now`] over plain HTTP requests
    /// (`POST /api/sync/batch`), for platforms that only allow short background fetches: per
    /// registration, request/response rounds until neither side has anything to say (at most
    /// 32 rounds); then the outbox, as for `sync_now`.
    pub async fn sync_batch(&self, timeout: Duration) -> Result<SyncReport, ClientError> {
        let _one = self.inner.transport.try_lock().map_err(|_| ClientError::Busy)?;
        match tokio::time::timeout(timeout, sync_and_send(&self.inner, Transport::Batch)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout(format!("batch sync did not finish within {timeout:?}"))),
        }
    }

    /// Starts the background sync on the current tokio runtime: a live WebSocket that pushes
    /// local edits and applies server pushes as they come, reconnecting with exponential backoff
    /// and jitter ([`ClientConfig::backoff`]; reset once a session got in sync). It stops on
    /// [`RunHandle::stop`], or by itself on an authentication failure (reported as
    /// [`ClientError::Unauthorized`] rather than retried). Connection changes are reported as
    /// [`ClientEvent::Connection`].
    ///
    /// Must be called from within a tokio runtime.
    pub fn start(&self) -> RunHandle {
        let (stop, stop_rx) = watch::channel(false);
        let inner = self.inner.clone();
        let task = tokio::spawn(async move { run(inner, stop_rx).await });
        RunHandle { stop, task }
    }

    /// Cuts the current backoff wait of the background sync short (e.g. when the platform says
    /// the network is back).
    pub fn reconnect_now(&self) {
        self.inner.retry.notify_one();
    }
}

/// The background loop of [`SyncClient::start`].
async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) -> Result<(), ClientError> {
    let offline = |reason: &str, retry_in| {
        ClientEvent::Connection(ConnectionState::Offline { retry_in, reason: reason.to_owned() })
    };
    let _one = tokio::select! {
        guard = inner.transport.lock() => guard,
        _ = stop.changed() => return Ok(()),
    };
    let mut retry = Retry::new(inner.config.backoff);
    loop {
        if *stop.borrow() {
            break;
        }
        inner.emit(ClientEvent::Connection(ConnectionState::Connecting));
        let outcome = tokio::select! {
            conn = ws::Conn::open(&inner) => match conn {
                Ok(conn) => ws::live(conn, &mut stop, &mut retry).await,
                Err(e) => Err(e),
            },
            _ = stop.changed() => Ok(()),
        };
        match outcome {
            Ok(()) => break,
            Err(ClientError::Unauthorized) => {
                inner.emit(offline("the session token was refused", None));
                inner.emit(ClientEvent::SyncFailed(ClientError::Unauthorized));
                return Err(ClientError::Unauthorized);
            }
            Err(e) => {
                let delay = retry.next_delay();
                inner.emit(offline(&e.to_string(), Some(delay)));
                inner.emit(ClientEvent::SyncFailed(e));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = inner.retry.notified() => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    inner.emit(offline("stopped", None));
    Ok(())
}

/// The two ways of syncing once.
#[derive(Debug, Clone, Copy)]
enum Transport {
    WebSocket,
    Batch,
}

/// One sync, then the outbox, then — if an action got an answer — one more sync so the documents
/// carry the server's new status.
async fn sync_and_send(inner: &Arc<Inner>, transport: Transport) -> Result<SyncReport, ClientError> {
    let once = |inner: Arc<Inner>| async move {
        match transport {
            Transport::WebSocket => ws::sync_once(&inner).await,
            Transport::Batch => batch::sync_once(&inner).await,
        }
    };
    let mut report = once(inner.clone()).await?;
    let drained = drain::drain(inner, &HashSet::new()).await?;
    if !drained.outcomes.is_empty() {
        report.merge(once(inner.clone()).await?);
    }
    report.outcomes = drained.outcomes;
    report.actions_waiting = drained.waiting;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_checked_locally_and_queued_with_the_heads_of_the_moment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ClientConfig::new(dir.path(), "http://127.0.0.1:9", "acct-2");
        let client = SyncClient::open(config.clone(), "token").expect("open");
        const EXAM: &str = "ncre-2027-03";
        assert!(matches!(client.submit(EXAM), Err(QueueError::UnknownRegistration(e)) if e == EXAM));
        client.open_registration(EXAM).expect("registration");
        match client.submit(EXAM) {
            Err(QueueError::NothingToSubmit { missing, .. }) => assert_eq!(missing, ["center", "subjects"]),
            other => panic!("expected NothingToSubmit, got {other:?}"),
        }
        let catalog = baoming_core::Catalog::demo();
        let exam = catalog.exam(EXAM).expect("exam").clone();
        client.edit(EXAM, |d| d.choose_center(&exam, "bj-dongcheng")).expect("center");
        assert!(
            matches!(client.submit(EXAM), Err(QueueError::NothingToSubmit { missing, .. }) if missing == ["subjects"])
        );
        assert!(client.queued_actions().is_empty(), "a refused action stores nothing");

        client.edit(EXAM, |d| d.add_subject("15")).expect("subject");
        let pressed: Vec<String> =
            client.edit(EXAM, |d| Ok(d.heads())).expect("heads").iter().map(ToString::to_string).collect();
        let submit = client.submit(EXAM).expect("queued");
        assert_eq!((submit.kind, &submit.heads), (ActionKind::Submit, &pressed));
        // A later edit is not part of the queued submission.
        client.edit(EXAM, |d| d.set_field("name", "张三")).expect("edit");
        assert!(matches!(
            client.submit(EXAM),
            Err(QueueError::AlreadyQueued { kind: ActionKind::Submit, .. })
        ));
        let withdraw = client.withdraw(EXAM).expect("withdraw");
        assert!(withdraw.heads.is_empty());
        assert_ne!(withdraw.idempotency_key, submit.idempotency_key);
        drop(client);

        let client = SyncClient::open(config, "token").expect("reopen");
        assert_eq!(client.queued_actions(), vec![submit, withdraw], "persisted before returning");
        assert!(client.action_outcomes().is_empty());
    }

    #[test]
    fn edits_persist_before_returning_and_reach_the_listener() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ClientConfig::new(dir.path(), "http://127.0.0.1:9", "acct-1");
        let client = SyncClient::open(config.clone(), "token").expect("open");
        let (tx, rx) = std::sync::mpsc::channel();
        client.set_listener(Some(Arc::new(tx)));
        assert!(matches!(client.draft("ncre-2027-03"), Err(ClientError::UnknownRegistration(_))));
        client.open_registration("ncre-2027-03").expect("registration");
        client.edit("ncre-2027-03", |d| d.set_field("name", "张三")).expect("edit");
        assert!(matches!(
            rx.try_recv(),
            Ok(ClientEvent::DocumentChanged { origin: ChangeOrigin::Local, ref exam_id }) if exam_id == "ncre-2027-03"
        ));
        // A refused operation is an error and changes nothing.
        assert!(matches!(
            client.edit("ncre-2027-03", |d| d.set_field("BAD KEY", "x")),
            Err(ClientError::Document(_))
        ));
        assert!(rx.try_recv().is_err());
        let photo = client.attach_photo("ncre-2027-03", b"jpeg", 358, 441).expect("photo");
        assert_eq!(
            client.draft("ncre-2027-03").expect("draft").photo.map(|p| p.sha256),
            Some(photo.sha256.clone())
        );
        let storage_id = client.storage_id().to_owned();
        assert!(matches!(SyncClient::open(config.clone(), "t"), Err(ClientError::Store(_))), "one client");
        drop(client);

        let client = SyncClient::open(config, "token").expect("reopen");
        assert_eq!(client.storage_id(), storage_id);
        client.open_registration("ncre-2027-03").expect("registration");
        let draft = client.draft("ncre-2027-03").expect("draft");
        assert_eq!(draft.fields.get("name").map(String::as_str), Some("张三"));
        assert_eq!(client.registrations(), vec!["ncre-2027-03".to_owned()]);
        assert!(client.rejected_edits("ncre-2027-03").expect("rejected").is_empty());
        let docs = client.inner.docs();
        assert_eq!(docs.store.pending_uploads().expect("pending"), vec![photo.sha256]);
    }
}
