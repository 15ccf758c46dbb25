//! End-to-end tests of the registration lifecycle against the real server binary: candidate
//! actions over REST (submit, withdraw, apply for review), operator review, the expiry sweeper
//! on the server's test clock, locks at sync, scoping, idempotency and the seat race.

#[path = "../support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baoming_client::SyncClient;
use baoming_core::api::admin::{CancelRequest, CancellationAnswer, CancellationStatus};
use baoming_core::api::catalog::CenterSeats;
use baoming_core::api::error::{ErrorCode, SeatPool};
use baoming_core::api::operator::{AuditEntry, AuditQuery, Role};
use baoming_core::api::paths;
use baoming_core::api::registrations::{
    CandidateAction, CenterRegistration, OperatorDecision, RegistrationView, RejectRequest, SubmitRequest,
};
use baoming_core::lifecycle::Status;

use support::{
    CandidateDevice, Request, Response, Server, Windows, admin_login, availability, create_operator,
    device_client, import_catalog, operator_login, post, registration, wait_until_async,
};

mod cancellations;
mod printable;

const EXAM: &str = support::DEMO_EXAM;
const SYNC: Duration = support::SYNC;
/// A center that reviews registrations.
const REVIEWED: &str = "bj-haidian";
/// A small center without review: 8 seats in total, 4 for subject 15 and 4 for subject 66.
const SMALL: &str = "bj-dongcheng";

/// Starts the server with the demo catalog's registration window open around its time (the
/// tests never depend on the calendar).
fn start() -> Server {
    let server = support::start_server();
    import_catalog(server.addr, &server.demo_catalog(Windows::OPEN));
    server
}

/// A candidate with a device whose draft is complete for `center` and `subjects`.
struct Candidate {
    device: CandidateDevice,
    addr: SocketAddr,
}

impl Candidate {
    async fn new(addr: SocketAddr, n: u32, center: &str, subjects: &[&str]) -> Candidate {
        Candidate::with_id(addr, n, n, center, subjects).await
    }

    /// A candidate `login_n` whose ID document is number `n`.
    async fn with_id(addr: SocketAddr, login_n: u32, n: u32, center: &str, subjects: &[&str]) -> Candidate {
        let login = format!("cand{login_n}@example.org");
        Candidate {
            device: CandidateDevice::with_complete_draft(addr, &login, n, center, subjects).await,
            addr,
        }
    }

    fn token(&self) -> &str {
        &self.device.token
    }

    fn client(&self) -> &SyncClient {
        &self.device.client
    }

    /// Another device of the same candidate, synced now.
    async fn device(&self) -> (SyncClient, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let client = device_client(self.addr, dir.path(), &self.device.account_id, self.token());
        client.sync_batch(SYNC).await.expect("sync");
        (client, dir)
    }

    fn submit(&self, key: &str) -> Response {
        self.device.submit(self.addr, key)
    }

    fn act(&self, what: CandidateAction, key: &str) -> Response {
        action(self.addr, self.token(), what, key)
    }

    fn registration(&self) -> RegistrationView {
        registration(self.addr, self.token())
    }
}

fn action(addr: SocketAddr, token: &str, what: CandidateAction, key: &str) -> Response {
    post(addr, &paths::registration_action(EXAM, what)).token(token).key(key).body("").send()
}

/// The operator's approval of registration `doc` (an empty JSON body), ready to send.
fn approve(addr: SocketAddr, token: &str, doc: &str) -> Request {
    post(addr, &paths::operator_decision(doc, OperatorDecision::Approve)).token(token).body("{}")
}

/// The operator's rejection of registration `doc` with `reason` about `paths`, ready to send.
fn reject(addr: SocketAddr, token: &str, doc: &str, reason: &str, paths: &[&str]) -> Request {
    let body =
        RejectRequest { reason: reason.into(), paths: paths.iter().map(|p| (*p).to_owned()).collect() };
    post(addr, &paths::operator_decision(doc, OperatorDecision::Reject)).token(token).json(&body)
}

/// `held + paid + free == capacity` for the center pool and every subject pool; the center's
/// holds and each subject's.
fn assert_invariant(seats: &CenterSeats) -> (u32, Vec<(String, u32)>) {
    let (held, _) = support::assert_seats_add_up(seats);
    (held, seats.subjects.iter().map(|s| (s.code.clone(), s.held)).collect())
}

