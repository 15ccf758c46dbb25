//! Candidates, operators and catalogs over the REST API, every answer read through the
//! contract.

use std::net::SocketAddr;

use baoming_core::api::accounts::{LoginRequest, RegisterRequest, SessionAnswer};
use baoming_core::api::catalog::CenterSeats;
use baoming_core::api::error::ErrorCode;
use baoming_core::api::operator::{
    CatalogImportAnswer, CreateOperatorRequest, OperatorInfo, OperatorLoginRequest, OperatorSessionAnswer,
    Role,
};
use baoming_core::api::paths;
use baoming_core::api::registrations::RegistrationView;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::http;

/// The exam session of the demo catalog.
pub const DEMO_EXAM: &str = "ncre-2027-03";

/// The password of every candidate the tests create.
pub const CANDIDATE_PASSWORD: &str = "Lantern-Harbor-42";

/// The password of the demo operator `admin` on every server the tests start.
pub const OPERATOR_PASSWORD: &str = "Demo-Operator-Pass-1";

/// A valid mainland resident ID number for `body17` (17 digits): the core's GB 11643 check
/// character appended.
pub fn resident_id(body17: &str) -> String {
    let check = baoming_core::id_document::gb11643_check_char(body17).expect("17 digits");
    format!("{body17}{check}")
}

/// Registers candidate `login` (a new account) with [`CANDIDATE_PASSWORD`]; (account id,
/// token).
#[track_caller]
pub fn register_candidate(addr: SocketAddr, login: &str) -> (String, String) {
    let req = RegisterRequest { login: login.into(), password: CANDIDATE_PASSWORD.into() };
    let answer: SessionAnswer = http::post(addr, paths::ACCOUNTS).json(&req).send().expect(201).typed();
    (answer.account_id, answer.token)
}

/// Registers candidate `login` unless the account exists, then logs in; (account id, a fresh
/// token).
#[track_caller]
pub fn candidate_session(addr: SocketAddr, login: &str) -> (String, String) {
    let req = RegisterRequest { login: login.into(), password: CANDIDATE_PASSWORD.into() };
    let r = http::post(addr, paths::ACCOUNTS).json(&req).send();
    if r.status != 201 {
        r.refused(409, ErrorCode::LoginTaken);
    }
    let login = LoginRequest {
        login: login.into(),
        password: CANDIDATE_PASSWORD.into(),
        captcha_id: None,
        captcha_answer: None,
    };
    let answer: SessionAnswer = http::post(addr, paths::SESSIONS).json(&login).send().expect(200).typed();
    (answer.account_id, answer.token)
}

/// Logs operator `username` in; the session.
#[track_caller]
pub fn operator_session(addr: SocketAddr, username: &str, password: &str) -> OperatorSessionAnswer {
    let req = OperatorLoginRequest {
        username: username.into(),
        password: password.into(),
        captcha_id: None,
        captcha_answer: None,
    };
    http::post(addr, paths::OPERATOR_SESSIONS).json(&req).send().expect(200).typed()
}

/// Logs operator `username` in; the bearer token.
#[track_caller]
pub fn operator_login(addr: SocketAddr, username: &str, password: &str) -> String {
    operator_session(addr, username, password).token
}

/// Logs the demo administrator `admin` in; the bearer token.
#[track_caller]
pub fn admin_login(addr: SocketAddr) -> String {
    operator_login(addr, "admin", OPERATOR_PASSWORD)
}

/// Creates operator `username` (password `password`) as the administrator `admin_token`.
#[track_caller]
pub fn create_operator(
    addr: SocketAddr,
    admin_token: &str,
    username: &str,
    password: &str,
    role: Role,
    centers: &[&str],
) -> OperatorInfo {
    let req = CreateOperatorRequest {
        username: username.into(),
        password: password.into(),
        role,
        centers: centers.iter().map(|c| (*c).to_owned()).collect(),
    };
    http::post(addr, paths::OPERATOR_OPERATORS).token(admin_token).json(&req).send().expect(201).typed()
}

/// Creates a center operator of `center` (password [`OPERATOR_PASSWORD`]) and logs them in;
/// the bearer token.
#[track_caller]
pub fn center_operator(addr: SocketAddr, admin_token: &str, username: &str, center: &str) -> String {
    create_operator(addr, admin_token, username, OPERATOR_PASSWORD, Role::CenterOperator, &[center]);
    operator_login(addr, username, OPERATOR_PASSWORD)
}

/// `toml` with `center`'s total capacity and one subject's capacity set (the demo catalog's
/// spelling: `total_capacity = N`, then `code = "S"` with `capacity = N` on the next line).
pub fn with_capacity(toml: &str, center: &str, total: u32, subject: &str, capacity: u32) -> String {
    let at = toml.find(&format!("id = \"{center}\"")).expect("the center is in the catalog");
    let (head, tail) = toml.split_at(at);
    let total_line = tail.find("total_capacity = ").expect("its total capacity");
    let total_end = total_line + tail[total_line..].find('\n').expect("a line");
    let code = format!("code = \"{subject}\"\ncapacity = ");
    let subject_at = tail.find(&code).expect("the subject at the center") + code.len();
    let subject_end = subject_at + tail[subject_at..].find('\n').expect("a line");
    format!(
        "{head}{}total_capacity = {total}{}{capacity}{}",
        &tail[..total_line],
        &tail[total_end..subject_at],
        &tail[subject_end..]
    )
}

