//! End-to-end tests of the device client (`baoming_client::SyncClient`) — its sync
//! and its outbox of lifecycle actions — against the real server: the release of the binary
//! where only the wire matters, the server's own app in-process where a test must drive a status
//! change (no debug endpoint exists in the binary).

#[path = "../support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use baoming_client::{
    ActionOutcome, ActionRefusal, ActionResult, Backoff, ChangeOrigin, ClientConfig, ClientError,
    ClientEvent, ClientListener, ConnectionState, RefusalCode, SyncClient, UploadEvent,
};
use baoming_core::api::error::{ErrorBody, ErrorCode};
use baoming_core::api::paths;
use baoming_core::api::registrations::{CandidateAction, SubmitRequest};
use baoming_core::draft::ServerSection;
use baoming_core::lifecycle::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{
    Server, TestApp, availability, candidate_session, registration, strict_value, wait_until_async,
};

mod actions;
mod retry;

const EXAM: &str = support::DEMO_EXAM;
const SYNC: Duration = Duration::from_secs(20);

fn account(addr: SocketAddr, login: &str) -> (String, String) {
    candidate_session(addr, login)
}

/// Records every event for the test to inspect.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<ClientEvent>>,
}

impl ClientListener for Recorder {
    fn on_event(&self, event: ClientEvent) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(event);
    }
}

impl Recorder {
    fn count(&self, pred: impl Fn(&ClientEvent) -> bool) -> usize {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|e| pred(e)).count()
    }

    /// Waits until `pred` holds for the events so far (the events are shown if it never does).
    async fn wait_for(&self, what: &str, pred: impl Fn(&[ClientEvent]) -> bool) {
        let waiting = Waiting { what, recorder: self };
        wait_until_async(waiting, SYNC, async || {
            pred(&self.events.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await;
    }

    /// Waits until at least `n` events match.
    async fn wait_count(&self, what: &str, n: usize, pred: impl Fn(&ClientEvent) -> bool) {
        self.wait_for(what, |evs| evs.iter().filter(|e| pred(e)).count() >= n).await;
    }
}

/// What a device waits for, with the events it had seen when it gave up.
struct Waiting<'a> {
    what: &'a str,
    recorder: &'a Recorder,
}

impl std::fmt::Display for Waiting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let events = self.recorder.events.lock().unwrap_or_else(PoisonError::into_inner);
        write!(f, "{}: {:#?}", self.what, *events)
    }
}

/// A device: its own store folder, a client on it and a recorder of its events.
struct Device {
    client: SyncClient,
    events: Arc<Recorder>,
    _dir: tempfile::TempDir,
}

fn device(addr: SocketAddr, account_id: &str, token: &str) -> Device {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ClientConfig::new(dir.path(), &format!("http://{addr}"), account_id);
    config.backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(800), jitter: 0.5 };
    config.connect_timeout = Duration::from_secs(5);
    config.ping_interval = Duration::from_secs(2);
    let client = SyncClient::open(config, token).expect("open client");
    let events = Arc::new(Recorder::default());
    client.set_listener(Some(events.clone()));
    client.open_registration(EXAM).expect("registration");
    Device { client, events, _dir: dir }
}

