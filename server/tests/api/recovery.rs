//! Password recovery: the same answer for unknown accounts, a code sent by mail that works once,
//! and a code that stops working after too many wrong attempts.

use serde_json::json;

use baoming_core::api::accounts::SessionAnswer;
use baoming_core::api::error::ErrorCode;
use baoming_server::identity::notifier::list_outbox;

use super::support::TestApp;
use super::{call, j, register};

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
