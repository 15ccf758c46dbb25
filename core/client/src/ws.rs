//! The WebSocket transport (protocol.md §5–§8): connect with the bearer token, `join`/`peer`
//! handshake with the store's storage id, then `request`/`sync` per registration, the refusal
//! extension, and the server's live pushes. A close with
//! [`SESSION_ENDED_CLOSE_CODE`] (the session ended) is [`ClientError::Unauthorized`], like a
//! refused token at the upgrade.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baoming_core::api::paths;
use baoming_core::api::sync::SESSION_ENDED_CLOSE_CODE;
use baoming_core::document::DocumentId;
use baoming_core::wire::{
    self, MAX_FRAME_BYTES, PROTOCOL_VERSION, PeerMetadata, REFUSED_EXTENSION, WireMessage,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backoff::Retry;
use crate::error::{ClientError, ErrorAnswer};
use crate::events::{ClientEvent, ConnectionState};
use crate::state::{Inner, SyncReport, blocking};
use crate::{drain, http};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The server's id as peers see it (any value works; the server answers with its own).
const SERVER_PEER: &str = "baoming-server";

/// One authenticated WebSocket connection that has completed the handshake.
pub(crate) struct Conn {
    inner: Arc<Inner>,
    socket: Socket,
    peer_id: String,
    /// Documents this connection has sent a `request` for.
    announced: HashSet<DocumentId>,
    /// Documents the server has sent a message about on this connection.
    heard: HashSet<DocumentId>,
    /// Documents the server said it does not offer.
    unavailable: HashSet<DocumentId>,
    /// Documents held back because their photo is not on the server.
    held: HashSet<DocumentId>,
}

fn network(e: tungstenite::Error) -> ClientError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            if status == 401 {
                return ClientError::Unauthorized;
            }
            ErrorAnswer::parse(status, resp.body().as_deref().unwrap_or_default()).into_server_error()
        }
        tungstenite::Error::Url(e) => ClientError::InvalidUrl(e.to_string()),
        other => ClientError::Network(other.to_string()),
    }
}

/// `code: message` of an `error` frame. Its codes are the CBOR sync protocol's (protocol.md
/// §7–§8), not REST error codes; `error` stands for a frame without one.
fn refused(message: &str) -> ClientError {
    let (code, text) = message.split_once(": ").unwrap_or(("error", message));
    ClientError::Refused { code: code.to_owned(), message: text.to_owned() }
}

/// Decodes one received frame: `Ok(None)` for frames without a message (ping, pong, text).
fn decode(frame: Option<Result<Message, tungstenite::Error>>) -> Result<Option<WireMessage>, ClientError> {
    match frame {
        // The session ended (logout, password change or reset, expiry; the reason says which):
        // sign in again.
        Some(Ok(Message::Close(Some(close)))) if u16::from(close.code) == SESSION_ENDED_CLOSE_CODE => {
            Err(ClientError::Unauthorized)
        }
        None | Some(Ok(Message::Close(_))) => {
            Err(ClientError::Network("the server closed the connection".into()))
        }
        Some(Err(e)) => Err(network(e)),
        Some(Ok(Message::Binary(bytes))) => wire::decode(&bytes)
            .map(Some)
            .map_err(|e| ClientError::Protocol(format!("undecodable frame: {}: {e}", e.code()))),
        Some(Ok(_)) => Ok(None),
    }
}

