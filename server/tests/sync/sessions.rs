//! A sync connection lives as long as its session, no longer. One candidate logs in twice
//! (sessions A and B); B keeps a raw WebSocket and the device client's background sync open.
//! Logout, a password change from A, a recovery reset and expiry (the test clock moved past it)
//! each close B's socket within a second with close code 4401 and the reason, and stop the
//! device client with `Unauthorized`; B can no longer sync; A's connections live on where A's
//! session does. A ticket issued before the end no longer upgrades.

use std::sync::Arc;
use std::time::Duration;

use baoming_client::{Backoff, ClientConfig, ClientError, ClientEvent, RunHandle, SyncClient};
use baoming_core::api::accounts::{
    PasswordChangeAnswer, PasswordChangeRequest, RecoveryAnswer, RecoveryRequest, RecoveryResetRequest,
};
use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::sync::{SESSION_ENDED_CLOSE_CODE, SessionEnd, SyncTicket};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::support::{self, CANDIDATE_PASSWORD, MailSink, Server, delete, post, put};
use super::{Device, EXAM, Ws, account, connect, upgrade};

/// The most an ended session's connections may stay open.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);
/// How long a device's first sync may take.
const SYNC: Duration = Duration::from_secs(20);

/// A session's live connections: a raw socket (joined) and the device client's background sync
/// (in sync).
struct Live {
    ws: Ws,
    run: RunHandle,
    client: SyncClient,
    _store: tempfile::TempDir,
}

/// Opens `token`'s live connections on `server`.
async fn live(server: &Server, account_id: &str, token: &str) -> Live {
    let store = tempfile::tempdir().expect("tempdir");
    let mut config = ClientConfig::new(store.path(), &server.url(""), account_id);
    config.backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(400), jitter: 0.5 };
    config.connect_timeout = Duration::from_secs(5);
    let client = SyncClient::open(config, token).expect("client");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    client.set_listener(Some(Arc::new(tx)));
    client.open_registration(EXAM).expect("registration");
    client.edit(EXAM, |d| d.set_field("name", "林一")).expect("edit");
    let run = client.start();
    let synced = async {
        while let Some(event) = events.recv().await {
            if matches!(event, ClientEvent::Synced) {
                return;
            }
        }
    };
    tokio::time::timeout(SYNC, synced).await.expect("the live sync gets in sync");
    let ws = connect(server.addr, token, None).await;
    Live { ws, run, client, _store: store }
}

