//! The open registrations and their sync bookkeeping, shared by both transports.
//!
//! [`Docs`] lives behind the client's one mutex. Each operation here is short and synchronous
//! (no `.await` while the lock is held): generate the next message of a document, apply one
//! from the server and persist what it changed, take the refusal path, tell whether a document
//! is in sync. Events are collected into a caller-owned list and delivered after the lock is
//! released.

use std::collections::{BTreeMap, HashSet};

use automerge::ChangeHash;
use baoming_core::document::{DocumentId, RefusalReason, RefusedPath, RegistrationDoc, RejectedEdit};
use baoming_core::sync::PeerSync;
use baoming_core::wire::RefusedItem;

use crate::error::ClientError;
use crate::events::{ChangeOrigin, ClientEvent};
use crate::outbox::Outbox;
use crate::persist::{persist, persist_replaced};
use crate::store::LocalStore;

/// One open registration.
pub(crate) struct Entry {
    pub(crate) exam_id: String,
    pub(crate) doc: RegistrationDoc,
    peer: PeerSync,
    /// The shared heads last written to the store.
    saved_shared: Vec<ChangeHash>,
    /// Whether the last attempt to generate a message found nothing to send.
    quiet: bool,
}

/// The store, every open registration and the outbox of lifecycle actions.
pub(crate) struct Docs {
    pub(crate) store: LocalStore,
    pub(crate) entries: BTreeMap<DocumentId, Entry>,
    pub(crate) outbox: Outbox,
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

fn apply_err(e: baoming_core::sync::SyncError) -> ClientError {
    ClientError::Protocol(format!("the server's sync message could not be applied: {e}"))
}

impl Docs {
    /// Adds an opened document.
    pub(crate) fn insert(&mut self, id: DocumentId, exam_id: &str, doc: RegistrationDoc) {
        let mut entry = Entry {
            exam_id: exam_id.to_owned(),
            doc,
            peer: PeerSync::new(),
            saved_shared: Vec::new(),
            quiet: false,
        };
        restore_peer(&self.store, &id, &mut entry);
        self.entries.insert(id, entry);
    }

    /// Whether the registration for `exam_id` is open on this client.
    pub(crate) fn is_open(&self, exam_id: &str) -> bool {
        self.entries.values().any(|e| e.exam_id == exam_id)
    }

    /// The exam of an open document.
    pub(crate) fn exam_of(&self, id: &DocumentId) -> Option<String> {
        self.entries.get(id).map(|e| e.exam_id.clone())
    }

    /// Starts an exchange: every document resumes from its persisted sync state (what both sides
    /// are known to share), as automerge-repo does on a new connection.
    pub(crate) fn begin(&mut self) {
        for (id, entry) in &mut self.entries {
            restore_peer(&self.store, id, entry);
        }
    }

    /// The next message for the server about `id`, if there is one.
    pub(crate) fn outgoing(&mut self, id: &DocumentId) -> Option<Vec<u8>> {
        let entry = self.entries.get_mut(id)?;
        let out = entry.peer.generate(&mut entry.doc);
        entry.quiet = out.is_none();
        out
    }

    /// Whether `id` is in sync: nothing left to send and the server is known to have exactly our
    /// heads.
    pub(crate) fn converged(&mut self, id: &DocumentId) -> bool {
        match self.entries.get_mut(id) {
            None => true,
            Some(e) => e.quiet && sorted(e.peer.shared_heads().to_vec()) == sorted(e.doc.heads()),
        }
    }

    /// The SHA-256 of the photo `id` references if that photo is not on the server yet.
    pub(crate) fn unsent_photo(&self, id: &DocumentId, pending: &HashSet<String>) -> Option<String> {
        let photo = self.entries.get(id)?.doc.draft().photo?;
        pending.contains(&photo.sha256).then_some(photo.sha256)
    }

    /// Applies a message from the server, persists what it changed and reports it.
    pub(crate) fn incoming(
        &mut self,
        id: &DocumentId,
        data: &[u8],
        events: &mut Vec<ClientEvent>,
    ) -> Result<bool, ClientError> {
        let Some(entry) = self.entries.get_mut(id) else { return Ok(false) };
        let before = entry.doc.heads();
        let server_before = entry.doc.server();
        entry.peer.receive_trusted(&mut entry.doc, data).map_err(apply_err)?;
        entry.quiet = false;
        let changed = sorted(entry.doc.heads()) != sorted(before);
        if changed {
            persist(&self.store, id, &mut entry.doc)?;
            events.push(ClientEvent::DocumentChanged {
                exam_id: entry.exam_id.clone(),
                origin: ChangeOrigin::Remote,
            });
            let server = entry.doc.server();
            if server != server_before {
                events.push(ClientEvent::ServerChanged { exam_id: entry.exam_id.clone(), server });
            }
        }
        self.save_sync_state(id)?;
        Ok(changed)
    }

