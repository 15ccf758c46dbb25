//! Committing a decided action: one storage transaction with the seat counters it moves (with a
//! precondition on every counter read), the record (with a precondition on its bytes), the
//! ID-document claim, the payment order's staged writes, the stored answer and the audit entry.
//! A precondition that fails because another writer moved first means "re-read and decide
//! again"; the ones that carry a meaning become typed refusals.

use baoming_core::api::error::ErrorCode;
use baoming_core::catalog::ExamSession;
use baoming_core::lifecycle::{SeatEffect, Status};
use baoming_core::seats::{Pool, SeatError, SeatLedger, SeatMove};
use serde_json::json;

use super::decide::{Decision, id_index_key, seat_error};
use super::{Action, Staged};
use crate::catalog::cancelled;
use crate::catalog::seats::stage_move;
use crate::refusal::Refusal;
use crate::registration::hub::LiveDoc;
use crate::registration::idempotency::{Idempotency, replay, stage_answer};
use crate::registration::record::{RegistrationRecord, view};
use crate::registration::{RegistrationError, Registrations};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Tree, Txn, encode};
use baoming_core::api::registrations::RegistrationView;

/// What one commit attempt came to.
pub(super) enum Attempt {
    /// Committed (or replayed): the answer.
    Done(Box<RegistrationView>),
    /// Another writer moved first: decide again.
    Retry,
}

/// The preconditions whose failure means something other than "retry".
#[derive(Default)]
struct Checks {
    id_document: Option<usize>,
    open_pool: Option<[usize; 2]>,
    staged: Vec<usize>,
    idempotency: Option<usize>,
    /// The pools whose seats the action releases, to forget as full once it is committed.
    releases: Vec<Pool>,
}

impl Staged {
    /// Adds the staged checks and writes to `txn`; returns the indices of its checks.
    pub fn stage(&self, txn: &mut Txn) -> Vec<usize> {
        let checks =
            self.requires.iter().map(|(t, k, v)| txn.require_equals(*t, k.clone(), v.clone())).collect();
        for (t, k, v) in &self.puts {
            txn.put(*t, k.clone(), v.clone());
        }
        for (t, k) in &self.deletes {
            txn.delete(*t, k.clone());
        }
        checks
    }
}

/// Claims the record's ID document in `exam` (one registration per ID document per exam).
fn claim_id_document(
    txn: &mut Txn,
    exam: &str,
    record: &RegistrationRecord,
    live: &LiveDoc,
) -> Option<usize> {
    let k = record.id_document_key.as_ref()?;
    let key = id_index_key(exam, k);
    let check = txn.require_absent(Tree::RegistrationByIdDocument, key.clone());
    txn.put(Tree::RegistrationByIdDocument, key, live.id.as_bytes().to_vec());
    Some(check)
}

impl Registrations {
    /// Stages the seat movement of `decision` (and the claims that go with it) into `txn`.
    fn stage_seats(
        &self,
        txn: &mut Txn,
        live: &LiveDoc,
        exam: &ExamSession,
        action: &Action,
        decision: &mut Decision,
        checks: &mut Checks,
    ) -> Result<(), RegistrationError> {
        let from = decision.from;
        let record = &mut decision.record;
        // A payment moves held seats to paid, or re-takes free ones after expiry.
        let effect = match action {
            Action::PaymentSucceeded { .. } if from.holds_seats() => Some(SeatMove::Pay),
            Action::PaymentSucceeded { .. } => Some(SeatMove::Rehold),
            _ => match decision.transition.seats {
                SeatEffect::Hold => Some(SeatMove::Hold),
                // Paid seats go back from `paid`, held ones from `held`.
                SeatEffect::Release if matches!(from, Status::Paid | Status::Confirmed) => {
                    Some(SeatMove::Refund)
                }
                SeatEffect::Release => Some(SeatMove::Release),
                SeatEffect::None | SeatEffect::Keep => None,
            },
        };
        let Some(movement) = effect else { return Ok(()) };
        if matches!(movement, SeatMove::Hold | SeatMove::Rehold) {
            checks.open_pool = Some(cancelled::require_open(txn, &exam.id, &record.center));
            checks.id_document = claim_id_document(txn, &exam.id, record, live);
        }
        // What the counters say is remembered when they say "full" (see `full_pools`): the
        // catalog and the release count are taken before the counters are read.
        let catalog = self.catalogs.current().map(|v| v.sha256.clone());
        let epoch = self.full_pools.epoch();
        if let Err(e) = stage_move(self.db.store(), txn, exam, &record.center, &record.subjects, movement)? {
            if let (SeatError::Full(pools), Some(catalog)) = (&e, catalog) {
                self.full_pools.record_full(&catalog, &exam.id, pools, epoch);
            }
            return Err(seat_error(e));
        }
        if matches!(movement, SeatMove::Release | SeatMove::Refund) {
            checks.releases = SeatLedger::pools_of(&record.center, &record.subjects);
            record.section.seats.clear();
            if let Some(k) = &record.id_document_key {
                txn.delete(Tree::RegistrationByIdDocument, id_index_key(&exam.id, k));
            }
        } else {
            record.section.seats = record.subjects.clone();
        }
        Ok(())
    }

