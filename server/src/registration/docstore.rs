//! Registration documents at rest: a sealed snapshot plus sealed incremental chunks, in the
//! `documents` and `document_chunks` trees.
//!
//! Each document is compacted after [`compact_after`] chunks; the AEAD context binds every blob
//! to its document and position, so blobs cannot be swapped between documents. Every write here
//! is a single key, atomic on its own: a multi-tree transaction would stop every other writer
//! of the store while it commits.

use baoming_core::document::{DocumentId, RegistrationDoc, server_actor};
use baoming_core::sync::RefusedMemory;

use crate::store::crypto::Keys;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn};

/// Fewest chunks kept on top of a snapshot before compaction.
pub const COMPACT_AFTER: u64 = 64;

/// The number of chunks after which document `id` is compacted: between [`COMPACT_AFTER`] and
/// twice that, fixed per document, so that documents edited in step (a class of candidates
/// syncing before a deadline) do not all compact on the same edit.
pub fn compact_after(id: &DocumentId) -> u64 {
    COMPACT_AFTER + u64::from(id.as_bytes()[0]) % COMPACT_AFTER
}

pub(super) fn seal_context(id: &DocumentId, part: &str) -> Vec<u8> {
    let mut c = b"registration-document\0".to_vec();
    c.extend_from_slice(id.as_bytes());
    c.extend_from_slice(part.as_bytes());
    c
}

pub(super) fn chunk_key(id: &DocumentId, seq: u64) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(super) fn corrupt(reason: impl Into<String>) -> StorageError {
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

/// Stores `chunk` as chunk `seq` of document `id`.
pub fn append(
    store: &dyn Storage,
    keys: &Keys,
    id: &DocumentId,
    seq: u64,
    chunk: &[u8],
) -> Result<(), CommitError> {
    let mut txn = Txn::new();
    txn.put(
        Tree::DocumentChunks,
        chunk_key(id, seq),
        keys.seal(&seal_context(id, &format!("chunk{seq}")), chunk),
    );
    store.commit(&txn)
}

/// Replaces the snapshot of `id` with `full`, then removes its chunks `0..chunks`.
///
/// The order keeps it safe: the log is sequential, so a crash can only leave the new snapshot
/// with some of the old chunks, whose changes the snapshot holds already (loading skips them)
/// and which the next compaction removes, since loading resumes numbering after the highest
/// chunk left.
pub fn replace(
    store: &dyn Storage,
    keys: &Keys,
    id: &DocumentId,
    full: &[u8],
    chunks: u64,
) -> Result<(), CommitError> {
    let mut txn = Txn::new();
    txn.put(Tree::Documents, id.as_bytes().to_vec(), keys.seal(&seal_context(id, "snapshot"), full));
    store.commit(&txn)?;
    for seq in 0..chunks {
        let mut txn = Txn::new();
        txn.delete(Tree::DocumentChunks, chunk_key(id, seq));
        store.commit(&txn)?;
    }
    Ok(())
}

/// Loads document `id`, or creates it from genesis for `exam` and stores its snapshot (not yet
/// durable). Returns the document, the sequence number of its next chunk, and whether it was
/// created now.
pub fn load_or_create(
    store: &dyn Storage,
    keys: &Keys,
    id: &DocumentId,
    exam: &str,
) -> Result<(RegistrationDoc, u64, bool), StorageError> {
    if let Some((doc, next)) = load(store, keys, id)? {
        return Ok((doc, next, false));
    }
    let mut doc =
        RegistrationDoc::new(exam, server_actor()).map_err(|e| StorageError::Engine(e.to_string()))?;
    replace(store, keys, id, &doc.save(), 0).map_err(|e| match e {
        CommitError::Storage(s) => s,
        other => StorageError::Engine(other.to_string()),
    })?;
    Ok((doc, 0, true))
}

/// The refused-change memory of document `id` (empty when none is stored, or when what is
/// stored cannot be read: the memory only spares the server work).
pub fn load_refused(store: &dyn Storage, id: &DocumentId) -> RefusedMemory {
    match store.get(Tree::RefusedChanges, id.as_bytes()) {
        Ok(Some(bytes)) => RefusedMemory::decode(&bytes).unwrap_or_else(|e| {
            tracing::warn!(document = %id, "{e}; starting with an empty one");
            RefusedMemory::new()
        }),
        Ok(None) => RefusedMemory::new(),
        Err(e) => {
            tracing::warn!(document = %id, "could not read the refused-change memory: {e}");
            RefusedMemory::new()
        }
    }
}

/// Stores the refused-change memory of document `id`, without waiting for a flush: a crash
/// may lose the latest refusal, which only costs one more check of a change offered again.
pub fn keep_refused(store: &dyn Storage, id: &DocumentId, memory: &RefusedMemory) {
    let mut txn = Txn::new();
    txn.put(Tree::RefusedChanges, id.as_bytes().to_vec(), memory.encode());
    if let Err(e) = store.commit(&txn) {
        tracing::warn!(document = %id, "could not keep the refused-change memory: {e}");
    }
}
