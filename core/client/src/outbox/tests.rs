//! The outbox's persistence, ordering, double-press refusal and retry schedule.

use super::*;

fn stored(store: &LocalStore) -> OutboxFile {
    store.load_outbox().expect("stored")
}

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LocalStore::open(dir.path()).expect("open");
    (dir, store)
}

fn done(exam: &str, status: Status) -> ActionResult {
    ActionResult::Done(Box::new(RegistrationView {
        document_id: "doc".into(),
        exam: exam.into(),
        status,
        status_label_zh: status.label_zh().into(),
        updated_at_ms: 1,
        ..blank_view()
    }))
}

#[test]
fn queued_actions_survive_a_restart_with_their_keys_and_heads() {
    let (dir, store) = store();
    let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
    let heads = vec!["ab".repeat(32)];
    let submit = outbox.enqueue(&store, "ncre-2027-03", ActionKind::Submit, heads.clone()).expect("q");
    let withdraw = outbox.enqueue(&store, "ncre-2027-03", ActionKind::Withdraw, vec![]).expect("q");
    assert_ne!(submit.idempotency_key, withdraw.idempotency_key, "a fresh key per action");
    for key in [&submit.idempotency_key, &withdraw.idempotency_key] {
        assert!(key.starts_with("bm-") && key.len() == 35, "{key}");
        assert!(key[3..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(submit.heads, heads);
    assert_eq!(submit.body(), format!("{{\"heads\":[\"{}\"]}}", heads[0]).into_bytes());
    assert!(withdraw.body().is_empty());
    drop(outbox);
    drop(store);

    let store = LocalStore::open(dir.path()).expect("reopen");
    let mut outbox = Outbox::load(&store, Backoff::default()).expect("reload");
    assert_eq!(outbox.queued(), &[submit.clone(), withdraw.clone()][..], "same order, keys, heads");
    let third = outbox.enqueue(&store, "ncre-2027-03", ActionKind::Submit, vec![]).expect("q");
    assert_eq!(third.seq, 2, "sequence numbers are never reused");
}

#[test]
fn a_double_press_is_refused_locally_and_nothing_is_stored() {
    let (_dir, store) = store();
    let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
    let first = outbox.enqueue(&store, "a", ActionKind::Submit, vec![]).expect("q");
    match outbox.enqueue(&store, "a", ActionKind::Submit, vec!["cd".repeat(32)]) {
        Err(QueueError::AlreadyQueued { exam_id, kind, idempotency_key }) => {
            assert_eq!((exam_id.as_str(), kind), ("a", ActionKind::Submit));
            assert_eq!(idempotency_key, first.idempotency_key, "the waiting action is named");
        }
        other => panic!("expected AlreadyQueued, got {other:?}"),
    }
    // Another registration, or another kind in between, is fine.
    outbox.enqueue(&store, "b", ActionKind::Submit, vec![]).expect("other exam");
    outbox.enqueue(&store, "a", ActionKind::Withdraw, vec![]).expect("withdraw");
    outbox.enqueue(&store, "a", ActionKind::Submit, vec![]).expect("submit again");
    assert!(matches!(
        outbox.enqueue(&store, "a", ActionKind::Submit, vec![]),
        Err(QueueError::AlreadyQueued { .. })
    ));
    let kinds: Vec<(&str, ActionKind)> =
        outbox.queued().iter().map(|a| (a.exam_id.as_str(), a.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            ("a", ActionKind::Submit),
            ("b", ActionKind::Submit),
            ("a", ActionKind::Withdraw),
            ("a", ActionKind::Submit)
        ]
    );
    assert_eq!(stored(&store).queued, outbox.queued(), "memory = disk");
}

#[test]
fn actions_go_out_in_order_per_registration_and_a_held_one_blocks_only_its_own() {
    let (_dir, store) = store();
    let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
    let a1 = outbox.enqueue(&store, "a", ActionKind::Submit, vec![]).expect("q");
    let b1 = outbox.enqueue(&store, "b", ActionKind::Submit, vec![]).expect("q");
    let a2 = outbox.enqueue(&store, "a", ActionKind::Withdraw, vec![]).expect("q");
    assert_eq!(outbox.next(|_| true), Some(a1.clone()));
    assert_eq!(outbox.next(|e| e != "a"), Some(b1.clone()), "a held registration waits");
    assert_eq!(outbox.next(|e| e != "a" && e != "b"), None);

    let outcome = outbox.finish(&store, a1.seq, done("a", Status::Submitted)).expect("finish");
    assert_eq!(outcome.action, a1);
    assert_eq!(outbox.next(|_| true), Some(b1.clone()));
    outbox.finish(&store, b1.seq, done("b", Status::Submitted)).expect("finish");
    assert_eq!(outbox.next(|_| true), Some(a2.clone()), "then a's withdrawal");
    let refusal = ActionResult::Refused(ActionRefusal {
        code: ErrorCode::TransitionNotAllowed,
        code_text: ErrorCode::TransitionNotAllowed.as_str().into(),
        http_status: 409,
        message: "no".into(),
        details: serde_json::json!({ "status": "draft" }),
    });
    outbox.finish(&store, a2.seq, refusal.clone()).expect("finish");
    assert!(outbox.queued().is_empty());
    let on_disk = stored(&store);
    let seqs: Vec<u64> = on_disk.outcomes.iter().map(|o| o.action.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2], "outcomes in the order they finished");
    assert_eq!(on_disk.outcomes[2].result, refusal);
    assert!(on_disk.queued.is_empty(), "queue and outcome moved in one write");
    assert!(outbox.finish(&store, a2.seq, refusal).is_err(), "an action finishes once");
}

#[test]
fn a_transient_failure_keeps_the_action_and_backs_off() {
    let (_dir, store) = store();
    let backoff = Backoff { initial: Duration::from_secs(4), max: Duration::from_secs(60), jitter: 0.0 };
    let mut outbox = Outbox::load(&store, backoff).expect("load");
    assert!(outbox.due(Instant::now()) && outbox.wake_at().is_none());
    let a = outbox.enqueue(&store, "a", ActionKind::ApplyForReview, vec![]).expect("q");
    let (after, delay) = outbox.delay(&store, a.seq, "the server cannot be reached", None).expect("delay");
    assert_eq!(delay, Duration::from_secs(4));
    assert_eq!((after.attempts, after.last_error.as_deref()), (1, Some("the server cannot be reached")));
    assert!(!outbox.due(Instant::now()), "waits for the delay");
    assert!(outbox.due(Instant::now() + Duration::from_secs(5)));
    assert!(outbox.wake_at().is_some());
    let (_, delay) = outbox.delay(&store, a.seq, "503", None).expect("delay");
    assert_eq!(delay, Duration::from_secs(8), "doubles");
    assert_eq!(stored(&store).queued[0].attempts, 2, "attempts are kept");
    let (_, delay) = outbox.delay(&store, a.seq, "503", Some(Duration::from_secs(40))).expect("delay");
    assert_eq!(delay, Duration::from_secs(40), "the server's Retry-After when it asks for longer");
    assert!(!outbox.due(Instant::now() + Duration::from_secs(39)), "not before the server said");
    outbox.finish(&store, a.seq, done("a", Status::UnderReview)).expect("finish");
    assert!(outbox.due(Instant::now()) && outbox.wake_at().is_none(), "an answer resets it");
}

#[test]
fn outcomes_are_bounded_and_can_be_dismissed() {
    let (_dir, store) = store();
    let mut outbox = Outbox::load(&store, Backoff::default()).expect("load");
    for i in 0..(MAX_OUTCOMES + 3) {
        let kind = if i % 2 == 0 { ActionKind::Submit } else { ActionKind::Withdraw };
        let a = outbox.enqueue(&store, "a", kind, vec![]).expect("q");
        outbox.finish(&store, a.seq, done("a", Status::Submitted)).expect("finish");
    }
    assert_eq!(outbox.outcomes().len(), MAX_OUTCOMES);
    assert_eq!(outbox.outcomes()[0].action.seq, 3, "the oldest went first");
    outbox.clear_outcomes(&store).expect("clear");
    assert!(stored(&store).outcomes.is_empty());
}

#[test]
fn refusals_keep_the_code_as_the_server_spelled_it() {
    let stored =
        |code: &str| serde_json::json!({ "code": code, "http_status": 409, "message": "m", "details": {} });
    for code in [ErrorCode::SeatGone, ErrorCode::Invalid, ErrorCode::IdempotencyKeyReused] {
        let r: ActionRefusal = serde_json::from_value(stored(code.as_str())).expect("reads");
        assert_eq!((r.code, r.code_text.as_str()), (code, code.as_str()));
        assert_eq!(serde_json::to_value(&r).expect("json"), stored(code.as_str()), "written back the same");
    }
    let newer: ActionRefusal = serde_json::from_value(stored("from_the_future")).expect("reads");
    assert_eq!((newer.code, newer.code_text.as_str()), (ErrorCode::Unknown, "from_the_future"));
    assert_eq!(serde_json::to_value(&newer).expect("json"), stored("from_the_future"), "the text survives");
}

#[test]
fn a_refusal_reads_its_details_typed() {
    let r = ActionRefusal {
        code: ErrorCode::SeatGone,
        code_text: "seat_gone".into(),
        http_status: 409,
        message: "no seat left".into(),
        details: serde_json::json!({ "pools": [{ "kind": "center", "center": "bj-dongcheng" }] }),
    };
    let body = r.body();
    assert_eq!((body.code, body.message.as_str()), (ErrorCode::SeatGone, "no seat left"));
    assert_eq!(
        body.pools,
        Some(vec![baoming_core::api::error::SeatPool::Center { center: "bj-dongcheng".into() }])
    );
    let odd = ActionRefusal { details: serde_json::json!({ "pools": [{ "kind": "moon" }] }), ..r };
    assert_eq!(
        odd.body(),
        ErrorBody::new(ErrorCode::SeatGone, "no seat left"),
        "unreadable details are left out"
    );
}

/// `outbox.json` as the client wrote it before it read the contract: outcomes with the
/// client's own registration status (the first version's and the last one's), refusals with
/// a known code, a code the client did not know and an answer without an error body, and
/// actions still queued. Devices have such files; they must load.
#[test]
#[allow(clippy::too_many_lines, reason = "the former format is spelled out byte by byte")]
fn an_outbox_file_of_the_former_format_still_loads() {
    const FORMER: &str = r#"{
  "next_seq": 7,
  "queued": [
{ "seq": 4, "exam_id": "ncre-2027-03", "kind": "apply_for_review",
  "idempotency_key": "bm-00112233445566778899aabbccddeeff", "queued_at_ms": 1790000000000,
  "attempts": 2, "last_error": "the server cannot be reached: connection refused" },
{ "seq": 5, "exam_id": "ncre-2027-09", "kind": "submit",
  "idempotency_key": "bm-ffeeddccbbaa99887766554433221100",
  "heads": ["abababababababababababababababababababababababababababababababab"],
  "queued_at_ms": 1790000001000, "attempts": 0, "last_error": null }
  ],
  "outcomes": [
{ "action": { "seq": 0, "exam_id": "ncre-2027-03", "kind": "submit",
              "idempotency_key": "bm-0123456789abcdef0123456789abcdef",
              "heads": ["cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"],
              "queued_at_ms": 1789000000000, "attempts": 0, "last_error": null },
  "result": { "done": { "document_id": "2xQd1", "exam": "ncre-2027-03", "status": "submitted",
                        "reason": null, "reason_paths": [], "deadline_ms": 1789086400000,
                        "center": "bj-dongcheng", "seats": ["15"], "amount_fen": 7500,
                        "updated_at_ms": 1789000000500 } },
  "finished_at_ms": 1789000000600 },
{ "action": { "seq": 1, "exam_id": "ncre-2027-03", "kind": "withdraw",
              "idempotency_key": "bm-1123456789abcdef0123456789abcdef",
              "queued_at_ms": 1789000001000, "attempts": 0, "last_error": null },
  "result": { "done": { "document_id": "2xQd1", "exam": "ncre-2027-03", "status": "paid",
                        "reason": null, "reason_paths": [], "deadline_ms": null,
                        "center": "bj-dongcheng", "seats": ["15"], "amount_fen": 7500,
                        "ticket": "270301020010013", "updated_at_ms": 1789000002000,
                        "order": "BM1789000001000000a1b2c3d4e5f6", "trade_no": "2027032722001",
                        "paid_at_ms": 1789000001500, "refunded_fen": null, "refund_due": false } },
  "finished_at_ms": 1789000002100 },
{ "action": { "seq": 2, "exam_id": "ncre-2027-09", "kind": "submit",
              "idempotency_key": "bm-2123456789abcdef0123456789abcdef", "heads": [],
              "queued_at_ms": 1789000003000, "attempts": 1, "last_error": "503" },
  "result": { "refused": { "code": "seat_gone", "http_status": 409, "message": "no seat left",
                           "details": { "pools": [{ "kind": "subject", "center": "bj-dongcheng", "subject": "15" }] } } },
  "finished_at_ms": 1789000003100 },
{ "action": { "seq": 3, "exam_id": "ncre-2027-09", "kind": "withdraw",
              "idempotency_key": "bm-3123456789abcdef0123456789abcdef",
              "queued_at_ms": 1789000004000, "attempts": 0, "last_error": null },
  "result": { "refused": { "code": "something_new", "http_status": 409, "message": "newer",
                           "details": {} } },
  "finished_at_ms": 1789000004100 },
{ "action": { "seq": 6, "exam_id": "ncre-2027-09", "kind": "withdraw",
              "idempotency_key": "bm-4123456789abcdef0123456789abcdef",
              "queued_at_ms": 1789000005000, "attempts": 0, "last_error": null },
  "result": { "refused": { "code": "http_404", "http_status": 404, "message": "<html>", "details": {} } },
  "finished_at_ms": 1789000005100 }
  ]
}"#;
    let (dir, store) = store();
    std::fs::write(dir.path().join("outbox.json"), FORMER).expect("write");
    let outbox = Outbox::load(&store, Backoff::default()).expect("the former file loads");
    let kinds: Vec<ActionKind> = outbox.queued().iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [ActionKind::ApplyForReview, ActionKind::Submit]);
    assert_eq!(outbox.queued()[0].attempts, 2);
    assert_eq!(outbox.queued()[1].heads, ["ab".repeat(32)]);

    let results: Vec<&ActionResult> = outbox.outcomes().iter().map(|o| &o.result).collect();
    let ActionResult::Done(first) = results[0] else { panic!("{:?}", results[0]) };
    assert_eq!(
        (first.status, first.status_label_zh.as_str()),
        (Status::Submitted, Status::Submitted.label_zh())
    );
    assert_eq!((first.center.as_deref(), first.amount_fen), (Some("bj-dongcheng"), Some(7500)));
    assert_eq!((first.order.as_ref(), first.ticket.as_ref(), first.refund_due), (None, None, false));
    let ActionResult::Done(paid) = results[1] else { panic!("{:?}", results[1]) };
    assert_eq!(paid.ticket.as_deref(), Some("270301020010013"));
    assert_eq!(paid.trade_no.as_deref(), Some("2027032722001"));
    let refusals: Vec<(ErrorCode, &str, u16)> = results[2..]
        .iter()
        .map(|r| match r {
            ActionResult::Refused(r) => (r.code, r.code_text.as_str(), r.http_status),
            ActionResult::Done(v) => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(
        refusals,
        [
            (ErrorCode::SeatGone, "seat_gone", 409),
            (ErrorCode::Unknown, "something_new", 409),
            (ErrorCode::Unknown, "http_404", 404)
        ]
    );
    let ActionResult::Refused(seat_gone) = results[2] else { unreachable!() };
    assert!(seat_gone.body().pools.is_some_and(|p| p.len() == 1));

    // Written back in the current format, read again the same.
    let mut outbox = outbox;
    let a = outbox.enqueue(&store, "ncre-2027-12", ActionKind::Submit, vec![]).expect("queue");
    assert_eq!(a.seq, 7, "sequence numbers go on");
    let again = Outbox::load(&store, Backoff::default()).expect("reload");
    assert_eq!(again.outcomes(), outbox.outcomes());
    let text = std::fs::read_to_string(dir.path().join("outbox.json")).expect("read");
    assert!(text.contains("\"something_new\""), "a newer code is kept as the server spelled it");
}
