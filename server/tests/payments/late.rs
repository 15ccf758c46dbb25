//! Payments that arrive late: after the hold expired, for an order the server closed, and the
//! race between paying and the deadline across many registrations.

use super::*;

/// The platform unreachable at the deadline: the sweeper cannot close the trades, so the holds
/// expire and the seats go back; payments made just before then are found by the reconciler
/// once the platform is back. Each keeps its seat when one is free (taken again atomically),
/// else is refunded through the platform and the candidate is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_after_expiry_keeps_a_free_seat_or_is_refunded() {
    let sandbox = support::paysandbox::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(dir.path(), Some(&sandbox), None);
    let addr = server.addr;
    // Four candidates take the four seats of subject 15 and open their orders.
    let mut late = Vec::new();
    for n in 0..4 {
        let c = Candidate::submitted(addr, 10 + n, SMALL, &["15"]).await;
        let (no, url, _) = order_of(&c.open_order(&format!("late-{n}")));
        late.push((c, no, url));
    }
    let last_deadline = late.iter().filter_map(|(c, _, _)| c.status().deadline_ms).max().expect("deadlines");
    // They pay; the platform's notifications are lost, then the platform goes down.
    let _: Faults = sandbox.set_faults(&json!({ "lost": true }));
    for (_, _, url) in &late {
        assert_eq!(pay_on_page(url), 200);
    }
    let _: Faults = sandbox.set_faults(&json!({ "down": true }));
    // The deadlines pass: the sweeper cannot reach the platform and expires the holds.
    assert_eq!(server.advance_past(last_deadline).expired, 4);
    assert!(late.iter().all(|(c, _, _)| c.status().status == Status::Expired));
    assert_eq!(invariant(addr, SMALL), (0, 0), "expired holds gave their seats back");
    // Two newcomers take two of the freed seats.
    let b1 = Candidate::submitted(addr, 20, SMALL, &["15"]).await;
    let b2 = Candidate::submitted(addr, 21, SMALL, &["15"]).await;
    assert_eq!(invariant(addr, SMALL), (2, 0));
    // The platform is back: the reconciler finds the four payments.
    let _: Faults = sandbox.set_faults(&json!({ "down": false, "lost": false }));
    wait_until_async("the late payments to settle", Duration::from_secs(20), async || {
        for (c, _, _) in &late {
            let status = c.status().status;
            let settled = status == Status::Paid || (status == Status::Expired && has_refund(c).await);
            if !settled {
                return false;
            }
        }
        true
    })
    .await;
    let mut paid = 0;
    let mut refunded = 0;
    for (c, _, _) in &late {
        c.client.sync_batch(SYNC).await.expect("sync");
        let s = c.client.server(EXAM).expect("server");
        match s.status {
            Status::Paid => {
                paid += 1;
                assert_eq!(s.seats, vec!["15".to_owned()]);
            }
            Status::Expired => {
                refunded += 1;
                assert_eq!(s.refunded_fen, Some(8_000), "{s:?}");
                assert!(s.reason.as_deref().is_some_and(|r| r.contains("refunded")), "{s:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((paid, refunded), (2, 2), "two seats were free");
    assert_eq!(invariant(addr, SMALL), (2, 2));
    assert_eq!((b1.status().status, b2.status().status), (Status::Submitted, Status::Submitted));
}

/// The platform keeps its own clock. An order the server closed at its deadline before the
/// platform ever saw the trade (its page never opened) can still be paid on the platform's page,
/// whose clock says the trade has not expired: the money then takes the seat when one is free and
/// is refunded when none is — it is never kept without a seat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_for_an_order_the_server_closed_takes_a_free_seat_or_is_refunded() {
    let sandbox = support::paysandbox::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(dir.path(), Some(&sandbox), None);
    let addr = server.addr;
    // Two candidates open orders for subject 15 (four seats) and do not open the pages.
    let mut late = Vec::new();
    for n in 0..2 {
        let c = Candidate::submitted(addr, 30 + n, SMALL, &["15"]).await;
        let (no, url, _) = order_of(&c.open_order(&format!("closed-{n}")));
        late.push((c, no, url));
    }
    let last_deadline = late.iter().filter_map(|(c, _, _)| c.status().deadline_ms).max().expect("deadlines");
    // The deadlines pass on the server's clock: the platform knows no such trade, so the
    // server closes the orders on its own word.
    assert_eq!(server.advance_past(last_deadline).expired, 2);
    for (c, _, _) in &late {
        let v: PaymentRefreshAnswer = c.refresh().typed();
        assert_eq!(v.registration.status, Status::Expired, "{v:?}");
        assert_eq!(v.payment.as_ref().map(|p| p.order.state), Some(OrderState::Closed), "{v:?}");
    }
    // Three newcomers take three of the four seats.
    for n in 0..3 {
        let c = Candidate::submitted(addr, 40 + n, SMALL, &["15"]).await;
        assert_eq!(c.status().status, Status::Submitted);
    }
    assert_eq!(invariant(addr, SMALL), (3, 0));
    // The first late candidate pays on the platform's page: the last free seat is theirs.
    let (first, _, url) = &late[0];
    assert_eq!(pay_on_page(url), 200, "the platform's clock has not passed time_expire");
    first.device_sees_paid(8_000).await;
    assert_eq!(first.client.server(EXAM).expect("server").seats, vec!["15".to_owned()]);
    assert_eq!(invariant(addr, SMALL), (3, 1));
    // The second pays too: no seat is left, so the money goes back.
    let (second, no, url) = &late[1];
    assert_eq!(pay_on_page(url), 200);
    wait_until_async("the refund", Duration::from_secs(10), async || has_refund(second).await).await;
    let s = second.client.server(EXAM).expect("server");
    assert_eq!((s.status, s.refunded_fen), (Status::Expired, Some(8_000)), "{s:?}");
    let v: PaymentRefreshAnswer = second.refresh().typed();
    let payment = v.payment.expect("an order");
    assert_eq!(
        (payment.order.out_trade_no.as_str(), payment.order.state),
        (no.as_str(), OrderState::Refunded)
    );
    assert_eq!(invariant(addr, SMALL), (3, 1), "the refund moved no seat");
}

/// Whether the candidate's document shows a refund.
async fn has_refund(c: &Candidate) -> bool {
    c.client.sync_batch(SYNC).await.expect("sync");
    c.client.server(EXAM).expect("server").refunded_fen.is_some()
}

/// Paying races the hold's expiry: many registrations against one server, each paid at a
/// moment around its deadline (some before, some after, some while the sweeper closes the trade),
/// with "refresh" pressed meanwhile. Every payment page is opened (the trade created at the
/// platform) before the race; the test clock then walks across the deadlines in small steps,
/// each step running the sweeper, and each registration's "pay" is pressed from its own thread in
/// the step its moment falls in, so payments and expiries overlap. Every order ends paid with its
/// seat, or closed (or refunded) without money kept; the platform agrees; the seat invariant
/// holds. `PAY_RACE_N` sets how many (default 1 000; the registrations are prepared in four
/// lanes, which is most of the time).
///
/// The pages are opened first because the sandbox keeps its own clock: an order the server
/// wrote off at its (moved) deadline before its page was ever opened is closed on the server's
/// word alone (the platform has no trade yet, and would refuse the page after `time_expire` by
/// its own clock), while the sandbox, whose clock has not moved, would still open that page and
/// take the money.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one deadline race, each outcome checked in turn")]
async fn paying_races_the_deadline_and_no_order_is_orphaned() {
    /// How far the clock moves at each step (a sweep each).
    const STEP_MS: i64 = 200;
    let n: u32 = std::env::var("PAY_RACE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let started = Instant::now();
    let sandbox = support::paysandbox::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_server(dir.path(), Some(&sandbox), None);
    let addr = server.addr;
    // Room for every racer at the on-site center's subject 15.
    import_catalog(
        addr,
        &support::with_capacity(&server.demo_catalog(Windows::OPEN), "bj-chaoyang", 4000, "15", 2000),
    );
    // Registrations are prepared in four lanes at once (each with its own runtime), each with
    // its order open, its page opened, and the moment it is paid: from 1.5 s before to 0.5 s
    // after its deadline.
    const LANES: u32 = 4;
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                let mut out = Vec::new();
                for i in (lane..n).step_by(LANES as usize) {
                    let c = Arc::new(rt.block_on(Candidate::submitted(addr, 100 + i, ONSITE, &["15"])));
                    let opened: PaymentAnswer = c.pay(&format!("race-{i}")).typed();
                    let deadline = opened.registration.deadline_ms.expect("deadline");
                    let (_, url, _) = order_of(&opened);
                    let page = support::get_url(&url);
                    page.expect(200);
                    let cashier = format!("{}/cashier", url.split("/gateway.do").next().expect("base"));
                    let offset = (i64::from(i) * 7919) % 2000 - 1500;
                    out.push((i, c, (cashier, page.text()), deadline + offset));
                }
                out
            })
        })
        .collect();
    let mut racers = Vec::new();
    for lane in lanes {
        racers.extend(lane.join().expect("lane"));
    }
    racers.sort_by_key(|(_, _, _, pay_at)| *pay_at);
    let deadlines: Vec<i64> =
        racers.iter().map(|(_, c, _, _)| c.status().deadline_ms.expect("deadline")).collect();
    let first = racers.first().map(|r| r.3).expect("racers").min(*deadlines.iter().min().expect("deadlines"));
    let last = deadlines.iter().max().copied().expect("deadlines").max(racers.last().expect("racers").3);

    // The clock walks to just before the first moment, then across every moment and deadline.
    assert_eq!(server.advance(server.ms_until(first).saturating_sub(1)).expired, 0, "nothing due yet");
    let mut payers = Vec::new();
    let mut next = 0;
    let mut expired = 0;
    while next < racers.len() || server.time_ms() <= last {
        expired += server.advance(STEP_MS as u64).expired;
        let now = server.time_ms();
        while next < racers.len() && racers[next].3 <= now {
            let (i, c, (cashier, page), _) = racers[next].clone();
            payers.push(std::thread::spawn(move || {
                let paid = support::press(&cashier, &page, "pay").0 == 200;
                if i % 3 == 0 {
                    let _ = c.refresh();
                }
                paid
            }));
            next += 1;
        }
    }
    let paid_at_platform: Vec<bool> = payers.into_iter().map(|p| p.join().expect("payer")).collect();
    // Everything settles: nothing awaits payment any more.
    wait_until("every order to settle", Duration::from_secs(90), || {
        racers.iter().all(|(_, c, _, _)| c.status().status != Status::AwaitingPayment)
    });
    let (mut paid, mut closed, mut refunded) = (0u32, 0u32, 0u32);
    for ((_, c, _, _), at_platform) in racers.iter().zip(&paid_at_platform) {
        let v: PaymentRefreshAnswer = c.refresh().typed();
        let payment = v.payment.as_ref().expect("an order");
        let platform = payment.platform_status;
        match (v.registration.status, payment.order.state) {
            (Status::Paid, OrderState::Paid) => {
                assert!(*at_platform, "paid without paying: {v:?}");
                assert_eq!(platform, Some(PlatformTradeStatus::TradeSuccess), "{v:?}");
                paid += 1;
            }
            (Status::Expired, OrderState::Closed) => {
                assert!(!*at_platform, "money kept without a seat: {v:?}");
                assert!(platform.is_none() || platform == Some(PlatformTradeStatus::TradeClosed), "{v:?}");
                closed += 1;
            }
            (Status::Expired, OrderState::Refunded) => {
                assert_eq!(payment.order.refunded_fen, 8_000, "{v:?}");
                refunded += 1;
            }
            other => panic!("orphaned: {other:?} {v:?}"),
        }
    }
    let (held, paid_seats) = invariant(addr, ONSITE);
    assert_eq!((held, paid_seats), (0, paid), "paid seats are exactly the paid orders");
    eprintln!(
        "pay-vs-expire race: {n} orders → {paid} paid, {closed} closed, {refunded} refunded \
         ({expired} expired by the stepped sweeps) in {:?}",
        started.elapsed()
    );
}
