//! Lifecycle actions and where a registration stands.
//!
//! `submit`, `withdraw` and `apply_for_review` are queued on the device (offline too) with an
//! idempotency key and sent after the next successful sync; their final answers arrive as
//! [`ActionOutcomeInfo`]s (in the sync summary, as `Event::ActionFinished`, and in
//! `action_outcomes`). `status` and `seats` ask the server; `local_status` reads the last synced
//! state offline.

use baoming_client::{ActionOutcome, ActionResult, QueuedAction};
use baoming_core::api::catalog::{CenterSeats, SubjectSeats};
use baoming_core::api::registrations::RegistrationView;

use crate::client::BaomingClient;
use crate::errors::BaomingError;

/// An action waiting in the outbox.
#[derive(Debug, Clone, uniffi::Record)]
pub struct QueuedActionInfo {
    /// The exam session.
    pub exam_id: String,
    /// `submit`, `withdraw` or `apply_for_review`.
    pub action: String,
    /// The idempotency key sent with every attempt.
    pub idempotency_key: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl From<QueuedAction> for QueuedActionInfo {
    fn from(a: QueuedAction) -> Self {
        QueuedActionInfo {
            exam_id: a.exam_id,
            action: a.kind.to_string(),
            idempotency_key: a.idempotency_key,
            attempts: a.attempts,
            last_error: a.last_error,
        }
    }
}

/// The final answer to a queued action.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ActionOutcomeInfo {
    /// The exam session.
    pub exam_id: String,
    /// `submit`, `withdraw` or `apply_for_review`.
    pub action: String,
    /// Whether the server performed it.
    pub done: bool,
    /// The registration afterwards (when done).
    pub status: Option<StatusInfo>,
    /// The refusal's code (`seat_gone`, `window_closed`, `invalid`, …) when refused.
    pub refusal_code: Option<String>,
    /// The refusal's text when refused.
    pub refusal_message: Option<String>,
    /// The refusal's details as JSON (e.g. the validation `issues`), when refused.
    pub refusal_details_json: Option<String>,
}

impl From<ActionOutcome> for ActionOutcomeInfo {
    fn from(o: ActionOutcome) -> Self {
        let (exam_id, action) = (o.action.exam_id.clone(), o.action.kind.to_string());
        match o.result {
            ActionResult::Done(s) => ActionOutcomeInfo {
                exam_id,
                action,
                done: true,
                status: Some((*s).into()),
                refusal_code: None,
                refusal_message: None,
                refusal_details_json: None,
            },
            ActionResult::Refused(r) => ActionOutcomeInfo {
                exam_id,
                action,
                done: false,
                status: None,
                refusal_code: Some(r.code_text),
                refusal_message: Some(r.message),
                refusal_details_json: Some(r.details.to_string()),
            },
        }
    }
}

/// Where a registration stands: status, reason, deadline, seats, amount, the payment reference
/// and receipt, and the ticket number.
#[derive(Debug, Clone, uniffi::Record)]
pub struct StatusInfo {
    /// `draft`, `submitted`, `under_review`, `rejected`, `approved`, `awaiting_payment`,
    /// `paid`, `confirmed`, `expired`, `withdrawn` or `cancelled`.
    pub status: String,
    /// The reason of a rejection or cancellation.
    pub reason: Option<String>,
    /// Draft paths the reason concerns.
    pub reason_paths: Vec<String>,
    /// Payment deadline (Unix milliseconds), while one runs.
    pub deadline_ms: Option<i64>,
    /// The center where seats are held.
    pub center: Option<String>,
    /// Subjects whose seats are held.
    pub seats: Vec<String>,
    /// Amount due or paid, in fen.
    pub amount_fen: Option<i64>,
    /// The payment reference: the current payment order's number (`out_trade_no`), once `pay`
    /// opened one (printed on the registration form as 订单号).
    pub payment_reference: Option<String>,
    /// Receipt: the payment platform's trade number, once paid (printed on the registration form
    /// as 支付流水号).
    pub receipt_trade_no: Option<String>,
    /// Receipt: when it was paid (Unix milliseconds).
    pub paid_at_ms: Option<i64>,
    /// Refunded so far, in fen (a late payment without a seat, or a cancellation after payment).
    pub refunded_fen: Option<i64>,
    /// Whether a refund is due and not yet made.
    pub refund_due: bool,
    /// The admission ticket number, once the center arranged the candidate.
    pub ticket_number: Option<String>,
}

