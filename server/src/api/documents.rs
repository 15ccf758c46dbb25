//! Documents and the exam day: the candidate's PDF downloads, the operator's room arrangement
//! and the check-in scan. Domain work is in [`crate::examday::documents`] and [`crate::examday::arrangement`].
//!
//! Scoping follows the operator views: an exam or center the catalog does not have, or a center
//! outside a center operator's list, is 404 `not_found`; auditors read arrangements but may not
//! run one or check candidates in (403).

use bytes::Bytes;
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::operators::{OperatorCtx, operator_auth};
use super::{AccountCtx, account_auth, json, parse_json, run, with_app};
use crate::app::App;
use crate::error::ApiError;
use crate::examday::arrangement;
use crate::identity::operators::{Operator, Permission, authorize, can_see};
use crate::store::audit::Actor;

fn pdf(bytes: Vec<u8>, filename: &str) -> Result<Response, ApiError> {
    let mut r = Response::new(bytes.into());
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

fn safe(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn download(app: &App, account: &str, exam: &str, what: &str) -> Result<Response, ApiError> {
    match what {
        "registration-form.pdf" => {
            let bytes = crate::examday::documents::registration_form(app, account, exam).await?;
            pdf(bytes, &format!("registration-form-{}.pdf", safe(exam)))
        }
        "admission-ticket.pdf" => {
            let bytes = crate::examday::documents::admission_ticket(
                app,
                account,
                exam,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            pdf(bytes, &format!("admission-ticket-{}.pdf", safe(exam)))
        }
        "admission-ticket.code" => {
            let code = crate::examday::documents::admission_ticket_code(
                app,
                account,
                exam,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            Ok(json(StatusCode::OK, &code))
        }
        other => Err(ApiError::NotFound(format!("no document `{other}`"))),
    }
}

async fn arrangement_route(
    app: &App,
    op: &Operator,
    exam: &str,
    center: &str,
    write: bool,
) -> Result<Response, ApiError> {
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    let e = view.catalog.exam(exam).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam}`")))?;
    let c = e
        .center(center)
        .filter(|c| can_see(op, &c.id))
        .ok_or_else(|| ApiError::NotFound(format!("no center `{center}` in exam `{exam}`")))?;
    if write {
        authorize(op, Permission::ReviewCenter(center))?;
        let body = arrangement::run(app, Actor::Operator(op.id.clone()), e, c).await?;
        return Ok(json(StatusCode::OK, &body));
    }
    let (a, _) = arrangement::load(&*app.store, exam, center)?
        .ok_or_else(|| ApiError::NotFound(format!("center `{center}` has not been arranged yet")))?;
    Ok(json(StatusCode::OK, &arrangement::to_json(&a, c)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInReq {
    code: String,
}

async fn check_in(app: &App, op: &Operator, exam: &str, body: &[u8]) -> Result<Response, ApiError> {
    let req: CheckInReq = parse_json(body)?;
    let answer = crate::examday::documents::check_in(app, op, exam, &req.code).await?;
    Ok(json(StatusCode::OK, &answer))
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;
    let downloads = warp::path!("api" / "registrations" / String / "documents" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|exam: String, what: String, app: App, ctx: AccountCtx| async move {
            run(&app, download(&app, &ctx.account_id, &exam, &what)).await
        })
        .boxed();

    let arrange = warp::path!("api" / "operator" / "exams" / String / "centers" / String / "arrangement")
        .and(warp::get().map(|| false).or(warp::post().map(|| true)).unify())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and_then(|exam: String, center: String, write: bool, app: App, ctx: OperatorCtx| async move {
            run(&app, arrangement_route(&app, &ctx.operator, &exam, &center, write)).await
        })
        .boxed();

    let scan = warp::path!("api" / "operator" / "exams" / String / "check-in")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(operator_auth(app))
        .and(warp::body::content_length_limit(limit).and(warp::body::bytes()))
        .and_then(|exam: String, app: App, ctx: OperatorCtx, body: Bytes| async move {
            run(&app, check_in(&app, &ctx.operator, &exam, &body)).await
        })
        .boxed();

    downloads.or(arrange).unify().or(scan).unify().boxed()
}
