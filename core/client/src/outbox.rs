//! The outbox: the candidate's lifecycle actions (submit, withdraw, apply for review), queued on
//! the device and sent when the server can take them.
//!
//! An action is created by [`SyncClient::submit`](crate::SyncClient::submit),
//! [`withdraw`](crate::SyncClient::withdraw) or
//! [`apply_for_review`](crate::SyncClient::apply_for_review) with a fresh random idempotency key
//! (a submission also records the draft's heads at the moment the candidate pressed the button)
//! and is written to the store (`<root>/outbox.json`, atomically) before the call returns, so it
//! survives a crash or a restart of the app.
//!
//! **Sending.** The outbox is drained only after a successful sync, so the server has every
//! change the recorded heads name: by [`SyncClient::sync_now`](crate::SyncClient::sync_now) and
//! [`sync_batch`](crate::SyncClient::sync_batch) (which then sync once more, so the document
//! shows the server's new status), and by the background loop each time its session is in sync —
//! right after every (re)connection, when an action is queued, and when a retry delay ends. Each
//! action is one `POST /api/registrations/{exam}/{submit|withdraw|apply-review}` carrying its
//! stored key in `Idempotency-Key`; a retry after a lost answer sends the same key and body, so
//! the server answers with what it stored the first time and never acts twice (protocol.md §11).
//!
//! **Ordering rules.**
//! * Actions of one registration are sent strictly in the order they were queued: a submission
//!   and a withdrawal queued offline arrive as submit, then withdraw. An action waits while its
//!   registration is not open on this client or was held back from the last sync (e.g. its
//!   photo is not on the server yet); actions of other registrations go on.
//! * Pressing the same button twice is refused locally with [`QueueError::AlreadyQueued`]: an
//!   action is not queued when the registration's last queued action is of the same kind (a
//!   submit, withdraw, submit sequence is fine). Nothing is coalesced silently — the app shows
//!   the error and the queued action keeps its key and, for a submission, its heads.
//! * A transient failure (no network, timeout, HTTP 408, 429 or 5xx) keeps the action queued and
//!   stops the drain: it is retried with exponential backoff and jitter (the client's
//!   [`Backoff`], reset by the next answer) and at once on the next
//!   (re)connection or explicit sync. A 401 stops the drain and keeps the action for after the
//!   next sign-in.
//! * Any other answer is final: the action leaves the queue and becomes an [`ActionOutcome`] —
//!   [`ActionResult::Done`] with the server's [`RegistrationView`], or
//!   [`ActionResult::Refused`] with the contract's [`ErrorCode`] (`seat_gone`, `window_closed`,
//!   `invalid` …) and the error body's details — in the same atomic write. Outcomes are delivered as
//!   [`ClientEvent::ActionFinished`](crate::ClientEvent::ActionFinished) and kept (the last
//!   [`MAX_OUTCOMES`]) for [`SyncClient::action_outcomes`](crate::SyncClient::action_outcomes)
//!   until dismissed.
//!
//! **The file.** `outbox.json` is read by every later version of the client: a refusal keeps
//! its code as the server spelled it (so a code newer than the client survives a restart), and
//! outcomes written before the client read the contract's registration view still load.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use baoming_core::api::error::{ErrorBody, ErrorCode};
use baoming_core::api::registrations::{CandidateAction, RegistrationView, SubmitRequest};
use baoming_core::lifecycle::Status;
use serde::{Deserialize, Deserializer, Serialize};

use crate::backoff::{Backoff, Retry};
use crate::clock::now_ms;
use crate::store::{LocalStore, StoreError};

/// Outcomes kept for the app; older ones are dropped first.
pub const MAX_OUTCOMES: usize = 64;

/// A candidate action on a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Submit the draft as of the recorded heads: the seats are held.
    Submit,
    /// Withdraw: the seats are released.
    Withdraw,
    /// Apply for the center's review (everything locked until it decides).
    ApplyForReview,
}

impl ActionKind {
    /// The contract's action, which names the endpoint.
    pub fn action(self) -> CandidateAction {
        match self {
            ActionKind::Submit => CandidateAction::Submit,
            ActionKind::Withdraw => CandidateAction::Withdraw,
            ActionKind::ApplyForReview => CandidateAction::ApplyReview,
        }
    }

