//! The outbox against the real server: a submission queued offline sent once after the sync on
//! reconnect, a lost answer retried with the stored key, refusals as typed outcomes, a stale
//! device that cannot move a submitted registration.

use super::*;

/// A small center without review (8 seats).
const SMALL: &str = "bj-dongcheng";

/// The device configuration of [`device`], on a given store folder (to reopen it).
fn device_config(store: &Path, addr: SocketAddr, account_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new(store, &format!("http://{addr}"), account_id);
    config.backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(800), jitter: 0.5 };
    config.connect_timeout = Duration::from_secs(5);
    config.ping_interval = Duration::from_secs(2);
    config
}

/// Fills a draft that the server accepts for submission at `center` for subject 15, offline: the
/// photo waits in the store for the next sync.
fn fill_complete_draft(client: &SyncClient, n: u32, center: &str) {
    support::fill_complete_draft(client, n, "张三丰", center, &["15"]);
}

/// The server's status of the candidate's registration.
fn server_status(addr: SocketAddr, token: &str) -> Status {
    registration(addr, token).status
}

/// Seats held at `center` (center pool).
fn held_at(addr: SocketAddr, center: &str) -> u32 {
    availability(addr, center).held
}

/// The error body behind a refused action (the client keeps its members apart from the code
/// and the message), read strictly.
fn error_body(refusal: &ActionRefusal) -> ErrorBody {
    let serde_json::Value::Object(mut body) = serde_json::to_value(&refusal.details).expect("details") else {
        panic!("the details of a refusal are an object: {refusal:?}")
    };
    body.insert("code".into(), refusal.code.as_str().into());
    body.insert("message".into(), refusal.message.clone().into());
    strict_value(&body)
}

fn finished(events: &[ClientEvent]) -> Vec<ActionOutcome> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ActionFinished(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn done_status(outcome: &ActionOutcome) -> Status {
    match &outcome.result {
        ActionResult::Done(view) => view.status,
        ActionResult::Refused(r) => panic!("expected done, got a refusal: {r:?}"),
    }
}

/// A submission queued while the server is down survives a restart of the app; once the server
/// is back, the background sync connects, syncs the draft and its photo, and only then submits —
/// once. A withdrawal queued while online goes out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_queued_offline_is_sent_once_after_the_sync_on_reconnect() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(data.path());
    // Submissions need the registration window open: a catalog whose windows sit around now.
    support::import_catalog(server.addr, &support::open_demo_catalog());
    let addr = server.addr;
    let (account_id, token) = account(addr, "outbox-offline@example.org");
    server.crash();

    let store = tempfile::tempdir().expect("store");
    let queued = {
        let client = SyncClient::open(device_config(store.path(), addr, &account_id), &token).expect("open");
        client.open_registration(EXAM).expect("registration");
        fill_complete_draft(&client, 1, SMALL);
        let queued = client.submit(EXAM).expect("queued offline");
        assert!(client.sync_now(Duration::from_secs(3)).await.is_err(), "the server is down");
        assert_eq!(client.queued_actions(), vec![queued.clone()], "still queued, untouched");
        queued
    };

    // The app restarts: the action is still there, with its key and heads.
    let client = SyncClient::open(device_config(store.path(), addr, &account_id), &token).expect("reopen");
    let events = Arc::new(Recorder::default());
    client.set_listener(Some(events.clone()));
    client.open_registration(EXAM).expect("registration");
    assert_eq!(client.queued_actions(), vec![queued.clone()]);
    let run = client.start();
    events
        .wait_count("offline with a retry", 1, |e| {
            matches!(e, ClientEvent::Connection(ConnectionState::Offline { retry_in: Some(_), .. }))
        })
        .await;
    assert!(finished(&events.events.lock().expect("events")).is_empty());

    let server = start_at(data.path(), addr);
    events.wait_for("the submission's answer", |evs| !finished(evs).is_empty()).await;
    let outcome = {
        let evs = events.events.lock().expect("events");
        let synced = evs.iter().position(|e| matches!(e, ClientEvent::Synced));
        let answered = evs.iter().position(|e| matches!(e, ClientEvent::ActionFinished(_)));
        assert!(synced.is_some() && synced < answered, "synced before submitting: {evs:#?}");
        finished(&evs).remove(0)
    };
    assert_eq!(outcome.action.idempotency_key, queued.idempotency_key);
    assert_eq!(outcome.action.heads, queued.heads);
    assert_eq!(done_status(&outcome), Status::Submitted);
    assert!(client.queued_actions().is_empty());
    assert_eq!(client.action_outcomes(), vec![outcome.clone()]);
    // The server's status reaches the document over the live connection.
    events
        .wait_for("the pushed status", |_| client.server(EXAM).expect("server").status == Status::Submitted)
        .await;
    assert_eq!(server_status(server.addr, &token), Status::Submitted);
    assert_eq!(held_at(server.addr, SMALL), 1, "one seat held: submitted once");

    // Online, a queued withdrawal goes out without waiting for anything else.
    let withdraw = client.withdraw(EXAM).expect("queued online");
    events.wait_for("the withdrawal's answer", |evs| finished(evs).len() == 2).await;
    let outcome = finished(&events.events.lock().expect("events")).remove(1);
    assert_eq!(outcome.action, withdraw);
    assert_eq!(done_status(&outcome), Status::Withdrawn);
    assert_eq!(held_at(server.addr, SMALL), 0);
    assert_eq!(client.action_outcomes().len(), 2);
    client.dismiss_action_outcomes().expect("dismiss");
    assert!(client.action_outcomes().is_empty());
    run.stop().await.expect("stops");
}

