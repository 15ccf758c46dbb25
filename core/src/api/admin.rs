//! The administrator's cancellations: `POST /api/admin/exams/{exam}/centers/{center}/cancel` for
//! one test center and `POST /api/admin/exams/{exam}/cancel` for the whole session, body
//! [`CancelRequest`], optional `Idempotency-Key`.

use serde::{Deserialize, Serialize};

/// The body of a cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (1–500 characters), shown to every candidate cancelled.
    pub reason: String,
}

/// Where a cancellation stands in its answer: the server answers once it has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationStatus {
    /// Every registration in scope was handled.
    Finished,
}

/// What this run of the cancellation found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationProgress {
    /// Registrations of the exam at the center (or in the session).
    pub in_scope: u64,
    /// Cancelled by this run.
    pub cancelled_now: u64,
    /// Cancelled before (a re-run).
    pub already_cancelled: u64,
    /// Holding nothing (drafts, expired, withdrawn): left as they are.
    pub untouched: u64,
    /// Paid registrations now cancelled whose fee is to be refunded.
    pub refunds_due: u64,
}

/// The answer to a cancellation (also replayed under its `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationAnswer {
    /// The exam session.
    pub exam: String,
    /// The cancelled center; `null` for the whole session.
    pub center: Option<String>,
    /// The reason given when it was decided (a later call with another reason keeps this one).
    pub reason: String,
    /// When it was decided (Unix milliseconds).
    pub started_at_ms: i64,
    /// When it finished (Unix milliseconds).
    pub finished_at_ms: i64,
    /// Always `finished`.
    pub status: CancellationStatus,
    /// Registrations cancelled, this run and before.
    pub registrations_cancelled: u64,
    /// Of those, paid ones whose fee is to be refunded.
    pub refunds_due: u64,
    /// This run's counts.
    pub progress: CancellationProgress,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn cancellations_parse() {
        round_trip::<CancelRequest>(r#"{"reason":"考点停电"}"#);
        assert!(serde_json::from_str::<CancelRequest>(r#"{"reason":"r","center":"c"}"#).is_err());
        let progress =
            r#"{"in_scope":3,"cancelled_now":2,"already_cancelled":0,"untouched":1,"refunds_due":1}"#;
        let c: CancellationAnswer = round_trip(&format!(
            r#"{{"exam":"e","center":"bj-dongcheng","reason":"考点停电","started_at_ms":1,"finished_at_ms":2,
                "status":"finished","registrations_cancelled":2,"refunds_due":1,"progress":{progress}}}"#
        ));
        assert_eq!(c.progress.cancelled_now, 2);
        let s: CancellationAnswer = round_trip(&format!(
            r#"{{"exam":"e","center":null,"reason":"r","started_at_ms":1,"finished_at_ms":2,"status":"finished",
                "registrations_cancelled":0,"refunds_due":0,"progress":{progress}}}"#
        ));
        assert_eq!(s.center, None);
    }
}
