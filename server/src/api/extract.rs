//! What handlers receive: the state, the caller (candidate or operator session), typed JSON
//! bodies, raw bodies with limits, the `Idempotency-Key`, the peer's address — and the response
//! helpers they answer with.

use std::convert::Infallible;

use baoming_core::api::paths;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::error::{ApiError, error_response};
use super::upgrade::PeerAddr;
use crate::identity::operators::Operator;
use crate::identity::sessions::{Owner, Session};
use crate::state::App;

/// An authenticated candidate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The account id.
    pub account: String,
    /// The session the request came with.
    pub session: Session,
}

/// An authenticated operator.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The operator.
    pub operator: Operator,
    /// The session the request came with.
    pub session: Session,
}

/// The request's `Idempotency-Key`, if any.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    /// The key as text.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The peer's IP address as text.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

/// Passes the state to handlers.
pub fn with_app(app: App) -> impl Filter<Extract = (App,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// Parses JSON, telling syntax errors (400) from shape errors (422).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::WrongShape(e.to_string()),
        _ => ApiError::MalformedJson(e.to_string()),
    })
}

/// A JSON body of at most `limit` bytes read into `T`, with typed errors.
pub fn json_body<T: DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    bytes_body(limit)
        .and_then(|body: Bytes| async move { parse_json::<T>(&body).map_err(warp::reject::custom) })
}

/// A raw body of at most `limit` bytes (a `Content-Length` is required; `0` for actions without
/// parameters).
pub fn bytes_body(limit: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit).and(warp::body::bytes())
}

/// The request's `Idempotency-Key` header.
pub fn idempotency_key() -> impl Filter<Extract = (IdempotencyKey,), Error = Rejection> + Clone {
    warp::header::optional::<String>(paths::IDEMPOTENCY_KEY).map(IdempotencyKey)
}

/// The peer's IP address (proxies' forwarding headers are not trusted): from the accept loop,
/// or from warp's own record for in-process requests.
pub fn client_address() -> impl Filter<Extract = (ClientAddr,), Error = Infallible> + Clone {
    warp::ext::optional::<PeerAddr>().and(warp::addr::remote()).map(
        |peer: Option<PeerAddr>, warp_addr: Option<std::net::SocketAddr>| {
            ClientAddr(
                peer.map(|p| p.0)
                    .or(warp_addr)
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "unknown".into()),
            )
        },
    )
}

/// The bearer token of an `Authorization` header.
pub fn bearer(header: Option<&str>) -> Result<&str, ApiError> {
    let h = header.ok_or(ApiError::Unauthorized("missing Authorization: Bearer token"))?;
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`"))?;
    Ok(token.trim())
}

/// Resolves the bearer session (candidate or operator).
pub fn session(app: App) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let app = app.clone();
        async move {
            let token = bearer(h.as_deref()).map_err(warp::reject::custom)?;
            app.identity.session(token).map_err(|e| warp::reject::custom(ApiError::from(e)))
        }
    })
}

/// Requires a candidate session.
pub fn candidate(app: App) -> impl Filter<Extract = (Candidate,), Error = Rejection> + Clone {
    session(app).and_then(|s: Session| async move {
        match &s.owner {
            Owner::Account(id) => Ok(Candidate { account: id.clone(), session: s.clone() }),
            Owner::Operator(_) => Err(warp::reject::custom(ApiError::Unauthorized(
                "an operator token cannot be used for candidate endpoints",
            ))),
        }
    })
}

/// Requires an operator session (401 when the operator was removed since).
pub fn staff(app: App) -> impl Filter<Extract = (Staff,), Error = Rejection> + Clone {
    session(app.clone()).and_then(move |s: Session| {
        let app = app.clone();
        async move {
            let Owner::Operator(id) = &s.owner else {
                return Err(warp::reject::custom(ApiError::Unauthorized(
                    "operator endpoints need an operator token",
                )));
            };
            let operator = app.identity.operator(id).map_err(|e| warp::reject::custom(ApiError::from(e)))?;
            Ok(Staff { operator, session: s })
        }
    })
}

/// What every handler returns.
pub type Answer = Result<Response, ApiError>;

/// Turns a handler's answer into the response.
pub fn respond(answer: Answer) -> Response {
    answer.unwrap_or_else(|e| error_response(&e))
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// `200 OK` with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Answer {
    Ok(json(StatusCode::OK, body))
}

/// `204 No Content`.
pub fn no_content() -> Answer {
    Ok(StatusCode::NO_CONTENT.into_response())
}
