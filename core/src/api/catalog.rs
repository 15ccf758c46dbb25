//! The public catalog: the whole catalog, exam summaries, one exam and its parts, a center with
//! its subjects, and live seat availability.
//!
//! The catalog and its parts travel in the TOML's shape, serialised from the core's catalog
//! types, which these aliases name; a device validates a whole catalog with
//! `Catalog::from_json_slice` (feature `client`) before it relies on it. Catalog answers carry
//! an `ETag` and answer `304` to `If-None-Match`.

use serde::{Deserialize, Serialize};

use crate::catalog::{
    Agreement, Announcement, Bilingual, Catalog, ExamSession, Subject, TestCenter, TimeSlot, Window,
};
use crate::form::FieldDef;

/// `GET /api/catalog`: every exam session (the JSON form of the TOML, with each exam's
/// `public_key`).
pub type CatalogAnswer = Catalog;
/// `GET /api/exams/{exam}`: one session, as in the catalog.
pub type ExamAnswer = ExamSession;
/// `GET /api/exams/{exam}/agreement`.
pub type AgreementAnswer = Agreement;
/// `GET /api/exams/{exam}/announcements`.
pub type AnnouncementsAnswer = Vec<Announcement>;
/// `GET /api/exams/{exam}/guide`.
pub type GuideAnswer = Bilingual;
/// `GET /api/exams/{exam}/form`: the form's fields.
pub type FormAnswer = Vec<FieldDef>;
/// `GET /api/exams/{exam}/subjects`.
pub type SubjectsAnswer = Vec<Subject>;
/// `GET /api/exams/{exam}/slots`.
pub type SlotsAnswer = Vec<TimeSlot>;
/// `GET /api/exams/{exam}/centers`.
pub type CentersAnswer = Vec<TestCenter>;

/// One exam session in `GET /api/exams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExamSummary {
    /// Session id.
    pub id: String,
    /// Its name.
    pub name: Bilingual,
    /// The registration window.
    pub registration: Window,
    /// The admission-ticket printing window.
    pub printing: Window,
    /// Most subjects one candidate may choose.
    pub subject_cap: u8,
    /// Hours a candidate has to pay once the payment window starts.
    pub payment_window_hours: u32,
    /// The agreement's version label.
    pub agreement_version: String,
}

/// One subject a center offers, in [`CenterDetail`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterSubject {
    /// Subject code.
    pub code: String,
    /// Seats at this center.
    pub capacity: u32,
    /// Fee in fen.
    pub fee_fen: i64,
    /// The subject's name (`null` if the catalog has no such subject).
    pub name: Option<Bilingual>,
    /// The subject's time slot (`null` if unknown).
    pub slot: Option<TimeSlot>,
}

/// `GET /api/exams/{exam}/centers/{center}`: a center with its subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterDetail {
    /// The center as in the catalog.
    pub center: TestCenter,
    /// Its subjects with names and slots.
    pub subjects: Vec<CenterSubject>,
}

/// Live seats of one subject at a center (also a line of the operator's stats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectSeats {
    /// Subject code.
    pub code: String,
    /// Seats offered.
    pub capacity: u32,
    /// Seats held by submitted, unpaid registrations.
    pub held: u32,
    /// Seats paid for.
    pub paid: u32,
    /// Seats free (`capacity - held - paid`).
    pub free: u32,
}

/// Live seats at one center: `GET /api/exams/{exam}/centers/{center}/availability` and
/// `GET /api/operator/exams/{exam}/centers/{center}/seats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterSeats {
    /// Center id.
    pub center: String,
    /// The center's total capacity.
    pub total_capacity: u32,
    /// Seats of the center's total pool held by submitted, unpaid registrations.
    pub held: u32,
    /// Seats of the center's total pool paid for.
    pub paid: u32,
    /// Free seats at the center.
    pub free: u32,
    /// The administrator cancelled the center or the session: nothing can be submitted there.
    pub cancelled: bool,
    /// Per subject.
    pub subjects: Vec<SubjectSeats>,
}

/// `GET /api/exams/{exam}/availability`: live seats at every center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExamAvailability {
    /// The exam session.
    pub exam: String,
    /// Every center, in catalog order.
    pub centers: Vec<CenterSeats>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn summaries_and_centers_parse() {
        let list: Vec<ExamSummary> = round_trip(
            r#"[{"id":"ncre-2027-03","name":{"zh":"考试","en":"Exam"},
                 "registration":{"opens":"2026-12-01T00:00:00Z","closes":"2027-01-10T00:00:00+08:00"},
                 "printing":{"opens":"2027-03-20T00:00:00Z","closes":"2027-03-28T00:00:00Z"},
                 "subject_cap":3,"payment_window_hours":24,"agreement_version":"2027.1"}]"#,
        );
        assert_eq!(list[0].subject_cap, 3);
        let c: CenterDetail = round_trip(
            r#"{"center":{"id":"bj-dongcheng","name":{"zh":"东城","en":"Dongcheng"},"address":{"zh":"北京","en":"Beijing"},
                          "review":false,"onsite":null,"total_capacity":8,
                          "subject":[{"code":"15","capacity":4,"fee_fen":8000}],
                          "room":[{"id":"001","name":{"zh":"第001考场","en":"Room 001"},"capacity":4}]},
                "subjects":[{"code":"15","capacity":4,"fee_fen":8000,"name":{"zh":"一级","en":"Level 1"},
                             "slot":{"id":"sat-am","starts":"2027-03-27T01:00:00Z","ends":"2027-03-27T02:30:00Z"}},
                            {"code":"99","capacity":1,"fee_fen":1,"name":null,"slot":null}]}"#,
        );
        assert_eq!(c.subjects[1].name, None);
    }

    #[test]
    fn availability_parses() {
        let a: ExamAvailability = round_trip(
            r#"{"exam":"e","centers":[{"center":"c","total_capacity":8,"held":1,"paid":2,"free":5,"cancelled":false,
                "subjects":[{"code":"15","capacity":4,"held":1,"paid":2,"free":1}]}]}"#,
        );
        assert_eq!(a.centers[0].subjects[0].free, 1);
    }

    #[test]
    fn the_demo_catalog_travels_as_the_aliases_say() {
        let demo = Catalog::demo();
        let json = serde_json::to_string(&demo).expect("json");
        round_trip::<CatalogAnswer>(&json);
        let exam = &demo.exams[0];
        round_trip::<ExamAnswer>(&serde_json::to_string(exam).expect("json"));
        round_trip::<FormAnswer>(&serde_json::to_string(&exam.form).expect("json"));
        round_trip::<CentersAnswer>(&serde_json::to_string(&exam.centers).expect("json"));
        round_trip::<AnnouncementsAnswer>(&serde_json::to_string(&exam.announcements).expect("json"));
        round_trip::<AgreementAnswer>(&serde_json::to_string(&exam.agreement).expect("json"));
        round_trip::<GuideAnswer>(&serde_json::to_string(&exam.guide).expect("json"));
        round_trip::<SubjectsAnswer>(&serde_json::to_string(&exam.subjects).expect("json"));
        round_trip::<SlotsAnswer>(&serde_json::to_string(&exam.slots).expect("json"));
    }
}
