//! The sync endpoint (protocol.md §8): a WebSocket speaking automerge-repo protocol "1" with
//! Baoming's refusal extension, authenticated at the upgrade by a bearer token, a ticket or the
//! sync cookie (the cookie only from the server's own origin or a configured one); the HTTP
//! batch form; the tickets and the cookie for clients that cannot set headers on a WebSocket
//! request. A connection closes with [`SESSION_ENDED_CLOSE_CODE`] as soon as its session ends.
//! The protocol itself is the registration domain's ([`crate::registration::sync`]); this module
//! moves its frames.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use baoming_core::api::paths;
use baoming_core::api::sync::{
    SESSION_ENDED_CLOSE_CODE, SYNC_COOKIE, SYNC_COOKIE_PATH, SessionEnd, SyncCookie, SyncQuery, SyncTicket,
};
use baoming_core::document::DocumentId;
use baoming_core::wire::{self, BatchRequest, MAX_FRAME_BYTES, WireMessage};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::error::ApiError;
use super::extract::{Answer, Candidate, bearer, json};
use super::upgrade::{ServerSocket, WsUpgrade};
use crate::identity::session_end::SessionWatch;
use crate::identity::sync_access::{SyncCredential, TICKET_TTL_SECS};
use crate::registration::sync::{SyncSession, error_frame};
use crate::state::App;

/// Time allowed for the `join` after the upgrade.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages a connection may send per second, sustained, and in a burst.
const RATE_PER_SEC: f64 = 50.0;
const RATE_BURST: f64 = 200.0;
/// Initial read buffer of a connection. Sync frames of an idle device are small; the buffer
/// grows for a larger frame (up to [`MAX_FRAME_BYTES`]) only while it is read.
const READ_BUFFER_BYTES: usize = 4096;

