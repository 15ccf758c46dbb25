//! End-to-end tests of the registration lifecycle against the real server binary: candidate
//! actions over REST (submit, withdraw, apply for review), operator review, the expiry sweeper,
//! locks at sync, scoping, idempotency and the seat race.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baoming_client::{ClientConfig, SyncClient};
use baoming_core::lifecycle::Status;
use serde_json::{Value, json};

use support::{CandidateDevice, HttpResponse, OPERATOR_PASSWORD, Server, http, test_env};

const EXAM: &str = "ncre-2027-03";
const SYNC: Duration = Duration::from_secs(30);
/// A center that reviews registrations.
const REVIEWED: &str = "bj-haidian";
/// A small center without review: 8 seats in total, 4 for subject 15 and 4 for subject 66.
const SMALL: &str = "bj-dongcheng";

/// Starts the server with the demo catalog's registration window open around now (the tests never
/// depend on the calendar).
fn start(dir: &Path, payment_window_secs: Option<u64>) -> Server {
    let server = start_bare(dir, payment_window_secs);
    support::import_catalog(server.addr, &support::open_demo_catalog());
    server
}

fn start_bare(dir: &Path, payment_window_secs: Option<u64>) -> Server {
    let mut cmd = Command::new(support::BIN);
    test_env(&mut cmd)
        .args(["--data-dir"])
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("BAOMING_DEMO_OPERATOR_PASSWORD", OPERATOR_PASSWORD)
        .env("BAOMING_LIFECYCLE__SWEEP_INTERVAL_SECS", "1");
    if let Some(secs) = payment_window_secs {
        cmd.env("BAOMING_LIFECYCLE__PAYMENT_WINDOW_SECS", secs.to_string());
    }
    Server::spawn(cmd)
}

fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> HttpResponse {
    let bytes = serde_json::to_vec(&body).expect("json");
    support::http_with(addr, method, path, Some(token), key, Some(&bytes)).expect("http")
}

fn operator_token(addr: SocketAddr, username: &str, password: &str) -> String {
    let body = serde_json::to_vec(&json!({ "username": username, "password": password })).expect("json");
    let r = http(addr, "POST", "/api/operator/sessions", None, Some(&body)).expect("login");
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()["token"].as_str().expect("token").to_owned()
}

/// A candidate with a device whose draft is complete for `center` and `subjects`.
struct Candidate {
    account_id: String,
    addr: SocketAddr,
    token: String,
    client: SyncClient,
    _dir: tempfile::TempDir,
}

impl Candidate {
    async fn new(addr: SocketAddr, n: u32, center: &str, subjects: &[&str]) -> Candidate {
        Candidate::with_id(addr, n, n, center, subjects).await
    }

    /// A candidate `login_n` whose ID document is number `n`.
    async fn with_id(addr: SocketAddr, login_n: u32, n: u32, center: &str, subjects: &[&str]) -> Candidate {
        let CandidateDevice { account_id, token, client, store } = CandidateDevice::with_complete_draft(
            addr,
            &format!("cand{login_n}@example.org"),
            n,
            center,
            subjects,
        )
        .await;
        Candidate { account_id, addr, token, client, _dir: store }
    }

    /// Another device of the same candidate, synced now.
    async fn device(&self) -> (SyncClient, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = ClientConfig::new(dir.path(), &format!("http://{}", self.addr), &self.account_id);
        let client = SyncClient::open(config, &self.token).expect("client");
        client.open_registration(EXAM).expect("registration");
        client.sync_batch(SYNC).await.expect("sync");
        (client, dir)
    }

    fn heads(&self) -> Vec<String> {
        self.client.edit(EXAM, |d| Ok(d.heads())).expect("heads").iter().map(ToString::to_string).collect()
    }
}

fn submit(addr: SocketAddr, c: &Candidate, key: &str) -> HttpResponse {
    req(
        addr,
        "POST",
        &format!("/api/registrations/{EXAM}/submit"),
        &c.token,
        Some(key),
        json!({ "heads": c.heads() }),
    )
}

fn action(addr: SocketAddr, token: &str, what: &str, key: &str) -> HttpResponse {
    let path = format!("/api/registrations/{EXAM}/{what}");
    support::http_with(addr, "POST", &path, Some(token), Some(key), Some(b"")).expect("http")
}