    /// One attempt: read the record, decide, stage, commit. `Ok(None)` when nothing is due.
    pub(super) async fn attempt(
        &self,
        live: &LiveDoc,
        exam: &ExamSession,
        actor: &Actor,
        idem: Option<&Idempotency>,
        action: &Action,
        submitted: Option<&super::decide::Submitted>,
    ) -> Result<Option<Attempt>, RegistrationError> {
        let loaded = crate::registration::record::load_record(self.db.store(), &live.id)?;
        let (old, raw) = match &loaded {
            Some((r, raw)) => (Some(r), Some(raw.clone())),
            None => (None, None),
        };
        let Some(mut decision) = self.decide(live, exam, old, action, submitted)? else { return Ok(None) };
        let mut txn = Txn::new();
        txn.require_equals(Tree::Registrations, live.id.as_bytes().to_vec(), raw);
        let mut checks = Checks::default();
        if let Action::StartPayment { staged, .. } | Action::PaymentSucceeded { staged, .. } = action {
            checks.staged = staged.stage(&mut txn);
        }
        self.stage_seats(&mut txn, live, exam, action, &mut decision, &mut checks)?;
        let record = decision.record;
        txn.put(Tree::Registrations, live.id.as_bytes().to_vec(), encode(&record));
        let body = view(&live.id, &exam.id, Some(&record));
        checks.idempotency = idem.map(|idem| stage_answer(&mut txn, idem, &body));
        let event = AuditEvent::new(actor.clone(), action.audit_action(), live.id.to_string()).with(json!({
            "from": decision.from.as_str(), "to": decision.transition.to.as_str(), "center": record.center,
            "subjects": record.subjects, "deadline_ms": record.section.deadline_ms,
            "reason": record.section.reason, "refund_due": record.refund_due,
        }));
        match self.db.commit(txn, event).await {
            Ok(()) => {
                if !checks.releases.is_empty() {
                    self.full_pools.released(&exam.id, &checks.releases);
                }
                live.write_server_section(&record.section, actor.clone()).await?;
                Ok(Some(Attempt::Done(Box::new(body))))
            }
            Err(CommitError::Precondition(i)) => self.failed_precondition(i, &checks, exam, &record, idem),
            Err(e) => Err(e.into()),
        }
    }

    /// What a failed precondition means: a typed refusal, the stored answer of a concurrent
    /// request with the same key, or a retry.
    fn failed_precondition(
        &self,
        i: usize,
        checks: &Checks,
        exam: &ExamSession,
        record: &RegistrationRecord,
        idem: Option<&Idempotency>,
    ) -> Result<Option<Attempt>, RegistrationError> {
        if Some(i) == checks.id_document {
            return Err(Refusal::conflict(
                ErrorCode::DuplicateIdDocument,
                "this ID document is already registered for this exam",
            )
            .into());
        }
        if checks.open_pool.is_some_and(|c| c.contains(&i)) {
            let c = cancelled::find(self.db.store(), &exam.id, &record.center)?
                .ok_or_else(|| RegistrationError::Internal("a cancellation vanished".into()))?;
            return Err(c.refusal().into());
        }
        if checks.staged.contains(&i) {
            return Err(Refusal::conflict(
                ErrorCode::OrderChanged,
                "the payment order changed meanwhile; read it again",
            )
            .into());
        }
        if Some(i) == checks.idempotency
            && let Some(idem) = idem
            && let Some(body) = replay(self.db.store(), idem)?
        {
            return Ok(Some(Attempt::Done(Box::new(body))));
        }
        Ok(Some(Attempt::Retry))
    }
}
