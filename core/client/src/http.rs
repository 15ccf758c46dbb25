//! The client's plain HTTP calls, blocking (ureq with rustls), run on tokio's blocking pool by
//! the async callers: photo blob uploads (`PUT /api/blobs/{sha256}`), the batch form of sync
//! (`POST /api/sync/batch`) and the outbox's lifecycle actions
//! (`POST /api/registrations/{exam}/{action}`). Paths, headers and bodies are the REST
//! contract's (`baoming_core::api`); error answers are read as its `ErrorBody`.

use std::collections::HashSet;
use std::time::Duration;

use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::registrations::RegistrationView;
use baoming_core::wire::{BatchRequest, BatchResponse, MAX_FRAME_BYTES};
use serde::Serialize;

use crate::error::{ClientError, ErrorAnswer, local_codes};
use crate::events::{ClientEvent, UploadEvent};
use crate::outbox::{ActionKind, ActionRefusal, ActionResult, QueuedAction};
use crate::state::{Inner, PhotoFailure};

/// Builds the HTTP agent: errors are statuses we read, not ureq errors.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("baoming-core/", env!("CARGO_PKG_VERSION")))
            .build(),
    )
}

/// The value of the [`paths::AUTHORIZATION`] header for `token`.
pub(crate) fn bearer(token: &str) -> String {
    format!("{}{token}", paths::BEARER_PREFIX)
}

fn network(e: ureq::Error) -> ClientError {
    match e {
        ureq::Error::Timeout(t) => ClientError::Timeout(format!("HTTP request ({t})")),
        other => ClientError::Network(other.to_string()),
    }
}

/// A response's status and body (bounded), with the headers the account calls read.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The [`paths::ETAG`] header.
    pub(crate) etag: Option<String>,
    /// The [`paths::CAPTCHA_ID`] header.
    pub(crate) captcha_id: Option<String>,
    /// The [`paths::RETRY_AFTER`] header, in its delta-seconds form (see [`retry_after`]).
    pub(crate) retry_after: Option<Duration>,
}

/// One request of the account calls: any method, optional headers, a JSON body or none.
pub(crate) struct Request<'a> {
    agent: &'a ureq::Agent,
    method: &'a str,
    url: String,
    headers: Vec<(String, String)>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(agent: &'a ureq::Agent, method: &'a str, url: String) -> Request<'a> {
        Request { agent, method, url, headers: Vec::new() }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Request<'a> {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends `body` as JSON.
    pub(crate) fn json<T: Serialize>(self, body: &T) -> Result<Answer, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.run(Some(bytes))
    }

    pub(crate) fn empty(self) -> Result<Answer, ClientError> {
        self.run(None)
    }

    fn run(self, body: Option<Vec<u8>>) -> Result<Answer, ClientError> {
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut req = $req;
                for (k, v) in &self.headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                req
            }};
        }
        let resp = match (self.method, body) {
            ("GET", _) => with_headers!(self.agent.get(&self.url)).call(),
            ("DELETE", _) => with_headers!(self.agent.delete(&self.url)).call(),
            (method, body) => {
                let req = match method {
                    "PUT" => self.agent.put(&self.url),
                    _ => self.agent.post(&self.url),
                };
                let req = with_headers!(req);
                match body {
                    Some(b) => req.content_type(paths::JSON).send(&b[..]),
                    None => req.send_empty(),
                }
            }
        };
        read(resp.map_err(network)?)
    }
}

fn read(mut resp: ureq::http::Response<ureq::Body>) -> Result<Answer, ClientError> {
    let status = resp.status().as_u16();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (etag, captcha_id) = (header(paths::ETAG), header(paths::CAPTCHA_ID));
    let retry_after = header(paths::RETRY_AFTER).as_deref().and_then(retry_after);
    let body =
        resp.body_mut().with_config().limit(MAX_FRAME_BYTES as u64 + 1).read_to_vec().map_err(network)?;
    Ok(Answer { status, body, etag, captcha_id, retry_after })
}

/// Longest wait a `Retry-After` is taken at its word for (a larger one is capped to it).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` value in seconds (`120`), capped at [`MAX_RETRY_AFTER`]. The HTTP-date form
/// and anything else are ignored: the client's own backoff applies then.
fn retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

impl Answer {
    /// This answer read as an error answer of the contract.
    pub(crate) fn error(&self) -> ErrorAnswer {
        ErrorAnswer { retry_after: self.retry_after, ..ErrorAnswer::parse(self.status, &self.body) }
    }