/// Imports `toml` through `PUT /api/operator/catalog` as the demo administrator.
#[track_caller]
pub fn import_catalog(addr: SocketAddr, toml: &str) -> CatalogImportAnswer {
    let admin = admin_login(addr);
    http::put(addr, paths::OPERATOR_CATALOG).token(&admin).body(toml).send().expect(200).typed()
}

/// The candidate's registration (`GET /api/registrations/{exam}` of the demo exam).
#[track_caller]
pub fn registration(addr: SocketAddr, token: &str) -> RegistrationView {
    http::get(addr, &paths::registration(DEMO_EXAM)).token(token).send().expect(200).typed()
}

/// The seats of `center` of the demo exam as candidates see them.
#[track_caller]
pub fn availability(addr: SocketAddr, center: &str) -> CenterSeats {
    http::get(addr, &paths::center_availability(DEMO_EXAM, center)).send().expect(200).typed()
}

/// Asserts `held + paid + free == capacity` for the center's pool and every subject pool;
/// returns the center's (held, paid).
#[track_caller]
pub fn assert_seats_add_up(seats: &CenterSeats) -> (u32, u32) {
    assert_eq!(seats.held + seats.paid + seats.free, seats.total_capacity, "center: {seats:?}");
    for s in &seats.subjects {
        assert_eq!(s.held + s.paid + s.free, s.capacity, "subject {}: {seats:?}", s.code);
    }
    (seats.held, seats.paid)
}

/// The windows of a test catalog, in seconds relative to the moment it is generated, so that
/// tests never depend on the calendar.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// When registration opens (negative: in the past).
    pub registration_opens: i64,
    /// When registration closes (negative: already closed).
    pub registration_closes: i64,
    /// When every center's on-site confirmation window opens.
    pub onsite_opens: i64,
    /// When it closes.
    pub onsite_closes: i64,
    /// When the exam's admission-ticket printing window opens.
    pub printing_opens: i64,
    /// When it closes.
    pub printing_closes: i64,
}

impl Windows {
    /// Registration opened a day ago and stays open for thirty days; on-site confirmation runs
    /// from an hour ago to two days from now; printing opens in forty days.
    pub const OPEN: Windows = Windows {
        registration_opens: -86_400,
        registration_closes: 30 * 86_400,
        onsite_opens: -3_600,
        onsite_closes: 2 * 86_400,
        printing_opens: 40 * 86_400,
        printing_closes: 48 * 86_400,
    };
    /// As [`Windows::OPEN`], with the printing window open from an hour ago for two days.
    pub const PRINTING: Windows =
        Windows { printing_opens: -3_600, printing_closes: 2 * 86_400, ..Windows::OPEN };
    /// Registration open as in [`Windows::OPEN`]; on-site confirmation opens in twenty days.
    pub const ONSITE_LATER: Windows =
        Windows { onsite_opens: 20 * 86_400, onsite_closes: 22 * 86_400, ..Windows::OPEN };
    /// Registration opened two days ago and closed a second ago.
    pub const CLOSED: Windows =
        Windows { registration_opens: -2 * 86_400, registration_closes: -1, ..Windows::OPEN };
}

/// `toml` (a catalog in the demo catalog's layout, e.g. `DEMO_CATALOG_TOML`) with every exam's
/// registration and printing windows and every on-site confirmation window set to `windows`
/// around `now`. Only the one-line `registration = {…}`, `printing = {…}` and `window = {…}`
/// entries are rewritten; everything else is kept byte for byte.
pub fn catalog_around(toml: &str, windows: Windows, now: OffsetDateTime) -> String {
    let at = |offset_secs: i64| {
        let t = now + time::Duration::seconds(offset_secs);
        t.format(&Rfc3339).expect("format a time")
    };
    let window = |key: &str, opens: i64, closes: i64| {
        format!("{key} = {{ opens = \"{}\", closes = \"{}\" }}", at(opens), at(closes))
    };
    let mut out = String::with_capacity(toml.len());
    for line in toml.lines() {
        let trimmed = line.trim_start();
        let replaced = if trimmed.starts_with("registration = {") {
            window("registration", windows.registration_opens, windows.registration_closes)
        } else if trimmed.starts_with("printing = {") {
            window("printing", windows.printing_opens, windows.printing_closes)
        } else if trimmed.starts_with("window = {") {
            window("window", windows.onsite_opens, windows.onsite_closes)
        } else {
            line.to_owned()
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    out
}

/// [`catalog_around`] the system time (for a server whose clock has not moved).
pub fn catalog_around_now(toml: &str, windows: Windows) -> String {
    catalog_around(toml, windows, OffsetDateTime::now_utc())
}

/// The demo catalog with registration open from a day ago for thirty days.
pub fn open_demo_catalog() -> String {
    catalog_around_now(baoming_core::catalog::DEMO_CATALOG_TOML, Windows::OPEN)
}
