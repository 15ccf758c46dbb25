//! Registration documents on the server: durable, encrypted storage and the live hub.
//!
//! Each document is kept as a sealed snapshot plus sealed incremental chunks (compacted every
//! [`compact_after`] chunks) in the `documents` and `document_chunks` trees; the AEAD context
//! binds every blob to its document and position, so blobs cannot be swapped between documents.
//!
//! [`Hub`] keeps the documents that connected devices are syncing in memory, one [`LiveDoc`] per
//! document with a single writer (an async mutex), and lets each go once nothing holds it. Every
//! incoming batch is checked by the core's incoming-change check and made durable before the
//! writer is released, and every other device connected to the same document is then told that
//! it has something new to pull. Server-side
//! changes (status, reasons, deadlines) go through [`LiveDoc::write_server_section`], the same
//! way, so they reach connected devices live and offline devices on their next sync.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baoming_core::document::{DocumentId, IncomingLimits, RegistrationDoc, server_actor};
use baoming_core::draft::{Draft, ServerSection};
use baoming_core::sync::{PeerSync, Received};
use tokio::sync::mpsc;

use crate::app::App;
use crate::error::ApiError;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::{Keys, random_array, sha256};
use crate::store::{CommitError, Storage, StorageError, Tree, Txn};

/// Fewest chunks kept on top of a snapshot before compaction.
pub const COMPACT_AFTER: u64 = 64;

/// The number of chunks after which document `id` is compacted: between [`COMPACT_AFTER`] and
/// twice that, fixed per document, so that documents edited in step (a class of candidates
/// syncing before a deadline) do not all compact on the same edit.
pub fn compact_after(id: &DocumentId) -> u64 {
    COMPACT_AFTER + u64::from(id.as_bytes()[0]) % COMPACT_AFTER
}

/// Lifetime of a WebSocket ticket.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

fn seal_context(id: &DocumentId, part: &str) -> Vec<u8> {
    let mut c = b"registration-document\0".to_vec();
    c.extend_from_slice(id.as_bytes());
    c.extend_from_slice(part.as_bytes());
    c
}

fn chunk_key(id: &DocumentId, seq: u64) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn corrupt(reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt { tree: "documents", reason: reason.into() }
}

/// Loads a stored document: the snapshot and its chunks, opened and concatenated. Returns the
/// document and the sequence number of the next chunk.
pub fn load(
    store: &dyn Storage,
    keys: &Keys,
    id: &DocumentId,
) -> Result<Option<(RegistrationDoc, u64)>, StorageError> {
    let Some(sealed) = store.get(Tree::Documents, id.as_bytes())? else { return Ok(None) };
    let mut bytes = keys.open(&seal_context(id, "snapshot"), &sealed).map_err(|_| corrupt("snapshot"))?;
    let mut next = 0;
    for (key, sealed) in store.scan_prefix(Tree::DocumentChunks, id.as_bytes())? {
        let seq = key
            .get(16..24)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt("chunk key"))?;
        let chunk =
            keys.open(&seal_context(id, &format!("chunk{seq}")), &sealed).map_err(|_| corrupt("chunk"))?;
        bytes.extend_from_slice(&chunk);
        next = seq + 1;
    }
    let doc = RegistrationDoc::load(&bytes, server_actor()).map_err(|e| corrupt(format!("document: {e}")))?;
    Ok(Some((doc, next)))
}

/// Every document id stored, for backups and the operator tools.
pub fn stored_ids(store: &dyn Storage) -> Result<Vec<DocumentId>, StorageError> {
    Ok(store
        .scan_prefix(Tree::Documents, b"")?
        .into_iter()
        .filter_map(|(k, _)| <[u8; 16]>::try_from(k.as_slice()).ok().map(DocumentId::from_bytes))
        .collect())
}

struct DocState {
    doc: RegistrationDoc,
    next_chunk: u64,
    /// Set after a failed write: the next persist stores a full snapshot.
    snapshot_due: bool,
}

/// A document being synced: one writer at a time, and the connections to notify.
pub struct LiveDoc {
    /// The document id.
    pub id: DocumentId,
    /// The owning account.
    pub account: String,
    state: tokio::sync::Mutex<DocState>,
    /// One lifecycle action at a time per document (see [`crate::registration::lifecycle`]).
    action: tokio::sync::Mutex<()>,
    listeners: Mutex<Vec<(u64, mpsc::UnboundedSender<DocumentId>)>>,
}

impl std::fmt::Debug for LiveDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveDoc").field("id", &self.id).finish_non_exhaustive()
    }
}

impl LiveDoc {
    /// Registers a connection to be told when the document changes.
    pub fn listen(&self, conn: u64, tx: mpsc::UnboundedSender<DocumentId>) {
        let mut l = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        l.retain(|(c, t)| *c != conn && !t.is_closed());
        l.push((conn, tx));
    }

