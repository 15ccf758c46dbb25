//! A registration document in the local store: opened (or created from genesis with a fresh
//! device actor), persisted incrementally after each change and compacted when the chunks pile
//! up, and persisted whole when a refusal rewrote its history.

use automerge::ActorId;
use baoming_core::document::{DocumentId, RegistrationDoc};

use crate::error::ClientError;
use crate::store::LocalStore;

/// Chunks kept on top of a snapshot before the document is compacted.
pub(crate) const COMPACT_AFTER_CHUNKS: usize = 32;

/// Opens the registration document of `account_id` for `exam_id` from the store, or creates it
/// from genesis with a fresh device actor (recorded in the store).
pub(crate) fn open_registration(
    store: &LocalStore,
    exam_id: &str,
    account_id: &str,
) -> Result<(DocumentId, RegistrationDoc), ClientError> {
    let id = DocumentId::derive(exam_id, account_id);
    let actor = match store.document_actor(&id)? {
        Some(a) => a,
        None => {
            let a = ActorId::random();
            store.set_document_actor(&id, &a)?;
            a
        }
    };
    let doc = match store.load_document(&id)? {
        Some(bytes) => RegistrationDoc::load(&bytes, actor)?,
        None => {
            let mut doc = RegistrationDoc::new(exam_id, actor)?;
            store.replace_document(&id, &doc.save())?;
            doc
        }
    };
    Ok((id, doc))
}

/// Persists what changed since the last save, compacting when the chunks pile up.
pub(crate) fn persist(
    store: &LocalStore,
    id: &DocumentId,
    doc: &mut RegistrationDoc,
) -> Result<(), ClientError> {
    let chunk = doc.save_incremental();
    if store.append_document_changes(id, &chunk)? > COMPACT_AFTER_CHUNKS {
        store.replace_document(id, &doc.save())?;
    }
    Ok(())
}

/// Persists a document whose history was rewritten (after a refusal reset): a full snapshot, its
/// new actor, and no stale sync state.
pub(crate) fn persist_replaced(
    store: &LocalStore,
    id: &DocumentId,
    doc: &mut RegistrationDoc,
) -> Result<(), ClientError> {
    store.replace_document(id, &doc.save())?;
    store.set_document_actor(id, doc.actor())?;
    store.clear_sync_state(id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_survives_reopening_and_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (id, actor) = {
            let store = LocalStore::open(dir.path()).expect("open");
            let (id, mut doc) = open_registration(&store, "ncre-2027-03", "acct-9").expect("open doc");
            for i in 0..(COMPACT_AFTER_CHUNKS + 5) {
                doc.set_field("address", &format!("海淀区{i}号")).expect("edit");
                persist(&store, &id, &mut doc).expect("persist");
            }
            (id, doc.actor().clone())
        };
        let store = LocalStore::open(dir.path()).expect("reopen");
        let (id2, doc) = open_registration(&store, "ncre-2027-03", "acct-9").expect("reopen doc");
        assert_eq!(id, id2);
        assert_eq!(doc.actor(), &actor, "the device keeps its actor");
        assert_eq!(doc.draft().fields.get("address").map(String::as_str), Some("海淀区36号"));
        let bytes = store.load_document(&id).expect("load").expect("present");
        assert!(bytes.len() < 4096, "compacted ({} bytes)", bytes.len());
    }

    #[test]
    fn a_replaced_history_takes_its_new_actor_and_drops_sync_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("open");
        let (id, mut doc) = open_registration(&store, "ncre-2027-03", "acct-10").expect("doc");
        store.save_sync_state(&id, b"old").expect("sync");
        doc.set_actor(ActorId::random());
        persist_replaced(&store, &id, &mut doc).expect("replace");
        assert_eq!(store.document_actor(&id).expect("actor").as_ref(), Some(doc.actor()));
        assert_eq!(store.load_sync_state(&id).expect("sync"), None);
    }
}
