//! The exam catalog: sessions, time slots, subjects, test centers, agreement, notices and the
//! form schema, as an administrator writes them in TOML.
//!
//! [`Catalog::from_toml_str`] parses and then validates the whole catalog, reporting every
//! problem at once with a path to the offending entry (`exam[ncre-2027-03].center[bj-01]…`).
//! A loaded catalog is immutable and cheap to query; field patterns are compiled once here so
//! that draft validation never compiles a regular expression.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ring::digest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::form::{FieldDef, FieldRole, FieldType};
use crate::photo::PhotoRules;

/// The demo catalog shipped with the project and seeded by the server on first start.
pub const DEMO_CATALOG_TOML: &str = include_str!("../catalog/demo.toml");

/// Text in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Bilingual {
    /// Simplified Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

/// A time window, closed at `opens` and open at `closes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First instant inside the window.
    #[serde(with = "time::serde::rfc3339")]
    pub opens: OffsetDateTime,
    /// First instant after the window.
    #[serde(with = "time::serde::rfc3339")]
    pub closes: OffsetDateTime,
}

impl Window {
    /// Whether `at` lies inside the window.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.opens <= at && at < self.closes
    }
}

/// The agreement a candidate accepts before registering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// The administrator's version label, e.g. `2027.1`.
    pub version: String,
    /// The full text shown to candidates.
    pub text: String,
    /// Lower-case hex SHA-256 of `text` (UTF-8). Computed on load; when the TOML states it, the
    /// stated value must match.
    #[serde(default)]
    pub sha256: String,
}

/// A public notice of the exam session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: Bilingual,
    /// Body text.
    pub body: Bilingual,
    /// Publication time.
    #[serde(with = "time::serde::rfc3339")]
    pub published: OffsetDateTime,
}

/// An exam time slot; a candidate may sit at most one subject per slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSlot {
    /// Stable id.
    pub id: String,
    /// Start of the sitting.
    #[serde(with = "time::serde::rfc3339")]
    pub starts: OffsetDateTime,
    /// End of the sitting.
    #[serde(with = "time::serde::rfc3339")]
    pub ends: OffsetDateTime,
}

/// A subject of the exam session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Official subject code, e.g. `66`.
    pub code: String,
    /// Name.
    pub name: Bilingual,
    /// The time slot this subject is sat in.
    pub slot: String,
}

/// A subject as offered by one test center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedSubject {
    /// The subject code (must exist in the session).
    pub code: String,
    /// Seats for this subject at this center.
    pub capacity: u32,
    /// Fee in fen (1/100 yuan).
    pub fee_fen: i64,
}

/// On-site confirmation required by a center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnsiteConfirmation {
    /// Whether candidates must confirm on site before their ticket is issued.
    pub required: bool,
    /// When the center receives candidates for confirmation.
    pub window: Window,
    /// Where and what to bring.
    pub notice: Bilingual,
}

/// An examination room (考场) of a test center, used to arrange candidates into seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// Stable id, unique in the center (letters, digits, `-`, `_`).
    pub id: String,
    /// Name as printed on the admission ticket, e.g. `第001考场（1号楼201）`.
    pub name: Bilingual,
    /// Seats in the room per time slot (1–999); seats are numbered from 1.
    pub capacity: u16,
}

/// Most seats one room may have (seat numbers have three digits in ticket numbers).
pub const MAX_ROOM_CAPACITY: u16 = 999;

/// A test center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCenter {
    /// Stable id, unique in the catalog.
    pub id: String,
    /// Name.
    pub name: Bilingual,
    /// Street address.
    pub address: Bilingual,
    /// Whether registrations are reviewed by the center before payment.
    #[serde(default)]
    pub review: bool,
    /// On-site confirmation, when the center asks for it.
    #[serde(default)]
    pub onsite: Option<OnsiteConfirmation>,
    /// Candidates the center can receive in the whole session.
    pub total_capacity: u32,
    /// The subjects offered.
    #[serde(rename = "subject")]
    pub subjects: Vec<OfferedSubject>,
    /// Examination rooms, in arrangement order; optional (a center without rooms cannot be
    /// arranged).
    #[serde(default, rename = "room", skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<Room>,
}

impl TestCenter {
    /// The offer for `code`, if this center offers it.
    pub fn offer(&self, code: &str) -> Option<&OfferedSubject> {
        self.subjects.iter().find(|s| s.code == code)
    }

