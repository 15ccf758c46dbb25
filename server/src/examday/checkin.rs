//! The check-in scan: staff scan a candidate's admission ticket; the signed code is verified with
//! the exam's key, matched against the current arrangement, and the check-in recorded once.

use baoming_core::api::documents::{CheckInAnswer, TicketSitting};
use baoming_core::api::error::ErrorCode;
use baoming_core::catalog::{ExamSession, TestCenter};
use baoming_core::document::DocumentId;
use baoming_core::ticket::{self, TicketPayload};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::arrangement::{self, Arranged, eligibility};
use super::documents::{clock, date, not_eligible};
use super::{ExamDay, ExamDayError};
use crate::identity::operators::{Operator, Permission, authorize, can_see};
use crate::refusal::Refusal;
use crate::registration::RegistrationError;
use crate::registration::record::load_record;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Tree, Txn, decode, encode};

/// A recorded check-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckIn {
    /// Registration id.
    pub registration_id: String,
    /// Ticket number.
    pub ticket_number: String,
    /// Center id.
    pub center: String,
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// The operator who scanned it.
    pub operator: String,
}

fn check_in_key(exam: &str, ticket_number: &str) -> Vec<u8> {
    format!("{exam}\0{ticket_number}").into_bytes()
}

fn already(c: &CheckIn) -> CheckInAnswer {
    let at = OffsetDateTime::from_unix_timestamp(c.at_ms / 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    CheckInAnswer::AlreadyCheckedIn {
        message: format!("already checked in at {} {} (UTC+8)", date(at), clock(at)),
        registration_id: c.registration_id.clone(),
        ticket_number: c.ticket_number.clone(),
        center: c.center.clone(),
        checked_in_at_ms: c.at_ms,
    }
}

impl ExamDay {
    /// The verified payload of `code` for `exam`, its center (in the operator's scope) and the
    /// registration and seats the current arrangement gives it.
    fn verified<'a>(
        &self,
        op: &Operator,
        exam: &'a ExamSession,
        code: &str,
    ) -> Result<(TicketPayload, &'a TestCenter, String, Arranged), ExamDayError> {
        let public_key = exam
            .public_key
            .as_deref()
            .and_then(|k| hex::decode(k).ok())
            .ok_or_else(|| ExamDayError::Internal(format!("exam `{}` has no public key", exam.id)))?;
        let payload = ticket::verify_ticket(code, &public_key)
            .map_err(|e| Refusal::invalid(ErrorCode::from(e.code()), e.to_string()))?;
        let not_here = || ExamDayError::not_found("no such ticket at your centers");
        if payload.exam != exam.id {
            return Err(not_here());
        }
        let center = exam.center(&payload.center).filter(|c| can_see(op, &c.id)).ok_or_else(not_here)?;
        authorize(op, Permission::ReviewCenter(&center.id))?;
        let superseded = |why: &str| {
            Refusal::conflict(ErrorCode::TicketSuperseded, why.to_owned())
                .detail(|b| b.ticket_number = Some(payload.ticket_number.clone()))
        };
        let arrangement = arrangement::load(self.db.store(), &exam.id, &center.id)?.map(|(a, _)| a);
        let (registration_id, arranged) = arrangement
            .as_ref()
            .and_then(|a| a.by_ticket(&payload.ticket_number))
            .map(|(id, a)| (id.to_owned(), a.clone()))
            .ok_or_else(|| {
                superseded("this ticket number is no longer arranged at the center; ask for a current ticket")
            })?;
        let seats = |s: &[baoming_core::ticket::Sitting]| {
            s.iter().map(|s| (s.subject.clone(), s.slot.clone(), s.room.clone(), s.seat)).collect::<Vec<_>>()
        };
        let current: Vec<_> = arranged
            .sittings
            .iter()
            .map(|s| (s.subject.clone(), s.slot.clone(), s.room.clone(), s.seat))
            .collect();
        if seats(&payload.sittings) != current {
            return Err(superseded(
                "the rooms or seats changed since this ticket was printed; ask for a current ticket",
            )
            .into());
        }
        Ok((payload, center, registration_id, arranged))
    }

    /// Verifies the scanned `code` for `exam` and records the check-in, as operator `op`. A
    /// second scan answers `already_checked_in` with the first check-in.
    pub async fn check_in(
        &self,
        op: &Operator,
        exam_id: &str,
        code: &str,
    ) -> Result<CheckInAnswer, ExamDayError> {
        let view = self.regs.catalogs().require().map_err(RegistrationError::from)?;
        let exam = view.session(exam_id).map_err(RegistrationError::from)?;
        let (payload, center, registration_id, arranged) = self.verified(op, exam, code)?;
        let key = check_in_key(&exam.id, &payload.ticket_number);
        if let Some(raw) = self.db.store().get(Tree::CheckIns, &key)? {
            return Ok(already(&decode(Tree::CheckIns, &raw)?));
        }
        let id: DocumentId = registration_id
            .parse()
            .map_err(|_| ExamDayError::Internal("a stored registration id does not parse".into()))?;
        let (record, _) = load_record(self.db.store(), &id)?
            .ok_or_else(|| ExamDayError::not_found("no such ticket at your centers"))?;
        eligibility(&record, center).map_err(|reason| not_eligible(reason, Some(&record)))?;
        let at_ms = self.db.clock().now_ms();
        let entry = CheckIn {
            registration_id: registration_id.clone(),
            ticket_number: payload.ticket_number.clone(),
            center: center.id.clone(),
            at_ms,
            operator: op.id.clone(),
        };
        let mut txn = Txn::new();
        txn.require_absent(Tree::CheckIns, key.clone());
        txn.put(Tree::CheckIns, key.clone(), encode(&entry));
        let event =
            AuditEvent::new(Actor::Operator(op.id.clone()), "ticket.check_in", payload.ticket_number.clone())
                .with(json!({ "exam": exam.id, "center": center.id, "registration_id": registration_id }));
        match self.db.commit(txn, event).await {
            Ok(()) => {}
            Err(CommitError::Precondition(_)) => {
                let raw = self
                    .db
                    .store()
                    .get(Tree::CheckIns, &key)?
                    .ok_or_else(|| ExamDayError::Internal("check-in vanished".into()))?;
                return Ok(already(&decode(Tree::CheckIns, &raw)?));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(CheckInAnswer::CheckedIn {
            registration_id,
            ticket_number: payload.ticket_number,
            name: payload.name,
            id_masked: payload.id_masked.into(),
            center: center.id.clone(),
            sittings: arranged
                .sittings
                .iter()
                .map(|s| TicketSitting {
                    subject: s.subject.clone(),
                    slot: s.slot.clone(),
                    room: s.room.clone(),
                    seat: s.seat,
                })
                .collect(),
            checked_in_at_ms: at_ms,
        })
    }
}
