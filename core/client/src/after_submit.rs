//! The candidate's calls after submission (blocking REST, server/SERVER.md): paying the fee
//! through the payment platform's page, "I have paid, refresh", downloading the registration
//! form and the admission ticket, and reading the notices of the candidate's center.
//!
//! They are [`AccountApi`] methods with the session token passed in, like
//! [`AccountApi::registration_status`]: each is one HTTP request, answered online only (there is
//! nothing to queue — an order, a PDF or a notice list is only meaningful fresh). The server's
//! typed refusals of a document download are [`ClientError::DocumentRefused`] with a
//! [`DocumentRefusal`], so an app can say what to do (pay first, wait for the printing window,
//! confirm on site) instead of showing a bare status code.

use baoming_core::api::registrations::RegistrationView;
use baoming_core::catalog::OnsiteConfirmation;
use serde::Deserialize;

use crate::account::AccountApi;
use crate::error::ClientError;
pub use crate::error::DocumentRefusal;
use crate::http;
use crate::outbox;

/// The payment order of a registration, as `pay` and `refresh` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentOrder {
    /// The merchant order number (the payment reference on the registration form).
    pub out_trade_no: String,
    /// `open`, `paid`, `closed`, `refund_due` or `refunded`.
    pub state: String,
    /// The payment platform's page: open it in a browser (or a web view) to pay.
    pub url: String,
    /// The amount, in fen.
    pub amount_fen: i64,
    /// The platform refuses payment from this instant on (Unix milliseconds).
    pub expires_at_ms: i64,
    /// The platform's trade number, once paid (the receipt).
    #[serde(default)]
    pub trade_no: Option<String>,
    /// When it was paid (Unix milliseconds).
    #[serde(default)]
    pub paid_at_ms: Option<i64>,
    /// Refunded so far, in fen.
    #[serde(default)]
    pub refunded_fen: i64,
    /// Why it is (to be) refunded.
    #[serde(default)]
    pub refund_reason: Option<String>,
    /// What the platform said about the trade on a refresh (`WAIT_BUYER_PAY`,
    /// `TRADE_SUCCESS`, `TRADE_CLOSED` …); `None` from `pay`, or when the page was never opened.
    #[serde(default)]
    pub platform_status: Option<String>,
}

/// The answer to [`AccountApi::pay`] and [`AccountApi::refresh_payment`]: the registration and
/// its current order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentAnswer {
    /// The registration as it stands after the call.
    #[serde(flatten)]
    pub registration: RegistrationView,
    /// The current order (`None` when none was opened).
    #[serde(default)]
    pub payment: Option<PaymentOrder>,
}

/// The admission ticket as an app shows it on screen.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TicketCode {
    /// The ticket number (准考证号).
    pub ticket_number: String,
    /// The signed code the ticket's QR carries.
    pub code: String,
}

/// A document the candidate downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateDocument {
    /// The registration form (报名登记表), available once paid.
    RegistrationForm,
    /// The admission ticket (准考证) with its signed QR code, inside the printing window once
    /// the center arranged the candidate.
    AdmissionTicket,
}

impl CandidateDocument {
    /// The file name in the download URL.
    pub fn file_name(self) -> &'static str {
        match self {
            CandidateDocument::RegistrationForm => "registration-form.pdf",
            CandidateDocument::AdmissionTicket => "admission-ticket.pdf",
        }
    }
}

/// A center's notice, open now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Notice {
    /// Stable id.
    pub id: String,
    /// The publishing center.
    pub center: String,
    /// Title.
    pub title: String,
    /// Text (Chinese), line breaks allowed.
    pub body: String,
    /// First instant it is shown.
    #[serde(with = "time::serde::rfc3339")]
    pub opens: time::OffsetDateTime,
    /// First instant it is no longer shown.
    #[serde(with = "time::serde::rfc3339")]
    pub closes: time::OffsetDateTime,
    /// Whether candidates must confirm on site within the window.
    #[serde(default)]
    pub requires_onsite_confirmation: bool,
    /// Last change (Unix milliseconds).
    #[serde(default)]
    pub updated_at_ms: i64,
}

/// The notices of the candidate's center for one exam.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CenterNotices {
    /// The exam session.
    pub exam: String,
    /// The candidate's center (where seats are held, else the one chosen in the draft); `None`
    /// before a center is chosen and synced.
    #[serde(default)]
    pub center: Option<String>,
    /// The notices open now.
    #[serde(default)]
    pub notices: Vec<Notice>,
    /// The center's on-site confirmation rule from the catalog.
    #[serde(default)]
    pub onsite: Option<OnsiteConfirmation>,
}