    /// Removes a connection.
    pub fn unlisten(&self, conn: u64) {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner()).retain(|(c, _)| *c != conn);
    }

    fn notify_except(&self, conn: Option<u64>) {
        let mut l = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        l.retain(|(c, tx)| Some(*c) == conn || tx.send(self.id).is_ok());
    }

    /// Persists what changed since the last persist, durably, compacting when due.
    async fn persist(&self, app: &App, state: &mut DocState) -> Result<(), ApiError> {
        let chunk = state.doc.save_incremental();
        if chunk.is_empty() {
            return Ok(());
        }
        let committed = if state.snapshot_due || state.next_chunk >= compact_after(&self.id) {
            self.compact(app, state)
        } else {
            self.append(app, state, &chunk)
        };
        // Committed on this thread, then made durable by a flush shared with every other
        // writer (group commit), without holding a thread while it runs.
        let written = match committed {
            Ok(()) => app.flusher.durable().await.map_err(ApiError::from),
            Err(e) => Err(ApiError::from(e)),
        };
        // After a failure the incremental cursor has moved on anyway: the next persist writes a
        // full snapshot.
        state.snapshot_due = written.is_err();
        written
    }

    /// Stores `chunk` as the next incremental chunk: one key, written atomically on its own.
    fn append(&self, app: &App, state: &mut DocState, chunk: &[u8]) -> Result<(), CommitError> {
        let seq = state.next_chunk;
        let mut txn = Txn::new();
        txn.put(
            Tree::DocumentChunks,
            chunk_key(&self.id, seq),
            app.keys.seal(&seal_context(&self.id, &format!("chunk{seq}")), chunk),
        );
        app.store.commit(&txn)?;
        state.next_chunk = seq + 1;
        Ok(())
    }

    /// Replaces the snapshot with the whole document, then removes the chunks it covers.
    ///
    /// Every write is a single key, atomic on its own: a multi-tree transaction would stop
    /// every other writer of the store while it commits. The order keeps it safe: the log is
    /// sequential, so a crash can only leave the new snapshot with some of the old chunks, whose
    /// changes the snapshot holds already (loading skips them) and which the next compaction
    /// removes, since loading resumes numbering after the highest chunk left.
    fn compact(&self, app: &App, state: &mut DocState) -> Result<(), CommitError> {
        let full = state.doc.save();
        let mut txn = Txn::new();
        txn.put(
            Tree::Documents,
            self.id.as_bytes().to_vec(),
            app.keys.seal(&seal_context(&self.id, "snapshot"), &full),
        );
        app.store.commit(&txn)?;
        for seq in 0..state.next_chunk {
            let mut txn = Txn::new();
            txn.delete(Tree::DocumentChunks, chunk_key(&self.id, seq));
            app.store.commit(&txn)?;
        }
        state.next_chunk = 0;
        Ok(())
    }

    /// Feeds one sync message from connection `conn` through the check; accepted changes are
    /// durable before this returns, and the other connections are notified.
    pub async fn receive(
        &self,
        app: &App,
        conn: u64,
        peer: &mut PeerSync,
        data: &[u8],
    ) -> Result<Received, ApiError> {
        let mut state = self.state.lock().await;
        let received = peer
            .receive_checked(&mut state.doc, data, IncomingLimits::default())
            .map_err(|e| ApiError::invalid("bad_sync_message", e.to_string()))?;
        if let Received::Applied(accepted) = &received
            && accepted.new_changes > 0
        {
            self.persist(app, &mut state).await?;
            drop(state);
            self.notify_except(Some(conn));
        }
        Ok(received)
    }

    /// The next message for `peer`, if it lacks anything.
    pub async fn generate(&self, peer: &mut PeerSync) -> Option<Vec<u8>> {
        let mut state = self.state.lock().await;
        peer.generate(&mut state.doc)
    }

    /// The server's heads, as lower-case hex.
    pub async fn heads_hex(&self) -> Vec<String> {
        let mut state = self.state.lock().await;
        state.doc.heads().iter().map(ToString::to_string).collect()
    }

    /// A snapshot of the draft.
    pub async fn draft(&self) -> Draft {
        self.state.lock().await.doc.draft()
    }

    /// The draft as it was at `heads` (hex), when the document holds all of them.
    pub async fn draft_at_hex(&self, heads: &[String]) -> Option<Draft> {
        self.state.lock().await.doc.draft_at_hex(heads)
    }

    /// Serialises lifecycle actions on this document: hold the guard while deciding and
    /// committing one.
    pub async fn action_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.action.lock().await
    }

    /// A snapshot of the server section.
    pub async fn server_section(&self) -> ServerSection {
        self.state.lock().await.doc.server()
    }

    /// Writes the server section (status, reason, seats, deadline, …), durably and audited, and
    /// tells every connected device.
    pub async fn write_server_section(
        &self,
        app: &App,
        section: &ServerSection,
        actor: Actor,
    ) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        state.doc.write_server(section).map_err(|e| ApiError::Internal(e.to_string()))?;
        self.persist(app, &mut state).await?;
        drop(state);
        let event = AuditEvent::new(actor, "registration.status", self.id.to_string())
            .with(serde_json::json!({ "status": section.status.as_str(), "reason": section.reason }));
        app.commit(Txn::new(), event).await?;
        self.notify_except(None);
        Ok(())
    }
}

