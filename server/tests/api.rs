//! In-process handler tests: every endpoint, good and bad input, through `warp::test` on a real
//! sled database in a temporary folder. Answers are read through the REST contract as the
//! end-to-end tests read them.

mod support;

use serde_json::{Value, json};

use baoming_core::api::accounts::{AccountAnswer, LoginKind, PasswordChangeAnswer, Profile, SessionAnswer};
use baoming_core::api::catalog::{
    AgreementAnswer, CatalogAnswer, CenterDetail, CenterSeats, ExamAnswer, ExamAvailability, ExamSummary,
};
use baoming_core::api::error::ErrorCode;
use baoming_core::api::health::{Health, HealthStatus};
use baoming_core::api::operator::{
    AuditEntry, AuditVerification, CatalogImportAnswer, OperatorCenter, OperatorInfo, OperatorSessionAnswer,
    Role,
};
use baoming_core::api::paths;
use baoming_core::id_document::Gender;
use baoming_server::identity::captcha::read_digits;
use baoming_server::identity::notifier::list_outbox;
use baoming_server::state::App;
use baoming_server::store::Tree;
use baoming_server::store::audit;
use support::{CANDIDATE_PASSWORD as PASSWORD, OPERATOR_PASSWORD, Response, TestApp, resident_id};

const EXAM: &str = support::DEMO_EXAM;

async fn call(app: &App, method: &str, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Response {
    call_h(app, method, path, token, body, &[]).await
}

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

fn j(v: Value) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&v).expect("json"))
}

fn count(app: &App, tree: Tree) -> usize {
    app.db.store().scan_prefix(tree, b"").expect("scan").len()
}

async fn register(app: &App, login: &str) -> String {
    let r = call(app, "POST", "/api/accounts", None, j(json!({"login": login, "password": PASSWORD}))).await;
    r.expect(201).typed::<SessionAnswer>().token
}

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
async fn failed_logins_raise_a_captcha_not_a_lockout() {
    let t = TestApp::new();
    register(&t.app, "wang.wu@example.org").await;
    let bad = j(json!({"login": "wang.wu@example.org", "password": "Wrong-Password-9"}));
    for _ in 0..3 {
        let r = call(&t.app, "POST", "/api/sessions", None, bad.clone()).await;
        r.refused(401, ErrorCode::BadCredentials);
    }
    // Unknown accounts answer exactly like wrong passwords.
    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "nobody@example.org", "password": PASSWORD})),
    )
    .await;
    r.refused(401, ErrorCode::BadCredentials);

    let good = j(json!({"login": "wang.wu@example.org", "password": PASSWORD}));
    let r = call(&t.app, "POST", "/api/sessions", None, good).await;
    r.refused(401, ErrorCode::CaptchaRequired);

    let c = call(&t.app, "POST", "/api/captcha", None, None).await;
    assert_eq!((c.status, c.header("content-type")), (200, Some(paths::PNG)));
    let id = c.header(paths::CAPTCHA_ID).expect("id").to_owned();
    let answer = read_digits(&c.body).expect("readable captcha");
    let wrong: String = answer.chars().map(|ch| if ch == '1' { '2' } else { '1' }).collect();
    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "wang.wu@example.org", "password": PASSWORD, "captcha_id": id, "captcha_answer": wrong})),
    )
    .await;
    r.refused(401, ErrorCode::CaptchaWrong);

    let c = call(&t.app, "POST", "/api/captcha", None, None).await;
    let id = c.header(paths::CAPTCHA_ID).expect("id").to_owned();
    let answer = read_digits(&c.body).expect("readable captcha");
    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "wang.wu@example.org", "password": PASSWORD, "captcha_id": id, "captcha_answer": answer})),
    )
    .await;
    assert_eq!(r.status, 200, "the victim still gets in with a captcha: {}", r.text());
    r.typed::<SessionAnswer>();
    // Success clears the account's risk.
    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "wang.wu@example.org", "password": PASSWORD})),
    )
    .await;
    r.typed::<SessionAnswer>();
}

