//! The sync endpoint (protocol.md §8): a WebSocket speaking automerge-repo protocol "1" with
//! Baoming's refusal extension, authenticated at the upgrade; the HTTP batch form; and the
//! tickets for clients that cannot set headers on a WebSocket request. The protocol itself is
//! the registration domain's ([`crate::registration::sync`]); this module moves its frames.

use std::time::{Duration, Instant};

use baoming_core::api::sync::{SyncQuery, SyncTicket};
use baoming_core::wire::{self, BatchRequest, MAX_FRAME_BYTES, WireMessage};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::ApiError;
use super::extract::{Answer, Candidate, bearer, json};
use super::upgrade::{ServerSocket, WsUpgrade};
use crate::identity::sessions::Owner;
use crate::registration::hub::TICKET_TTL;
use crate::registration::sync::error_frame;
use crate::state::App;

/// Time allowed for the `join` after the upgrade.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages a connection may send per second, sustained, and in a burst.
const RATE_PER_SEC: f64 = 50.0;
const RATE_BURST: f64 = 200.0;
/// Initial read buffer of a connection. Sync frames of an idle device are small; the buffer
/// grows for a larger frame (up to [`MAX_FRAME_BYTES`]) only while it is read.
const READ_BUFFER_BYTES: usize = 4096;

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// `POST /api/sync/tickets`.
pub(super) async fn ticket(app: App, who: Candidate) -> Answer {
    let ticket = app.registrations.hub.issue_ticket(&who.account);
    Ok(json(StatusCode::CREATED, &SyncTicket { ticket, expires_in: TICKET_TTL.as_secs() }))
}

/// Bearer token (header) or single-use ticket (query), checked before the upgrade.
fn authenticate(app: &App, auth: Option<String>, ticket: Option<String>) -> Result<String, ApiError> {
    if let Some(t) = ticket {
        return app
            .registrations
            .hub
            .redeem_ticket(&t)
            .ok_or(ApiError::Unauthorized("the sync ticket is unknown, used or expired"));
    }
    let header =
        auth.ok_or(ApiError::Unauthorized("send Authorization: Bearer <token> or ?ticket=<ticket>"))?;
    match app.identity.session(bearer(Some(&header))?)?.owner {
        Owner::Account(id) => Ok(id),
        Owner::Operator(_) => {
            Err(ApiError::Unauthorized("an operator token cannot sync candidate documents"))
        }
    }
}

/// `GET /api/sync`: the WebSocket upgrade.
pub(super) async fn socket(app: App, auth: Option<String>, query: SyncQuery, ws: WsUpgrade) -> Answer {
    let account = authenticate(&app, auth, query.ticket)?;
    Ok(ws.on_upgrade(socket_config(), move |socket| connection(app, account, socket)))
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

/// One connection: the handshake, then frames in and out until either side ends it.
async fn connection(app: App, account: String, socket: ServerSocket) {
    let (mut tx, mut rx) = socket.split();
    // Handshake: the first frame must be a `join` that speaks version "1".
    let joined = match tokio::time::timeout(JOIN_TIMEOUT, rx.next()).await {
        Ok(Some(Ok(Message::Binary(m)))) => app.registrations.join(account, &m),
        _ => Err(Box::new(error_frame("join_required: send `join` first"))),
    };
    let (mut session, reply, mut pushes) = match joined {
        Ok(joined) => joined,
        Err(refusal) => {
            let _ = tx.send(frame(&refusal)).await;
            let _ = tx.close().await;
            return;
        }
    };
    if tx.send(frame(&reply)).await.is_err() {
        return;
    }
    let mut tokens = RATE_BURST;
    let mut last = Instant::now();
    loop {
        let outgoing = tokio::select! {
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