    /// The error this (unexpected) answer stands for (see [`ErrorAnswer::into_error`]).
    pub(crate) fn into_error(self) -> ClientError {
        self.error().into_error()
    }
}

fn send(req: ureq::RequestBuilder<ureq::typestate::WithBody>, body: &[u8]) -> Result<Answer, ClientError> {
    read(req.send(body).map_err(network)?)
}

/// Uploads one photo. `Ok` means the server has it.
fn put_blob(inner: &Inner, sha256: &str, jpeg: &[u8]) -> Result<(), ClientError> {
    let url = format!("{}{}", inner.http_base, paths::blob(sha256));
    let req =
        inner.agent.put(&url).header(paths::AUTHORIZATION, &bearer(&inner.token())).content_type(paths::JPEG);
    upload_answer(sha256, &send(req, jpeg)?)
}

/// Reads the answer to a photo upload.
fn upload_answer(sha256: &str, answer: &Answer) -> Result<(), ClientError> {
    match answer.status {
        200 | 201 => Ok(()),
        401 => Err(ClientError::Unauthorized),
        // The photo itself is refused (too large, not the digest its name says, against the
        // rules): the same bytes will never do.
        413 | 422 => {
            let refused = answer.error();
            let code = if refused.code_text.is_empty() {
                let code =
                    if answer.status == 413 { ErrorCode::PayloadTooLarge } else { ErrorCode::PhotoRejected };
                code.as_str().to_owned()
            } else {
                refused.code_text
            };
            Err(ClientError::PhotoRejected { sha256: sha256.to_owned(), code, message: refused.body.message })
        }
        _ => Err(answer.error().into_server_error()),
    }
}

/// Uploads every photo waiting in the store, in order, reporting progress. A photo the server
/// refused before (in this client's life) is not sent again; its failure stays recorded so the
/// registration referencing it stays held back. Returns the photos still waiting.
///
/// Authentication and network failures end the round with an error (the whole exchange is
/// retried later); a refused photo or another server error is recorded and the round goes on.
pub(crate) fn upload_pending(inner: &Inner) -> Result<HashSet<String>, ClientError> {
    let pending = inner.docs().store.pending_uploads()?;
    let todo: Vec<String> = pending
        .iter()
        .filter(|sha| !inner.photo_failure(sha).is_some_and(|f| f.permanent()))
        .cloned()
        .collect();
    let total = todo.len();
    let mut still: HashSet<String> = pending.into_iter().collect();
    for (i, sha) in todo.iter().enumerate() {
        inner.emit(ClientEvent::Upload(UploadEvent::Started { sha256: sha.clone(), index: i + 1, total }));
        let jpeg = inner.docs().store.get_photo(sha);
        let result = match jpeg {
            Ok(Some(jpeg)) => put_blob(inner, sha, &jpeg),
            Ok(None) => Err(ClientError::PhotoRejected {
                sha256: sha.clone(),
                code: local_codes::MISSING_LOCALLY.into(),
                message: "the photo is no longer in the local store; choose it again".into(),
            }),
            Err(e) => Err(e.into()),
        };
        let failure = match result {
            Ok(()) => {
                inner.docs().store.mark_uploaded(sha)?;
                inner.clear_photo_failure(sha);
                still.remove(sha);
                inner.emit(ClientEvent::Upload(UploadEvent::Uploaded { sha256: sha.clone() }));
                continue;
            }
            Err(e @ (ClientError::Unauthorized | ClientError::Network(_) | ClientError::Timeout(_))) => {
                inner.emit(ClientEvent::Upload(UploadEvent::Failed {
                    sha256: sha.clone(),
                    permanent: false,
                    message: e.to_string(),
                }));
                return Err(e);
            }
            Err(ClientError::PhotoRejected { code, message, .. }) => PhotoFailure::Rejected { code, message },
            Err(ClientError::Server { status, code, code_text, message, .. }) => {
                PhotoFailure::Server { status, code, code_text, message }
            }
            Err(other) => PhotoFailure::Local { message: other.to_string() },
        };
        inner.emit(ClientEvent::Upload(UploadEvent::Failed {
            sha256: sha.clone(),
            permanent: failure.permanent(),
            message: failure.to_error(sha).to_string(),
        }));
        inner.record_photo_failure(sha, failure);
    }
    Ok(still)
}

