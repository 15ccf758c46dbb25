//! Lifecycle actions: submit, withdraw, apply for review, approve, reject, on-site confirmation,
//! expiry and cancellation (driven by [`crate::registration::cancellations`]).
//!
//! The server's truth about a registration is its [`RegistrationRecord`] in the `registrations`
//! tree. Every action is decided by the core's [`baoming_core::lifecycle::transition`] on the record's status and commits
//! in one storage transaction: the seat counters it moves (see [`crate::catalog::seats`], with
//! preconditions, retried on conflict), the record, the ID-document index, the stored answer of
//! its idempotency key and the audit entry. Only then is the document's `server` section — the
//! record's projection — written through [`LiveDoc::write_server_section`], so devices see it
//! live. A crash between the two is repaired by [`Registrations::reconcile`], which every action runs first and
//! the sweeper runs over every record when the server starts.
//!
//! Actions on one document are serialised by [`LiveDoc::action_lock`]; actions on different
//! documents race only on shared seat counters and ID-document keys, which the preconditions
//! settle.

use std::sync::Arc;

use baoming_core::api::registrations::RegistrationView;
use baoming_core::lifecycle::Event;

use super::hub::LiveDoc;
use super::idempotency::{Idempotency, replay};
use super::record::{RegistrationRecord, load_record};
use super::{RegistrationError, Registrations};
use crate::store::Tree;
use crate::store::audit::Actor;

mod commit;
mod decide;
mod sweep;

pub(crate) use decide::seat_gone;
pub use decide::{check_reason, check_rejection, id_index_key};

/// Commit attempts before an action gives up under extreme contention.
const MAX_ATTEMPTS: usize = 10_000;

/// An action on one registration.
#[derive(Debug, Clone)]
pub enum Action {
    /// The candidate submits the draft as of `heads` (hex).
    Submit {
        /// The heads the candidate saw.
        heads: Vec<String>,
    },
    /// The candidate withdraws.
    Withdraw,
    /// The candidate applies for review.
    ApplyForReview,
    /// The center approves.
    Approve,
    /// The center rejects.
    Reject {
        /// Why, shown to the candidate.
        reason: String,
        /// Draft paths the reason concerns.
        paths: Vec<String>,
    },
    /// The payment deadline passed (the sweeper).
    Expire,
    /// The center confirms the candidate on site (see [`crate::desk::onsite`]).
    ConfirmOnSite,
    /// The administrator cancelled the registration's center or exam (only registrations that
    /// hold seats are cancelled; for anything else this is "nothing due").
    Cancel {
        /// Why, shown to the candidate.
        reason: String,
    },
    // ---- payments (driven by crate::payments::orders) ----
    /// A payment order was opened for the registration; `staged` writes the order itself.
    StartPayment {
        /// The order's `out_trade_no`.
        order: String,
        /// The order's writes, committed with the status change.
        staged: Staged,
    },
    /// The payment platform reports the order paid: held seats become paid ones (or, after
    /// expiry, free seats are taken again as paid ones when there are any).
    PaymentSucceeded {
        /// The order's `out_trade_no`.
        order: String,
        /// The platform's trade number.
        trade_no: String,
        /// When the candidate paid (Unix milliseconds).
        paid_at_ms: i64,
        /// The order's writes, committed with the status change.
        staged: Staged,
    },
}

/// Writes of another module committed in the same transaction as a lifecycle action, with
/// preconditions; when one of these fails the action answers `order_changed` (409) and nothing
/// is stored.
#[derive(Debug, Clone, Default)]
pub struct Staged {
    /// Keys that must hold exactly these bytes (`None`: absent).
    pub requires: Vec<(Tree, Vec<u8>, Option<Vec<u8>>)>,
    /// Keys to write.
    pub puts: Vec<(Tree, Vec<u8>, Vec<u8>)>,
    /// Keys to delete.
    pub deletes: Vec<(Tree, Vec<u8>)>,
}

impl Action {
    pub(crate) fn event(&self) -> Event {
        match self {
            Action::Submit { .. } => Event::Submit,
            Action::Withdraw => Event::Withdraw,
            Action::ApplyForReview => Event::ApplyForReview,
            Action::Approve => Event::Approve,
            Action::Reject { .. } => Event::Reject,
            Action::Expire => Event::DeadlinePassed,
            Action::ConfirmOnSite => Event::ConfirmOnSite,
            Action::Cancel { .. } => Event::Cancel,
            Action::StartPayment { .. } => Event::StartPayment,
            Action::PaymentSucceeded { .. } => Event::PaymentSucceeded,
        }
    }

    pub(crate) fn audit_action(&self) -> &'static str {
        match self {
            Action::Submit { .. } => "registration.submit",
            Action::Withdraw => "registration.withdraw",
            Action::ApplyForReview => "registration.apply_review",
            Action::Approve => "registration.approve",
            Action::Reject { .. } => "registration.reject",
            Action::Expire => "registration.expire",
            Action::ConfirmOnSite => "registration.confirm_onsite",
            Action::Cancel { .. } => "registration.cancel",
            Action::StartPayment { .. } => "registration.payment_started",
            Action::PaymentSucceeded { .. } => "registration.paid",
        }
    }
}

impl Registrations {
    /// Writes the record's section into the document, audited as `actor`, when the document
    /// does not show it yet (after a crash between the commit and the projection, or after a
    /// decision committed to the records first, such as the room arrangement's ticket numbers).
    /// The caller holds the document's action lock.
    pub async fn reconcile(
        &self,
        live: &LiveDoc,
        actor: Actor,
    ) -> Result<Option<RegistrationRecord>, RegistrationError> {
        let record = load_record(self.db.store(), &live.id)?.map(|(r, _)| r);
        if let Some(r) = &record
            && live.server_section().await != r.section
        {
            live.write_server_section(&r.section, actor).await?;
        }
        Ok(record)
    }

    /// Runs `action` on the registration behind `live` and returns the registration's view.
    /// `Ok(None)` only for [`Action::Expire`] and [`Action::Cancel`] when nothing was due.
    pub async fn act(
        &self,
        live: &Arc<LiveDoc>,
        actor: Actor,
        idem: Option<Idempotency>,
        action: Action,
    ) -> Result<Option<RegistrationView>, RegistrationError> {
        let _guard = live.action_lock().await;
        if let Some(idem) = &idem
            && let Some(body) = replay(self.db.store(), idem)?
        {
            return Ok(Some(body));
        }
        self.reconcile(live, Actor::System).await?;
        let view = self.catalogs.require()?;
        let exam = view.session(&live.exam)?;
        // What a submission holds is checked once, outside the retry loop (the draft at the
        // given heads does not change).
        let submitted = self.prepare(&view, exam, live, &action).await?;
        for _ in 0..MAX_ATTEMPTS {
            match self.attempt(live, exam, &actor, idem.as_ref(), &action, submitted.as_ref()).await? {
                None => return Ok(None),
                Some(commit::Attempt::Done(body)) => return Ok(Some(*body)),
                Some(commit::Attempt::Retry) => tokio::task::yield_now().await,
            }
        }
        Err(RegistrationError::Busy)
    }
}
