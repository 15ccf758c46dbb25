//! The operators: a refused sign-in, the administrator's own reads, the creation of a center
//! operator and an auditor (with the creation's refusals), which makes the [`Journey`], then
//! the scopes of their roles and the audit log and its verification.

use super::*;

impl Journey {
    /// The administrator (`admin_session`) reads itself, its centers and the seats of [`SMALL`]
    /// (the same as the public `seats`), and creates `desk.changping` and `audit.one`; both sign
    /// in. Returns the journey with the three operators' sessions.
    pub(super) fn with_operators(
        addr: SocketAddr,
        admin_session: &OperatorSessionAnswer,
        seats: &CenterSeats,
    ) -> Journey {
        let admin = admin_session.token.as_str();
        let bad = OperatorLoginRequest {
            username: "admin".into(),
            password: "Wrong-Password-1".into(),
            captcha_id: None,
            captcha_answer: None,
        };
        refused(
            &send(addr, "POST", paths::OPERATOR_SESSIONS, None, None, &bad),
            401,
            ErrorCode::BadCredentials,
        );
        let me: OperatorInfo = strict(&get(addr, paths::OPERATOR_ME, Some(admin)), 200);
        assert_eq!(me, admin_session.operator);
        let centers: Vec<OperatorCenter> = strict(&get(addr, paths::OPERATOR_CENTERS, Some(admin)), 200);
        assert!(centers.iter().any(|c| c.center == ROOMS));
        let small: CenterSeats = strict(&get(addr, &paths::operator_seats(EXAM, SMALL), Some(admin)), 200);
        assert_eq!(small, *seats, "the operator's seats are the public availability");
        let desk_info: OperatorInfo =
            strict(&create_operator(addr, admin, "desk.changping", Role::CenterOperator, &[ROOMS]), 201);
        assert_eq!(desk_info.centers, vec![ROOMS.to_owned()]);
        strict::<OperatorInfo>(&create_operator(addr, admin, "audit.one", Role::Auditor, &[]), 201);
        refused(
            &create_operator(addr, admin, "desk.changping", Role::CenterOperator, &[ROOMS]),
            409,
            ErrorCode::UsernameTaken,
        );
        refused(&create_operator(addr, admin, "X", Role::Auditor, &[]), 422, ErrorCode::UsernameInvalid);
        refused(
            &create_operator(addr, admin, "desk.none", Role::CenterOperator, &[]),
            422,
            ErrorCode::CentersRequired,
        );
        refused(
            &create_operator(addr, admin, "audit.two", Role::Auditor, &[ROOMS]),
            422,
            ErrorCode::CentersNotAllowed,
        );
        refused(
            &create_operator(addr, admin, "desk.mars", Role::CenterOperator, &["mars"]),
            422,
            ErrorCode::CenterUnknown,
        );
        let desk = login(addr, "desk.changping").token;
        let auditor = login(addr, "audit.one").token;
        Journey { addr, admin: admin.to_owned(), desk, auditor }
    }

    /// What the center operator and the auditor may not do, the audit log as the auditor reads
    /// it (and a query it refuses), and the log's verification.
    pub(super) fn operator_scopes_and_the_audit(&self) {
        let (addr, admin, desk, auditor) = self.parts();
        refused(&get(addr, &paths::operator_seats(EXAM, SMALL), Some(desk)), 403, ErrorCode::Forbidden);
        refused(
            &create_operator(addr, auditor, "audit.three", Role::Auditor, &[]),
            403,
            ErrorCode::Forbidden,
        );
        let audit_query = AuditQuery { from: 1, limit: 1000 };
        let audit: Vec<AuditEntry> = strict(
            &get(addr, &format!("{}{}", paths::OPERATOR_AUDIT, audit_query.query_string()), Some(auditor)),
            200,
        );
        assert!(audit.iter().any(|e| e.action == "operator.create"));
        refused(
            &get(addr, &format!("{}?sort=seq", paths::OPERATOR_AUDIT), Some(admin)),
            400,
            ErrorCode::BadRequest,
        );
        let verified: AuditVerification =
            strict(&get(addr, paths::OPERATOR_AUDIT_VERIFY, Some(auditor)), 200);
        assert_eq!(verified, AuditVerification::intact(verified.entries.unwrap_or_default()));
        assert!(verified.entries.is_some_and(|n| n >= audit.len() as u64));
    }
}
