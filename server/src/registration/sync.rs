//! The sync protocol's server side for one connection (protocol.md §8): the `join`/`peer`
//! handshake, one [`PeerSync`] per document the peer syncs, refusals as Baoming's extension
//! message — to peers that announce they read it, stock automerge-repo peers never get it —,
//! live pushes when another writer changed a document, and the sync state of a device with a
//! storage id kept across connections. The HTTP batch form runs the same exchange in one request
//! ([`Registrations::sync_batch`]); the server's copy of a document
//! ([`Registrations::document_copy`]) is how a client that could not hear a refusal recovers.
//!
//! The session speaks frames ([`WireMessage`]); moving them over a WebSocket is the HTTP layer's
//! work. A frame that ends the conversation is an `error` message: the transport sends it and
//! closes.

use std::collections::HashMap;
use std::sync::Arc;

use baoming_core::api::error::ErrorCode;
use baoming_core::document::DocumentId;
use baoming_core::sync::{PeerSync, Received};
use baoming_core::wire::{
    self, BatchRequest, BatchResponse, DocumentCopy, PROTOCOL_VERSION, PeerMetadata, REFUSED_EXTENSION,
    RefusalRecord, RefusedItem, WireMessage,
};
use tokio::sync::mpsc;

use super::hub::LiveDoc;
use super::{RegistrationError, Registrations};
use crate::store::{Tree, Txn};

/// The server's peer id on every connection.
pub const SERVER_PEER_ID: &str = "baoming-server";

/// One document a connection syncs.
struct Subscription {
    live: Arc<LiveDoc>,
    peer: PeerSync,
    storage_key: Option<Vec<u8>>,
}

/// A joined connection: its session, the `peer` reply, and the documents other writers change.
pub type Joined = (SyncSession, WireMessage, mpsc::UnboundedReceiver<DocumentId>);

/// The protocol state of one connection of `account`.
pub struct SyncSession {
    regs: Arc<Registrations>,
    id: u64,
    account: String,
    peer_id: String,
    storage_id: Option<String>,
    /// Whether the peer announced [`REFUSED_EXTENSION`]: only then is it sent `baoming-refused`.
    reads_refusals: bool,
    allowed: Vec<(DocumentId, String)>,
    subs: HashMap<DocumentId, Subscription>,
    notify_tx: mpsc::UnboundedSender<DocumentId>,
}

/// An `error` frame (the transport sends it and closes).
pub fn error_frame(message: impl Into<String>) -> WireMessage {
    WireMessage::Error { message: message.into() }
}

fn storage_key(account: &str, storage_id: &str, id: &DocumentId) -> Vec<u8> {
    let mut k = format!("{account}\0{storage_id}\0").into_bytes();
    k.extend_from_slice(id.as_bytes());
    k
}

fn refusal_frame(refusal: &baoming_core::document::Refusal, target: &str, document_id: &str) -> WireMessage {
    WireMessage::Refused {
        sender_id: SERVER_PEER_ID.into(),
        target_id: target.to_owned(),
        document_id: document_id.to_owned(),
        status: refusal.status.as_str().into(),
        refused: refusal.refused.iter().map(RefusedItem::from).collect(),
        heads: refusal.heads.iter().map(ToString::to_string).collect(),
    }
}

fn failure_frame(e: &RegistrationError) -> WireMessage {
    let code = match e {
        RegistrationError::Refused(r) => r.code(),
        RegistrationError::NotFound(_) => ErrorCode::NotFound,
        RegistrationError::Busy => ErrorCode::Busy,
        _ => ErrorCode::Internal,
    };
    error_frame(format!("{code}: {e}"))
}

impl Registrations {
    /// The saved sync state of a device with a storage id, or a fresh one.
    fn restore_peer(&self, key: Option<&[u8]>) -> Result<PeerSync, RegistrationError> {
        Ok(match key {
            Some(k) => self
                .db
                .store()
                .get(Tree::SyncStates, k)?
                .and_then(|b| PeerSync::restore(&b).ok())
                .unwrap_or_default(),
            None => PeerSync::new(),
        })
    }

    /// Keeps the sync state of a device with a storage id (an optimisation: written unflushed).
    fn keep_peer(&self, key: Option<Vec<u8>>, peer: &PeerSync) {
        if let Some(k) = key {
            let mut txn = Txn::new();
            txn.put(Tree::SyncStates, k, peer.save());
            if let Err(e) = self.db.store().commit(&txn) {
                tracing::warn!("could not keep a sync state: {e}");
            }
        }
    }