fn status_of(addr: SocketAddr, token: &str) -> Value {
    let r = http(addr, "GET", &format!("/api/registrations/{EXAM}"), Some(token), None).expect("get");
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()
}

fn seats(addr: SocketAddr, center: &str) -> Value {
    let path = format!("/api/exams/{EXAM}/centers/{center}/availability");
    let r = http(addr, "GET", &path, None, None).expect("availability");
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()
}

/// `held + paid + free == capacity` for the center pool and every subject pool.
fn assert_invariant(v: &Value) -> (u64, Vec<(String, u64)>) {
    let n = |x: &Value| x.as_u64().expect("number");
    assert_eq!(n(&v["held"]) + n(&v["paid"]) + n(&v["free"]), n(&v["total_capacity"]), "center: {v}");
    let mut subjects = Vec::new();
    for s in v["subjects"].as_array().expect("subjects") {
        assert_eq!(n(&s["held"]) + n(&s["paid"]) + n(&s["free"]), n(&s["capacity"]), "subject: {s}");
        subjects.push((s["code"].as_str().expect("code").to_owned(), n(&s["held"])));
    }
    (n(&v["held"]), subjects)
}

async fn synced_status(c: &Candidate) -> Status {
    c.client.sync_batch(SYNC).await.expect("sync");
    c.client.server(EXAM).expect("server").status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_with_review_locks_rejects_fixes_and_approves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), None);
    let addr = server.addr;
    let a = Candidate::new(addr, 1, REVIEWED, &["15"]).await;

    // Submit: seats held, no deadline yet (the center reviews first).
    let r = submit(addr, &a, "a-submit");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let first = r.json();
    assert_eq!(first["status"], "submitted");
    assert_eq!(first["seats"], json!(["15"]));
    assert_eq!(first["deadline_ms"], Value::Null);
    // The same key replays the stored answer; with another body it is refused.
    let again = submit(addr, &a, "a-submit");
    assert_eq!((again.status, again.json()), (200, first.clone()));
    let other = req(
        addr,
        "POST",
        &format!("/api/registrations/{EXAM}/submit"),
        &a.token,
        Some("a-submit"),
        json!({ "heads": [] }),
    );
    assert_eq!((other.status, other.json()["code"].clone()), (422, json!("idempotency_key_reused")));
    // A second submission with a fresh key is a typed refusal, not a second hold.
    let twice = submit(addr, &a, "a-submit-2");
    assert_eq!((twice.status, twice.json()["code"].clone()), (409, json!("transition_not_allowed")));
    let no_key = support::http_with(
        addr,
        "POST",
        &format!("/api/registrations/{EXAM}/withdraw"),
        Some(&a.token),
        None,
        Some(b""),
    )
    .expect("http");
    assert_eq!((no_key.status, no_key.json()["code"].clone()), (400, json!("idempotency_key_required")));
    assert_eq!(seats(addr, REVIEWED)["held"], 1);
    assert_eq!(synced_status(&a).await, Status::Submitted, "the device sees the status");
    // A second device last synced while the registration was merely submitted.
    let (stale, _stale_dir) = a.device().await;
    assert_eq!(stale.server(EXAM).expect("server").status, Status::Submitted);

    let r = action(addr, &a.token, "apply-review", "a-apply-1");
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("under_review")));
    // Under review everything is locked: the up-to-date device refuses the edit itself, and the
    // stale device's offline edit is refused at sync.
    assert_eq!(synced_status(&a).await, Status::UnderReview);
    assert!(a.client.edit(EXAM, |d| d.set_field("name", "李四光")).is_err(), "locked on the device");
    stale.edit(EXAM, |d| d.set_field("name", "李四光")).expect("offline edit while it looked editable");
    stale.sync_batch(SYNC).await.expect("sync");
    assert!(!stale.rejected_edits(EXAM).expect("rejected").is_empty(), "the locked edit is refused");
    assert_eq!(stale.server(EXAM).expect("server").status, Status::UnderReview);
    assert_eq!(stale.draft(EXAM).expect("draft").fields.get("name").map(String::as_str), Some("张三丰"));
    // Withdrawing while under review is refused as locked.
    let r = action(addr, &a.token, "withdraw", "a-withdraw-locked");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("locked")));

    // Another candidate cannot touch A's registration: their actions name their own document.
    let b = Candidate::new(addr, 2, REVIEWED, &["15"]).await;
    let r = action(addr, &b.token, "withdraw", "b-withdraw");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("transition_not_allowed")));
    assert_eq!(status_of(addr, &b.token)["status"], "draft");
    assert_eq!(status_of(addr, &a.token)["status"], "under_review");
    let doc = first["document_id"].as_str().expect("document id").to_owned();
    let r = http(
        addr,
        "GET",
        &format!("/api/operator/exams/{EXAM}/centers/{REVIEWED}/registrations"),
        Some(&operator_token(addr, "admin", OPERATOR_PASSWORD)),
        None,
    )
    .expect("list");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let listed = r.json();
    assert!(
        listed.as_array().is_some_and(|l| l.len() == 1
            && l[0]["document_id"] == doc.as_str()
            && l[0]["status"] == "under_review"),
        "{listed}"
    );
    let r =
        req(addr, "POST", &format!("/api/operator/registrations/{doc}/approve"), &b.token, None, json!({}));
    assert_eq!(r.status, 401, "a candidate token is not an operator's");

    // An operator of another center does not see the registration at all.
    let admin = operator_token(addr, "admin", OPERATOR_PASSWORD);
    let r = req(
        addr,
        "POST",
        "/api/operator/operators",
        &admin,
        None,
        json!({
            "username": "chaoyang", "password": "Eastern-Desk-Pass-9", "role": "center_operator", "centers": ["bj-chaoyang"],
        }),
    );
    assert_eq!(r.status, 201, "{:?}", r.json());
    let outsider = operator_token(addr, "chaoyang", "Eastern-Desk-Pass-9");
    let r =
        req(addr, "POST", &format!("/api/operator/registrations/{doc}/approve"), &outsider, None, json!({}));
    assert_eq!(r.status, 404, "{:?}", r.json());
    let r = req(
        addr,
        "POST",
        &format!("/api/operator/registrations/{doc}/reject"),
        &outsider,
        None,
        json!({ "reason": "x" }),
    );
    assert_eq!(r.status, 404, "{:?}", r.json());

    // Rejected with a reason: answers editable again, choices still locked.
    let r = req(
        addr,
        "POST",
        &format!("/api/operator/registrations/{doc}/reject"),
        &admin,
        Some("rej-1"),
        json!({ "reason": "照片不清晰 / the photo is blurred", "paths": ["draft.photo"] }),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["status"], "rejected");
    let shown = status_of(addr, &a.token);
    assert_eq!(shown["reason_paths"], json!(["draft.photo"]));
    assert!(shown["reason"].as_str().is_some_and(|s| s.contains("blurred")));
    assert_eq!(synced_status(&a).await, Status::Rejected);
    a.client.edit(EXAM, |d| d.set_field("name", "张三")).expect("fix");
    a.client.sync_batch(SYNC).await.expect("sync");
    assert!(
        a.client.rejected_edits(EXAM).expect("rejected").is_empty(),
        "answers are editable when rejected"
    );
    assert!(a.client.edit(EXAM, |d| d.remove_subject("15")).is_err(), "choices stay locked");

    let r = action(addr, &a.token, "apply-review", "a-apply-2");
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("under_review")));
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let r = req(addr, "POST", &format!("/api/operator/registrations/{doc}/approve"), &admin, None, json!({}));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let approved = status_of(addr, &a.token);
    assert_eq!(approved["status"], "approved");
    let deadline = approved["deadline_ms"].as_i64().expect("a payment deadline runs");
    let day = 24 * 3600 * 1000;
    assert!(deadline >= before + day - 60_000 && deadline <= before + day + 60_000, "{approved}");
    assert_eq!(synced_status(&a).await, Status::Approved);
    assert_eq!(
        a.client.server(EXAM).expect("server").deadline_ms,
        Some(deadline),
        "the device shows the deadline"
    );
    assert_invariant(&seats(addr, REVIEWED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_review_the_hold_expires_at_the_deadline_and_frees_the_seats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), Some(4));
    let addr = server.addr;
    let a = Candidate::new(addr, 11, SMALL, &["15", "66"]).await;
    // Another account with the same ID document, ready before A's short payment window starts.
    let twin = Candidate::with_id(addr, 12, 11, SMALL, &["15"]).await;
    let r = submit(addr, &a, "s1");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    assert_eq!(v["status"], "submitted");
    assert!(v["deadline_ms"].as_i64().is_some(), "payment follows submission: {v}");
    assert_eq!(v["amount_fen"], 8000 + 11800);
    let (center_held, subjects) = assert_invariant(&seats(addr, SMALL));
    assert_eq!(center_held, 1);
    assert!(subjects.iter().all(|(_, held)| *held == 1), "{subjects:?}");

    // The same ID document on another account is refused while A holds seats.
    let r = submit(addr, &twin, "t1");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("duplicate_id_document")), "{:?}", r.json());

    // The sweeper expires the hold and releases every seat.
    let until = Instant::now() + Duration::from_secs(20);
    while status_of(addr, &a.token)["status"] != "expired" {
        assert!(Instant::now() < until, "the hold did not expire: {}", status_of(addr, &a.token));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (center_held, subjects) = assert_invariant(&seats(addr, SMALL));
    assert_eq!(center_held, 0);
    assert!(subjects.iter().all(|(_, held)| *held == 0), "{subjects:?}");
    assert_eq!(synced_status(&a).await, Status::Expired, "the device sees the expiry");
    let r = action(addr, &a.token, "withdraw", "w-after");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("transition_not_allowed")));
    // With the ID document free again, the twin can register.
    let r = submit(addr, &twin, "t2");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = action(addr, &twin.token, "withdraw", "t-withdraw");
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("withdrawn")));
    assert_eq!(assert_invariant(&seats(addr, SMALL)).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_never_oversell_and_losers_learn_which_pool_is_gone() {
    const CANDIDATES: u32 = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), None);
    let addr = server.addr;
    let mut cands = Vec::new();
    for n in 0..CANDIDATES {
        // Half want subject 15, half subject 66: 4 seats each, 8 at the center.
        let subject = if n % 2 == 0 { "15" } else { "66" };
        cands.push(Arc::new(Candidate::new(addr, 100 + n, SMALL, &[subject]).await));
    }
    let handles: Vec<_> = cands
        .iter()
        .map(|c| {
            let c = Arc::clone(c);
            std::thread::spawn(move || submit(addr, &c, "race"))
        })
        .collect();
    let answers: Vec<HttpResponse> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let mut won = 0;
    for r in &answers {
        match r.status {
            200 => won += 1,
            409 => {
                let v = r.json();
                assert_eq!(v["code"], "seat_gone", "{v}");
                let pools = v["pools"].as_array().expect("pools");
                assert!(!pools.is_empty() && pools.iter().all(|p| p["center"] == SMALL), "{v}");
            }
            other => panic!("unexpected answer {other}: {:?}", r.json()),
        }
    }
    assert_eq!(won, 8, "every seat sold once, none twice");
    let (center_held, subjects) = assert_invariant(&seats(addr, SMALL));
    assert_eq!(center_held, 8);
    assert!(subjects.iter().all(|(_, held)| *held == 4), "{subjects:?}");
}

