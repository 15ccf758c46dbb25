//! [`BaomingError`]: the one error every call of the bindings can raise. Each variant says what
//! the app should do; the core's many internal errors are mapped onto these few.

use baoming_client::{ClientError, DocumentRefusal, QueueError};
use baoming_core::document::DocError;

/// What went wrong, in terms the app can act on.
#[derive(Debug, thiserror::Error, uniffi::Error)]
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
    /// Too many attempts: wait before trying again.
    #[error("too many attempts: {detail}")]
    TooManyRequests {
        /// The server's text.
        detail: String,
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
    /// see `announcements`), `not_arranged` (the center has not assigned rooms yet: try later).
    #[error("no admission ticket for this registration ({reason})")]
    NotEligible {
        /// Why, as above.
        reason: String,
        /// The registration's status.
        status: String,
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
            ClientError::Server { status, code, message } => match code.as_str() {
                "bad_credentials" => BaomingError::WrongCredentials,
                "captcha_required" => BaomingError::CaptchaRequired,
                "captcha_wrong" => BaomingError::CaptchaWrong,
                "too_many_requests" => BaomingError::TooManyRequests { detail: message },
                _ if status == 401 => BaomingError::SignInRequired,
                _ => BaomingError::Server { status, code, detail: message },
            },
            ClientError::Refused { code, message } => {
                BaomingError::Server { status: 0, code, detail: message }
            }
            ClientError::Protocol(m) => {
                BaomingError::Server { status: 0, code: "protocol".into(), detail: m }
            }
            ClientError::PhotoRejected { code, message, .. } => {
                BaomingError::PhotoRejected { problems: vec![code], detail: message }
            }
            ClientError::DocumentUnavailable(_) => {
                BaomingError::Server { status: 404, code: "doc_unavailable".into(), detail: e.to_string() }
            }
            ClientError::Busy => BaomingError::Busy,
            ClientError::DocumentRefused(r) => match r {
                DocumentRefusal::NotPaid { status } => BaomingError::NotPaid { status },
                DocumentRefusal::PrintingWindowClosed { opens_ms, closes_ms } => {
                    BaomingError::PrintingWindowClosed { opens_ms, closes_ms }
                }
                DocumentRefusal::NotEligible { reason, status } => {
                    BaomingError::NotEligible { reason, status }
                }
            },
        }
    }
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
