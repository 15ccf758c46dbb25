//! The live hub: registration documents being synced or acted on, in memory, one writer each.
//!
//! [`Hub`] keeps one [`LiveDoc`] per document that a connection or an action holds, with a
//! single writer (an async mutex), and lets each go once nothing holds it. Every incoming batch
//! is checked by the core's incoming-change check and made durable ([`super::docstore`]) before
//! the writer is released, and every other device connected to the same document is then told
//! that it has something new to pull. Server-side changes (status, reasons, deadlines) go
//! through [`LiveDoc::write_server_section`], the same way, so they reach connected devices live
//! and offline devices on their next sync.
//!
//! Each live document also holds its memory of refused changes ([`RefusedMemory`]), shared by
//! every connection and batch request that syncs it: a peer that offers refused changes again,
//! on any connection, is answered from it without a second check. It is loaded with the
//! document and stored (unflushed) whenever it learns a refusal, so it outlives the document's
//! stay in memory and a restart; a crash may lose the latest refusal, which costs one check.

use baoming_core::api::error::ErrorCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use baoming_core::document::{DocumentId, IncomingLimits, RegistrationDoc};
use baoming_core::draft::{Draft, ServerSection};
use baoming_core::lifecycle::Status;
use baoming_core::sync::{PeerSync, Received, RefusedMemory, RememberedRefusal};
use tokio::sync::mpsc;

use super::RegistrationError;
use super::docstore::{self, compact_after};
use crate::refusal::Refusal;
use crate::store::Txn;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::db::Db;

struct DocState {
    doc: RegistrationDoc,
    /// The changes this document refused, for every peer and connection.
    refused: RefusedMemory,
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
    /// The exam session.
    pub exam: String,
    db: Arc<Db>,
    state: tokio::sync::Mutex<DocState>,
    /// One lifecycle action at a time per document (see [`super::lifecycle`]).
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
    async fn persist(&self, state: &mut DocState) -> Result<(), RegistrationError> {
        let chunk = state.doc.save_incremental();
        if chunk.is_empty() {
            return Ok(());
        }
        let (store, keys) = (self.db.store(), self.db.keys());
        let committed = if state.snapshot_due || state.next_chunk >= compact_after(&self.id) {
            docstore::replace(store, keys, &self.id, &state.doc.save(), state.next_chunk).map(|()| 0)
        } else {
            docstore::append(store, keys, &self.id, state.next_chunk, &chunk).map(|()| state.next_chunk + 1)
        };
        // Committed on this thread, then made durable by a flush shared with every other
        // writer (group commit), without holding a thread while it runs.
        let written = match committed {
            Ok(next) => {
                state.next_chunk = next;
                self.db.durable().await.map_err(RegistrationError::from)
            }
            Err(e) => Err(RegistrationError::from(e)),
        };
        // After a failure the incremental cursor has moved on anyway: the next persist writes a
        // full snapshot.
        state.snapshot_due = written.is_err();
        written
    }

    /// Feeds one sync message from connection `conn` through the check; accepted changes are
    /// durable before this returns, and the other connections are notified.
    pub async fn receive(
        &self,
        conn: u64,
        peer: &mut PeerSync,
        data: &[u8],
    ) -> Result<Received, RegistrationError> {
        let mut state = self.state.lock().await;
        let DocState { doc, refused, .. } = &mut *state;
        let received = peer
            .receive_checked(doc, refused, data, IncomingLimits::default())
            .map_err(|e| Refusal::invalid(ErrorCode::BadSyncMessage, e.to_string()))?;
        if refused.take_changed() {
            docstore::keep_refused(self.db.store(), &self.id, refused);
        }
        if let Received::Applied(accepted) = &received
            && accepted.new_changes > 0
        {
            self.persist(&mut state).await?;
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

    /// The whole document (Automerge's storage format), its heads, its status and the refusals
    /// it remembers: the server's copy, for a client that must start again from it.
    pub async fn copy(&self) -> (Vec<u8>, Vec<String>, Status, Vec<RememberedRefusal>) {
        let mut state = self.state.lock().await;
        let heads = state.doc.heads().iter().map(ToString::to_string).collect();
        let refused = state.refused.refusals().cloned().collect();
        (state.doc.copy_bytes(), heads, state.doc.status(), refused)
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
        section: &ServerSection,
        actor: Actor,
    ) -> Result<(), RegistrationError> {
        let mut state = self.state.lock().await;
        state.doc.write_server(section).map_err(RegistrationError::internal)?;
        self.persist(&mut state).await?;
        drop(state);
        let event = AuditEvent::new(actor, "registration.status", self.id.to_string())
            .with(serde_json::json!({ "status": section.status.as_str(), "reason": section.reason }));
        self.db.commit(Txn::new(), event).await?;
        self.notify_except(None);
        Ok(())
    }
}

/// Whether only the hub's map holds `live` and its state is all on disk (a failed write keeps a
/// document in memory until a later write stores its snapshot).
fn idle(live: &Arc<LiveDoc>) -> bool {
    Arc::strong_count(live) == 1 && live.state.try_lock().is_ok_and(|state| !state.snapshot_due)
}

/// The live documents.
pub struct Hub {
    db: Arc<Db>,
    docs: Mutex<HashMap<DocumentId, Arc<LiveDoc>>>,
    next_conn: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

impl Hub {
    /// An empty hub over `db`.
    pub fn new(db: Arc<Db>) -> Hub {
        Hub { db, docs: Mutex::default(), next_conn: AtomicU64::new(0) }
    }

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

    /// The live document `id` of `account` for `exam`, loaded from storage or created from
    /// genesis (and stored durably) on first use.
    pub async fn open(
        &self,
        id: DocumentId,
        account: &str,
        exam: &str,
    ) -> Result<Arc<LiveDoc>, RegistrationError> {
        if let Some(doc) = self.live(&id) {
            return Ok(doc);
        }
        let db = Arc::clone(&self.db);
        let exam_id = exam.to_owned();
        let (doc, refused, next_chunk) = tokio::task::spawn_blocking(move || {
            let (doc, next, created) = docstore::load_or_create(db.store(), db.keys(), &id, &exam_id)?;
            if created {
                db.durable_blocking()?;
            }
            Ok::<_, RegistrationError>((doc, docstore::load_refused(db.store(), &id), next))
        })
        .await
        .map_err(|e| RegistrationError::Internal(format!("load task: {e}")))??;
        let mut docs = self.docs.lock().unwrap_or_else(|p| p.into_inner());
        let live = docs.entry(id).or_insert_with(|| {
            Arc::new(LiveDoc {
                id,
                account: account.to_owned(),
                exam: exam.to_owned(),
                db: Arc::clone(&self.db),
                state: tokio::sync::Mutex::new(DocState { doc, refused, next_chunk, snapshot_due: false }),
                action: tokio::sync::Mutex::new(()),
                listeners: Mutex::new(Vec::new()),
            })
        });
        Ok(Arc::clone(live))
    }
}
