//! Recovery codes go out through a configured SMTP relay: the support crate's small SMTP server
//! ([`support::MailSink`]) receives the real SMTP conversation from the notifier.

mod support;

use serde_json::json;

use baoming_server::config::SmtpConfig;
use baoming_server::identity::notifier::list_outbox;
use support::{MailSink, TestApp};

#[tokio::test]
async fn recovery_code_is_sent_by_smtp_when_configured() {
    let sink = MailSink::start();
    let port = sink.addr.port();
    let t = TestApp::with(|c| {
        c.smtp = Some(SmtpConfig { host: "127.0.0.1".into(), port, from: "noreply@baoming.test".into() })
    });
    let routes = baoming_server::api::routes(t.app.clone());
    let r = warp::test::request()
        .method("POST")
        .path("/api/accounts")
        .json(&json!({"login": "mail@example.org", "password": "Lantern-Harbor-42"}))
        .reply(&routes)
        .await;
    assert_eq!(r.status(), 201);
    let r = warp::test::request()
        .method("POST")
        .path("/api/password-recovery")
        .json(&json!({"login": "mail@example.org"}))
        .reply(&routes)
        .await;
    assert_eq!(r.status(), 202);

    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one message delivered by SMTP");
    assert!(mails[0].contains("To: mail@example.org"), "{}", mails[0]);
    let code = sink.recovery_code("mail@example.org");
    assert!(code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()), "the code reads back: {code}");
    assert!(
        list_outbox(t.app.db.store(), t.app.db.keys()).expect("outbox").is_empty(),
        "nothing in the outbox"
    );

    // Mobile numbers have no SMS gateway: their codes land in the outbox.
    let r = warp::test::request()
        .method("POST")
        .path("/api/accounts")
        .json(&json!({"login": "13700001111", "password": "Lantern-Harbor-42"}))
        .reply(&routes)
        .await;
    assert_eq!(r.status(), 201);
    warp::test::request()
        .method("POST")
        .path("/api/password-recovery")
        .json(&json!({"login": "13700001111"}))
        .reply(&routes)
        .await;
    let outbox = list_outbox(t.app.db.store(), t.app.db.keys()).expect("outbox");
    assert_eq!((outbox.len(), outbox[0].channel.as_str()), (1, "sms"));
}
