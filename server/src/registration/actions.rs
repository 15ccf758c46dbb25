//! The actions as their callers name them: the candidate's submit, withdraw and apply-for-review
//! (always with an idempotency key), and the center's approve and reject (scoped to the
//! operator's centers), each run through [`Registrations::act`].

use std::str::FromStr;

use baoming_core::api::registrations::{CenterRegistration, RegistrationView};
use baoming_core::document::DocumentId;
use baoming_core::lifecycle::{Event, Policy, transition};
use baoming_core::seats::SeatLedger;

use super::hub::LiveDoc;
use super::idempotency::{Idempotency, key_required};
use super::lifecycle::{Action, check_rejection, seat_gone};
use super::record::load_record;
use super::{RegistrationError, Registrations};
use crate::identity::operators::{Operator, Permission, Role, authorize, can_see};
use crate::store::audit::Actor;

/// A candidate's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateAction {
    /// `submit`, with the heads the candidate saw.
    Submit,
    /// `withdraw`.
    Withdraw,
    /// `apply-review`.
    ApplyReview,
}

impl CandidateAction {
    /// The action named by the path segment `name`.
    pub fn from_path(name: &str) -> Option<CandidateAction> {
        match name {
            "submit" => Some(CandidateAction::Submit),
            "withdraw" => Some(CandidateAction::Withdraw),
            "apply-review" => Some(CandidateAction::ApplyReview),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            CandidateAction::Submit => "submit",
            CandidateAction::Withdraw => "withdraw",
            CandidateAction::ApplyReview => "apply-review",
        }
    }
}

/// The center's decision on a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// Approve.
    Approve,
    /// Reject, with the reason shown to the candidate and the draft paths it concerns.
    Reject {
        /// Why.
        reason: String,
        /// Draft paths (`draft.…`).
        paths: Vec<String>,
    },
}

impl Registrations {
    /// Runs the candidate's action on their registration for `exam`. `key` is the request's
    /// `Idempotency-Key` (required), `body` the request body it fingerprints, `heads` the
    /// submitted heads (for a submission).
    pub async fn candidate_action(
        &self,
        account: &str,
        exam: &str,
        what: CandidateAction,
        key: Option<&str>,
        body: &[u8],
        heads: Vec<String>,
    ) -> Result<RegistrationView, RegistrationError> {
        let key = key.ok_or_else(key_required)?;
        let id = self.candidate_doc(account, exam)?;
        let idem = Idempotency::new(account, key, &format!("{}\0{exam}", what.path()), body)?;
        // Submissions wait their turn (bounded, first come first served) before any expensive
        // work, opening the document included; when the line is full they are answered at once.
        // Inside, a submission for a pool the seat path found full is refused from memory.
        let _slot = match what {
            CandidateAction::Submit => Some(self.submit_gate.enter().await.map_err(|_| {
                RegistrationError::Overloaded { retry_after_secs: self.settings.busy_retry_after_secs }
            })?),
            _ => None,
        };
        let live = self.open(id, account, exam).await?;
        if what == CandidateAction::Submit {
            self.refuse_known_full(&live, &heads).await?;
        }
        let action = match what {
            CandidateAction::Submit => Action::Submit { heads },
            CandidateAction::Withdraw => Action::Withdraw,
            CandidateAction::ApplyReview => Action::ApplyForReview,
        };
        self.act(&live, Actor::Account(account.to_owned()), Some(idem), action)
            .await?
            .ok_or_else(|| RegistrationError::Internal("an action without an answer".into()))
    }

    /// `seat_gone` when the draft at `heads` chose a pool the seat path found full (and no seat
    /// of it was released since). A registration whose status does not allow a submission goes
    /// the normal way (a repeated request gets its stored answer, any other its refusal), as
    /// does a draft the server cannot read at those heads.
    async fn refuse_known_full(&self, live: &LiveDoc, heads: &[String]) -> Result<(), RegistrationError> {
        let Some(view) = self.catalogs.current() else { return Ok(()) };
        let status = live.server_section().await.status;
        let any_policy = Policy { review: false, onsite_required: false };
        if transition(status, Event::Submit, any_policy).is_err() {
            return Ok(());
        }
        let Some(draft) = live.draft_at_hex(heads).await else { return Ok(()) };
        let Some(center) = draft.center.as_deref() else { return Ok(()) };
        let full = self.full_pools.known_full(
            &view.sha256,
            &live.exam,
            &SeatLedger::pools_of(center, &draft.subjects),
        );
        if full.is_empty() { Ok(()) } else { Err(seat_gone(&full).into()) }
    }

    /// Whether `op` may decide on registration `doc`: `NotFound` outside the operator's centers
    /// (as for an unknown id), `Forbidden` for auditors. Returns its record.
    pub fn reviewable(
        &self,
        op: &Operator,
        doc: &str,
    ) -> Result<(DocumentId, super::record::RegistrationRecord), RegistrationError> {
        let not_found = || RegistrationError::NotFound("no such registration".into());
        let id = DocumentId::from_str(doc).map_err(|_| not_found())?;
        let (record, _) = load_record(self.db.store(), &id)?.ok_or_else(not_found)?;
        if !can_see(op, &record.center) {
            return Err(not_found());
        }
        if op.role == Role::Auditor {
            authorize(op, Permission::ReviewCenter(&record.center))?;
        }
        Ok((id, record))
    }

    /// Runs the center's decision on registration `doc`. Outside the operator's centers a
    /// registration does not exist for them; auditors may not decide.
    pub async fn review(
        &self,
        op: &Operator,
        doc: &str,
        decision: Review,
        key: Option<&str>,
        body: &[u8],
    ) -> Result<RegistrationView, RegistrationError> {
        let (id, record) = self.reviewable(op, doc)?;
        let (what, action) = match decision {
            Review::Approve => ("approve", Action::Approve),
            Review::Reject { reason, paths } => {
                check_rejection(&reason, &paths)?;
                ("reject", Action::Reject { reason: reason.trim().to_owned(), paths })
            }
        };
        let idem = key
            .map(|k| Idempotency::new(&format!("op:{}", op.id), k, &format!("{what}\0{doc}"), body))
            .transpose()?;
        let live = self.open(id, &record.account, &record.exam).await?;
        self.act(&live, Actor::Operator(op.id.clone()), idem, action)
            .await?
            .ok_or_else(|| RegistrationError::Internal("an action without an answer".into()))
    }

    /// The registrations at `center` of `exam` (any status), for an operator who may read it.
    pub async fn list_at_center(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
    ) -> Result<Vec<CenterRegistration>, RegistrationError> {
        authorize(op, Permission::ReadCenter(center))?;
        let store = self.db.shared_store();
        let (exam, center) = (exam.to_owned(), center.to_owned());
        Ok(tokio::task::spawn_blocking(move || super::record::list_at_center(&*store, &exam, &center))
            .await
            .map_err(RegistrationError::internal)??)
    }
}
