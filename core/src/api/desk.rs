//! The operator's desk: the review queue of a center with its query, the exam's statistics, the
//! center's notices (create, read, replace, delete) and the on-site confirmation.
//!
//! The roster (`…/roster.csv`) is CSV, outside this contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::catalog::SubjectSeats;
use super::documents::Notice;
use super::registrations::{CenterRegistration, RegistrationView};
use crate::catalog::Bilingual;
use crate::lifecycle::Status;
use crate::photo::PhotoReport;

/// Where a review-queue page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewStart {
    /// After the last item of the previous page (its `next_cursor`).
    Cursor(String),
    /// Skip this many matching items.
    Offset(u64),
}

/// The query of `GET /api/operator/exams/{exam}/centers/{center}/review`. The server parses the
/// pairs itself and refuses an unknown or repeated parameter, a bad value, and `cursor` with
/// `offset`, each with a typed 400 naming the `parameter`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewQuery {
    /// Statuses to include (repeated or comma-separated; the server's default is `under_review`).
    pub statuses: Vec<Status>,
    /// A case-insensitive substring of the name or a prefix of the registration id (≤ 64
    /// characters).
    pub q: Option<String>,
    /// Page size, 1–100 (the server's default is 20).
    pub limit: Option<u32>,
    /// Where the page starts (the first item by default).
    pub start: Option<ReviewStart>,
}

impl ReviewQuery {
    /// The `status` parameter.
    pub const STATUS: &'static str = "status";
    /// The `q` parameter.
    pub const Q: &'static str = "q";
    /// The `limit` parameter.
    pub const LIMIT: &'static str = "limit";
    /// The `cursor` parameter.
    pub const CURSOR: &'static str = "cursor";
    /// The `offset` parameter.
    pub const OFFSET: &'static str = "offset";

    /// The query string (`?status=…&q=…`), or nothing for the defaults.
    pub fn query_string(&self) -> String {
        let mut out = String::new();
        if !self.statuses.is_empty() {
            let list: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
            super::push_query_pair(&mut out, Self::STATUS, &list.join(","));
        }
        if let Some(q) = &self.q {
            super::push_query_pair(&mut out, Self::Q, q);
        }
        if let Some(limit) = self.limit {
            super::push_query_pair(&mut out, Self::LIMIT, &limit.to_string());
        }
        match &self.start {
            Some(ReviewStart::Cursor(c)) => super::push_query_pair(&mut out, Self::CURSOR, c),
            Some(ReviewStart::Offset(n)) => super::push_query_pair(&mut out, Self::OFFSET, &n.to_string()),
            None => {}
        }
        out
    }
}

/// The candidate's answers as stored in the document, in a queue item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAnswers {
    /// Form answers by field key (ID documents as `kind:number`).
    pub fields: BTreeMap<String, String>,
    /// The center chosen in the draft.
    pub center: Option<String>,
    /// The subjects chosen in the draft.
    pub subjects: Vec<String>,
}

/// The photo of a queue item, with its check report recomputed with the exam's current rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPhoto {
    /// Lower-case hex SHA-256 of the JPEG.
    pub sha256: String,
    /// Where the operator reads it (`/api/blobs/{sha256}`).
    pub url: String,
    /// Size in bytes, as the draft references it.
    pub bytes: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether the server has the blob.
    pub stored: bool,
    /// Whether the photo passes the rules (`null` when it is not stored).
    pub passed: Option<bool>,
    /// The check report (`null` when it is not stored).
    pub report: Option<PhotoReport>,
}

/// One registration in the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// The registration (document) id.
    pub registration_id: String,
    /// When the registration entered its status (Unix milliseconds): the queue's order.
    pub queued_at_ms: i64,
    /// The candidate's name from the form.
    pub name: Option<String>,
    /// The registration with its subjects.
    pub registration: CenterRegistration,
    /// The reason of the last decision.
    pub reason: Option<String>,
    /// The draft paths it concerns.
    pub reason_paths: Vec<String>,
    /// The answers (`null` if the document is gone).
    pub answers: Option<ReviewAnswers>,
    /// The photo (`null` without one).
    pub photo: Option<ReviewPhoto>,
}

/// One page of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPage {
    /// Exam session id.
    pub exam: String,
    /// Center id.
    pub center: String,
    /// The statuses listed.
    pub statuses: Vec<Status>,
    /// Matching registrations in total.
    pub total: u64,
    /// The page size.
    pub limit: u64,
    /// This page.
    pub items: Vec<ReviewItem>,
    /// The cursor of the next page, `null` on the last one.
    pub next_cursor: Option<String>,
}