#[tokio::test]
async fn address_rate_limit_answers_429_with_retry_after() {
    let t = TestApp::with(|c| c.throttle.address_attempts_per_minute = 3);
    let body = j(json!({"login": "nobody@example.org", "password": PASSWORD}));
    for _ in 0..3 {
        call(&t.app, "POST", "/api/sessions", None, body.clone()).await;
    }
    let r = call(&t.app, "POST", "/api/sessions", None, body).await;
    r.refused(429, ErrorCode::TooManyRequests);
    assert!(r.header(paths::RETRY_AFTER).is_some());
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

#[tokio::test]
async fn profile_validates_id_documents_and_keeps_one_account_per_document() {
    let t = TestApp::new();
    let a = register(&t.app, "sun.qi@example.org").await;
    let b = register(&t.app, "zhou.ba@example.org").await;
    call(&t.app, "GET", "/api/account/profile", Some(&a), None).await.refused(404, ErrorCode::NotFound);

    let id = resident_id("11010519491231002");
    let mut wrong = id.clone();
    let last = if wrong.ends_with('0') { '1' } else { '0' };
    wrong.pop();
    wrong.push(last);
    let bad_cases = [
        (json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": wrong}), ErrorCode::IdChecksum),
        (json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": "1234"}), ErrorCode::IdLength),
        (
            json!({"legal_name": "孙七", "id_kind": "driving_licence", "id_number": id}),
            ErrorCode::IdUnknownKind,
        ),
        (json!({"legal_name": "", "id_kind": "resident_id", "id_number": id}), ErrorCode::LegalNameInvalid),
        (
            json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": id, "phone": "123"}),
            ErrorCode::LoginInvalid,
        ),
    ];
    for (body, code) in bad_cases {
        let r = call(&t.app, "PUT", "/api/account/profile", Some(&a), j(body)).await;
        r.refused(422, code);
    }
    assert_eq!(count(&t.app, Tree::AccountByIdDocument), 0, "nothing stored");

    let body = json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": id.to_lowercase(), "phone": "13800138000"});
    let stored: Profile =
        call(&t.app, "PUT", "/api/account/profile", Some(&a), j(body.clone())).await.typed();
    assert_eq!((stored.birth_date.as_deref(), stored.gender), (Some("1949-12-31"), Some(Gender::Female)));
    let read: Profile = call(&t.app, "GET", "/api/account/profile", Some(&a), None).await.typed();
    assert_eq!(read.legal_name, "孙七");
    // Setting the same profile again is fine (same account, same document).
    call(&t.app, "PUT", "/api/account/profile", Some(&a), j(body.clone())).await.typed::<Profile>();

    let r = call(&t.app, "PUT", "/api/account/profile", Some(&b), j(body)).await;
    r.refused(409, ErrorCode::IdDocumentTaken);
    let r = call(&t.app, "GET", "/api/account/profile", Some(&b), None).await;
    assert_eq!(r.error_code(), (404, ErrorCode::NotFound), "the refused profile was not stored");

    // Personal data is sealed at rest.
    let raw: Vec<u8> = t
        .app
        .db
        .store()
        .scan_prefix(Tree::Accounts, b"")
        .expect("scan")
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect();
    assert!(!raw.windows(id.len()).any(|w| w == id.as_bytes()), "ID number sealed");
    assert!(!raw.windows("孙七".len()).any(|w| w == "孙七".as_bytes()), "name sealed");

    // Moving account A to another document frees the first one for B.
    let other = resident_id("44030419900101123");
    let r = call(
        &t.app,
        "PUT",
        "/api/account/profile",
        Some(&a),
        j(json!({"legal_name": "孙七", "id_kind": "resident_id", "id_number": other})),
    )
    .await;
    r.typed::<Profile>();
    let r = call(
        &t.app,
        "PUT",
        "/api/account/profile",
        Some(&b),
        j(json!({"legal_name": "周八", "id_kind": "resident_id", "id_number": id})),
    )
    .await;
    r.typed::<Profile>();
    assert_eq!(count(&t.app, Tree::AccountByIdDocument), 2);
}

#[tokio::test]
async fn password_recovery_with_a_single_use_code() {
    let t = TestApp::new();
    let old = register(&t.app, "qian.jiu@example.org").await;
    let r =
        call(&t.app, "POST", "/api/password-recovery", None, j(json!({"login": "nobody@example.org"}))).await;
    assert_eq!(r.status, 202, "same answer for unknown accounts");
    assert!(list_outbox(t.app.db.store(), t.app.db.keys()).expect("outbox").is_empty());

    let r = call(&t.app, "POST", "/api/password-recovery", None, j(json!({"login": "qian.jiu@example.org"})))
        .await;
    assert_eq!(r.status, 202);
    let outbox = list_outbox(t.app.db.store(), t.app.db.keys()).expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message.to, "qian.jiu@example.org");
    let code: String = outbox[0]
        .message
        .body
        .split_whitespace()
        .find(|w| w.len() >= 6 && w.chars().take(6).all(|c| c.is_ascii_digit()))
        .map(|w| w.chars().take(6).collect())
        .expect("code in body");

    let reset =
        |code: &str, pw: &str| j(json!({"login": "qian.jiu@example.org", "code": code, "new_password": pw}));
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let r = call(&t.app, "POST", "/api/password-recovery/reset", None, reset(wrong_code, "Maple-Window-31"))
        .await;
    r.refused(422, ErrorCode::RecoveryCodeWrong);
    let r = call(&t.app, "POST", "/api/password-recovery/reset", None, reset(&code, "Maple-Window-31")).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = call(&t.app, "POST", "/api/password-recovery/reset", None, reset(&code, "Other-Window-32")).await;
    assert_eq!(r.error_code(), (422, ErrorCode::RecoveryCodeWrong), "single use");
    call(&t.app, "GET", "/api/account", Some(&old), None).await.refused(401, ErrorCode::Unauthorized);
    let r = call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "qian.jiu@example.org", "password": "Maple-Window-31"})),
    )
    .await;
    r.typed::<SessionAnswer>();
}

