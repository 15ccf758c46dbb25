//! Public catalog endpoints with ETag / If-None-Match, and live seat availability.

use std::sync::Arc;

use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{run, with_app};
use crate::app::App;
use crate::catalog::{CatalogView, availability};
use crate::error::ApiError;
use crate::store::crypto::sha256;

/// Serialises `value` and answers with an ETag, or `304` when the client's copy is current.
pub(crate) fn cached<T: Serialize>(
    value: &T,
    if_none_match: Option<&str>,
    cache_control: &'static str,
) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = format!("\"{}\"", &hex::encode(sha256(&body))[..32]);
    let matches = if_none_match.is_some_and(|h| {
        h.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*")
    });
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(body.into());
        r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        r
    };
    let h = resp.headers_mut();
    h.insert("etag", HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(e.to_string()))?);
    h.insert("cache-control", HeaderValue::from_static(cache_control));
    Ok(resp)
}

fn view(app: &App) -> Result<Arc<CatalogView>, ApiError> {
    app.catalog().ok_or_else(|| ApiError::NotFound("no catalog has been imported".into()))
}

#[derive(Serialize)]
struct ExamSummary<'a> {
    id: &'a str,
    name: &'a baoming_core::catalog::Bilingual,
    registration: &'a baoming_core::catalog::Window,
    printing: &'a baoming_core::catalog::Window,
    subject_cap: u8,
    payment_window_hours: u32,
    agreement_version: &'a str,
}

const STATIC: &str = "public, max-age=60, must-revalidate";
const LIVE: &str = "no-cache";

fn part(app: &App, exam_id: &str, what: &str, inm: Option<&str>) -> Result<Response, ApiError> {
    let v = view(app)?;
    let exam = v.catalog.exam(exam_id).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam_id}`")))?;
    match what {
        "" => cached(exam, inm, STATIC),
        "agreement" => cached(&exam.agreement, inm, STATIC),
        "announcements" => cached(&exam.announcements, inm, STATIC),
        "guide" => cached(&exam.guide, inm, STATIC),
        "form" => cached(&exam.form, inm, STATIC),
        "subjects" => cached(&exam.subjects, inm, STATIC),
        "slots" => cached(&exam.slots, inm, STATIC),
        "centers" => cached(&exam.centers, inm, STATIC),
        "availability" => {
            let seats = availability(&*app.store, &v, exam_id, None)?
                .ok_or_else(|| ApiError::NotFound(format!("no exam `{exam_id}`")))?;
            cached(&serde_json::json!({ "exam": exam_id, "centers": seats }), inm, LIVE)
        }
        other => Err(ApiError::NotFound(format!("no such catalog resource `{other}`"))),
    }
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let inm = || warp::header::optional::<String>("if-none-match");

    let all = warp::path!("api" / "catalog")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(inm())
        .and_then(|app: App, inm: Option<String>| async move {
            run(&app, async { cached(&view(&app)?.catalog, inm.as_deref(), STATIC) }).await
        })
        .boxed();

    let exams = warp::path!("api" / "exams")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(inm())
        .and_then(|app: App, inm: Option<String>| async move {
            run(&app, async {
                let v = view(&app)?;
                let list: Vec<ExamSummary<'_>> = v
                    .catalog
                    .exams
                    .iter()
                    .map(|e| ExamSummary {
                        id: &e.id,
                        name: &e.name,
                        registration: &e.registration,
                        printing: &e.printing,
                        subject_cap: e.subject_cap,
                        payment_window_hours: e.payment_window_hours,
                        agreement_version: &e.agreement.version,
                    })
                    .collect();
                cached(&list, inm.as_deref(), STATIC)
            })
            .await
        })
        .boxed();

    let exam = warp::path!("api" / "exams" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(inm())
        .and_then(|id: String, app: App, inm: Option<String>| async move {
            run(&app, async { part(&app, &id, "", inm.as_deref()) }).await
        })
        .boxed();

    let exam_part = warp::path!("api" / "exams" / String / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(inm())
        .and_then(|id: String, what: String, app: App, inm: Option<String>| async move {
            run(&app, async { part(&app, &id, &what, inm.as_deref()) }).await
        })
        .boxed();

    let center = warp::path!("api" / "exams" / String / "centers" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(inm())
        .and_then(|id: String, cid: String, app: App, inm: Option<String>| async move {
            run(&app, async {
                let v = view(&app)?;
                let exam =
                    v.catalog.exam(&id).ok_or_else(|| ApiError::NotFound(format!("no exam `{id}`")))?;
                let center =
                    exam.center(&cid).ok_or_else(|| ApiError::NotFound(format!("no center `{cid}`")))?;
                let subjects: Vec<_> = center
                    .subjects
                    .iter()
                    .map(|o| {
                        let s = exam.subject(&o.code);
                        serde_json::json!({
                            "code": o.code,
                            "capacity": o.capacity,
                            "fee_fen": o.fee_fen,
                            "name": s.map(|s| &s.name),
                            "slot": s.and_then(|s| exam.slot(&s.slot)),
                        })
                    })
                    .collect();
                cached(&serde_json::json!({ "center": center, "subjects": subjects }), inm.as_deref(), STATIC)
            })
            .await
        })
        .boxed();

    let center_seats = warp::path!("api" / "exams" / String / "centers" / String / "availability")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(inm())
        .and_then(|id: String, cid: String, app: App, inm: Option<String>| async move {
            run(&app, async {
                let v = view(&app)?;
                let seats = availability(&*app.store, &v, &id, Some(&cid))?
                    .ok_or_else(|| ApiError::NotFound(format!("no exam `{id}`")))?;
                let one = seats
                    .into_iter()
                    .next()
                    .ok_or_else(|| ApiError::NotFound(format!("no center `{cid}`")))?;
                cached(&one, inm.as_deref(), LIVE)
            })
            .await
        })
        .boxed();

    all.or(exams)
        .unify()
        .or(exam)
        .unify()
        .or(exam_part)
        .unify()
        .or(center)
        .unify()
        .or(center_seats)
        .unify()
        .boxed()
}
