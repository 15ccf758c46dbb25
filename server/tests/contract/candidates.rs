//! Candidates A, B and C: A's photo uploads and submission with their refusals, B's account
//! without a draft, and C refused by a closed window, a full subject, an ID document already
//! registered and a cancelled center.

use super::*;

impl Journey {
    /// Candidate A registers with a complete draft at [`ROOMS`]; the photo its device already
    /// stored uploads again, and a wrong digest, a wrong hash and junk are refused. Returns A.
    pub(super) async fn candidate_a_uploads_photos(&self) -> CandidateDevice {
        let addr = self.addr;
        let a = CandidateDevice::with_complete_draft(addr, "a@contract.example", 41, ROOMS, &["15"]).await;
        let (jpeg, _, _) = support::prepared_photo();
        let sha = baoming_core::catalog::hex_sha256(&jpeg);
        let upload_path =
            format!("{}{}", paths::blob(&sha), UploadQuery { exam: Some(EXAM.into()) }.query_string());
        let uploaded: PhotoUploadAnswer =
            strict(&bytes(addr, "PUT", &upload_path, Some(&a.token), None, &jpeg), 200);
        assert!(uploaded.report.passed(), "already stored by the device's sync");
        refused(
            &bytes(addr, "PUT", &paths::blob("xyz"), Some(&a.token), None, &jpeg),
            400,
            ErrorCode::BadRequest,
        );
        refused(
            &bytes(
                addr,
                "PUT",
                &paths::blob(&baoming_core::catalog::hex_sha256(b"x")),
                Some(&a.token),
                None,
                &jpeg,
            ),
            422,
            ErrorCode::DigestMismatch,
        );
        let junk = b"this is not a photograph";
        let rejected = refused(
            &bytes(
                addr,
                "PUT",
                &paths::blob(&baoming_core::catalog::hex_sha256(junk)),
                Some(&a.token),
                None,
                junk,
            ),
            422,
            ErrorCode::PhotoRejected,
        );
        assert!(rejected.problems.is_some_and(|p| !p.is_empty()) && rejected.report.is_some());
        a
    }

    /// A's submission: without and with a bad Idempotency-Key, with unknown heads, then accepted,
    /// replayed, refused under its key with another body, and refused a review. Returns the
    /// submitted registration.
    pub(super) fn candidate_a_submits(&self, a: &CandidateDevice) -> RegistrationView {
        let addr = self.addr;
        refused(
            &bytes(
                addr,
                "POST",
                &paths::registration_action(EXAM, CandidateAction::Submit),
                Some(&a.token),
                None,
                b"{}",
            ),
            400,
            ErrorCode::IdempotencyKeyRequired,
        );
        refused(
            &action(addr, &a.token, CandidateAction::Submit, &"k".repeat(129)),
            400,
            ErrorCode::IdempotencyKeyInvalid,
        );
        let unknown_heads = vec!["00".repeat(32)];
        refused(&submit(addr, &a.token, "a-heads", unknown_heads), 409, ErrorCode::HeadsUnknown);
        let submitted: RegistrationView = strict(&a.submit(addr, "a-submit"), 200);
        assert_eq!((submitted.status, submitted.center.as_deref()), (Status::Submitted, Some(ROOMS)));
        assert_eq!(
            strict::<RegistrationView>(&a.submit(addr, "a-submit"), 200),
            submitted,
            "replayed under its key"
        );
        let other_body = Vec::new();
        refused(&submit(addr, &a.token, "a-submit", other_body), 422, ErrorCode::IdempotencyKeyReused);
        let refusal = refused(
            &action(addr, &a.token, CandidateAction::ApplyReview, "a-apply"),
            409,
            ErrorCode::ReviewNotOffered,
        );
        assert_eq!(refusal.status, Some(Status::Submitted));
        assert_eq!(registration(addr, &a.token), submitted);
        submitted
    }

