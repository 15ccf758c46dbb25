//! Cancellations: a center and then the whole session cancelled by an administrator, and a
//! cancellation a crash interrupted, finished at start-up.

use super::*;

fn cancel(addr: SocketAddr, token: &str, path: &str, key: Option<&str>, reason: &str) -> Response {
    let req = post(addr, path).token(token).json(&CancelRequest { reason: reason.into() });
    match key {
        Some(k) => req.key(k).send(),
        None => req.send(),
    }
}

/// An administrator cancels a center, then the whole session: every registration holding seats
/// there becomes `cancelled` with the reason (devices see it live), the seats come back, the pool
/// refuses submissions with `cancelled`, every step is audited, and the endpoint is idempotent
/// and for administrators only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_cancels_a_center_and_then_the_session() {
    let server = start();
    let addr = server.addr;
    let a = Candidate::new(addr, 31, SMALL, &["15"]).await;
    let b = Candidate::new(addr, 32, SMALL, &["66"]).await;
    let c = Candidate::new(addr, 33, REVIEWED, &["15"]).await;
    let late = Candidate::new(addr, 34, SMALL, &["15"]).await;
    let elsewhere = Candidate::new(addr, 35, "bj-changping", &["15"]).await;
    for (cand, key) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        cand.submit(key).expect(200);
    }
    c.act(CandidateAction::ApplyReview, "c-apply").expect(200);
    let run = a.client().start();

    // Only administrators cancel.
    let admin = admin_login(addr);
    let small_center = paths::cancel_center(EXAM, SMALL);
    for (name, role, centers) in
        [("audit", Role::Auditor, &[][..]), ("dongcheng", Role::CenterOperator, &[SMALL][..])]
    {
        create_operator(addr, &admin, name, "Quiet-Ledger-Pass-7", role, centers);
        let token = operator_login(addr, name, "Quiet-Ledger-Pass-7");
        cancel(addr, &token, &small_center, None, "x").refused(403, ErrorCode::Forbidden);
    }
    cancel(addr, a.token(), &small_center, None, "x").refused(401, ErrorCode::Unauthorized);
    cancel(addr, &admin, &small_center, None, "  ").refused(422, ErrorCode::ReasonInvalid);
    cancel(addr, &admin, &paths::cancel_center(EXAM, "nowhere"), None, "x").refused(404, ErrorCode::NotFound);
    assert_eq!(assert_invariant(&availability(addr, SMALL)).0, 2, "nothing changed yet");

    // Cancel the small center.
    let reason = "考点停用 / the center is closed";
    let first: CancellationAnswer = cancel(addr, &admin, &small_center, Some("cx-1"), reason).typed();
    assert_eq!(first.status, CancellationStatus::Finished);
    assert_eq!((first.registrations_cancelled, first.refunds_due), (2, 0));
    assert_eq!((first.progress.cancelled_now, first.progress.already_cancelled), (2, 0), "{first:?}");
    let again: CancellationAnswer = cancel(addr, &admin, &small_center, Some("cx-1"), reason).typed();
    assert_eq!(again, first, "the key replays the answer");
    cancel(addr, &admin, &small_center, Some("cx-1"), "y").refused(422, ErrorCode::IdempotencyKeyReused);
    let rerun: CancellationAnswer = cancel(addr, &admin, &small_center, Some("cx-2"), reason).typed();
    assert_eq!(rerun.progress.cancelled_now, 0, "a re-run changes nothing");
    assert_eq!(rerun.progress.already_cancelled, 2);

    for cand in [&a, &b] {
        let v = cand.registration();
        assert_eq!((v.status, v.reason.as_deref()), (Status::Cancelled, Some(reason)), "{v:?}");
        assert_eq!((v.seats.len(), v.refund_due), (0, false), "{v:?}");
    }
    let small = availability(addr, SMALL);
    assert!(small.cancelled, "{small:?}");
    let (center_held, subjects) = assert_invariant(&small);
    assert_eq!(center_held, 0);
    assert!(subjects.iter().all(|(_, held)| *held == 0), "{subjects:?}");
    // The connected device sees it without asking.
    wait_until_async("the device to see the cancellation", Duration::from_secs(20), async || {
        a.client().server(EXAM).expect("server").status == Status::Cancelled
    })
    .await;
    assert_eq!(a.client().server(EXAM).expect("server").reason.as_deref(), Some(reason));
    run.stop().await.expect("stop");
    assert!(a.client().edit(EXAM, |d| d.set_field("name", "李四")).is_err(), "everything is locked");
    // The pool is closed: a submission there is refused with the typed reason.
    let refusal = late.submit("late").refused(409, ErrorCode::Cancelled);
    assert_eq!(refusal.center, Some(Some(SMALL.to_owned())), "{refusal:?}");
    // Other centers are untouched.
    assert_eq!(c.registration().status, Status::UnderReview);
    assert!(!availability(addr, REVIEWED).cancelled);

    // Cancel the whole session: the rest follows, and every center is closed.
    let v: CancellationAnswer =
        cancel(addr, &admin, &paths::cancel_exam(EXAM), Some("ex-1"), "考试取消").typed();
    assert_eq!((v.progress.cancelled_now, v.registrations_cancelled), (1, 3), "{v:?}");
    assert_eq!(c.registration().status, Status::Cancelled);
    assert_eq!(assert_invariant(&availability(addr, REVIEWED)).0, 0);
    elsewhere.submit("elsewhere").refused(409, ErrorCode::Cancelled);

    // Every step is in the audit log.
    let query = AuditQuery { from: 1, limit: 1000 }.query_string();
    let entries: Vec<AuditEntry> =
        support::get(addr, &format!("{}{query}", paths::OPERATOR_AUDIT)).token(&admin).send().typed();
    let count = |a: &str| entries.iter().filter(|e| e.action == a).count();
    assert_eq!(
        (
            count("center.cancel"),
            count("exam.cancel"),
            count("registration.cancel"),
            count("cancel.finished")
        ),
        (1, 1, 3, 3),
        "{:?}",
        entries.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
}

/// A cancellation interrupted after its marker was committed (a crash) is finished by the
/// start-up pass: registrations still holding seats are cancelled (a paid one with `refund_due`
/// and its seats back from `paid`), one already cancelled without its projection is repaired,
/// one that held nothing is left alone, and the counters match. In-process: the crash window
/// cannot be hit from outside the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one cancellation, interrupted and resumed, checked at each step")]
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
