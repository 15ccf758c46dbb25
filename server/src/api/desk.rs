//! The center's desk: review queue, statistics, roster CSV, notices and on-site confirmation —
//! plus the candidate's read of the notices of their center. Scoping is the desk's: an exam or
//! center the catalog does not have, and a center outside a center operator's list, are 404
//! `not_found` alike; auditors read every center but get 403 on every write.

use bytes::Bytes;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::extract::{Answer, Candidate, IdempotencyKey, Staff, json, no_content, ok, parse_json};
use crate::desk::notices::NoticeInput;
use crate::desk::onsite::Lookup;
use crate::state::App;

/// `GET /api/operator/exams/{exam}/centers/{center}/review?status&q&limit&cursor|offset`.
pub(super) async fn queue(
    exam: String,
    center: String,
    app: App,
    who: Staff,
    q: Vec<(String, String)>,
) -> Answer {
    let query = super::query::review_query(&q)?;
    ok(&app.desk.queue(&who.operator, &exam, &center, &query).await?)
}

/// `GET /api/operator/exams/{exam}/stats`.
pub(super) async fn stats(exam: String, app: App, who: Staff) -> Answer {
    ok(&app.desk.stats(&who.operator, &exam).await?)
}

/// `GET /api/operator/exams/{exam}/centers/{center}/roster.csv`.
pub(super) async fn roster(exam: String, center: String, app: App, who: Staff) -> Answer {
    let bytes = app.desk.roster_csv(&who.operator, &exam, &center).await?;
    let mut resp = Response::new(bytes.into());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"roster-{exam}-{center}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET …/notices`.
pub(super) async fn notices(exam: String, center: String, app: App, who: Staff) -> Answer {
    ok(&app.desk.notices(&who.operator, &exam, &center)?)
}

/// `POST …/notices`.
pub(super) async fn publish_notice(
    exam: String,
    center: String,
    app: App,
    who: Staff,
    body: Bytes,
) -> Answer {
    // The scope and the role come before the body is looked at.
    app.desk.may_write(&who.operator, &exam, &center)?;
    let input: NoticeInput = parse_json(&body)?;
    Ok(json(StatusCode::CREATED, &app.desk.publish_notice(&who.operator, &exam, &center, input).await?))
}

/// `GET …/notices/{id}`.
pub(super) async fn notice(exam: String, center: String, id: String, app: App, who: Staff) -> Answer {
    ok(&app.desk.notice(&who.operator, &exam, &center, &id)?)
}

/// `PUT …/notices/{id}`.
pub(super) async fn replace_notice(
    exam: String,
    center: String,
    id: String,
    app: App,
    who: Staff,
    body: Bytes,
) -> Answer {
    app.desk.may_write(&who.operator, &exam, &center)?;
    let input: NoticeInput = parse_json(&body)?;
    ok(&app.desk.replace_notice(&who.operator, &exam, &center, &id, input).await?)
}

/// `DELETE …/notices/{id}`.
pub(super) async fn delete_notice(exam: String, center: String, id: String, app: App, who: Staff) -> Answer {
    app.desk.delete_notice(&who.operator, &exam, &center, &id).await?;
    no_content()
}

/// `POST …/confirm` `{registration_id}` or `{name, id_document}` [+ `Idempotency-Key`].
pub(super) async fn confirm(
    exam: String,
    center: String,
    app: App,
    who: Staff,
    key: IdempotencyKey,
    body: Bytes,
) -> Answer {
    app.desk.may_write(&who.operator, &exam, &center)?;
    let lookup: Lookup = parse_json(&body)?;
    ok(&app.desk.confirm(&who.operator, &exam, &center, &lookup, key.as_deref(), &body).await?)
}

/// `GET /api/registrations/{exam}/notices`.
pub(super) async fn candidate_notices(exam: String, app: App, who: Candidate) -> Answer {
    ok(&app.desk.candidate_notices(&who.account, &exam).await?)
}
