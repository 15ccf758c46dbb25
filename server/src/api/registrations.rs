//! Lifecycle endpoints: the candidate's submit, withdraw, apply-for-review and status, and the
//! operator's approve and reject. Decisions happen in [`crate::registration::lifecycle`].

use std::str::FromStr;

use baoming_core::document::DocumentId;
use bytes::Bytes;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::operators::{OperatorCtx, operator_auth};
use super::{AccountCtx, account_auth, json, parse_json, run, with_app};
use crate::app::App;
use crate::error::ApiError;
use crate::identity::operators::{Permission, Role, authorize, can_see};
use crate::registration::lifecycle::{self, Action, Idempotency, check_rejection, load_record};
use crate::store::audit::Actor;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitReq {
    heads: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectReq {
    reason: String,
    #[serde(default)]
    paths: Vec<String>,
}

/// The candidate's document for `exam` (404 when the catalog has no such exam).
fn candidate_doc(app: &App, account: &str, exam: &str) -> Result<DocumentId, ApiError> {
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    if view.catalog.exam(exam).is_none() {
        return Err(ApiError::NotFound(format!("no exam `{exam}`")));
    }
    Ok(DocumentId::derive(exam, account))
}

fn required_key(key: Option<String>) -> Result<String, ApiError> {
    key.ok_or_else(|| {
        ApiError::refused(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "candidate actions need an Idempotency-Key header",
            serde_json::json!({}),
        )
    })
}

async fn candidate_action(
    app: &App,
    ctx: &AccountCtx,
    exam: &str,
    what: &str,
    key: Option<String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let key = required_key(key)?;
    let id = candidate_doc(app, &ctx.account_id, exam)?;
    let idem = Idempotency::new(&ctx.account_id, &key, &format!("{what}\0{exam}"), body)?;
    let action = match what {
        "submit" => Action::Submit { heads: parse_json::<SubmitReq>(body)?.heads },
        "withdraw" => Action::Withdraw,
        _ => Action::ApplyForReview,
    };
    let live = app.hub.open(app, id, &ctx.account_id, exam).await?;
    let body = lifecycle::act(app, &live, Actor::Account(ctx.account_id.clone()), Some(idem), action)
        .await?
        .ok_or_else(|| ApiError::Internal("an action without an answer".into()))?;
    Ok(json(StatusCode::OK, &body))
}

async fn operator_action(
    app: &App,
    ctx: &OperatorCtx,
    doc: &str,
    what: &str,
    key: Option<String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such registration".into());
    let id = DocumentId::from_str(doc).map_err(|_| not_found())?;
    let (record, _) = load_record(&*app.store, &id)?.ok_or_else(not_found)?;
    // Outside the operator's centers a registration does not exist for them.
    if !can_see(&ctx.operator, &record.center) {
        return Err(not_found());
    }
    if ctx.operator.role == Role::Auditor {
        authorize(&ctx.operator, Permission::ReviewCenter(&record.center))?;
    }
    let action = match what {
        "approve" => Action::Approve,
        _ => {
            let req: RejectReq = parse_json(body)?;
            check_rejection(&req.reason, &req.paths)?;
            Action::Reject { reason: req.reason.trim().to_owned(), paths: req.paths }
        }
    };
    let idem = key
        .map(|k| Idempotency::new(&format!("op:{}", ctx.operator.id), &k, &format!("{what}\0{doc}"), body))
        .transpose()?;
    let live = app.hub.open(app, id, &record.account, &record.exam).await?;
    let body = lifecycle::act(app, &live, Actor::Operator(ctx.operator.id.clone()), idem, action)
        .await?
        .ok_or_else(|| ApiError::Internal("an action without an answer".into()))?;
    Ok(json(StatusCode::OK, &body))
}

/// A body of at most `limit` bytes (a `Content-Length` is required; `0` for actions without
/// parameters).
fn small_body(limit: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit).and(warp::body::bytes())
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;

    let action = warp::path!("api" / "registrations" / String / String)
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(small_body(limit))
        .and_then(
            |exam: String, what: String, app: App, ctx: AccountCtx, key: Option<String>, body: Bytes| async move {
                if !matches!(what.as_str(), "submit" | "withdraw" | "apply-review") {
                    return Err(warp::reject::not_found());
                }
                run(&app, candidate_action(&app, &ctx, &exam, &what, key, &body)).await
            },
        )
        .boxed();

    let status = warp::path!("api" / "registrations" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|exam: String, app: App, ctx: AccountCtx| async move {
            run(&app, async {
                let id = candidate_doc(&app, &ctx.account_id, &exam)?;
                let record = load_record(&*app.store, &id)?.map(|(r, _)| r);
                Ok(json(StatusCode::OK, &lifecycle::view(&id, &exam, record.as_ref())))
            })
            .await
        })
        .boxed();

    let review = warp::path!("api" / "operator" / "registrations" / String / String)
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(small_body(limit))
        .and_then(
            |doc: String, what: String, app: App, ctx: OperatorCtx, key: Option<String>, body: Bytes| async move {
                if !matches!(what.as_str(), "approve" | "reject") {
                    return Err(warp::reject::not_found());
                }
                run(&app, operator_action(&app, &ctx, &doc, &what, key, &body)).await
            },
        )
        .boxed();

    let list = warp::path!("api" / "operator" / "exams" / String / "centers" / String / "registrations")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(operator_auth(app))
        .and_then(|exam: String, center: String, app: App, ctx: OperatorCtx| async move {
            run(&app, async {
                authorize(&ctx.operator, Permission::ReadCenter(&center))?;
                let store = std::sync::Arc::clone(&app.store);
                let list =
                    tokio::task::spawn_blocking(move || lifecycle::list_at_center(&*store, &exam, &center))
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))??;
                Ok(json(StatusCode::OK, &list))
            })
            .await
        })
        .boxed();

    action.or(status).unify().or(review).unify().or(list).unify().boxed()
}
