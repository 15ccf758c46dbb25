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
//!   [`ActionResult::Done`] with the server's [`RegistrationStatus`], or
//!   [`ActionResult::Refused`] with a typed [`RefusalCode`] (`seat_gone`, `window_closed`,
//!   `invalid` …) — in the same atomic write. Outcomes are delivered as
//!   [`ClientEvent::ActionFinished`](crate::ClientEvent::ActionFinished) and kept (the last
//!   [`MAX_OUTCOMES`]) for [`SyncClient::action_outcomes`](crate::SyncClient::action_outcomes)
//!   until dismissed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use baoming_core::lifecycle::Status;
use serde::{Deserialize, Serialize};

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
    /// The last path segment of the action's endpoint.
    pub fn path(self) -> &'static str {
        match self {
            ActionKind::Submit => "submit",
            ActionKind::Withdraw => "withdraw",
            ActionKind::ApplyForReview => "apply-review",
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
    /// The request body: `{"heads": […]}` for a submission, empty otherwise. Always the same
    /// bytes for one action, so a retry matches the server's stored fingerprint.
    pub(crate) fn body(&self) -> Vec<u8> {
        match self.kind {
            ActionKind::Submit => serde_json::to_vec(&serde_json::json!({ "heads": self.heads }))
                .unwrap_or_else(|_| b"{}".to_vec()),
            ActionKind::Withdraw | ActionKind::ApplyForReview => Vec::new(),
        }
    }
}

/// The server's answer to an action it performed: the registration as it now stands
/// (the `GET /api/registrations/{exam}` view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationStatus {
    /// The registration document's id (base58check).
    pub document_id: String,
    /// The exam session.
    pub exam: String,
    /// The new status.
    pub status: Status,
    /// The reason of the last rejection, if any.
    #[serde(default)]
    pub reason: Option<String>,
    /// Draft paths the reason concerns.
    #[serde(default)]
    pub reason_paths: Vec<String>,
    /// Payment deadline (Unix milliseconds), when one runs.
    #[serde(default)]
    pub deadline_ms: Option<i64>,
    /// The center whose seats are held, while seats are held.
    #[serde(default)]
    pub center: Option<String>,
    /// The subjects whose seats are held.
    #[serde(default)]
    pub seats: Vec<String>,
    /// The fee in fen.
    #[serde(default)]
    pub amount_fen: Option<i64>,
    /// The admission ticket number, once the center's room arrangement has seated the candidate.
    #[serde(default)]
    pub ticket: Option<String>,
    /// When the server last changed the registration (Unix milliseconds).
    #[serde(default)]
    pub updated_at_ms: i64,
    /// The current payment order's reference (`out_trade_no`), once one was opened.
    #[serde(default)]
    pub order: Option<String>,
    /// Receipt: the payment platform's trade number of the payment that paid the registration.
    #[serde(default)]
    pub trade_no: Option<String>,
    /// Receipt: when it was paid (Unix milliseconds, as the platform reported it).
    #[serde(default)]
    pub paid_at_ms: Option<i64>,
    /// Refunded so far, in fen.
    #[serde(default)]
    pub refunded_fen: Option<i64>,
    /// Whether a refund is due (a payment the registration could not take).
    #[serde(default)]
    pub refund_due: bool,
}

/// The machine-readable code of a refused action (the `code` of the server's JSON error body).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RefusalCode {
    /// `seat_gone`: the center or a subject is full (`details.pools` names them).
    SeatGone,
    /// `window_closed`: registration for the exam is not open.
    WindowClosed,
    /// `locked`: the registration is under review.
    Locked,
    /// `photo_missing`: no valid photo.
    PhotoMissing,
    /// `slot_conflict`: two chosen subjects share a time slot.
    SlotConflict,
    /// `invalid`: the draft is not complete or not valid (`details.issues` lists why).
    Invalid,
    /// `duplicate_id_document`: this ID document is already registered for the exam.
    DuplicateIdDocument,
    /// `heads_unknown`: the server lacks the submitted heads (the edits were refused at sync);
    /// submit again.
    HeadsUnknown,
    /// `transition_not_allowed`: the action makes no sense in the current status.
    TransitionNotAllowed,
    /// `review_not_offered`: the center does not review registrations.
    ReviewNotOffered,
    /// `not_found`: the exam session is not in the server's catalog.
    NotFound,
    /// `idempotency_key_reused`: the key came with a different request before.
    IdempotencyKeyReused,
    /// Any other code, verbatim.
    Other(String),
}

