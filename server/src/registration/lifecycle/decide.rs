//! Deciding an action: the checks made once before the commit loop (the registration window,
//! the submitted draft against the catalog, live seats and the photo blob) and the new record
//! the core's transition yields for the record as it is now.

use baoming_core::api::error::{DraftIssue, ErrorCode, SeatPool};
use baoming_core::catalog::ExamSession;
use baoming_core::draft::{Draft, ServerSection};
use baoming_core::form::FieldRole;
use baoming_core::lifecycle::{DeadlineEffect, Policy, Status, Transition, TransitionError, transition};
use baoming_core::seats::{Pool, SeatError};
use baoming_core::validate::{Availability, Issue, IssueCode, validate};

use super::Action;
use crate::catalog::{CatalogView, availability, cancelled};
use crate::refusal::Refusal;
use crate::registration::hub::LiveDoc;
use crate::registration::record::RegistrationRecord;
use crate::registration::{RegistrationError, Registrations, blobs};

/// Longest rejection or cancellation reason, in characters.
const MAX_REASON: usize = 500;

/// What a submission holds, checked once before the commit loop: the draft at the submitted
/// heads and the ID-document index key it claims.
#[derive(Debug)]
pub(super) struct Submitted {
    pub(super) draft: Draft,
    pub(super) id_key: Option<String>,
}

/// The record an action leads to, decided on the record as read.
#[derive(Debug)]
pub(super) struct Decision {
    /// The status before.
    pub(super) from: Status,
    /// The core's transition.
    pub(super) transition: Transition,
    /// The record after (seats not yet moved).
    pub(super) record: RegistrationRecord,
}

/// The refusal of a transition the core does not allow.
pub(super) fn transition_refused(e: TransitionError, status: Status) -> Refusal {
    let code = match e {
        TransitionError::UnderReview => ErrorCode::Locked,
        other => ErrorCode::from(other.code()),
    };
    Refusal::conflict(code, e.to_string()).detail(|b| b.status = Some(status))
}

/// The refusal naming every pool without a free seat.
pub(crate) fn seat_gone(pools: &[Pool]) -> Refusal {
    Refusal::conflict(
        ErrorCode::SeatGone,
        format!("no seat left: {}", pools.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    )
    .detail(|b| b.pools = Some(pools.iter().map(SeatPool::from).collect()))
}

/// A seat ledger refusal as the action's error.
pub(super) fn seat_error(e: SeatError) -> RegistrationError {
    match e {
        SeatError::Full(pools) => seat_gone(&pools).into(),
        SeatError::UnknownPool(p) => Refusal::invalid(ErrorCode::UnknownPool, p.to_string()).into(),
        SeatError::NothingToMove(..) => RegistrationError::internal(e),
    }
}

fn policy_of(exam: &ExamSession, center: &str) -> Policy {
    exam.center(center)
        .map(|c| Policy { review: c.review, onsite_required: c.requires_onsite() })
        .unwrap_or_default()
}

/// The key of the `registration_by_id_document` index for `key_hex` in `exam`.
pub fn id_index_key(exam: &str, key_hex: &str) -> Vec<u8> {
    let mut k = exam.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key_hex.as_bytes());
    k
}

/// Checks a reason shown to candidates: 1–500 characters once trimmed.
pub fn check_reason(reason: &str) -> Result<(), Refusal> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(Refusal::invalid(
            ErrorCode::ReasonInvalid,
            format!("a reason of 1–{MAX_REASON} characters is required"),
        ));
    }
    Ok(())
}

/// Checks an operator's rejection: a reason and the draft paths it concerns.
pub fn check_rejection(reason: &str, paths: &[String]) -> Result<(), Refusal> {
    check_reason(reason)?;
    if paths.len() > 32 || paths.iter().any(|p| !p.starts_with("draft.") || p.len() > 200) {
        return Err(Refusal::invalid(
            ErrorCode::PathsInvalid,
            "paths are at most 32 draft paths (`draft.…`)",
        ));
    }
    Ok(())
}

