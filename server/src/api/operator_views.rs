//! The operator's side of the lifecycle: review queue, stats, roster CSV, notices and on-site
//! confirmation — plus the candidate's read of the notices of their center. Domain work is in
//! [`crate::desk::review`], [`crate::desk::reports`], [`crate::desk::notices`] and [`crate::desk::onsite`].
//!
//! Scoping, the same on every route: an exam or center the catalog does not have, and a center
//! outside a center operator's list, are 404 `not_found` alike (an operator of center A learns
//! nothing about center B); auditors read every center but get 403 on every write;
//! administrators do everything.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::operators::{OperatorCtx, operator_auth};
use super::{AccountCtx, account_auth, json, no_content, parse_json, run, with_app};
use crate::app::App;
use crate::catalog::CatalogView;
use crate::desk::notices::{self, Notice, NoticeInput};
use crate::desk::onsite::{self, Lookup};
use crate::desk::review::{self, load_draft};
use crate::error::ApiError;
use crate::identity::operators::{Operator, Permission, Role, authorize, can_see};
use crate::registration::lifecycle::{Idempotency, load_record};
use crate::store::Txn;
use crate::store::audit::{Actor, AuditEvent};

type Query = Vec<(String, String)>;

/// The catalog, after checking that `exam` exists and — when given — that `center` is one of
/// its centers the operator may see (404 otherwise, the same for both).
fn scope(app: &App, op: &Operator, exam: &str, center: Option<&str>) -> Result<Arc<CatalogView>, ApiError> {
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    let e = view.catalog.exam(exam).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam}`")))?;
    if let Some(c) = center
        && (e.center(c).is_none() || !can_see(op, c))
    {
        return Err(ApiError::NotFound(format!("no center `{c}` in exam `{exam}`")));
    }
    Ok(view)
}

/// Writes need more than reading: auditors are refused (403).
fn may_write(op: &Operator, center: &str) -> Result<(), ApiError> {
    authorize(op, Permission::ReviewCenter(center))
}

fn exam_of<'a>(
    view: &'a CatalogView,
    exam: &str,
) -> Result<&'a baoming_core::catalog::ExamSession, ApiError> {
    view.catalog.exam(exam).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam}`")))
}

/// A notice as operators see it.
fn notice_json(n: &Notice) -> serde_json::Value {
    serde_json::to_value(n).unwrap_or_default()
}

/// A notice as candidates see it.
fn public_notice(n: &Notice) -> serde_json::Value {
    let mut v = notice_json(n);
    if let Some(o) = v.as_object_mut() {
        o.remove("updated_by");
    }
    v
}

async fn review_queue(
    app: &App,
    op: &Operator,
    exam: &str,
    center: &str,
    q: &Query,
) -> Result<Response, ApiError> {
    let view = scope(app, op, exam, Some(center))?;
    let query = review::parse_query(q)?;
    let page = review::queue(app, exam_of(&view, exam)?, center, &query).await?;
    Ok(json(StatusCode::OK, &page))
}

async fn stats(app: &App, op: &Operator, exam: &str) -> Result<Response, ApiError> {
    let view = scope(app, op, exam, None)?;
    let e = exam_of(&view, exam)?;
    let centers: Vec<String> = e.centers.iter().map(|c| c.id.clone()).filter(|c| can_see(op, c)).collect();
    Ok(json(StatusCode::OK, &crate::desk::reports::stats(app, &view, e, &centers).await?))
}