    /// A stable name (`submit`, `withdraw`, `apply_for_review`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Submit => "submit",
            ActionKind::Withdraw => "withdraw",
            ActionKind::ApplyForReview => "apply_for_review",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One action waiting in the outbox, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedAction {
    /// Position in the queue (increasing, never reused on this device).
    pub seq: u64,
    /// The registration's exam session.
    pub exam_id: String,
    /// What the candidate asked for.
    pub kind: ActionKind,
    /// The `Idempotency-Key` sent with every attempt (random, `bm-` and 32 hex digits).
    pub idempotency_key: String,
    /// For a submission: the draft's heads (hex) when the candidate pressed the button.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<String>,
    /// When it was queued (Unix milliseconds).
    pub queued_at_ms: i64,
    /// Attempts that ended in a transient failure so far.
    #[serde(default)]
    pub attempts: u32,
    /// The last transient failure, in English, for the app to show.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl QueuedAction {
    /// The request body: a [`SubmitRequest`] for a submission, empty otherwise. Always the same
    /// bytes for one action, so a retry matches the server's stored fingerprint.
    pub(crate) fn body(&self) -> Vec<u8> {
        match self.kind {
            ActionKind::Submit => serde_json::to_vec(&SubmitRequest { heads: self.heads.clone() })
                .unwrap_or_else(|_| b"{}".to_vec()),
            ActionKind::Withdraw | ActionKind::ApplyForReview => Vec::new(),
        }
    }
}

/// The code of a refused action: the contract's [`ErrorCode`], under the name this crate gave
/// it before it read the contract.
pub type RefusalCode = ErrorCode;

/// A final refusal of an action by the server.
///
/// Stored as `{"code", "http_status", "message", "details"}` with the code as the server spelled
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredRefusal", into = "StoredRefusal")]
pub struct ActionRefusal {
    /// What was refused; [`ErrorCode::Unknown`] for a code newer than this client (see
    /// [`ActionRefusal::code_text`]).
    pub code: ErrorCode,
    /// The code as the server sent it, for the app to show even when this client does not know
    /// it; for an answer without a JSON error body, [`local_codes::http`](crate::local_codes::http)
    /// of its status (`http_404`), a code of this client's.
    pub code_text: String,
    /// The HTTP status (409, 422, 404 …).
    pub http_status: u16,
    /// The server's explanation, in English.
    pub message: String,
    /// The other members of the error body (`issues`, `pools`, `status` …) as the server sent
    /// them, or `{}`; [`ActionRefusal::body`] reads them typed.
    pub details: serde_json::Value,
}

impl ActionRefusal {
    /// The refusal as the contract's error body, with its typed details (`issues`, `pools`,
    /// `status`, `opens`/`closes` …). Details a newer server added that do not parse are left
    /// out; [`ActionRefusal::details`] still has them.
    pub fn body(&self) -> ErrorBody {
        let bare = ErrorBody::new(self.code, self.message.clone());
        let (Ok(serde_json::Value::Object(mut members)), serde_json::Value::Object(details)) =
            (serde_json::to_value(&bare), &self.details)
        else {
            return bare;
        };
        for (key, value) in details {
            members.entry(key.clone()).or_insert_with(|| value.clone());
        }
        serde_json::from_value(serde_json::Value::Object(members)).unwrap_or(bare)
    }
}

/// [`ActionRefusal`] as `outbox.json` keeps it: the code as text.
#[derive(Serialize, Deserialize)]
struct StoredRefusal {
    code: String,
    http_status: u16,
    message: String,
    #[serde(default)]
    details: serde_json::Value,
}

impl From<StoredRefusal> for ActionRefusal {
    fn from(s: StoredRefusal) -> ActionRefusal {
        ActionRefusal {
            code: ErrorCode::parse(&s.code),
            code_text: s.code,
            http_status: s.http_status,
            message: s.message,
            details: s.details,
        }
    }
}

impl From<ActionRefusal> for StoredRefusal {
    fn from(r: ActionRefusal) -> StoredRefusal {
        StoredRefusal {
            code: r.code_text,
            http_status: r.http_status,
            message: r.message,
            details: r.details,
        }
    }
}

/// Reads a registration view kept in `outbox.json`. Outcomes written before this client read
/// the contract's view lack members the server always sends (`status_label_zh`; the oldest also
/// the payment and ticket members): those are left empty, the label the status's own.
fn stored_view<'de, D: Deserializer<'de>>(d: D) -> Result<Box<RegistrationView>, D::Error> {
    use serde::de::Error;
    let stored = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    let mut members = match serde_json::to_value(blank_view()).map_err(D::Error::custom)? {
        serde_json::Value::Object(members) => members,
        _ => serde_json::Map::new(),
    };
    members.extend(stored);
    let mut view: RegistrationView =
        serde_json::from_value(serde_json::Value::Object(members)).map_err(D::Error::custom)?;
    if view.status_label_zh.is_empty() {
        view.status_label_zh = view.status.label_zh().to_owned();
    }
    Ok(Box::new(view))
}

/// A draft's view with every member empty.
fn blank_view() -> RegistrationView {
    RegistrationView {
        document_id: String::new(),
        exam: String::new(),
        status: Status::Draft,
        status_label_zh: String::new(),
        reason: None,
        reason_paths: Vec::new(),
        deadline_ms: None,
        center: None,
        seats: Vec::new(),
        amount_fen: None,
        refund_due: false,
        updated_at_ms: 0,
        order: None,
        trade_no: None,
        paid_at_ms: None,
        refunded_fen: None,
        ticket: None,
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionResult {
    /// The server performed it (or had performed it: a replayed answer); this is the
    /// registration now.
    #[serde(deserialize_with = "stored_view")]
    Done(Box<RegistrationView>),
    /// The server refused it; nothing changed on the server.
    Refused(ActionRefusal),
}

/// An action that left the outbox, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// The action as it was queued.
    pub action: QueuedAction,
    /// Done or refused.
    pub result: ActionResult,
    /// When the answer arrived (Unix milliseconds).
    pub finished_at_ms: i64,
}

/// Why an action could not be queued. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// No registration for this exam is open on this client
    /// ([`SyncClient::open_registration`](crate::SyncClient::open_registration) first).
    #[error("no registration for exam `{0}` is open on this device")]
    UnknownRegistration(String),
    /// The draft lacks what any submission needs (`center`, `subjects`); the server checks the
    /// rest.
    #[error("nothing to submit for exam `{exam_id}`: choose {}", missing.join(" and "))]
    NothingToSubmit {
        /// The exam session.
        exam_id: String,
        /// What is missing: `center`, `subjects`.
        missing: Vec<String>,
    },
    /// The registration's last queued action is already this one (a double press); it is still
    /// waiting with its own key.
    #[error("a {kind} for exam `{exam_id}` is already waiting to be sent")]
    AlreadyQueued {
        /// The exam session.
        exam_id: String,
        /// The kind of the waiting action.
        kind: ActionKind,
        /// The waiting action's key.
        idempotency_key: String,
    },
    /// The system's random generator failed (no key could be made).
    #[error("no random idempotency key could be generated")]
    Random,
    /// The outbox could not be written; the action is not queued.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbox as stored in `<root>/outbox.json`: the queue and the outcomes, so that moving an
/// action from one to the other is one atomic write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OutboxFile {
    /// The next action's `seq`.
    pub(crate) next_seq: u64,
    /// Waiting actions, oldest first.
    pub(crate) queued: Vec<QueuedAction>,
    /// Finished actions, oldest first (at most [`MAX_OUTCOMES`]).
    pub(crate) outcomes: Vec<ActionOutcome>,
}

/// The outbox in memory: the stored file and the retry schedule (not stored: a restarted app
/// tries at once).
#[derive(Debug)]
pub(crate) struct Outbox {
    file: OutboxFile,
    retry: Retry,
    not_before: Option<Instant>,
}

/// A fresh idempotency key: `bm-` and 128 random bits in hex.
pub(crate) fn fresh_key() -> Result<String, QueueError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).map_err(|_| QueueError::Random)?;
    Ok(format!("bm-{}", baoming_core::catalog::hex(&b)))
}

