//! The exam day: the candidate's PDF downloads and ticket code, the operator's room arrangement
//! and the check-in scan.

use baoming_core::api::documents::CheckInRequest;
use bytes::Bytes;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

use super::error::ApiError;
use super::extract::{Answer, Candidate, Staff, ok, parse_json};
use crate::state::App;

fn pdf(bytes: Vec<u8>, filename: &str) -> Answer {
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

/// `GET /api/registrations/{exam}/documents/{registration-form.pdf|admission-ticket.pdf|admission-ticket.code}`.
pub(super) async fn document(exam: String, what: String, app: App, who: Candidate) -> Answer {
    let days = &app.examday;
    match what.as_str() {
        "registration-form.pdf" => {
            let bytes = days.registration_form(&who.account, &exam).await?;
            pdf(bytes, &format!("registration-form-{}.pdf", safe(&exam)))
        }
        "admission-ticket.pdf" => {
            let bytes = days.admission_ticket(&who.account, &exam).await?;
            pdf(bytes, &format!("admission-ticket-{}.pdf", safe(&exam)))
        }
        "admission-ticket.code" => ok(&days.admission_ticket_code(&who.account, &exam).await?),
        other => Err(ApiError::NotFound(format!("no document `{other}`"))),
    }
}

/// `GET /api/operator/exams/{exam}/centers/{center}/arrangement`.
pub(super) async fn arrangement(exam: String, center: String, app: App, who: Staff) -> Answer {
    ok(&app.examday.arrangement(&who.operator, &exam, &center)?)
}

/// `POST /api/operator/exams/{exam}/centers/{center}/arrangement`.
pub(super) async fn arrange(exam: String, center: String, app: App, who: Staff) -> Answer {
    ok(&app.examday.arrange(&who.operator, &exam, &center).await?)
}

/// `POST /api/operator/exams/{exam}/check-in` `{code}`.
pub(super) async fn check_in(exam: String, app: App, who: Staff, body: Bytes) -> Answer {
    let req: CheckInRequest = parse_json(&body)?;
    ok(&app.examday.check_in(&who.operator, &exam, &req.code).await?)
}