async fn roster(app: &App, op: &Operator, exam: &str, center: &str) -> Result<Response, ApiError> {
    let view = scope(app, op, exam, Some(center))?;
    let masked = op.role == Role::Auditor;
    let (bytes, rows) = crate::desk::reports::roster_csv(app, exam_of(&view, exam)?, center, masked).await?;
    let event = AuditEvent::new(Actor::Operator(op.id.clone()), "roster.read", format!("{exam}/{center}"))
        .with(json!({ "rows": rows, "id_numbers": if masked { "masked" } else { "full" } }));
    app.commit(Txn::new(), event).await?;
    let mut resp = Response::new(bytes.into());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"roster-{exam}-{center}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET|POST …/notices` and `GET|PUT|DELETE …/notices/{id}`.
async fn notices_route(
    app: &App,
    op: &Operator,
    method: &warp::http::Method,
    exam: &str,
    center: &str,
    id: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    use warp::http::Method;
    let view = scope(app, op, exam, Some(center))?;
    let e = exam_of(&view, exam)?;
    let onsite_required = e.center(center).is_some_and(baoming_core::catalog::TestCenter::requires_onsite);
    let input = |body: &[u8]| -> Result<NoticeInput, ApiError> {
        may_write(op, center)?;
        let input: NoticeInput = parse_json(body)?;
        notices::check(&input, onsite_required)?;
        Ok(input)
    };
    match (method.clone(), id) {
        (Method::GET, None) => {
            let list = notices::list(&*app.store, exam, center)?;
            Ok(json(StatusCode::OK, &list.iter().map(notice_json).collect::<Vec<_>>()))
        }
        (Method::POST, None) => {
            let n = notices::create(app, &op.id, exam, center, input(body)?).await?;
            Ok(json(StatusCode::CREATED, &notice_json(&n)))
        }
        (Method::GET, Some(id)) => {
            let (n, _) = notices::get(&*app.store, exam, center, id)?
                .ok_or_else(|| ApiError::NotFound(format!("no notice `{id}` at this center")))?;
            Ok(json(StatusCode::OK, &notice_json(&n)))
        }
        (Method::PUT, Some(id)) => {
            let n = notices::update(app, &op.id, exam, center, id, input(body)?).await?;
            Ok(json(StatusCode::OK, &notice_json(&n)))
        }
        (Method::DELETE, Some(id)) => {
            may_write(op, center)?;
            notices::delete(app, &op.id, exam, center, id).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

async fn confirm(
    app: &App,
    op: &Operator,
    exam: &str,
    center: &str,
    key: Option<String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let view = scope(app, op, exam, Some(center))?;
    may_write(op, center)?;
    let lookup: Lookup = parse_json(body)?;
    let idem = key
        .map(|k| Idempotency::new(&format!("op:{}", op.id), &k, &format!("confirm\0{exam}\0{center}"), body))
        .transpose()?;
    let answer = onsite::confirm(app, &op.id, exam_of(&view, exam)?, center, &lookup, idem).await?;
    Ok(json(StatusCode::OK, &answer))
}

/// The candidate's read: the notices of the center of their registration (the center the seats
/// are held at, else the center chosen in the draft) that are open now, and the catalog's
/// on-site confirmation rule of that center.
async fn candidate_notices(app: &App, account: &str, exam: &str) -> Result<Response, ApiError> {
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    let e = exam_of(&view, exam)?;
    let id = baoming_core::document::DocumentId::derive(exam, account);
    let center = match load_record(&*app.store, &id)? {
        Some((r, _)) => Some(r.center),
        None => load_draft(app, &id).await?.and_then(|d| d.center),
    };
    let Some(center) = center.filter(|c| e.center(c).is_some()) else {
        return Ok(json(
            StatusCode::OK,
            &json!({ "exam": exam, "center": null, "notices": [], "onsite": null }),
        ));
    };
    let open = notices::open_at(&*app.store, exam, &center, time::OffsetDateTime::now_utc())?;
    let onsite = e.center(&center).and_then(|c| c.onsite.clone());
    Ok(json(
        StatusCode::OK,
        &json!({
            "exam": exam,
            "center": center,
            "notices": open.iter().map(public_notice).collect::<Vec<_>>(),
            "onsite": onsite,
        }),
    ))
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;
    let center_base = || warp::path!("api" / "operator" / "exams" / String / "centers" / String / ..);

    let queue = center_base()
        .and(warp::path!("review"))
        .and(warp::get())
        .and(warp::query::<Query>())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and_then(|exam: String, center: String, q: Query, app: App, ctx: OperatorCtx| async move {
            run(&app, review_queue(&app, &ctx.operator, &exam, &center, &q)).await
        })
        .boxed();

    let stats_route = warp::path!("api" / "operator" / "exams" / String / "stats")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and_then(|exam: String, app: App, ctx: OperatorCtx| async move {
            run(&app, stats(&app, &ctx.operator, &exam)).await
        })
        .boxed();

    let roster_route = center_base()
        .and(warp::path!("roster.csv"))
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and_then(|exam: String, center: String, app: App, ctx: OperatorCtx| async move {
            run(&app, roster(&app, &ctx.operator, &exam, &center)).await
        })
        .boxed();

    // Notices: body-less GET and DELETE, JSON bodies for POST and PUT.
    let notices_at = || center_base().and(warp::path("notices"));
    let no_body = || warp::any().map(Bytes::new);
    let list_notices =
        notices_at().and(warp::path::end()).and(warp::get().map(|| None::<String>)).and(no_body()).boxed();
    let create_notice = notices_at()
        .and(warp::path::end())
        .and(warp::post().map(|| None::<String>))
        .and(json_bytes(limit))
        .boxed();
    let one_notice = || notices_at().and(warp::path!(String).map(Some));
    let read_notice = one_notice().and(warp::get()).and(no_body()).boxed();
    let update_notice = one_notice().and(warp::put()).and(json_bytes(limit)).boxed();
    let delete_notice = one_notice().and(warp::delete()).and(no_body()).boxed();
    let notices_routes = list_notices
        .or(create_notice)
        .unify()
        .or(read_notice)
        .unify()
        .or(update_notice)
        .unify()
        .or(delete_notice)
        .unify()
        .and(warp::method())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and_then(
            |exam: String,
             center: String,
             id: Option<String>,
             body: Bytes,
             method: warp::http::Method,
             app: App,
             ctx: OperatorCtx| async move {
                run(&app, notices_route(&app, &ctx.operator, &method, &exam, &center, id.as_deref(), &body))
                    .await
            },
        )
        .boxed();

    let confirm_route =
        center_base()
            .and(warp::path!("confirm"))
            .and(warp::post())
            .and(with_app(app.clone()))
            .and(operator_auth(app.clone()))
            .and(warp::header::optional::<String>("idempotency-key"))
            .and(json_bytes(limit))
            .and_then(
                |exam: String,
                 center: String,
                 app: App,
                 ctx: OperatorCtx,
                 key: Option<String>,
                 body: Bytes| async move {
                    run(&app, confirm(&app, &ctx.operator, &exam, &center, key, &body)).await
                },
            )
            .boxed();

    let candidate = warp::path!("api" / "registrations" / String / "notices")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(account_auth(app))
        .and_then(|exam: String, app: App, ctx: AccountCtx| async move {
            run(&app, candidate_notices(&app, &ctx.account_id, &exam)).await
        })
        .boxed();

    queue
        .or(stats_route)
        .unify()
        .or(roster_route)
        .unify()
        .or(notices_routes)
        .unify()
        .or(confirm_route)
        .unify()
        .or(candidate)
        .unify()
        .boxed()
}

/// A body of at most `limit` bytes.
fn json_bytes(limit: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit).and(warp::body::bytes())
}
