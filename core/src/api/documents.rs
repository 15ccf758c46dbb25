//! The candidate's documents and the exam day: the downloads (two PDFs and the ticket code), the
//! notices of the candidate's center, the operator's room arrangement and the check-in scan.
//!
//! A document the server will not hand out yet is 409 `not_paid`, `printing_window_closed` or
//! `not_eligible` with its details (see [`ErrorBody`](super::error::ErrorBody)).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalog::{Bilingual, OnsiteConfirmation};

/// A download of the candidate: `GET /api/registrations/{exam}/documents/{file}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateDocument {
    /// The registration form (报名登记表), a PDF, once the registration is paid.
    RegistrationForm,
    /// The admission ticket (准考证), a PDF with the signed QR code, inside the printing window
    /// once the center arranged the candidate.
    AdmissionTicket,
    /// The admission ticket's number and signed code as JSON ([`TicketCode`]), under the
    /// ticket's rules.
    AdmissionTicketCode,
}

impl CandidateDocument {
    /// The file name in the path.
    pub fn file_name(self) -> &'static str {
        match self {
            CandidateDocument::RegistrationForm => "registration-form.pdf",
            CandidateDocument::AdmissionTicket => "admission-ticket.pdf",
            CandidateDocument::AdmissionTicketCode => "admission-ticket.code",
        }
    }

    /// The document named by a file name.
    pub fn from_file_name(name: &str) -> Option<CandidateDocument> {
        [
            CandidateDocument::RegistrationForm,
            CandidateDocument::AdmissionTicket,
            CandidateDocument::AdmissionTicketCode,
        ]
        .into_iter()
        .find(|d| d.file_name() == name)
    }

    /// The name the server gives the downloaded file of `exam` (`Content-Disposition`), for
    /// the PDFs; `exam` is kept to ASCII letters, digits, `-` and `_`.
    pub fn download_name(self, exam: &str) -> Option<String> {
        let safe: String =
            exam.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        match self {
            CandidateDocument::RegistrationForm => Some(format!("registration-form-{safe}.pdf")),
            CandidateDocument::AdmissionTicket => Some(format!("admission-ticket-{safe}.pdf")),
            CandidateDocument::AdmissionTicketCode => None,
        }
    }
}

/// `GET …/documents/admission-ticket.code`: the ticket as an app shows it on screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketCode {
    /// The ticket number (准考证号).
    pub ticket_number: String,
    /// The signed code the ticket's QR carries (`BMT1:…`), issued now; verify it offline with
    /// [`verify_ticket`](crate::ticket::verify_ticket) and the exam's public key.
    pub code: String,
}

/// A center's notice as candidates see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `nt_` + 64 random bits in hex.
    pub id: String,
    /// The exam session.
    pub exam: String,
    /// The publishing center.
    pub center: String,
    /// Title.
    pub title: String,
    /// Text (Chinese), line breaks allowed.
    pub body: String,
    /// First instant the notice is shown (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub opens: OffsetDateTime,
    /// First instant it is no longer shown (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub closes: OffsetDateTime,
    /// Whether candidates must confirm on site within the window.
    pub requires_onsite_confirmation: bool,
    /// Unix milliseconds of the last write.
    pub updated_at_ms: i64,
}

impl Notice {
    /// Whether the notice is shown at `at`: from `opens`, until (not at) `closes`.
    pub fn is_open(&self, at: OffsetDateTime) -> bool {
        self.opens <= at && at < self.closes
    }
}

/// `GET /api/registrations/{exam}/notices`: the notices open now at the center of the
/// candidate's registration (where seats are held, else the center chosen in the draft).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateNotices {
    /// The exam session.
    pub exam: String,
    /// The candidate's center; `null` before one is chosen and synced.
    pub center: Option<String>,
    /// The notices open now, by opening time.
    pub notices: Vec<Notice>,
    /// The center's on-site confirmation rule from the catalog, if it has one.
    pub onsite: Option<OnsiteConfirmation>,
}

/// One sitting of an arranged candidate, as the arrangement lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrangedSitting {
    /// Subject code.
    pub subject: String,
    /// Time slot id.
    pub slot: String,
    /// Room id.
    pub room: String,
    /// The room's name (`null` if the catalog no longer has the room).
    pub room_name: Option<Bilingual>,
    /// Seat number in the room, from 1.
    pub seat: u16,
}

/// One arranged candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrangedCandidate {
    /// The registration (document) id.
    pub registration_id: String,
    /// The ticket number (15 digits `EEEE CC SS RRR NNN K`).
    pub ticket_number: String,
    /// The sittings, in slot order.
    pub sittings: Vec<ArrangedSitting>,
}

/// What a run of the arrangement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrangementCounts {
    /// Candidates arranged now.
    pub arranged: u64,
    /// Of those, newly seated.
    pub new: u64,
    /// Of those, kept from the previous run.
    pub kept: u64,
    /// Candidates of the previous run no longer arranged.
    pub released: u64,
}

/// `GET`/`POST /api/operator/exams/{exam}/centers/{center}/arrangement`: the center's room
/// arrangement; the run (`POST`) adds `counts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrangementAnswer {
    /// Exam session id.
    pub exam: String,
    /// Center id.
    pub center: String,
    /// When it was last run (Unix milliseconds).
    pub updated_at_ms: i64,
    /// Arranged candidates, by registration id.
    pub candidates: Vec<ArrangedCandidate>,
    /// The run's counts (only in the answer to a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<ArrangementCounts>,
}