/// One round of the batch form: the device's messages for one document in, the server's out.
pub(crate) fn post_batch(
    inner: &Inner,
    request: &BatchRequest,
    exam_id: &str,
) -> Result<BatchResponse, ClientError> {
    let url = format!("{}{}", inner.http_base, paths::SYNC_BATCH);
    let req = inner
        .agent
        .post(&url)
        .header(paths::AUTHORIZATION, &bearer(&inner.token()))
        .content_type(paths::CBOR);
    let answer = send(req, &request.encode())?;
    match answer.status {
        200 => BatchResponse::decode(&answer.body)
            .map_err(|e| ClientError::Protocol(format!("batch response: {}: {e}", e.code()))),
        401 => Err(ClientError::Unauthorized),
        404 => Err(ClientError::DocumentUnavailable(exam_id.to_owned())),
        _ => Err(answer.error().into_server_error()),
    }
}

/// Sends one queued lifecycle action with its stored idempotency key. `Ok` is a final answer
/// (done or a typed refusal); `Err` is [`ClientError::Unauthorized`] or a transient failure
/// (network, timeout, 408, 429, 5xx, an undecodable success body) after which the action stays
/// queued.
pub(crate) fn post_action(inner: &Inner, action: &QueuedAction) -> Result<ActionResult, ClientError> {
    let path = paths::registration_action(&action.exam_id, action.kind.action());
    let url = format!("{}{path}", inner.http_base);
    let mut req = inner
        .agent
        .post(&url)
        .header(paths::AUTHORIZATION, &bearer(&inner.token()))
        .header(paths::IDEMPOTENCY_KEY, &action.idempotency_key);
    if action.kind == ActionKind::Submit {
        req = req.content_type(paths::JSON);
    }
    let answer = send(req, &action.body())?;
    classify_action_answer(action.kind, &answer)
}