#[tokio::test]
async fn recovery_code_stops_after_too_many_wrong_attempts() {
    let t = TestApp::new();
    register(&t.app, "wu.shi@example.org").await;
    call(&t.app, "POST", "/api/password-recovery", None, j(json!({"login": "wu.shi@example.org"}))).await;
    let outbox = list_outbox(t.app.db.store(), t.app.db.keys()).expect("outbox");
    let code: String = outbox[0].message.body.chars().filter(char::is_ascii_digit).take(6).collect();
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for _ in 0..5 {
        let body =
            j(json!({"login": "wu.shi@example.org", "code": wrong, "new_password": "Maple-Window-31"}));
        call(&t.app, "POST", "/api/password-recovery/reset", None, body).await;
    }
    let body = j(json!({"login": "wu.shi@example.org", "code": code, "new_password": "Maple-Window-31"}));
    let r = call(&t.app, "POST", "/api/password-recovery/reset", None, body).await;
    assert_eq!(
        r.error_code(),
        (422, ErrorCode::RecoveryCodeWrong),
        "the right code no longer works after 5 misses"
    );
}

#[tokio::test]
async fn catalog_endpoints_with_etags() {
    let t = TestApp::new();
    let r = call(&t.app, "GET", "/api/exams", None, None).await;
    assert_eq!(r.typed::<Vec<ExamSummary>>()[0].id, EXAM);
    let etag = r.header(paths::ETAG).expect("etag").to_owned();
    let r = call_h(&t.app, "GET", "/api/exams", None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = call_h(&t.app, "GET", "/api/exams", None, None, &[("if-none-match", "\"stale\"")]).await;
    r.typed::<Vec<ExamSummary>>();

    for part in [
        "",
        "/agreement",
        "/announcements",
        "/guide",
        "/form",
        "/subjects",
        "/slots",
        "/centers",
        "/availability",
    ] {
        let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}{part}"), None, None).await;
        assert_eq!(r.status, 200, "{part}");
        assert!(r.header(paths::ETAG).is_some(), "{part}");
    }
    let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}/agreement"), None, None).await;
    assert_eq!(r.typed::<AgreementAnswer>().sha256.len(), 64);
    let r = call(&t.app, "GET", "/api/catalog", None, None).await;
    assert_eq!(r.typed::<CatalogAnswer>().exams[0].id, EXAM);

    let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}/availability"), None, None).await;
    let centers = r.typed::<ExamAvailability>().centers;
    assert_eq!(centers.len(), 4);
    for c in &centers {
        assert_eq!(c.free, c.total_capacity, "all free for now");
        for s in &c.subjects {
            assert_eq!((s.held, s.paid, s.free), (0, 0, s.capacity));
        }
    }
    let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}/centers/bj-haidian"), None, None).await;
    assert!(!r.typed::<CenterDetail>().subjects.is_empty());
    let r =
        call(&t.app, "GET", &format!("/api/exams/{EXAM}/centers/bj-haidian/availability"), None, None).await;
    assert_eq!(r.typed::<CenterSeats>().center, "bj-haidian");

    for bad in [
        "/api/exams/nope",
        "/api/exams/nope/agreement",
        &format!("/api/exams/{EXAM}/nope"),
        &format!("/api/exams/{EXAM}/centers/nope"),
    ] {
        let r = call(&t.app, "GET", bad, None, None).await;
        assert_eq!(r.error_code(), (404, ErrorCode::NotFound), "{bad}");
    }
}