/// `POST /api/operator/exams/{exam}/check-in`: a scanned ticket code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The QR code's text.
    pub code: String,
}

/// One sitting of a checked-in ticket (as signed in its code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSitting {
    /// Subject code.
    pub subject: String,
    /// Time slot id.
    pub slot: String,
    /// Room id.
    pub room: String,
    /// Seat number.
    pub seat: u16,
}

/// The answer (200) to a check-in scan, told apart by `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CheckInAnswer {
    /// The first scan: the check-in is recorded now.
    CheckedIn {
        /// The registration id.
        registration_id: String,
        /// The ticket number.
        ticket_number: String,
        /// The candidate's name, as signed in the ticket.
        name: String,
        /// The masked ID number, as signed in the ticket.
        id_masked: String,
        /// The center.
        center: String,
        /// The arranged sittings.
        sittings: Vec<TicketSitting>,
        /// When (Unix milliseconds).
        checked_in_at_ms: i64,
    },
    /// A repeated scan: nothing recorded, the first check-in's time.
    AlreadyCheckedIn {
        /// `already checked in at YYYY-MM-DD HH:MM (UTC+8)`.
        message: String,
        /// The registration id.
        registration_id: String,
        /// The ticket number.
        ticket_number: String,
        /// The center.
        center: String,
        /// When the first check-in was recorded (Unix milliseconds).
        checked_in_at_ms: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn downloads_are_named_once() {
        for d in [
            CandidateDocument::RegistrationForm,
            CandidateDocument::AdmissionTicket,
            CandidateDocument::AdmissionTicketCode,
        ] {
            assert_eq!(CandidateDocument::from_file_name(d.file_name()), Some(d));
        }
        assert_eq!(CandidateDocument::from_file_name("nothing.pdf"), None);
        assert_eq!(
            CandidateDocument::AdmissionTicket.download_name("ncre-2027/03").as_deref(),
            Some("admission-ticket-ncre-202703.pdf")
        );
        let t: TicketCode = round_trip(r#"{"ticket_number":"270304010010017","code":"BMT1:ABC"}"#);
        assert_eq!(t.ticket_number.len(), 15);
    }

    #[test]
    fn candidate_notices_parse() {
        let n: CandidateNotices = round_trip(
            r#"{"exam":"e","center":"bj-chaoyang","notices":[{"id":"nt_0123456789abcdef","exam":"e","center":"bj-chaoyang",
                "title":"现场确认","body":"请携带身份证\n原件","opens":"2027-01-25T01:00:00Z","closes":"2027-01-27T09:00:00Z",
                "requires_onsite_confirmation":true,"updated_at_ms":1790000000000}],
                "onsite":{"required":true,"window":{"opens":"2027-01-25T09:00:00+08:00","closes":"2027-01-27T17:00:00+08:00"},
                          "notice":{"zh":"请现场确认","en":"Confirm in person"}}}"#,
        );
        assert!(n.notices[0].requires_onsite_confirmation);
        let none: CandidateNotices = round_trip(r#"{"exam":"e","center":null,"notices":[],"onsite":null}"#);
        assert_eq!(none.center, None);
    }

    #[test]
    fn arrangements_parse_with_and_without_counts() {
        let run: ArrangementAnswer = round_trip(
            r#"{"exam":"e","center":"bj-changping","updated_at_ms":1790000000000,"candidates":[
                {"registration_id":"2xQd1","ticket_number":"270304010010017","sittings":[
                  {"subject":"15","slot":"sat-am","room":"001","room_name":{"zh":"第001考场","en":"Room 001"},"seat":1},
                  {"subject":"66","slot":"sun-am","room":"gone","room_name":null,"seat":3}]}],
                "counts":{"arranged":1,"new":1,"kept":0,"released":0}}"#,
        );
        assert_eq!(run.counts.map(|c| c.new), Some(1));
        let read: ArrangementAnswer =
            round_trip(r#"{"exam":"e","center":"c","updated_at_ms":1,"candidates":[]}"#);
        assert_eq!(read.counts, None);
    }

    #[test]
    fn check_ins_are_told_apart_by_status() {
        round_trip::<CheckInRequest>(r#"{"code":"BMT1:ABC"}"#);
        assert!(serde_json::from_str::<CheckInRequest>(r#"{"code":"x","exam":"e"}"#).is_err());
        let first: CheckInAnswer = round_trip(
            r#"{"status":"checked_in","registration_id":"2xQd1","ticket_number":"270304010010017","name":"张三丰",
                "id_masked":"110105********0011","center":"bj-changping",
                "sittings":[{"subject":"15","slot":"sat-am","room":"001","seat":1}],"checked_in_at_ms":1790000000000}"#,
        );
        assert!(matches!(first, CheckInAnswer::CheckedIn { ref sittings, .. } if sittings.len() == 1));
        let again: CheckInAnswer = round_trip(
            r#"{"status":"already_checked_in","message":"already checked in at 2027-03-27 08:31 (UTC+8)",
                "registration_id":"2xQd1","ticket_number":"270304010010017","center":"bj-changping",
                "checked_in_at_ms":1790000000000}"#,
        );
        assert!(matches!(again, CheckInAnswer::AlreadyCheckedIn { checked_in_at_ms: 1_790_000_000_000, .. }));
    }
}
