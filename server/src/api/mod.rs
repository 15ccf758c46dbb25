//! The HTTP layer: routes, request extraction and responses. Domain work happens in the service
//! modules; handlers here only translate.
//!
//! [`routes`] builds the whole API from an [`App`]; every failure, ours or warp's, leaves through
//! [`crate::error::recover`] as a JSON `{code, message}` body.

mod accounts;
mod blobs;
mod cancel;
mod catalog;
mod documents;
mod oauth;
mod operator_views;
mod operators;
mod payments;
mod registrations;
mod sync;
pub mod upgrade;

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::app::{App, now};
use crate::error::{ApiError, error_response, recover};
use crate::identity::sessions::{self, Owner, Session};

/// The whole API, for [`crate::server::serve_http`] or `warp::test`.
pub fn routes(
    app: App,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| json(StatusCode::OK, &serde_json::json!({ "status": "ok" })))
        .boxed();
    let ready_app = app.clone();
    let ready = warp::path!("readyz")
        .and(warp::get())
        .map(move || {
            if ready_app.is_ready() {
                json(StatusCode::OK, &serde_json::json!({ "status": "ready" }))
            } else {
                error_response(&ApiError::Busy)
            }
        })
        .boxed();
    health
        .or(ready)
        .unify()
        .or(accounts::routes(app.clone()))
        .unify()
        .or(catalog::routes(app.clone()))
        .unify()
        .or(operators::routes(app.clone()))
        .unify()
        .or(oauth::routes(app.clone()))
        .unify()
        .or(sync::routes(app.clone()))
        .unify()
        // Before the registrations' `{exam}/{action}` route, which takes the body.
        .or(payments::routes(app.clone()))
        .unify()
        .or(registrations::routes(app.clone()))
        .unify()
        .or(blobs::routes(app.clone()))
        .unify()
        .or(operator_views::routes(app.clone()))
        .unify()
        .or(cancel::routes(app.clone()))
        .unify()
        .or(documents::routes(app))
        .unify()
        .recover(recover)
        .unify()
        .with(warp::trace(|info| {
            let id = info
                .request_headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 64)
                .map(str::to_owned)
                .unwrap_or_else(next_request_id);
            tracing::info_span!("request", id = %id, method = %info.method(), path = %info.path())
        }))
}

fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("r{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Passes the state to handlers.
pub(crate) fn with_app(app: App) -> impl Filter<Extract = (App,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// Reads a JSON body of at most `limit` bytes into `T`, with typed errors.
pub(crate) fn json_body<T: DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit)
        .and(warp::body::bytes())
        .and_then(|body: Bytes| async move { parse_json::<T>(&body).map_err(warp::reject::custom) })
}

/// Parses JSON, telling syntax errors (400) from shape errors (422).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::WrongShape(e.to_string()),
        _ => ApiError::MalformedJson(e.to_string()),
    })
}

/// The peer's IP address (proxies' forwarding headers are not trusted): from the accept loop,
/// or from warp's own record for in-process requests.
pub(crate) fn client_address() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::ext::optional::<upgrade::PeerAddr>().and(warp::addr::remote()).map(
        |peer: Option<upgrade::PeerAddr>, warp_addr: Option<std::net::SocketAddr>| {
            peer.map(|p| p.0).or(warp_addr).map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
        },
    )
}

fn bearer(header: Option<String>) -> Result<String, ApiError> {
    let h = header.ok_or(ApiError::Unauthorized("missing Authorization: Bearer token"))?;
    let token = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`"))?;
    Ok(token.trim().to_owned())
}

/// Resolves the bearer session.
pub(crate) fn session(app: App) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |h: Option<String>| {
        let app = app.clone();
        async move {
            let token = bearer(h).map_err(warp::reject::custom)?;
            sessions::resolve(&*app.store, &token, now()).map_err(warp::reject::custom)
        }
    })
}

/// An authenticated candidate.
#[derive(Debug, Clone)]
pub(crate) struct AccountCtx {
    pub(crate) account_id: String,
    pub(crate) session: Session,
}

/// Requires a candidate session.
pub(crate) fn account_auth(app: App) -> impl Filter<Extract = (AccountCtx,), Error = Rejection> + Clone {
    session(app).and_then(|s: Session| async move {
        match &s.owner {
            Owner::Account(id) => Ok(AccountCtx { account_id: id.clone(), session: s.clone() }),
            Owner::Operator(_) => Err(warp::reject::custom(ApiError::Unauthorized(
                "an operator token cannot be used for candidate endpoints",
            ))),
        }
    })
}

/// Runs a handler with the request time limit; errors become their JSON response.
pub(crate) async fn run<F>(app: &App, f: F) -> Result<Response, Rejection>
where
    F: Future<Output = Result<Response, ApiError>>,
{
    let limit = Duration::from_secs(app.config.request_timeout_secs);
    Ok(match tokio::time::timeout(limit, f).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => error_response(&e),
        Err(_) => error_response(&ApiError::Timeout),
    })
}

/// A JSON response.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// `204 No Content`.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
