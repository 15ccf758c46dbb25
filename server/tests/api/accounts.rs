//! Accounts: registration refuses bad input with a typed error and stores nothing, register /
//! log in / log out with normalised logins sealed at rest, tokens that must be refused, and a
//! password change that revokes the other sessions.

use serde_json::json;

use baoming_core::api::accounts::{AccountAnswer, LoginKind, PasswordChangeAnswer, SessionAnswer};
use baoming_core::api::error::ErrorCode;
use baoming_server::store::Tree;
use baoming_server::store::audit;

use super::support::{CANDIDATE_PASSWORD as PASSWORD, Response, TestApp};
use super::{call, count, j, register};

#[tokio::test]
async fn registration_refuses_bad_input_and_stores_nothing() {
    let t = TestApp::new();
    let cases: Vec<(Option<Vec<u8>>, u16, ErrorCode)> = vec![
        (Some(b"{\"login\":".to_vec()), 400, ErrorCode::MalformedJson),
        (Some(b"not json".to_vec()), 400, ErrorCode::MalformedJson),
        (j(json!({"login": 5, "password": PASSWORD})), 422, ErrorCode::InvalidBody),
        (j(json!({"login": "a@example.org"})), 422, ErrorCode::InvalidBody),
        (
            j(json!({"login": "a@example.org", "password": PASSWORD, "admin": true})),
            422,
            ErrorCode::InvalidBody,
        ),
        (j(json!({"login": "not-a-login", "password": PASSWORD})), 422, ErrorCode::LoginInvalid),
        (j(json!({"login": "12345678901", "password": PASSWORD})), 422, ErrorCode::LoginInvalid),
        (j(json!({"login": "a@example.org", "password": "password123"})), 422, ErrorCode::PasswordTooCommon),
        (j(json!({"login": "a@example.org", "password": "short"})), 422, ErrorCode::PasswordTooShort),
        (Some(vec![b' '; 70 * 1024]), 413, ErrorCode::PayloadTooLarge),
    ];
    for (body, status, code) in cases {
        let r = call(&t.app, "POST", "/api/accounts", None, body).await;
        assert!(!r.refused(status, code).message.is_empty());
    }
    assert_eq!(count(&t.app, Tree::Accounts), 0, "nothing stored");
    assert_eq!(count(&t.app, Tree::AccountByLogin), 0);
}

#[tokio::test]
async fn register_login_me_logout_and_duplicates() {
    let t = TestApp::new();
    let token = register(&t.app, "Zhang.San@Example.org").await;
    let me: AccountAnswer = call(&t.app, "GET", "/api/account", Some(&token), None).await.typed();
    assert_eq!((me.login.as_str(), me.login_kind), ("zhang.san@example.org", LoginKind::Email));

    let dup = call(
        &t.app,
        "POST",
        "/api/accounts",
        None,
        j(json!({"login": "zhang.san@EXAMPLE.org", "password": PASSWORD})),
    )
    .await;
    dup.refused(409, ErrorCode::LoginTaken);
    assert_eq!(count(&t.app, Tree::Accounts), 1);

    // Mobile numbers work too, normalised.
    register(&t.app, "+86 139-0000-1111").await;
    let r =
        call(&t.app, "POST", "/api/sessions", None, j(json!({"login": "13900001111", "password": PASSWORD})))
            .await;
    r.typed::<SessionAnswer>();

    // The login name is not stored in clear.
    let raw: Vec<u8> = t
        .app
        .db
        .store()
        .scan_prefix(Tree::Accounts, b"")
        .expect("scan")
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect();
    assert!(!raw.windows(11).any(|w| w == b"13900001111"), "mobile number sealed");
    assert!(!raw.windows(9).any(|w| w == b"zhang.san"), "e-mail sealed");

    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "zhang.san@example.org", "password": PASSWORD})),
    )
    .await;
    let second = r.typed::<SessionAnswer>().token;
    let r = call(&t.app, "DELETE", "/api/sessions/current", Some(&second), None).await;
    assert_eq!(r.status, 204);
    call(&t.app, "GET", "/api/account", Some(&second), None).await.refused(401, ErrorCode::Unauthorized);
    call(&t.app, "GET", "/api/account", Some(&token), None).await.typed::<AccountAnswer>();
}

#[tokio::test]
async fn forged_malformed_and_expired_tokens_are_refused() {
    let t = TestApp::with(|c| c.session_ttl_secs = 3600);
    let token = register(&t.app, "li.si@example.org").await;
    let forged = format!("bm_{}", "ab".repeat(32));
    for (header, label) in [
        (Some(format!("Bearer {forged}")), "forged"),
        (Some("Bearer short".to_owned()), "malformed"),
        (Some(format!("Basic {token}")), "wrong scheme"),
        (None, "missing"),
    ] {
        let routes = baoming_server::api::routes(t.app.clone());
        let mut req = warp::test::request().method("GET").path("/api/account");
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let r = req.reply(&routes).await;
        let r = Response::new(r.status().as_u16(), Vec::new(), r.body().to_vec());
        assert_eq!(r.error_code(), (401, ErrorCode::Unauthorized), "{label}");
    }
    // An hour later (on the app's test clock) the session has expired.
    t.advance(3_600_000 + 1_000);
    let refused =
        call(&t.app, "GET", "/api/account", Some(&token), None).await.refused(401, ErrorCode::Unauthorized);
    assert!(refused.message.contains("expired"), "{refused:?}");
    assert_eq!(t.app.identity.sweep_sessions().await.expect("sweep"), 1, "the expired session is swept");
    assert_eq!(count(&t.app, Tree::Sessions), 0);
    call(&t.app, "GET", "/api/account", Some(&token), None).await.refused(401, ErrorCode::Unauthorized);
    audit::verify(t.app.db.store()).expect("audit");
}

#[tokio::test]
async fn change_password_revokes_other_sessions() {
    let t = TestApp::new();
    let a = register(&t.app, "zhao.liu@example.org").await;
    let login = j(json!({"login": "zhao.liu@example.org", "password": PASSWORD}));
    let b = call(&t.app, "POST", "/api/sessions", None, login.clone()).await.typed::<SessionAnswer>().token;
    let r = call(
        &t.app,
        "PUT",
        "/api/account/password",
        Some(&a),
        j(json!({"current_password": "Not-The-Password-1", "new_password": "River-Stone-77"})),
    )
    .await;
    r.refused(422, ErrorCode::CurrentPasswordWrong);
    let r = call(
        &t.app,
        "PUT",
        "/api/account/password",
        Some(&a),
        j(json!({"current_password": PASSWORD, "new_password": "123456"})),
    )
    .await;
    assert_eq!(r.error().status, 422);
    let r = call(
        &t.app,
        "PUT",
        "/api/account/password",
        Some(&a),
        j(json!({"current_password": PASSWORD, "new_password": "River-Stone-77"})),
    )
    .await;
    assert_eq!(r.typed::<PasswordChangeAnswer>().revoked_sessions, 1);
    call(&t.app, "GET", "/api/account", Some(&a), None).await.typed::<AccountAnswer>();
    call(&t.app, "GET", "/api/account", Some(&b), None).await.refused(401, ErrorCode::Unauthorized);
    call(&t.app, "POST", "/api/sessions", None, login).await.refused(401, ErrorCode::BadCredentials);
    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "zhao.liu@example.org", "password": "River-Stone-77"})),
    )
    .await;
    r.typed::<SessionAnswer>();
}
