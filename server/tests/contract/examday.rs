//! The exam's approach: the notices of an on-site center (written, refused, read by the
//! candidate), printing and the room arrangement, check-in at the door, and the desk's reads
//! (its registrations, the statistics, the roster).

use super::*;

/// A notice titled `title`, open from `opens` to `closes` seconds from now.
fn notice(title: &str, body: &str, opens: i64, closes: i64, onsite: bool) -> NoticeRequest {
    NoticeRequest {
        title: title.into(),
        body: body.into(),
        opens: rfc3339_in(opens),
        closes: rfc3339_in(closes),
        requires_onsite_confirmation: onsite,
    }
}

impl Journey {
    /// Notices at [`ONSITE`]: one open now, one later that requires on-site confirmation, the
    /// refusals of bad ones, reads, a replacement, what candidate O sees, a deletion. Returns the
    /// later notice.
    pub(super) fn notices(&self, o: &CandidateDevice) -> OperatorNotice {
        let (addr, admin, _, auditor) = self.parts();
        let post = |token: &str, center: &str, n: &NoticeRequest| {
            send(addr, "POST", &paths::notices(EXAM, center), Some(token), None, n)
        };
        let open_now: OperatorNotice = strict(
            &post(
                admin,
                ONSITE,
                &notice("考场须知", "请提前30分钟到达。\n携带身份证。", -3600, 86_400, false),
            ),
            201,
        );
        let later: OperatorNotice = strict(
            &post(admin, ONSITE, &notice("现场确认", "请到一层确认。", 10 * 86_400, 11 * 86_400, true)),
            201,
        );
        refused(&post(admin, ONSITE, &notice("", "b", -1, 60, false)), 422, ErrorCode::TitleInvalid);
        refused(&post(admin, ONSITE, &notice("t", "", -1, 60, false)), 422, ErrorCode::BodyInvalid);
        refused(&post(admin, ONSITE, &notice("t", "b", 60, -1, false)), 422, ErrorCode::WindowInvalid);
        refused(&post(admin, ROOMS, &notice("t", "b", -1, 60, true)), 422, ErrorCode::OnsiteNotRequired);
        refused(&post(auditor, ONSITE, &notice("t", "b", -1, 60, false)), 403, ErrorCode::Forbidden);
        let listed: Vec<OperatorNotice> =
            strict(&get(addr, &paths::notices(EXAM, ONSITE), Some(auditor)), 200);
        assert_eq!(listed.len(), 2);
        let one: OperatorNotice =
            strict(&get(addr, &paths::notice(EXAM, ONSITE, &later.notice.id), Some(admin)), 200);
        assert_eq!(one, later);
        let replacement = notice("考场须知（更新）", "请提前30分钟到达。", -3600, 86_400, false);
        let path = paths::notice(EXAM, ONSITE, &open_now.notice.id);
        let replaced: OperatorNotice =
            strict(&send(addr, "PUT", &path, Some(admin), None, &replacement), 200);
        assert_eq!(replaced.notice.title, "考场须知（更新）");
        refused(
            &get(addr, &paths::notice(EXAM, ONSITE, "nt_nothing"), Some(admin)),
            404,
            ErrorCode::NotFound,
        );
        let seen: CandidateNotices =
            strict(&get(addr, &paths::registration_notices(EXAM), Some(&o.token)), 200);
        assert_eq!(seen.notices, vec![replaced.notice.clone()], "only the open one, without its writer");
        assert!(seen.onsite.is_some_and(|rule| rule.required));
        let scratch: OperatorNotice = strict(&post(admin, ONSITE, &notice("临时", "b", -60, 60, false)), 201);
        let gone = call(addr, "DELETE", &paths::notice(EXAM, ONSITE, &scratch.notice.id), Some(admin), None);
        assert_eq!(gone.status, 204);
        later
    }