impl Outbox {
    /// Reads the stored outbox (empty if there is none).
    pub(crate) fn load(store: &LocalStore, backoff: Backoff) -> Result<Outbox, StoreError> {
        Ok(Outbox { file: store.load_outbox()?, retry: Retry::new(backoff), not_before: None })
    }

    /// Writes `next` and adopts it only once it is durable.
    fn commit(&mut self, store: &LocalStore, next: OutboxFile) -> Result<(), StoreError> {
        store.save_outbox(&next)?;
        self.file = next;
        Ok(())
    }

    /// The waiting actions, oldest first.
    pub(crate) fn queued(&self) -> &[QueuedAction] {
        &self.file.queued
    }

    /// The kept outcomes, oldest first.
    pub(crate) fn outcomes(&self) -> &[ActionOutcome] {
        &self.file.outcomes
    }

    /// Queues an action (see the module's ordering rules) and persists it before returning.
    pub(crate) fn enqueue(
        &mut self,
        store: &LocalStore,
        exam_id: &str,
        kind: ActionKind,
        heads: Vec<String>,
    ) -> Result<QueuedAction, QueueError> {
        if let Some(last) = self.file.queued.iter().rev().find(|a| a.exam_id == exam_id)
            && last.kind == kind
        {
            return Err(QueueError::AlreadyQueued {
                exam_id: exam_id.to_owned(),
                kind,
                idempotency_key: last.idempotency_key.clone(),
            });
        }
        let action = QueuedAction {
            seq: self.file.next_seq,
            exam_id: exam_id.to_owned(),
            kind,
            idempotency_key: fresh_key()?,
            heads,
            queued_at_ms: now_ms(),
            attempts: 0,
            last_error: None,
        };
        let mut next = self.file.clone();
        next.next_seq += 1;
        next.queued.push(action.clone());
        self.commit(store, next)?;
        Ok(action)
    }

