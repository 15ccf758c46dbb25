//! [`BaomingError`]: the one error every call of the bindings can raise. Each variant says what
//! the app should do; the core's many internal errors are mapped onto these few, the server's
//! by their [`ErrorCode`].

use baoming_client::{ClientError, DocumentRefusal, QueueError};
use baoming_core::api::error::ErrorCode;
use baoming_core::document::DocError;
use baoming_core::lifecycle::Status;

/// Codes of [`BaomingError::Server`] that the bindings give failures no answer of the server
/// names. They are not REST codes (the server's travel as they came).
pub(crate) mod local_codes {
    /// The server's answer could not be understood.
    pub(crate) const PROTOCOL: &str = "protocol";
    /// The server does not offer the registration's document.
    pub(crate) const DOC_UNAVAILABLE: &str = "doc_unavailable";
    /// The server's catalog does not load.
    pub(crate) const BAD_CATALOG: &str = "bad_catalog";
}

/// What went wrong, in terms the app can act on. Its `Display` text is exported: it is the
/// message of the Python and Kotlin exceptions and the Swift error's description.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum BaomingError {
    /// The server cannot be reached (no network, refused, timed out): keep working offline and
    /// retry later; edits and queued actions are kept.
    #[error("the server cannot be reached: {detail}")]
    Network {
        /// Details, in English, for logs.
        detail: String,
    },
    /// Wrong account or password.
    #[error("wrong account or password")]
    WrongCredentials,
    /// The server wants a captcha: show [`crate::BaomingClient::captcha`] and log in again with
    /// the answer.
    #[error("a captcha is required to log in")]
    CaptchaRequired,
    /// The captcha answer was wrong: fetch a new captcha.
    #[error("the captcha answer was wrong")]
    CaptchaWrong,
    /// Too many attempts: wait before trying again (at least `retry_after_secs` when the
    /// server said).
    #[error("too many attempts: {detail}")]
    TooManyRequests {
        /// The server's text.
        detail: String,
        /// How long the server asked to wait, in seconds (its `Retry-After`).
        retry_after_secs: Option<u64>,
    },
    /// No session, or the server refused the session token: log in (or resume) again.
    #[error("sign in first")]
    SignInRequired,
    /// The registration's status locks this part of the draft (e.g. under review).
    #[error("{path} cannot be changed now: {detail}")]
    NotEditable {
        /// The draft path, e.g. `draft.center`.
        path: String,
        /// Why.
        detail: String,
    },
    /// A value, id or URL the app passed is not valid (unknown exam or center, bad server URL …).
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
    /// No catalog is cached yet: call `refresh_catalog` once online.
    #[error("no catalog is cached yet: refresh it once online")]
    NoCatalog,
    /// The photo cannot be used; `problems` are the checker's codes (e.g. `too_small`).
    #[error("the photo cannot be used: {detail}")]
    PhotoRejected {
        /// Stable problem codes.
        problems: Vec<String>,
        /// Explanation, in English.
        detail: String,
    },
    /// A lifecycle action cannot be queued (e.g. nothing chosen yet, or already queued).
    #[error("the action cannot be queued: {detail}")]
    ActionNotQueued {
        /// Why.
        detail: String,
    },
    /// The client was closed: open a new one.
    #[error("the client is closed")]
    Closed,
    /// Another sync is running: wait for it.
    #[error("another sync is already running")]
    Busy,
    /// The server answered with an error: `code` is its machine-readable code.
    #[error("the server answered {status} {code}: {detail}")]
    Server {
        /// HTTP status (0 for a sync-level refusal).
        status: u16,
        /// Machine-readable code.
        code: String,
        /// Text.
        detail: String,
    },
    /// The device's storage failed (disk full, permissions, another client on the same
    /// folder).
    #[error("local storage: {detail}")]
    Storage {
        /// Details.
        detail: String,
    },
    /// The registration form exists once the registration is paid: call `pay`, pay on the
    /// page, then `refresh_payment`. `status` is the registration's status now.
    #[error("the registration form is available once the registration is paid (status {status})")]
    NotPaid {
        /// The registration's status.
        status: String,
    },
    /// Admission tickets are printed only inside the exam's printing window: show when it opens
    /// and try again then (Unix milliseconds, when the server said).
    #[error("admission tickets can only be printed inside the exam's printing window")]
    PrintingWindowClosed {
        /// When the window opens.
        opens_ms: Option<i64>,
        /// When it closes.
        closes_ms: Option<i64>,
    },
    /// This registration has no admission ticket (yet). `reason`: `not_registered` (submit
    /// first), `not_paid` (pay first), `not_confirmed_on_site` (confirm at the center first,
    /// see `announcements`), `not_arranged` (the center has not assigned rooms yet: try later),
    /// `cancelled` (the administrator cancelled the center or the session: no exam; `refund`
    /// says what happens to the fee).
    #[error("no admission ticket for this registration ({reason})")]
    NotEligible {
        /// Why, as above.
        reason: String,
        /// The registration's status.
        status: String,
        /// For `cancelled`: `not_paid` (nothing to refund), `due` (the fee will be refunded) or
        /// `refunded`; empty otherwise.
        refund: String,
    },
    /// The ticket code does not verify (`code`: `ticket_format`, `ticket_signature`, …).
    #[error("the ticket does not verify ({code}): {detail}")]
    InvalidTicket {
        /// Stable code.
        code: String,
        /// Text.
        detail: String,
    },
}

