//! [`ClientError`], the one error type of the client's calls (each variant says what the app can
//! do), [`DocumentRefusal`], the server's typed refusal of a document download that one of its
//! variants carries, and the reading of the server's error answers with the REST contract
//! ([`ErrorBody`], [`ErrorCode`]).

use std::time::Duration;

use baoming_core::api::error::{ErrorBody, ErrorCode, ErrorHead, NotEligibleReason, RefundState};
use baoming_core::document::DocError;
use baoming_core::lifecycle::Status;

use crate::store::StoreError;

/// Codes this client gives itself where no answer of the server has one: photo uploads that
/// never got an answer, and refused actions whose answer had no error body. They are not REST
/// codes (the server's codes are [`ErrorCode`]s) and travel nowhere.
pub mod local_codes {
    /// The photo waiting for upload is no longer in the local store
    /// ([`ClientError::PhotoRejected`](super::ClientError::PhotoRejected): choose it again).
    pub const MISSING_LOCALLY: &str = "missing_locally";
    /// The photo has not been uploaded yet
    /// ([`ClientError::PhotoNotUploaded`](super::ClientError::PhotoNotUploaded)).
    pub const UPLOAD_PENDING: &str = "upload_pending";
    /// The upload failed on this device before the server answered
    /// ([`ClientError::PhotoNotUploaded`](super::ClientError::PhotoNotUploaded)).
    pub const UPLOAD_FAILED: &str = "upload_failed";

    /// The code of a refused action whose answer had no JSON error body (a proxy's page):
    /// `http_` and the HTTP status, e.g. `http_404`.
    pub fn http(status: u16) -> String {
        format!("http_{status}")
    }
}

/// Errors of the device-side client. Each variant says what the app can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The local store failed (disk full, permissions, corrupt file): show it, retry later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document operation failed (e.g. the status locks that part of the draft).
    #[error(transparent)]
    Document(#[from] DocError),
    /// The server URL is not `http://…` or `https://…`: a configuration error.
    #[error("invalid server URL `{0}`: expected http://host[:port] or https://host[:port]")]
    InvalidUrl(String),
    /// The server could not be reached (no network, DNS, connection refused or dropped):
    /// retry later; [`SyncClient::start`](crate::SyncClient::start) does so by itself.
    #[error("the server cannot be reached: {0}")]
    Network(String),
    /// The session token was refused (HTTP 401), or the session ended while a sync connection
    /// was open (the server closed it with close code 4401,
    /// [`SESSION_ENDED_CLOSE_CODE`](baoming_core::api::sync::SESSION_ENDED_CLOSE_CODE): logout,
    /// a password change from another device, a recovery reset, expiry): sign in again and call
    /// [`SyncClient::set_token`](crate::SyncClient::set_token). The background sync stops
    /// instead of retrying.
    #[error("the session token was refused: sign in again")]
    Unauthorized,
    /// The operation did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The server answered an HTTP error with its machine-readable code.
    #[error("the server answered {status} {code_text}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The `code` of the error body; [`ErrorCode::Unknown`] for a code newer than this
        /// client, or an answer without a JSON error body.
        code: ErrorCode,
        /// The code as the server sent it (kept for a code this client does not know; empty
        /// without a JSON error body).
        code_text: String,
        /// The `message` of the error body (the start of the body without one).
        message: String,
        /// How long the server asked the client to wait before trying again (its
        /// `Retry-After`, in seconds; sent with 429 and 503).
        retry_after: Option<Duration>,
    },
    /// The server ended the sync with an `error` frame (`code: message`, protocol.md §7–§8),
    /// e.g. `rate_limited`. These codes are the CBOR sync protocol's, not REST codes.
    #[error("the server ended the sync: {code}: {message}")]
    Refused {
        /// Machine-readable code.
        code: String,
        /// Text.
        message: String,
    },
    /// The server sent something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The photo cannot be uploaded as it is — the server refused it (`code` is the server's:
    /// `photo_rejected`, `digest_mismatch`, `payload_too_large` …) or it is no longer on the
    /// device ([`local_codes::MISSING_LOCALLY`]): the registration that references it is not
    /// synced until the candidate picks another photo.
    #[error("photo {sha256} was refused by the server ({code}): {message}")]
    PhotoRejected {
        /// The photo's SHA-256.
        sha256: String,
        /// The server's code as it travelled, or [`local_codes::MISSING_LOCALLY`].
        code: String,
        /// The server's message.
        message: String,
    },
    /// The photo has not reached the server yet, and no answer of the server says why: not
    /// uploaded yet ([`local_codes::UPLOAD_PENDING`]) or the upload failed on this device
    /// ([`local_codes::UPLOAD_FAILED`]). The registration that references it waits; the next
    /// sync uploads it again.
    #[error("photo {sha256} is not on the server yet ({code}): {message}")]
    PhotoNotUploaded {
        /// The photo's SHA-256.
        sha256: String,
        /// One of the [`local_codes`].
        code: String,
        /// Why, in English.
        message: String,
    },
    /// The server does not offer this registration (e.g. the exam session left the catalog).
    #[error("the server does not offer the registration for exam `{0}`")]
    DocumentUnavailable(String),
    /// No registration for this exam was opened with
    /// [`SyncClient::open_registration`](crate::SyncClient::open_registration).
    #[error("no registration for exam `{0}` is open on this device")]
    UnknownRegistration(String),
    /// Another sync (WebSocket, batch or the background task) is running; wait for it.
    #[error("another sync is already running")]
    Busy,
    /// The server will not hand out this document now (not paid, outside the printing window,
    /// not eligible for a ticket).
    #[error(transparent)]
    DocumentRefused(#[from] DocumentRefusal),
}

