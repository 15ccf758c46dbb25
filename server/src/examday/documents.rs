//! The candidate's documents and the check-in at the exam.
//!
//! * **Registration form** (报名登记表, [`ExamDay::registration_form`]): once the registration is paid
//!   (`paid` or `confirmed`), else 409 `not_paid` with the status.
//! * **Admission ticket** (准考证, [`ExamDay::admission_ticket`]): only inside the exam's printing window
//!   (409 `printing_window_closed` with the window), only for a registration that may sit the exam
//!   — paid, confirmed on site where the center requires it, and arranged into rooms (409
//!   `not_eligible` with the reason: `not_registered`, `not_paid`, `not_confirmed_on_site`,
//!   `not_arranged`). Its QR code is the ticket payload signed with the exam's key
//!   ([`crate::catalog::exam_keys`]). The same code, with the ticket number, is also given as JSON under
//!   the same rules ([`ExamDay::admission_ticket_code`]) for apps that show it on screen.
//!
//! Both are rendered on demand by the core's renderers ([`baoming_core::documents`]) from the
//! current record, the document's answers, the sealed photo blob and the arrangement; nothing is
//! cached, so a document never shows stale data. Rendering runs on the blocking pool. Times are
//! shown in China Standard Time (UTC+8).
//!
//! **Check-in** ([`ExamDay::check_in`]): staff scan the QR code; the server verifies it with the exam's
//! public key ([`baoming_core::ticket::verify_ticket`]), refuses tampered or foreign codes (422
//! `ticket_format` / `ticket_signature` / `ticket_payload`), scopes it to the operator's centers
//! (404 otherwise), checks that the ticket is still the candidate's current one (409
//! `ticket_superseded` when the arrangement changed since it was printed, `not_eligible` when
//! the registration may no longer sit the exam) and records the check-in once: a second scan
//! answers `already_checked_in` with the time of the first.

use baoming_core::api::documents::TicketCode;
use baoming_core::api::error::{ErrorCode, NotEligibleReason, RefundState, UnixWindow};
use baoming_core::catalog::{ExamSession, TestCenter, TimeSlot};
use baoming_core::document::DocumentId;
use baoming_core::documents::{
    FormRow, FormSubject, FormView, TicketSitting, TicketView, render_form, render_ticket,
};
use baoming_core::draft::Draft;
use baoming_core::form::{FieldRole, FieldType, decode_id_document};
use baoming_core::id_document::{IdKind, MaskedId, mask};
use baoming_core::lifecycle::Status;
use baoming_core::ticket::{self, TicketPayload};
use time::{OffsetDateTime, UtcOffset};

use super::arrangement::{self, Arranged, eligibility};
use super::{ExamDay, ExamDayError};
use crate::refusal::Refusal;
use crate::registration::RegistrationError;
use crate::registration::record::{RegistrationRecord, load_record};

/// Rules printed on every admission ticket (考生须知).
pub const TICKET_RULES: &str = "1. 考生须在开考前30分钟凭准考证和有效身份证件进入考场，开考15分钟后不得入场。\n\
2. 除规定的文具外，不得携带手机、智能手表等电子设备进入考场。\n\
3. 考生须服从监考人员管理，遵守考场纪律，违纪者按有关规定处理。\n\
4. 准考证上的二维码供考点核验身份，请勿折叠、涂改。";

fn cst() -> UtcOffset {
    // +08:00 is a valid offset.
    UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC)
}

fn two(n: impl Into<u32>) -> String {
    format!("{:02}", n.into())
}

pub(super) fn date(t: OffsetDateTime) -> String {
    let t = t.to_offset(cst());
    format!("{}-{}-{}", t.year(), two(u8::from(t.month())), two(t.day()))
}

pub(super) fn clock(t: OffsetDateTime) -> String {
    let t = t.to_offset(cst());
    format!("{}:{}", two(t.hour()), two(t.minute()))
}

fn slot_text(slot: &TimeSlot) -> String {
    format!("{} {}–{}", date(slot.starts), clock(slot.starts), clock(slot.ends))
}