/// The refusal of a draft the core's validation found issues in: `seat_gone` when a chosen pool
/// is full, else `photo_missing`, `slot_conflict` or `invalid`, with every issue.
fn draft_refusal(draft: &Draft, issues: Vec<Issue>) -> Refusal {
    let has = |c: IssueCode| issues.iter().any(|i| i.code == c);
    if has(IssueCode::CenterFull) || has(IssueCode::SubjectFull) {
        let center = draft.center.clone().unwrap_or_default();
        let mut pools = Vec::new();
        if has(IssueCode::CenterFull) {
            pools.push(Pool::Center(center.clone()));
        }
        for i in issues.iter().filter(|i| i.code == IssueCode::SubjectFull) {
            let subject = i.path.rsplit('.').next().unwrap_or_default().to_owned();
            pools.push(Pool::Subject { center: center.clone(), subject });
        }
        return seat_gone(&pools);
    }
    let (code, message) = if has(IssueCode::PhotoMissing) {
        (ErrorCode::PhotoMissing, "a valid photo is required")
    } else if has(IssueCode::SlotConflict) {
        (ErrorCode::SlotConflict, "two chosen subjects share a time slot")
    } else {
        (ErrorCode::Invalid, "the draft is not complete or not valid")
    };
    Refusal::invalid(code, message)
        .detail(|b| b.issues = Some(issues.into_iter().map(DraftIssue::from).collect()))
}

