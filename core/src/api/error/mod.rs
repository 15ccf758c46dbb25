//! The error contract: every machine-readable code the server answers with ([`ErrorCode`]) and
//! the JSON error body ([`ErrorBody`]) with the typed details some refusals carry.
//!
//! Every error answer is `{"code": "...", "message": "..."}` plus, for refusals a client can act
//! on, extra members (the details). The HTTP status the server answers with is named in the
//! documentation of each code; the server keeps that mapping in its HTTP layer.

use serde::{Deserialize, Serialize};

use crate::lifecycle::Status;
use crate::photo::PhotoReport;
use crate::seats::Pool;
use crate::validate::{Issue, IssueCode};

mod codes;

pub use codes::ErrorCode;

/// One problem with a submitted draft, in an error's `issues`: the core's
/// [`validate::Issue`](crate::validate::Issue) as the validator reports it, or only `path` and
/// `code` where the server adds an issue of its own (a photo this account has not uploaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftIssue {
    /// Where, e.g. `draft.fields.mobile`.
    pub path: String,
    /// What.
    pub code: IssueCode,
    /// Explanation in Chinese (absent on the server's own issues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
    /// Explanation in English (absent on the server's own issues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_en: Option<String>,
}

impl From<Issue> for DraftIssue {
    fn from(i: Issue) -> DraftIssue {
        DraftIssue {
            path: i.path,
            code: i.code,
            message_zh: Some(i.message_zh),
            message_en: Some(i.message_en),
        }
    }
}

/// A seat pool in a `seat_gone` refusal: the center's total, or one subject at the center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SeatPool {
    /// `{"kind": "center", "center"}`.
    Center {
        /// Center id.
        center: String,
    },
    /// `{"kind": "subject", "center", "subject"}`.
    Subject {
        /// Center id.
        center: String,
        /// Subject code.
        subject: String,
    },
}

impl From<&Pool> for SeatPool {
    fn from(p: &Pool) -> SeatPool {
        match p {
            Pool::Center(center) => SeatPool::Center { center: center.clone() },
            Pool::Subject { center, subject } => {
                SeatPool::Subject { center: center.clone(), subject: subject.clone() }
            }
        }
    }
}

impl From<SeatPool> for Pool {
    fn from(p: SeatPool) -> Pool {
        match p {
            SeatPool::Center { center } => Pool::Center(center),
            SeatPool::Subject { center, subject } => Pool::Subject { center, subject },
        }
    }
}

/// A window in Unix seconds (`printing` of `printing_window_closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnixWindow {
    /// First second inside the window.
    pub opens: i64,
    /// First second after it.
    pub closes: i64,
}

/// One problem of a rejected photo upload, in `problems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoProblemDetail {
    /// The problem's code ([`PhotoProblem::code`](crate::photo::PhotoProblem::code), e.g.
    /// `photo_file_too_small`).
    pub code: String,
    /// Explanation in English.
    pub message_en: String,
    /// Explanation in Chinese.
    pub message_zh: String,
}

/// An on-site confirmation window listed by `confirmation_window_closed` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ConfirmationWindow {
    /// The catalog's `onsite.window` of the center.
    Catalog {
        /// Opens.
        opens: i64,
        /// Closes.
        closes: i64,
    },
    /// A notice of the center with `requires_onsite_confirmation`.
    Notice {
        /// The notice's id.
        notice: String,
        /// Opens.
        opens: i64,
        /// Closes.
        closes: i64,
    },
}

/// A (slot, subject) short of room seats, in `room_capacity_short`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    /// Time slot id.
    pub slot: String,
    /// Subject code.
    pub subject: String,
    /// Candidates of that subject left without a seat.
    pub unseated: u64,
}

/// Why a registration cannot have an admission ticket: the `reason` of `not_eligible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotEligibleReason {
    /// The candidate has not submitted a registration.
    NotRegistered,
    /// The registration is not paid.
    NotPaid,
    /// The center requires on-site confirmation, which has not happened.
    NotConfirmedOnSite,
    /// The center has not arranged the candidate into a room yet.
    NotArranged,
    /// The administrator cancelled the registration's center or session; the body's `refund`
    /// says what happens to the fee.
    Cancelled,
}

/// What happens to the fee of a cancelled registration: the `refund` of a `not_eligible`
/// refusal whose reason is `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Nothing was paid, so nothing is owed.
    NotPaid,
    /// The fee was paid and is owed back; the refund has not been made yet.
    Due,
    /// The fee has been refunded (the registration's `refunded_fen` says how much).
    Refunded,
}

