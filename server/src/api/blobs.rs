//! Photo blobs (protocol.md "Photo blobs"): `PUT /api/blobs/{sha256}` for a candidate's upload,
//! `GET`/`HEAD /api/blobs/{sha256}` for its owner and for operators of the center its
//! registration chose.

use baoming_core::api::blobs::{PhotoUploadAnswer, UploadQuery};
use baoming_core::photo::PhotoRules;
use bytes::Bytes;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::error::ApiError;
use super::extract::{Answer, Candidate, json};
use crate::identity::sessions::{Owner, Session};
use crate::registration::blobs::{self, Digest, Reader, Stored};
use crate::state::App;

/// `Cache-Control` of a blob: private (personal data), and immutable because the URL names the
/// content.
const CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// `/api/blobs/{sha256}`: the digest, or 400 before anything else is read.
pub(super) fn blob_path() -> impl Filter<Extract = (Digest,), Error = Rejection> + Clone {
    warp::path!("api" / "blobs" / String).and_then(|text: String| async move {
        blobs::parse_digest(&text).ok_or_else(|| {
            warp::reject::custom(ApiError::BadRequest(
                "a blob is named by its SHA-256: 64 hexadecimal digits".into(),
            ))
        })
    })
}

/// The photo rules of the upload, once its declared length is known to fit them: 411 without a
/// Content-Length, 413 above the limit, before a byte of the body is read. This does what warp's
/// `content_length_limit` does, but per request: the limit follows the named exam's rules in the
/// catalog being served, which an import can change while the server runs. hyper then reads no
/// more than the declared length.
pub(super) fn upload_rules(app: App) -> impl Filter<Extract = (PhotoRules,), Error = Rejection> + Clone {
    warp::query::<UploadQuery>().and(warp::header::optional::<u64>("content-length")).and_then(
        move |q: UploadQuery, length: Option<u64>| {
            let app = app.clone();
            async move {
                let rules = app
                    .registrations
                    .photo_rules(q.exam.as_deref())
                    .map_err(|e| warp::reject::custom(ApiError::from(e)))?;
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

/// `PUT /api/blobs/{sha256}[?exam=]`: 201 stored for this account, 200 already owned.
pub(super) async fn upload(
    digest: Digest,
    app: App,
    who: Candidate,
    rules: PhotoRules,
    body: Bytes,
) -> Answer {
    let len = body.len();
    let up = app.registrations.upload_photo(&who.account, digest, rules, body).await?;
    let status = match up.stored {
        Stored::New => StatusCode::CREATED,
        Stored::Already => StatusCode::OK,
    };
    Ok(json(
        status,
        &PhotoUploadAnswer {
            sha256: hex::encode(digest),
            bytes: len as u64,
            width: up.report.width,
            height: up.report.height,
            report: up.report,
        },
    ))
}

/// `GET`/`HEAD /api/blobs/{sha256}`: owner or operator read; anyone else, and a blob that does
/// not exist, get the same 404.
pub(super) async fn download(
    digest: Digest,
    app: App,
    session: Session,
    if_none_match: Option<String>,
) -> Answer {
    match &session.owner {
        Owner::Account(account) => {
            app.registrations.check_photo_access(Reader::Account(account), &digest).await?
        }
        Owner::Operator(id) => {
            let op = app.identity.operator(id)?;
            app.registrations.check_photo_access(Reader::Operator(&op), &digest).await?;
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
    let bytes = app.registrations.read_photo(digest).await?;
    let mut resp = Response::new(bytes.into());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers(&mut resp);
    Ok(resp)
}