type Tx = SplitSink<ServerSocket, Message>;
type Rx = SplitStream<ServerSocket>;
/// The end of the connection's session, polled alongside its frames.
type Ended<'a> = Pin<&'a mut (dyn Future<Output = SessionEnd> + Send + 'a)>;

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// `POST /api/sync/tickets`.
pub(super) async fn ticket(app: App, who: Candidate) -> Answer {
    let ticket = app.identity.issue_sync_ticket(&who.session)?;
    Ok(json(StatusCode::CREATED, &SyncTicket { ticket, expires_in: TICKET_TTL_SECS }))
}

/// The `Set-Cookie` value of the sync cookie: `value` for `max_age` seconds (0 deletes it).
pub(super) fn cookie_header(app: &App, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = if app.config.web.https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SYNC_COOKIE}={value}; Path={SYNC_COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /api/sync/cookie`: sets the sync cookie of the caller's session.
pub(super) async fn cookie(app: App, who: Candidate) -> Answer {
    let cookie = app.identity.sync_cookie(&who.session)?;
    let max_age = cookie.expires.saturating_sub(app.db.clock().now_secs()).max(0);
    let mut resp = json(
        StatusCode::OK,
        &SyncCookie { cookie: SYNC_COOKIE.into(), path: SYNC_COOKIE_PATH.into(), expires_at: cookie.expires },
    );
    resp.headers_mut().insert(header::SET_COOKIE, cookie_header(&app, &cookie.value, max_age)?);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// What a WebSocket upgrade carries to authenticate: its headers and its query.
#[derive(Debug)]
pub(super) struct UpgradeAuth {
    headers: HeaderMap,
    query: SyncQuery,
}

/// The credentials of `GET /api/sync`.
pub(super) fn upgrade_auth() -> impl Filter<Extract = (UpgradeAuth,), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and(warp::query::<SyncQuery>())
        .map(|headers, query| UpgradeAuth { headers, query })
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The value of the sync cookie among the request's cookies.
fn sync_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SYNC_COOKIE)
        .map(|(_, value)| value.trim())
}

/// A cookie is sent by the browser whichever page opens the socket: only pages of the server's
/// own origin (`http[s]://<Host>`) and of the configured origins may use it.
fn check_origin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = header_text(headers, header::ORIGIN) else {
        return Err(ApiError::OriginRefused(format!(
            "a WebSocket authenticated by the sync cookie needs the {} header",
            paths::ORIGIN
        )));
    };
    let origin = origin.to_ascii_lowercase();
    let scheme = if app.config.web.https { "https" } else { "http" };
    let own =
        header_text(headers, header::HOST).map(|host| format!("{scheme}://{}", host.to_ascii_lowercase()));
    if own.as_deref() == Some(origin.as_str()) || app.config.web.origins.contains(&origin) {
        return Ok(());
    }
    Err(ApiError::OriginRefused(format!("pages of {origin} may not sync with this server's cookie")))
}

/// A ticket (query), else a bearer token (header), else the sync cookie (from an allowed
/// origin), checked before the upgrade; the account and the watch on its session.
fn authenticate(app: &App, auth: &UpgradeAuth) -> Result<(String, SessionWatch), ApiError> {
    let credential = if let Some(t) = &auth.query.ticket {
        SyncCredential::Ticket(t)
    } else if let Some(h) = header_text(&auth.headers, header::AUTHORIZATION) {
        SyncCredential::Bearer(bearer(Some(h))?)
    } else if let Some(c) = sync_cookie(&auth.headers) {
        check_origin(app, &auth.headers)?;
        SyncCredential::Cookie(c)
    } else {
        return Err(ApiError::Unauthorized(
            "send Authorization: Bearer <token>, ?ticket=<ticket> or the sync cookie",
        ));
    };
    Ok(app.identity.sync_session(credential)?)
}

/// `GET /api/sync`: the WebSocket upgrade.
pub(super) async fn socket(app: App, auth: UpgradeAuth, ws: WsUpgrade) -> Answer {
    let (account, watch) = authenticate(&app, &auth)?;
    Ok(ws.on_upgrade(socket_config(), move |socket| connection(app, account, watch, socket)))
}

/// `POST /api/sync/batch` (CBOR body).
pub(super) async fn batch(app: App, who: Candidate, body: Bytes) -> Answer {
    let req =
        BatchRequest::decode(&body).map_err(|e| ApiError::MalformedCbor(format!("{}: {e}", e.code())))?;
    let body = app.registrations.sync_batch(&who.account, &req).await?;
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/cbor"));
    Ok(resp)
}

/// `GET /api/sync/documents/{documentId}`: the server's copy (CBOR).
pub(super) async fn copy(document_id: String, app: App, who: Candidate) -> Answer {
    let body = app.registrations.document_copy(&who.account, &document_id).await?;
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/cbor"));
    Ok(resp)
}

fn frame(message: &WireMessage) -> Message {
    Message::binary(wire::encode(message))
}

/// Closes the connection of a session that ended, with [`SESSION_ENDED_CLOSE_CODE`] and the
/// reason.
async fn close_ended(tx: &mut Tx, why: SessionEnd) {
    tracing::info!(%why, "closing a sync connection: its session ended");
    let frame = CloseFrame { code: SESSION_ENDED_CLOSE_CODE.into(), reason: why.as_str().into() };
    let _ = tx.send(Message::Close(Some(frame))).await;
    let _ = tx.close().await;
}

/// The handshake: the first frame must be a `join` that speaks version "1", within
/// [`JOIN_TIMEOUT`]. `None` when the connection ended instead.
async fn handshake(
    app: &App,
    account: String,
    tx: &mut Tx,
    rx: &mut Rx,
    ended: &mut Ended<'_>,
) -> Option<(SyncSession, mpsc::UnboundedReceiver<DocumentId>)> {
    let first = tokio::select! {
        biased;
        why = ended.as_mut() => {
            close_ended(tx, why).await;
            return None;
        }
        first = tokio::time::timeout(JOIN_TIMEOUT, rx.next()) => first,
    };
    let joined = match first {
        Ok(Some(Ok(Message::Binary(m)))) => app.registrations.join(account, &m),
        _ => Err(Box::new(error_frame("join_required: send `join` first"))),
    };
    match joined {
        Ok((session, reply, pushes)) => tx.send(frame(&reply)).await.is_ok().then_some((session, pushes)),
        Err(refusal) => {
            let _ = tx.send(frame(&refusal)).await;
            let _ = tx.close().await;
            None
        }
    }
}

/// One connection: the handshake, then frames in and out until either side ends it or its
/// session ends.
async fn connection(app: App, account: String, mut watch: SessionWatch, socket: ServerSocket) {
    let (mut tx, mut rx) = socket.split();
    let ended = watch.ended();
    tokio::pin!(ended);
    let mut ended: Ended<'_> = ended;
    let Some((mut session, mut pushes)) = handshake(&app, account, &mut tx, &mut rx, &mut ended).await else {
        return;
    };
    let mut tokens = RATE_BURST;
    let mut last = Instant::now();
    loop {
        let outgoing = tokio::select! {
            // A session that ended closes the connection before anything else it sent counts.
            biased;
            why = ended.as_mut() => {
                session.close();
                close_ended(&mut tx, why).await;
                return;
            }
            incoming = rx.next() => {
                let msg = match incoming {
                    Some(Ok(Message::Binary(msg))) => msg,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    // Pings are answered by the socket itself; text frames are not ours.
                    Some(Ok(_)) => continue,
                };
                let elapsed = last.elapsed().as_secs_f64();
                last = Instant::now();
                tokens = (tokens + elapsed * RATE_PER_SEC).min(RATE_BURST) - 1.0;
                if tokens < 0.0 {
                    vec![error_frame("rate_limited: too many messages; reconnect later")]
                } else {
                    session.handle(&msg).await
                }
            }
            Some(doc) = pushes.recv() => session.push(doc).await,
        };
        let mut closing = false;
        for m in &outgoing {
            closing |= matches!(m, WireMessage::Error { .. });
            if tx.send(frame(m)).await.is_err() {
                closing = true;
                break;
            }
        }
        if closing {
            break;
        }
    }
    session.close();
    let _ = tx.close().await;
}
