//! The sync cookie: what a browser's WebSocket, which sets no headers, authenticates with. It
//! authenticates every reconnection — after a dropped connection and after a restart of the
//! server — for as long as its session lives, and no longer; a page of a foreign origin cannot
//! use it.

use std::net::SocketAddr;
use std::time::Duration;

use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::sync::{
    SESSION_ENDED_CLOSE_CODE, SYNC_COOKIE, SYNC_COOKIE_PATH, SessionEnd, SyncCookie,
};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::support::{self, Response, delete, post};
use super::{Device, Ws, account, join, upgrade};

/// The sync cookie of the session `token`: the answer, and the `Set-Cookie` header as sent.
fn sync_cookie(addr: SocketAddr, token: &str) -> (SyncCookie, String) {
    let r = post(addr, paths::SYNC_COOKIE).token(token).send();
    let answer: SyncCookie = r.expect(200).typed();
    let header = r.header(paths::SET_COOKIE).expect("a Set-Cookie header").to_owned();
    (answer, header)
}

/// The `name=value` pair of a `Set-Cookie` header, as a browser sends it back.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().trim().to_owned()
}

/// The upgrade a browser page at `origin` makes with the cookie `pair`.
async fn with_cookie(addr: SocketAddr, pair: &str, origin: Option<&str>) -> Result<Ws, Response> {
    let mut headers = vec![(paths::COOKIE, pair)];
    headers.extend(origin.map(|o| (paths::ORIGIN, o)));
    upgrade(addr, "", &headers).await
}

/// A socket authenticated by the cookie from the server's own origin, joined.
async fn cookie_socket(addr: SocketAddr, pair: &str) -> Ws {
    let own = format!("http://{addr}");
    let mut ws = with_cookie(addr, pair, Some(&own)).await.expect("the cookie authenticates the upgrade");
    join(&mut ws, None).await;
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_cookie_survives_reconnections_and_a_restart_and_dies_with_its_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    let (account_id, token) = account(addr, "cookie@example.org");
    let (answer, set_cookie) = sync_cookie(addr, &token);
    assert_eq!((answer.cookie.as_str(), answer.path.as_str()), (SYNC_COOKIE, SYNC_COOKIE_PATH));
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).skip(1).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/api/sync"] {
        assert!(attributes.contains(&wanted), "{wanted} in {set_cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain HTTP: not Secure ({set_cookie})");
    assert!(attributes.iter().any(|a| a.starts_with("Max-Age=")), "{set_cookie}");
    post(addr, paths::SYNC_COOKIE).send().refused(401, ErrorCode::Unauthorized);
    let pair = cookie_pair(&set_cookie);

    // An edit through the cookie, then a dropped connection and a reconnection with the same
    // cookie (a single-use ticket in the URL would be refused here).
    let mut device = Device::new(&account_id, 50);
    device.doc.set_field("name", "曲奇").expect("edit");
    let mut ws = cookie_socket(addr, &pair).await;
    device.sync_with(&mut ws).await;
    drop(ws);
    let mut fresh = Device::new(&account_id, 51);
    fresh.sync_with(&mut cookie_socket(addr, &pair).await).await;
    assert_eq!(fresh.doc.draft().fields.get("name").map(String::as_str), Some("曲奇"));

    // The server restarts on the same database: the cookie still works.
    drop(server);
    let server = support::server().data_dir(dir.path()).listen(addr).start();
    let mut ws = cookie_socket(server.addr, &pair).await;
    let mut again = Device::new(&account_id, 52);
    again.sync_with(&mut ws).await;
    assert_eq!(again.doc.draft().fields.get("name").map(String::as_str), Some("曲奇"));

    // Logout ends the session: the cookie's socket closes within a second, the answer tells the
    // browser to forget the cookie, and the cookie no longer upgrades.
    let out = delete(addr, paths::SESSIONS_CURRENT).token(&token).send();
    out.expect(204);
    let forget = out.header(paths::SET_COOKIE).expect("logout clears the cookie");
    assert!(forget.starts_with(&format!("{SYNC_COOKIE}=;")) && forget.contains("Max-Age=0"), "{forget}");
    let closed = tokio::time::timeout(Duration::from_secs(1), ws.next()).await.expect("closed within 1 s");
    match closed {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), SESSION_ENDED_CLOSE_CODE);
            assert_eq!(close.reason.as_str(), SessionEnd::LoggedOut.as_str());
        }
        other => panic!("expected the session-ended close, got {other:?}"),
    }
    let own = format!("http://{addr}");
    let refused = with_cookie(addr, &pair, Some(&own)).await.expect_err("a dead session's cookie is refused");
    refused.refused(401, ErrorCode::Unauthorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_foreign_origin_cannot_use_the_cookie() {
    let server = support::server().env("BAOMING_WEB__ORIGINS", "https://app.example.org").start();
    let addr = server.addr;
    let (_, token) = account(addr, "origin@example.org");
    let pair = cookie_pair(&sync_cookie(addr, &token).1);
    for origin in [Some("http://evil.example"), Some("https://app.example.org.evil.example"), None] {
        let refused = with_cookie(addr, &pair, origin).await.err();
        let refused = refused.unwrap_or_else(|| panic!("the cookie worked from {origin:?}"));
        let body = refused.refused(403, ErrorCode::OriginRefused);
        assert!(!body.message.is_empty());
    }
    // A forged cookie from a foreign page is refused for its origin before anything else.
    with_cookie(addr, "bm_sync=bmc_00", Some("http://evil.example"))
        .await
        .expect_err("refused")
        .refused(403, ErrorCode::OriginRefused);
    // The server's own origin and the configured one may; a bearer token needs no origin.
    for origin in [format!("http://{addr}"), "https://app.example.org".to_owned()] {
        let mut ws = with_cookie(addr, &pair, Some(&origin)).await.expect("an allowed origin");
        join(&mut ws, None).await;
    }
    let bearer = format!("{}{token}", paths::BEARER_PREFIX);
    let headers = [(paths::AUTHORIZATION, bearer.as_str()), (paths::ORIGIN, "http://evil.example")];
    join(&mut upgrade(addr, "", &headers).await.expect("bearer"), None).await;
    // Forged cookies from the server's own origin are unknown credentials: garbage, and the
    // real cookie with its MAC's last digit changed.
    let last = if pair.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &pair[..pair.len() - 1]);
    for forged in ["bm_sync=bmc_00", tampered.as_str()] {
        with_cookie(addr, forged, Some(&format!("http://{addr}")))
            .await
            .expect_err("refused")
            .refused(401, ErrorCode::Unauthorized);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_cookie_is_secure_and_the_own_origin_is_https() {
    let server = support::server().env("BAOMING_WEB__HTTPS", "true").start();
    let addr = server.addr;
    let (_, token) = account(addr, "tls@example.org");
    let set_cookie = sync_cookie(addr, &token).1;
    assert!(set_cookie.split(';').any(|a| a.trim() == "Secure"), "{set_cookie}");
    let pair = cookie_pair(&set_cookie);
    let refused = with_cookie(addr, &pair, Some(&format!("http://{addr}"))).await.expect_err("refused");
    refused.refused(403, ErrorCode::OriginRefused);
    let mut ws = with_cookie(addr, &pair, Some(&format!("https://{addr}"))).await.expect("https origin");
    join(&mut ws, None).await;
}
