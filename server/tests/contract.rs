//! The REST contract (`baoming_core::api`) against the real server binary: one journey through
//! accounts, the catalog, operators, sync tickets, photos, the lifecycle with its refusals,
//! payments on the embedded sandbox, documents, arrangement, check-in, the operator's desk and
//! the cancellations. Every JSON answer is parsed strictly: into its contract type, serialised
//! back and compared with the JSON the server sent, so a renamed, missing or extra member fails
//! here. Error answers go through [`ErrorBody`] the same way.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use baoming_core::api::accounts::{
    AccountAnswer, LoginRequest, OAuthCallbackQuery, PasswordChangeAnswer, PasswordChangeRequest, Profile,
    ProfileRequest, RecoveryAnswer, RecoveryRequest, RecoveryResetRequest, RegisterRequest, SessionAnswer,
};
use baoming_core::api::admin::{CancelRequest, CancellationAnswer};
use baoming_core::api::blobs::{PhotoUploadAnswer, UploadQuery};
use baoming_core::api::catalog::{
    AgreementAnswer, AnnouncementsAnswer, CatalogAnswer, CenterDetail, CenterSeats, CentersAnswer,
    ExamAnswer, ExamAvailability, ExamSummary, FormAnswer, GuideAnswer, SlotsAnswer, SubjectsAnswer,
};
use baoming_core::api::desk::{
    ConfirmAnswer, ConfirmRequest, ExamStats, NoticeRequest, OperatorNotice, ReviewPage, ReviewQuery,
    ReviewStart,
};
use baoming_core::api::documents::{
    ArrangementAnswer, CandidateDocument, CandidateNotices, CheckInAnswer, CheckInRequest, TicketCode,
};
use baoming_core::api::error::{ConfirmationWindow, ErrorBody, ErrorCode, NotEligibleReason, SeatPool};
use baoming_core::api::health::{Health, HealthStatus};
use baoming_core::api::operator::{
    AuditEntry, AuditQuery, AuditVerification, CatalogImportAnswer, CreateOperatorRequest, OperatorCenter,
    OperatorInfo, OperatorLoginRequest, OperatorSessionAnswer, Role,
};
use baoming_core::api::paths::{self, ExamPart};
use baoming_core::api::payments::{OrderState, PaymentAnswer, PaymentRefreshAnswer, PlatformTradeStatus};
use baoming_core::api::registrations::{
    CandidateAction, CenterRegistration, OperatorDecision, RegistrationView, RejectRequest, SubmitRequest,
};
use baoming_core::api::sync::SyncTicket;
use baoming_core::lifecycle::Status;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use support::{
    CANDIDATE_PASSWORD, CandidateDevice, OPERATOR_PASSWORD, Response, Windows, catalog_around_now, request,
    wait_until,
};

const EXAM: &str = support::DEMO_EXAM;
/// No review, no on-site confirmation, three rooms.
const ROOMS: &str = "bj-changping";
/// Reviews every registration; no rooms.
const REVIEW: &str = "bj-haidian";
/// Requires on-site confirmation.
const ONSITE: &str = "bj-chaoyang";
/// Eight seats, subject 15 with four.
const SMALL: &str = "bj-dongcheng";
const SYNC: Duration = Duration::from_secs(30);

/// The error codes the journey met, for the closing check.
static CODES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// `r` has `status` and a JSON body that parses into `T` and serialises back to itself.
#[track_caller]
fn strict<T: DeserializeOwned + Serialize>(r: &Response, status: u16) -> T {
    r.expect(status).typed()
}

/// `r` is the error `code` with `status`, parsed strictly.
#[track_caller]
fn refused(r: &Response, status: u16, code: ErrorCode) -> ErrorBody {
    let body = r.refused(status, code);
    CODES.lock().unwrap_or_else(|p| p.into_inner()).insert(code.as_str());
    body
}

fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, key: Option<&str>) -> Response {
    let req = request(addr, method, path).token_opt(token);
    match key {
        Some(k) => req.key(k).send(),
        None => req.send(),
    }
}

fn bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: &[u8],
) -> Response {
    let req = request(addr, method, path).token_opt(token).body(body);
    match key {
        Some(k) => req.key(k).send(),
        None => req.send(),
    }
}