/// A TCP proxy in front of the server that, once armed, lets the next lifecycle action request
/// through and cuts the connection as the answer comes back: the server acted, the device never
/// heard.
struct LossyProxy {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    dropped: Arc<AtomicUsize>,
}

impl LossyProxy {
    async fn start(upstream: SocketAddr) -> LossyProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (armed, dropped) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (a, d) = (armed.clone(), dropped.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(LossyProxy::pipe(client, upstream, a.clone(), d.clone()));
            }
        });
        LossyProxy { addr, armed, dropped }
    }

    async fn pipe(
        client: TcpStream,
        upstream: SocketAddr,
        armed: Arc<AtomicBool>,
        dropped: Arc<AtomicUsize>,
    ) {
        let Ok(server) = TcpStream::connect(upstream).await else { return };
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        let doomed = Arc::new(AtomicBool::new(false));
        let marked = doomed.clone();
        let up = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = from_client.read(&mut buf).await {
                let chunk = &buf[..n];
                if n == 0 {
                    break;
                }
                if chunk.windows(24).any(|w| w == b"POST /api/registrations/")
                    && armed.swap(false, Ordering::SeqCst)
                {
                    marked.store(true, Ordering::SeqCst);
                }
                if to_server.write_all(chunk).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_server.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if doomed.load(Ordering::SeqCst) {
                dropped.fetch_add(1, Ordering::SeqCst);
                break;
            }
            if to_client.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        up.abort();
    }
}

/// The server performs a submission but its answer is lost: the action stays queued with its
/// key, and the retry is answered from the server's stored answer — one submission, one seat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_with_the_stored_key_and_acts_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(data.path());
    // Submissions need the registration window open: a catalog whose windows sit around now.
    support::import_catalog(server.addr, &support::open_demo_catalog());
    let (account_id, token) = account(server.addr, "outbox-lost@example.org");
    let proxy = LossyProxy::start(server.addr).await;
    let d = device(proxy.addr, &account_id, &token);
    fill_complete_draft(&d.client, 2, SMALL);
    let queued = d.client.submit(EXAM).expect("queued");

    proxy.armed.store(true, Ordering::SeqCst);
    let first = d.client.sync_now(SYNC).await.expect("the sync itself succeeds");
    assert_eq!(proxy.dropped.load(Ordering::SeqCst), 1, "the answer was cut");
    assert!(first.outcomes.is_empty(), "{first:?}");
    assert_eq!(first.actions_waiting, 1);
    assert_eq!(server_status(server.addr, &token), Status::Submitted, "yet the server acted");
    let waiting = d.client.queued_actions();
    assert_eq!(waiting.len(), 1);
    assert_eq!((waiting[0].attempts, &waiting[0].idempotency_key), (1, &queued.idempotency_key));
    assert_eq!(
        d.events
            .count(|e| matches!(e, ClientEvent::ActionDelayed { action, .. } if action.seq == queued.seq)),
        1
    );

    let second = d.client.sync_now(SYNC).await.expect("retry");
    assert_eq!(second.outcomes.len(), 1, "{second:?}");
    assert_eq!(second.outcomes[0].action.idempotency_key, queued.idempotency_key);
    assert_eq!(done_status(&second.outcomes[0]), Status::Submitted, "the stored answer, not a refusal");
    assert_eq!(second.actions_waiting, 0);
    assert!(d.client.queued_actions().is_empty());
    assert_eq!(held_at(server.addr, SMALL), 1, "one seat held: the repeat did not act again");
    assert_eq!(d.client.server(EXAM).expect("server").status, Status::Submitted, "synced after the answer");
    // Without the stored key the same press would have been a second, refused, submission.
    let fresh = support::post(server.addr, &paths::registration_action(EXAM, CandidateAction::Submit))
        .token(&token)
        .key("another-key")
        .json(&SubmitRequest { heads: queued.heads.clone() })
        .send();
    fresh.refused(409, ErrorCode::TransitionNotAllowed);
}