impl ClientError {
    /// How long the server asked to wait before trying again (`Retry-After` of a 429 or 503).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Why the server will not hand out a document now (its `not_paid`, `printing_window_closed`
/// and `not_eligible` refusals).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentRefusal {
    /// `not_paid`: the registration form exists once the registration is paid; `status` is the
    /// registration's status now, when the server said.
    #[error("the registration form is available once the registration is paid (status `{}`)", status_text(*.status))]
    NotPaid {
        /// The registration's status.
        status: Option<Status>,
    },
    /// `printing_window_closed`: admission tickets are printed only inside the exam's printing
    /// window (Unix milliseconds, when the server said).
    #[error("admission tickets can only be printed inside the exam's printing window")]
    PrintingWindowClosed {
        /// When the window opens.
        opens_ms: Option<i64>,
        /// When it closes.
        closes_ms: Option<i64>,
    },
    /// `not_eligible`: this registration has no admission ticket; `reason` says why (`None` for
    /// a reason newer than this client).
    #[error("this registration cannot have an admission ticket now ({})", reason_text(*.reason))]
    NotEligible {
        /// Why.
        reason: Option<NotEligibleReason>,
        /// The registration's status, when the server said.
        status: Option<Status>,
        /// For a cancelled registration (`reason` `cancelled`): what happens to the fee.
        refund: Option<RefundState>,
    },
}

fn status_text(status: Option<Status>) -> &'static str {
    status.map_or("", Status::as_str)
}

fn reason_text(reason: Option<NotEligibleReason>) -> &'static str {
    reason.map_or("", NotEligibleReason::as_str)
}

/// An error answer of the server read with the contract: its HTTP status, its [`ErrorBody`] and
/// the code's text as it travelled.
#[derive(Debug, Clone)]
pub(crate) struct ErrorAnswer {
    pub(crate) status: u16,
    pub(crate) body: ErrorBody,
    /// The code as the server sent it; empty without a JSON error body.
    pub(crate) code_text: String,
    /// Every member of the body but the code and the message, as the server sent them.
    pub(crate) details: serde_json::Map<String, serde_json::Value>,
    /// The answer's `Retry-After` (set by [`crate::http`] from the header).
    pub(crate) retry_after: Option<Duration>,
}

impl ErrorAnswer {
    /// Reads the error answer `bytes` of HTTP status `status`. A body that is not a JSON error
    /// body (a proxy's page) is [`ErrorCode::Unknown`] with an empty code text and the start of
    /// the body as the message; details a newer server added that do not parse keep the code
    /// and the message.
    pub(crate) fn parse(status: u16, bytes: &[u8]) -> ErrorAnswer {
        let Ok(head) = serde_json::from_slice::<ErrorHead>(bytes) else {
            let start: String = String::from_utf8_lossy(bytes).chars().take(200).collect();
            return ErrorAnswer {
                status,
                body: ErrorBody::new(ErrorCode::Unknown, start),
                code_text: String::new(),
                details: serde_json::Map::new(),
                retry_after: None,
            };
        };
        let body = serde_json::from_slice::<ErrorBody>(bytes)
            .unwrap_or_else(|_| ErrorBody::new(head.error_code(), head.message.clone()));
        let mut details = match serde_json::from_slice(bytes) {
            Ok(serde_json::Value::Object(members)) => members,
            _ => serde_json::Map::new(),
        };
        // The members every body has are those of a body without details.
        if let Ok(serde_json::Value::Object(bare)) =
            serde_json::to_value(ErrorBody::new(head.error_code(), ""))
        {
            details.retain(|k, _| !bare.contains_key(k));
        }
        ErrorAnswer { status, body, code_text: head.code, details, retry_after: None }
    }

    /// The error this (unexpected) answer stands for: a 401 with the code `unauthorized` or
    /// without an error body is [`ClientError::Unauthorized`], anything else
    /// [`ClientError::Server`].
    pub(crate) fn into_error(self) -> ClientError {
        if self.status == 401 && (self.body.code == ErrorCode::Unauthorized || self.code_text.is_empty()) {
            return ClientError::Unauthorized;
        }
        self.into_server_error()
    }

