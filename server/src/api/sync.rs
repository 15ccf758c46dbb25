//! The sync endpoint (protocol.md §8): a WebSocket speaking automerge-repo protocol "1" with
//! Baoming's refusal extension, authenticated at the upgrade, and the tickets for clients that
//! cannot set headers on a WebSocket request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baoming_core::document::DocumentId;
use baoming_core::sync::{PeerSync, Received};
use baoming_core::wire::{
    self, BatchRequest, BatchResponse, MAX_FRAME_BYTES, PROTOCOL_VERSION, PeerMetadata, RefusedItem,
    WireMessage,
};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::upgrade::{ServerSocket, WsUpgrade};
use super::{account_auth, json, run, with_app};
use crate::app::{App, now};
use crate::error::{ApiError, error_response};
use crate::identity::sessions::{self, Owner};
use crate::registration::hub::{Hub, LiveDoc};
use crate::store::{Tree, Txn};

/// The server's peer id on every connection.
pub(super) const SERVER_PEER_ID: &str = "baoming-server";
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

#[derive(Deserialize)]
struct TicketQuery {
    ticket: Option<String>,
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let (app_for_batch, auth_app) = (app.clone(), app.clone());
    let ticket = warp::path!("api" / "sync" / "tickets")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|app: App, ctx: super::AccountCtx| async move {
            run(&app, async {
                let ticket = app.hub.issue_ticket(&ctx.account_id);
                Ok(json(
                    StatusCode::CREATED,
                    &serde_json::json!({ "ticket": ticket, "expires_in": crate::registration::hub::TICKET_TTL.as_secs() }),
                ))
            })
            .await
        })
        .boxed();

    let socket = warp::path!("api" / "sync")
        .and(warp::get())
        .and(with_app(app))
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::query::<TicketQuery>())
        .and(super::upgrade::ws())
        .map(|app: App, auth: Option<String>, query: TicketQuery, ws: WsUpgrade| {
            match authenticate(&app, auth, query.ticket) {
                Ok(account) => ws.on_upgrade(socket_config(), move |socket| connection(app, account, socket)),
                Err(e) => error_response(&e),
            }
        })
        .boxed();
    let batch = warp::path!("api" / "sync" / "batch")
        .and(warp::post())
        .and(with_app(app_for_batch))
        .and(account_auth(auth_app))
        .and(warp::body::content_length_limit(MAX_FRAME_BYTES as u64))
        .and(warp::body::bytes())
        .and_then(|app: App, ctx: super::AccountCtx, body: bytes::Bytes| async move {
            run(&app, batch(&app, &ctx.account_id, &body)).await
        })
        .boxed();
    ticket.or(socket).unify().or(batch).unify().boxed()
}

/// The HTTP batch form: the device's sync messages in, the server's reply out, in one request.
async fn batch(app: &App, account: &str, body: &[u8]) -> Result<Response, ApiError> {
    let req =
        BatchRequest::decode(body).map_err(|e| ApiError::MalformedCbor(format!("{}: {e}", e.code())))?;
    let id: DocumentId = req
        .document_id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("document {} is not available", req.document_id)))?;
    let exam = Hub::allowed(app, account)
        .into_iter()
        .find(|(d, _)| *d == id)
        .map(|(_, e)| e)
        .ok_or_else(|| ApiError::NotFound(format!("document {} is not available", req.document_id)))?;
    let live = app.hub.open(app, id, account, &exam).await?;
    let key = req.storage_id.as_deref().map(|s| storage_key(account, s, &id));
    let mut peer = restore_peer(app, key.as_deref())?;
    let conn = app.hub.connection_id();
    let mut refused = None;
    for message in &req.messages {
        if let Received::Refused(r) = live.receive(app, conn, &mut peer, message).await? {
            refused = Some(refusal_frame(&r, "http-batch", &req.document_id));
        }
    }
    // The server answers messages; a request without any is how a device ends the exchange.
    let messages = if req.messages.is_empty() {
        Vec::new()
    } else {
        live.generate(&mut peer).await.into_iter().collect()
    };
    keep_peer(app, key, &peer);
    drop(live);
    app.hub.release(&id);
    let body = BatchResponse { messages, refused }.encode();
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert("content-type", warp::http::HeaderValue::from_static("application/cbor"));
    Ok(resp)
}

fn storage_key(account: &str, storage_id: &str, id: &DocumentId) -> Vec<u8> {
    let mut k = format!("{account}\0{storage_id}\0").into_bytes();
    k.extend_from_slice(id.as_bytes());
    k
}

/// The saved sync state of a device with a storage id, or a fresh one.
fn restore_peer(app: &App, key: Option<&[u8]>) -> Result<PeerSync, ApiError> {
    Ok(match key {
        Some(k) => {
            app.store.get(Tree::SyncStates, k)?.and_then(|b| PeerSync::restore(&b).ok()).unwrap_or_default()
        }
        None => PeerSync::new(),
    })
}