    /// Candidate B, an account without a draft: nothing to withdraw, the empty draft refused
    /// with every issue, no payment, no order, no documents and no notices. Returns B's token.
    pub(super) fn candidate_b_without_a_draft(&self) -> String {
        let addr = self.addr;
        let b: SessionAnswer = strict(&register(addr, "b@contract.example", CANDIDATE_PASSWORD), 201);
        let b_token = b.token.as_str();
        let refusal = refused(
            &action(addr, b_token, CandidateAction::Withdraw, "b-withdraw"),
            409,
            ErrorCode::TransitionNotAllowed,
        );
        assert_eq!(refusal.status, Some(Status::Draft));
        let genesis = vec![baoming_core::document::genesis_hash(EXAM).expect("genesis").to_string()];
        // The empty draft at the genesis: no photo first of all, with every issue of the validator.
        let empty = refused(&submit(addr, b_token, "b-submit", genesis), 422, ErrorCode::PhotoMissing);
        assert!(empty.issues.is_some_and(|i| i.len() > 1 && i.iter().all(|i| i.message_en.is_some())));
        assert_eq!(registration(addr, b_token).status, Status::Draft);
        refused(
            &bytes(addr, "POST", &paths::pay(EXAM), Some(b_token), Some("b-pay"), b""),
            409,
            ErrorCode::NotSubmitted,
        );
        refused(
            &call(addr, "POST", &paths::payment_refresh(EXAM), Some(b_token), None),
            409,
            ErrorCode::NoOrder,
        );
        let refusal =
            refused(&document(addr, b_token, CandidateDocument::RegistrationForm), 409, ErrorCode::NotPaid);
        assert_eq!(refusal.status, Some(Status::Draft));
        let refusal = refused(
            &document(addr, b_token, CandidateDocument::AdmissionTicket),
            409,
            ErrorCode::PrintingWindowClosed,
        );
        assert!(refusal.printing.is_some());
        let none: CandidateNotices =
            strict(&get(addr, &paths::registration_notices(EXAM), Some(b_token)), 200);
        assert_eq!((none.center, none.notices.len()), (None, 0));
        b.token
    }

    /// Candidate C at [`SMALL`] is refused by a closed window, a full subject and its ID document
    /// already registered; the center's cancellation is refused to the auditor, without a reason
    /// and for an unknown center, then done, and C is refused by it.
    pub(super) async fn candidate_c_finds_no_window_no_seat_and_a_cancelled_center(&self) {
        let (addr, admin, _, auditor) = self.parts();
        let c = CandidateDevice::with_complete_draft(addr, "c@contract.example", 41, SMALL, &["15"]).await;
        import(addr, admin, &catalog_around_now(DEMO, Windows::CLOSED));
        let closed = refused(&c.submit(addr, "c-closed"), 409, ErrorCode::WindowClosed);
        assert!(closed.opens.zip(closed.closes).is_some_and(|(o, c)| o < c));
        let full = support::open_demo_catalog().replacen(
            "code = \"15\"\ncapacity = 4\n",
            "code = \"15\"\ncapacity = 0\n",
            1,
        );
        assert_ne!(full, support::open_demo_catalog(), "the small center's subject 15 is emptied");
        import(addr, admin, &full);
        let gone = refused(&c.submit(addr, "c-full"), 409, ErrorCode::SeatGone);
        assert_eq!(gone.pools, Some(vec![SeatPool::Subject { center: SMALL.into(), subject: "15".into() }]));
        import(addr, admin, &support::open_demo_catalog());
        refused(&c.submit(addr, "c-duplicate"), 409, ErrorCode::DuplicateIdDocument);
        refused(
            &cancel(addr, auditor, &paths::cancel_center(EXAM, SMALL), "停电"),
            403,
            ErrorCode::Forbidden,
        );
        refused(&cancel(addr, admin, &paths::cancel_center(EXAM, SMALL), " "), 422, ErrorCode::ReasonInvalid);
        refused(&cancel(addr, admin, &paths::cancel_center(EXAM, "mars"), "停电"), 404, ErrorCode::NotFound);
        let done: CancellationAnswer =
            strict(&cancel(addr, admin, &paths::cancel_center(EXAM, SMALL), "考点停电"), 200);
        assert_eq!((done.center.as_deref(), done.progress.in_scope), (Some(SMALL), 0));
        let cancelled = refused(&c.submit(addr, "c-cancelled"), 409, ErrorCode::Cancelled);
        assert_eq!(
            (cancelled.center, cancelled.reason.as_deref()),
            (Some(Some(SMALL.into())), Some("考点停电"))
        );
        let small: CenterSeats = strict(&get(addr, &paths::center_availability(EXAM, SMALL), None), 200);
        assert!(small.cancelled);
    }
}