    /// Starts the session of `account` from the connection's first frame, which must be a
    /// `join` speaking protocol "1". Returns the session, the `peer` reply, and the receiver of
    /// the documents other writers changed (feed each to [`SyncSession::push`]); or the `error`
    /// frame to send before closing.
    pub fn join(self: &Arc<Self>, account: String, first: &[u8]) -> Result<Joined, Box<WireMessage>> {
        let (peer_id, metadata) = match wire::decode(first) {
            Ok(WireMessage::Join { sender_id, supported_protocol_versions, peer_metadata })
                if supported_protocol_versions.iter().any(|v| v == PROTOCOL_VERSION) =>
            {
                (sender_id, peer_metadata)
            }
            Ok(WireMessage::Join { .. }) => {
                return Err(Box::new(error_frame("unsupported_version: this server speaks \"1\"")));
            }
            Ok(_) => return Err(Box::new(error_frame("join_required: send `join` first"))),
            Err(e) => return Err(Box::new(error_frame(format!("{}: {e}", e.code())))),
        };
        let metadata = metadata.unwrap_or_default();
        let reads_refusals = metadata.speaks(REFUSED_EXTENSION);
        // The server names the extensions it will use with this peer: those it announced.
        let extensions = if reads_refusals { vec![REFUSED_EXTENSION.to_owned()] } else { Vec::new() };
        let reply = WireMessage::Peer {
            sender_id: SERVER_PEER_ID.into(),
            target_id: peer_id.clone(),
            selected_protocol_version: PROTOCOL_VERSION.into(),
            peer_metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: false, extensions }),
        };
        let (notify_tx, notify_rx) = mpsc::unbounded_channel();
        let session = SyncSession {
            id: self.hub.connection_id(),
            allowed: self.allowed(&account),
            storage_id: if metadata.is_ephemeral { None } else { metadata.storage_id },
            reads_refusals,
            regs: Arc::clone(self),
            account,
            peer_id,
            subs: HashMap::new(),
            notify_tx,
        };
        Ok((session, reply, notify_rx))
    }

    /// The HTTP batch form: the device's sync messages in (a CBOR [`BatchRequest`]), the
    /// server's reply out (a CBOR [`BatchResponse`]), in one request.
    pub async fn sync_batch(
        &self,
        account: &str,
        request: &BatchRequest,
    ) -> Result<Vec<u8>, RegistrationError> {
        let (id, exam) = self.own_document(account, &request.document_id)?;
        let live = self.hub.open(id, account, &exam).await?;
        let key = request.storage_id.as_deref().map(|s| storage_key(account, s, &id));
        let mut peer = self.restore_peer(key.as_deref())?;
        let conn = self.hub.connection_id();
        let mut refused = None;
        for message in &request.messages {
            if let Received::Refused(r) | Received::Recalled(r) =
                live.receive(conn, &mut peer, message).await?
            {
                refused = Some(refusal_frame(&r, "http-batch", &request.document_id));
            }
        }
        // The server answers messages; a request without any is how a device ends the exchange.
        let messages = if request.messages.is_empty() {
            Vec::new()
        } else {
            live.generate(&mut peer).await.into_iter().collect()
        };
        self.keep_peer(key, &peer);
        drop(live);
        self.hub.release(&id);
        Ok(BatchResponse { messages, refused }.encode())
    }

    /// The document `document_id` of `account` (base58check) and its exam, if the candidate may
    /// sync it; otherwise `NotFound`, whatever the reason.
    fn own_document(
        &self,
        account: &str,
        document_id: &str,
    ) -> Result<(DocumentId, String), RegistrationError> {
        let unavailable = || RegistrationError::NotFound(format!("document {document_id} is not available"));
        let id: DocumentId = document_id.parse().map_err(|_| unavailable())?;
        let exam = self
            .allowed(account)
            .into_iter()
            .find(|(d, _)| *d == id)
            .map(|(_, e)| e)
            .ok_or_else(unavailable)?;
        Ok((id, exam))
    }

    /// The server's copy of a candidate's document (a CBOR [`DocumentCopy`]): the whole
    /// document, its heads and status, and the refusals it remembers — what a client that cannot
    /// read `baoming-refused` needs to see that it holds refused changes, and to start again
    /// from the server's document (protocol.md §8.3).
    pub async fn document_copy(
        &self,
        account: &str,
        document_id: &str,
    ) -> Result<Vec<u8>, RegistrationError> {
        let (id, exam) = self.own_document(account, document_id)?;
        let live = self.hub.open(id, account, &exam).await?;
        let (document, heads, status, remembered) = live.copy().await;
        drop(live);
        self.hub.release(&id);
        let refused = remembered
            .into_iter()
            .map(|r| RefusalRecord {
                changes: r.changes.iter().map(ToString::to_string).collect(),
                status: r.status.as_str().into(),
                refused: r.refused.iter().map(RefusedItem::from).collect(),
            })
            .collect();
        let copy = DocumentCopy {
            document_id: id.to_string(),
            status: status.as_str().into(),
            heads,
            refused,
            document,
        };
        Ok(copy.encode())
    }
}