/// A crash between the commit of a decision and its projection into the document leaves the
/// record ahead of the document; the sweeper's first pass (and any later action) repairs it.
/// In-process: the crash window cannot be hit from outside the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_sweep_repairs_a_projection_a_crash_left_behind() {
    use baoming_core::document::DocumentId;
    use baoming_core::draft::ServerSection;
    use baoming_server::registration::record::RegistrationRecord;
    use baoming_server::store::{Tree, Txn, encode};

    let t = support::TestApp::new();
    let app = &t.app;
    let id = DocumentId::derive(EXAM, "acc_crash");
    let live = app.registrations.hub.open(id, "acc_crash", EXAM).await.expect("open");
    assert_eq!(live.server_section().await.status, Status::Draft);
    let record = RegistrationRecord {
        account: "acc_crash".into(),
        exam: EXAM.into(),
        center: SMALL.into(),
        subjects: vec!["15".into()],
        id_document_key: None,
        refund_due: false,
        section: ServerSection {
            status: Status::Submitted,
            seats: vec!["15".into()],
            deadline_ms: Some(i64::MAX / 2),
            updated_at_ms: 1,
            ..ServerSection::default()
        },
    };
    let mut txn = Txn::new();
    txn.put(Tree::Registrations, id.as_bytes().to_vec(), encode(&record));
    app.db.store().commit(&txn).expect("commit the decision only");
    assert_eq!(app.registrations.sweep(false).await.expect("sweep"), 0, "nothing due");
    assert_eq!(live.server_section().await.status, Status::Draft, "a routine pass only expires");
    assert_eq!(app.registrations.sweep(true).await.expect("sweep"), 0);
    assert_eq!(live.server_section().await, record.section, "the projection caught up");
}

