//! The candidate's calls after submission (blocking REST, server/SERVER.md): paying the fee
//! through the payment platform's page, "I have paid, refresh", downloading the registration
//! form and the admission ticket, and reading the notices of the candidate's center.
//!
//! They are [`AccountApi`] methods with the session token passed in, like
//! [`AccountApi::registration_status`]: each is one HTTP request, answered online only (there is
//! nothing to queue — an order, a PDF or a notice list is only meaningful fresh). Answers are the
//! REST contract's types. The server's typed refusals of a document download are
//! [`ClientError::DocumentRefused`] with a [`DocumentRefusal`], so an app can say what to do (pay
//! first, wait for the printing window, confirm on site) instead of showing a bare status code.

use baoming_core::api::documents::{CandidateDocument, CandidateNotices, TicketCode};
use baoming_core::api::paths;
use baoming_core::api::payments::{PaymentAnswer, PaymentRefreshAnswer};

use crate::account::AccountApi;
use crate::error::ClientError;
pub use crate::error::DocumentRefusal;
use crate::http;
use crate::outbox;

impl AccountApi {
    /// Opens the registration's payment order, or answers the open one again while it can be
    /// paid (`idempotency_key`: any fresh text per attempt; a retry with the same key is
    /// answered from the server's stored answer). Send the candidate to the order's `url`.
    /// 409 `NotSubmitted`, `AlreadyPaid`, `DeadlinePassed`, `PaymentNotDue` …, 503
    /// `PaymentsUnavailable` as [`ClientError::Server`].
    pub fn pay(
        &self,
        token: &str,
        exam_id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentAnswer, ClientError> {
        let req = self.request("POST", &paths::pay(exam_id), Some(token));
        Self::expect(req.header(paths::IDEMPOTENCY_KEY, idempotency_key).empty()?, &[200])
    }

    /// "I have paid, refresh": the server asks the payment platform about the current order and
    /// applies its answer. 409 `NoOrder` as [`ClientError::Server`].
    pub fn refresh_payment(&self, token: &str, exam_id: &str) -> Result<PaymentRefreshAnswer, ClientError> {
        Self::expect(self.request("POST", &paths::payment_refresh(exam_id), Some(token)).empty()?, &[200])
    }

    /// Downloads one of the candidate's PDFs (the registration form or the admission ticket;
    /// the ticket's code is [`AccountApi::admission_ticket_code`]). The server's refusals are
    /// [`ClientError::DocumentRefused`].
    pub fn document(
        &self,
        token: &str,
        exam_id: &str,
        which: CandidateDocument,
    ) -> Result<Vec<u8>, ClientError> {
        let answer = self.document_answer(token, exam_id, which)?;
        if !answer.body.starts_with(b"%PDF-") {
            return Err(ClientError::Protocol("the document is not a PDF".into()));
        }
        Ok(answer.body)
    }

    /// The admission ticket's number and the signed code its QR carries, under the ticket's
    /// rules (refusals as for [`CandidateDocument::AdmissionTicket`]): for showing the ticket on
    /// screen; [`baoming_core::ticket::verify_ticket`] checks the code offline.
    pub fn admission_ticket_code(&self, token: &str, exam_id: &str) -> Result<TicketCode, ClientError> {
        let answer = self.document_answer(token, exam_id, CandidateDocument::AdmissionTicketCode)?;
        Self::expect(answer, &[200])
    }

    /// The notices open now at the center of the candidate's registration for `exam_id`.
    pub fn notices(&self, token: &str, exam_id: &str) -> Result<CandidateNotices, ClientError> {
        Self::expect(self.request("GET", &paths::registration_notices(exam_id), Some(token)).empty()?, &[200])
    }

    /// A download's successful answer, or its refusal as an error.
    fn document_answer(
        &self,
        token: &str,
        exam_id: &str,
        which: CandidateDocument,
    ) -> Result<http::Answer, ClientError> {
        let answer =
            self.request("GET", &paths::registration_document(exam_id, which), Some(token)).empty()?;
        if answer.status == 200 {
            return Ok(answer);
        }
        let refused = answer.error();
        Err(match refused.document_refusal() {
            Some(r) => ClientError::DocumentRefused(r),
            None => refused.into_error(),
        })
    }
}

/// A fresh idempotency key (`bm-` + 128 random bits in hex) for [`AccountApi::pay`].
pub fn idempotency_key() -> Result<String, ClientError> {
    outbox::fresh_key().map_err(|e| ClientError::Protocol(e.to_string()))
}