fn send<B: Serialize>(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: &B,
) -> Response {
    bytes(addr, method, path, token, key, &serde_json::to_vec(body).expect("json"))
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Response {
    call(addr, "GET", path, token, None)
}

fn import(addr: SocketAddr, admin: &str, toml: &str) -> CatalogImportAnswer {
    strict(&bytes(addr, "PUT", paths::OPERATOR_CATALOG, Some(admin), None, toml.as_bytes()), 200)
}

fn login(addr: SocketAddr, username: &str) -> OperatorSessionAnswer {
    let req = OperatorLoginRequest {
        username: username.into(),
        password: OPERATOR_PASSWORD.into(),
        captcha_id: None,
        captcha_answer: None,
    };
    strict(&send(addr, "POST", paths::OPERATOR_SESSIONS, None, None, &req), 200)
}

fn create_operator(addr: SocketAddr, admin: &str, username: &str, role: Role, centers: &[&str]) -> Response {
    let req = CreateOperatorRequest {
        username: username.into(),
        password: OPERATOR_PASSWORD.into(),
        role,
        centers: centers.iter().map(|c| (*c).to_owned()).collect(),
    };
    send(addr, "POST", paths::OPERATOR_OPERATORS, Some(admin), None, &req)
}

fn action(addr: SocketAddr, token: &str, what: CandidateAction, key: &str) -> Response {
    bytes(addr, "POST", &paths::registration_action(EXAM, what), Some(token), Some(key), b"")
}

/// A submission of `heads` under `key`.
fn submit(addr: SocketAddr, token: &str, key: &str, heads: Vec<String>) -> Response {
    let path = paths::registration_action(EXAM, CandidateAction::Submit);
    send(addr, "POST", &path, Some(token), Some(key), &SubmitRequest { heads })
}

fn decide(addr: SocketAddr, token: &str, id: &str, decision: OperatorDecision, body: &[u8]) -> Response {
    bytes(addr, "POST", &paths::operator_decision(id, decision), Some(token), None, body)
}

fn document(addr: SocketAddr, token: &str, which: CandidateDocument) -> Response {
    get(addr, &paths::registration_document(EXAM, which), Some(token))
}

fn registration(addr: SocketAddr, token: &str) -> RegistrationView {
    strict(&get(addr, &paths::registration(EXAM), Some(token)), 200)
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

fn rfc3339_in(secs: i64) -> OffsetDateTime {
    let t = OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.replace_nanosecond(0).expect("whole seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_a_journey_parses_strictly_into_the_contract() {
    let server = support::start_server();
    let addr = server.addr;
    let demo = baoming_core::catalog::DEMO_CATALOG_TOML;

    // ---- health, and the server's own refusals ------------------------------------------------
    assert_eq!(strict::<Health>(&get(addr, paths::HEALTHZ, None), 200).status, HealthStatus::Ok);
    assert_eq!(strict::<Health>(&get(addr, paths::READYZ, None), 200).status, HealthStatus::Ready);
    refused(&get(addr, "/api/nowhere", None), 404, ErrorCode::NotFound);
    refused(&call(addr, "DELETE", paths::CAPTCHA, None, None), 405, ErrorCode::MethodNotAllowed);

    // ---- the administrator imports a catalog open now -----------------------------------------
    let admin_session = login(addr, "admin");
    assert_eq!(admin_session.operator.role, Role::Administrator);
    let admin = admin_session.token.clone();
    import(addr, &admin, &support::open_demo_catalog());
    refused(
        &bytes(addr, "PUT", paths::OPERATOR_CATALOG, Some(&admin), None, b"exam = 3"),
        422,
        ErrorCode::CatalogInvalid,
    );
    refused(
        &bytes(addr, "PUT", paths::OPERATOR_CATALOG, Some(&admin), None, &[0xff, 0xfe]),
        422,
        ErrorCode::CatalogEncoding,
    );

    // ---- the public catalog -------------------------------------------------------------------
    let catalog: CatalogAnswer = strict(&get(addr, paths::CATALOG, None), 200);
    assert_eq!(catalog.exams[0].id, EXAM);
    let exams: Vec<ExamSummary> = strict(&get(addr, paths::EXAMS, None), 200);
    assert_eq!(exams[0].id, EXAM);
    let exam: ExamAnswer = strict(&get(addr, &paths::exam(EXAM), None), 200);
    assert!(exam.public_key.is_some(), "the exam publishes its ticket key");
    for part in ExamPart::ALL {
        let r = get(addr, &paths::exam_part(EXAM, part), None);
        match part {
            ExamPart::Agreement => drop(strict::<AgreementAnswer>(&r, 200)),
            ExamPart::Announcements => drop(strict::<AnnouncementsAnswer>(&r, 200)),
            ExamPart::Guide => drop(strict::<GuideAnswer>(&r, 200)),
            ExamPart::Form => drop(strict::<FormAnswer>(&r, 200)),
            ExamPart::Subjects => drop(strict::<SubjectsAnswer>(&r, 200)),
            ExamPart::Slots => drop(strict::<SlotsAnswer>(&r, 200)),
            ExamPart::Centers => drop(strict::<CentersAnswer>(&r, 200)),
            ExamPart::Availability => {
                let a: ExamAvailability = strict(&r, 200);
                assert!(a.centers.iter().all(|c| c.held == 0 && !c.cancelled));
            }
        }
    }
    let center: CenterDetail = strict(&get(addr, &paths::exam_center(EXAM, ROOMS), None), 200);
    assert_eq!(center.center.id, ROOMS);
    let seats: CenterSeats = strict(&get(addr, &paths::center_availability(EXAM, SMALL), None), 200);
    assert_eq!(seats.total_capacity, 8);
    refused(&get(addr, &paths::exam("nope"), None), 404, ErrorCode::NotFound);
    refused(&get(addr, &format!("{}/nope", paths::exam(EXAM)), None), 404, ErrorCode::NotFound);

    // ---- accounts -----------------------------------------------------------------------------
    let register = |login: &str, password: &str| {
        send(
            addr,
            "POST",
            paths::ACCOUNTS,
            None,
            None,
            &RegisterRequest { login: login.into(), password: password.into() },
        )
    };
    refused(&bytes(addr, "POST", paths::ACCOUNTS, None, None, b"{"), 400, ErrorCode::MalformedJson);
    refused(
        &bytes(
            addr,
            "POST",
            paths::ACCOUNTS,
            None,
            None,
            br#"{"login":"a@example.org","password":"p","x":1}"#,
        ),
        422,
        ErrorCode::InvalidBody,
    );
    refused(&register("not a login", CANDIDATE_PASSWORD), 422, ErrorCode::LoginInvalid);
    refused(&register("short@example.org", "Ab1-"), 422, ErrorCode::PasswordTooShort);
    refused(&register("common@example.org", "password123"), 422, ErrorCode::PasswordTooCommon);
    let first: SessionAnswer = strict(&register("zhang.san@example.org", CANDIDATE_PASSWORD), 201);
    assert!(first.account_id.starts_with("acc_"));
    refused(&register("zhang.san@example.org", CANDIDATE_PASSWORD), 409, ErrorCode::LoginTaken);

    let sign_in = |login: &str, password: &str, captcha: Option<(String, &str)>| {
        let (captcha_id, captcha_answer) = match captcha {
            Some((id, answer)) => (Some(id), Some(answer.to_owned())),
            None => (None, None),
        };
        let req = LoginRequest { login: login.into(), password: password.into(), captcha_id, captcha_answer };
        send(addr, "POST", paths::SESSIONS, None, None, &req)
    };
    // Three failures on one account raise a captcha for it.
    for _ in 0..3 {
        refused(&sign_in("victim@example.org", "Wrong-Password-1", None), 401, ErrorCode::BadCredentials);
    }
    refused(&sign_in("victim@example.org", "Wrong-Password-1", None), 401, ErrorCode::CaptchaRequired);
    let captcha = call(addr, "POST", paths::CAPTCHA, None, None);
    assert_eq!((captcha.status, captcha.header("content-type")), (200, Some(paths::PNG)));
    let captcha_id = captcha.header(paths::CAPTCHA_ID).expect("the captcha's id header").to_owned();
    refused(
        &sign_in("victim@example.org", "Wrong-Password-1", Some((captcha_id, "no-digits"))),
        401,
        ErrorCode::CaptchaWrong,
    );
    let session: SessionAnswer = strict(&sign_in("zhang.san@example.org", CANDIDATE_PASSWORD, None), 200);
    assert_eq!(session.account_id, first.account_id);
    let token = session.token.as_str();

    let account: AccountAnswer = strict(&get(addr, paths::ACCOUNT, Some(token)), 200);
    assert!(!account.has_profile);
    refused(&get(addr, paths::ACCOUNT, None), 401, ErrorCode::Unauthorized);
    refused(&get(addr, paths::ACCOUNT_PROFILE, Some(token)), 404, ErrorCode::NotFound);
    let id_number = support::resident_id("11010519900101009");
    let profile = |name: &str, kind: &str, number: &str| ProfileRequest {
        legal_name: name.into(),
        id_kind: kind.into(),
        id_number: number.into(),
        phone: Some("13800138000".into()),
    };
    let put_profile = |p: &ProfileRequest| send(addr, "PUT", paths::ACCOUNT_PROFILE, Some(token), None, p);
    refused(&put_profile(&profile("", "resident_id", &id_number)), 422, ErrorCode::LegalNameInvalid);
    refused(&put_profile(&profile("张三", "alien_card", &id_number)), 422, ErrorCode::IdUnknownKind);
    let wrong_check = format!("{}{}", &id_number[..17], if id_number.ends_with('0') { '1' } else { '0' });
    refused(&put_profile(&profile("张三", "resident_id", &wrong_check)), 422, ErrorCode::IdChecksum);
    let stored: Profile = strict(&put_profile(&profile("张三", "resident_id", &id_number)), 200);
    assert_eq!(stored.id_number, id_number);
    assert_eq!(strict::<Profile>(&get(addr, paths::ACCOUNT_PROFILE, Some(token)), 200), stored);

    let change_password = |current: &str, new: &str| {
        let req = PasswordChangeRequest { current_password: current.into(), new_password: new.into() };
        send(addr, "PUT", paths::ACCOUNT_PASSWORD, Some(token), None, &req)
    };
    refused(
        &change_password("Not-The-Password-9", "Lantern-Harbor-43"),
        422,
        ErrorCode::CurrentPasswordWrong,
    );
    let changed: PasswordChangeAnswer =
        strict(&change_password(CANDIDATE_PASSWORD, "Lantern-Harbor-43"), 200);
    assert_eq!(changed.revoked_sessions, 1, "the registration's session ends");
    refused(&get(addr, paths::ACCOUNT, Some(&first.token)), 401, ErrorCode::Unauthorized);
    let asked: RecoveryAnswer = strict(
        &send(
            addr,
            "POST",
            paths::PASSWORD_RECOVERY,
            None,
            None,
            &RecoveryRequest { login: "zhang.san@example.org".into() },
        ),
        202,
    );
    assert_eq!(asked.status, RecoveryAnswer::STATUS);
    let reset = RecoveryResetRequest {
        login: "zhang.san@example.org".into(),
        code: "not-a-code".into(),
        new_password: "Lantern-Harbor-44".into(),
    };
    refused(
        &send(addr, "POST", paths::PASSWORD_RECOVERY_RESET, None, None, &reset),
        422,
        ErrorCode::RecoveryCodeWrong,
    );

    refused(&call(addr, "POST", &paths::oauth_start("nowhere"), None, None), 404, ErrorCode::NotFound);
    let denied = OAuthCallbackQuery { error: Some("access_denied".into()), ..OAuthCallbackQuery::default() };
    let denied_path =
        format!("{}?error={}", paths::oauth_callback("nowhere"), denied.error.as_deref().unwrap_or_default());
    refused(&get(addr, &denied_path, None), 422, ErrorCode::OauthDenied);
    refused(&get(addr, &paths::oauth_callback("nowhere"), None), 400, ErrorCode::BadRequest);

    let ticket: SyncTicket = strict(&call(addr, "POST", paths::SYNC_TICKETS, Some(token), None), 201);
    assert_eq!(ticket.expires_in, 60);
    refused(&get(addr, paths::SYNC, Some(token)), 422, ErrorCode::WebsocketRequired);
    let out = call(addr, "DELETE", paths::SESSIONS_CURRENT, Some(token), None);
    assert_eq!(out.status, 204);
    refused(&get(addr, paths::ACCOUNT, Some(token)), 401, ErrorCode::Unauthorized);

    // ---- operators ----------------------------------------------------------------------------
    let bad = OperatorLoginRequest {
        username: "admin".into(),
        password: "Wrong-Password-1".into(),
        captcha_id: None,
        captcha_answer: None,
    };
    refused(&send(addr, "POST", paths::OPERATOR_SESSIONS, None, None, &bad), 401, ErrorCode::BadCredentials);
    let me: OperatorInfo = strict(&get(addr, paths::OPERATOR_ME, Some(&admin)), 200);
    assert_eq!(me, admin_session.operator);
    let centers: Vec<OperatorCenter> = strict(&get(addr, paths::OPERATOR_CENTERS, Some(&admin)), 200);
    assert!(centers.iter().any(|c| c.center == ROOMS));
    let small: CenterSeats = strict(&get(addr, &paths::operator_seats(EXAM, SMALL), Some(&admin)), 200);
    assert_eq!(small, seats, "the operator's seats are the public availability");
    let desk_info: OperatorInfo =
        strict(&create_operator(addr, &admin, "desk.changping", Role::CenterOperator, &[ROOMS]), 201);
    assert_eq!(desk_info.centers, vec![ROOMS.to_owned()]);
    strict::<OperatorInfo>(&create_operator(addr, &admin, "audit.one", Role::Auditor, &[]), 201);
    refused(
        &create_operator(addr, &admin, "desk.changping", Role::CenterOperator, &[ROOMS]),
        409,
        ErrorCode::UsernameTaken,
    );
    refused(&create_operator(addr, &admin, "X", Role::Auditor, &[]), 422, ErrorCode::UsernameInvalid);
    refused(
        &create_operator(addr, &admin, "desk.none", Role::CenterOperator, &[]),
        422,
        ErrorCode::CentersRequired,
    );
    refused(
        &create_operator(addr, &admin, "audit.two", Role::Auditor, &[ROOMS]),
        422,
        ErrorCode::CentersNotAllowed,
    );
    refused(
        &create_operator(addr, &admin, "desk.mars", Role::CenterOperator, &["mars"]),
        422,
        ErrorCode::CenterUnknown,
    );
    let desk = login(addr, "desk.changping").token;
    let auditor = login(addr, "audit.one").token;
    refused(&get(addr, &paths::operator_seats(EXAM, SMALL), Some(&desk)), 403, ErrorCode::Forbidden);
    refused(&create_operator(addr, &auditor, "audit.three", Role::Auditor, &[]), 403, ErrorCode::Forbidden);
    let audit_query = AuditQuery { from: 1, limit: 1000 };
    let audit: Vec<AuditEntry> = strict(
        &get(addr, &format!("{}{}", paths::OPERATOR_AUDIT, audit_query.query_string()), Some(&auditor)),
        200,
    );
    assert!(audit.iter().any(|e| e.action == "operator.create"));
    refused(
        &get(addr, &format!("{}?sort=seq", paths::OPERATOR_AUDIT), Some(&admin)),
        400,
        ErrorCode::BadRequest,
    );
    let verified: AuditVerification = strict(&get(addr, paths::OPERATOR_AUDIT_VERIFY, Some(&auditor)), 200);
    assert_eq!(verified, AuditVerification::intact(verified.entries.unwrap_or_default()));
    assert!(verified.entries.is_some_and(|n| n >= audit.len() as u64));

    // ---- candidate A: photo, submission and its refusals -----------------------------------------
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

    // ---- candidate B: an account without a draft --------------------------------------------------
    let b: SessionAnswer = strict(&register("b@contract.example", CANDIDATE_PASSWORD), 201);
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
    refused(&call(addr, "POST", &paths::payment_refresh(EXAM), Some(b_token), None), 409, ErrorCode::NoOrder);
    let refusal =
        refused(&document(addr, b_token, CandidateDocument::RegistrationForm), 409, ErrorCode::NotPaid);
    assert_eq!(refusal.status, Some(Status::Draft));
    let refusal = refused(
        &document(addr, b_token, CandidateDocument::AdmissionTicket),
        409,
        ErrorCode::PrintingWindowClosed,
    );
    assert!(refusal.printing.is_some());
    let none: CandidateNotices = strict(&get(addr, &paths::registration_notices(EXAM), Some(b_token)), 200);
    assert_eq!((none.center, none.notices.len()), (None, 0));

    // ---- candidate C: window, seats, the same ID document, a cancelled center ---------------------
    let c = CandidateDevice::with_complete_draft(addr, "c@contract.example", 41, SMALL, &["15"]).await;
    import(addr, &admin, &catalog_around_now(demo, Windows::CLOSED));
    let closed = refused(&c.submit(addr, "c-closed"), 409, ErrorCode::WindowClosed);
    assert!(closed.opens.zip(closed.closes).is_some_and(|(o, c)| o < c));
    let full = support::open_demo_catalog().replacen(
        "code = \"15\"\ncapacity = 4\n",
        "code = \"15\"\ncapacity = 0\n",
        1,
    );
    assert_ne!(full, support::open_demo_catalog(), "the small center's subject 15 is emptied");
    import(addr, &admin, &full);
    let gone = refused(&c.submit(addr, "c-full"), 409, ErrorCode::SeatGone);
    assert_eq!(gone.pools, Some(vec![SeatPool::Subject { center: SMALL.into(), subject: "15".into() }]));
    import(addr, &admin, &support::open_demo_catalog());
    refused(&c.submit(addr, "c-duplicate"), 409, ErrorCode::DuplicateIdDocument);
    let cancel = |token: &str, path: &str, reason: &str| {
        send(addr, "POST", path, Some(token), None, &CancelRequest { reason: reason.into() })
    };
    refused(&cancel(&auditor, &paths::cancel_center(EXAM, SMALL), "停电"), 403, ErrorCode::Forbidden);
    refused(&cancel(&admin, &paths::cancel_center(EXAM, SMALL), " "), 422, ErrorCode::ReasonInvalid);
    refused(&cancel(&admin, &paths::cancel_center(EXAM, "mars"), "停电"), 404, ErrorCode::NotFound);
    let done: CancellationAnswer =
        strict(&cancel(&admin, &paths::cancel_center(EXAM, SMALL), "考点停电"), 200);
    assert_eq!((done.center.as_deref(), done.progress.in_scope), (Some(SMALL), 0));
    let cancelled = refused(&c.submit(addr, "c-cancelled"), 409, ErrorCode::Cancelled);
    assert_eq!((cancelled.center, cancelled.reason.as_deref()), (Some(Some(SMALL.into())), Some("考点停电")));
    let small: CenterSeats = strict(&get(addr, &paths::center_availability(EXAM, SMALL), None), 200);
    assert!(small.cancelled);

    // ---- candidate R at a reviewing center: slot conflict, review, decisions ----------------------
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

    let queue = |token: &str, query: &ReviewQuery| {
        get(addr, &format!("{}{}", paths::review_queue(EXAM, REVIEW), query.query_string()), Some(token))
    };
    let page: ReviewPage = strict(&queue(&admin, &ReviewQuery::default()), 200);
    assert_eq!((page.total, page.items[0].registration_id.as_str()), (1, r_id.as_str()));
    let photo = page.items[0].photo.as_ref().expect("the photo");
    assert_eq!((photo.stored, photo.passed), (true, Some(true)));
    let by_name = ReviewQuery {
        statuses: vec![Status::UnderReview, Status::Submitted],
        q: Some("张三".into()),
        limit: Some(1),
        start: Some(ReviewStart::Offset(0)),
    };
    assert_eq!(strict::<ReviewPage>(&queue(&auditor, &by_name), 200).total, 1);
    let review_path = paths::review_queue(EXAM, REVIEW);
    for (query, code) in [
        ("?limit=0", ErrorCode::LimitInvalid),
        ("?offset=-1", ErrorCode::OffsetInvalid),
        ("?cursor=zz", ErrorCode::CursorInvalid),
        ("?cursor=00&offset=1", ErrorCode::PagingConflict),
        ("?q=a&q=b", ErrorCode::ParameterRepeated),
        ("?sort=name", ErrorCode::ParameterUnknown),
    ] {
        let body = refused(&get(addr, &format!("{review_path}{query}"), Some(&admin)), 400, code);
        assert!(body.parameter.is_some(), "{body:?}");
    }
    let long_q = ReviewQuery { q: Some("长".repeat(65)), ..ReviewQuery::default() };
    refused(&queue(&admin, &long_q), 400, ErrorCode::QInvalid);
    let status_invalid = refused(
        &get(addr, &format!("{review_path}?status=nope"), Some(&admin)),
        400,
        ErrorCode::StatusInvalid,
    );
    assert_eq!(status_invalid.allowed.map(|a| a.len()), Some(Status::ALL.len()));
    refused(&queue(&desk, &ReviewQuery::default()), 404, ErrorCode::NotFound);

    let reject = |reason: &str, paths: &[&str]| {
        serde_json::to_vec(&RejectRequest {
            reason: reason.into(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
        .expect("json")
    };
    refused(
        &decide(addr, &admin, &r_id, OperatorDecision::Reject, &reject("", &[])),
        422,
        ErrorCode::ReasonInvalid,
    );
    refused(
        &decide(addr, &admin, &r_id, OperatorDecision::Reject, &reject("r", &["photo"])),
        422,
        ErrorCode::PathsInvalid,
    );
    refused(&decide(addr, &auditor, &r_id, OperatorDecision::Approve, b""), 403, ErrorCode::Forbidden);
    refused(&decide(addr, &desk, &r_id, OperatorDecision::Approve, b""), 404, ErrorCode::NotFound);
    let rejected: RegistrationView = strict(
        &decide(addr, &admin, &r_id, OperatorDecision::Reject, &reject("照片不清晰", &["draft.photo"])),
        200,
    );
    assert_eq!(
        (rejected.status, rejected.reason_paths.clone()),
        (Status::Rejected, vec!["draft.photo".to_owned()])
    );
    refused(
        &decide(addr, &admin, &r_id, OperatorDecision::Approve, b""),
        409,
        ErrorCode::TransitionNotAllowed,
    );
    strict::<RegistrationView>(&action(addr, &r.token, CandidateAction::ApplyReview, "r-apply-again"), 200);
    let approved: RegistrationView =
        strict(&decide(addr, &admin, &r_id, OperatorDecision::Approve, b""), 200);
    assert!(approved.status == Status::Approved && approved.deadline_ms.is_some());

    // ---- payments, and the paid candidate's documents -----------------------------------------
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

    let o = CandidateDevice::with_complete_draft(addr, "o@contract.example", 43, ONSITE, &["15"]).await;
    let o_view: RegistrationView = strict(&o.submit(addr, "o-submit"), 200);
    let by_id = |id: &str| ConfirmRequest::Registration { registration_id: id.into() };
    let confirm = |token: &str, center: &str, body: &ConfirmRequest| {
        send(addr, "POST", &paths::confirm(EXAM, center), Some(token), None, body)
    };
    let not_paid =
        refused(&confirm(&admin, ONSITE, &by_id(&o_view.document_id)), 409, ErrorCode::TransitionNotAllowed);
    assert_eq!(not_paid.status, Some(Status::Submitted));
    refused(&confirm(&admin, ROOMS, &by_id(&submitted.document_id)), 409, ErrorCode::OnsiteNotRequired);
    let stranger = ConfirmRequest::Person {
        name: "李四".into(),
        id_document: support::resident_id("11010519900101043"),
    };
    refused(&confirm(&admin, ONSITE, &stranger), 404, ErrorCode::NotFound);
    pay_through_the_sandbox(addr, &o.token, "o-pay");
    let confirmed: ConfirmAnswer = strict(&confirm(&admin, ONSITE, &by_id(&o_view.document_id)), 200);
    assert_eq!(
        (confirmed.registration.status, confirmed.registration_id),
        (Status::Confirmed, o_view.document_id.clone())
    );

    // ---- notices -------------------------------------------------------------------------------
    let notice = |title: &str, body: &str, opens: i64, closes: i64, onsite: bool| NoticeRequest {
        title: title.into(),
        body: body.into(),
        opens: rfc3339_in(opens),
        closes: rfc3339_in(closes),
        requires_onsite_confirmation: onsite,
    };
    let post_notice = |token: &str, center: &str, n: &NoticeRequest| {
        send(addr, "POST", &paths::notices(EXAM, center), Some(token), None, n)
    };
    let open_now: OperatorNotice = strict(
        &post_notice(
            &admin,
            ONSITE,
            &notice("考场须知", "请提前30分钟到达。\n携带身份证。", -3600, 86_400, false),
        ),
        201,
    );
    let later: OperatorNotice = strict(
        &post_notice(&admin, ONSITE, &notice("现场确认", "请到一层确认。", 10 * 86_400, 11 * 86_400, true)),
        201,
    );
    refused(&post_notice(&admin, ONSITE, &notice("", "b", -1, 60, false)), 422, ErrorCode::TitleInvalid);
    refused(&post_notice(&admin, ONSITE, &notice("t", "", -1, 60, false)), 422, ErrorCode::BodyInvalid);
    refused(&post_notice(&admin, ONSITE, &notice("t", "b", 60, -1, false)), 422, ErrorCode::WindowInvalid);
    refused(&post_notice(&admin, ROOMS, &notice("t", "b", -1, 60, true)), 422, ErrorCode::OnsiteNotRequired);
    refused(&post_notice(&auditor, ONSITE, &notice("t", "b", -1, 60, false)), 403, ErrorCode::Forbidden);
    let listed: Vec<OperatorNotice> = strict(&get(addr, &paths::notices(EXAM, ONSITE), Some(&auditor)), 200);
    assert_eq!(listed.len(), 2);
    let one: OperatorNotice =
        strict(&get(addr, &paths::notice(EXAM, ONSITE, &later.notice.id), Some(&admin)), 200);
    assert_eq!(one, later);
    let replaced: OperatorNotice = strict(
        &send(
            addr,
            "PUT",
            &paths::notice(EXAM, ONSITE, &open_now.notice.id),
            Some(&admin),
            None,
            &notice("考场须知（更新）", "请提前30分钟到达。", -3600, 86_400, false),
        ),
        200,
    );
    assert_eq!(replaced.notice.title, "考场须知（更新）");
    refused(&get(addr, &paths::notice(EXAM, ONSITE, "nt_nothing"), Some(&admin)), 404, ErrorCode::NotFound);
    let seen: CandidateNotices = strict(&get(addr, &paths::registration_notices(EXAM), Some(&o.token)), 200);
    assert_eq!(seen.notices, vec![replaced.notice.clone()], "only the open one, without its writer");
    assert!(seen.onsite.is_some_and(|rule| rule.required));
    let scratch: OperatorNotice =
        strict(&post_notice(&admin, ONSITE, &notice("临时", "b", -60, 60, false)), 201);
    assert_eq!(
        call(addr, "DELETE", &paths::notice(EXAM, ONSITE, &scratch.notice.id), Some(&admin), None).status,
        204
    );

    // ---- printing, arrangement and check-in ------------------------------------------------------
    import(addr, &admin, &catalog_around_now(demo, Windows::PRINTING));
    let waiting = refused(
        &document(addr, &a.token, CandidateDocument::AdmissionTicketCode),
        409,
        ErrorCode::NotEligible,
    );
    assert_eq!(
        (waiting.not_eligible_reason(), waiting.status),
        (Some(NotEligibleReason::NotArranged), Some(Status::Paid))
    );
    let nobody =
        refused(&document(addr, b_token, CandidateDocument::AdmissionTicket), 409, ErrorCode::NotEligible);
    assert_eq!(nobody.not_eligible_reason(), Some(NotEligibleReason::NotRegistered));
    refused(&get(addr, &paths::arrangement(EXAM, ROOMS), Some(&admin)), 404, ErrorCode::NotFound);
    let no_rooms = refused(
        &call(addr, "POST", &paths::arrangement(EXAM, REVIEW), Some(&admin), None),
        409,
        ErrorCode::NoRooms,
    );
    assert_eq!(no_rooms.center, Some(Some(REVIEW.into())));
    refused(
        &call(addr, "POST", &paths::arrangement(EXAM, ROOMS), Some(&auditor), None),
        403,
        ErrorCode::Forbidden,
    );
    let run: ArrangementAnswer =
        strict(&call(addr, "POST", &paths::arrangement(EXAM, ROOMS), Some(&desk), None), 200);
    assert_eq!(run.counts.map(|c| (c.arranged, c.new)), Some((1, 1)));
    let read: ArrangementAnswer = strict(&get(addr, &paths::arrangement(EXAM, ROOMS), Some(&auditor)), 200);
    assert_eq!((read.counts, read.candidates.clone()), (None, run.candidates.clone()));
    assert!(read.candidates[0].sittings.iter().all(|s| s.room_name.is_some()));
    let shown: TicketCode = strict(&document(addr, &a.token, CandidateDocument::AdmissionTicketCode), 200);
    assert_eq!(shown.ticket_number, read.candidates[0].ticket_number);
    let scan = |token: &str, code: &str| {
        send(addr, "POST", &paths::check_in(EXAM), Some(token), None, &CheckInRequest { code: code.into() })
    };
    refused(&scan(&desk, "https://example.cn/ticket"), 422, ErrorCode::TicketFormat);
    refused(
        &bytes(addr, "POST", &paths::check_in(EXAM), Some(&desk), None, b"{}"),
        422,
        ErrorCode::InvalidBody,
    );
    refused(&scan(&auditor, &shown.code), 403, ErrorCode::Forbidden);
    let first_scan: CheckInAnswer = strict(&scan(&desk, &shown.code), 200);
    let CheckInAnswer::CheckedIn { checked_in_at_ms, ref sittings, .. } = first_scan else {
        panic!("the first scan checks in: {first_scan:?}")
    };
    assert_eq!(sittings.len(), 1);
    let second: CheckInAnswer = strict(&scan(&desk, &shown.code), 200);
    assert!(
        matches!(second, CheckInAnswer::AlreadyCheckedIn { checked_in_at_ms: at, .. } if at == checked_in_at_ms)
    );

    // ---- the desk's reads ------------------------------------------------------------------------
    let listed: Vec<CenterRegistration> =
        strict(&get(addr, &paths::operator_registrations(EXAM, ROOMS), Some(&desk)), 200);
    assert_eq!((listed.len(), listed[0].subjects.clone()), (1, vec!["15".to_owned()]));
    let stats: ExamStats = strict(&get(addr, &paths::stats(EXAM), Some(&admin)), 200);
    assert_eq!(stats.totals.payments.paid_count, 2, "A paid, O confirmed");
    let mine: ExamStats = strict(&get(addr, &paths::stats(EXAM), Some(&desk)), 200);
    assert_eq!(mine.centers.iter().map(|c| c.center.as_str()).collect::<Vec<_>>(), vec![ROOMS]);
    let roster = get(addr, &paths::roster(EXAM, ROOMS), Some(&desk));
    assert_eq!((roster.status, roster.header("content-type")), (200, Some(paths::CSV)));

    // ---- the window of on-site confirmation closes -------------------------------------------------
    import(addr, &admin, &catalog_around_now(demo, Windows::ONSITE_LATER));
    let shut = refused(
        &confirm(&admin, ONSITE, &by_id(&o_view.document_id)),
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

    // ---- the whole session is cancelled -------------------------------------------------------------
    let session_cancel: CancellationAnswer =
        strict(&cancel(&admin, &paths::cancel_exam(EXAM), "全场取消"), 200);
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

    // ---- operator logout --------------------------------------------------------------------------
    assert_eq!(call(addr, "DELETE", paths::OPERATOR_SESSIONS_CURRENT, Some(&auditor), None).status, 204);
    refused(&get(addr, paths::OPERATOR_ME, Some(&auditor)), 401, ErrorCode::Unauthorized);

    let codes = CODES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    eprintln!("{} error codes met: {}", codes.len(), codes.iter().copied().collect::<Vec<_>>().join(" "));
    assert!(codes.len() >= 60, "the journey meets most error codes: {} of them, {codes:?}", codes.len());
}