impl Registrations {
    /// The payment window of `exam`, in milliseconds.
    fn payment_window_ms(&self, exam: &ExamSession) -> i64 {
        let secs = self.settings.payment_window_secs.unwrap_or(u64::from(exam.payment_window_hours) * 3600);
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Live seat counts of `center` as the validator wants them (it checks only the chosen
    /// center's pools, so the other centers' counters are not read).
    fn live_availability(
        &self,
        view: &CatalogView,
        exam: &str,
        center: Option<&str>,
    ) -> Result<Availability, RegistrationError> {
        let mut a = Availability::unknown();
        let Some(center) = center else { return Ok(a) };
        for c in availability(self.db.store(), view, exam, Some(center))?.unwrap_or_default() {
            a.set_center(&c.center, c.free);
            for s in &c.subjects {
                a.set_subject(&c.center, &s.code, s.free);
            }
        }
        Ok(a)
    }

    /// Checks a draft for submission: the core's validation on live availability, then the
    /// photo blob. Returns the ID-document index key (hex) when the form has an ID document.
    fn check_draft(
        &self,
        view: &CatalogView,
        exam: &ExamSession,
        account: &str,
        draft: &Draft,
    ) -> Result<Option<String>, RegistrationError> {
        let seats = self.live_availability(view, &exam.id, draft.center.as_deref())?;
        let issues = validate(draft, &view.catalog, &seats);
        if !issues.is_empty() {
            return Err(draft_refusal(draft, issues).into());
        }
        if let Some(photo) = &draft.photo {
            let uploaded = blobs::parse_digest(&photo.sha256)
                .map(|d| blobs::owns(self.db.store(), &d, account))
                .transpose()?
                .unwrap_or(false);
            if !uploaded {
                return Err(Refusal::invalid(
                    ErrorCode::PhotoMissing,
                    "the photo has not been uploaded by this account",
                )
                .detail(|b| {
                    let issue = DraftIssue {
                        path: "draft.photo".into(),
                        code: IssueCode::PhotoMissing,
                        message_zh: None,
                        message_en: None,
                    };
                    b.issues = Some(vec![issue]);
                })
                .into());
            }
        }
        Ok(exam
            .field_with_role(FieldRole::IdDocument)
            .and_then(|field| self.id_document_key(exam, draft.fields.get(&field.key)?)))
    }

    /// The ID-document index key (hex) of answer `value` (`kind:number`) of the exam's
    /// ID-document field, when it parses.
    pub fn id_document_key(&self, exam: &ExamSession, value: &str) -> Option<String> {
        let doc = exam.field_with_role(FieldRole::IdDocument)?.id_document(value).ok()?;
        let material = format!("{}\0{}:{}", exam.id, doc.kind().as_str(), doc.number());
        Some(hex::encode(self.db.keys().lookup_hash("registration_id_document", material.as_bytes())))
    }

    /// The checks made once, before the commit loop: the registration window for taking part
    /// anew, and for a submission the draft at its heads (see [`Submitted`]).
    pub(super) async fn prepare(
        &self,
        view: &CatalogView,
        exam: &ExamSession,
        live: &LiveDoc,
        action: &Action,
    ) -> Result<Option<Submitted>, RegistrationError> {
        // Taking part anew (submitting, applying for review again) needs the registration window
        // open; holds already taken keep their deadline and run out through the sweeper.
        if matches!(action, Action::Submit { .. } | Action::ApplyForReview)
            && !exam.registration.contains(self.db.clock().now())
        {
            return Err(Refusal::conflict(ErrorCode::WindowClosed, "registration for this exam is not open")
                .detail(|b| {
                    b.opens = Some(exam.registration.opens.unix_timestamp());
                    b.closes = Some(exam.registration.closes.unix_timestamp());
                })
                .into());
        }
        let Action::Submit { heads } = action else { return Ok(None) };
        let draft = live.draft_at_hex(heads).await.ok_or_else(|| {
            Refusal::conflict(
                ErrorCode::HeadsUnknown,
                "the server does not have these heads: sync, then submit again",
            )
        })?;
        if let Some(c) =
            cancelled::find(self.db.store(), &exam.id, draft.center.as_deref().unwrap_or_default())?
        {
            return Err(c.refusal().into());
        }
        let id_key = self.check_draft(view, exam, &live.account, &draft)?;
        Ok(Some(Submitted { draft, id_key }))
    }

    /// Decides `action` on the record as read (`old`): `Ok(None)` when nothing is due (an
    /// expiry before its deadline, a cancellation of a registration that holds nothing).
    pub(super) fn decide(
        &self,
        live: &LiveDoc,
        exam: &ExamSession,
        old: Option<&RegistrationRecord>,
        action: &Action,
        submitted: Option<&Submitted>,
    ) -> Result<Option<Decision>, RegistrationError> {
        let status = old.map(|r| r.section.status).unwrap_or_default();
        let center = match (submitted, old) {
            (Some(s), _) => s.draft.center.clone().unwrap_or_default(),
            (None, Some(r)) => r.center.clone(),
            (None, None) => String::new(),
        };
        let t = match transition(status, action.event(), policy_of(exam, &center)) {
            Ok(t) => t,
            Err(_) if matches!(action, Action::Expire | Action::Cancel { .. }) => return Ok(None),
            Err(e) => return Err(transition_refused(e, status).into()),
        };
        let now = self.db.clock().now_ms();
        let nothing_due = match action {
            Action::Cancel { .. } => !status.holds_seats(),
            Action::Expire => old.and_then(|r| r.section.deadline_ms).is_none_or(|d| d > now),
            _ => false,
        };
        if nothing_due {
            return Ok(None);
        }
        let mut record = match (submitted, old) {
            (Some(s), _) => RegistrationRecord {
                account: live.account.clone(),
                exam: exam.id.clone(),
                center: center.clone(),
                subjects: s.draft.subjects.clone(),
                id_document_key: s.id_key.clone(),
                refund_due: false,
                section: ServerSection {
                    amount_fen: exam.fee_fen(&center, &s.draft.subjects),
                    ..ServerSection::default()
                },
            },
            (None, Some(r)) => r.clone(),
            (None, None) => {
                let e = TransitionError::NotAllowed { status, event: action.event() };
                return Err(transition_refused(e, status).into());
            }
        };
        record.section.status = t.to;
        record.section.deadline_ms = match t.deadline {
            DeadlineEffect::Keep => record.section.deadline_ms,
            DeadlineEffect::Start => Some(now.saturating_add(self.payment_window_ms(exam))),
            DeadlineEffect::Clear => None,
        };
        note_reason(&mut record, action, status);
        record.section.updated_at_ms = now;
        Ok(Some(Decision { from: status, transition: t, record }))
    }
}

/// What the action tells the candidate in the record's reason, receipt and refund fields.
fn note_reason(record: &mut RegistrationRecord, action: &Action, from: Status) {
    let section = &mut record.section;
    section.reason_paths.clear();
    section.reason = None;
    match action {
        Action::Reject { reason, paths } => {
            section.reason = Some(reason.clone());
            section.reason_paths = paths.clone();
        }
        Action::Expire => section.reason = Some("payment deadline passed; seats released".into()),
        Action::Cancel { reason } => {
            section.reason = Some(reason.clone());
            record.refund_due = matches!(from, Status::Paid | Status::Confirmed);
        }
        Action::StartPayment { order, .. } => section.order = Some(order.clone()),
        Action::PaymentSucceeded { order, trade_no, paid_at_ms, .. } => {
            section.order = Some(order.clone());
            section.trade_no = Some(trade_no.clone());
            section.paid_at_ms = Some(*paid_at_ms);
        }
        _ => {}
    }
}
