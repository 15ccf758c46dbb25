//! The one mapping of failures to HTTP: every domain error, and every rejection warp produces by
//! itself (unknown path, wrong method, body too large, …), becomes a status and a JSON body
//! `{"code": "...", "message": "...", …details}`.
//!
//! The domains say what went wrong in their own words ([`IdentityError`], [`CatalogError`],
//! [`RegistrationError`], [`PaymentError`], [`DeskError`], [`ExamDayError`], and the
//! [`Refusal`]s they carry); [`Problem`] is what the client is told, and only here do those
//! words meet HTTP status codes.

use std::convert::Infallible;

use serde_json::{Map, Value, json};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

use crate::catalog::CatalogError;
use crate::desk::DeskError;
use crate::examday::ExamDayError;
use crate::identity::IdentityError;
use crate::payments::PaymentError;
use crate::refusal::{Refusal, RefusalKind};
use crate::registration::RegistrationError;
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
    /// A header, a path segment or a query string is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No or unknown credentials at the HTTP layer (a missing or malformed header).
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    /// Nothing here.
    #[error("not found: {0}")]
    NotFound(String),
    /// The method is not supported on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A body without a Content-Length header.
    #[error("a Content-Length header is required")]
    LengthRequired,
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
    /// The server is starting or draining.
    #[error("the server is busy; retry shortly")]
    Busy,
    /// The request took longer than the configured limit.
    #[error("the request timed out")]
    Timeout,
    /// A typed refusal made at the HTTP layer (a missing idempotency key, a bad query).
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// Accounts, sessions, operators.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The catalog.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Registrations, their documents, photos and lifecycle.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Payments.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// The center's desk.
    #[error(transparent)]
    Desk(#[from] DeskError),
    /// The exam day.
    #[error(transparent)]
    ExamDay(#[from] ExamDayError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl warp::reject::Reject for ApiError {}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        ApiError::Refused(Box::new(r))
    }
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> ApiError {
        ApiError::Registration(e.into())
    }
}

/// What the client is told: status, code, message and extra members of the body.
#[derive(Debug)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// The machine-readable code.
    pub code: &'static str,
    /// The message (internal details are logged, never sent).
    pub message: String,
    /// Extra members of the JSON body.
    pub details: Map<String, Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

fn problem(status: StatusCode, code: &'static str, message: impl Into<String>) -> Problem {
    Problem { status, code, message: message.into(), details: Map::new(), retry_after: None }
}