impl From<RegistrationView> for StatusInfo {
    fn from(s: RegistrationView) -> Self {
        StatusInfo {
            status: s.status.to_string(),
            reason: s.reason,
            reason_paths: s.reason_paths,
            deadline_ms: s.deadline_ms,
            center: s.center,
            seats: s.seats,
            amount_fen: s.amount_fen,
            payment_reference: s.order,
            receipt_trade_no: s.trade_no,
            paid_at_ms: s.paid_at_ms,
            refunded_fen: s.refunded_fen,
            refund_due: s.refund_due,
            ticket_number: s.ticket,
        }
    }
}

/// Free seats of one subject at a center.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SubjectSeatsInfo {
    /// Subject code.
    pub code: String,
    /// Seats in total.
    pub capacity: u32,
    /// Seats free now.
    pub free: u32,
}

impl From<SubjectSeats> for SubjectSeatsInfo {
    fn from(s: SubjectSeats) -> Self {
        SubjectSeatsInfo { code: s.code, capacity: s.capacity, free: s.free }
    }
}

/// Free seats at a center.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CenterSeatsInfo {
    /// Center id.
    pub center: String,
    /// The center's total capacity.
    pub capacity: u32,
    /// Seats free now.
    pub free: u32,
    /// Whether the administrator cancelled the center.
    pub cancelled: bool,
    /// Per subject.
    pub subjects: Vec<SubjectSeatsInfo>,
}

impl From<CenterSeats> for CenterSeatsInfo {
    fn from(c: CenterSeats) -> Self {
        CenterSeatsInfo {
            center: c.center,
            capacity: c.total_capacity,
            free: c.free,
            cancelled: c.cancelled,
            subjects: c.subjects.into_iter().map(Into::into).collect(),
        }
    }
}

#[uniffi::export]
impl BaomingClient {
    /// Queues a submission of the draft as it stands now (sent after the next sync; the server
    /// validates it and holds the seats). `ActionNotQueued` if no center or subject is chosen.
    pub fn submit(&self, exam_id: String) -> Result<QueuedActionInfo, BaomingError> {
        self.with_sync(|s| Ok(s.submit(&exam_id)?.into()))
    }

    /// Queues a withdrawal (releases the seats).
    pub fn withdraw(&self, exam_id: String) -> Result<QueuedActionInfo, BaomingError> {
        self.with_sync(|s| Ok(s.withdraw(&exam_id)?.into()))
    }

    /// Queues an application for the center's review.
    pub fn apply_for_review(&self, exam_id: String) -> Result<QueuedActionInfo, BaomingError> {
        self.with_sync(|s| Ok(s.apply_for_review(&exam_id)?.into()))
    }

    /// The actions waiting to be sent, oldest first.
    pub fn queued_actions(&self) -> Result<Vec<QueuedActionInfo>, BaomingError> {
        self.with_sync(|s| Ok(s.queued_actions().into_iter().map(Into::into).collect()))
    }

    /// The final answers to queued actions, oldest first, until dismissed.
    pub fn action_outcomes(&self) -> Result<Vec<ActionOutcomeInfo>, BaomingError> {
        self.with_sync(|s| Ok(s.action_outcomes().into_iter().map(Into::into).collect()))
    }

    /// Forgets the kept action outcomes.
    pub fn dismiss_action_outcomes(&self) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.dismiss_action_outcomes()?))
    }

    /// The registration as the server sees it now (online).
    pub fn status(&self, exam_id: String) -> Result<StatusInfo, BaomingError> {
        Ok(self.api.registration_status(&self.token()?, &exam_id)?.into())
    }

    /// The registration as of the last sync (offline). `center` and `refund_due` are only known
    /// online (`None` / `false` here).
    pub fn local_status(&self, exam_id: String) -> Result<StatusInfo, BaomingError> {
        let s = self.with_sync(|s| Ok(s.server(&exam_id)?))?;
        Ok(StatusInfo {
            status: s.status.to_string(),
            reason: s.reason,
            reason_paths: s.reason_paths,
            deadline_ms: s.deadline_ms,
            center: None,
            seats: s.seats,
            amount_fen: s.amount_fen,
            payment_reference: s.order,
            receipt_trade_no: s.trade_no,
            paid_at_ms: s.paid_at_ms,
            refunded_fen: s.refunded_fen,
            refund_due: false,
            ticket_number: s.ticket,
        })
    }

    /// Live free seats at every center of the exam (online).
    pub fn seats(&self, exam_id: String) -> Result<Vec<CenterSeatsInfo>, BaomingError> {
        Ok(self.api.availability(&exam_id)?.into_iter().map(Into::into).collect())
    }
}