    /// Whether candidates of this center must confirm on site.
    pub fn requires_onsite(&self) -> bool {
        self.onsite.as_ref().is_some_and(|o| o.required)
    }
}

fn default_payment_hours() -> u32 {
    24
}

/// One exam session (e.g. NCRE March 2027).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExamSession {
    /// Stable id, e.g. `ncre-2027-03`.
    pub id: String,
    /// Name.
    pub name: Bilingual,
    /// When candidates may submit.
    pub registration: Window,
    /// Hours to pay after approval (or after submission at centers without review).
    #[serde(default = "default_payment_hours")]
    pub payment_window_hours: u32,
    /// Most subjects one candidate may choose.
    pub subject_cap: u8,
    /// When admission tickets may be printed.
    pub printing: Window,
    /// The agreement.
    pub agreement: Agreement,
    /// Registration guide.
    pub guide: Bilingual,
    /// Public notices, newest last.
    #[serde(default, rename = "announcement")]
    pub announcements: Vec<Announcement>,
    /// Photo rules.
    #[serde(default)]
    pub photo: PhotoRules,
    /// Time slots.
    #[serde(rename = "slot")]
    pub slots: Vec<TimeSlot>,
    /// Subjects.
    #[serde(rename = "subject")]
    pub subjects: Vec<Subject>,
    /// The form schema, in display order.
    #[serde(rename = "field")]
    pub form: Vec<FieldDef>,
    /// Test centers.
    #[serde(rename = "center")]
    pub centers: Vec<TestCenter>,
    /// The exam's Ed25519 public key (32 bytes, lower-case hex) that verifies admission ticket
    /// QR codes offline ([`crate::ticket::verify_ticket`]). Filled by the server from the key it
    /// generated for the exam; a value written in the TOML is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl ExamSession {
    /// The center with `id`.
    pub fn center(&self, id: &str) -> Option<&TestCenter> {
        self.centers.iter().find(|c| c.id == id)
    }

    /// The subject with `code`.
    pub fn subject(&self, code: &str) -> Option<&Subject> {
        self.subjects.iter().find(|s| s.code == code)
    }

    /// The slot with `id`.
    pub fn slot(&self, id: &str) -> Option<&TimeSlot> {
        self.slots.iter().find(|s| s.id == id)
    }

    /// The form field with `key`.
    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.form.iter().find(|f| f.key == key)
    }

    /// The first field with `role`.
    pub fn field_with_role(&self, role: FieldRole) -> Option<&FieldDef> {
        self.form.iter().find(|f| f.role == Some(role))
    }

    /// The fee in fen for `subjects` at `center`, or `None` if one of them is not offered there.
    pub fn fee_fen(&self, center: &str, subjects: &[String]) -> Option<i64> {
        let center = self.center(center)?;
        subjects.iter().map(|s| center.offer(s).map(|o| o.fee_fen)).sum()
    }
}

/// A validated catalog of exam sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    /// The sessions.
    #[serde(rename = "exam")]
    pub exams: Vec<ExamSession>,
}

/// One problem found in a catalog, pointing at the offending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogProblem {
    /// Where, e.g. `exam[ncre-2027-03].center[bj-01].subject[66]`.
    pub at: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CatalogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Why a catalog could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The TOML does not parse or does not have the catalog's shape.
    #[error("catalog TOML: {0}")]
    Syntax(String),
    /// The catalog parses but breaks a rule; every problem is listed.
    #[error("catalog has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<CatalogProblem>),
}

impl Catalog {
    /// Parses and validates a catalog written in TOML.
    pub fn from_toml_str(toml_text: &str) -> Result<Catalog, CatalogError> {
        let mut catalog: Catalog =
            toml::from_str(toml_text).map_err(|e| CatalogError::Syntax(e.to_string()))?;
        catalog.prepare()?;
        Ok(catalog)
    }

    /// Parses and validates a catalog in the JSON form the server publishes (`GET /api/catalog`,
    /// the TOML's shape), e.g. a device's cached copy.
    pub fn from_json_slice(json: &[u8]) -> Result<Catalog, CatalogError> {
        let mut catalog: Catalog =
            serde_json::from_slice(json).map_err(|e| CatalogError::Syntax(format!("JSON: {e}")))?;
        catalog.prepare()?;
        Ok(catalog)
    }