#[tokio::test]
async fn operators_are_scoped_to_their_centers() {
    let t = TestApp::new();
    let admin = operator_login(&t.app, "admin", OPERATOR_PASSWORD).await;
    let r = call(&t.app, "GET", "/api/operator/me", Some(&admin), None).await;
    assert_eq!(r.typed::<OperatorInfo>().role, Role::Administrator);

    let create = |u: &str, role: &str, centers: Value| {
        j(json!({"username": u, "password": "Counter-Desk-58", "role": role, "centers": centers}))
    };
    let r = call(
        &t.app,
        "POST",
        "/api/operator/operators",
        Some(&admin),
        create("haidian", "center_operator", json!(["bj-haidian"])),
    )
    .await;
    r.expect(201).typed::<OperatorInfo>();
    let r = call(
        &t.app,
        "POST",
        "/api/operator/operators",
        Some(&admin),
        create("haidian", "center_operator", json!(["bj-haidian"])),
    )
    .await;
    r.refused(409, ErrorCode::UsernameTaken);
    let r = call(
        &t.app,
        "POST",
        "/api/operator/operators",
        Some(&admin),
        create("ghost", "center_operator", json!(["nowhere"])),
    )
    .await;
    r.refused(422, ErrorCode::CenterUnknown);
    let r = call(
        &t.app,
        "POST",
        "/api/operator/operators",
        Some(&admin),
        create("ghost", "center_operator", json!([])),
    )
    .await;
    r.refused(422, ErrorCode::CentersRequired);
    let r = call(
        &t.app,
        "POST",
        "/api/operator/operators",
        Some(&admin),
        j(json!({"username": "ghost", "password": "Counter-Desk-58", "role": "king"})),
    )
    .await;
    r.refused(422, ErrorCode::InvalidBody);
    let r =
        call(&t.app, "POST", "/api/operator/operators", Some(&admin), create("audit", "auditor", json!([])))
            .await;
    r.expect(201).typed::<OperatorInfo>();
    assert_eq!(count(&t.app, Tree::Operators), 3);

    let center = operator_login(&t.app, "haidian", "Counter-Desk-58").await;
    let seats = |c: &str| format!("/api/operator/exams/{EXAM}/centers/{c}/seats");
    let r = call(&t.app, "GET", &seats("bj-haidian"), Some(&center), None).await;
    r.typed::<CenterSeats>();
    let r = call(&t.app, "GET", &seats("bj-chaoyang"), Some(&center), None).await;
    // Read strictly, the refusal carries nothing but its code and message: no data leaks.
    let forbidden = r.refused(403, ErrorCode::Forbidden);
    assert_eq!(
        forbidden,
        baoming_core::api::error::ErrorBody::new(ErrorCode::Forbidden, forbidden.message.clone())
    );
    let r = call(&t.app, "GET", "/api/operator/centers", Some(&center), None).await;
    assert_eq!(r.typed::<Vec<OperatorCenter>>().len(), 1);
    let r = call(&t.app, "GET", "/api/operator/audit", Some(&center), None).await;
    r.refused(403, ErrorCode::Forbidden);
    let r =
        call(&t.app, "POST", "/api/operator/operators", Some(&center), create("x1x", "auditor", json!([])))
            .await;
    r.refused(403, ErrorCode::Forbidden);

    let auditor = operator_login(&t.app, "audit", "Counter-Desk-58").await;
    let r = call(&t.app, "GET", "/api/operator/audit?from=1&limit=5", Some(&auditor), None).await;
    let entries: Vec<AuditEntry> = r.typed();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].action, "system.seed");
    let r = call(&t.app, "GET", "/api/operator/audit/verify", Some(&auditor), None).await;
    assert!(r.typed::<AuditVerification>().intact);
    call(&t.app, "GET", "/api/operator/audit/verify", Some(&center), None)
        .await
        .refused(403, ErrorCode::Forbidden);
    let r = call(&t.app, "GET", "/api/operator/audit?limit=lots", Some(&auditor), None).await;
    r.refused(400, ErrorCode::BadRequest);
    call(&t.app, "GET", &seats("bj-chaoyang"), Some(&auditor), None).await.typed::<CenterSeats>();
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&auditor), Some(b"x".to_vec())).await;
    r.refused(403, ErrorCode::Forbidden);

    // Candidate tokens do not open operator routes, and the reverse.
    let cand = register(&t.app, "zheng.yi@example.org").await;
    call(&t.app, "GET", "/api/operator/me", Some(&cand), None).await.refused(401, ErrorCode::Unauthorized);
    call(&t.app, "GET", "/api/account", Some(&admin), None).await.refused(401, ErrorCode::Unauthorized);
    let r = call(
        &t.app,
        "POST",
        "/api/operator/sessions",
        None,
        j(json!({"username": "admin", "password": "Wrong-Pass-123"})),
    )
    .await;
    r.refused(401, ErrorCode::BadCredentials);

    let r = call(&t.app, "DELETE", "/api/operator/sessions/current", Some(&center), None).await;
    assert_eq!(r.status, 204);
    call(&t.app, "GET", "/api/operator/me", Some(&center), None).await.refused(401, ErrorCode::Unauthorized);
}

