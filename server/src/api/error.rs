//! The one mapping of failures to HTTP: every domain error, and every rejection warp produces by
//! itself (unknown path, wrong method, body too large, …), becomes a status and a JSON body
//! `{"code": "...", "message": "...", …details}`.
//!
//! The domains say what went wrong in their own words ([`IdentityError`], [`CatalogError`],
//! [`RegistrationError`], [`PaymentError`], [`DeskError`], [`ExamDayError`], and the
//! [`Refusal`]s they carry); [`Problem`] is what the client is told, and only here do those
//! words meet HTTP status codes.

use std::convert::Infallible;

use baoming_core::api::error::{ErrorBody, ErrorCode, PhotoProblemDetail};
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
    /// A sync upgrade authenticated by the sync cookie came from a page of another origin.
    #[error("origin refused: {0}")]
    OriginRefused(String),
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
    /// The caller's address already holds as many open connections as one address may.
    #[error("too many open connections from this address; close some and retry")]
    TooManyConnections,
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

/// What the client is told: the status and the contract's error body.
#[derive(Debug)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (internal details are logged, never sent).
    pub body: ErrorBody,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

fn problem(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Problem {
    Problem { status, body: ErrorBody::new(code, message), retry_after: None }
}

fn refusal_problem(r: &Refusal) -> Problem {
    let status = match r.kind {
        RefusalKind::BadRequest => StatusCode::BAD_REQUEST,
        RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    Problem { status, body: (*r.body).clone(), retry_after: None }
}

fn internal() -> Problem {
    problem(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "internal server error")
}

fn identity_problem(e: &IdentityError) -> Problem {
    let unauthorized = |code| problem(StatusCode::UNAUTHORIZED, code, e.to_string());
    match e {
        IdentityError::Invalid { code, message } => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, *code, message.clone())
        }
        IdentityError::Conflict { code, message } => problem(StatusCode::CONFLICT, *code, message.clone()),
        IdentityError::Unauthorized(_) => unauthorized(ErrorCode::Unauthorized),
        IdentityError::BadCredentials => unauthorized(ErrorCode::BadCredentials),
        IdentityError::CaptchaRequired => unauthorized(ErrorCode::CaptchaRequired),
        IdentityError::CaptchaWrong => unauthorized(ErrorCode::CaptchaWrong),
        IdentityError::TooManyRequests { retry_after_secs } => Problem {
            retry_after: Some(*retry_after_secs),
            ..problem(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests, e.to_string())
        },
        IdentityError::Forbidden(_) => problem(StatusCode::FORBIDDEN, ErrorCode::Forbidden, e.to_string()),
        IdentityError::NotFound(_) => problem(StatusCode::NOT_FOUND, ErrorCode::NotFound, e.to_string()),
        IdentityError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, e.to_string()),
        IdentityError::Storage(_) | IdentityError::Internal(_) => internal(),
    }
}

fn registration_problem(e: &RegistrationError) -> Problem {
    match e {
        RegistrationError::Refused(r) => refusal_problem(r),
        RegistrationError::PhotoRejected(report) => {
            let mut p = problem(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::PhotoRejected, e.to_string());
            p.body.problems = Some(
                report
                    .problems
                    .iter()
                    .map(|p| PhotoProblemDetail {
                        code: p.code().to_owned(),
                        message_en: p.message_en(),
                        message_zh: p.message_zh(),
                    })
                    .collect(),
            );
            p.body.report = Some((**report).clone());
            p
        }
        RegistrationError::Forbidden(_) => {
            problem(StatusCode::FORBIDDEN, ErrorCode::Forbidden, e.to_string())
        }
        RegistrationError::NotFound(_) => problem(StatusCode::NOT_FOUND, ErrorCode::NotFound, e.to_string()),
        RegistrationError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, e.to_string()),
        RegistrationError::Overloaded { retry_after_secs } => Problem {
            retry_after: Some(*retry_after_secs),
            ..problem(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, e.to_string())
        },
        RegistrationError::Storage(_) | RegistrationError::Internal(_) => internal(),
    }
}

impl ApiError {
    /// What the client is told.
    pub fn problem(&self) -> Problem {
        let text = self.to_string();
        let bad = |code| problem(StatusCode::BAD_REQUEST, code, text.clone());
        match self {
            ApiError::MalformedJson(_) => bad(ErrorCode::MalformedJson),
            ApiError::MalformedCbor(_) => bad(ErrorCode::MalformedCbor),
            ApiError::BadRequest(_) => bad(ErrorCode::BadRequest),
            ApiError::WrongShape(_) => {
                problem(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidBody, text)
            }
            ApiError::Unauthorized(_) => problem(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, text),
            ApiError::OriginRefused(_) => problem(StatusCode::FORBIDDEN, ErrorCode::OriginRefused, text),
            ApiError::NotFound(_) => problem(StatusCode::NOT_FOUND, ErrorCode::NotFound, text),
            ApiError::MethodNotAllowed => {
                problem(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, text)
            }
            ApiError::LengthRequired => problem(StatusCode::LENGTH_REQUIRED, ErrorCode::LengthRequired, text),
            ApiError::PayloadTooLarge => {
                problem(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, text)
            }
            ApiError::PhotoTooLarge { max, rules_max, .. } => {
                let mut p = problem(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, text);
                p.body.limit_bytes = Some(*max);
                p.body.rules_max_bytes = Some(*rules_max);
                p
            }
            ApiError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, text),
            ApiError::Timeout => problem(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Timeout, text),
            ApiError::TooManyConnections => Problem {
                retry_after: Some(1),
                ..problem(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests, text)
            },
            ApiError::Refused(r) => refusal_problem(r),
            ApiError::Identity(e) => identity_problem(e),
            ApiError::Catalog(e) => match e {
                CatalogError::NotFound(_) => problem(StatusCode::NOT_FOUND, ErrorCode::NotFound, text),
                CatalogError::Invalid { code, message } => {
                    problem(StatusCode::UNPROCESSABLE_ENTITY, *code, message.clone())
                }
                CatalogError::Concurrent => problem(StatusCode::CONFLICT, ErrorCode::ConcurrentUpdate, text),
                CatalogError::Forbidden(why) => {
                    problem(StatusCode::FORBIDDEN, ErrorCode::Forbidden, why.clone())
                }
                CatalogError::Storage(_) => internal(),
            },
            ApiError::Registration(e) => registration_problem(e),
            ApiError::Payment(e) => match e {
                PaymentError::Refused(r) => refusal_problem(r),
                PaymentError::Registration(r) => registration_problem(r),
                PaymentError::Busy => problem(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, text),
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

/// `err` as a whole HTTP/1.1 answer that closes the connection, for the accept loop, which
/// answers before any request is read.
pub fn raw_error_answer(err: &ApiError) -> Vec<u8> {
    let p = err.problem();
    let body = serde_json::to_vec(&p.body).unwrap_or_default();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        p.status.as_u16(),
        p.status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(secs) = p.retry_after {
        head.push_str(&format!("retry-after: {secs}\r\n"));
    }
    head.push_str("\r\n");
    let mut answer = head.into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// Builds the HTTP response for an error.
pub fn error_response(err: &ApiError) -> Response {
    let p = err.problem();
    if p.body.code == ErrorCode::Internal {
        tracing::error!(error = %err, "request failed");
    } else {
        tracing::info!(code = %p.body.code, "request refused");
    }
    let mut resp = warp::reply::with_status(warp::reply::json(&p.body), p.status).into_response();
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