/// Sorts the answer to a lifecycle action into final (`Ok`) and not (`Err`).
fn classify_action_answer(kind: ActionKind, answer: &Answer) -> Result<ActionResult, ClientError> {
    match answer.status {
        200 => serde_json::from_slice::<RegistrationView>(&answer.body)
            .map(|s| ActionResult::Done(Box::new(s)))
            .map_err(|e| ClientError::Protocol(format!("the answer to {kind} is not a registration: {e}"))),
        401 => Err(ClientError::Unauthorized),
        408 | 429 | 500..=599 => Err(answer.error().into_server_error()),
        status => {
            let refused = answer.error();
            let code_text =
                if refused.code_text.is_empty() { local_codes::http(status) } else { refused.code_text };
            Ok(ActionResult::Refused(ActionRefusal {
                code: refused.body.code,
                code_text,
                http_status: status,
                message: refused.body.message,
                details: serde_json::Value::Object(refused.details),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baoming_core::api::error::{ErrorBody, SeatPool};
    use baoming_core::lifecycle::Status;
    use baoming_core::validate::IssueCode;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec(), etag: None, captcha_id: None, retry_after: None }
    }

    fn refusal(status: u16, body: &str) -> ActionRefusal {
        match classify_action_answer(ActionKind::Submit, &answer(status, body)) {
            Ok(ActionResult::Refused(r)) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn action_answers_are_final_or_transient() {
        let view = r#"{"document_id":"d","exam":"e","status":"submitted","status_label_zh":"已提交",
            "reason":null,"reason_paths":[],"deadline_ms":5,"center":"c","seats":["15"],
            "amount_fen":6000,"refund_due":false,"updated_at_ms":4,"order":null,"trade_no":null,
            "paid_at_ms":null,"refunded_fen":null,"ticket":null}"#;
        match classify_action_answer(ActionKind::Submit, &answer(200, view)) {
            Ok(ActionResult::Done(v)) => assert_eq!(
                (v.status, v.center.as_deref(), v.amount_fen, v.seats),
                (Status::Submitted, Some("c"), Some(6000), vec!["15".to_owned()])
            ),
            other => panic!("expected done, got {other:?}"),
        }
        let r = refusal(
            409,
            r#"{"code":"seat_gone","message":"no seat left","pools":[{"kind":"center","center":"c"}]}"#,
        );
        assert_eq!(
            (r.code, r.code_text.as_str(), r.http_status, r.message.as_str()),
            (ErrorCode::SeatGone, "seat_gone", 409, "no seat left")
        );
        assert_eq!(
            r.details,
            serde_json::json!({ "pools": [{ "kind": "center", "center": "c" }] }),
            "only the extras"
        );
        assert_eq!(r.body().pools, Some(vec![SeatPool::Center { center: "c".into() }]));
        let r = refusal(404, "not json");
        assert_eq!(
            (r.code, r.code_text.as_str(), r.details),
            (ErrorCode::Unknown, "http_404", serde_json::json!({}))
        );
        let busy = r#"{"code":"busy","message":"retry shortly"}"#;
        for status in [408, 429, 500, 502, 503] {
            let got = classify_action_answer(ActionKind::Submit, &answer(status, busy));
            assert!(
                matches!(got, Err(ClientError::Server { status: s, code: ErrorCode::Busy, .. }) if s == status),
                "{status}: {got:?}"
            );
        }
        let got = classify_action_answer(ActionKind::Submit, &answer(401, ""));
        assert!(matches!(got, Err(ClientError::Unauthorized)), "{got:?}");
        // An unreadable success is retried, and then answered from the server's stored answer.
        let got = classify_action_answer(ActionKind::ApplyForReview, &answer(200, "{}"));
        assert!(matches!(got, Err(ClientError::Protocol(_))), "{got:?}");
    }

    #[test]
    fn refusals_carry_the_error_bodys_details() {
        let r = refusal(
            422,
            r#"{"code":"invalid","message":"the draft is not complete or not valid","issues":[
                {"path":"draft.fields.name","code":"field_required","message_zh":"请填写姓名","message_en":"name is required"}]}"#,
        );
        assert_eq!((r.code, r.http_status), (ErrorCode::Invalid, 422));
        let issues = r.body().issues.expect("issues");
        assert_eq!(
            (issues[0].path.as_str(), issues[0].code),
            ("draft.fields.name", IssueCode::FieldRequired)
        );
        let r = refusal(409, r#"{"code":"transition_not_allowed","message":"m","status":"draft"}"#);
        assert_eq!((r.code, r.body().status), (ErrorCode::TransitionNotAllowed, Some(Status::Draft)));
        let r = refusal(409, r#"{"code":"window_closed","message":"m","opens":10,"closes":20}"#);
        assert_eq!((r.body().opens, r.body().closes), (Some(10), Some(20)));
        // A newer server's code is kept as it came.
        let r = refusal(409, r#"{"code":"from_the_future","message":"m","extra":1}"#);
        assert_eq!((r.code, r.code_text.as_str()), (ErrorCode::Unknown, "from_the_future"));
        assert_eq!(r.body(), ErrorBody::new(ErrorCode::Unknown, "m"));
        assert_eq!(r.details, serde_json::json!({ "extra": 1 }));
    }

    #[test]
    fn upload_refusals_are_photo_rejections() {
        let rejected = |status, body: &str| match upload_answer("ab", &answer(status, body)) {
            Err(ClientError::PhotoRejected { sha256, code, message }) => {
                assert_eq!(sha256, "ab");
                (code, message)
            }
            other => panic!("expected a photo rejection, got {other:?}"),
        };
        let body = r#"{"code":"photo_rejected","message":"the photo does not meet the photo rules: photo_file_too_small",
            "problems":[{"code":"photo_file_too_small","message_en":"too small","message_zh":"太小"}]}"#;
        assert_eq!(
            rejected(422, body),
            ("photo_rejected".into(), "the photo does not meet the photo rules: photo_file_too_small".into())
        );
        let body =
            r#"{"code":"payload_too_large","message":"m","limit_bytes":270336,"rules_max_bytes":204800}"#;
        assert_eq!(rejected(413, body).0, "payload_too_large");
        assert_eq!(rejected(413, "<html>too large</html>").0, "payload_too_large", "a proxy's 413");
        assert_eq!(rejected(422, r#"{"code":"digest_mismatch","message":"m"}"#).0, "digest_mismatch");
        assert!(upload_answer("ab", &answer(201, "{}")).is_ok());
        assert!(matches!(upload_answer("ab", &answer(401, "")), Err(ClientError::Unauthorized)));
        assert!(matches!(
            upload_answer("ab", &answer(503, r#"{"code":"busy","message":"m"}"#)),
            Err(ClientError::Server { status: 503, code: ErrorCode::Busy, .. })
        ));
    }
}