impl From<ClientError> for BaomingError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Store(s) => BaomingError::Storage { detail: s.to_string() },
            ClientError::Document(d) => d.into(),
            ClientError::InvalidUrl(_) | ClientError::UnknownRegistration(_) => {
                BaomingError::InvalidInput { detail: e.to_string() }
            }
            ClientError::Network(_) | ClientError::Timeout(_) => {
                BaomingError::Network { detail: e.to_string() }
            }
            ClientError::Unauthorized => BaomingError::SignInRequired,
            ClientError::Server { status, code, code_text, message, retry_after } => match code {
                ErrorCode::BadCredentials => BaomingError::WrongCredentials,
                ErrorCode::CaptchaRequired => BaomingError::CaptchaRequired,
                ErrorCode::CaptchaWrong => BaomingError::CaptchaWrong,
                ErrorCode::TooManyRequests => BaomingError::TooManyRequests {
                    detail: message,
                    retry_after_secs: retry_after.map(|wait| wait.as_secs()),
                },
                _ if status == 401 => BaomingError::SignInRequired,
                _ => BaomingError::Server { status, code: code_text, detail: message },
            },
            ClientError::Refused { code, message } => {
                BaomingError::Server { status: 0, code, detail: message }
            }
            ClientError::Protocol(m) => {
                BaomingError::Server { status: 0, code: local_codes::PROTOCOL.into(), detail: m }
            }
            ClientError::PhotoRejected { code, message, .. } => {
                BaomingError::PhotoRejected { problems: vec![code], detail: message }
            }
            ClientError::PhotoNotUploaded { code, message, .. } => {
                BaomingError::Server { status: 0, code, detail: message }
            }
            ClientError::DocumentUnavailable(_) => BaomingError::Server {
                status: 404,
                code: local_codes::DOC_UNAVAILABLE.into(),
                detail: e.to_string(),
            },
            ClientError::Busy => BaomingError::Busy,
            ClientError::DocumentRefused(r) => match r {
                DocumentRefusal::NotPaid { status } => BaomingError::NotPaid { status: status_text(status) },
                DocumentRefusal::PrintingWindowClosed { opens_ms, closes_ms } => {
                    BaomingError::PrintingWindowClosed { opens_ms, closes_ms }
                }
                DocumentRefusal::NotEligible { reason, status, refund } => BaomingError::NotEligible {
                    reason: reason.map(|r| r.as_str().to_owned()).unwrap_or_default(),
                    status: status_text(status),
                    refund: refund.map(|r| r.as_str().to_owned()).unwrap_or_default(),
                },
            },
        }
    }
}