    /// The demo catalog shipped with the project.
    pub fn demo() -> Catalog {
        // The demo catalog is part of the build and covered by tests.
        #[allow(clippy::expect_used)]
        Catalog::from_toml_str(DEMO_CATALOG_TOML).expect("the shipped demo catalog is valid")
    }

    /// The session with `id`.
    pub fn exam(&self, id: &str) -> Option<&ExamSession> {
        self.exams.iter().find(|e| e.id == id)
    }

    /// Computes derived data (agreement digests, compiled patterns) and checks every rule.
    fn prepare(&mut self) -> Result<(), CatalogError> {
        let mut problems = Vec::new();
        let mut report = |at: String, message: String| problems.push(CatalogProblem { at, message });

        if self.exams.is_empty() {
            report("catalog".into(), "defines no exam session".into());
        }
        let mut exam_ids = BTreeSet::new();
        let mut center_ids = BTreeSet::new();
        for exam in &mut self.exams {
            let at = format!("exam[{}]", exam.id);
            if !exam_ids.insert(exam.id.clone()) {
                report(at.clone(), "duplicate exam id".into());
            }
            check_session(exam, &at, &mut report);
            let subjects = check_schedule(exam, &at, &mut report);
            check_form(exam, &at, &mut report);
            if exam.centers.is_empty() {
                report(at.clone(), "defines no test center".into());
            }
            for center in &exam.centers {
                let cat = format!("{at}.center[{}]", center.id);
                if !center_ids.insert(center.id.clone()) {
                    report(cat.clone(), "duplicate center id (ids are unique across the catalog)".into());
                }
                check_center(center, &cat, &subjects, &mut report);
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(CatalogError::Invalid(problems)) }
    }
}

/// The session's own rules: id, windows, printed name, caps, and the agreement (whose digest is
/// computed here).
fn check_session(exam: &mut ExamSession, at: &str, report: &mut impl FnMut(String, String)) {
    if !is_identifier(&exam.id) {
        report(at.to_owned(), "id must be 1–64 letters, digits, `-` or `_`".into());
    }
    check_window(&exam.registration, &format!("{at}.registration"), report);
    check_printable(&exam.name.zh, &format!("{at}.name.zh"), report);
    check_printable(&exam.agreement.version, &format!("{at}.agreement.version"), report);
    check_window(&exam.printing, &format!("{at}.printing"), report);
    if exam.subject_cap == 0 {
        report(at.to_owned(), "subject_cap must be at least 1".into());
    }
    if exam.payment_window_hours == 0 {
        report(at.to_owned(), "payment_window_hours must be at least 1".into());
    }
    let computed = hex_sha256(exam.agreement.text.as_bytes());
    if !exam.agreement.sha256.is_empty() && !exam.agreement.sha256.eq_ignore_ascii_case(&computed) {
        report(
            format!("{at}.agreement"),
            format!("stated sha256 {} does not match the text ({computed})", exam.agreement.sha256),
        );
    }
    exam.agreement.sha256 = computed;
    if exam.agreement.version.trim().is_empty() || exam.agreement.text.trim().is_empty() {
        report(format!("{at}.agreement"), "version and text are required".into());
    }
}

/// Time slots, subjects and announcements; returns the subject codes.
fn check_schedule(exam: &ExamSession, at: &str, report: &mut impl FnMut(String, String)) -> BTreeSet<String> {
    let mut slots = BTreeMap::new();
    for slot in &exam.slots {
        let sat = format!("{at}.slot[{}]", slot.id);
        if slots.insert(slot.id.clone(), slot).is_some() {
            report(sat.clone(), "duplicate slot id".into());
        }
        if slot.starts >= slot.ends {
            report(sat, "starts must be before ends".into());
        }
    }
    let mut subjects = BTreeSet::new();
    for subject in &exam.subjects {
        let sat = format!("{at}.subject[{}]", subject.code);
        if !subjects.insert(subject.code.clone()) {
            report(sat.clone(), "duplicate subject code".into());
        }
        check_printable(&subject.name.zh, &format!("{sat}.name.zh"), report);
        if !slots.contains_key(&subject.slot) {
            report(sat, format!("slot `{}` is not defined", subject.slot));
        }
    }
    let mut announcements = BTreeSet::new();
    for a in &exam.announcements {
        if !announcements.insert(a.id.clone()) {
            report(format!("{at}.announcement[{}]", a.id), "duplicate announcement id".into());
        }
    }
    subjects
}

/// The form's fields (their patterns compiled here) and the roles the platform needs.
fn check_form(exam: &mut ExamSession, at: &str, report: &mut impl FnMut(String, String)) {
    let mut keys = BTreeSet::new();
    let mut roles = BTreeSet::new();
    for field in &mut exam.form {
        let fat = format!("{at}.field[{}]", field.key);
        if !keys.insert(field.key.clone()) {
            report(fat.clone(), "duplicate field key".into());
        }
        if let Some(role) = field.role
            && !roles.insert(role)
        {
            report(fat.clone(), format!("role `{role:?}` is already given to another field"));
        }
        for message in field.prepare() {
            report(fat.clone(), message);
        }
        check_printable(&field.label.zh, &format!("{fat}.label.zh"), report);
        for option in &field.options {
            check_printable(&option.label.zh, &format!("{fat}.option[{}].label.zh", option.value), report);
        }
    }
    for role in [FieldRole::Name, FieldRole::IdDocument] {
        if !roles.contains(&role) {
            report(format!("{at}.field"), format!("no field has the required role `{role:?}`"));
        }
    }
    if let Some(field) = exam.form.iter().find(|f| f.role == Some(FieldRole::IdDocument))
        && field.field_type != FieldType::IdDocument
    {
        report(format!("{at}.field[{}]", field.key), "the id_document role needs type id_document".into());
    }
}

/// One test center: id, printed name and address, capacity, on-site window, rooms and the
/// subjects it offers (which must be the session's).
fn check_center(
    center: &TestCenter,
    cat: &str,
    subjects: &BTreeSet<String>,
    report: &mut impl FnMut(String, String),
) {
    if !is_identifier(&center.id) {
        report(cat.to_owned(), "id must be 1–64 letters, digits, `-` or `_`".into());
    }
    check_printable(&center.name.zh, &format!("{cat}.name.zh"), report);
    check_printable(&center.address.zh, &format!("{cat}.address.zh"), report);
    if center.total_capacity == 0 {
        report(cat.to_owned(), "total_capacity must be at least 1".into());
    }
    if let Some(onsite) = &center.onsite {
        check_window(&onsite.window, &format!("{cat}.onsite.window"), report);
    }
    if center.subjects.is_empty() {
        report(cat.to_owned(), "offers no subject".into());
    }
    let mut rooms = BTreeSet::new();
    for room in &center.rooms {
        let rat = format!("{cat}.room[{}]", room.id);
        if !is_identifier(&room.id) {
            report(rat.clone(), "id must be 1–64 letters, digits, `-` or `_`".into());
        }
        check_printable(&room.name.zh, &format!("{rat}.name.zh"), report);
        if !rooms.insert(room.id.clone()) {
            report(rat.clone(), "duplicate room id in the center".into());
        }
        if room.capacity == 0 || room.capacity > MAX_ROOM_CAPACITY {
            report(rat, format!("capacity must be 1–{MAX_ROOM_CAPACITY}, it is {}", room.capacity));
        }
    }
    let mut offered = BTreeSet::new();
    for offer in &center.subjects {
        let oat = format!("{cat}.subject[{}]", offer.code);
        if !offered.insert(offer.code.clone()) {
            report(oat.clone(), "subject offered twice".into());
        }
        if !subjects.contains(&offer.code) {
            report(oat.clone(), "subject is not defined in the exam".into());
        }
        if offer.fee_fen < 0 {
            report(oat.clone(), format!("fee_fen must be ≥ 0, it is {}", offer.fee_fen));
        }
        if offer.capacity > center.total_capacity {
            report(oat, "capacity exceeds the center's total_capacity".into());
        }
    }
}

/// The texts the documents print (exam, subject, center and room names, the address, field and
/// option labels, the agreement version) must be printable with the shipped fonts, or every
/// candidate's documents would fail.
fn check_printable(text: &str, at: &str, report: &mut impl FnMut(String, String)) {
    if let Err(chars) = crate::coverage::printable(text) {
        report(
            at.to_owned(),
            format!("{} cannot be printed with the shipped fonts", crate::coverage::describe(&chars)),
        );
    }
}

fn check_window(w: &Window, at: &str, report: &mut impl FnMut(String, String)) {
    if w.opens >= w.closes {
        report(at.to_owned(), "opens must be before closes".into());
    }
}

fn is_identifier(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lower-case hex SHA-256 of `data`.
pub fn hex_sha256(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests;
