//! Recovery codes go out through a configured SMTP relay: a small SMTP server run by the test
//! receives the real SMTP conversation from the notifier.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use baoming_server::config::SmtpConfig;
use baoming_server::identity::notifier::list_outbox;
use support::TestApp;

/// Accepts SMTP sessions and records each message's DATA.
async fn smtp_server(listener: TcpListener, received: Arc<Mutex<Vec<String>>>) {
    while let Ok((sock, _)) = listener.accept().await {
        let received = received.clone();
        tokio::spawn(async move {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            if w.write_all(b"220 test.local ESMTP\r\n").await.is_err() {
                return;
            }
            let mut in_data = false;
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        received.lock().expect("lock").push(std::mem::take(&mut data));
                        let _ = w.write_all(b"250 queued\r\n").await;
                    } else {
                        data.push_str(&line);
                        data.push('\n');
                    }
                    continue;
                }
                let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 test.local\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"250 ok\r\n",
                };
                if w.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test]
async fn recovery_code_is_sent_by_smtp_when_configured() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(smtp_server(listener, received.clone()));

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

    let mails = received.lock().expect("lock").clone();
    assert_eq!(mails.len(), 1, "one message delivered by SMTP");
    assert!(mails[0].contains("To: mail@example.org"), "{}", mails[0]);
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