/// A status as it travels, or empty when the server did not say.
fn status_text(status: Option<Status>) -> String {
    status.map(|s| s.as_str().to_owned()).unwrap_or_default()
}

impl From<DocError> for BaomingError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::Locked { ref path, .. } => {
                BaomingError::NotEditable { path: path.clone(), detail: e.to_string() }
            }
            DocError::InvalidValue { .. } | DocError::UnknownCenter(_) | DocError::BadDocumentId => {
                BaomingError::InvalidInput { detail: e.to_string() }
            }
            DocError::Corrupt(_) | DocError::NotARegistration => {
                BaomingError::Storage { detail: e.to_string() }
            }
        }
    }
}

impl From<QueueError> for BaomingError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::UnknownRegistration(_) => BaomingError::InvalidInput { detail: e.to_string() },
            QueueError::NothingToSubmit { .. } | QueueError::AlreadyQueued { .. } => {
                BaomingError::ActionNotQueued { detail: e.to_string() }
            }
            other => BaomingError::Storage { detail: other.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use baoming_core::api::error::NotEligibleReason;

    use super::*;

    fn server(status: u16, code: ErrorCode, code_text: &str) -> BaomingError {
        ClientError::Server {
            status,
            code,
            code_text: code_text.into(),
            message: "m".into(),
            retry_after: None,
        }
        .into()
    }

    #[test]
    fn server_errors_map_by_their_code() {
        assert!(matches!(
            server(401, ErrorCode::BadCredentials, "bad_credentials"),
            BaomingError::WrongCredentials
        ));
        assert!(matches!(
            server(401, ErrorCode::CaptchaRequired, "captcha_required"),
            BaomingError::CaptchaRequired
        ));
        assert!(matches!(server(401, ErrorCode::CaptchaWrong, "captcha_wrong"), BaomingError::CaptchaWrong));
        assert!(matches!(
            server(429, ErrorCode::TooManyRequests, "too_many_requests"),
            BaomingError::TooManyRequests { retry_after_secs: None, .. }
        ));
        let throttled = ClientError::Server {
            status: 429,
            code: ErrorCode::TooManyRequests,
            code_text: "too_many_requests".into(),
            message: "m".into(),
            retry_after: Some(std::time::Duration::from_secs(30)),
        };
        assert!(matches!(
            BaomingError::from(throttled),
            BaomingError::TooManyRequests { retry_after_secs: Some(30), .. }
        ));
        assert!(matches!(server(401, ErrorCode::Unknown, "from_the_future"), BaomingError::SignInRequired));
        match server(409, ErrorCode::Unknown, "from_the_future") {
            BaomingError::Server { status: 409, code, .. } => {
                assert_eq!(code, "from_the_future", "kept as it came")
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        match server(503, ErrorCode::PaymentsUnavailable, "payments_unavailable") {
            BaomingError::Server { code, .. } => assert_eq!(code, ErrorCode::PaymentsUnavailable.as_str()),
            other => panic!("expected a server error, got {other:?}"),
        }
    }

    #[test]
    fn document_refusals_keep_their_texts() {
        let refused = |r: DocumentRefusal| BaomingError::from(ClientError::DocumentRefused(r));
        match refused(DocumentRefusal::NotEligible {
            reason: Some(NotEligibleReason::NotConfirmedOnSite),
            status: Some(Status::Paid),
            refund: None,
        }) {
            BaomingError::NotEligible { reason, status, .. } => {
                assert_eq!((reason.as_str(), status.as_str()), ("not_confirmed_on_site", "paid"))
            }
            other => panic!("expected NotEligible, got {other:?}"),
        }
        match refused(DocumentRefusal::NotPaid { status: None }) {
            BaomingError::NotPaid { status } => assert_eq!(status, ""),
            other => panic!("expected NotPaid, got {other:?}"),
        }
    }
}