/// Whether only the hub's map holds `live` and its state is all on disk (a failed write keeps a
/// document in memory until a later write stores its snapshot).
fn idle(live: &Arc<LiveDoc>) -> bool {
    Arc::strong_count(live) == 1 && live.state.try_lock().is_ok_and(|state| !state.snapshot_due)
}

struct Ticket {
    account: String,
    expires: Instant,
}

/// The live documents and the WebSocket tickets.
#[derive(Default)]
pub struct Hub {
    docs: Mutex<HashMap<DocumentId, Arc<LiveDoc>>>,
    tickets: Mutex<HashMap<[u8; 32], Ticket>>,
    next_conn: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

impl Hub {
    /// A fresh connection number.
    pub fn connection_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The live document `id`, if it is in memory (a connection or an action has it open, or
    /// had it open since the last release).
    pub fn live(&self, id: &DocumentId) -> Option<Arc<LiveDoc>> {
        self.docs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// Drops document `id` from memory if nothing holds it any more and everything it holds is
    /// on disk; the next [`Hub::open`] loads it again. Returns whether it was released.
    ///
    /// Every holder gets its handle from this map, under its lock: a document only the map
    /// holds cannot be in use, so releasing it can never leave two writers for one document.
    pub fn release(&self, id: &DocumentId) -> bool {
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let released = docs.get(id).is_some_and(idle);
        if released {
            docs.remove(id);
        }
        released
    }

    /// Releases every document nothing holds (see [`Hub::release`]); returns how many.
    pub fn release_idle(&self) -> usize {
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let before = docs.len();
        docs.retain(|_, live| !idle(live));
        before - docs.len()
    }

    /// How many documents are in memory.
    pub fn resident(&self) -> usize {
        self.docs.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The document ids `account` may sync: one per exam session of the catalog.
    pub fn allowed(app: &App, account: &str) -> Vec<(DocumentId, String)> {
        app.catalog()
            .map(|view| {
                view.catalog
                    .exams
                    .iter()
                    .map(|e| (DocumentId::derive(&e.id, account), e.id.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The live document `id` of `account` for `exam`, loaded from storage or created from
    /// genesis (and stored) on first use.
    pub async fn open(
        &self,
        app: &App,
        id: DocumentId,
        account: &str,
        exam: &str,
    ) -> Result<Arc<LiveDoc>, ApiError> {
        if let Some(doc) = self.docs.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(Arc::clone(doc));
        }
        let store = Arc::clone(&app.store);
        let app2 = Arc::clone(app);
        let exam_id = exam.to_owned();
        let loaded = tokio::task::spawn_blocking(move || -> Result<(RegistrationDoc, u64), ApiError> {
            if let Some(found) = load(&*store, &app2.keys, &id)? {
                return Ok(found);
            }
            let mut doc = RegistrationDoc::new(&exam_id, server_actor())
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut txn = Txn::new();
            txn.put(
                Tree::Documents,
                id.as_bytes().to_vec(),
                app2.keys.seal(&seal_context(&id, "snapshot"), &doc.save()),
            );
            store.commit(&txn)?;
            app2.flusher.durable_blocking()?;
            Ok((doc, 0))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("load task: {e}")))??;
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let live = docs.entry(id).or_insert_with(|| {
            Arc::new(LiveDoc {
                id,
                account: account.to_owned(),
                state: tokio::sync::Mutex::new(DocState {
                    doc: loaded.0,
                    next_chunk: loaded.1,
                    snapshot_due: false,
                }),
                action: tokio::sync::Mutex::new(()),
                listeners: Mutex::new(Vec::new()),
            })
        });
        Ok(Arc::clone(live))
    }

    /// Issues a single-use ticket for clients that cannot set an Authorization header on the
    /// WebSocket upgrade.
    pub fn issue_ticket(&self, account: &str) -> String {
        let raw: [u8; 32] = random_array();
        let ticket = format!("wst_{}", hex::encode(raw));
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        tickets.retain(|_, t| t.expires > now);
        tickets.insert(
            sha256(ticket.as_bytes()),
            Ticket { account: account.to_owned(), expires: now + TICKET_TTL },
        );
        ticket
    }

    /// Redeems a ticket once; returns the account.
    pub fn redeem_ticket(&self, ticket: &str) -> Option<String> {
        let mut tickets = self.tickets.lock().unwrap_or_else(|p| p.into_inner());
        let t = tickets.remove(&sha256(ticket.as_bytes()))?;
        (t.expires > Instant::now()).then_some(t.account)
    }
}