impl AccountApi {
    /// Opens the registration's payment order, or answers the open one again while it can be
    /// paid (`idempotency_key`: any fresh text per attempt; a retry with the same key is
    /// answered from the server's stored answer). Send the candidate to
    /// [`PaymentOrder::url`]. 409 `not_submitted`, `already_paid`, `deadline_passed`,
    /// `payment_not_due` …, 503 `payments_unavailable` as [`ClientError::Server`].
    pub fn pay(
        &self,
        token: &str,
        exam_id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentAnswer, ClientError> {
        let path = format!("/api/registrations/{exam_id}/pay");
        let headers = [("idempotency-key", idempotency_key)];
        Self::expect(self.call("POST", &path, Some(token), None, &headers)?, &[200])
    }

    /// "I have paid, refresh": the server asks the payment platform about the current order and
    /// applies its answer. 409 `no_order` as [`ClientError::Server`].
    pub fn refresh_payment(&self, token: &str, exam_id: &str) -> Result<PaymentAnswer, ClientError> {
        let path = format!("/api/registrations/{exam_id}/payment/refresh");
        Self::expect(self.call("POST", &path, Some(token), None, &[])?, &[200])
    }

    /// Downloads one of the candidate's PDFs. The server's refusals are
    /// [`ClientError::DocumentRefused`].
    pub fn document(
        &self,
        token: &str,
        exam_id: &str,
        which: CandidateDocument,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("/api/registrations/{exam_id}/documents/{}", which.file_name());
        let answer = document_answer(self.call("GET", &path, Some(token), None, &[])?)?;
        if !answer.body.starts_with(b"%PDF-") {
            return Err(ClientError::Protocol("the document is not a PDF".into()));
        }
        Ok(answer.body)
    }

    /// The admission ticket's number and the signed code its QR carries, under the ticket's
    /// rules (refusals as for [`CandidateDocument::AdmissionTicket`]): for showing the ticket on
    /// screen; [`baoming_core::ticket::verify_ticket`] checks the code offline.
    pub fn admission_ticket_code(&self, token: &str, exam_id: &str) -> Result<TicketCode, ClientError> {
        let path = format!("/api/registrations/{exam_id}/documents/admission-ticket.code");
        Self::expect(document_answer(self.call("GET", &path, Some(token), None, &[])?)?, &[200])
    }

    /// The notices open now at the center of the candidate's registration for `exam_id`.
    pub fn notices(&self, token: &str, exam_id: &str) -> Result<CenterNotices, ClientError> {
        let path = format!("/api/registrations/{exam_id}/notices");
        Self::expect(self.call("GET", &path, Some(token), None, &[])?, &[200])
    }
}

/// A fresh idempotency key (`bm-` + 128 random bits in hex) for [`AccountApi::pay`].
pub fn idempotency_key() -> Result<String, ClientError> {
    outbox::fresh_key().map_err(|e| ClientError::Protocol(e.to_string()))
}

/// A download's successful answer, or its refusal as an error.
fn document_answer(answer: http::Answer) -> Result<http::Answer, ClientError> {
    if answer.status == 200 {
        return Ok(answer);
    }
    let refused = answer.error();
    Err(match refused.document_refusal() {
        Some(r) => ClientError::DocumentRefused(r),
        None => refused.into_error(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_answers_carry_the_registration_and_the_order() {
        let body = r#"{"document_id":"d","exam":"e","status":"awaiting_payment","status_label_zh":"待缴费",
            "reason":null,"reason_paths":[],"deadline_ms":99,"center":"c","seats":["15"],"amount_fen":6000,
            "refund_due":false,"updated_at_ms":4,"order":"BM1","trade_no":null,"paid_at_ms":null,
            "refunded_fen":null,"ticket":null,
            "payment":{"out_trade_no":"BM1","state":"open","url":"http://pay/x","amount_fen":6000,
            "expires_at_ms":99,"trade_no":null,"paid_at_ms":null,"refunded_fen":0,"refund_reason":null,
            "platform_status":"WAIT_BUYER_PAY"}}"#;
        let a: PaymentAnswer = serde_json::from_str(body).expect("parses");
        assert_eq!(a.registration.order.as_deref(), Some("BM1"));
        assert_eq!(a.registration.deadline_ms, Some(99));
        let p = a.payment.expect("an order");
        assert_eq!(
            (p.url.as_str(), p.amount_fen, p.platform_status.as_deref()),
            ("http://pay/x", 6000, Some("WAIT_BUYER_PAY"))
        );
    }
}
