//! Photo blob endpoints (protocol.md "Photo blobs"): `PUT /api/blobs/{sha256}` for a candidate's
//! upload, `GET`/`HEAD /api/blobs/{sha256}` for its owner and for operators of the center its
//! registration chose.

use bytes::Bytes;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::operators::load_operator;
use super::{AccountCtx, account_auth, json, run, session, with_app};
use crate::app::App;
use crate::error::ApiError;
use crate::identity::sessions::{Owner, Session};
use crate::registration::blobs::{self, Digest, Stored};
use crate::store::Txn;
use crate::store::audit::{Actor, AuditEvent};

/// `Cache-Control` of a blob: private (personal data), and immutable because the URL names the
/// content.
const CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// The exam session whose photo rules apply (default rules without it).
    exam: Option<String>,
}

/// The path's digest: 400 unless it is 64 hexadecimal digits, before anything else is read.
async fn parse_digest(text: String) -> Result<Digest, Rejection> {
    blobs::parse_digest(&text).ok_or_else(|| {
        warp::reject::custom(ApiError::BadRequest(
            "a blob is named by its SHA-256: 64 hexadecimal digits".into(),
        ))
    })
}

/// The photo rules of the upload, once its declared length is known to fit them: 411 without a
/// Content-Length, 413 above the limit, before a byte of the body is read. This does what warp's
/// `content_length_limit` does, but per request: the limit follows the named exam's rules in the
/// catalog being served, which an import can change while the server runs. hyper then reads no
/// more than the declared length.
fn upload_rules(
    app: App,
) -> impl Filter<Extract = (baoming_core::photo::PhotoRules,), Error = Rejection> + Clone {
    warp::query::<UploadQuery>().and(warp::header::optional::<u64>("content-length")).and_then(
        move |q: UploadQuery, length: Option<u64>| {
            let app = app.clone();
            async move {
                let rules = blobs::rules_for(&app, q.exam.as_deref()).map_err(warp::reject::custom)?;
                let max = blobs::upload_limit(&rules);
                match length {
                    None => Err(warp::reject::custom(ApiError::LengthRequired)),
                    Some(bytes) if bytes > max => Err(warp::reject::custom(ApiError::PhotoTooLarge {
                        bytes,
                        max,
                        rules_max: rules.max_bytes,
                    })),
                    Some(_) => Ok(rules),
                }
            }
        },
    )
}

async fn upload(
    app: &App,
    account: &str,
    digest: Digest,
    rules: baoming_core::photo::PhotoRules,
    body: Bytes,
) -> Result<Response, ApiError> {
    let actual = crate::store::crypto::sha256(&body);
    if actual != digest {
        return Err(ApiError::invalid(
            "digest_mismatch",
            format!(
                "the body's SHA-256 is {} but the path names {}",
                hex::encode(actual),
                hex::encode(digest)
            ),
        ));
    }
    let permit = app.photo_checks.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let bytes = body.clone();
    let report = tokio::task::spawn_blocking(move || baoming_core::photo::check(&bytes, &rules))
        .await
        .map_err(|e| ApiError::Internal(format!("photo check task: {e}")))?;
    drop(permit);
    if !report.passed() {
        return Err(ApiError::PhotoRejected(Box::new(report)));
    }
    let status = match blobs::store(app, &digest, account, &body).await? {
        Stored::New => StatusCode::CREATED,
        Stored::Already => StatusCode::OK,
    };
    Ok(json(
        status,
        &serde_json::json!({
            "sha256": hex::encode(digest),
            "bytes": body.len(),
            "width": report.width,
            "height": report.height,
            "report": report,
        }),
    ))
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such blob".into())
}

/// Owner or operator read; anyone else, and a blob that does not exist, get the same 404.
async fn download(
    app: &App,
    session: &Session,
    digest: Digest,
    if_none_match: Option<String>,
) -> Result<Response, ApiError> {
    match &session.owner {
        Owner::Account(account) => {
            if !blobs::owns(&*app.store, &digest, account)? {
                return Err(not_found());
            }
        }
        Owner::Operator(id) => {
            let op = load_operator(app, id)?;
            let reference =
                blobs::referencing_registration(app, &op, &digest).await?.ok_or_else(not_found)?;
            let event = AuditEvent::new(Actor::Operator(op.id.clone()), "blob.read", hex::encode(digest))
                .with(serde_json::json!({
                    "account": reference.account,
                    "document": reference.document.to_string(),
                    "center": reference.center,
                }));
            app.commit(Txn::new(), event).await?;
        }
    }
    let etag = format!("\"{}\"", hex::encode(digest));
    let headers = |resp: &mut Response| {
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
    };
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        let mut resp = Response::new(Default::default());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        headers(&mut resp);
        return Ok(resp);
    }
    let store = std::sync::Arc::clone(&app.store);
    let app2 = std::sync::Arc::clone(app);
    let bytes = tokio::task::spawn_blocking(move || blobs::read(&*store, &app2.keys, &digest))
        .await
        .map_err(|e| ApiError::Internal(format!("blob read task: {e}")))??
        .ok_or_else(not_found)?;
    let mut resp = Response::new(bytes.into());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers(&mut resp);
    Ok(resp)
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let put = warp::path!("api" / "blobs" / String)
        .and(warp::put())
        .and_then(parse_digest)
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and(upload_rules(app.clone()))
        .and(warp::body::bytes())
        .and_then(
            |digest: Digest,
             app: App,
             ctx: AccountCtx,
             rules: baoming_core::photo::PhotoRules,
             body: Bytes| async move {
                run(&app, upload(&app, &ctx.account_id, digest, rules, body)).await
            },
        )
        .boxed();
    let get = warp::path!("api" / "blobs" / String)
        .and(warp::get().or(warp::head()).unify())
        .and_then(parse_digest)
        .and(with_app(app.clone()))
        .and(session(app))
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(|digest: Digest, app: App, session: Session, inm: Option<String>| async move {
            run(&app, download(&app, &session, digest, inm)).await
        })
        .boxed();
    put.or(get).unify().boxed()
}