/// The close frame the server ends `ws` with: (code, reason); `None` if it ends without one.
async fn close_frame(ws: &mut Ws) -> Option<(u16, String)> {
    while let Some(frame) = ws.next().await {
        match frame {
            Ok(Message::Close(Some(close))) => return Some((close.code.into(), close.reason.to_string())),
            Ok(Message::Close(None)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

impl Live {
    /// The session ended for `why`: within [`CLOSE_WITHIN`] the socket gets close code 4401 with
    /// the reason and the device client stops with `Unauthorized`; a sync attempt afterwards is
    /// refused the same way (its edits go nowhere).
    async fn ends(self, why: SessionEnd) {
        let Live { mut ws, run, client, _store } = self;
        let both = async { tokio::join!(close_frame(&mut ws), run.wait()) };
        let (frame, stopped) = tokio::time::timeout(CLOSE_WITHIN, both).await.unwrap_or_else(|_| {
            panic!("the connections of a session ended for {why} are still open after 1 s")
        });
        assert_eq!(frame, Some((SESSION_ENDED_CLOSE_CODE, why.as_str().to_owned())));
        assert!(matches!(stopped, Err(ClientError::Unauthorized)), "the device client: {stopped:?}");
        client.edit(EXAM, |d| d.set_field("name", "林二")).expect("an edit on the device");
        assert!(matches!(client.sync_now(SYNC).await, Err(ClientError::Unauthorized)));
    }

    /// The session lives on: the raw socket still syncs and the device client still runs.
    async fn lives_on(mut self, account_id: &str) {
        let mut device = Device::new(account_id, 40);
        assert!(device.sync_with(&mut self.ws).await > 1, "the socket still answers");
        assert_eq!(device.doc.draft().fields.get("name").map(String::as_str), Some("林一"));
        assert!(!self.run.is_finished(), "the device client still runs");
        self.run.stop().await.expect("stops cleanly");
    }
}

/// Runs a blocking request off the runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("the blocking call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_closes_the_sessions_live_sync_within_a_second() {
    let server = support::start_server();
    let addr = server.addr;
    let (account_id, a) = blocking(move || account(addr, "logout@example.org")).await;
    let (_, b) = blocking(move || account(addr, "logout@example.org")).await;
    let live_a = live(&server, &account_id, &a).await;
    let live_b = live(&server, &account_id, &b).await;
    blocking(move || delete(addr, paths::SESSIONS_CURRENT).token(&b).send().expect(204).status).await;
    live_b.ends(SessionEnd::LoggedOut).await;
    live_a.lives_on(&account_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_closes_the_other_sessions_live_sync_within_a_second() {
    let server = support::start_server();
    let addr = server.addr;
    let (account_id, a) = blocking(move || account(addr, "password@example.org")).await;
    let (_, b) = blocking(move || account(addr, "password@example.org")).await;
    let live_a = live(&server, &account_id, &a).await;
    let live_b = live(&server, &account_id, &b).await;
    let token = a.clone();
    let answer: PasswordChangeAnswer = blocking(move || {
        let req = PasswordChangeRequest {
            current_password: CANDIDATE_PASSWORD.into(),
            new_password: "Quiet-Meadow-77".into(),
        };
        put(addr, paths::ACCOUNT_PASSWORD).token(&token).json(&req).send().expect(200).typed()
    })
    .await;
    assert_eq!(answer.revoked_sessions, 2, "B and the session registering the account opened");
    live_b.ends(SessionEnd::PasswordChanged).await;
    live_a.lives_on(&account_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_reset_closes_every_live_sync_of_the_account_within_a_second() {
    let mail = MailSink::start();
    let server = support::server().smtp(mail.addr).start();
    let addr = server.addr;
    const LOGIN: &str = "recovery@example.org";
    let (account_id, a) = blocking(move || account(addr, LOGIN)).await;
    let (_, b) = blocking(move || account(addr, LOGIN)).await;
    let live_a = live(&server, &account_id, &a).await;
    let live_b = live(&server, &account_id, &b).await;
    blocking(move || {
        let asked: RecoveryAnswer = post(addr, paths::PASSWORD_RECOVERY)
            .json(&RecoveryRequest { login: LOGIN.into() })
            .send()
            .typed();
        assert_eq!(asked.status, RecoveryAnswer::STATUS);
        let reset = RecoveryResetRequest {
            login: LOGIN.into(),
            code: mail.recovery_code(LOGIN),
            new_password: "Quiet-Meadow-78".into(),
        };
        post(addr, paths::PASSWORD_RECOVERY_RESET).json(&reset).send().expect(204);
    })
    .await;
    tokio::join!(live_a.ends(SessionEnd::PasswordReset), live_b.ends(SessionEnd::PasswordReset));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_reaching_its_expiry_closes_its_live_sync_within_a_second() {
    const TTL_SECS: u64 = 3600;
    let server = support::server().env("BAOMING_SESSION_TTL_SECS", TTL_SECS).start();
    let addr = server.addr;
    let (account_id, b) = blocking(move || account(addr, "expiry@example.org")).await;
    let mut live_b = live(&server, &account_id, &b).await;
    // A minute before the expiry nothing happens: the socket still syncs …
    server.advance_without_sweep((TTL_SECS - 60) * 1000);
    let mut device = Device::new(&account_id, 41);
    assert!(device.sync_with(&mut live_b.ws).await > 1, "still open a minute before the expiry");
    // … and when the clock passes it, nobody calling anything, the connections close.
    server.advance_without_sweep(61 * 1000);
    live_b.ends(SessionEnd::Expired).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_issued_before_its_session_ended_no_longer_upgrades() {
    let server = support::start_server();
    let addr = server.addr;
    let (_, a) = account(addr, "ticket-end@example.org");
    let (_, b) = account(addr, "ticket-end@example.org");
    let (_, c) = account(addr, "ticket-end@example.org");
    let ticket = |token: &str| -> String {
        post(addr, paths::SYNC_TICKETS).token(token).send().expect(201).typed::<SyncTicket>().ticket
    };
    let (before_logout, before_change, kept) = (ticket(&b), ticket(&c), ticket(&a));
    delete(addr, paths::SESSIONS_CURRENT).token(&b).send().expect(204);
    let req = PasswordChangeRequest {
        current_password: CANDIDATE_PASSWORD.into(),
        new_password: "Quiet-Meadow-79".into(),
    };
    put(addr, paths::ACCOUNT_PASSWORD).token(&a).json(&req).send().expect(200);
    for (ticket, why) in
        [(before_logout, "logged out"), (before_change, "password changed by another session")]
    {
        let refused = upgrade(addr, &format!("?ticket={ticket}"), &[]).await.err();
        let refused = refused.unwrap_or_else(|| panic!("a ticket of a session that {why} still upgrades"));
        refused.refused(401, ErrorCode::Unauthorized);
    }
    // The session that changed the password lives on, and so does its ticket.
    let mut ws = upgrade(addr, &format!("?ticket={kept}"), &[]).await.expect("a live session's ticket");
    super::join(&mut ws, None).await;
}
