//! The REST contract (`baoming_core::api`) against the real server binary: one journey through
//! accounts, the catalog, operators, sync tickets and the sync cookie, photos, the lifecycle
//! with its refusals, payments on the embedded sandbox, documents, arrangement, check-in, the
//! operator's desk and the cancellations. Every JSON answer is parsed strictly: into its contract type, serialised
//! back and compared with the JSON the server sent, so a renamed, missing or extra member fails
//! here. Error answers go through [`ErrorBody`] the same way.
//!
//! The journey is one test, because each phase builds on the server state the earlier ones left;
//! it reads as a sequence of named phases, grouped by module:
//! [`opening`] (health, the catalog's import and its public reads), [`accounts`], [`operators`]
//! (which makes the [`Journey`] its operators' sessions), [`candidates`] (A, B and C and their
//! refusals), [`review`] (candidate R), [`payments`] (the sandbox and on-site confirmation),
//! [`examday`] (notices, printing, arrangement, check-in, the desk's reads) and [`closing`]
//! (the confirmation window, the session's cancellation, logout and the codes met).

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod candidates;
mod closing;
mod examday;
mod opening;
mod operators;
mod payments;
mod review;

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
use baoming_core::api::error::{
    ConfirmationWindow, ErrorBody, ErrorCode, NotEligibleReason, RefundState, SeatPool,
};
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
use baoming_core::api::sync::{SYNC_COOKIE, SYNC_COOKIE_PATH, SyncCookie, SyncTicket};
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
/// The catalog the server ships, which [`catalog_around_now`] moves around the current time.
const DEMO: &str = baoming_core::catalog::DEMO_CATALOG_TOML;

/// The error codes the journey met, for the closing check.
static CODES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// What the phases after the operators' creation share: the server's address and the sessions
/// of its three operators.
struct Journey {
    /// The server under test.
    addr: SocketAddr,
    /// The administrator's token.
    admin: String,
    /// The token of `desk.changping`, a center operator of [`ROOMS`].
    desk: String,
    /// The token of `audit.one`, an auditor.
    auditor: String,
}

impl Journey {
    /// The server's address and the administrator's, the desk's and the auditor's tokens.
    fn parts(&self) -> (SocketAddr, &str, &str, &str) {
        (self.addr, &self.admin, &self.desk, &self.auditor)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_a_journey_parses_strictly_into_the_contract() {
    let server = support::start_server();
    let addr = server.addr;
    opening::health_and_the_servers_own_refusals(addr);
    let admin = opening::the_administrator_imports_a_catalog_open_now(addr);
    let seats = opening::the_public_catalog(addr);

    let first = accounts::registering(addr);
    let session = accounts::signing_in_past_a_captcha(addr, &first);
    accounts::the_profile(addr, &session.token);
    accounts::password_change_and_recovery(addr, &session.token, &first.token);
    accounts::oauth_sync_ticket_and_sign_out(addr, &session.token);

    let j = Journey::with_operators(addr, &admin, &seats);
    j.operator_scopes_and_the_audit();

    let a = j.candidate_a_uploads_photos().await;
    let submitted = j.candidate_a_submits(&a);
    let b_token = j.candidate_b_without_a_draft();
    j.candidate_c_finds_no_window_no_seat_and_a_cancelled_center().await;
    let (r, r_id) = j.candidate_r_at_a_reviewing_center().await;
    j.the_review_queue(&r_id);
    j.review_decisions(&r, &r_id);

    j.candidate_a_pays(&a);
    let (o, o_view) = j.candidate_o_is_confirmed_on_site(&submitted).await;
    let later = j.notices(&o);
    let shown = j.printing_and_arrangement(&a, &b_token);
    j.check_in(&shown);
    j.the_desks_reads();

    j.the_onsite_confirmation_window_closes(&o_view, &later);
    j.the_whole_session_is_cancelled(&a, &r);
    j.operator_logout();
    closing::most_error_codes_were_met();
}

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

fn rfc3339_in(secs: i64) -> OffsetDateTime {
    let t = OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.replace_nanosecond(0).expect("whole seconds")
}

/// A registration of the account `login` with `password`.
fn register(addr: SocketAddr, login: &str, password: &str) -> Response {
    send(
        addr,
        "POST",
        paths::ACCOUNTS,
        None,
        None,
        &RegisterRequest { login: login.into(), password: password.into() },
    )
}

/// An on-site confirmation of registration `id`.
fn by_id(id: &str) -> ConfirmRequest {
    ConfirmRequest::Registration { registration_id: id.into() }
}

/// An on-site confirmation at `center` by the operator `token`.
fn confirm(addr: SocketAddr, token: &str, center: &str, body: &ConfirmRequest) -> Response {
    send(addr, "POST", &paths::confirm(EXAM, center), Some(token), None, body)
}

/// A cancellation, of a center or of the whole session (`path`), by the operator `token`.
fn cancel(addr: SocketAddr, token: &str, path: &str, reason: &str) -> Response {
    send(addr, "POST", path, Some(token), None, &CancelRequest { reason: reason.into() })
}
