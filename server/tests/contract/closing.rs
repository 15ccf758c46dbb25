//! The journey's close: the on-site confirmation window shuts, the whole session is cancelled,
//! an operator signs out, and the error codes met are counted.

use super::*;

impl Journey {
    /// Once the window has passed, confirming O is refused with every window that applies,
    /// the later notice's among them.
    pub(super) fn the_onsite_confirmation_window_closes(
        &self,
        o_view: &RegistrationView,
        later: &OperatorNotice,
    ) {
        let (addr, admin, _, _) = self.parts();
        import(addr, admin, &catalog_around_now(DEMO, Windows::ONSITE_LATER));
        let shut = refused(
            &confirm(addr, admin, ONSITE, &by_id(&o_view.document_id)),
            409,
            ErrorCode::ConfirmationWindowClosed,
        );
        let windows = shut.windows.expect("windows");
        assert!(matches!(windows[0], ConfirmationWindow::Catalog { .. }));
        assert!(windows.contains(&ConfirmationWindow::Notice {
            notice: later.notice.id.clone(),
            opens: later.notice.opens.unix_timestamp(),
            closes: later.notice.closes.unix_timestamp(),
        }));
    }

    /// The administrator cancels the whole session: registrations are cancelled with refunds
    /// due, a later submission is refused naming no center, A's registration reads cancelled.
    pub(super) fn the_whole_session_is_cancelled(&self, a: &CandidateDevice, r: &CandidateDevice) {
        let (addr, admin, _, _) = self.parts();
        let session_cancel: CancellationAnswer =
            strict(&cancel(addr, admin, &paths::cancel_exam(EXAM), "全场取消"), 200);
        assert_eq!(session_cancel.center, None);
        assert!(
            session_cancel.registrations_cancelled >= 3 && session_cancel.refunds_due >= 2,
            "{session_cancel:?}"
        );
        let late = refused(&r.submit(addr, "r-after-cancel"), 409, ErrorCode::Cancelled);
        assert_eq!(
            (late.exam.as_deref(), late.center),
            (Some(EXAM), Some(None)),
            "the whole session: center null"
        );
        assert_eq!(registration(addr, &a.token).status, Status::Cancelled);
        // A, who had paid, is told why there is no ticket and that the fee is owed back.
        for which in [
            CandidateDocument::AdmissionTicketCode,
            CandidateDocument::AdmissionTicket,
            CandidateDocument::RegistrationForm,
        ] {
            let gone = refused(&document(addr, &a.token, which), 409, ErrorCode::NotEligible);
            assert_eq!(
                (gone.not_eligible_reason(), gone.status, gone.refund),
                (Some(NotEligibleReason::Cancelled), Some(Status::Cancelled), Some(RefundState::Due)),
                "{which:?}"
            );
        }
    }

    /// The auditor signs out; the token no longer works.
    pub(super) fn operator_logout(&self) {
        let (addr, _, _, auditor) = self.parts();
        assert_eq!(call(addr, "DELETE", paths::OPERATOR_SESSIONS_CURRENT, Some(auditor), None).status, 204);
        refused(&get(addr, paths::OPERATOR_ME, Some(auditor)), 401, ErrorCode::Unauthorized);
    }
}

/// The journey met most of the error codes the contract defines.
pub(super) fn most_error_codes_were_met() {
    let codes = CODES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    eprintln!("{} error codes met: {}", codes.len(), codes.iter().copied().collect::<Vec<_>>().join(" "));
    assert!(codes.len() >= 60, "the journey meets most error codes: {} of them, {codes:?}", codes.len());
}