fn field(client: &SyncClient, key: &str) -> Option<String> {
    client.draft(EXAM).expect("draft").fields.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_edit_offline_and_converge_over_websocket_in_either_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "client-ws@example.org");
    let a = device(server.addr, &account_id, &token);
    let b = device(server.addr, &account_id, &token);

    for round in 0..2 {
        let (first, second) = if round == 0 { (&a, &b) } else { (&b, &a) };
        first.client.edit(EXAM, |d| d.set_field("name", &format!("张三{round}"))).expect("edit");
        first.client.edit(EXAM, |d| d.set_field("email", &format!("a{round}@example.cn"))).expect("edit");
        second.client.edit(EXAM, |d| d.set_field("mobile", &format!("1380013800{round}"))).expect("edit");
        second.client.edit(EXAM, |d| d.set_field("email", &format!("b{round}@example.cn"))).expect("edit");

        let r1 = first.client.sync_now(SYNC).await.expect("first syncs");
        assert!(r1.sent >= 1 && r1.rejected.is_empty(), "{r1:?}");
        let r2 = second.client.sync_now(SYNC).await.expect("second syncs");
        assert_eq!(r2.changed, vec![EXAM.to_owned()], "the second device received the first's edits");
        first.client.sync_now(SYNC).await.expect("first again");

        let (da, db) = (a.client.draft(EXAM).expect("a"), b.client.draft(EXAM).expect("b"));
        assert_eq!(da, db, "round {round}: both devices hold the same draft");
        assert_eq!(da.fields.get("name"), Some(&format!("张三{round}")));
        assert_eq!(da.fields.get("mobile"), Some(&format!("1380013800{round}")));
        assert!(da.fields.get("email").is_some_and(|e| e.ends_with(&format!("{round}@example.cn"))));
    }
    // In sync: another exchange is short and changes nothing.
    let quiet = a.client.sync_now(SYNC).await.expect("quiet");
    assert!(quiet.changed.is_empty() && quiet.sent <= 2, "{quiet:?}");
    assert!(a.events.count(|e| matches!(e, ClientEvent::Synced)) >= 3);
    assert!(
        b.events.count(|e| matches!(e, ClientEvent::DocumentChanged { origin: ChangeOrigin::Remote, .. }))
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_batch_form_converges_with_websocket_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "client-batch@example.org");
    let live = device(server.addr, &account_id, &token);
    let background = device(server.addr, &account_id, &token);

    live.client.edit(EXAM, |d| d.set_field("name", "赵六")).expect("edit");
    live.client.sync_now(SYNC).await.expect("ws sync");
    background.client.edit(EXAM, |d| d.set_field("mobile", "13600136000")).expect("offline edit");
    let report = background.client.sync_batch(SYNC).await.expect("batch sync");
    assert_eq!(report.changed, vec![EXAM.to_owned()]);
    assert_eq!(field(&background.client, "name").as_deref(), Some("赵六"));
    live.client.sync_now(SYNC).await.expect("ws sync");
    assert_eq!(field(&live.client, "mobile").as_deref(), Some("13600136000"));
    assert_eq!(live.client.draft(EXAM).expect("a"), background.client.draft(EXAM).expect("b"));
    let quiet = background.client.sync_batch(SYNC).await.expect("quiet batch");
    assert!(quiet.changed.is_empty() && quiet.sent <= 2, "{quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_edit_reaches_the_other_devices_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "client-live@example.org");
    let a = device(server.addr, &account_id, &token);
    let b = device(server.addr, &account_id, &token);
    let (run_a, run_b) = (a.client.start(), b.client.start());
    a.events.wait_count("a in sync", 1, |e| matches!(e, ClientEvent::Synced)).await;
    b.events.wait_count("b in sync", 1, |e| matches!(e, ClientEvent::Synced)).await;

    let started = Instant::now();
    a.client.edit(EXAM, |d| d.set_field("name", "王五")).expect("edit");
    b.events
        .wait_count("the pushed change", 1, |e| {
            matches!(e, ClientEvent::DocumentChanged { origin: ChangeOrigin::Remote, exam_id } if exam_id == EXAM)
        })
        .await;
    assert_eq!(field(&b.client, "name").as_deref(), Some("王五"));
    assert!(started.elapsed() < Duration::from_secs(5), "pushed live, not polled");

    // And back, while both stay connected.
    b.client.edit(EXAM, |d| d.set_field("mobile", "13900139000")).expect("edit");
    a.events
        .wait_for("b's edit at a", |_| field(&a.client, "mobile").as_deref() == Some("13900139000"))
        .await;

    run_a.stop().await.expect("a stops cleanly");
    run_b.stop().await.expect("b stops cleanly");
    for d in [&a, &b] {
        let evs = d.events.events.lock().expect("events");
        assert!(matches!(
            evs.last(),
            Some(ClientEvent::Connection(ConnectionState::Offline { retry_in: None, .. }))
        ));
        assert_eq!(
            evs.iter().filter(|e| matches!(e, ClientEvent::Connection(ConnectionState::Connecting))).count(),
            1,
            "one connection, no reconnects"
        );
    }
}

