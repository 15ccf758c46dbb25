//! Payments on the embedded sandbox and what follows them: candidate A pays (and may not pay
//! twice, nor print before the window), candidate O at an on-site center is refused confirmation
//! before paying and confirmed after.

use super::*;

impl Journey {
    /// Candidate A pays through the sandbox; a second payment is refused and the admission
    /// ticket waits for its printing window.
    pub(super) fn candidate_a_pays(&self, a: &CandidateDevice) {
        let addr = self.addr;
        let order = pay_through_the_sandbox(addr, &a.token, "a-pay");
        assert_eq!(registration(addr, &a.token).order.as_deref(), Some(order.as_str()));
        refused(
            &bytes(addr, "POST", &paths::pay(EXAM), Some(&a.token), Some("a-pay-again"), b""),
            409,
            ErrorCode::AlreadyPaid,
        );
        let early = refused(
            &document(addr, &a.token, CandidateDocument::AdmissionTicketCode),
            409,
            ErrorCode::PrintingWindowClosed,
        );
        assert!(early.printing.is_some_and(|w| w.opens < w.closes));
    }

    /// Candidate O submits at [`ONSITE`]; confirmation is refused before payment, at a center
    /// without it and for a stranger, and succeeds once O has paid. Returns O and the view of
    /// O's submission.
    pub(super) async fn candidate_o_is_confirmed_on_site(
        &self,
        submitted: &RegistrationView,
    ) -> (CandidateDevice, RegistrationView) {
        let (addr, admin, _, _) = self.parts();
        let o = CandidateDevice::with_complete_draft(addr, "o@contract.example", 43, ONSITE, &["15"]).await;
        let o_view: RegistrationView = strict(&o.submit(addr, "o-submit"), 200);
        let not_paid = refused(
            &confirm(addr, admin, ONSITE, &by_id(&o_view.document_id)),
            409,
            ErrorCode::TransitionNotAllowed,
        );
        assert_eq!(not_paid.status, Some(Status::Submitted));
        refused(
            &confirm(addr, admin, ROOMS, &by_id(&submitted.document_id)),
            409,
            ErrorCode::OnsiteNotRequired,
        );
        let stranger = ConfirmRequest::Person {
            name: "李四".into(),
            id_document: support::resident_id("11010519900101043"),
        };
        refused(&confirm(addr, admin, ONSITE, &stranger), 404, ErrorCode::NotFound);
        pay_through_the_sandbox(addr, &o.token, "o-pay");
        let confirmed: ConfirmAnswer =
            strict(&confirm(addr, admin, ONSITE, &by_id(&o_view.document_id)), 200);
        assert_eq!(
            (confirmed.registration.status, confirmed.registration_id),
            (Status::Confirmed, o_view.document_id.clone())
        );
        (o, o_view)
    }
}

/// Opens the payment order (waiting out the embedded sandbox's start), pays on its page and
/// refreshes until paid; returns the order number.
fn pay_through_the_sandbox(addr: SocketAddr, token: &str, key: &str) -> String {
    let mut opened = None;
    wait_until("the embedded sandbox to start", Duration::from_secs(20), || {
        let r = bytes(addr, "POST", &paths::pay(EXAM), Some(token), Some(key), b"");
        if r.status != 200 {
            refused(&r, 503, ErrorCode::PaymentsUnavailable);
            return false;
        }
        opened = Some(strict::<PaymentAnswer>(&r, 200));
        true
    });
    let opened = opened.expect("an answer");
    assert_eq!(opened.registration.status, Status::AwaitingPayment);
    let order = opened.payment.expect("an open order");
    assert_eq!(order.state, OrderState::Open);
    // Refreshed before the page is opened: the platform has no trade yet.
    let before: PaymentRefreshAnswer =
        strict(&call(addr, "POST", &paths::payment_refresh(EXAM), Some(token), None), 200);
    assert_eq!(before.payment.expect("order").platform_status, None);
    assert_eq!(support::pay_on_page(&order.url), 200);
    let mut paid = None;
    wait_until("the payment to show", Duration::from_secs(30), || {
        let after: PaymentRefreshAnswer =
            strict(&call(addr, "POST", &paths::payment_refresh(EXAM), Some(token), None), 200);
        if after.registration.status == Status::Paid {
            paid = after.payment;
        }
        paid.is_some()
    });
    let paid = paid.expect("order");
    assert_eq!(paid.platform_status, Some(PlatformTradeStatus::TradeSuccess));
    assert_eq!((paid.order.state, paid.order.trade_no.is_some()), (OrderState::Paid, true));
    paid.order.out_trade_no
}