#[tokio::test]
async fn catalog_import_by_an_administrator() {
    let t = TestApp::new();
    let admin = operator_login(&t.app, "admin", OPERATOR_PASSWORD).await;
    let etag =
        async || call(&t.app, "GET", "/api/catalog", None, None).await.header(paths::ETAG).map(str::to_owned);
    let before = etag().await;
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&admin), Some(b"exam = 5".to_vec())).await;
    r.refused(422, ErrorCode::CatalogInvalid);
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&admin), Some(vec![0xff, 0xfe])).await;
    r.refused(422, ErrorCode::CatalogEncoding);
    assert_eq!(etag().await, before, "unchanged");

    let changed = baoming_core::catalog::DEMO_CATALOG_TOML.replace("subject_cap = 3", "subject_cap = 2");
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&admin), Some(changed.into_bytes())).await;
    r.typed::<CatalogImportAnswer>();
    let after = call(&t.app, "GET", &format!("/api/exams/{EXAM}"), None, None).await;
    assert_eq!(after.typed::<ExamAnswer>().subject_cap, 2);
    let entries = audit::read(t.app.db.store(), 1, 100).expect("audit");
    assert!(entries.iter().any(|e| e.action == "catalog.import"));
}

#[tokio::test]
async fn every_change_is_in_an_intact_audit_chain() {
    let t = TestApp::new();
    let token = register(&t.app, "feng.er@example.org").await;
    call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "feng.er@example.org", "password": PASSWORD})),
    )
    .await;
    call(&t.app, "DELETE", "/api/sessions/current", Some(&token), None).await;
    let actions: Vec<String> =
        audit::read(t.app.db.store(), 1, 100).expect("read").into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["system.seed", "account.register", "account.login", "account.logout"]);
    assert_eq!(audit::verify(t.app.db.store()).expect("verify"), 4);

    // Tamper with entry 2 directly in the tree: the online check reports it.
    let admin = operator_login(&t.app, "admin", OPERATOR_PASSWORD).await;
    let key = 2u64.to_be_bytes().to_vec();
    let raw = t.app.db.store().get(Tree::Audit, &key).expect("get").expect("entry");
    let edited = String::from_utf8_lossy(&raw).replace("account.register", "account.deleted!");
    let mut txn = baoming_server::store::Txn::new();
    txn.put(Tree::Audit, key, edited.into_bytes());
    t.app.db.store().commit(&txn).expect("tamper");
    let r = call(&t.app, "GET", "/api/operator/audit/verify", Some(&admin), None).await;
    let verified: AuditVerification = r.typed();
    assert_eq!((verified.intact, verified.broken_at), (false, Some(2)));
}