/// The counters of a center's total seat pool, in the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatTotals {
    /// Seats.
    pub capacity: u32,
    /// Held by submitted, unpaid registrations.
    pub held: u32,
    /// Paid for.
    pub paid: u32,
    /// Free.
    pub free: u32,
}

/// Payments so far: registrations `paid` or `confirmed`, and their fees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentTotals {
    /// How many.
    pub paid_count: u64,
    /// Their fees, in fen.
    pub paid_fen: i64,
}

/// The statistics of one center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterStats {
    /// Center id.
    pub center: String,
    /// Its name.
    pub name: Bilingual,
    /// The center's total pool.
    pub seats: SeatTotals,
    /// Per subject.
    pub subjects: Vec<SubjectSeats>,
    /// A count for every status.
    pub statuses: BTreeMap<Status, u64>,
    /// Registrations submitted at the center (any status).
    pub registrations: u64,
    /// Payments.
    pub payments: PaymentTotals,
}

/// The totals over the centers of the stats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsTotals {
    /// A count for every status.
    pub statuses: BTreeMap<Status, u64>,
    /// Registrations.
    pub registrations: u64,
    /// Payments.
    pub payments: PaymentTotals,
}

/// `GET /api/operator/exams/{exam}/stats`: every center the operator may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExamStats {
    /// Exam session id.
    pub exam: String,
    /// Per center.
    pub centers: Vec<CenterStats>,
    /// Over those centers.
    pub totals: StatsTotals,
}

/// A notice as operators see it: what candidates see, plus who wrote it last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorNotice {
    /// The notice.
    #[serde(flatten)]
    pub notice: Notice,
    /// The operator who last wrote it.
    pub updated_by: String,
}

/// The body that creates (`POST …/notices`, 201) or replaces (`PUT …/notices/{id}`) a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeRequest {
    /// 1–100 characters, no control characters.
    pub title: String,
    /// 1–5000 characters, line breaks allowed.
    pub body: String,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub opens: OffsetDateTime,
    /// RFC 3339, after `opens`, at most 366 days later.
    #[serde(with = "time::serde::rfc3339")]
    pub closes: OffsetDateTime,
    /// Whether the window is an on-site confirmation window (only at centers whose catalog
    /// entry requires confirmation).
    #[serde(default)]
    pub requires_onsite_confirmation: bool,
}

/// `POST /api/operator/exams/{exam}/centers/{center}/confirm`: the candidate to confirm, by
/// registration id or, without a ticket, by name and ID document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ConfirmRequest {
    /// `{registration_id}`.
    Registration {
        /// The registration (document) id.
        registration_id: String,
    },
    /// `{name, id_document}`.
    Person {
        /// The name as on the registration.
        name: String,
        /// The ID document: `kind:number`, or the bare number.
        id_document: String,
    },
}