fn status_of(record: Option<&RegistrationRecord>) -> Status {
    record.map_or(Status::Draft, |r| r.section.status)
}

struct Loaded {
    view: std::sync::Arc<crate::catalog::CatalogView>,
    id: DocumentId,
    record: Option<RegistrationRecord>,
}

impl Loaded {
    fn exam(&self, exam: &str) -> Result<&ExamSession, ExamDayError> {
        self.view.catalog.exam(exam).ok_or_else(|| ExamDayError::not_found(format!("no exam `{exam}`")))
    }
}

impl ExamDay {
    fn load(&self, account: &str, exam: &str) -> Result<Loaded, ExamDayError> {
        let view = self.regs.catalogs().current().ok_or_else(|| ExamDayError::not_found("no catalog"))?;
        let id = DocumentId::derive(exam, account);
        let record = load_record(self.db.store(), &id)?.map(|(r, _)| r);
        let loaded = Loaded { view, id, record };
        loaded.exam(exam)?;
        Ok(loaded)
    }

    async fn draft_and_photo(&self, id: &DocumentId) -> Result<(Draft, Vec<u8>), ExamDayError> {
        let draft = self
            .regs
            .draft_of(id)
            .await?
            .ok_or_else(|| ExamDayError::Internal("a registration without its document".into()))?;
        let digest = draft
            .photo
            .as_ref()
            .and_then(|p| crate::registration::blobs::parse_digest(&p.sha256))
            .ok_or_else(|| ExamDayError::Internal("a paid registration without a photo".into()))?;
        let photo = match self.regs.read_photo(digest).await {
            Ok(photo) => photo,
            Err(RegistrationError::NotFound(_)) => {
                return Err(ExamDayError::Internal("the registration photo is not stored".into()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok((draft, photo))
    }

    /// Renders the registration form of `account`'s registration for `exam` (after payment).
    pub async fn registration_form(&self, account: &str, exam_id: &str) -> Result<Vec<u8>, ExamDayError> {
        let l = self.load(account, exam_id)?;
        let exam = l.exam(exam_id)?;
        let record = match &l.record {
            Some(r) if matches!(r.section.status, Status::Paid | Status::Confirmed) => r,
            Some(r) if r.section.status == Status::Cancelled => {
                return Err(not_eligible(NotEligibleReason::Cancelled, Some(r)));
            }
            other => {
                let status = status_of(other.as_ref());
                return Err(Refusal::conflict(
                    ErrorCode::NotPaid,
                    "the registration form is available once the registration is paid",
                )
                .detail(|b| b.status = Some(status))
                .into());
            }
        };
        let center = center_of(exam, record)?;
        let (draft, photo) = self.draft_and_photo(&l.id).await?;
        let answers = exam
            .form
            .iter()
            .filter_map(|f| draft.fields.get(&f.key).filter(|v| !v.trim().is_empty()).map(|v| (f, v)))
            .map(|(f, v)| FormRow { label: f.label.zh.clone(), value: shown(exam, &f.key, v) })
            .collect();
        let subjects: Vec<FormSubject> = record
            .subjects
            .iter()
            .map(|code| FormSubject {
                code: code.clone(),
                name: exam.subject(code).map_or_else(|| code.clone(), |s| s.name.zh.clone()),
                time_slot: exam
                    .subject(code)
                    .and_then(|s| exam.slot(&s.slot))
                    .map(slot_text)
                    .unwrap_or_default(),
                fee_fen: center.offer(code).map_or(0, |o| u64::try_from(o.fee_fen).unwrap_or(0)),
            })
            .collect();
        let now = self.db.clock().now();
        let unrecorded = |v: &Option<String>| v.clone().unwrap_or_else(|| "未记录".to_owned());
        let form = FormView {
            exam_name: exam.name.zh.clone(),
            registration_id: l.id.to_string(),
            answers,
            photo_jpeg: photo,
            center_name: center.name.zh.clone(),
            center_address: center.address.zh.clone(),
            total_fee_fen: subjects.iter().map(|s| s.fee_fen).sum(),
            subjects,
            trade_no: unrecorded(&record.section.trade_no),
            order_no: unrecorded(&record.section.order),
            agreement_version: draft.agreement.as_ref().map(|a| a.version.clone()).unwrap_or_default(),
            agreement_sha256: draft.agreement.as_ref().map(|a| a.sha256.clone()).unwrap_or_default(),
            generated_at: format!("{} {}（北京时间）", date(now), clock(now)),
        };
        render(move || render_form(&form)).await
    }

    /// Renders the admission ticket of `account`'s registration for `exam` at `now`.
    pub async fn admission_ticket(&self, account: &str, exam_id: &str) -> Result<Vec<u8>, ExamDayError> {
        let view = self.ticket_view(account, exam_id, self.db.clock().now()).await?;
        render(move || render_ticket(&view)).await
    }

    /// The admission ticket's number and the signed code its QR carries, issued at `now` under
    /// the same rules as the PDF: for an app that shows the code on screen, or hands it to a
    /// staff device, without printing.
    pub async fn admission_ticket_code(
        &self,
        account: &str,
        exam_id: &str,
    ) -> Result<TicketCode, ExamDayError> {
        let view = self.ticket_view(account, exam_id, self.db.clock().now()).await?;
        Ok(TicketCode { ticket_number: view.ticket_number, code: view.qr_text })
    }

    /// Everything the admission ticket shows, its QR code signed at `now`; the typed refusals when
    /// the printing window is closed or the registration may not sit the exam.
    async fn ticket_view(
        &self,
        account: &str,
        exam_id: &str,
        now: OffsetDateTime,
    ) -> Result<TicketView, ExamDayError> {
        let l = self.load(account, exam_id)?;
        let exam = l.exam(exam_id)?;
        // A cancelled registration will never have a ticket, whatever the window: say so first.
        if let Some(r) = l.record.as_ref().filter(|r| r.section.status == Status::Cancelled) {
            return Err(not_eligible(NotEligibleReason::Cancelled, Some(r)));
        }
        if !exam.printing.contains(now) {
            let w = &exam.printing;
            return Err(Refusal::conflict(
                ErrorCode::PrintingWindowClosed,
                "admission tickets can only be printed inside the exam's printing window",
            )
            .detail(|b| {
                b.printing =
                    Some(UnixWindow { opens: w.opens.unix_timestamp(), closes: w.closes.unix_timestamp() })
            })
            .into());
        }
        let record = l.record.as_ref().ok_or_else(|| not_eligible(NotEligibleReason::NotRegistered, None))?;
        let center = center_of(exam, record)?;
        eligibility(record, center).map_err(|reason| not_eligible(reason, Some(record)))?;
        let arranged = arrangement::load(self.db.store(), &exam.id, &center.id)?
            .and_then(|(a, _)| a.candidates.get(&l.id.to_string()).cloned())
            .ok_or_else(|| not_eligible(NotEligibleReason::NotArranged, Some(record)))?;
        let (draft, photo) = self.draft_and_photo(&l.id).await?;
        let name = exam
            .field_with_role(FieldRole::Name)
            .and_then(|f| draft.fields.get(&f.key))
            .cloned()
            .unwrap_or_default();
        // The answer was checked at submission; the passport rule (the strictest) covers an
        // answer a later catalog no longer reads as an ID document.
        let id_masked =
            exam.field_with_role(FieldRole::IdDocument).and_then(|f| draft.fields.get(&f.key)).map_or_else(
                || mask(IdKind::Passport, ""),
                |v| decode_id_document(v).map_or_else(|| mask(IdKind::Passport, v), |(k, n)| mask(k, n)),
            );
        let key = crate::catalog::exam_keys::signing_key(self.db.store(), self.db.keys(), &exam.id)?
            .ok_or_else(|| ExamDayError::Internal(format!("exam `{}` has no signing key", exam.id)))?;
        let payload = payload_of(exam, center, &name, id_masked, &arranged, now);
        let qr_text = ticket::sign_ticket(&payload, &key);
        let room_name = |id: &str| {
            center.rooms.iter().find(|r| r.id == id).map_or_else(|| id.to_owned(), |r| r.name.zh.clone())
        };
        let sittings = arranged
            .sittings
            .iter()
            .map(|s| {
                let slot = exam.slot(&s.slot);
                TicketSitting {
                    subject_code: s.subject.clone(),
                    subject_name: exam
                        .subject(&s.subject)
                        .map_or_else(|| s.subject.clone(), |x| x.name.zh.clone()),
                    date: slot.map(|x| date(x.starts)).unwrap_or_default(),
                    time: slot.map(|x| format!("{}–{}", clock(x.starts), clock(x.ends))).unwrap_or_default(),
                    room: room_name(&s.room),
                    seat: format!("{:02}", s.seat),
                }
            })
            .collect();
        Ok(TicketView {
            exam_name: exam.name.zh.clone(),
            photo_jpeg: photo,
            name,
            id_masked: payload.id_masked.clone(),
            ticket_number: arranged.ticket_number.clone(),
            sittings,
            center_name: center.name.zh.clone(),
            center_address: center.address.zh.clone(),
            rules: TICKET_RULES.to_owned(),
            qr_text,
        })
    }
}

fn center_of<'a>(exam: &'a ExamSession, record: &RegistrationRecord) -> Result<&'a TestCenter, ExamDayError> {
    exam.center(&record.center)
        .ok_or_else(|| ExamDayError::Internal(format!("center `{}` is not in the catalog", record.center)))
}

/// An answer as printed: option labels for selects, `证件类型 号码` for ID documents.
fn shown(exam: &ExamSession, key: &str, value: &str) -> String {
    let Some(field) = exam.field(key) else { return value.to_owned() };
    match field.field_type {
        FieldType::Select => field
            .options
            .iter()
            .find(|o| o.value == value)
            .map_or_else(|| value.to_owned(), |o| o.label.zh.clone()),
        FieldType::IdDocument => match decode_id_document(value) {
            Some((kind, number)) => format!("{} {number}", kind.label_zh()),
            None => value.to_owned(),
        },
        _ => value.to_owned(),
    }
}

async fn render(
    f: impl FnOnce() -> Result<Vec<u8>, baoming_core::documents::DocumentError> + Send + 'static,
) -> Result<Vec<u8>, ExamDayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ExamDayError::Internal(format!("render task: {e}")))?
        .map_err(|e| Refusal::invalid(ErrorCode::from(e.code()), e.to_string()).into())
}