    /// The printing window opens: A waits for the arrangement, B has nothing to print; the
    /// arrangement is refused where there are no rooms or no right, run by the desk and read by
    /// the auditor. Returns A's ticket code.
    pub(super) fn printing_and_arrangement(&self, a: &CandidateDevice, b_token: &str) -> TicketCode {
        let (addr, admin, desk, auditor) = self.parts();
        import(addr, admin, &catalog_around_now(DEMO, Windows::PRINTING));
        let waiting = refused(
            &document(addr, &a.token, CandidateDocument::AdmissionTicketCode),
            409,
            ErrorCode::NotEligible,
        );
        assert_eq!(
            (waiting.not_eligible_reason(), waiting.status),
            (Some(NotEligibleReason::NotArranged), Some(Status::Paid))
        );
        let nobody = refused(
            &document(addr, b_token, CandidateDocument::AdmissionTicket),
            409,
            ErrorCode::NotEligible,
        );
        assert_eq!(nobody.not_eligible_reason(), Some(NotEligibleReason::NotRegistered));
        refused(&get(addr, &paths::arrangement(EXAM, ROOMS), Some(admin)), 404, ErrorCode::NotFound);
        let arrange = |token: &str, center: &str| {
            call(addr, "POST", &paths::arrangement(EXAM, center), Some(token), None)
        };
        let no_rooms = refused(&arrange(admin, REVIEW), 409, ErrorCode::NoRooms);
        assert_eq!(no_rooms.center, Some(Some(REVIEW.into())));
        refused(&arrange(auditor, ROOMS), 403, ErrorCode::Forbidden);
        let run: ArrangementAnswer = strict(&arrange(desk, ROOMS), 200);
        assert_eq!(run.counts.map(|c| (c.arranged, c.new)), Some((1, 1)));
        let read: ArrangementAnswer =
            strict(&get(addr, &paths::arrangement(EXAM, ROOMS), Some(auditor)), 200);
        assert_eq!((read.counts, read.candidates.clone()), (None, run.candidates.clone()));
        assert!(read.candidates[0].sittings.iter().all(|s| s.room_name.is_some()));
        let shown: TicketCode =
            strict(&document(addr, &a.token, CandidateDocument::AdmissionTicketCode), 200);
        assert_eq!(shown.ticket_number, read.candidates[0].ticket_number);
        shown
    }

    /// The desk scans A's ticket: bad codes and bodies refused, the auditor may not, the first
    /// scan checks in and the second says when.
    pub(super) fn check_in(&self, shown: &TicketCode) {
        let (addr, _, desk, auditor) = self.parts();
        let scan = |token: &str, code: &str| {
            send(
                addr,
                "POST",
                &paths::check_in(EXAM),
                Some(token),
                None,
                &CheckInRequest { code: code.into() },
            )
        };
        refused(&scan(desk, "https://example.cn/ticket"), 422, ErrorCode::TicketFormat);
        refused(
            &bytes(addr, "POST", &paths::check_in(EXAM), Some(desk), None, b"{}"),
            422,
            ErrorCode::InvalidBody,
        );
        refused(&scan(auditor, &shown.code), 403, ErrorCode::Forbidden);
        let first_scan: CheckInAnswer = strict(&scan(desk, &shown.code), 200);
        let CheckInAnswer::CheckedIn { checked_in_at_ms, ref sittings, .. } = first_scan else {
            panic!("the first scan checks in: {first_scan:?}")
        };
        assert_eq!(sittings.len(), 1);
        let second: CheckInAnswer = strict(&scan(desk, &shown.code), 200);
        assert!(
            matches!(second, CheckInAnswer::AlreadyCheckedIn { checked_in_at_ms: at, .. } if at == checked_in_at_ms)
        );
    }

    /// The desk's registrations, the statistics (the whole exam for the administrator, the
    /// desk's center for the desk) and the roster as CSV.
    pub(super) fn the_desks_reads(&self) {
        let (addr, admin, desk, _) = self.parts();
        let listed: Vec<CenterRegistration> =
            strict(&get(addr, &paths::operator_registrations(EXAM, ROOMS), Some(desk)), 200);
        assert_eq!((listed.len(), listed[0].subjects.clone()), (1, vec!["15".to_owned()]));
        let stats: ExamStats = strict(&get(addr, &paths::stats(EXAM), Some(admin)), 200);
        assert_eq!(stats.totals.payments.paid_count, 2, "A paid, O confirmed");
        let mine: ExamStats = strict(&get(addr, &paths::stats(EXAM), Some(desk)), 200);
        assert_eq!(mine.centers.iter().map(|c| c.center.as_str()).collect::<Vec<_>>(), vec![ROOMS]);
        let roster = get(addr, &paths::roster(EXAM, ROOMS), Some(desk));
        assert_eq!((roster.status, roster.header("content-type")), (200, Some(paths::CSV)));
    }
}