/// Final refusals leave the queue as typed outcomes, in the order queued: an incomplete draft's
/// submission (`invalid`, with the core's issues) and a withdrawal of a registration that holds
/// nothing (`transition_not_allowed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_actions_are_typed_outcomes_and_leave_the_queue() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(data.path());
    // Submissions need the registration window open: a catalog whose windows sit around now.
    support::import_catalog(server.addr, &support::open_demo_catalog());
    let (account_id, token) = account(server.addr, "outbox-refused@example.org");
    let d = device(server.addr, &account_id, &token);
    let catalog = baoming_core::Catalog::demo();
    let exam = catalog.exam(EXAM).expect("exam").clone();
    d.client.edit(EXAM, |doc| doc.choose_center(&exam, SMALL)).expect("center");
    d.client.edit(EXAM, |doc| doc.add_subject("15")).expect("subject");
    let (jpeg, w, h) = support::prepared_photo();
    d.client.attach_photo(EXAM, &jpeg, w, h).expect("photo");
    let submit = d.client.submit(EXAM).expect("queued");
    let withdraw = d.client.withdraw(EXAM).expect("queued");

    // The batch form drains the outbox as the WebSocket does.
    let report = d.client.sync_batch(SYNC).await.expect("sync");
    let got: Vec<(u64, RefusalCode, u16)> = report
        .outcomes
        .iter()
        .map(|o| match &o.result {
            ActionResult::Refused(r) => (o.action.seq, r.code, r.http_status),
            ActionResult::Done(v) => panic!("expected a refusal, got {v:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![(submit.seq, RefusalCode::Invalid, 422), (withdraw.seq, RefusalCode::TransitionNotAllowed, 409)]
    );
    let ActionResult::Refused(invalid) = &report.outcomes[0].result else { unreachable!() };
    let issues = error_body(invalid).issues.expect("the core's issues");
    assert!(issues.iter().any(|i| i.path.starts_with("draft.fields")), "{issues:?}");
    let ActionResult::Refused(not_allowed) = &report.outcomes[1].result else { unreachable!() };
    assert_eq!(error_body(not_allowed).status, Some(Status::Draft));

    assert_eq!(report.actions_waiting, 0);
    assert!(d.client.queued_actions().is_empty(), "refusals leave the queue");
    assert_eq!(d.client.action_outcomes(), report.outcomes);
    assert_eq!(finished(&d.events.events.lock().expect("events")), report.outcomes, "reported in order");
    assert_eq!(server_status(server.addr, &token), Status::Draft);
    assert_eq!(held_at(server.addr, SMALL), 0);
    // Nothing is sent again.
    let again = d.client.sync_now(SYNC).await.expect("quiet");
    assert!(again.outcomes.is_empty() && again.actions_waiting == 0);
}

/// A second device that synced the empty registration changes the center offline after another
/// device chose one and submitted. The other device's concurrent choice wins the merge on the
/// stale device before the refusal arrives; the center the candidate chose there must still be
/// listed as a rejected edit, not silently replaced. The seat stays where the submission took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_device_cannot_move_a_submitted_registration_to_another_center() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(data.path());
    support::import_catalog(server.addr, &support::open_demo_catalog());
    let addr = server.addr;
    let (account_id, token) = account(addr, "stale-device@example.org");
    let phone = device(addr, &account_id, &token);
    let tablet = device(addr, &account_id, &token);
    tablet.client.sync_now(SYNC).await.expect("tablet syncs the empty registration");
    fill_complete_draft(&phone.client, 3, SMALL);
    phone.client.sync_now(SYNC).await.expect("phone syncs");

    phone.client.submit(EXAM).expect("submit");
    phone.client.sync_now(SYNC).await.expect("the queued submission goes out after the sync");
    assert_eq!(done_status(&phone.client.action_outcomes()[0]), Status::Submitted);

    // The tablet has not heard of the submission: its local status still allows the change.
    let catalog = baoming_core::Catalog::demo();
    let exam = catalog.exam(EXAM).expect("exam").clone();
    tablet.client.edit(EXAM, |d| d.choose_center(&exam, "bj-haidian")).expect("offline center change");
    let report = tablet.client.sync_now(SYNC).await.expect("tablet syncs after the submission");
    let rejected: Vec<(&str, Option<&str>, &str)> =
        report.rejected.iter().map(|r| (r.path.as_str(), r.value.as_deref(), r.reason.as_str())).collect();
    assert_eq!(rejected, vec![("draft.center", Some("bj-haidian"), "locked")], "{report:?}");
    assert_eq!(tablet.client.rejected_edits(EXAM).expect("kept"), report.rejected);
    assert_eq!(tablet.client.draft(EXAM).expect("draft").center.as_deref(), Some(SMALL));
    assert_eq!(tablet.client.server(EXAM).expect("server").status, Status::Submitted);
    assert_eq!(registration(addr, &token).center.as_deref(), Some(SMALL));
    assert_eq!(held_at(addr, SMALL), 1);
}