impl SyncSession {
    /// Handles one frame; returns the frames to send.
    pub async fn handle(&mut self, bytes: &[u8]) -> Vec<WireMessage> {
        let message = match wire::decode(bytes) {
            Ok(m) => m,
            Err(e) => return vec![error_frame(format!("{}: {e}", e.code()))],
        };
        match message {
            WireMessage::Request { document_id, data, .. } | WireMessage::Sync { document_id, data, .. } => {
                self.sync(&document_id, &data).await
            }
            WireMessage::Leave { .. } | WireMessage::Error { .. } => {
                vec![error_frame("closing: the peer left")]
            }
            WireMessage::Join { .. } => vec![error_frame("duplicate_join: already joined")],
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

    async fn subscription(
        &mut self,
        id: DocumentId,
        exam: &str,
    ) -> Result<&mut Subscription, RegistrationError> {
        if !self.subs.contains_key(&id) {
            let live = self.regs.hub.open(id, &self.account, exam).await?;
            live.listen(self.id, self.notify_tx.clone());
            let storage_key = self.storage_id.as_deref().map(|s| storage_key(&self.account, s, &id));
            let peer = self.regs.restore_peer(storage_key.as_deref())?;
            self.subs.insert(id, Subscription { live, peer, storage_key });
        }
        self.subs.get_mut(&id).ok_or_else(|| RegistrationError::Internal("subscription vanished".into()))
    }

    async fn sync(&mut self, document_id: &str, data: &[u8]) -> Vec<WireMessage> {
        let Ok(id) = document_id.parse::<DocumentId>() else { return self.unavailable(document_id) };
        let Some(exam) = self.allowed.iter().find(|(d, _)| *d == id).map(|(_, e)| e.clone()) else {
            return self.unavailable(document_id);
        };
        let (conn_id, peer_id, reads_refusals) = (self.id, self.peer_id.clone(), self.reads_refusals);
        let sub = match self.subscription(id, &exam).await {
            Ok(s) => s,
            Err(e) => return vec![failure_frame(&e)],
        };
        let mut out = Vec::new();
        match sub.live.receive(conn_id, &mut sub.peer, data).await {
            Ok(Received::Refused(refusal) | Received::Recalled(refusal)) => {
                tracing::info!(document = %id, status = %refusal.status, "refused a batch: {refusal}");
                // A stock peer cannot read the extension (samod takes it for a protocol error and
                // reconnects): for it the refusal is silent, and the server's own `sync` below
                // shows that it does not have the refused changes.
                if reads_refusals {
                    out.push(refusal_frame(&refusal, &peer_id, document_id));
                }
            }
            Ok(Received::Applied(_) | Received::Ignored | Received::Waiting) => {}
            Err(e) => return vec![failure_frame(&e)],
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

    /// Another writer changed `id`: the frames that send this peer what it lacks.
    pub async fn push(&mut self, id: DocumentId) -> Vec<WireMessage> {
        let peer_id = self.peer_id.clone();
        let Some(sub) = self.subs.get_mut(&id) else { return Vec::new() };
        match sub.live.generate(&mut sub.peer).await {
            Some(data) => {
                vec![WireMessage::Sync {
                    sender_id: SERVER_PEER_ID.into(),
                    target_id: peer_id,
                    document_id: id.to_string(),
                    data,
                }]
            }
            None => Vec::new(),
        }
    }

    /// Stops listening and keeps the sync state of a device that gave a storage id, so its
    /// next connection resumes where this one ended. (Kept at the end rather than after every
    /// message: a sync state lost in a crash only costs the device a slightly longer exchange.)
    /// The documents go back to the hub, which lets go of those no other connection holds.
    pub fn close(&mut self) {
        for (id, sub) in self.subs.drain() {
            sub.live.unlisten(self.id);
            self.regs.keep_peer(sub.storage_key, &sub.peer);
            drop(sub.live);
            self.regs.hub.release(&id);
        }
    }
}
