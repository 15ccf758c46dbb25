//! Login throttling: failed logins raise a captcha rather than lock the account out (for
//! candidates and operators alike), and one address's burst of attempts is answered 429.

use serde_json::json;

use baoming_core::api::accounts::SessionAnswer;
use baoming_core::api::error::ErrorCode;
use baoming_core::api::operator::OperatorSessionAnswer;
use baoming_core::api::paths;
use baoming_server::identity::captcha::read_digits;

use super::support::{CANDIDATE_PASSWORD as PASSWORD, OPERATOR_PASSWORD, TestApp};
use super::{call, j, register};

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