impl Conn {
    /// Connects, authenticates at the upgrade and shakes hands, within the connect timeout.
    pub(crate) async fn open(inner: &Arc<Inner>) -> Result<Conn, ClientError> {
        let limit = inner.config.connect_timeout;
        match tokio::time::timeout(limit, Conn::open_unbounded(inner)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout(format!("no connection to the server within {limit:?}"))),
        }
    }

    async fn open_unbounded(inner: &Arc<Inner>) -> Result<Conn, ClientError> {
        let mut request = inner.ws_url.as_str().into_client_request().map_err(network)?;
        let bearer =
            HeaderValue::from_str(&http::bearer(&inner.token())).map_err(|_| ClientError::Unauthorized)?;
        let authorization = HeaderName::from_bytes(paths::AUTHORIZATION.as_bytes())
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        request.headers_mut().insert(authorization, bearer);
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(network)?;
        let mut conn = Conn {
            inner: inner.clone(),
            socket,
            peer_id: format!("device-{}", &automerge::ActorId::random().to_hex_string()[..16]),
            announced: HashSet::new(),
            heard: HashSet::new(),
            unavailable: HashSet::new(),
            held: HashSet::new(),
        };
        conn.send(&WireMessage::Join {
            sender_id: conn.peer_id.clone(),
            supported_protocol_versions: vec![PROTOCOL_VERSION.to_owned()],
            // This client reads `baoming-refused` (it resets after a refusal): the server sends
            // it only to peers that say so.
            peer_metadata: Some(PeerMetadata {
                storage_id: Some(inner.storage_id.clone()),
                is_ephemeral: false,
                extensions: vec![REFUSED_EXTENSION.to_owned()],
            }),
        })
        .await?;
        match conn.next_message().await? {
            WireMessage::Peer { selected_protocol_version, .. }
                if selected_protocol_version == PROTOCOL_VERSION =>
            {
                Ok(conn)
            }
            WireMessage::Error { message } => Err(refused(&message)),
            other => Err(ClientError::Protocol(format!("expected `peer`, got {other:?}"))),
        }
    }

    async fn send(&mut self, message: &WireMessage) -> Result<(), ClientError> {
        self.socket.send(Message::binary(wire::encode(message))).await.map_err(network)
    }

    /// The next protocol message (control frames are handled by the socket).
    async fn next_message(&mut self) -> Result<WireMessage, ClientError> {
        loop {
            let frame = self.socket.next().await;
            if let Some(m) = decode(frame)? {
                return Ok(m);
            }
        }
    }

    fn frame(&self, id: &DocumentId, data: Vec<u8>, first: bool) -> WireMessage {
        let (sender_id, target_id, document_id) =
            (self.peer_id.clone(), SERVER_PEER.to_owned(), id.to_string());
        if first {
            WireMessage::Request { sender_id, target_id, document_id, data }
        } else {
            WireMessage::Sync { sender_id, target_id, document_id, data }
        }
    }

    /// Uploads pending photos, then sends what every registration has for the server (a
    /// `request` for those not yet announced on this connection). Registrations whose photo is
    /// not on the server are held back; `first_hold` receives the reason of the first.
    async fn push_local(
        &mut self,
        report: &mut SyncReport,
        first_hold: &mut Option<ClientError>,
    ) -> Result<(), ClientError> {
        let pending = {
            let inner = self.inner.clone();
            blocking(move || http::upload_pending(&inner)).await?
        };
        let mut out = Vec::new();
        let mut events = Vec::new();
        {
            let mut docs = self.inner.docs();
            let ids: Vec<DocumentId> = docs.entries.keys().copied().collect();
            self.held.clear();
            for id in ids {
                if self.unavailable.contains(&id) {
                    continue;
                }
                if let Some(reason) = self.inner.hold_reason(&docs, &id, &pending) {
                    self.held.insert(id);
                    if matches!(reason, ClientError::PhotoRejected { .. })
                        && let Some(again) = self.inner.hold_reason(&docs, &id, &pending)
                    {
                        events.push(ClientEvent::SyncFailed(again));
                    }
                    first_hold.get_or_insert(reason);
                    continue;
                }
                if let Some(data) = docs.outgoing(&id) {
                    let first = self.announced.insert(id);
                    out.push(self.frame(&id, data, first));
                }
            }
        }
        self.inner.emit_all(events);
        for m in out {
            report.sent += 1;
            self.send(&m).await?;
        }
        Ok(())
    }

    /// Handles one message from the server; returns whether it was about a document. Replies
    /// are sent by [`Conn::settle`].
    fn handle(&mut self, message: WireMessage, report: &mut SyncReport) -> Result<bool, ClientError> {
        let mut events = Vec::new();
        let result = match message {
            WireMessage::Sync { document_id, data, .. } | WireMessage::Request { document_id, data, .. } => {
                let Ok(id) = document_id.parse::<DocumentId>() else { return Ok(false) };
                report.received += 1;
                self.heard.insert(id);
                let mut docs = self.inner.docs();
                let changed = docs.incoming(&id, &data, &mut events);
                if changed.as_ref().is_ok_and(|c| *c) {
                    report.note_changed(docs.exam_of(&id));
                }
                changed.map(|_| ())
            }
            WireMessage::Refused { document_id, heads, refused: items, .. } => {
                let Ok(id) = document_id.parse::<DocumentId>() else { return Ok(false) };
                report.received += 1;
                self.heard.insert(id);
                let mut docs = self.inner.docs();
                report.note_changed(docs.exam_of(&id));
                docs.refused(&id, &heads, &items, &mut events).map(|edits| report.rejected.extend(edits))
            }
            WireMessage::DocUnavailable { document_id, .. } => {
                if let Ok(id) = document_id.parse::<DocumentId>() {
                    self.unavailable.insert(id);
                }
                return Ok(true);
            }
            WireMessage::Error { message } => return Err(refused(&message)),
            WireMessage::Leave { .. } => return Err(ClientError::Network("the server left".into())),
            _ => return Ok(false),
        };
        self.inner.emit_all(events);
        result.map(|()| true)
    }

    /// Sends whatever each synced document has for the server now. Automerge's protocol keeps
    /// this bounded: with a message in flight and nothing new, a document has nothing to send.
    async fn settle(&mut self, report: &mut SyncReport) -> Result<(), ClientError> {
        let out: Vec<WireMessage> = {
            let mut docs = self.inner.docs();
            let ids: Vec<DocumentId> = docs.entries.keys().copied().collect();
            ids.into_iter()
                .filter(|id| {
                    self.announced.contains(id) && !self.held.contains(id) && !self.unavailable.contains(id)
                })
                .flat_map(|id| {
                    // Automerge answers `None` once the last message is out and nothing is new
                    // (or a message is in flight); that is what marks the document quiet.
                    let mut msgs = Vec::new();
                    while msgs.len() < 3
                        && let Some(data) = docs.outgoing(&id)
                    {
                        msgs.push(self.frame(&id, data, false));
                    }
                    msgs
                })
                .collect()
        };
        for m in out {
            report.sent += 1;
            self.send(&m).await?;
        }
        Ok(())
    }

    /// Whether every document this connection syncs is in sync.
    fn converged(&self) -> bool {
        let mut docs = self.inner.docs();
        let ids: Vec<DocumentId> = docs.entries.keys().copied().collect();
        ids.iter()
            .filter(|id| !self.held.contains(id) && !self.unavailable.contains(id))
            .all(|id| self.announced.contains(id) && self.heard.contains(id) && docs.converged(id))
    }

    /// Persists the sync state of every document, says `leave` and closes.
    async fn close(mut self) {
        {
            let mut docs = self.inner.docs();
            let ids: Vec<DocumentId> = docs.entries.keys().copied().collect();
            for id in ids {
                let _ = docs.save_sync_state(&id);
            }
        }
        let _ = self.send(&WireMessage::Leave { sender_id: self.peer_id.clone() }).await;
        let _ = self.socket.close(None).await;
    }

    /// The exams of the registrations this connection does not sync (held back or unavailable):
    /// their queued actions wait.
    fn not_synced_exams(&self) -> HashSet<String> {
        let docs = self.inner.docs();
        self.held.iter().chain(&self.unavailable).filter_map(|id| docs.exam_of(id)).collect()
    }

    /// Sends the queued lifecycle actions if their retry delay is over (or `now` regardless).
    async fn send_actions(&self, now: bool) -> Result<(), ClientError> {
        let due = now || self.inner.docs().outbox.due(Instant::now());
        if due {
            drain::drain(&self.inner, &self.not_synced_exams()).await?;
        }
        Ok(())
    }

    /// The first registration the server does not offer, as an error.
    fn unavailable_error(&self) -> Option<ClientError> {
        let docs = self.inner.docs();
        self.unavailable
            .iter()
            .next()
            .map(|id| ClientError::DocumentUnavailable(docs.exam_of(id).unwrap_or_default()))
    }
}