/// Starts the binary on a fixed address (to restart it where the client expects it).
fn start_at(data_dir: &Path, addr: SocketAddr) -> Server {
    support::server().data_dir(data_dir).listen(addr).start()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_client_reconnects_after_a_server_restart_and_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    let (account_id, token) = account(addr, "client-restart@example.org");
    let a = device(addr, &account_id, &token);
    let run = a.client.start();
    a.events.wait_count("online", 1, |e| matches!(e, ClientEvent::Connection(ConnectionState::Online))).await;
    a.events.wait_count("in sync", 1, |e| matches!(e, ClientEvent::Synced)).await;

    server.crash();
    a.events
        .wait_count("offline with a retry", 1, |e| {
            matches!(e, ClientEvent::Connection(ConnectionState::Offline { retry_in: Some(_), .. }))
        })
        .await;
    // Edits go on offline; retries fail while the server is down, spaced out by the backoff
    // (100 ms doubling, at least half of each delay kept: three take 350 ms at the least).
    a.client.edit(EXAM, |d| d.set_field("name", "离线编辑")).expect("offline edit");
    let offline = |e: &ClientEvent| matches!(e, ClientEvent::Connection(ConnectionState::Offline { .. }));
    let (since, before) = (Instant::now(), a.events.count(offline));
    a.events.wait_count("three more failed attempts", before + 3, offline).await;
    assert!(
        since.elapsed() >= Duration::from_millis(300),
        "backoff, not a retry storm: {:?}",
        since.elapsed()
    );

    let server = start_at(dir.path(), addr);
    a.events
        .wait_count("online again", 2, |e| matches!(e, ClientEvent::Connection(ConnectionState::Online)))
        .await;
    a.events.wait_count("in sync again", 2, |e| matches!(e, ClientEvent::Synced)).await;
    {
        let evs = a.events.events.lock().expect("events");
        let states: Vec<&ConnectionState> = evs
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Connection(s) => Some(s),
                _ => None,
            })
            .collect();
        let first_offline = states.iter().position(|s| matches!(s, ConnectionState::Offline { .. }));
        let last_online = states.iter().rposition(|s| matches!(s, ConnectionState::Online));
        assert!(first_offline.is_some() && first_offline < last_online, "offline → online: {states:?}");
    }
    // The offline edit reached the restarted server.
    let b = device(server.addr, &account_id, &token);
    b.client.sync_now(SYNC).await.expect("b syncs");
    assert_eq!(field(&b.client, "name").as_deref(), Some("离线编辑"));
    run.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_a_typed_error_without_a_retry_storm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, _) = account(server.addr, "client-auth@example.org");
    let d = device(server.addr, &account_id, "bm_not-a-session-token");
    assert!(matches!(d.client.sync_now(SYNC).await, Err(ClientError::Unauthorized)));
    assert!(matches!(d.client.sync_batch(SYNC).await, Err(ClientError::Unauthorized)));

    let run = d.client.start();
    let ended = tokio::time::timeout(Duration::from_secs(5), run.wait()).await.expect("stops by itself");
    assert!(matches!(ended, Err(ClientError::Unauthorized)), "{ended:?}");
    assert_eq!(d.events.count(|e| matches!(e, ClientEvent::Connection(ConnectionState::Connecting))), 1);
    assert_eq!(d.events.count(|e| matches!(e, ClientEvent::SyncFailed(ClientError::Unauthorized))), 1);

    // After a new login the same client works.
    let (_, token) = account(server.addr, "client-auth@example.org");
    d.client.set_token(&token);
    d.client.sync_now(SYNC).await.expect("syncs with the new token");
}