impl RefundState {
    /// The state as it travels.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::NotPaid => "not_paid",
            RefundState::Due => "due",
            RefundState::Refunded => "refunded",
        }
    }
}

impl NotEligibleReason {
    /// The reason as it travels.
    pub fn as_str(self) -> &'static str {
        match self {
            NotEligibleReason::NotRegistered => "not_registered",
            NotEligibleReason::NotPaid => "not_paid",
            NotEligibleReason::NotConfirmedOnSite => "not_confirmed_on_site",
            NotEligibleReason::NotArranged => "not_arranged",
            NotEligibleReason::Cancelled => "cancelled",
        }
    }
}

/// The JSON error body: `code` and `message`, and the details of the refusals that carry them.
/// A detail is absent unless the code's documentation names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub code: ErrorCode,
    /// Explanation, in English (for logs and developers; apps show their own text per code).
    pub message: String,
    /// `invalid`, `photo_missing`, `slot_conflict`: every problem of the draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<DraftIssue>>,
    /// `seat_gone`: the full pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pools: Option<Vec<SeatPool>>,
    /// The registration's status: `transition_not_allowed`, `locked`, `review_not_offered`,
    /// `review_required`, `onsite_not_required` (from a lifecycle action), `payment_not_due`,
    /// `not_paid` (`draft` without a registration), `not_eligible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// `window_closed`: when registration opens (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens: Option<i64>,
    /// `window_closed`: when registration closes (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<i64>,
    /// `cancelled`: the exam session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exam: Option<String>,
    /// `cancelled`: the cancelled center, `Some(None)` (sent as `null`) when the whole session
    /// was cancelled; `no_rooms`: the center.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "super::present")]
    pub center: Option<Option<String>>,
    /// `cancelled`: the administrator's reason; `not_eligible`: one of [`NotEligibleReason`]
    /// (see [`ErrorBody::not_eligible_reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `printing_window_closed`: the exam's printing window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printing: Option<UnixWindow>,
    /// `photo_rejected`: every problem of the photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<PhotoProblemDetail>>,
    /// `photo_rejected`: what the checker measured and found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PhotoReport>,
    /// `payload_too_large` (photo upload): the largest upload taken, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    /// `payload_too_large` (photo upload): the photo rules' `max_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_max_bytes: Option<u32>,
    /// `confirmation_window_closed`: every confirmation window of the center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<ConfirmationWindow>>,
    /// `room_capacity_short`: every shortage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<Vec<Shortage>>,
    /// The review queue's 400s: the query parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// `status_invalid`: the statuses the review queue takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Status>>,
    /// `ticket_superseded`: the scanned ticket's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
    /// `not_eligible` with reason `cancelled`: what happens to the fee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundState>,
}

impl ErrorBody {
    /// A body with `code` and `message` and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            code,
            message: message.into(),
            issues: None,
            pools: None,
            status: None,
            opens: None,
            closes: None,
            exam: None,
            center: None,
            reason: None,
            printing: None,
            problems: None,
            report: None,
            limit_bytes: None,
            rules_max_bytes: None,
            windows: None,
            short: None,
            parameter: None,
            allowed: None,
            ticket_number: None,
            refund: None,
        }
    }

    /// The `reason` of a `not_eligible` refusal, typed.
    pub fn not_eligible_reason(&self) -> Option<NotEligibleReason> {
        if self.code != ErrorCode::NotEligible {
            return None;
        }
        let reason = self.reason.as_deref()?;
        [
            NotEligibleReason::NotRegistered,
            NotEligibleReason::NotPaid,
            NotEligibleReason::NotConfirmedOnSite,
            NotEligibleReason::NotArranged,
            NotEligibleReason::Cancelled,
        ]
        .into_iter()
        .find(|r| r.as_str() == reason)
    }
}

/// The two members every error body has, as text: what a client reads to keep the text of a code
/// this contract does not know ([`ErrorCode::Unknown`] drops it), and to keep the code and the
/// message of a newer server's body whose details do not parse into [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorHead {
    /// The code exactly as it travelled.
    pub code: String,
    /// The explanation (empty if a body lacks it).
    #[serde(default)]
    pub message: String,
}