    /// The refusal path: the server's refusal is final for those edits, so the document goes
    /// back to what the server accepted, the rewritten history is persisted with its new actor,
    /// and the refused edits are kept in the store and reported.
    pub(crate) fn refused(
        &mut self,
        id: &DocumentId,
        heads: &[String],
        items: &[RefusedItem],
        events: &mut Vec<ClientEvent>,
    ) -> Result<Vec<RejectedEdit>, ClientError> {
        let Some(entry) = self.entries.get_mut(id) else { return Ok(Vec::new()) };
        let heads: Vec<ChangeHash> = heads
            .iter()
            .map(|h| {
                h.parse().map_err(|_| ClientError::Protocol(format!("bad change hash `{h}` in a refusal")))
            })
            .collect::<Result<_, _>>()?;
        let refused: Vec<RefusedPath> =
            items.iter().map(|r| RefusedPath { path: r.path.clone(), reason: reason(&r.reason) }).collect();
        let server_before = entry.doc.server();
        let edits = entry.peer.reset_after_refusal(&mut entry.doc, &heads, &refused).map_err(apply_err)?;
        entry.quiet = false;
        entry.saved_shared.clear();
        persist_replaced(&self.store, id, &mut entry.doc)?;
        if !edits.is_empty() {
            let mut kept = self.store.load_rejected_edits(id)?;
            kept.extend(edits.iter().cloned());
            self.store.save_rejected_edits(id, &kept)?;
            events.push(ClientEvent::EditsRejected { exam_id: entry.exam_id.clone(), edits: edits.clone() });
        }
        events.push(ClientEvent::DocumentChanged {
            exam_id: entry.exam_id.clone(),
            origin: ChangeOrigin::Remote,
        });
        let server = entry.doc.server();
        if server != server_before {
            events.push(ClientEvent::ServerChanged { exam_id: entry.exam_id.clone(), server });
        }
        Ok(edits)
    }

    /// Writes the sync state of `id` if what both sides share has moved.
    pub(crate) fn save_sync_state(&mut self, id: &DocumentId) -> Result<(), ClientError> {
        let Some(entry) = self.entries.get_mut(id) else { return Ok(()) };
        let shared = sorted(entry.peer.shared_heads().to_vec());
        if shared != entry.saved_shared {
            self.store.save_sync_state(id, &entry.peer.save())?;
            entry.saved_shared = shared;
        }
        Ok(())
    }
}

/// Resets `entry`'s peer to the persisted state (a fresh one if none or unreadable).
fn restore_peer(store: &LocalStore, id: &DocumentId, entry: &mut Entry) {
    let saved = store.load_sync_state(id).ok().flatten();
    entry.peer = saved.and_then(|b| PeerSync::restore(&b).ok()).unwrap_or_default();
    entry.saved_shared = sorted(entry.peer.shared_heads().to_vec());
    entry.quiet = false;
}

/// A refusal reason from the wire; a reason newer than this client counts as `not_writable`,
/// which keeps the edit as rejected rather than re-applying it. These are the CBOR sync
/// protocol's reasons (protocol.md), the core's `RefusalReason`, not REST error codes.
fn reason(text: &str) -> RefusalReason {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).unwrap_or(RefusalReason::NotWritable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_reasons_map_to_typed_reasons() {
        assert_eq!(reason("locked"), RefusalReason::Locked);
        assert_eq!(reason("server_section"), RefusalReason::ServerSection);
        assert_eq!(reason("from_the_future"), RefusalReason::NotWritable);
    }

    #[test]
    fn a_document_converges_with_a_peer_and_persists_its_sync_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("store");
        let (id, mut doc) = crate::persist::open_registration(&store, "e", "a").expect("doc");
        doc.set_field("name", "张三").expect("edit");
        let outbox = Outbox::load(&store, crate::backoff::Backoff::default()).expect("outbox");
        let mut docs = Docs { store, entries: BTreeMap::new(), outbox };
        docs.insert(id, "e", doc);
        // The "server": a plain replica that accepts everything.
        let mut server = RegistrationDoc::new("e", automerge::ActorId::random()).expect("server");
        let mut server_peer = PeerSync::new();
        let mut events = Vec::new();
        for _ in 0..10 {
            let out = docs.outgoing(&id);
            if let Some(m) = &out {
                server_peer.receive_trusted(&mut server, m).expect("server receives");
            }
            let back = server_peer.generate(&mut server);
            if let Some(m) = &back {
                docs.incoming(&id, m, &mut events).expect("device receives");
            }
            if out.is_none() && back.is_none() {
                break;
            }
        }
        assert!(docs.converged(&id));
        assert_eq!(server.draft().fields.get("name").map(String::as_str), Some("张三"));
        assert!(docs.store.load_sync_state(&id).expect("state").is_some(), "sync state persisted");
        let mut pending = HashSet::new();
        assert_eq!(docs.unsent_photo(&id, &pending), None);
        let sha = "ab".repeat(32);
        let photo = baoming_core::photo::PhotoRef { sha256: sha.clone(), bytes: 1, width: 1, height: 1 };
        docs.entries.get_mut(&id).expect("entry").doc.set_photo(&photo).expect("photo");
        pending.insert(sha.clone());
        assert_eq!(docs.unsent_photo(&id, &pending), Some(sha));
    }
}