fn closed_demo_catalog() -> String {
    support::catalog_around_now(baoming_core::catalog::DEMO_CATALOG_TOML, support::Windows::CLOSED)
}

/// When registration closes nothing new is taken (submissions and new applications for review are
/// refused `window_closed`), holds keep their payment deadline and the sweeper expires them, and
/// edits at sync keep obeying the lifecycle's lock table. The window is closed by re-importing
/// the catalog with a registration window that ended a second ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_takes_nothing_new_and_lets_the_holds_run_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), Some(12));
    let addr = server.addr;
    let held = Candidate::new(addr, 21, SMALL, &["15"]).await;
    let rejected = Candidate::new(addr, 22, REVIEWED, &["15"]).await;
    let drafting = Candidate::new(addr, 23, SMALL, &["66"]).await;
    // A second device of `held` that last synced while the registration was a draft.
    let (stale, _stale_dir) = held.device().await;

    let r = submit(addr, &rejected, "r-submit");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let doc = r.json()["document_id"].as_str().expect("id").to_owned();
    assert_eq!(action(addr, &rejected.token, "apply-review", "r-apply").status, 200);
    let admin = operator_token(addr, "admin", OPERATOR_PASSWORD);
    let r = req(
        addr,
        "POST",
        &format!("/api/operator/registrations/{doc}/reject"),
        &admin,
        None,
        json!({ "reason": "请重新上传照片", "paths": ["draft.photo"] }),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = submit(addr, &held, "h-submit");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let deadline = r.json()["deadline_ms"].as_i64().expect("a payment deadline runs");

    support::import_catalog(addr, &closed_demo_catalog());

    // Nothing new is taken.
    let r = submit(addr, &drafting, "d-submit");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("window_closed")), "{:?}", r.json());
    let r = action(addr, &rejected.token, "apply-review", "r-apply-again");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("window_closed")), "{:?}", r.json());
    // The hold keeps its deadline.
    let v = status_of(addr, &held.token);
    assert_eq!((v["status"].clone(), v["deadline_ms"].as_i64()), (json!("submitted"), Some(deadline)), "{v}");

    // Edits at sync follow the lock table, not the window: while submitted the choices are
    // locked (the stale device's offline change is refused at sync) and the answers are open.
    stale.edit(EXAM, |d| d.remove_subject("15")).expect("an offline edit while it looked editable");
    stale.sync_batch(SYNC).await.expect("sync");
    assert!(!stale.rejected_edits(EXAM).expect("rejected").is_empty(), "choices are locked");
    assert_eq!(stale.draft(EXAM).expect("draft").subjects, vec!["15".to_owned()]);
    assert_eq!(synced_status(&held).await, Status::Submitted);
    held.client.edit(EXAM, |d| d.set_field("mobile", "13900139000")).expect("answers are editable");
    held.client.sync_batch(SYNC).await.expect("sync");
    assert!(held.client.rejected_edits(EXAM).expect("rejected").is_empty(), "answers stay open");
    // A draft stays editable; it just cannot be submitted.
    drafting.client.edit(EXAM, |d| d.remove_subject("66")).expect("draft edit");
    drafting.client.sync_batch(SYNC).await.expect("sync");
    assert!(drafting.client.rejected_edits(EXAM).expect("rejected").is_empty(), "drafts stay editable");

    // The sweeper expires the hold at its deadline; it cannot be submitted again.
    let until = Instant::now() + Duration::from_secs(30);
    while status_of(addr, &held.token)["status"] != "expired" {
        assert!(Instant::now() < until, "the hold did not expire: {}", status_of(addr, &held.token));
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = submit(addr, &held, "h-submit-again");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("window_closed")), "{:?}", r.json());
    // Withdrawing only gives seats back, so it stays possible.
    let r = action(addr, &rejected.token, "withdraw", "r-withdraw");
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("withdrawn")), "{:?}", r.json());
    for center in [SMALL, REVIEWED] {
        let (center_held, subjects) = assert_invariant(&seats(addr, center));
        assert_eq!(center_held, 0, "{center}");
        assert!(subjects.iter().all(|(_, held)| *held == 0), "{center}: {subjects:?}");
    }
}