impl ErrorHead {
    /// The code, typed ([`ErrorCode::Unknown`] for a code this contract does not know).
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::parse(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn every_code_is_spelled_the_same_by_serde_and_as_str() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("json");
            assert_eq!(json, serde_json::json!(code.as_str()), "{code:?}");
            assert_eq!(serde_json::from_value::<ErrorCode>(json).expect("back"), *code);
            assert_eq!(ErrorCode::parse(code.as_str()), *code);
            assert_eq!(code.to_string(), code.as_str());
        }
        let mut texts: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "no code twice");
    }

    #[test]
    fn an_unknown_code_still_parses() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"code":"from_the_future","message":"m"}"#).expect("parses");
        assert_eq!(body.code, ErrorCode::Unknown);
        assert_eq!(ErrorCode::from("from_the_future"), ErrorCode::Unknown);
        assert_eq!(ErrorCode::from("seat_gone"), ErrorCode::SeatGone);
        // The head keeps the text, and reads any body's code and message whatever its details.
        let head: ErrorHead = round_trip(r#"{"code":"from_the_future","message":"m"}"#);
        assert_eq!((head.code.as_str(), head.error_code()), ("from_the_future", ErrorCode::Unknown));
        let head: ErrorHead =
            serde_json::from_str(r#"{"code":"seat_gone","message":"m","pools":[{"kind":"moon"}]}"#)
                .expect("details are not the head's business");
        assert_eq!((head.error_code(), head.message.as_str()), (ErrorCode::SeatGone, "m"));
    }

    #[test]
    fn plain_errors_have_code_and_message_only() {
        let b: ErrorBody =
            round_trip(r#"{"code":"bad_credentials","message":"the account name or the password is wrong"}"#);
        assert_eq!(b, ErrorBody::new(ErrorCode::BadCredentials, "the account name or the password is wrong"));
        round_trip::<ErrorBody>(r#"{"code":"not_found","message":"not found: no such endpoint"}"#);
    }

    #[test]
    fn draft_refusals_carry_the_issues() {
        let b: ErrorBody = round_trip(
            r#"{"code":"invalid","message":"the draft is not complete or not valid","issues":[
                {"path":"draft.fields.name","code":"field_required","message_zh":"请填写姓名","message_en":"name is required"},
                {"path":"draft.declaration","code":"declaration_missing","message_zh":"请确认声明","message_en":"declare"}]}"#,
        );
        let issues = b.issues.expect("issues");
        assert_eq!(issues[0].code, IssueCode::FieldRequired);
        // The server's own issue for a photo it does not have from this account.
        let b: ErrorBody = round_trip(
            r#"{"code":"photo_missing","message":"the photo has not been uploaded by this account",
                "issues":[{"path":"draft.photo","code":"photo_missing"}]}"#,
        );
        assert_eq!(b.issues.expect("issues")[0].message_zh, None);
        let issue = Issue {
            path: "draft.center".into(),
            code: IssueCode::CenterMissing,
            message_zh: "请选择考点".into(),
            message_en: "choose a center".into(),
        };
        assert_eq!(
            serde_json::to_value(DraftIssue::from(issue.clone())).expect("json"),
            serde_json::to_value(issue).expect("json"),
            "the validator's issue travels unchanged"
        );
    }

    #[test]
    fn seat_gone_names_the_pools() {
        let b: ErrorBody = round_trip(
            r#"{"code":"seat_gone","message":"no seat left: center bj-dongcheng, subject 15 at bj-dongcheng",
                "pools":[{"kind":"center","center":"bj-dongcheng"},{"kind":"subject","center":"bj-dongcheng","subject":"15"}]}"#,
        );
        let pools: Vec<Pool> = b.pools.expect("pools").into_iter().map(Pool::from).collect();
        assert_eq!(
            pools,
            vec![
                Pool::Center("bj-dongcheng".into()),
                Pool::Subject { center: "bj-dongcheng".into(), subject: "15".into() }
            ]
        );
        assert_eq!(
            SeatPool::from(&pools[1]),
            SeatPool::Subject { center: "bj-dongcheng".into(), subject: "15".into() }
        );
    }

    #[test]
    fn lifecycle_refusals_carry_status_window_and_cancellation() {
        let b: ErrorBody = round_trip(
            r#"{"code":"transition_not_allowed","message":"`Withdraw` is not possible while the registration is draft","status":"draft"}"#,
        );
        assert_eq!(b.status, Some(Status::Draft));
        round_trip::<ErrorBody>(
            r#"{"code":"locked","message":"the registration is under review and locked","status":"under_review"}"#,
        );
        let b: ErrorBody = round_trip(
            r#"{"code":"window_closed","message":"registration for this exam is not open","opens":1800000000,"closes":1800086400}"#,
        );
        assert_eq!((b.opens, b.closes), (Some(1_800_000_000), Some(1_800_086_400)));
        let b: ErrorBody = round_trip(
            r#"{"code":"cancelled","message":"exam `e` has been cancelled: flood","exam":"e","center":null,"reason":"flood"}"#,
        );
        assert_eq!(b.center, Some(None), "the whole session");
        let b: ErrorBody = round_trip(
            r#"{"code":"cancelled","message":"test center `c` of exam `e` has been cancelled: flood","exam":"e","center":"c","reason":"flood"}"#,
        );
        assert_eq!(b.center, Some(Some("c".into())));
        for code in ["heads_unknown", "duplicate_id_document", "order_changed", "idempotency_key_reused"] {
            let b: ErrorBody = round_trip(&format!(r#"{{"code":"{code}","message":"m"}}"#));
            assert_eq!(b.code.as_str(), code);
        }
    }

    #[test]
    fn document_refusals_carry_the_reason_and_the_window() {
        let b: ErrorBody = round_trip(
            r#"{"code":"not_eligible","message":"this registration cannot have an admission ticket: not_arranged","reason":"not_arranged","status":"paid"}"#,
        );
        assert_eq!(b.not_eligible_reason(), Some(NotEligibleReason::NotArranged));
        let b: ErrorBody = round_trip(
            r#"{"code":"printing_window_closed","message":"m","printing":{"opens":1800000000,"closes":1800600000}}"#,
        );
        assert_eq!(b.printing, Some(UnixWindow { opens: 1_800_000_000, closes: 1_800_600_000 }));
        assert_eq!(b.not_eligible_reason(), None);
        round_trip::<ErrorBody>(r#"{"code":"not_paid","message":"m","status":"draft"}"#);
        let b: ErrorBody = round_trip(r#"{"code":"no_rooms","message":"m","center":"bj-haidian"}"#);
        assert_eq!(b.center, Some(Some("bj-haidian".into())));
        let b: ErrorBody = round_trip(
            r#"{"code":"room_capacity_short","message":"m","short":[{"slot":"sat-am","subject":"15","unseated":2}]}"#,
        );
        assert_eq!(b.short.expect("short")[0].unseated, 2);
        round_trip::<ErrorBody>(
            r#"{"code":"ticket_superseded","message":"m","ticket_number":"270301020010013"}"#,
        );
    }

    #[test]
    fn desk_refusals_carry_parameter_windows_and_allowed() {
        let b: ErrorBody = round_trip(r#"{"code":"limit_invalid","message":"m","parameter":"limit"}"#);
        assert_eq!(b.parameter.as_deref(), Some("limit"));
        let b: ErrorBody = round_trip(
            r#"{"code":"status_invalid","message":"unknown status `nope`","parameter":"status",
                "allowed":["draft","submitted","under_review","rejected","approved","awaiting_payment","paid","confirmed","expired","withdrawn","cancelled"]}"#,
        );
        assert_eq!(b.allowed.map(|a| a.len()), Some(11));
        let b: ErrorBody = round_trip(
            r#"{"code":"confirmation_window_closed","message":"m","windows":[
                {"source":"catalog","opens":1,"closes":2},{"source":"notice","notice":"nt_01","opens":3,"closes":4}]}"#,
        );
        assert_eq!(
            b.windows.expect("windows")[1],
            ConfirmationWindow::Notice { notice: "nt_01".into(), opens: 3, closes: 4 }
        );
    }

    #[test]
    fn photo_refusals_carry_the_report_and_the_limit() {
        let b: ErrorBody = round_trip(
            r#"{"code":"photo_rejected","message":"the photo does not meet the photo rules: photo_file_too_small",
                "problems":[{"code":"photo_file_too_small","message_en":"the photo file is 3 bytes","message_zh":"照片太小"}],
                "report":{"format":null,"bytes":3,"width":null,"height":null,"colour":null,"orientation":null,"face":null,
                          "head_ratio":null,"top_margin":null,"face_centre":null,
                          "problems":[{"code":"file_too_small","bytes":3,"min":20480}],"warnings":[]}}"#,
        );
        assert_eq!(b.report.expect("report").bytes, 3);
        let b: ErrorBody = round_trip(
            r#"{"code":"payload_too_large","message":"m","limit_bytes":270336,"rules_max_bytes":204800}"#,
        );
        assert_eq!((b.limit_bytes, b.rules_max_bytes), (Some(270_336), Some(204_800)));
    }
}
