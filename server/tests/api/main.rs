//! In-process handler tests: every endpoint, good and bad input, through `warp::test` on a real
//! sled database in a temporary folder. Answers are read through the REST contract as the
//! end-to-end tests read them.
//!
//! This root holds the shared helpers and the service-level checks; the endpoints' tests are
//! grouped by theme in the child modules.

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod catalog;
mod operators;
mod profile;
mod recovery;
mod throttling;

use serde_json::{Value, json};

use baoming_core::api::accounts::SessionAnswer;
use baoming_core::api::error::ErrorCode;
use baoming_core::api::health::{Health, HealthStatus};
use baoming_core::api::operator::OperatorSessionAnswer;
use baoming_server::state::App;
use baoming_server::store::Tree;
use support::{CANDIDATE_PASSWORD as PASSWORD, Response, TestApp};

/// The demo catalog's exam.
const EXAM: &str = support::DEMO_EXAM;

/// Sends one request to `app`'s routes, with a bearer `token` and a `body` when given.
async fn call(app: &App, method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Response {
    call_h(app, method, path, token, body, &[]).await
}

/// [`call`] with extra request `headers`.
async fn call_h(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> Response {
    let routes = baoming_server::api::routes(app.clone());
    let mut req = warp::test::request()
        .method(method)
        .path(path)
        .remote_addr(std::net::SocketAddr::from(([10, 0, 0, 7], 40000)));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.reply(&routes).await;
    let (parts, body) = r.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Response::new(parts.status.as_u16(), headers, body.to_vec())
}

/// `v` as a JSON request body.
fn j(v: Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&v).expect("json"))
}

/// How many records `tree` holds.
fn count(app: &App, tree: Tree) -> usize {
    app.db.store().scan_prefix(tree, b"").expect("scan").len()
}

/// Registers `login` with the candidates' test password; its session token.
async fn register(app: &App, login: &str) -> String {
    let r = call(app, "POST", "/api/accounts", None, j(json!({"login": login, "password": PASSWORD}))).await;
    r.expect(201).typed::<SessionAnswer>().token
}

/// Logs operator `username` in; its session token.
async fn operator_login(app: &App, username: &str, password: &str) -> String {
    let r = call(
        app,
        "POST",
        "/api/operator/sessions",
        None,
        j(json!({"username": username, "password": password})),
    )
    .await;
    r.typed::<OperatorSessionAnswer>().token
}

#[tokio::test]
async fn health_readiness_and_unknown_routes() {
    let t = TestApp::new();
    assert_eq!(call(&t.app, "GET", "/healthz", None, None).await.typed::<Health>().status, HealthStatus::Ok);
    let r = call(&t.app, "GET", "/readyz", None, None).await;
    assert_eq!(r.typed::<Health>().status, HealthStatus::Ready);
    call(&t.app, "GET", "/no/such/thing", None, None).await.refused(404, ErrorCode::NotFound);
    call(&t.app, "PATCH", "/api/accounts", None, None).await.refused(405, ErrorCode::MethodNotAllowed);
    t.app.set_draining();
    assert_eq!(call(&t.app, "GET", "/readyz", None, None).await.error().status, 503);
}
