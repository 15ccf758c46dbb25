//! Payment endpoints: the candidate's "pay" and "I have paid, refresh", and the platform's
//! asynchronous notification. Decisions happen in [`crate::payments::orders`].

use bytes::Bytes;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{AccountCtx, account_auth, json, run, with_app};
use crate::app::App;
use crate::error::ApiError;
use crate::payments::orders;
use crate::registration::lifecycle::Idempotency;

/// Largest notification body, in bytes (the platform's run to about 2 KiB).
const NOTIFY_LIMIT: u64 = 16 * 1024;

fn exam_exists(app: &App, exam: &str) -> Result<(), ApiError> {
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    view.catalog.exam(exam).map(|_| ()).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam}`")))
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;
    let pay = warp::path!("api" / "registrations" / String / "pay")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::bytes())
        .and_then(|exam: String, app: App, ctx: AccountCtx, key: Option<String>, body: Bytes| async move {
            run(&app, async {
                exam_exists(&app, &exam)?;
                let key = key.ok_or_else(|| {
                    ApiError::refused(
                        StatusCode::BAD_REQUEST,
                        "idempotency_key_required",
                        "candidate actions need an Idempotency-Key header",
                        serde_json::json!({}),
                    )
                })?;
                let idem = Idempotency::new(&ctx.account_id, &key, &format!("pay\0{exam}"), &body)?;
                Ok(json(StatusCode::OK, &orders::pay(&app, &ctx.account_id, &exam, idem).await?))
            })
            .await
        })
        .boxed();
    let refresh = warp::path!("api" / "registrations" / String / "payment" / "refresh")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|exam: String, app: App, ctx: AccountCtx| async move {
            run(&app, async {
                exam_exists(&app, &exam)?;
                Ok(json(StatusCode::OK, &orders::refresh(&app, &ctx.account_id, &exam).await?))
            })
            .await
        })
        .boxed();
    let notify = warp::path!("api" / "payments" / "notify")
        .and(warp::post())
        .and(with_app(app))
        .and(warp::body::content_length_limit(NOTIFY_LIMIT))
        .and(warp::body::bytes())
        .then(|app: App, body: Bytes| async move {
            let (status, text) = orders::notify(&app, &body).await;
            warp::reply::with_status(text, status).into_response()
        })
        .boxed();
    pay.or(refresh).unify().or(notify).unify().boxed()
}
