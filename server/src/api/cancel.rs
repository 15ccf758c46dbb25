//! The administrator's cancellation endpoints: `POST /api/admin/exams/{exam}/cancel` and
//! `POST /api/admin/exams/{exam}/centers/{center}/cancel`, body `{reason}`, optional
//! `Idempotency-Key`. The work happens in [`crate::registration::cancellations`].

use bytes::Bytes;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::operators::{OperatorCtx, operator_auth};
use super::{json, parse_json, run, with_app};
use crate::app::App;
use crate::error::ApiError;
use crate::identity::operators::{Permission, authorize};
use crate::registration::cancellations;
use crate::registration::lifecycle::Idempotency;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelReq {
    reason: String,
}

async fn cancel(
    app: &App,
    ctx: &OperatorCtx,
    exam: &str,
    center: Option<&str>,
    key: Option<String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    authorize(&ctx.operator, Permission::CancelExam)?;
    let req: CancelReq = parse_json(body)?;
    let what = format!("cancel\0{exam}\0{}", center.unwrap_or_default());
    let idem =
        key.map(|k| Idempotency::new(&format!("op:{}", ctx.operator.id), &k, &what, body)).transpose()?;
    let answer = cancellations::cancel(app, &ctx.operator.id, exam, center, &req.reason, idem).await?;
    Ok(json(StatusCode::OK, &answer))
}

fn body(limit: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(limit).and(warp::body::bytes())
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;
    let exam = warp::path!("api" / "admin" / "exams" / String / "cancel")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(operator_auth(app.clone()))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body(limit))
        .and_then(|exam: String, app: App, ctx: OperatorCtx, key: Option<String>, body: Bytes| async move {
            run(&app, cancel(&app, &ctx, &exam, None, key, &body)).await
        })
        .boxed();
    let center =
        warp::path!("api" / "admin" / "exams" / String / "centers" / String / "cancel")
            .and(warp::post())
            .and(with_app(app.clone()))
            .and(operator_auth(app))
            .and(warp::header::optional::<String>("idempotency-key"))
            .and(body(limit))
            .and_then(
                |exam: String,
                 center: String,
                 app: App,
                 ctx: OperatorCtx,
                 key: Option<String>,
                 body: Bytes| async move {
                    run(&app, cancel(&app, &ctx, &exam, Some(&center), key, &body)).await
                },
            )
            .boxed();
    exam.or(center).unify().boxed()
}