/// The answer to an on-site confirmation: the registration view (`confirmed`) and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmAnswer {
    /// The registration.
    #[serde(flatten)]
    pub registration: RegistrationView,
    /// The registration (document) id.
    pub registration_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{round_trip, view_with};

    #[test]
    fn review_queries_write_the_server_parameters() {
        assert_eq!(ReviewQuery::default().query_string(), "");
        let q = ReviewQuery {
            statuses: vec![Status::UnderReview, Status::Rejected],
            q: Some("张".into()),
            limit: Some(5),
            start: Some(ReviewStart::Offset(10)),
        };
        assert_eq!(q.query_string(), "?status=under_review%2Crejected&q=%E5%BC%A0&limit=5&offset=10");
        let c = ReviewQuery { start: Some(ReviewStart::Cursor("3a".into())), ..ReviewQuery::default() };
        assert_eq!(c.query_string(), "?cursor=3a");
    }

    #[test]
    fn review_pages_parse() {
        let registration = view_with(r#""subjects":["15"]"#);
        let page: ReviewPage = round_trip(&format!(
            r#"{{"exam":"e","center":"bj-haidian","statuses":["under_review"],"total":2,"limit":1,
                "items":[{{"registration_id":"2xQd1","queued_at_ms":1790000000000,"name":"张三丰",
                  "registration":{registration},"reason":null,"reason_paths":[],
                  "answers":{{"fields":{{"name":"张三丰","mobile":"13800138000"}},"center":"bj-haidian","subjects":["15"]}},
                  "photo":{{"sha256":"ab","url":"/api/blobs/ab","bytes":41000,"width":330,"height":480,"stored":true,"passed":true,
                    "report":{{"format":"jpeg","bytes":41000,"width":330,"height":480,"colour":true,"orientation":null,"face":null,
                      "head_ratio":null,"top_margin":null,"face_centre":null,"problems":[],"warnings":["no_face_found"]}}}}}}],
                "next_cursor":"313739303030303030303030303a327851643"}}"#
        ));
        assert_eq!(page.items[0].photo.as_ref().and_then(|p| p.passed), Some(true));
        round_trip::<ReviewItem>(&format!(
            r#"{{"registration_id":"x","queued_at_ms":1,"name":null,"registration":{registration},"reason":"照片不清晰",
                "reason_paths":["draft.photo"],"answers":null,"photo":null}}"#
        ));
        round_trip::<ReviewPhoto>(
            r#"{"sha256":"ab","url":"/api/blobs/ab","bytes":1,"width":1,"height":1,"stored":false,"passed":null,"report":null}"#,
        );
    }

    #[test]
    fn stats_parse() {
        let statuses = r#"{"approved":0,"awaiting_payment":0,"cancelled":0,"confirmed":0,"draft":0,"expired":0,
            "paid":1,"rejected":0,"submitted":2,"under_review":0,"withdrawn":0}"#;
        let s: ExamStats = round_trip(&format!(
            r#"{{"exam":"e","centers":[{{"center":"c","name":{{"zh":"东城","en":"Dongcheng"}},
                "seats":{{"capacity":8,"held":2,"paid":1,"free":5}},
                "subjects":[{{"code":"15","capacity":4,"held":2,"paid":1,"free":1}}],
                "statuses":{statuses},"registrations":3,"payments":{{"paid_count":1,"paid_fen":8000}}}}],
                "totals":{{"statuses":{statuses},"registrations":3,"payments":{{"paid_count":1,"paid_fen":8000}}}}}}"#
        ));
        assert_eq!(s.totals.statuses[&Status::Submitted], 2);
    }

    #[test]
    fn notices_for_operators_add_the_writer() {
        let n: OperatorNotice = round_trip(
            r#"{"id":"nt_01","exam":"e","center":"c","title":"t","body":"b","opens":"2027-01-25T01:00:00Z",
                "closes":"2027-01-27T09:00:00.5Z","requires_onsite_confirmation":false,"updated_by":"op_01",
                "updated_at_ms":1}"#,
        );
        assert_eq!(n.updated_by, "op_01");
        round_trip::<NoticeRequest>(
            r#"{"title":"t","body":"b","opens":"2027-01-25T09:00:00+08:00","closes":"2027-01-27T17:00:00+08:00",
                "requires_onsite_confirmation":true}"#,
        );
        let r: NoticeRequest = serde_json::from_str(
            r#"{"title":"t","body":"b","opens":"2027-01-25T09:00:00Z","closes":"2027-01-27T17:00:00Z"}"#,
        )
        .expect("the flag defaults");
        assert!(!r.requires_onsite_confirmation);
        assert!(
            serde_json::from_str::<NoticeRequest>(
                r#"{"title":"t","body":"b","opens":"2027-01-25T09:00:00Z","closes":"2027-01-27T17:00:00Z","x":1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn confirmations_are_one_shape_or_the_other() {
        let by_id: ConfirmRequest = round_trip(r#"{"registration_id":"x"}"#);
        assert_eq!(by_id, ConfirmRequest::Registration { registration_id: "x".into() });
        let by_person: ConfirmRequest = round_trip(r#"{"name":"张三","id_document":"1"}"#);
        assert_eq!(by_person, ConfirmRequest::Person { name: "张三".into(), id_document: "1".into() });
        assert!(serde_json::from_str::<ConfirmRequest>(r#"{"name":"张三"}"#).is_err());
        let both = r#"{"registration_id":"x","name":"张三","id_document":"1"}"#;
        assert!(serde_json::from_str::<ConfirmRequest>(both).is_err(), "not both");
        let a: ConfirmAnswer = round_trip(&view_with(r#""registration_id":"2xQd1""#));
        assert_eq!(a.registration_id, "2xQd1");
    }
}
