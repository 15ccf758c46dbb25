//! Registrations: the view candidates and operators see, the candidate's actions
//! (`submit`, `withdraw`, `apply-review`, each with an `Idempotency-Key`) and the operator's
//! decisions (`approve`, `reject`), and the list of a center's registrations.

use serde::{Deserialize, Serialize};

use crate::lifecycle::Status;

/// A registration as the server answers it: `GET /api/registrations/{exam}` (`draft` before
/// any submission), the answer of every lifecycle action, and the base of the payment,
/// review-queue and confirmation answers. Every member is always sent, `null` when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationView {
    /// The registration document's id (base58check), also the registration id.
    pub document_id: String,
    /// The exam session.
    pub exam: String,
    /// Lifecycle status.
    pub status: Status,
    /// The status in Chinese, as candidates read it.
    pub status_label_zh: String,
    /// The reason of the last rejection, cancellation, expiry or refund.
    pub reason: Option<String>,
    /// Draft paths the reason concerns (e.g. `draft.photo`).
    pub reason_paths: Vec<String>,
    /// Payment deadline (Unix milliseconds), while one runs.
    pub deadline_ms: Option<i64>,
    /// The center whose seats are held, while seats are held (always set in an operator's
    /// list and the review queue).
    pub center: Option<String>,
    /// Subject codes whose seats are held.
    pub seats: Vec<String>,
    /// The fee in fen, fixed at submission.
    pub amount_fen: Option<i64>,
    /// A paid registration the administrator cancelled, until the refund is made.
    pub refund_due: bool,
    /// When the server last changed the registration (Unix milliseconds; 0 for a draft).
    pub updated_at_ms: i64,
    /// The current payment order's `out_trade_no`, once one was opened.
    pub order: Option<String>,
    /// Receipt: the payment platform's trade number.
    pub trade_no: Option<String>,
    /// Receipt: when it was paid (Unix milliseconds).
    pub paid_at_ms: Option<i64>,
    /// Refunded so far, in fen.
    pub refunded_fen: Option<i64>,
    /// The admission ticket number, once the center's arrangement seats the candidate.
    pub ticket: Option<String>,
}

/// A registration in an operator's list (`GET …/centers/{center}/registrations`) and in a
/// review-queue item: the view, with `center` always set, plus the subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterRegistration {
    /// The view.
    #[serde(flatten)]
    pub registration: RegistrationView,
    /// The subjects submitted (held, or last held).
    pub subjects: Vec<String>,
}

/// A candidate's action: `POST /api/registrations/{exam}/{action}` with an `Idempotency-Key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateAction {
    /// Submit the draft as of [`SubmitRequest::heads`]: the seats are held.
    Submit,
    /// Withdraw (empty body): the seats are released.
    Withdraw,
    /// Apply for the center's review (empty body): everything is locked until it decides.
    ApplyReview,
}

impl CandidateAction {
    /// The last segment of the action's path.
    pub fn path_segment(self) -> &'static str {
        match self {
            CandidateAction::Submit => "submit",
            CandidateAction::Withdraw => "withdraw",
            CandidateAction::ApplyReview => "apply-review",
        }
    }

    /// The action named by a path segment.
    pub fn from_path_segment(segment: &str) -> Option<CandidateAction> {
        [CandidateAction::Submit, CandidateAction::Withdraw, CandidateAction::ApplyReview]
            .into_iter()
            .find(|a| a.path_segment() == segment)
    }
}

/// The body of a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The draft's heads (hex) when the candidate pressed the button; the server must have them.
    pub heads: Vec<String>,
}

/// An operator's decision: `POST /api/operator/registrations/{document id}/{decision}`
/// (optional `Idempotency-Key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorDecision {
    /// Approve (empty body): the payment window starts.
    Approve,
    /// Reject with a [`RejectRequest`].
    Reject,
}

impl OperatorDecision {
    /// The last segment of the decision's path.
    pub fn path_segment(self) -> &'static str {
        match self {
            OperatorDecision::Approve => "approve",
            OperatorDecision::Reject => "reject",
        }
    }

    /// The decision named by a path segment.
    pub fn from_path_segment(segment: &str) -> Option<OperatorDecision> {
        [OperatorDecision::Approve, OperatorDecision::Reject]
            .into_iter()
            .find(|d| d.path_segment() == segment)
    }
}

/// The body of a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why (1–500 characters), shown to the candidate.
    pub reason: String,
    /// The draft paths it concerns (`draft.…`, at most 32); they become editable again.
    #[serde(default)]
    pub paths: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{VIEW, round_trip, view_with};

    #[test]
    fn the_view_parses_with_every_member() {
        let v: RegistrationView = round_trip(VIEW);
        assert_eq!(v.status, Status::AwaitingPayment);
        let draft: RegistrationView = round_trip(
            r#"{"document_id":"2xQd1","exam":"e","status":"draft","status_label_zh":"填写中","reason":null,
                "reason_paths":[],"deadline_ms":null,"center":null,"seats":[],"amount_fen":null,"refund_due":false,
                "updated_at_ms":0,"order":null,"trade_no":null,"paid_at_ms":null,"refunded_fen":null,"ticket":null}"#,
        );
        assert_eq!(draft.status, Status::Draft);
        let missing = VIEW.replace(r#","ticket":null"#, "");
        let back: RegistrationView = serde_json::from_str(&missing).expect("an absent null parses");
        assert!(serde_json::to_value(back).expect("json").get("ticket").is_some(), "and is sent as null");
    }

    #[test]
    fn a_center_list_item_adds_the_subjects() {
        let item: CenterRegistration = round_trip(&view_with(r#""subjects":["15"]"#));
        assert_eq!(item.subjects, vec!["15".to_owned()]);
        assert_eq!(item.registration.center.as_deref(), Some("bj-changping"));
    }

    #[test]
    fn actions_and_bodies() {
        for a in [CandidateAction::Submit, CandidateAction::Withdraw, CandidateAction::ApplyReview] {
            assert_eq!(CandidateAction::from_path_segment(a.path_segment()), Some(a));
        }
        assert_eq!(CandidateAction::ApplyReview.path_segment(), "apply-review");
        assert_eq!(CandidateAction::from_path_segment("pay"), None);
        for d in [OperatorDecision::Approve, OperatorDecision::Reject] {
            assert_eq!(OperatorDecision::from_path_segment(d.path_segment()), Some(d));
        }
        round_trip::<SubmitRequest>(r#"{"heads":["ab01"]}"#);
        assert!(serde_json::from_str::<SubmitRequest>(r#"{"heads":[],"x":1}"#).is_err());
        round_trip::<RejectRequest>(r#"{"reason":"照片不清晰","paths":["draft.photo"]}"#);
        let r: RejectRequest = serde_json::from_str(r#"{"reason":"r"}"#).expect("paths default");
        assert!(r.paths.is_empty());
    }
}