/// [`SyncClient::sync_now`](crate::SyncClient::sync_now) without its timeout.
pub(crate) async fn sync_once(inner: &Arc<Inner>) -> Result<SyncReport, ClientError> {
    let mut conn = Conn::open(inner).await?;
    inner.docs().begin();
    let mut report = SyncReport::default();
    let mut held = None;
    conn.push_local(&mut report, &mut held).await?;
    while !conn.converged() {
        let message = conn.next_message().await?;
        conn.handle(message, &mut report)?;
        conn.settle(&mut report).await?;
    }
    let unavailable = conn.unavailable_error();
    conn.close().await;
    if let Some(e) = held.or(unavailable) {
        return Err(e);
    }
    inner.emit(ClientEvent::Synced);
    Ok(report)
}

/// A live session of the background sync: pushes local edits, applies server pushes, reports
/// `Synced` whenever everything is in sync, and resets the backoff once it first is. Whenever it
/// gets in sync, when an action is queued while in sync, and when an action's retry delay ends,
/// it sends the outbox (see [`outbox`](crate::outbox)). Returns
/// `Ok` when stopped, an error when the connection is lost.
pub(crate) async fn live(
    mut conn: Conn,
    stop: &mut watch::Receiver<bool>,
    retry: &mut Retry,
) -> Result<(), ClientError> {
    let inner = conn.inner.clone();
    inner.docs().begin();
    inner.emit(ClientEvent::Connection(ConnectionState::Online));
    let mut report = SyncReport::default();
    let mut held = None;
    conn.push_local(&mut report, &mut held).await?;
    let ping_every = inner.config.ping_interval.max(Duration::from_millis(100));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    let mut in_sync = false;
    let mut first_sync = true;
    loop {
        if !in_sync && conn.converged() {
            in_sync = true;
            retry.reset();
            inner.emit(ClientEvent::Synced);
            // The server has every local change now: send the queued actions — at once on a new
            // connection, else once their retry delay is over.
            conn.send_actions(first_sync).await?;
            first_sync = false;
            last_heard = Instant::now();
        }
        let wake = if in_sync { inner.docs().outbox.wake_at() } else { None };
        tokio::select! {
            _ = stop.changed() => {
                conn.close().await;
                return Ok(());
            }
            _ = inner.changed.notified() => {
                conn.push_local(&mut report, &mut held).await?;
                in_sync = false;
            }
            frame = conn.socket.next() => {
                last_heard = Instant::now();
                if let Some(message) = decode(frame)?
                    && conn.handle(message, &mut report)?
                {
                    conn.settle(&mut report).await?;
                    in_sync = false;
                }
            }
            _ = inner.queued.notified(), if in_sync => {
                conn.send_actions(false).await?;
                last_heard = Instant::now();
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now).into()), if wake.is_some() => {
                conn.send_actions(false).await?;
                last_heard = Instant::now();
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > ping_every * 5 / 2 {
                    return Err(ClientError::Timeout("the server stopped answering".into()));
                }
                conn.socket.send(Message::Ping(Default::default())).await.map_err(network)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

    #[test]
    fn a_close_for_an_ended_session_is_a_refused_token_and_other_closes_are_the_network() {
        let close = |code: u16, reason: &str| {
            Some(Ok(Message::Close(Some(CloseFrame { code: code.into(), reason: reason.into() }))))
        };
        assert!(matches!(
            decode(close(SESSION_ENDED_CLOSE_CODE, "logged_out")),
            Err(ClientError::Unauthorized)
        ));
        assert!(matches!(decode(close(SESSION_ENDED_CLOSE_CODE, "")), Err(ClientError::Unauthorized)));
        assert!(matches!(decode(close(1001, "going away")), Err(ClientError::Network(_))));
        assert!(matches!(decode(Some(Ok(Message::Close(None)))), Err(ClientError::Network(_))));
        assert!(matches!(decode(None), Err(ClientError::Network(_))));
        assert!(matches!(decode(Some(Ok(Message::Ping(Default::default())))), Ok(None)));
    }
}
