//! Candidate R at a center that reviews every registration: an invalid draft and a slot
//! conflict refused, the submission, the review applied for; the review queue as the operators
//! read it (and the queries it refuses); the decisions, a rejection and the approval.

use super::*;

impl Journey {
    /// Candidate R at [`REVIEW`]: an invalid draft and a slot conflict are refused, the draft
    /// submitted is not due for payment, R applies for review and may no longer withdraw.
    /// Returns R and the registration's id.
    pub(super) async fn candidate_r_at_a_reviewing_center(&self) -> (CandidateDevice, String) {
        let addr = self.addr;
        let r = CandidateDevice::with_complete_draft(addr, "r@contract.example", 42, REVIEW, &["15"]).await;
        r.client.edit(EXAM, |d| d.set_field("name", "")).expect("the name emptied");
        r.client.sync_batch(SYNC).await.expect("sync");
        let invalid = refused(&r.submit(addr, "r-invalid"), 422, ErrorCode::Invalid);
        assert!(invalid.issues.is_some_and(|i| i.iter().any(|i| i.path == "draft.fields.name")));
        r.client.edit(EXAM, |d| d.set_field("name", "张三丰")).expect("the name again");
        r.client.edit(EXAM, |d| d.add_subject("14")).expect("a second sat-am subject");
        r.client.sync_batch(SYNC).await.expect("sync");
        let conflict = refused(&r.submit(addr, "r-conflict"), 422, ErrorCode::SlotConflict);
        assert!(conflict.issues.is_some_and(|i| !i.is_empty()));
        r.client.edit(EXAM, |d| d.remove_subject("14")).expect("back to one");
        r.client.sync_batch(SYNC).await.expect("sync");
        let r_view: RegistrationView = strict(&r.submit(addr, "r-submit"), 200);
        let r_id = r_view.document_id.clone();
        let refusal = refused(
            &bytes(addr, "POST", &paths::pay(EXAM), Some(&r.token), Some("r-pay"), b""),
            409,
            ErrorCode::PaymentNotDue,
        );
        assert_eq!(refusal.status, Some(Status::Submitted));
        let under: RegistrationView =
            strict(&action(addr, &r.token, CandidateAction::ApplyReview, "r-apply"), 200);
        assert_eq!(under.status, Status::UnderReview);
        let locked =
            refused(&action(addr, &r.token, CandidateAction::Withdraw, "r-withdraw"), 409, ErrorCode::Locked);
        assert_eq!(locked.status, Some(Status::UnderReview));
        (r, r_id)
    }

    /// The review queue of [`REVIEW`] holds R (`r_id`) with its photo: as the administrator
    /// and the auditor read it, with each query it refuses, and hidden from the desk.
    pub(super) fn the_review_queue(&self, r_id: &str) {
        let (addr, admin, desk, auditor) = self.parts();
        let queue = |token: &str, query: &ReviewQuery| {
            get(addr, &format!("{}{}", paths::review_queue(EXAM, REVIEW), query.query_string()), Some(token))
        };
        let page: ReviewPage = strict(&queue(admin, &ReviewQuery::default()), 200);
        assert_eq!((page.total, page.items[0].registration_id.as_str()), (1, r_id));
        let photo = page.items[0].photo.as_ref().expect("the photo");
        assert_eq!((photo.stored, photo.passed), (true, Some(true)));
        let by_name = ReviewQuery {
            statuses: vec![Status::UnderReview, Status::Submitted],
            q: Some("张三".into()),
            limit: Some(1),
            start: Some(ReviewStart::Offset(0)),
        };
        assert_eq!(strict::<ReviewPage>(&queue(auditor, &by_name), 200).total, 1);
        let review_path = paths::review_queue(EXAM, REVIEW);
        for (query, code) in [
            ("?limit=0", ErrorCode::LimitInvalid),
            ("?offset=-1", ErrorCode::OffsetInvalid),
            ("?cursor=zz", ErrorCode::CursorInvalid),
            ("?cursor=00&offset=1", ErrorCode::PagingConflict),
            ("?q=a&q=b", ErrorCode::ParameterRepeated),
            ("?sort=name", ErrorCode::ParameterUnknown),
        ] {
            let body = refused(&get(addr, &format!("{review_path}{query}"), Some(admin)), 400, code);
            assert!(body.parameter.is_some(), "{body:?}");
        }
        let long_q = ReviewQuery { q: Some("长".repeat(65)), ..ReviewQuery::default() };
        refused(&queue(admin, &long_q), 400, ErrorCode::QInvalid);
        let status_invalid = refused(
            &get(addr, &format!("{review_path}?status=nope"), Some(admin)),
            400,
            ErrorCode::StatusInvalid,
        );
        assert_eq!(status_invalid.allowed.map(|a| a.len()), Some(Status::ALL.len()));
        refused(&queue(desk, &ReviewQuery::default()), 404, ErrorCode::NotFound);
    }

    /// The decisions on R (`r`, registration `r_id`): a rejection without a reason or with
    /// unknown paths, the auditor's and the desk's decisions, refused; the rejection, an approval
    /// it no longer allows, the review applied for again and the approval.
    pub(super) fn review_decisions(&self, r: &CandidateDevice, r_id: &str) {
        let (addr, admin, desk, auditor) = self.parts();
        let reject = |reason: &str, paths: &[&str]| {
            serde_json::to_vec(&RejectRequest {
                reason: reason.into(),
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            })
            .expect("json")
        };
        refused(
            &decide(addr, admin, r_id, OperatorDecision::Reject, &reject("", &[])),
            422,
            ErrorCode::ReasonInvalid,
        );
        refused(
            &decide(addr, admin, r_id, OperatorDecision::Reject, &reject("r", &["photo"])),
            422,
            ErrorCode::PathsInvalid,
        );
        refused(&decide(addr, auditor, r_id, OperatorDecision::Approve, b""), 403, ErrorCode::Forbidden);
        refused(&decide(addr, desk, r_id, OperatorDecision::Approve, b""), 404, ErrorCode::NotFound);
        let rejected: RegistrationView = strict(
            &decide(addr, admin, r_id, OperatorDecision::Reject, &reject("照片不清晰", &["draft.photo"])),
            200,
        );
        assert_eq!(
            (rejected.status, rejected.reason_paths.clone()),
            (Status::Rejected, vec!["draft.photo".to_owned()])
        );
        refused(
            &decide(addr, admin, r_id, OperatorDecision::Approve, b""),
            409,
            ErrorCode::TransitionNotAllowed,
        );
        strict::<RegistrationView>(
            &action(addr, &r.token, CandidateAction::ApplyReview, "r-apply-again"),
            200,
        );
        let approved: RegistrationView =
            strict(&decide(addr, admin, r_id, OperatorDecision::Approve, b""), 200);
        assert!(approved.status == Status::Approved && approved.deadline_ms.is_some());
    }
}
