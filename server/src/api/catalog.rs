//! The public catalog with ETag / If-None-Match, and live seat availability.

use baoming_core::api::catalog::{CenterDetail, CenterSubject, ExamAvailability, ExamSummary};
use serde::Serialize;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::ApiError;
use super::extract::Answer;
use crate::catalog::CatalogView;
use crate::state::App;
use crate::store::crypto::sha256;

const STATIC: &str = "public, max-age=60, must-revalidate";
const LIVE: &str = "no-cache";

/// Serialises `value` and answers with an ETag, or `304` when the client's copy is current.
fn cached<T: Serialize>(value: &T, if_none_match: Option<&str>, cache_control: &'static str) -> Answer {
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

fn view(app: &App) -> Result<std::sync::Arc<CatalogView>, ApiError> {
    app.catalogs.current().ok_or_else(|| ApiError::NotFound("no catalog has been imported".into()))
}

/// `GET /api/catalog`.
pub(super) async fn catalog(app: App, inm: Option<String>) -> Answer {
    cached(&view(&app)?.catalog, inm.as_deref(), STATIC)
}

/// `GET /api/exams`.
pub(super) async fn exams(app: App, inm: Option<String>) -> Answer {
    let v = view(&app)?;
    let list: Vec<ExamSummary> = v
        .catalog
        .exams
        .iter()
        .map(|e| ExamSummary {
            id: e.id.clone(),
            name: e.name.clone(),
            registration: e.registration,
            printing: e.printing,
            subject_cap: e.subject_cap,
            payment_window_hours: e.payment_window_hours,
            agreement_version: e.agreement.version.clone(),
        })
        .collect();
    cached(&list, inm.as_deref(), STATIC)
}

/// `GET /api/exams/{exam}`.
pub(super) async fn exam(exam: String, app: App, inm: Option<String>) -> Answer {
    part(exam, String::new(), app, inm).await
}

/// `GET /api/exams/{exam}/{part}`: agreement, announcements, guide, form, subjects, slots,
/// centers, or the live availability.
pub(super) async fn part(exam_id: String, what: String, app: App, inm: Option<String>) -> Answer {
    let v = view(&app)?;
    let exam = v.catalog.exam(&exam_id).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam_id}`")))?;
    let inm = inm.as_deref();
    match what.as_str() {
        "" => cached(exam, inm, STATIC),
        "agreement" => cached(&exam.agreement, inm, STATIC),
        "announcements" => cached(&exam.announcements, inm, STATIC),
        "guide" => cached(&exam.guide, inm, STATIC),
        "form" => cached(&exam.form, inm, STATIC),
        "subjects" => cached(&exam.subjects, inm, STATIC),
        "slots" => cached(&exam.slots, inm, STATIC),
        "centers" => cached(&exam.centers, inm, STATIC),
        "availability" => {
            let seats = app.catalogs.availability(&exam_id, None)?;
            cached(&ExamAvailability { exam: exam_id.clone(), centers: seats }, inm, LIVE)
        }
        other => Err(ApiError::NotFound(format!("no such catalog resource `{other}`"))),
    }
}

/// `GET /api/exams/{exam}/centers/{center}`: the center with its subjects.
pub(super) async fn center(exam_id: String, center_id: String, app: App, inm: Option<String>) -> Answer {
    let v = view(&app)?;
    let exam = v.catalog.exam(&exam_id).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam_id}`")))?;
    let center =
        exam.center(&center_id).ok_or_else(|| ApiError::NotFound(format!("no center `{center_id}`")))?;
    let subjects: Vec<_> = center
        .subjects
        .iter()
        .map(|o| {
            let s = exam.subject(&o.code);
            CenterSubject {
                code: o.code.clone(),
                capacity: o.capacity,
                fee_fen: o.fee_fen,
                name: s.map(|s| s.name.clone()),
                slot: s.and_then(|s| exam.slot(&s.slot)).cloned(),
            }
        })
        .collect();
    cached(&CenterDetail { center: center.clone(), subjects }, inm.as_deref(), STATIC)
}

/// `GET /api/exams/{exam}/centers/{center}/availability`.
pub(super) async fn center_availability(
    exam: String,
    center: String,
    app: App,
    inm: Option<String>,
) -> Answer {
    let one = app
        .catalogs
        .availability(&exam, Some(&center))?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no center `{center}`")))?;
    cached(&one, inm.as_deref(), LIVE)
}