async fn synced_status(c: &Candidate) -> Status {
    c.client().sync_batch(SYNC).await.expect("sync");
    c.client().server(EXAM).expect("server").status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one review journey, each lock checked where it applies")]
async fn the_journey_with_review_locks_rejects_fixes_and_approves() {
    let server = start();
    let addr = server.addr;
    let a = Candidate::new(addr, 1, REVIEWED, &["15"]).await;

    // Submit: seats held, no deadline yet (the center reviews first).
    let first: RegistrationView = a.submit("a-submit").typed();
    assert_eq!(first.status, Status::Submitted);
    assert_eq!(first.seats, vec!["15".to_owned()]);
    assert_eq!(first.deadline_ms, None);
    // The same key replays the stored answer; with another body it is refused.
    assert_eq!(a.submit("a-submit").typed::<RegistrationView>(), first);
    let other = post(addr, &paths::registration_action(EXAM, CandidateAction::Submit))
        .token(a.token())
        .key("a-submit")
        .json(&SubmitRequest { heads: Vec::new() })
        .send();
    other.refused(422, ErrorCode::IdempotencyKeyReused);
    // A second submission with a fresh key is a typed refusal, not a second hold.
    a.submit("a-submit-2").refused(409, ErrorCode::TransitionNotAllowed);
    let no_key = post(addr, &paths::registration_action(EXAM, CandidateAction::Withdraw))
        .token(a.token())
        .body("")
        .send();
    no_key.refused(400, ErrorCode::IdempotencyKeyRequired);
    assert_eq!(availability(addr, REVIEWED).held, 1);
    assert_eq!(synced_status(&a).await, Status::Submitted, "the device sees the status");
    // A second device last synced while the registration was merely submitted.
    let (stale, _stale_dir) = a.device().await;
    assert_eq!(stale.server(EXAM).expect("server").status, Status::Submitted);

    let applied: RegistrationView = a.act(CandidateAction::ApplyReview, "a-apply-1").typed();
    assert_eq!(applied.status, Status::UnderReview);
    // Under review everything is locked: the up-to-date device refuses the edit itself, and the
    // stale device's offline edit is refused at sync.
    assert_eq!(synced_status(&a).await, Status::UnderReview);
    assert!(a.client().edit(EXAM, |d| d.set_field("name", "李四光")).is_err(), "locked on the device");
    stale.edit(EXAM, |d| d.set_field("name", "李四光")).expect("offline edit while it looked editable");
    stale.sync_batch(SYNC).await.expect("sync");
    assert!(!stale.rejected_edits(EXAM).expect("rejected").is_empty(), "the locked edit is refused");
    assert_eq!(stale.server(EXAM).expect("server").status, Status::UnderReview);
    assert_eq!(stale.draft(EXAM).expect("draft").fields.get("name").map(String::as_str), Some("张三丰"));
    // Withdrawing while under review is refused as locked.
    a.act(CandidateAction::Withdraw, "a-withdraw-locked").refused(409, ErrorCode::Locked);

    // Another candidate cannot touch A's registration: their actions name their own document.
    let b = Candidate::new(addr, 2, REVIEWED, &["15"]).await;
    b.act(CandidateAction::Withdraw, "b-withdraw").refused(409, ErrorCode::TransitionNotAllowed);
    assert_eq!(b.registration().status, Status::Draft);
    assert_eq!(a.registration().status, Status::UnderReview);
    let doc = first.document_id.clone();
    let admin = admin_login(addr);
    let listed: Vec<CenterRegistration> =
        support::get(addr, &paths::operator_registrations(EXAM, REVIEWED)).token(&admin).send().typed();
    assert!(
        listed.len() == 1
            && listed[0].registration.document_id == doc
            && listed[0].registration.status == Status::UnderReview,
        "{listed:?}"
    );
    let r = approve(addr, b.token(), &doc).send();
    r.refused(401, ErrorCode::Unauthorized);

    // An operator of another center does not see the registration at all.
    create_operator(addr, &admin, "chaoyang", "Eastern-Desk-Pass-9", Role::CenterOperator, &["bj-chaoyang"]);
    let outsider = operator_login(addr, "chaoyang", "Eastern-Desk-Pass-9");
    approve(addr, &outsider, &doc).send().refused(404, ErrorCode::NotFound);
    reject(addr, &outsider, &doc, "x", &[]).send().refused(404, ErrorCode::NotFound);

    // Rejected with a reason: answers editable again, choices still locked.
    let rejected: RegistrationView =
        reject(addr, &admin, &doc, "照片不清晰 / the photo is blurred", &["draft.photo"])
            .key("rej-1")
            .send()
            .typed();
    assert_eq!(rejected.status, Status::Rejected);
    let shown = a.registration();
    assert_eq!(shown.reason_paths, vec!["draft.photo".to_owned()]);
    assert!(shown.reason.as_deref().is_some_and(|s| s.contains("blurred")));
    assert_eq!(synced_status(&a).await, Status::Rejected);
    a.client().edit(EXAM, |d| d.set_field("name", "张三")).expect("fix");
    a.client().sync_batch(SYNC).await.expect("sync");
    assert!(
        a.client().rejected_edits(EXAM).expect("rejected").is_empty(),
        "answers are editable when rejected"
    );
    assert!(a.client().edit(EXAM, |d| d.remove_subject("15")).is_err(), "choices stay locked");

    let applied: RegistrationView = a.act(CandidateAction::ApplyReview, "a-apply-2").typed();
    assert_eq!(applied.status, Status::UnderReview);
    let before = server.time_ms();
    approve(addr, &admin, &doc).send().expect(200);
    let approved = a.registration();
    assert_eq!(approved.status, Status::Approved);
    let deadline = approved.deadline_ms.expect("a payment deadline runs");
    let day = 24 * 3600 * 1000;
    assert!(deadline >= before + day - 60_000 && deadline <= before + day + 60_000, "{approved:?}");
    assert_eq!(synced_status(&a).await, Status::Approved);
    assert_eq!(
        a.client().server(EXAM).expect("server").deadline_ms,
        Some(deadline),
        "the device shows the deadline"
    );
    assert_invariant(&availability(addr, REVIEWED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_review_the_hold_expires_at_the_deadline_and_frees_the_seats() {
    let server = start();
    let addr = server.addr;
    let a = Candidate::new(addr, 11, SMALL, &["15", "66"]).await;
    // Another account with the same ID document.
    let twin = Candidate::with_id(addr, 12, 11, SMALL, &["15"]).await;
    let v: RegistrationView = a.submit("s1").typed();
    assert_eq!(v.status, Status::Submitted);
    let deadline = v.deadline_ms.expect("payment follows submission");
    assert_eq!(v.amount_fen, Some(8000 + 11800));
    let (center_held, subjects) = assert_invariant(&availability(addr, SMALL));
    assert_eq!(center_held, 1);
    assert!(subjects.iter().all(|(_, held)| *held == 1), "{subjects:?}");

    // The same ID document on another account is refused while A holds seats.
    twin.submit("t1").refused(409, ErrorCode::DuplicateIdDocument);

    // A second before the deadline the hold stands; just past it the sweeper expires the hold
    // and releases every seat.
    assert_eq!(server.advance(server.ms_until(deadline).saturating_sub(1_000)).expired, 0);
    assert_eq!(a.registration().status, Status::Submitted);
    assert_eq!(server.advance_past(deadline).expired, 1);
    assert_eq!(a.registration().status, Status::Expired);
    let (center_held, subjects) = assert_invariant(&availability(addr, SMALL));
    assert_eq!(center_held, 0);
    assert!(subjects.iter().all(|(_, held)| *held == 0), "{subjects:?}");
    assert_eq!(synced_status(&a).await, Status::Expired, "the device sees the expiry");
    a.act(CandidateAction::Withdraw, "w-after").refused(409, ErrorCode::TransitionNotAllowed);
    // With the ID document free again, the twin can register.
    twin.submit("t2").expect(200);
    let withdrawn: RegistrationView = twin.act(CandidateAction::Withdraw, "t-withdraw").typed();
    assert_eq!(withdrawn.status, Status::Withdrawn);
    assert_eq!(assert_invariant(&availability(addr, SMALL)).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_never_oversell_and_losers_learn_which_pool_is_gone() {
    const CANDIDATES: u32 = 100;
    let server = start();
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
            std::thread::spawn(move || c.submit("race"))
        })
        .collect();
    let answers: Vec<Response> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let mut won = 0;
    for r in &answers {
        if r.status == 200 {
            won += 1;
            continue;
        }
        let gone = r.refused(409, ErrorCode::SeatGone);
        let pools = gone.pools.clone().unwrap_or_default();
        let at_small = |p: &SeatPool| match p {
            SeatPool::Center { center } | SeatPool::Subject { center, .. } => center == SMALL,
        };
        assert!(!pools.is_empty() && pools.iter().all(at_small), "{gone:?}");
    }
    assert_eq!(won, 8, "every seat sold once, none twice");
    let (center_held, subjects) = assert_invariant(&availability(addr, SMALL));
    assert_eq!(center_held, 8);
    assert!(subjects.iter().all(|(_, held)| *held == 4), "{subjects:?}");
}

/// The seat path remembers a pool it found full (so that a surge for it is refused from memory),
/// and forgets it as soon as a seat of it comes free or a catalog with more seats is in force:
/// nobody is told `seat_gone` while a seat waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_found_full_is_forgotten_when_a_seat_comes_free() {
    let server = start();
    let addr = server.addr;
    let subject_15 = SeatPool::Subject { center: SMALL.into(), subject: "15".into() };
    // Subject 15 at the small center has four seats: four candidates take them.
    let mut holders = Vec::new();
    for n in 0..4 {
        let c = Candidate::new(addr, 300 + n, SMALL, &["15"]).await;
        assert_eq!(c.submit("take").typed::<RegistrationView>().status, Status::Submitted);
        holders.push(c);
    }
    let late = Candidate::new(addr, 310, SMALL, &["15"]).await;
    let later = Candidate::new(addr, 311, SMALL, &["15"]).await;
    for c in [&late, &later] {
        let gone = c.submit("first").refused(409, ErrorCode::SeatGone);
        assert_eq!(gone.pools, Some(vec![subject_15.clone()]), "{gone:?}");
    }
    // A holder withdraws: the next to ask gets the seat.
    let withdrawn: RegistrationView = holders[0].act(CandidateAction::Withdraw, "leave").typed();
    assert_eq!(withdrawn.status, Status::Withdrawn);
    assert_eq!(late.submit("second").typed::<RegistrationView>().status, Status::Submitted);
    later.submit("second").refused(409, ErrorCode::SeatGone);
    // Two more seats for subject 15 in a new catalog: it is not full any more.
    import_catalog(addr, &support::with_capacity(&server.demo_catalog(Windows::OPEN), SMALL, 10, "15", 6));
    assert_eq!(later.submit("third").typed::<RegistrationView>().status, Status::Submitted);
    let (center_held, _) = assert_invariant(&availability(addr, SMALL));
    assert_eq!(center_held, 5);
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

/// When registration closes nothing new is taken (submissions and new applications for review are
/// refused `window_closed`), holds keep their payment deadline and the sweeper expires them, and
/// edits at sync keep obeying the lifecycle's lock table. The window is closed by re-importing
/// the catalog with a registration window that ended a second ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_window_takes_nothing_new_and_lets_the_holds_run_out() {
    let server = start();
    let addr = server.addr;
    let held = Candidate::new(addr, 21, SMALL, &["15"]).await;
    let rejected = Candidate::new(addr, 22, REVIEWED, &["15"]).await;
    let drafting = Candidate::new(addr, 23, SMALL, &["66"]).await;
    // A second device of `held` that last synced while the registration was a draft.
    let (stale, _stale_dir) = held.device().await;

    let doc = rejected.submit("r-submit").typed::<RegistrationView>().document_id;
    rejected.act(CandidateAction::ApplyReview, "r-apply").expect(200);
    let admin = admin_login(addr);
    reject(addr, &admin, &doc, "请重新上传照片", &["draft.photo"]).send().expect(200);
    let deadline =
        held.submit("h-submit").typed::<RegistrationView>().deadline_ms.expect("a payment deadline runs");

    import_catalog(addr, &server.demo_catalog(Windows::CLOSED));

    // Nothing new is taken.
    drafting.submit("d-submit").refused(409, ErrorCode::WindowClosed);
    rejected.act(CandidateAction::ApplyReview, "r-apply-again").refused(409, ErrorCode::WindowClosed);
    // The hold keeps its deadline.
    let v = held.registration();
    assert_eq!((v.status, v.deadline_ms), (Status::Submitted, Some(deadline)), "{v:?}");

    // Edits at sync follow the lock table, not the window: while submitted the choices are
    // locked (the stale device's offline change is refused at sync) and the answers are open.
    stale.edit(EXAM, |d| d.remove_subject("15")).expect("an offline edit while it looked editable");
    stale.sync_batch(SYNC).await.expect("sync");
    assert!(!stale.rejected_edits(EXAM).expect("rejected").is_empty(), "choices are locked");
    assert_eq!(stale.draft(EXAM).expect("draft").subjects, vec!["15".to_owned()]);
    assert_eq!(synced_status(&held).await, Status::Submitted);
    held.client().edit(EXAM, |d| d.set_field("mobile", "13900139000")).expect("answers are editable");
    held.client().sync_batch(SYNC).await.expect("sync");
    assert!(held.client().rejected_edits(EXAM).expect("rejected").is_empty(), "answers stay open");
    // A draft stays editable; it just cannot be submitted.
    drafting.client().edit(EXAM, |d| d.remove_subject("66")).expect("draft edit");
    drafting.client().sync_batch(SYNC).await.expect("sync");
    assert!(drafting.client().rejected_edits(EXAM).expect("rejected").is_empty(), "drafts stay editable");

    // The sweeper expires the hold at its deadline; it cannot be submitted again.
    assert_eq!(server.advance_past(deadline).expired, 1);
    assert_eq!(held.registration().status, Status::Expired);
    held.submit("h-submit-again").refused(409, ErrorCode::WindowClosed);
    // Withdrawing only gives seats back, so it stays possible.
    let withdrawn: RegistrationView = rejected.act(CandidateAction::Withdraw, "r-withdraw").typed();
    assert_eq!(withdrawn.status, Status::Withdrawn);
    for center in [SMALL, REVIEWED] {
        let (center_held, subjects) = assert_invariant(&availability(addr, center));
        assert_eq!(center_held, 0, "{center}");
        assert!(subjects.iter().all(|(_, held)| *held == 0), "{center}: {subjects:?}");
    }
}