/// How many of the racing requests `tasks` won (answered with a `T`); every other must have lost
/// with 409 `loser`.
async fn winners<T: serde::de::DeserializeOwned + serde::Serialize>(
    tasks: Vec<tokio::task::JoinHandle<Response>>,
    loser: ErrorCode,
) -> usize {
    let mut won = 0;
    for task in tasks {
        let r = task.await.expect("join");
        if (200..300).contains(&r.status) {
            r.typed::<T>();
            won += 1;
        } else {
            r.refused(409, loser);
        }
    }
    won
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_and_profiles_keep_uniqueness() {
    let t = TestApp::new();
    let body = j(json!({"login": "race@example.org", "password": PASSWORD}));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, body) = (t.app.clone(), body.clone());
        tasks.push(tokio::spawn(async move { call(&app, "POST", "/api/accounts", None, body).await }));
    }
    assert_eq!(winners::<SessionAnswer>(tasks, ErrorCode::LoginTaken).await, 1, "one registration wins");
    assert_eq!(count(&t.app, Tree::Accounts), 1);

    let mut tokens = Vec::new();
    for i in 0..6 {
        tokens.push(register(&t.app, &format!("racer{i}@example.org")).await);
    }
    let id = resident_id("31011519851205002");
    let mut tasks = Vec::new();
    for token in tokens {
        let (app, id) = (t.app.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let body = j(json!({"legal_name": "赛跑", "id_kind": "resident_id", "id_number": id}));
            call(&app, "PUT", "/api/account/profile", Some(&token), body).await
        }));
    }
    assert_eq!(
        winners::<Profile>(tasks, ErrorCode::IdDocumentTaken).await,
        1,
        "one profile takes the document"
    );
    assert_eq!(count(&t.app, Tree::AccountByIdDocument), 1);
    audit::verify(t.app.db.store()).expect("audit intact under concurrency");
}

#[tokio::test]
async fn operator_login_also_raises_a_captcha() {
    let t = TestApp::new();
    let bad = j(json!({"username": "admin", "password": "Wrong-Pass-123"}));
    for _ in 0..3 {
        let r = call(&t.app, "POST", "/api/operator/sessions", None, bad.clone()).await;
        r.refused(401, ErrorCode::BadCredentials);
    }
    let good = j(json!({"username": "admin", "password": OPERATOR_PASSWORD}));
    let r = call(&t.app, "POST", "/api/operator/sessions", None, good).await;
    r.refused(401, ErrorCode::CaptchaRequired);
    let c = call(&t.app, "POST", "/api/captcha", None, None).await;
    let id = c.header(paths::CAPTCHA_ID).expect("id").to_owned();
    let answer = read_digits(&c.body).expect("readable");
    let body = j(
        json!({"username": "admin", "password": OPERATOR_PASSWORD, "captcha_id": id, "captcha_answer": answer}),
    );
    let r = call(&t.app, "POST", "/api/operator/sessions", None, body).await;
    r.typed::<OperatorSessionAnswer>();
}