/// The lock arrives while a device is offline; the status change is made in-process through the
/// server's own status-writing code. A watching device hears it live; the offline device ends
/// with the server's state and its rejected edits, reported to its listener and kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_ends_with_the_server_state_and_rejected_edits_reported() {
    let t = TestApp::new();
    let addr = t.serve().await;
    let (account_id, token) =
        tokio::task::spawn_blocking(move || account(addr, "client-lock@example.org")).await.expect("account");

    let phone = device(addr, &account_id, &token);
    phone.client.edit(EXAM, |d| d.set_field("name", "李四")).expect("edit");
    phone.client.sync_now(SYNC).await.expect("sync");
    let watcher = device(addr, &account_id, &token);
    let watching = watcher.client.start();
    watcher.events.wait_count("watcher in sync", 1, |e| matches!(e, ClientEvent::Synced)).await;

    // Offline edits; meanwhile the center locks the draft for review.
    phone.client.edit(EXAM, |d| d.set_field("name", "李四五")).expect("offline edit");
    phone.client.edit(EXAM, |d| d.add_subject("66")).expect("offline edit");
    let doc_id = baoming_core::DocumentId::derive(EXAM, &account_id);
    let live = t.app.registrations.open(doc_id, &account_id, EXAM).await.expect("live doc");
    live.write_server_section(
        &ServerSection { status: Status::UnderReview, updated_at_ms: 1, ..ServerSection::default() },
        baoming_server::store::audit::Actor::System,
    )
    .await
    .expect("lock");
    watcher
        .events
        .wait_for("the live status change", |evs| {
            evs.iter().any(|e| matches!(e, ClientEvent::ServerChanged { server, .. } if server.status == Status::UnderReview))
        })
        .await;

    let report = phone.client.sync_now(SYNC).await.expect("sync after the lock");
    let mut rejected: Vec<(String, Option<String>)> =
        report.rejected.iter().map(|r| (r.path.clone(), r.value.clone())).collect();
    rejected.sort();
    assert_eq!(
        rejected,
        vec![
            ("draft.fields.name".into(), Some("李四五".into())),
            ("draft.subjects".into(), Some("66".into()))
        ]
    );
    assert_eq!(phone.client.server(EXAM).expect("server").status, Status::UnderReview);
    assert_eq!(field(&phone.client, "name").as_deref(), Some("李四"), "back to what the server accepted");
    assert_eq!(phone.client.draft(EXAM).expect("draft"), live.draft().await);
    assert_eq!(phone.client.rejected_edits(EXAM).expect("kept"), report.rejected);
    let reported: Vec<_> = {
        let evs = phone.events.events.lock().expect("events");
        evs.iter()
            .filter_map(|e| match e {
                ClientEvent::EditsRejected { edits, .. } => Some(edits.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    assert_eq!(reported, report.rejected, "the listener saw exactly the rejected edits");
    assert!(phone.events.count(|e| matches!(e, ClientEvent::ServerChanged { .. })) >= 1);

    // Nothing loops: the next sync is quiet, and the kept edits can be dismissed.
    let again = phone.client.sync_now(SYNC).await.expect("quiet");
    assert!(again.rejected.is_empty() && again.sent <= 3, "{again:?}");
    phone.client.dismiss_rejected_edits(EXAM).expect("dismiss");
    assert!(phone.client.rejected_edits(EXAM).expect("kept").is_empty());
    // A locked edit is refused locally, before it is ever sent.
    assert!(matches!(phone.client.edit(EXAM, |d| d.set_field("name", "x")), Err(ClientError::Document(_))));
    watching.stop().await.expect("stop");
}

/// A photo the server cannot take — rejected (422) with the blobs endpoint, or not uploadable at
/// all without it — holds its registration back: the reference never reaches the server, the
/// failure is a typed error and an upload event, and replacing the photo unblocks the sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_the_server_does_not_take_is_never_referenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "client-badphoto@example.org");
    let a = device(server.addr, &account_id, &token);
    let b = device(server.addr, &account_id, &token);

    a.client.edit(EXAM, |d| d.set_field("name", "孙七")).expect("edit");
    let photo = a.client.attach_photo(EXAM, b"definitely not a JPEG", 330, 480).expect("attach");
    let err = a.client.sync_now(SYNC).await.expect_err("held back");
    match &err {
        ClientError::PhotoRejected { sha256, code, .. } => {
            assert_eq!(sha256, &photo.sha256);
            assert_eq!(code, "photo_rejected");
        }
        // Before the blobs endpoint exists the upload cannot succeed either.
        ClientError::Server { status: 404 | 405, .. } => {}
        other => panic!("expected a typed photo failure, got {other:?}"),
    }
    assert_eq!(
        a.events.count(|e| matches!(e, ClientEvent::Upload(UploadEvent::Failed { sha256, .. }) if *sha256 == photo.sha256)),
        1
    );
    b.client.sync_now(SYNC).await.expect("b syncs");
    let seen = b.client.draft(EXAM).expect("draft");
    assert_eq!(seen.photo, None, "the reference did not reach the server");
    assert_eq!(seen.fields.get("name"), None, "nothing of the held-back registration did");

    // The candidate removes the photo: the rest syncs.
    a.client.edit(EXAM, |d| d.clear_photo()).expect("clear");
    a.client.sync_now(SYNC).await.expect("syncs without the photo");
    b.client.sync_now(SYNC).await.expect("b syncs");
    assert_eq!(field(&b.client, "name").as_deref(), Some("孙七"));
}

/// The happy path of photo upload: a compliant photo is uploaded before its reference syncs.
/// Needs `PUT /api/blobs/{sha256}` on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_is_uploaded_before_its_reference_syncs() {
    let (jpeg, w, h) = support::prepared_photo();

    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let (account_id, token) = account(server.addr, "client-photo@example.org");
    let a = device(server.addr, &account_id, &token);
    let b = device(server.addr, &account_id, &token);
    let photo = a.client.attach_photo(EXAM, &jpeg, w, h).expect("attach");
    a.client.sync_now(SYNC).await.expect("upload, then sync");
    {
        let evs = a.events.events.lock().expect("events");
        let uploaded = evs.iter().position(
            |e| matches!(e, ClientEvent::Upload(UploadEvent::Uploaded { sha256 }) if *sha256 == photo.sha256),
        );
        let synced = evs.iter().position(|e| matches!(e, ClientEvent::Synced));
        assert!(uploaded.is_some() && uploaded < synced, "uploaded before the sync finished: {evs:#?}");
    }
    b.client.sync_now(SYNC).await.expect("b syncs");
    assert_eq!(b.client.draft(EXAM).expect("draft").photo, Some(photo));
}

// ---------------------------------------------------------------------------------------------
// The outbox: lifecycle actions queued on the device and sent after a sync.
