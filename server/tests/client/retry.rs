//! The server's `Retry-After` reaches the device client: a 429 from the login throttle, read by
//! the client's HTTP layer into the typed error the outbox's backoff honours.

use baoming_client::AccountApi;

use super::*;

#[tokio::test]
async fn the_login_throttles_retry_after_reaches_the_clients_error() {
    let server = support::server().env("BAOMING_THROTTLE__ADDRESS_ATTEMPTS_PER_MINUTE", 2).start();
    let addr = server.addr;
    let refused = tokio::task::spawn_blocking(move || {
        let api = AccountApi::new(&format!("http://{addr}"), SYNC).expect("client");
        let mut last = None;
        for _ in 0..3 {
            last = Some(api.login("nobody@example.org", "Wrong-Password-9", None));
        }
        last
    })
    .await
    .expect("join")
    .expect("three attempts");
    let e = refused.expect_err("the third attempt in a minute is refused");
    match &e {
        ClientError::Server { status: 429, code: ErrorCode::TooManyRequests, retry_after, .. } => {
            let wait = retry_after.expect("the server says when to come back");
            assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60), "{wait:?}");
            assert_eq!(e.retry_after(), Some(wait));
        }
        other => panic!("expected 429 too_many_requests, got {other:?}"),
    }
    let wrong = ClientError::Network("down".into());
    assert_eq!(wrong.retry_after(), None, "only the server's answers carry one");
}