/// Keeps the sync state of a device with a storage id (an optimisation: written unflushed).
fn keep_peer(app: &App, key: Option<Vec<u8>>, peer: &PeerSync) {
    if let Some(k) = key {
        let mut txn = Txn::new();
        txn.put(Tree::SyncStates, k, peer.save());
        if let Err(e) = app.store.commit(&txn) {
            tracing::warn!("could not keep a sync state: {e}");
        }
    }
}

fn refusal_frame(refusal: &baoming_core::document::Refusal, target: &str, document_id: &str) -> WireMessage {
    WireMessage::Refused {
        sender_id: SERVER_PEER_ID.into(),
        target_id: target.to_owned(),
        document_id: document_id.to_owned(),
        status: refusal.status.as_str().into(),
        refused: refusal
            .refused
            .iter()
            .map(|r| RefusedItem { path: r.path.clone(), reason: r.reason.as_str().into() })
            .collect(),
        heads: refusal.heads.iter().map(ToString::to_string).collect(),
    }
}

/// Bearer token (header) or single-use ticket (query), checked before the upgrade.
fn authenticate(app: &App, auth: Option<String>, ticket: Option<String>) -> Result<String, ApiError> {
    if let Some(t) = ticket {
        return app
            .hub
            .redeem_ticket(&t)
            .ok_or(ApiError::Unauthorized("the sync ticket is unknown, used or expired"));
    }
    let header =
        auth.ok_or(ApiError::Unauthorized("send Authorization: Bearer <token> or ?ticket=<ticket>"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`"))?;
    match sessions::resolve(&*app.store, token.trim(), now())?.owner {
        Owner::Account(id) => Ok(id),
        Owner::Operator(_) => {
            Err(ApiError::Unauthorized("an operator token cannot sync candidate documents"))
        }
    }
}

/// One document a connection syncs.
struct Subscription {
    live: Arc<LiveDoc>,
    peer: PeerSync,
    storage_key: Option<Vec<u8>>,
}

struct Conn {
    app: App,
    id: u64,
    account: String,
    peer_id: String,
    storage_id: Option<String>,
    allowed: Vec<(DocumentId, String)>,
    subs: HashMap<DocumentId, Subscription>,
    notify_tx: mpsc::UnboundedSender<DocumentId>,
}

fn frame(message: &WireMessage) -> Message {
    Message::binary(wire::encode(message))
}

async fn connection(app: App, account: String, socket: ServerSocket) {
    let (mut tx, mut rx) = socket.split();
    // Handshake: the first frame must be a `join` that speaks version "1".
    let first = match tokio::time::timeout(JOIN_TIMEOUT, rx.next()).await {
        Ok(Some(Ok(Message::Binary(m)))) => wire::decode(&m),
        _ => {
            let _ = tx
                .send(frame(&WireMessage::Error { message: "join_required: send `join` first".into() }))
                .await;
            let _ = tx.close().await;
            return;
        }
    };
    let (peer_id, metadata) = match first {
        Ok(WireMessage::Join { sender_id, supported_protocol_versions, peer_metadata })
            if supported_protocol_versions.iter().any(|v| v == PROTOCOL_VERSION) =>
        {
            (sender_id, peer_metadata)
        }
        Ok(WireMessage::Join { .. }) => {
            let _ = tx
                .send(frame(&WireMessage::Error {
                    message: "unsupported_version: this server speaks \"1\"".into(),
                }))
                .await;
            let _ = tx.close().await;
            return;
        }
        Ok(_) => {
            let _ = tx
                .send(frame(&WireMessage::Error { message: "join_required: send `join` first".into() }))
                .await;
            let _ = tx.close().await;
            return;
        }
        Err(e) => {
            let _ = tx.send(frame(&WireMessage::Error { message: format!("{}: {e}", e.code()) })).await;
            let _ = tx.close().await;
            return;
        }
    };
    let reply = WireMessage::Peer {
        sender_id: SERVER_PEER_ID.into(),
        target_id: peer_id.clone(),
        selected_protocol_version: PROTOCOL_VERSION.into(),
        peer_metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: false }),
    };
    if tx.send(frame(&reply)).await.is_err() {
        return;
    }

    let (notify_tx, mut notify_rx) = mpsc::unbounded_channel();
    let mut conn = Conn {
        id: app.hub.connection_id(),
        allowed: Hub::allowed(&app, &account),
        storage_id: metadata.and_then(|m| if m.is_ephemeral { None } else { m.storage_id }),
        app,
        account,
        peer_id,
        subs: HashMap::new(),
        notify_tx,
    };
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
                    vec![WireMessage::Error { message: "rate_limited: too many messages; reconnect later".into() }]
                } else {
                    conn.handle(&msg).await
                }
            }
            Some(doc) = notify_rx.recv() => conn.push(doc).await,
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
    conn.close();
    let _ = tx.close().await;
}

impl Conn {
    /// Handles one frame; returns the frames to send.
    async fn handle(&mut self, bytes: &[u8]) -> Vec<WireMessage> {
        let message = match wire::decode(bytes) {
            Ok(m) => m,
            Err(e) => return vec![WireMessage::Error { message: format!("{}: {e}", e.code()) }],
        };
        match message {
            WireMessage::Request { document_id, data, .. } | WireMessage::Sync { document_id, data, .. } => {
                self.sync(&document_id, &data).await
            }
            WireMessage::Leave { .. } | WireMessage::Error { .. } => {
                vec![WireMessage::Error { message: "closing: the peer left".into() }]
            }
            WireMessage::Join { .. } => {
                vec![WireMessage::Error { message: "duplicate_join: already joined".into() }]
            }
            // Ephemeral messages are not relayed; unknown types are ignored.
            _ => Vec::new(),
        }
    }

    fn unavailable(&self, document_id: &str) -> Vec<WireMessage> {
        vec![WireMessage::DocUnavailable {
            sender_id: SERVER_PEER_ID.into(),
            target_id: self.peer_id.clone(),
            document_id: document_id.to_owned(),
        }]
    }

    async fn subscription(&mut self, id: DocumentId, exam: &str) -> Result<&mut Subscription, ApiError> {
        if !self.subs.contains_key(&id) {
            let live = self.app.hub.open(&self.app, id, &self.account, exam).await?;
            live.listen(self.id, self.notify_tx.clone());
            let storage_key = self.storage_id.as_deref().map(|s| storage_key(&self.account, s, &id));
            let peer = restore_peer(&self.app, storage_key.as_deref())?;
            self.subs.insert(id, Subscription { live, peer, storage_key });
        }
        self.subs.get_mut(&id).ok_or_else(|| ApiError::Internal("subscription vanished".into()))
    }

    async fn sync(&mut self, document_id: &str, data: &[u8]) -> Vec<WireMessage> {
        let Ok(id) = document_id.parse::<DocumentId>() else { return self.unavailable(document_id) };
        let Some(exam) = self.allowed.iter().find(|(d, _)| *d == id).map(|(_, e)| e.clone()) else {
            return self.unavailable(document_id);
        };
        let (app, conn_id, peer_id) = (self.app.clone(), self.id, self.peer_id.clone());
        let sub = match self.subscription(id, &exam).await {
            Ok(s) => s,
            Err(e) => return vec![WireMessage::Error { message: format!("{}: {e}", e.code()) }],
        };
        let mut out = Vec::new();
        match sub.live.receive(&app, conn_id, &mut sub.peer, data).await {
            Ok(Received::Refused(refusal)) => {
                tracing::info!(document = %id, status = %refusal.status, "refused a batch: {refusal}");
                out.push(refusal_frame(&refusal, &peer_id, document_id));
            }
            Ok(Received::Applied(_) | Received::Ignored | Received::Waiting) => {}
            Err(e) => return vec![WireMessage::Error { message: format!("{}: {e}", e.code()) }],
        }
        if let Some(reply) = sub.live.generate(&mut sub.peer).await {
            out.push(WireMessage::Sync {
                sender_id: SERVER_PEER_ID.into(),
                target_id: peer_id,
                document_id: document_id.to_owned(),
                data: reply,
            });
        }
        out
    }

    /// Another writer changed `id`: send this peer what it lacks.
    async fn push(&mut self, id: DocumentId) -> Vec<WireMessage> {
        let peer_id = self.peer_id.clone();
        let Some(sub) = self.subs.get_mut(&id) else { return Vec::new() };
        match sub.live.generate(&mut sub.peer).await {
            Some(data) => vec![WireMessage::Sync {
                sender_id: SERVER_PEER_ID.into(),
                target_id: peer_id,
                document_id: id.to_string(),
                data,
            }],
            None => Vec::new(),
        }
    }

    /// Stops listening and keeps the sync state of a device that gave a storage id, so its
    /// next connection resumes where this one ended. (Kept at the end rather than after every
    /// message: a sync state lost in a crash only costs the device a slightly longer exchange.)
    /// The documents go back to the hub, which lets go of those no other connection holds.
    fn close(&mut self) {
        for (id, sub) in self.subs.drain() {
            sub.live.unlisten(self.id);
            keep_peer(&self.app, sub.storage_key, &sub.peer);
            drop(sub.live);
            self.app.hub.release(&id);
        }
    }
}
