//! The one error type of the service and its mapping to HTTP.
//!
//! Services return [`ApiError`]; the HTTP layer turns it — and every rejection warp produces by
//! itself (unknown path, wrong method, body too large, …) — into a JSON body
//! `{"code": "...", "message": "..."}` with the matching status, in [`recover`].

use std::convert::Infallible;

use serde::Serialize;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::store::{CommitError, StorageError};

/// Every failure a request can end in.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is not the expected CBOR (the sync batch form).
    #[error("the request body is not valid sync CBOR: {0}")]
    MalformedCbor(String),
    /// The body is JSON but does not have the expected shape or types.
    #[error("the request body does not match the expected fields: {0}")]
    WrongShape(String),
    /// A field value is refused.
    #[error("{message}")]
    Invalid {
        /// Machine-readable code, e.g. `password_too_common`.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// No or unknown credentials (bearer token missing, expired or forged).
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    /// Wrong account name or password.
    #[error("the account name or the password is wrong")]
    BadCredentials,
    /// The risk is raised: solve a captcha and send its id and answer.
    #[error("a captcha is required: request one from POST /api/captcha")]
    CaptchaRequired,
    /// The captcha answer is wrong, expired or already used.
    #[error("the captcha answer is wrong or expired; request a new captcha")]
    CaptchaWrong,
    /// Authenticated but not allowed.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// Nothing there.
    #[error("not found: {0}")]
    NotFound(String),
    /// A uniqueness rule refused the request.
    #[error("{message}")]
    Conflict {
        /// Machine-readable code, e.g. `login_taken`.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// Too many attempts from this address.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The server is saturated (password hashing queue full); retry shortly.
    #[error("the server is busy; retry shortly")]
    Busy,
    /// The request took longer than the configured limit.
    #[error("the request timed out")]
    Timeout,
    /// The body is larger than allowed.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// A photo upload declares more bytes than the photo rules allow (refused unread).
    #[error(
        "the photo is {bytes} bytes; uploads may have at most {max} bytes (the photo rules allow {rules_max})"
    )]
    PhotoTooLarge {
        /// The declared Content-Length.
        bytes: u64,
        /// The upload limit.
        max: u64,
        /// The rules' `max_bytes`.
        rules_max: u32,
    },
    /// An uploaded photo breaks the photo rules; the report goes to the client.
    #[error("the photo does not meet the photo rules: {}", .0.codes().join(", "))]
    PhotoRejected(Box<baoming_core::photo::PhotoReport>),
    /// The method is not supported on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A body without a Content-Length header.
    #[error("a Content-Length header is required")]
    LengthRequired,
    /// A header or query string is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A lifecycle action refused, with details the client can act on (issues, pools, status).
    #[error("{}", .0.message)]
    Refused(Box<Refused>),
    /// Storage failed.
    #[error("storage failure: {0}")]
    Storage(#[from] StorageError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl warp::reject::Reject for ApiError {}

/// A typed refusal of a lifecycle action.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `seat_gone`.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
    /// Extra members of the error body.
    pub details: serde_json::Value,
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> ApiError {
        match e {
            CommitError::Storage(s) => ApiError::Storage(s),
            CommitError::Precondition(i) => {
                ApiError::Internal(format!("unexpected precondition failure {i}"))
            }
        }
    }
}

impl ApiError {
    /// A typed lifecycle refusal.
    pub fn refused(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        details: serde_json::Value,
    ) -> ApiError {
        ApiError::Refused(Box::new(Refused { status, code, message: message.into(), details }))
    }

    /// A refused field value.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid { code, message: message.into() }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::MalformedCbor(_) => "malformed_cbor",
            ApiError::WrongShape(_) => "invalid_body",
            ApiError::Invalid { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Refused(r) => r.code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::CaptchaRequired => "captcha_required",
            ApiError::CaptchaWrong => "captcha_wrong",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Busy => "busy",
            ApiError::Timeout => "timeout",
            ApiError::PayloadTooLarge | ApiError::PhotoTooLarge { .. } => "payload_too_large",
            ApiError::PhotoRejected(_) => "photo_rejected",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::LengthRequired => "length_required",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Storage(_) | ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::MalformedCbor(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::WrongShape(_) | ApiError::Invalid { .. } | ApiError::PhotoRejected(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unauthorized(_)
            | ApiError::BadCredentials
            | ApiError::CaptchaRequired
            | ApiError::CaptchaWrong => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge | ApiError::PhotoTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::LengthRequired => StatusCode::LENGTH_REQUIRED,
            ApiError::Refused(r) => r.status,
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Extra members of the JSON error body, for errors the client can act on in detail.
    pub fn details(&self) -> Option<serde_json::Value> {
        match self {
            ApiError::PhotoRejected(report) => Some(serde_json::json!({
                "problems": report
                    .problems
                    .iter()
                    .map(|p| serde_json::json!({
                        "code": p.code(),
                        "message_en": p.message_en(),
                        "message_zh": p.message_zh(),
                    }))
                    .collect::<Vec<_>>(),
                "report": report,
            })),
            ApiError::Refused(r) => Some(r.details.clone()),
            ApiError::PhotoTooLarge { max, rules_max, .. } => {
                Some(serde_json::json!({ "limit_bytes": max, "rules_max_bytes": rules_max }))
            }
            _ => None,
        }
    }

    /// The message shown to clients (internal details are logged, not sent).
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Storage(_) | ApiError::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

/// Builds the HTTP response for an error.
pub fn error_response(err: &ApiError) -> warp::reply::Response {
    if err.status().is_server_error() {
        tracing::error!(error = %err, "request failed");
    } else {
        tracing::info!(code = err.code(), "request refused");
    }
    let body = ErrorBody { code: err.code(), message: err.public_message() };
    let mut resp = match err.details() {
        Some(serde_json::Value::Object(extra)) => {
            let mut all = serde_json::Map::new();
            all.insert("code".into(), body.code.into());
            all.insert("message".into(), body.message.into());
            all.extend(extra);
            warp::reply::with_status(warp::reply::json(&all), err.status()).into_response()
        }
        _ => warp::reply::with_status(warp::reply::json(&body), err.status()).into_response(),
    };
    if let ApiError::TooManyRequests { retry_after_secs } = err
        && let Ok(v) = warp::http::HeaderValue::from_str(&retry_after_secs.to_string())
    {
        resp.headers_mut().insert(warp::http::header::RETRY_AFTER, v);
    }
    resp
}

/// Turns any rejection into the JSON error response.
pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let err = if let Some(e) = rejection.find::<ApiError>() {
        return Ok(error_response(e));
    } else if rejection.is_not_found() {
        ApiError::NotFound("no such endpoint".into())
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::PayloadTooLarge
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::LengthRequired
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        ApiError::MalformedJson(e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        ApiError::BadRequest(e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        ApiError::BadRequest(e.to_string())
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        ApiError::BadRequest("invalid query string".into())
    } else if rejection.find::<warp::reject::UnsupportedMediaType>().is_some() {
        ApiError::BadRequest("unsupported content type".into())
    } else {
        ApiError::Internal(format!("unhandled rejection: {rejection:?}"))
    };
    Ok(error_response(&err))
}