    /// [`ClientError::Server`] with this answer's status, code, message and `Retry-After`.
    pub(crate) fn into_server_error(self) -> ClientError {
        ClientError::Server {
            status: self.status,
            code: self.body.code,
            code_text: self.code_text,
            message: self.body.message,
            retry_after: self.retry_after,
        }
    }

    /// The typed refusal of a document download, if the answer is one.
    pub(crate) fn document_refusal(&self) -> Option<DocumentRefusal> {
        let body = &self.body;
        let ms = |secs: i64| secs.saturating_mul(1000);
        match body.code {
            ErrorCode::NotPaid => Some(DocumentRefusal::NotPaid { status: body.status }),
            ErrorCode::PrintingWindowClosed => Some(DocumentRefusal::PrintingWindowClosed {
                opens_ms: body.printing.map(|w| ms(w.opens)),
                closes_ms: body.printing.map(|w| ms(w.closes)),
            }),
            ErrorCode::NotEligible => Some(DocumentRefusal::NotEligible {
                reason: body.not_eligible_reason(),
                status: body.status,
                refund: body.refund,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, body: &str) -> ClientError {
        ErrorAnswer::parse(status, body.as_bytes()).into_error()
    }

    #[test]
    fn error_bodies_become_typed_client_errors() {
        match error(409, r#"{"code":"already_paid","message":"paid already"}"#) {
            ClientError::Server { status: 409, code: ErrorCode::AlreadyPaid, code_text, message, .. } => {
                assert_eq!((code_text.as_str(), message.as_str()), ("already_paid", "paid already"));
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        // A newer server's code stays visible as text.
        match error(409, r#"{"code":"from_the_future","message":"m"}"#) {
            ClientError::Server { code: ErrorCode::Unknown, code_text, .. } => {
                assert_eq!(code_text, "from_the_future")
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        // Details that do not parse (a newer server's) keep the code and the message.
        let a = ErrorAnswer::parse(409, br#"{"code":"seat_gone","message":"m","pools":[{"kind":"moon"}]}"#);
        assert_eq!((a.body.code, a.body.message.as_str()), (ErrorCode::SeatGone, "m"));
        assert_eq!(
            serde_json::Value::Object(a.details),
            serde_json::json!({ "pools": [{ "kind": "moon" }] })
        );
        // A proxy's page.
        match error(502, "<html>bad gateway</html>") {
            ClientError::Server { status: 502, code: ErrorCode::Unknown, code_text, message, .. } => {
                assert_eq!((code_text.as_str(), message.as_str()), ("", "<html>bad gateway</html>"));
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        assert!(matches!(error(401, r#"{"code":"unauthorized","message":"m"}"#), ClientError::Unauthorized));
        assert!(matches!(error(401, ""), ClientError::Unauthorized));
        assert!(matches!(
            error(401, r#"{"code":"bad_credentials","message":"m"}"#),
            ClientError::Server { status: 401, code: ErrorCode::BadCredentials, .. }
        ));
    }

    #[test]
    fn document_refusals_are_typed() {
        let refusal = |status, body: &str| ErrorAnswer::parse(status, body.as_bytes()).document_refusal();
        assert_eq!(
            refusal(409, r#"{"code":"not_paid","message":"m","status":"submitted"}"#),
            Some(DocumentRefusal::NotPaid { status: Some(Status::Submitted) })
        );
        let body = r#"{"code":"printing_window_closed","message":"m","printing":{"opens":10,"closes":20}}"#;
        assert_eq!(
            refusal(409, body),
            Some(DocumentRefusal::PrintingWindowClosed { opens_ms: Some(10_000), closes_ms: Some(20_000) })
        );
        let body = r#"{"code":"not_eligible","message":"m","reason":"not_arranged","status":"paid"}"#;
        assert_eq!(
            refusal(409, body),
            Some(DocumentRefusal::NotEligible {
                reason: Some(NotEligibleReason::NotArranged),
                status: Some(Status::Paid),
                refund: None,
            })
        );
        let body = r#"{"code":"not_eligible","message":"m","reason":"cancelled","status":"cancelled","refund":"due"}"#;
        assert_eq!(
            refusal(409, body),
            Some(DocumentRefusal::NotEligible {
                reason: Some(NotEligibleReason::Cancelled),
                status: Some(Status::Cancelled),
                refund: Some(RefundState::Due),
            })
        );
        let body = r#"{"code":"not_eligible","message":"m","reason":"not_yet_invented","status":"paid"}"#;
        assert_eq!(
            refusal(409, body),
            Some(DocumentRefusal::NotEligible { reason: None, status: Some(Status::Paid), refund: None }),
            "a newer reason is still a refusal"
        );
        assert_eq!(refusal(409, r#"{"code":"locked","message":"m","status":"under_review"}"#), None);
        assert_eq!(refusal(409, "not json"), None);
        assert_eq!(
            DocumentRefusal::NotPaid { status: Some(Status::Submitted) }.to_string(),
            "the registration form is available once the registration is paid (status `submitted`)"
        );
    }
}