    /// The next action to send: the oldest whose registration `sendable` allows (an exam whose
    /// head action is not sendable blocks its later actions, not other exams').
    pub(crate) fn next(&self, sendable: impl Fn(&str) -> bool) -> Option<QueuedAction> {
        let mut blocked = HashSet::new();
        for a in &self.file.queued {
            if blocked.contains(a.exam_id.as_str()) {
                continue;
            }
            if sendable(&a.exam_id) {
                return Some(a.clone());
            }
            blocked.insert(a.exam_id.as_str());
        }
        None
    }

    /// Moves action `seq` from the queue to the outcomes in one write and resets the backoff.
    pub(crate) fn finish(
        &mut self,
        store: &LocalStore,
        seq: u64,
        result: ActionResult,
    ) -> Result<ActionOutcome, StoreError> {
        let mut next = self.file.clone();
        let pos = next.queued.iter().position(|a| a.seq == seq);
        let action = match pos {
            Some(p) => next.queued.remove(p),
            None => {
                return Err(StoreError::Corrupt {
                    path: store.root().join("outbox.json"),
                    reason: format!("action {seq} is not queued"),
                });
            }
        };
        let outcome = ActionOutcome { action, result, finished_at_ms: now_ms() };
        next.outcomes.push(outcome.clone());
        let excess = next.outcomes.len().saturating_sub(MAX_OUTCOMES);
        next.outcomes.drain(..excess);
        self.commit(store, next)?;
        self.retry.reset();
        self.not_before = None;
        Ok(outcome)
    }

    /// Records a transient failure of action `seq`: it stays queued, and the next attempt waits
    /// for the returned backoff delay.
    pub(crate) fn delay(
        &mut self,
        store: &LocalStore,
        seq: u64,
        reason: &str,
    ) -> Result<(QueuedAction, Duration), StoreError> {
        let mut next = self.file.clone();
        let mut updated = None;
        if let Some(a) = next.queued.iter_mut().find(|a| a.seq == seq) {
            a.attempts = a.attempts.saturating_add(1);
            a.last_error = Some(reason.to_owned());
            updated = Some(a.clone());
        }
        let delay = self.retry.next_delay();
        self.not_before = Some(Instant::now() + delay);
        let Some(action) = updated else {
            return Err(StoreError::Corrupt {
                path: store.root().join("outbox.json"),
                reason: format!("action {seq} is not queued"),
            });
        };
        self.commit(store, next)?;
        Ok((action, delay))
    }