fn cancel(addr: SocketAddr, token: &str, path: &str, key: Option<&str>, body: Value) -> HttpResponse {
    req(addr, "POST", &format!("/api/admin/exams/{EXAM}{path}/cancel"), token, key, body)
}

/// An administrator cancels a center, then the whole session: every registration holding seats
/// there becomes `cancelled` with the reason (devices see it live), the seats come back, the pool
/// refuses submissions with `cancelled`, every step is audited, and the endpoint is idempotent
/// and for administrators only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_cancels_a_center_and_then_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), None);
    let addr = server.addr;
    let a = Candidate::new(addr, 31, SMALL, &["15"]).await;
    let b = Candidate::new(addr, 32, SMALL, &["66"]).await;
    let c = Candidate::new(addr, 33, REVIEWED, &["15"]).await;
    let late = Candidate::new(addr, 34, SMALL, &["15"]).await;
    let elsewhere = Candidate::new(addr, 35, "bj-changping", &["15"]).await;
    for (cand, key) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        let r = submit(addr, cand, key);
        assert_eq!(r.status, 200, "{:?}", r.json());
    }
    assert_eq!(action(addr, &c.token, "apply-review", "c-apply").status, 200);
    let run = a.client.start();

    // Only administrators cancel.
    let admin = operator_token(addr, "admin", OPERATOR_PASSWORD);
    for (name, role, centers) in
        [("audit", "auditor", json!([])), ("dongcheng", "center_operator", json!([SMALL]))]
    {
        let r = req(
            addr,
            "POST",
            "/api/operator/operators",
            &admin,
            None,
            json!({ "username": name, "password": "Quiet-Ledger-Pass-7", "role": role, "centers": centers }),
        );
        assert_eq!(r.status, 201, "{:?}", r.json());
        let token = operator_token(addr, name, "Quiet-Ledger-Pass-7");
        let r = cancel(addr, &token, &format!("/centers/{SMALL}"), None, json!({ "reason": "x" }));
        assert_eq!((r.status, r.json()["code"].clone()), (403, json!("forbidden")), "{name}");
    }
    let r = cancel(addr, &a.token, &format!("/centers/{SMALL}"), None, json!({ "reason": "x" }));
    assert_eq!(r.status, 401, "a candidate token is not an operator's");
    let r = cancel(addr, &admin, &format!("/centers/{SMALL}"), None, json!({ "reason": "  " }));
    assert_eq!((r.status, r.json()["code"].clone()), (422, json!("reason_invalid")));
    let r = cancel(addr, &admin, "/centers/nowhere", None, json!({ "reason": "x" }));
    assert_eq!(r.status, 404, "{:?}", r.json());
    assert_eq!(assert_invariant(&seats(addr, SMALL)).0, 2, "nothing changed yet");

    // Cancel the small center.
    let reason = "考点停用 / the center is closed";
    let r = cancel(addr, &admin, &format!("/centers/{SMALL}"), Some("cx-1"), json!({ "reason": reason }));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let first = r.json();
    assert_eq!(first["status"], "finished");
    assert_eq!(first["registrations_cancelled"], 2);
    assert_eq!(first["refunds_due"], 0);
    assert_eq!(first["progress"]["cancelled_now"], 2, "{first}");
    assert_eq!(first["progress"]["already_cancelled"], 0, "{first}");
    let again = cancel(addr, &admin, &format!("/centers/{SMALL}"), Some("cx-1"), json!({ "reason": reason }));
    assert_eq!((again.status, again.json()), (200, first.clone()), "the key replays the answer");
    let other = cancel(addr, &admin, &format!("/centers/{SMALL}"), Some("cx-1"), json!({ "reason": "y" }));
    assert_eq!((other.status, other.json()["code"].clone()), (422, json!("idempotency_key_reused")));
    let rerun = cancel(addr, &admin, &format!("/centers/{SMALL}"), Some("cx-2"), json!({ "reason": reason }));
    assert_eq!(rerun.status, 200, "{:?}", rerun.json());
    assert_eq!(rerun.json()["progress"]["cancelled_now"], 0, "a re-run changes nothing");
    assert_eq!(rerun.json()["progress"]["already_cancelled"], 2);

    for cand in [&a, &b] {
        let v = status_of(addr, &cand.token);
        assert_eq!((v["status"].clone(), v["reason"].clone()), (json!("cancelled"), json!(reason)), "{v}");
        assert_eq!((v["seats"].clone(), v["refund_due"].clone()), (json!([]), json!(false)), "{v}");
    }
    let small = seats(addr, SMALL);
    assert_eq!(small["cancelled"], true, "{small}");
    let (center_held, subjects) = assert_invariant(&small);
    assert_eq!(center_held, 0);
    assert!(subjects.iter().all(|(_, held)| *held == 0), "{subjects:?}");
    // The connected device sees it without asking.
    let until = Instant::now() + Duration::from_secs(20);
    while a.client.server(EXAM).expect("server").status != Status::Cancelled {
        assert!(Instant::now() < until, "the device never saw the cancellation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(a.client.server(EXAM).expect("server").reason.as_deref(), Some(reason));
    run.stop().await.expect("stop");
    assert!(a.client.edit(EXAM, |d| d.set_field("name", "李四")).is_err(), "everything is locked");
    // The pool is closed: a submission there is refused with the typed reason.
    let r = submit(addr, &late, "late");
    let v = r.json();
    assert_eq!(
        (r.status, v["code"].clone(), v["center"].clone()),
        (409, json!("cancelled"), json!(SMALL)),
        "{v}"
    );
    // Other centers are untouched.
    assert_eq!(status_of(addr, &c.token)["status"], "under_review");
    assert_eq!(seats(addr, REVIEWED)["cancelled"], false);

    // Cancel the whole session: the rest follows, and every center is closed.
    let r = cancel(addr, &admin, "", Some("ex-1"), json!({ "reason": "考试取消" }));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    assert_eq!(
        (v["progress"]["cancelled_now"].clone(), v["registrations_cancelled"].clone()),
        (json!(1), json!(3)),
        "{v}"
    );
    assert_eq!(status_of(addr, &c.token)["status"], "cancelled");
    assert_eq!(assert_invariant(&seats(addr, REVIEWED)).0, 0);
    let r = submit(addr, &elsewhere, "elsewhere");
    assert_eq!((r.status, r.json()["code"].clone()), (409, json!("cancelled")), "{:?}", r.json());

    // Every step is in the audit log.
    let r = http(addr, "GET", "/api/operator/audit?from=1&limit=1000", Some(&admin), None).expect("audit");
    let actions: Vec<String> = r
        .json()
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect();
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    assert_eq!(
        (
            count("center.cancel"),
            count("exam.cancel"),
            count("registration.cancel"),
            count("cancel.finished")
        ),
        (1, 1, 3, 3),
        "{actions:?}"
    );
}

/// A cancellation interrupted after its marker was committed (a crash) is finished by the
/// start-up pass: registrations still holding seats are cancelled (a paid one with `refund_due`
/// and its seats back from `paid`), one already cancelled without its projection is repaired,
/// one that held nothing is left alone, and the counters match. In-process: the crash window
/// cannot be hit from outside the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_cancellation_is_finished_at_start_up() {
    use baoming_core::document::DocumentId;
    use baoming_core::draft::ServerSection;
    use baoming_core::seats::SeatMove;
    use baoming_server::catalog::cancelled::{Cancellation, marker_key};
    use baoming_server::catalog::seats::stage_move;
    use baoming_server::registration::record::{RegistrationRecord, load_record};
    use baoming_server::store::{Tree, Txn, encode};

    let t = support::TestApp::new();
    let app = &t.app;
    let view = app.catalogs.current().expect("catalog");
    let exam = view.catalog.exam(EXAM).expect("exam").clone();
    let subjects = vec!["15".to_owned()];
    let cases = [
        ("acc_held", Status::Submitted, &[SeatMove::Hold][..]),
        ("acc_paid", Status::Paid, &[SeatMove::Hold, SeatMove::Pay][..]),
        ("acc_gone", Status::Withdrawn, &[][..]),
        ("acc_half", Status::Cancelled, &[][..]),
    ];
    for (account, status, moves) in cases {
        for m in moves {
            let mut txn = Txn::new();
            stage_move(app.db.store(), &mut txn, &exam, SMALL, &subjects, *m).expect("read").expect("move");
            app.db.store().commit(&txn).expect("seats");
        }
        let record = RegistrationRecord {
            account: account.into(),
            exam: EXAM.into(),
            center: SMALL.into(),
            subjects: subjects.clone(),
            id_document_key: None,
            refund_due: false,
            section: ServerSection {
                status,
                seats: if status.holds_seats() { subjects.clone() } else { Vec::new() },
                reason: (status == Status::Cancelled).then(|| "closed".to_owned()),
                updated_at_ms: 1,
                ..ServerSection::default()
            },
        };
        let mut txn = Txn::new();
        txn.put(Tree::Registrations, DocumentId::derive(EXAM, account).as_bytes().to_vec(), encode(&record));
        app.db.store().commit(&txn).expect("record");
    }
    let marker = Cancellation {
        exam: EXAM.into(),
        center: Some(SMALL.into()),
        reason: "closed".into(),
        by: "op_test".into(),
        started_at_ms: 1,
        finished_at_ms: None,
        registrations_cancelled: 0,
        refunds_due: 0,
    };
    let mut txn = Txn::new();
    txn.put(Tree::Cancellations, marker_key(EXAM, Some(SMALL)), encode(&marker));
    app.db.store().commit(&txn).expect("the marker only");

    assert_eq!(app.registrations.resume().await.expect("resume"), 1);
    let status = |account: &str| {
        load_record(app.db.store(), &DocumentId::derive(EXAM, account)).expect("read").expect("record").0
    };
    assert_eq!(
        (status("acc_held").section.status, status("acc_held").refund_due),
        (Status::Cancelled, false)
    );
    assert_eq!((status("acc_paid").section.status, status("acc_paid").refund_due), (Status::Cancelled, true));
    assert_eq!(status("acc_gone").section.status, Status::Withdrawn);
    for account in ["acc_held", "acc_paid", "acc_half"] {
        let live =
            app.registrations.hub.open(DocumentId::derive(EXAM, account), account, EXAM).await.expect("open");
        let shown = live.server_section().await;
        assert_eq!((shown.status, shown.reason.as_deref()), (Status::Cancelled, Some("closed")), "{account}");
    }
    let seats = baoming_server::catalog::availability(app.db.store(), &view, EXAM, Some(SMALL))
        .expect("read")
        .expect("exam");
    assert_eq!((seats[0].held, seats[0].paid, seats[0].free, seats[0].cancelled), (0, 0, 8, true));
    let s15 = seats[0].subjects.iter().find(|s| s.code == "15").expect("15");
    assert_eq!((s15.held, s15.paid), (0, 0));
    let stored = app
        .db
        .store()
        .get(Tree::Cancellations, &marker_key(EXAM, Some(SMALL)))
        .expect("read")
        .expect("marker");
    let done: Cancellation = baoming_server::store::decode(Tree::Cancellations, &stored).expect("decode");
    assert!(done.finished_at_ms.is_some());
    assert_eq!((done.registrations_cancelled, done.refunds_due), (3, 1));
    assert_eq!(app.registrations.resume().await.expect("resume"), 0, "nothing left to finish");
}
