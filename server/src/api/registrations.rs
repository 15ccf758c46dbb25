//! The lifecycle: the candidate's submit, withdraw, apply-for-review and status; the center's
//! approve, reject and list; payment; and the administrator's cancellations.

use baoming_core::api::admin::CancelRequest;
use baoming_core::api::registrations::{RejectRequest, SubmitRequest};
use bytes::Bytes;

use super::error::ApiError;
use super::extract::{Answer, Candidate, IdempotencyKey, Staff, ok, parse_json};
use crate::payments::orders::NotifyAnswer;
use crate::registration::actions::{CandidateAction, Review};
use crate::registration::idempotency::{Idempotency, key_required};
use crate::state::App;

/// A candidate's action, as the path names it: `submit`, `withdraw` or `apply-review`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ActionName(CandidateAction);

impl std::str::FromStr for ActionName {
    type Err = ();
    fn from_str(s: &str) -> Result<ActionName, ()> {
        CandidateAction::from_path(s).map(ActionName).ok_or(())
    }
}

/// The center's decision, as the path names it: `approve` or `reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReviewName {
    Approve,
    Reject,
}

impl std::str::FromStr for ReviewName {
    type Err = ();
    fn from_str(s: &str) -> Result<ReviewName, ()> {
        match s {
            "approve" => Ok(ReviewName::Approve),
            "reject" => Ok(ReviewName::Reject),
            _ => Err(()),
        }
    }
}

/// `POST /api/registrations/{exam}/{submit|withdraw|apply-review}` + `Idempotency-Key`.
pub(super) async fn act(
    exam: String,
    what: ActionName,
    app: App,
    who: Candidate,
    key: IdempotencyKey,
    body: Bytes,
) -> Answer {
    // The key is asked for, and checked, before the body is read.
    Idempotency::check(key.as_deref().ok_or_else(key_required)?)?;
    let heads = match what.0 {
        CandidateAction::Submit => parse_json::<SubmitRequest>(&body)?.heads,
        _ => Vec::new(),
    };
    let answer =
        app.registrations.candidate_action(&who.account, &exam, what.0, key.as_deref(), &body, heads).await?;
    ok(&answer)
}

/// `GET /api/registrations/{exam}`.
pub(super) async fn status(exam: String, app: App, who: Candidate) -> Answer {
    ok(&app.registrations.status(&who.account, &exam)?)
}

/// `POST /api/operator/registrations/{id}/{approve|reject}` [+ `Idempotency-Key`].
pub(super) async fn review(
    doc: String,
    what: ReviewName,
    app: App,
    who: Staff,
    key: IdempotencyKey,
    body: Bytes,
) -> Answer {
    // Scope and role come before the body is read.
    app.registrations.reviewable(&who.operator, &doc)?;
    let decision = match what {
        ReviewName::Approve => Review::Approve,
        ReviewName::Reject => {
            let req: RejectRequest = parse_json(&body)?;
            Review::Reject { reason: req.reason, paths: req.paths }
        }
    };
    ok(&app.registrations.review(&who.operator, &doc, decision, key.as_deref(), &body).await?)
}

/// `GET /api/operator/exams/{exam}/centers/{center}/registrations`.
pub(super) async fn at_center(exam: String, center: String, app: App, who: Staff) -> Answer {
    ok(&app.registrations.list_at_center(&who.operator, &exam, &center).await?)
}

/// `POST /api/registrations/{exam}/pay` + `Idempotency-Key`.
pub(super) async fn pay(exam: String, app: App, who: Candidate, key: IdempotencyKey, body: Bytes) -> Answer {
    ok(&app.payments.pay(&who.account, &exam, key.as_deref(), &body).await?)
}

/// `POST /api/registrations/{exam}/payment/refresh`.
pub(super) async fn refresh_payment(exam: String, app: App, who: Candidate) -> Answer {
    ok(&app.payments.refresh(&who.account, &exam).await?)
}

/// `POST /api/payments/notify`: the platform's asynchronous notification, answered in the
/// platform's words (`success` once applied and durable, `failure` otherwise).
pub(super) async fn notify(app: App, body: Bytes) -> Answer {
    use warp::Reply;
    use warp::http::StatusCode;
    let (status, text) = match app.payments.notify(&body).await {
        NotifyAnswer::Applied(ack) => (StatusCode::OK, ack),
        NotifyAnswer::Refused => (StatusCode::BAD_REQUEST, "failure"),
        NotifyAnswer::Failed => (StatusCode::INTERNAL_SERVER_ERROR, "failure"),
        NotifyAnswer::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "failure"),
    };
    Ok(warp::reply::with_status(text, status).into_response())
}

/// `POST /api/admin/exams/{exam}/cancel` [+ `Idempotency-Key`].
pub(super) async fn cancel_exam(
    exam: String,
    app: App,
    who: Staff,
    key: IdempotencyKey,
    body: Bytes,
) -> Answer {
    cancel(app, who, exam, None, key, body).await
}

/// `POST /api/admin/exams/{exam}/centers/{center}/cancel` [+ `Idempotency-Key`].
pub(super) async fn cancel_center(
    exam: String,
    center: String,
    app: App,
    who: Staff,
    key: IdempotencyKey,
    body: Bytes,
) -> Answer {
    cancel(app, who, exam, Some(center), key, body).await
}

async fn cancel(
    app: App,
    who: Staff,
    exam: String,
    center: Option<String>,
    key: IdempotencyKey,
    body: Bytes,
) -> Answer {
    // Authorization comes before the body is looked at.
    crate::identity::operators::authorize(&who.operator, crate::identity::operators::Permission::CancelExam)
        .map_err(ApiError::from)?;
    let req: CancelRequest = parse_json(&body)?;
    let answer = app
        .registrations
        .cancel(&who.operator, &exam, center.as_deref(), &req.reason, key.as_deref(), &body)
        .await?;
    ok(&answer)
}