    /// When the background loop should try again: `None` if nothing waits for a retry delay.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        if self.file.queued.is_empty() { None } else { self.not_before }
    }

    /// Forgets the time of the next retry (a drain that finds nothing to send must not leave a
    /// past retry time behind, or the background loop would wake for it again and again).
    pub(crate) fn clear_retry_time(&mut self) {
        self.not_before = None;
    }

    /// Whether a drain may run now (nothing queued counts as due: it is free).
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| t <= now)
    }

    /// Forgets the kept outcomes.
    pub(crate) fn clear_outcomes(&mut self, store: &LocalStore) -> Result<(), StoreError> {
        let mut next = self.file.clone();
        next.outcomes.clear();
        self.commit(store, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(store: &LocalStore) -> OutboxFile {
        store.load_outbox().expect("stored")
    }

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("open");
        (dir, store)
    }

    fn done(exam: &str, status: Status) -> ActionResult {
        ActionResult::Done(Box::new(RegistrationView {
            document_id: "doc".into(),
            exam: exam.into(),
            status,
            status_label_zh: status.label_zh().into(),
            updated_at_ms: 1,
            ..blank_view()
        }))
    }

    #[test]
    fn queued_actions_survive_a_restart_with_their_keys_and_heads() {
        let (dir, store) = store();
        let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
        let heads = vec!["ab".repeat(32)];
        let submit = outbox.enqueue(&store, "ncre-2027-03", ActionKind::Submit, heads.clone()).expect("q");
        let withdraw = outbox.enqueue(&store, "ncre-2027-03", ActionKind::Withdraw, vec![]).expect("q");
        assert_ne!(submit.idempotency_key, withdraw.idempotency_key, "a fresh key per action");
        for key in [&submit.idempotency_key, &withdraw.idempotency_key] {
            assert!(key.starts_with("bm-") && key.len() == 35, "{key}");
            assert!(key[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(submit.heads, heads);
        assert_eq!(submit.body(), format!("{{\"heads\":[\"{}\"]}}", heads[0]).into_bytes());
        assert!(withdraw.body().is_empty());
        drop(outbox);
        drop(store);

        let store = LocalStore::open(dir.path()).expect("reopen");
        let mut outbox = Outbox::load(&store, Backoff::default()).expect("reload");
        assert_eq!(outbox.queued(), &[submit.clone(), withdraw.clone()][..], "same order, keys, heads");
        let third = outbox.enqueue(&store, "ncre-2027-03", ActionKind::Submit, vec![]).expect("q");
        assert_eq!(third.seq, 2, "sequence numbers are never reused");
    }

    #[test]
    fn a_double_press_is_refused_locally_and_nothing_is_stored() {
        let (_dir, store) = store();
        let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
        let first = outbox.enqueue(&store, "a", ActionKind::Submit, vec![]).expect("q");
        match outbox.enqueue(&store, "a", ActionKind::Submit, vec!["cd".repeat(32)]) {
            Err(QueueError::AlreadyQueued { exam_id, kind, idempotency_key }) => {
                assert_eq!((exam_id.as_str(), kind), ("a", ActionKind::Submit));
                assert_eq!(idempotency_key, first.idempotency_key, "the waiting action is named");
            }
            other => panic!("expected AlreadyQueued, got {other:?}"),
        }
        // Another registration, or another kind in between, is fine.
        outbox.enqueue(&store, "b", ActionKind::Submit, vec![]).expect("other exam");
        outbox.enqueue(&store, "a", ActionKind::Withdraw, vec![]).expect("withdraw");
        outbox.enqueue(&store, "a", ActionKind::Submit, vec![]).expect("submit again");
        assert!(matches!(
            outbox.enqueue(&store, "a", ActionKind::Submit, vec![]),
            Err(QueueError::AlreadyQueued { .. })
        ));
        let kinds: Vec<(&str, ActionKind)> =
            outbox.queued().iter().map(|a| (a.exam_id.as_str(), a.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("a", ActionKind::Submit),
                ("b", ActionKind::Submit),
                ("a", ActionKind::Withdraw),
                ("a", ActionKind::Submit)
            ]
        );
        assert_eq!(stored(&store).queued, outbox.queued(), "memory = disk");
    }

    #[test]
    fn actions_go_out_in_order_per_registration_and_a_held_one_blocks_only_its_own() {
        let (_dir, store) = store();
        let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
        let a1 = outbox.enqueue(&store, "a", ActionKind::Submit, vec![]).expect("q");
        let b1 = outbox.enqueue(&store, "b", ActionKind::Submit, vec![]).expect("q");
        let a2 = outbox.enqueue(&store, "a", ActionKind::Withdraw, vec![]).expect("q");
        assert_eq!(outbox.next(|_| true), Some(a1.clone()));
        assert_eq!(outbox.next(|e| e != "a"), Some(b1.clone()), "a held registration waits");
        assert_eq!(outbox.next(|e| e != "a" && e != "b"), None);

        let outcome = outbox.finish(&store, a1.seq, done("a", Status::Submitted)).expect("finish");
        assert_eq!(outcome.action, a1);
        assert_eq!(outbox.next(|_| true), Some(b1.clone()));
        outbox.finish(&store, b1.seq, done("b", Status::Submitted)).expect("finish");
        assert_eq!(outbox.next(|_| true), Some(a2.clone()), "then a's withdrawal");
        let refusal = ActionResult::Refused(ActionRefusal {
            code: ErrorCode::TransitionNotAllowed,
            code_text: ErrorCode::TransitionNotAllowed.as_str().into(),
            http_status: 409,
            message: "no".into(),
            details: serde_json::json!({ "status": "draft" }),
        });
        outbox.finish(&store, a2.seq, refusal.clone()).expect("finish");
        assert!(outbox.queued().is_empty());
        let on_disk = stored(&store);
        let seqs: Vec<u64> = on_disk.outcomes.iter().map(|o| o.action.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2], "outcomes in the order they finished");
        assert_eq!(on_disk.outcomes[2].result, refusal);
        assert!(on_disk.queued.is_empty(), "queue and outcome moved in one write");
        assert!(outbox.finish(&store, a2.seq, refusal).is_err(), "an action finishes once");
    }

    #[test]
    fn a_transient_failure_keeps_the_action_and_backs_off() {
        let (_dir, store) = store();
        let backoff = Backoff { initial: Duration::from_secs(4), max: Duration::from_secs(60), jitter: 0.0 };
        let mut outbox = Outbox::load(&store, backoff).expect("load");
        assert!(outbox.due(Instant::now()) && outbox.wake_at().is_none());
        let a = outbox.enqueue(&store, "a", ActionKind::ApplyForReview, vec![]).expect("q");
        let (after, delay) = outbox.delay(&store, a.seq, "the server cannot be reached").expect("delay");
        assert_eq!(delay, Duration::from_secs(4));
        assert_eq!((after.attempts, after.last_error.as_deref()), (1, Some("the server cannot be reached")));
        assert!(!outbox.due(Instant::now()), "waits for the delay");
        assert!(outbox.due(Instant::now() + Duration::from_secs(5)));
        assert!(outbox.wake_at().is_some());
        let (_, delay) = outbox.delay(&store, a.seq, "503").expect("delay");
        assert_eq!(delay, Duration::from_secs(8), "doubles");
        assert_eq!(stored(&store).queued[0].attempts, 2, "attempts are kept");
        outbox.finish(&store, a.seq, done("a", Status::UnderReview)).expect("finish");
        assert!(outbox.due(Instant::now()) && outbox.wake_at().is_none(), "an answer resets it");
    }

    #[test]
    fn outcomes_are_bounded_and_can_be_dismissed() {
        let (_dir, store) = store();
        let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
        for i in 0..(MAX_OUTCOMES + 3) {
            let kind = if i % 2 == 0 { ActionKind::Submit } else { ActionKind::Withdraw };
            let a = outbox.enqueue(&store, "a", kind, vec![]).expect("q");
            outbox.finish(&store, a.seq, done("a", Status::Submitted)).expect("finish");
        }
        assert_eq!(outbox.outcomes().len(), MAX_OUTCOMES);
        assert_eq!(outbox.outcomes()[0].action.seq, 3, "the oldest went first");
        outbox.clear_outcomes(&store).expect("clear");
        assert!(stored(&store).outcomes.is_empty());
    }

    #[test]
    fn refusals_keep_the_code_as_the_server_spelled_it() {
        let stored = |code: &str| serde_json::json!({ "code": code, "http_status": 409, "message": "m", "details": {} });
        for code in [ErrorCode::SeatGone, ErrorCode::Invalid, ErrorCode::IdempotencyKeyReused] {
            let r: ActionRefusal = serde_json::from_value(stored(code.as_str())).expect("reads");
            assert_eq!((r.code, r.code_text.as_str()), (code, code.as_str()));
            assert_eq!(
                serde_json::to_value(&r).expect("json"),
                stored(code.as_str()),
                "written back the same"
            );
        }
        let newer: ActionRefusal = serde_json::from_value(stored("from_the_future")).expect("reads");
        assert_eq!((newer.code, newer.code_text.as_str()), (ErrorCode::Unknown, "from_the_future"));
        assert_eq!(
            serde_json::to_value(&newer).expect("json"),
            stored("from_the_future"),
            "the text survives"
        );
    }

    #[test]
    fn a_refusal_reads_its_details_typed() {
        let r = ActionRefusal {
            code: ErrorCode::SeatGone,
            code_text: "seat_gone".into(),
            http_status: 409,
            message: "no seat left".into(),
            details: serde_json::json!({ "pools": [{ "kind": "center", "center": "bj-dongcheng" }] }),
        };
        let body = r.body();
        assert_eq!((body.code, body.message.as_str()), (ErrorCode::SeatGone, "no seat left"));
        assert_eq!(
            body.pools,
            Some(vec![baoming_core::api::error::SeatPool::Center { center: "bj-dongcheng".into() }])
        );
        let odd = ActionRefusal { details: serde_json::json!({ "pools": [{ "kind": "moon" }] }), ..r };
        assert_eq!(
            odd.body(),
            ErrorBody::new(ErrorCode::SeatGone, "no seat left"),
            "unreadable details are left out"
        );
    }

    /// `outbox.json` as the client wrote it before it read the contract: outcomes with the
    /// client's own registration status (the first version's and the last one's), refusals with
    /// a known code, a code the client did not know and an answer without an error body, and
    /// actions still queued. Devices have such files; they must load.
    #[test]
    fn an_outbox_file_of_the_former_format_still_loads() {
        const FORMER: &str = r#"{
  "next_seq": 7,
  "queued": [
    { "seq": 4, "exam_id": "ncre-2027-03", "kind": "apply_for_review",
      "idempotency_key": "bm-00112233445566778899aabbccddeeff", "queued_at_ms": 1790000000000,
      "attempts": 2, "last_error": "the server cannot be reached: connection refused" },
    { "seq": 5, "exam_id": "ncre-2027-09", "kind": "submit",
      "idempotency_key": "bm-ffeeddccbbaa99887766554433221100",
      "heads": ["abababababababababababababababababababababababababababababababab"],
      "queued_at_ms": 1790000001000, "attempts": 0, "last_error": null }
  ],
  "outcomes": [
    { "action": { "seq": 0, "exam_id": "ncre-2027-03", "kind": "submit",
                  "idempotency_key": "bm-0123456789abcdef0123456789abcdef",
                  "heads": ["cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"],
                  "queued_at_ms": 1789000000000, "attempts": 0, "last_error": null },
      "result": { "done": { "document_id": "2xQd1", "exam": "ncre-2027-03", "status": "submitted",
                            "reason": null, "reason_paths": [], "deadline_ms": 1789086400000,
                            "center": "bj-dongcheng", "seats": ["15"], "amount_fen": 7500,
                            "updated_at_ms": 1789000000500 } },
      "finished_at_ms": 1789000000600 },
    { "action": { "seq": 1, "exam_id": "ncre-2027-03", "kind": "withdraw",
                  "idempotency_key": "bm-1123456789abcdef0123456789abcdef",
                  "queued_at_ms": 1789000001000, "attempts": 0, "last_error": null },
      "result": { "done": { "document_id": "2xQd1", "exam": "ncre-2027-03", "status": "paid",
                            "reason": null, "reason_paths": [], "deadline_ms": null,
                            "center": "bj-dongcheng", "seats": ["15"], "amount_fen": 7500,
                            "ticket": "270301020010013", "updated_at_ms": 1789000002000,
                            "order": "BM1789000001000000a1b2c3d4e5f6", "trade_no": "2027032722001",
                            "paid_at_ms": 1789000001500, "refunded_fen": null, "refund_due": false } },
      "finished_at_ms": 1789000002100 },
    { "action": { "seq": 2, "exam_id": "ncre-2027-09", "kind": "submit",
                  "idempotency_key": "bm-2123456789abcdef0123456789abcdef", "heads": [],
                  "queued_at_ms": 1789000003000, "attempts": 1, "last_error": "503" },
      "result": { "refused": { "code": "seat_gone", "http_status": 409, "message": "no seat left",
                               "details": { "pools": [{ "kind": "subject", "center": "bj-dongcheng", "subject": "15" }] } } },
      "finished_at_ms": 1789000003100 },
    { "action": { "seq": 3, "exam_id": "ncre-2027-09", "kind": "withdraw",
                  "idempotency_key": "bm-3123456789abcdef0123456789abcdef",
                  "queued_at_ms": 1789000004000, "attempts": 0, "last_error": null },
      "result": { "refused": { "code": "something_new", "http_status": 409, "message": "newer",
                               "details": {} } },
      "finished_at_ms": 1789000004100 },
    { "action": { "seq": 6, "exam_id": "ncre-2027-09", "kind": "withdraw",
                  "idempotency_key": "bm-4123456789abcdef0123456789abcdef",
                  "queued_at_ms": 1789000005000, "attempts": 0, "last_error": null },
      "result": { "refused": { "code": "http_404", "http_status": 404, "message": "<html>", "details": {} } },
      "finished_at_ms": 1789000005100 }
  ]
}"#;
        let (dir, store) = store();
        std::fs::write(dir.path().join("outbox.json"), FORMER).expect("write");
        let outbox = Outbox::load(&store, Backoff::default()).expect("the former file loads");
        let kinds: Vec<ActionKind> = outbox.queued().iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [ActionKind::ApplyForReview, ActionKind::Submit]);
        assert_eq!(outbox.queued()[0].attempts, 2);
        assert_eq!(outbox.queued()[1].heads, ["ab".repeat(32)]);

        let results: Vec<&ActionResult> = outbox.outcomes().iter().map(|o| &o.result).collect();
        let ActionResult::Done(first) = results[0] else { panic!("{:?}", results[0]) };
        assert_eq!(
            (first.status, first.status_label_zh.as_str()),
            (Status::Submitted, Status::Submitted.label_zh())
        );
        assert_eq!((first.center.as_deref(), first.amount_fen), (Some("bj-dongcheng"), Some(7500)));
        assert_eq!((first.order.as_ref(), first.ticket.as_ref(), first.refund_due), (None, None, false));
        let ActionResult::Done(paid) = results[1] else { panic!("{:?}", results[1]) };
        assert_eq!(paid.ticket.as_deref(), Some("270301020010013"));
        assert_eq!(paid.trade_no.as_deref(), Some("2027032722001"));
        let refusals: Vec<(ErrorCode, &str, u16)> = results[2..]
            .iter()
            .map(|r| match r {
                ActionResult::Refused(r) => (r.code, r.code_text.as_str(), r.http_status),
                ActionResult::Done(v) => panic!("{v:?}"),
            })
            .collect();
        assert_eq!(
            refusals,
            [
                (ErrorCode::SeatGone, "seat_gone", 409),
                (ErrorCode::Unknown, "something_new", 409),
                (ErrorCode::Unknown, "http_404", 404)
            ]
        );
        let ActionResult::Refused(seat_gone) = results[2] else { unreachable!() };
        assert!(seat_gone.body().pools.is_some_and(|p| p.len() == 1));

        // Written back in the current format, read again the same.
        let mut outbox = outbox;
        let a = outbox.enqueue(&store, "ncre-2027-12", ActionKind::Submit, vec![]).expect("queue");
        assert_eq!(a.seq, 7, "sequence numbers go on");
        let again = Outbox::load(&store, Backoff::default()).expect("reload");
        assert_eq!(again.outcomes(), outbox.outcomes());
        let text = std::fs::read_to_string(dir.path().join("outbox.json")).expect("read");
        assert!(text.contains("\"something_new\""), "a newer code is kept as the server spelled it");
    }
}