impl RefusalCode {
    /// The code as the server spells it.
    pub fn as_str(&self) -> &str {
        match self {
            RefusalCode::SeatGone => "seat_gone",
            RefusalCode::WindowClosed => "window_closed",
            RefusalCode::Locked => "locked",
            RefusalCode::PhotoMissing => "photo_missing",
            RefusalCode::SlotConflict => "slot_conflict",
            RefusalCode::Invalid => "invalid",
            RefusalCode::DuplicateIdDocument => "duplicate_id_document",
            RefusalCode::HeadsUnknown => "heads_unknown",
            RefusalCode::TransitionNotAllowed => "transition_not_allowed",
            RefusalCode::ReviewNotOffered => "review_not_offered",
            RefusalCode::NotFound => "not_found",
            RefusalCode::IdempotencyKeyReused => "idempotency_key_reused",
            RefusalCode::Other(code) => code,
        }
    }
}

impl From<String> for RefusalCode {
    fn from(code: String) -> RefusalCode {
        match code.as_str() {
            "seat_gone" => RefusalCode::SeatGone,
            "window_closed" => RefusalCode::WindowClosed,
            "locked" => RefusalCode::Locked,
            "photo_missing" => RefusalCode::PhotoMissing,
            "slot_conflict" => RefusalCode::SlotConflict,
            "invalid" => RefusalCode::Invalid,
            "duplicate_id_document" => RefusalCode::DuplicateIdDocument,
            "heads_unknown" => RefusalCode::HeadsUnknown,
            "transition_not_allowed" => RefusalCode::TransitionNotAllowed,
            "review_not_offered" => RefusalCode::ReviewNotOffered,
            "not_found" => RefusalCode::NotFound,
            "idempotency_key_reused" => RefusalCode::IdempotencyKeyReused,
            _ => RefusalCode::Other(code),
        }
    }
}

impl From<RefusalCode> for String {
    fn from(code: RefusalCode) -> String {
        code.as_str().to_owned()
    }
}

/// A final refusal of an action by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRefusal {
    /// What was refused.
    pub code: RefusalCode,
    /// The HTTP status (409, 422, 404 …).
    pub http_status: u16,
    /// The server's explanation, in English.
    pub message: String,
    /// The other members of the error body (`issues`, `pools`, `status` …), or `{}`.
    pub details: serde_json::Value,
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionResult {
    /// The server performed it (or had performed it: a replayed answer); this is the
    /// registration now.
    Done(Box<RegistrationStatus>),
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
        ActionResult::Done(Box::new(RegistrationStatus {
            document_id: "doc".into(),
            exam: exam.into(),
            status,
            reason: None,
            reason_paths: vec![],
            deadline_ms: None,
            center: None,
            seats: vec![],
            amount_fen: None,
            ticket: None,
            updated_at_ms: 1,
            order: None,
            trade_no: None,
            paid_at_ms: None,
            refunded_fen: None,
            refund_due: false,
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
            code: RefusalCode::from("transition_not_allowed".to_owned()),
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
    fn refusal_codes_round_trip_as_the_servers_strings() {
        for code in [
            "seat_gone",
            "window_closed",
            "locked",
            "photo_missing",
            "slot_conflict",
            "invalid",
            "duplicate_id_document",
            "heads_unknown",
            "transition_not_allowed",
            "review_not_offered",
            "not_found",
            "idempotency_key_reused",
            "something_new",
        ] {
            let typed = RefusalCode::from(code.to_owned());
            assert_eq!(typed.as_str(), code);
            assert_eq!(serde_json::to_value(&typed).expect("json"), serde_json::json!(code));
            assert_eq!(serde_json::from_value::<RefusalCode>(serde_json::json!(code)).expect("back"), typed);
        }
        assert_eq!(RefusalCode::from("seat_gone".to_owned()), RefusalCode::SeatGone);
        assert_eq!(RefusalCode::from("x".to_owned()), RefusalCode::Other("x".into()));
    }
}