/// The `not_eligible` refusal with its reason, the registration's status (`draft` without a
/// registration) and, for a cancelled one, what happens to the fee.
pub(super) fn not_eligible(reason: NotEligibleReason, record: Option<&RegistrationRecord>) -> ExamDayError {
    let refund = (reason == NotEligibleReason::Cancelled).then(|| refund_state(record));
    Refusal::conflict(
        ErrorCode::NotEligible,
        format!("this registration cannot have an admission ticket: {}", reason.as_str()),
    )
    .detail(|b| {
        b.reason = Some(reason.as_str().to_owned());
        b.status = Some(record.map_or(Status::Draft, |r| r.section.status));
        b.refund = refund;
    })
    .into()
}

/// What happens to the fee of a cancelled registration.
fn refund_state(record: Option<&RegistrationRecord>) -> RefundState {
    match record {
        Some(r) if r.section.refunded_fen.is_some() => RefundState::Refunded,
        Some(r) if r.refund_due => RefundState::Due,
        _ => RefundState::NotPaid,
    }
}

fn payload_of(
    exam: &ExamSession,
    center: &TestCenter,
    name: &str,
    id_masked: MaskedId,
    arranged: &Arranged,
    now: OffsetDateTime,
) -> TicketPayload {
    TicketPayload {
        exam: exam.id.clone(),
        ticket_number: arranged.ticket_number.clone(),
        name: name.to_owned(),
        id_masked,
        center: center.id.clone(),
        sittings: arranged
            .sittings
            .iter()
            .map(|s| ticket::Sitting {
                subject: s.subject.clone(),
                slot: s.slot.clone(),
                room: s.room.clone(),
                seat: s.seat,
            })
            .collect(),
        issued_at_ms: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
    }
}
