//! What the candidate downloads and reads after submission: the registration form and the
//! admission ticket as PDF bytes, and the notices of their test center.
//!
//! Downloads are online only. A document the server will not hand out yet is a typed error
//! saying what to do: `NotPaid`, `PrintingWindowClosed`, `NotEligible` (with its reason).

use baoming_core::api::documents::{CandidateDocument, CandidateNotices, TicketCode};

use crate::client::BaomingClient;
use crate::errors::BaomingError;

/// The admission ticket as the app shows it on screen: its number and the signed code to draw
/// as a QR (the same code the printed ticket carries). Staff devices check the code offline
/// with `verify_ticket` and the exam's public key.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TicketCodeInfo {
    /// The ticket number (准考证号).
    pub ticket_number: String,
    /// The signed code.
    pub code: String,
}

impl From<TicketCode> for TicketCodeInfo {
    fn from(t: TicketCode) -> Self {
        TicketCodeInfo { ticket_number: t.ticket_number, code: t.code }
    }
}

/// A notice of the candidate's test center.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NoticeInfo {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Text (Chinese), line breaks allowed.
    pub body: String,
    /// Shown from (Unix milliseconds).
    pub opens_ms: i64,
    /// Shown until (Unix milliseconds, exclusive).
    pub closes_ms: i64,
    /// Whether candidates must confirm on site within this window.
    pub requires_onsite_confirmation: bool,
}

/// The notices open now at the candidate's center, and the center's on-site rule.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AnnouncementsInfo {
    /// The candidate's center (where seats are held, else the one chosen in the synced draft);
    /// `None` before a center is chosen and synced (then `notices` is empty).
    pub center: Option<String>,
    /// Open notices, as the server lists them.
    pub notices: Vec<NoticeInfo>,
    /// Whether the center requires on-site confirmation before the admission ticket.
    pub onsite_required: bool,
    /// The on-site confirmation window (Unix milliseconds), when the center has one.
    pub onsite_opens_ms: Option<i64>,
    /// Its end (Unix milliseconds).
    pub onsite_closes_ms: Option<i64>,
    /// Where to go and what to bring, in Chinese.
    pub onsite_notice_zh: Option<String>,
    /// The same in English.
    pub onsite_notice_en: Option<String>,
}

fn ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl From<CandidateNotices> for AnnouncementsInfo {
    fn from(c: CandidateNotices) -> Self {
        let onsite = c.onsite;
        AnnouncementsInfo {
            center: c.center,
            notices: c
                .notices
                .into_iter()
                .map(|n| NoticeInfo {
                    id: n.id,
                    title: n.title,
                    body: n.body,
                    opens_ms: ms(n.opens),
                    closes_ms: ms(n.closes),
                    requires_onsite_confirmation: n.requires_onsite_confirmation,
                })
                .collect(),
            onsite_required: onsite.as_ref().is_some_and(|o| o.required),
            onsite_opens_ms: onsite.as_ref().map(|o| ms(o.window.opens)),
            onsite_closes_ms: onsite.as_ref().map(|o| ms(o.window.closes)),
            onsite_notice_zh: onsite.as_ref().map(|o| o.notice.zh.clone()),
            onsite_notice_en: onsite.map(|o| o.notice.en),
        }
    }
}

#[uniffi::export]
impl BaomingClient {
    /// The registration form (报名登记表) as PDF bytes (online). `NotPaid` before payment.
    pub fn registration_form_pdf(&self, exam_id: String) -> Result<Vec<u8>, BaomingError> {
        Ok(self.api.document(&self.token()?, &exam_id, CandidateDocument::RegistrationForm)?)
    }

    /// The admission ticket (准考证) with its signed QR code, as PDF bytes (online).
    /// `PrintingWindowClosed` outside the exam's printing window; `NotEligible` with the reason
    /// (`not_paid`, `not_confirmed_on_site`, `not_arranged`, `not_registered`) otherwise.
    pub fn admission_ticket_pdf(&self, exam_id: String) -> Result<Vec<u8>, BaomingError> {
        Ok(self.api.document(&self.token()?, &exam_id, CandidateDocument::AdmissionTicket)?)
    }

    /// The admission ticket's number and signed code, to show as a QR on screen (online), under
    /// the same rules and typed errors as [`BaomingClient::admission_ticket_pdf`].
    pub fn admission_ticket_code(&self, exam_id: String) -> Result<TicketCodeInfo, BaomingError> {
        Ok(self.api.admission_ticket_code(&self.token()?, &exam_id)?.into())
    }

    /// The notices open now at the center of the candidate's registration for `exam_id`, and
    /// that center's on-site confirmation rule (online).
    pub fn announcements(&self, exam_id: String) -> Result<AnnouncementsInfo, BaomingError> {
        Ok(self.api.notices(&self.token()?, &exam_id)?.into())
    }
}