fn refusal_problem(r: &Refusal) -> Problem {
    let status = match r.kind {
        RefusalKind::BadRequest => StatusCode::BAD_REQUEST,
        RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut p = problem(status, r.code, r.message.clone());
    if let Value::Object(extra) = &r.details {
        p.details = extra.clone();
    }
    p
}

fn internal() -> Problem {
    problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
}

fn identity_problem(e: &IdentityError) -> Problem {
    let unauthorized = |code| problem(StatusCode::UNAUTHORIZED, code, e.to_string());
    match e {
        IdentityError::Invalid { code, message } => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone())
        }
        IdentityError::Conflict { code, message } => problem(StatusCode::CONFLICT, code, message.clone()),
        IdentityError::Unauthorized(_) => unauthorized("unauthorized"),
        IdentityError::BadCredentials => unauthorized("bad_credentials"),
        IdentityError::CaptchaRequired => unauthorized("captcha_required"),
        IdentityError::CaptchaWrong => unauthorized("captcha_wrong"),
        IdentityError::TooManyRequests { retry_after_secs } => Problem {
            retry_after: Some(*retry_after_secs),
            ..problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", e.to_string())
        },
        IdentityError::Forbidden(_) => problem(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
        IdentityError::NotFound(_) => problem(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        IdentityError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
        IdentityError::Storage(_) | IdentityError::Internal(_) => internal(),
    }
}

fn registration_problem(e: &RegistrationError) -> Problem {
    match e {
        RegistrationError::Refused(r) => refusal_problem(r),
        RegistrationError::PhotoRejected(report) => {
            let mut p = problem(StatusCode::UNPROCESSABLE_ENTITY, "photo_rejected", e.to_string());
            let problems: Vec<Value> = report
                .problems
                .iter()
                .map(|p| json!({ "code": p.code(), "message_en": p.message_en(), "message_zh": p.message_zh() }))
                .collect();
            p.details.insert("problems".into(), Value::Array(problems));
            p.details.insert("report".into(), serde_json::to_value(report).unwrap_or_default());
            p
        }
        RegistrationError::Forbidden(_) => problem(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
        RegistrationError::NotFound(_) => problem(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        RegistrationError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
        RegistrationError::Storage(_) | RegistrationError::Internal(_) => internal(),
    }
}

impl ApiError {
    /// What the client is told.
    pub fn problem(&self) -> Problem {
        let bad = |code| problem(StatusCode::BAD_REQUEST, code, self.to_string());
        match self {
            ApiError::MalformedJson(_) => bad("malformed_json"),
            ApiError::MalformedCbor(_) => bad("malformed_cbor"),
            ApiError::BadRequest(_) => bad("bad_request"),
            ApiError::WrongShape(_) => {
                problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", self.to_string())
            }
            ApiError::Unauthorized(_) => problem(StatusCode::UNAUTHORIZED, "unauthorized", self.to_string()),
            ApiError::NotFound(_) => problem(StatusCode::NOT_FOUND, "not_found", self.to_string()),
            ApiError::MethodNotAllowed => {
                problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", self.to_string())
            }
            ApiError::LengthRequired => {
                problem(StatusCode::LENGTH_REQUIRED, "length_required", self.to_string())
            }
            ApiError::PayloadTooLarge => {
                problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", self.to_string())
            }
            ApiError::PhotoTooLarge { max, rules_max, .. } => {
                let mut p = problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", self.to_string());
                p.details.insert("limit_bytes".into(), json!(max));
                p.details.insert("rules_max_bytes".into(), json!(rules_max));
                p
            }
            ApiError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, "busy", self.to_string()),
            ApiError::Timeout => problem(StatusCode::SERVICE_UNAVAILABLE, "timeout", self.to_string()),
            ApiError::Refused(r) => refusal_problem(r),
            ApiError::Identity(e) => identity_problem(e),
            ApiError::Catalog(e) => match e {
                CatalogError::NotFound(_) => problem(StatusCode::NOT_FOUND, "not_found", e.to_string()),
                CatalogError::Invalid { code, message } => {
                    problem(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone())
                }
                CatalogError::Concurrent => problem(StatusCode::CONFLICT, "concurrent_update", e.to_string()),
                CatalogError::Forbidden(why) => problem(StatusCode::FORBIDDEN, "forbidden", why.clone()),
                CatalogError::Storage(_) => internal(),
            },
            ApiError::Registration(e) => registration_problem(e),
            ApiError::Payment(e) => match e {
                PaymentError::Refused(r) => refusal_problem(r),
                PaymentError::Registration(r) => registration_problem(r),
                PaymentError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
                PaymentError::UnknownOrder(_)
                | PaymentError::AmountMismatch { .. }
                | PaymentError::Storage(_)
                | PaymentError::Internal(_) => internal(),
            },
            ApiError::Desk(e) => match e {
                DeskError::Refused(r) => refusal_problem(r),
                DeskError::Registration(r) => registration_problem(r),
                DeskError::Storage(_) => internal(),
            },
            ApiError::ExamDay(e) => match e {
                ExamDayError::Refused(r) => refusal_problem(r),
                ExamDayError::Registration(r) => registration_problem(r),
                ExamDayError::Storage(_) | ExamDayError::Internal(_) => internal(),
            },
            ApiError::Storage(_) | ApiError::Internal(_) => internal(),
        }
    }
}

/// Builds the HTTP response for an error.
pub fn error_response(err: &ApiError) -> Response {
    let p = err.problem();
    if p.status.is_server_error() && p.code == "internal" {
        tracing::error!(error = %err, "request failed");
    } else {
        tracing::info!(code = p.code, "request refused");
    }
    let mut body = Map::new();
    body.insert("code".into(), p.code.into());
    body.insert("message".into(), p.message.into());
    body.extend(p.details);
    let mut resp = warp::reply::with_status(warp::reply::json(&body), p.status).into_response();
    if let Some(secs) = p.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Turns any rejection into the JSON error response.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
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
