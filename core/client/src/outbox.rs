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
//!   [`Backoff`], reset by the next answer; never sooner than the answer's `Retry-After`, spread
//!   by the same jitter, see [`Backoff::delay_after`]) and at once on the next
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
    /// for the returned backoff delay — at least `server_asked` (the answer's `Retry-After`).
    pub(crate) fn delay(
        &mut self,
        store: &LocalStore,
        seq: u64,
        reason: &str,
        server_asked: Option<Duration>,
    ) -> Result<(QueuedAction, Duration), StoreError> {
        let mut next = self.file.clone();
        let mut updated = None;
        if let Some(a) = next.queued.iter_mut().find(|a| a.seq == seq) {
            a.attempts = a.attempts.saturating_add(1);
            a.last_error = Some(reason.to_owned());
            updated = Some(a.clone());
        }
        let delay = self.retry.next_delay_after(server_asked);
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
mod tests;
