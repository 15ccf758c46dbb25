//! The device's local store: one folder holding everything the app needs offline.
//!
//! ```text
//! <root>/LOCK                           held while a client has the store open
//! <root>/storage-id                     this device's storage id for sync (random, kept)
//! <root>/docs/<doc id>/snapshot.<gen>   a full save; the highest generation wins
//! <root>/docs/<doc id>/<gen>.<seq>.chunk incremental saves on top of that snapshot
//! <root>/docs/<doc id>/actor            this device's actor for the document (hex)
//! <root>/docs/<doc id>/sync             Automerge sync state with the server
//! <root>/docs/<doc id>/rejected.json    edits the server refused, for the app to show
//! <root>/catalog/etag, catalog/body     the cached catalog and its ETag
//! <root>/photos/<sha256>.jpg            prepared photos, content-addressed
//! <root>/uploads/<sha256>               photos waiting to be uploaded
//! <root>/outbox.json                    queued lifecycle actions and their outcomes (`outbox`)
//! ```
//!
//! Every file is written atomically (temporary file, fsync, rename, fsync of the folder), so a
//! crash leaves either the old or the new content. Replacing a document (after a refusal reset,
//! or compaction) writes a new snapshot generation first and deletes older files after, so a
//! crash in between can never resurrect dropped changes. The session token is not stored here:
//! it is the app's to keep in the platform's secure storage.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use automerge::ActorId;
use baoming_core::catalog::hex;
use baoming_core::document::{DocumentId, RejectedEdit};
use ring::digest;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Errors of the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another client has the store open.
    #[error("the local store at {0} is in use by another client")]
    Locked(PathBuf),
    /// A stored file is unreadable.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// The catalog as last fetched, with its ETag for a conditional refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCatalog {
    /// The server's ETag.
    pub etag: String,
    /// The response body (the catalog as JSON).
    pub body: Vec<u8>,
}

/// A folder-backed local store. Only one [`LocalStore`] may have a folder open at a time.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    _lock: File,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically and durably.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io { path: path.to_owned(), source: e }),
    }
}

fn remove_opt(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io { path: path.to_owned(), source: e }),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The files of one document: the newest snapshot generation and its chunks in order.
struct DocFiles {
    generation: u64,
    snapshot: Option<PathBuf>,
    chunks: Vec<(u64, PathBuf)>,
    stale: Vec<PathBuf>,
}

impl LocalStore {
    /// Opens (creating if needed) the store in `root` and takes its lock.
    pub fn open(root: impl AsRef<Path>) -> Result<LocalStore, StoreError> {
        let root = root.as_ref().to_owned();
        for sub in ["docs", "catalog", "photos", "uploads"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let lock_path = root.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(root)),
            Err(fs::TryLockError::Error(e)) => return Err(StoreError::Io { path: lock_path, source: e }),
        }
        Ok(LocalStore { root, _lock: lock })
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This store's storage id (protocol.md §5): created at random on first use and kept, so the
    /// server can resume its sync state with this device across connections.
    pub fn storage_id(&self) -> Result<String, StoreError> {
        let path = self.root.join("storage-id");
        if let Some(b) = read_opt(&path)? {
            let id = String::from_utf8(b)
                .map_err(|_| StoreError::Corrupt { path: path.clone(), reason: "not UTF-8".into() })?;
            let id = id.trim();
            if id.is_empty() || id.len() > 64 {
                return Err(StoreError::Corrupt { path, reason: "not a storage id".into() });
            }
            return Ok(id.to_owned());
        }
        let id = format!("st-{}", ActorId::random().to_hex_string());
        write_atomic(&path, id.as_bytes())?;
        Ok(id)
    }

    fn doc_dir(&self, id: &DocumentId) -> Result<PathBuf, StoreError> {
        let dir = self.root.join("docs").join(id.to_string());
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }

    fn doc_files(&self, id: &DocumentId) -> Result<DocFiles, StoreError> {
        let dir = self.doc_dir(id)?;
        let mut snapshots = Vec::new();
        let mut chunks = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(g) = name.strip_prefix("snapshot.").and_then(|g| g.parse::<u64>().ok()) {
                snapshots.push((g, entry.path()));
            } else if let Some(rest) = name.strip_suffix(".chunk")
                && let Some((g, s)) = rest.split_once('.')
                && let (Ok(g), Ok(s)) = (g.parse::<u64>(), s.parse::<u64>())
            {
                chunks.push((g, s, entry.path()));
            }
        }
        let generation = snapshots.iter().map(|(g, _)| *g).max().unwrap_or(0);
        let mut stale = Vec::new();
        let mut snapshot = None;
        for (g, p) in snapshots {
            if g == generation { snapshot = Some(p) } else { stale.push(p) }
        }
        let mut current = Vec::new();
        for (g, s, p) in chunks {
            if g == generation { current.push((s, p)) } else { stale.push(p) }
        }
        current.sort();
        Ok(DocFiles { generation, snapshot, chunks: current, stale })
    }

    /// The stored document (snapshot followed by its incremental chunks, as one byte string
    /// that `RegistrationDoc::load` reads), or `None` if this device has none.
    pub fn load_document(&self, id: &DocumentId) -> Result<Option<Vec<u8>>, StoreError> {
        let files = self.doc_files(id)?;
        let mut out = Vec::new();
        if let Some(p) = &files.snapshot {
            out.extend(fs::read(p).map_err(io_err(p))?);
        }
        for (_, p) in &files.chunks {
            out.extend(fs::read(p).map_err(io_err(p))?);
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// Appends an incremental save (empty chunks are skipped). Returns how many chunks now sit
    /// on top of the snapshot, so the caller can compact with [`LocalStore::replace_document`].
    pub fn append_document_changes(&self, id: &DocumentId, chunk: &[u8]) -> Result<usize, StoreError> {
        let files = self.doc_files(id)?;
        if chunk.is_empty() {
            return Ok(files.chunks.len());
        }
        let next = files.chunks.last().map_or(0, |(s, _)| s + 1);
        let path = self.doc_dir(id)?.join(format!("{}.{next}.chunk", files.generation));
        write_atomic(&path, chunk)?;
        Ok(files.chunks.len() + 1)
    }

    /// Replaces the stored document with a full save: a new snapshot generation is written
    /// first, then every older file is removed.
    pub fn replace_document(&self, id: &DocumentId, full: &[u8]) -> Result<(), StoreError> {
        let files = self.doc_files(id)?;
        let dir = self.doc_dir(id)?;
        write_atomic(&dir.join(format!("snapshot.{}", files.generation + 1)), full)?;
        let old =
            files.snapshot.into_iter().chain(files.chunks.into_iter().map(|(_, p)| p)).chain(files.stale);
        for p in old {
            remove_opt(&p)?;
        }
        sync_dir(&dir)
    }

    /// This device's actor for the document, if one was recorded.
    pub fn document_actor(&self, id: &DocumentId) -> Result<Option<ActorId>, StoreError> {
        let path = self.doc_dir(id)?.join("actor");
        match read_opt(&path)? {
            None => Ok(None),
            Some(b) => {
                let text = String::from_utf8(b)
                    .map_err(|_| StoreError::Corrupt { path: path.clone(), reason: "not UTF-8".into() })?;
                ActorId::try_from(text.trim())
                    .map(Some)
                    .map_err(|_| StoreError::Corrupt { path, reason: "not a hex actor id".into() })
            }
        }
    }

    /// Records this device's actor for the document.
    pub fn set_document_actor(&self, id: &DocumentId, actor: &ActorId) -> Result<(), StoreError> {
        write_atomic(&self.doc_dir(id)?.join("actor"), actor.to_hex_string().as_bytes())
    }

    /// The saved sync state with the server.
    pub fn load_sync_state(&self, id: &DocumentId) -> Result<Option<Vec<u8>>, StoreError> {
        read_opt(&self.doc_dir(id)?.join("sync"))
    }

    /// Saves the sync state with the server.
    pub fn save_sync_state(&self, id: &DocumentId, state: &[u8]) -> Result<(), StoreError> {
        write_atomic(&self.doc_dir(id)?.join("sync"), state)
    }

    /// Forgets the sync state (after a refusal reset).
    pub fn clear_sync_state(&self, id: &DocumentId) -> Result<(), StoreError> {
        remove_opt(&self.doc_dir(id)?.join("sync"))
    }

    /// The rejected edits kept for the app.
    pub fn load_rejected_edits(&self, id: &DocumentId) -> Result<Vec<RejectedEdit>, StoreError> {
        let path = self.doc_dir(id)?.join("rejected.json");
        match read_opt(&path)? {
            None => Ok(Vec::new()),
            Some(b) => {
                serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })
            }
        }
    }

    /// Replaces the rejected edits kept for the app.
    pub fn save_rejected_edits(&self, id: &DocumentId, edits: &[RejectedEdit]) -> Result<(), StoreError> {
        let path = self.doc_dir(id)?.join("rejected.json");
        let json = serde_json::to_vec_pretty(edits)
            .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        write_atomic(&path, &json)
    }

    /// The outbox file (the queued lifecycle actions and the outcomes kept for the app, see
    /// [`crate::outbox`]), or its default if there is none.
    pub(crate) fn load_outbox<T: DeserializeOwned + Default>(&self) -> Result<T, StoreError> {
        let path = self.root.join("outbox.json");
        match read_opt(&path)? {
            None => Ok(T::default()),
            Some(b) => {
                serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt { path, reason: e.to_string() })
            }
        }
    }

    /// Replaces the outbox in one atomic write.
    pub(crate) fn save_outbox<T: Serialize>(&self, outbox: &T) -> Result<(), StoreError> {
        let path = self.root.join("outbox.json");
        let json = serde_json::to_vec_pretty(outbox)
            .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        write_atomic(&path, &json)
    }

    /// The cached catalog.
    pub fn load_catalog(&self) -> Result<Option<CachedCatalog>, StoreError> {
        let dir = self.root.join("catalog");
        match (read_opt(&dir.join("etag"))?, read_opt(&dir.join("body"))?) {
            (Some(etag), Some(body)) => {
                Ok(Some(CachedCatalog { etag: String::from_utf8_lossy(&etag).into_owned(), body }))
            }
            _ => Ok(None),
        }
    }

    /// Caches the catalog. The body is written before the ETag, so a crash between the two
    /// leaves an old ETag with a new body, which only costs one unconditional refresh.
    pub fn save_catalog(&self, catalog: &CachedCatalog) -> Result<(), StoreError> {
        let dir = self.root.join("catalog");
        remove_opt(&dir.join("etag"))?;
        write_atomic(&dir.join("body"), &catalog.body)?;
        write_atomic(&dir.join("etag"), catalog.etag.as_bytes())
    }

    /// Stores a prepared photo and returns its SHA-256 (lower-case hex).
    pub fn put_photo(&self, jpeg: &[u8]) -> Result<String, StoreError> {
        let sha = hex(digest::digest(&digest::SHA256, jpeg).as_ref());
        let path = self.root.join("photos").join(format!("{sha}.jpg"));
        if !path.exists() {
            write_atomic(&path, jpeg)?;
        }
        Ok(sha)
    }

    /// A stored photo by its SHA-256; a file whose content no longer matches is reported.
    pub fn get_photo(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !is_sha256_hex(sha256) {
            return Ok(None);
        }
        let path = self.root.join("photos").join(format!("{sha256}.jpg"));
        match read_opt(&path)? {
            Some(b) if hex(digest::digest(&digest::SHA256, &b).as_ref()) != sha256 => {
                Err(StoreError::Corrupt { path, reason: "content does not match its hash".into() })
            }
            other => Ok(other),
        }
    }

    /// Marks a photo as waiting for upload.
    pub fn mark_upload_pending(&self, sha256: &str) -> Result<(), StoreError> {
        if !is_sha256_hex(sha256) {
            return Err(StoreError::Corrupt {
                path: self.root.join("uploads"),
                reason: "not a sha256".into(),
            });
        }
        write_atomic(&self.root.join("uploads").join(sha256), b"")
    }

    /// Photos waiting for upload, sorted.
    pub fn pending_uploads(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.root.join("uploads");
        let mut out: Vec<String> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| is_sha256_hex(n))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Marks a photo as uploaded.
    pub fn mark_uploaded(&self, sha256: &str) -> Result<(), StoreError> {
        if !is_sha256_hex(sha256) {
            return Ok(());
        }
        remove_opt(&self.root.join("uploads").join(sha256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baoming_core::document::RegistrationDoc;

    fn store() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(dir.path()).expect("open");
        (dir, store)
    }

    #[test]
    fn documents_round_trip_through_snapshot_and_chunks() {
        let (_dir, store) = store();
        let id = DocumentId::derive("ncre-2027-03", "acct-1");
        assert_eq!(store.load_document(&id).expect("load"), None);
        let actor = ActorId::from(&[5u8; 16][..]);
        let mut doc = RegistrationDoc::new("ncre-2027-03", actor.clone()).expect("doc");
        store.replace_document(&id, &doc.save()).expect("snapshot");
        for (i, name) in ["甲", "乙", "丙"].into_iter().enumerate() {
            doc.set_field("name", name).expect("edit");
            let n = store.append_document_changes(&id, &doc.save_incremental()).expect("append");
            assert_eq!(n, i + 1);
        }
        assert_eq!(store.append_document_changes(&id, &[]).expect("empty"), 3);
        let bytes = store.load_document(&id).expect("load").expect("present");
        let loaded = RegistrationDoc::load(&bytes, actor.clone()).expect("load doc");
        assert_eq!(loaded.draft(), doc.draft());

        // Compaction keeps the content and drops the chunks.
        store.replace_document(&id, &doc.save()).expect("compact");
        assert_eq!(store.doc_files(&id).expect("files").chunks.len(), 0);
        let loaded =
            RegistrationDoc::load(&store.load_document(&id).expect("l").expect("p"), actor).expect("l");
        assert_eq!(loaded.draft(), doc.draft());
    }

    #[test]
    fn a_crash_between_snapshot_and_cleanup_never_resurrects_dropped_chunks() {
        let (dir, store) = store();
        let id = DocumentId::derive("ncre-2027-03", "acct-2");
        let actor = ActorId::from(&[6u8; 16][..]);
        let mut doc = RegistrationDoc::new("ncre-2027-03", actor.clone()).expect("doc");
        store.replace_document(&id, &doc.save()).expect("snapshot");
        let base = doc.save();
        doc.set_field("name", "被拒绝的编辑").expect("edit");
        store.append_document_changes(&id, &doc.save_incremental()).expect("append");
        // Simulate the crash: the next generation's snapshot exists, the old files are still there.
        let docdir = dir.path().join("docs").join(id.to_string());
        write_atomic(&docdir.join("snapshot.2"), &base).expect("write");
        let loaded =
            RegistrationDoc::load(&store.load_document(&id).expect("l").expect("p"), actor).expect("l");
        assert!(loaded.draft().fields.is_empty(), "the old generation's chunk is ignored");
    }

    #[test]
    fn the_storage_id_is_created_once_and_kept() {
        let (dir, store) = store();
        let id = store.storage_id().expect("id");
        assert!(id.starts_with("st-") && id.len() == 35, "{id}");
        assert_eq!(store.storage_id().expect("again"), id);
        drop(store);
        let store = LocalStore::open(dir.path()).expect("reopen");
        assert_eq!(store.storage_id().expect("kept"), id);
    }

    #[test]
    fn one_client_at_a_time() {
        let (dir, _store) = store();
        assert!(matches!(LocalStore::open(dir.path()), Err(StoreError::Locked(_))));
    }

    #[test]
    fn actor_sync_state_rejected_edits_and_catalog() {
        let (_dir, store) = store();
        let id = DocumentId::derive("e", "a");
        assert_eq!(store.document_actor(&id).expect("actor"), None);
        let actor = ActorId::random();
        store.set_document_actor(&id, &actor).expect("set");
        assert_eq!(store.document_actor(&id).expect("actor"), Some(actor));
        store.save_sync_state(&id, b"state").expect("sync");
        assert_eq!(store.load_sync_state(&id).expect("sync").as_deref(), Some(&b"state"[..]));
        store.clear_sync_state(&id).expect("clear");
        assert_eq!(store.load_sync_state(&id).expect("sync"), None);
        let edits = vec![RejectedEdit {
            path: "draft.fields.name".into(),
            value: Some("张三".into()),
            reason: "locked".into(),
        }];
        store.save_rejected_edits(&id, &edits).expect("save");
        assert_eq!(store.load_rejected_edits(&id).expect("load"), edits);
        assert_eq!(store.load_catalog().expect("catalog"), None);
        let cached = CachedCatalog { etag: "\"abc\"".into(), body: b"{}".to_vec() };
        store.save_catalog(&cached).expect("save");
        assert_eq!(store.load_catalog().expect("catalog"), Some(cached));
    }

    #[test]
    fn photos_are_content_addressed_and_checked() {
        let (dir, store) = store();
        let sha = store.put_photo(b"jpeg bytes").expect("put");
        assert_eq!(store.get_photo(&sha).expect("get").as_deref(), Some(&b"jpeg bytes"[..]));
        assert_eq!(store.get_photo("../../etc/passwd").expect("get"), None);
        store.mark_upload_pending(&sha).expect("pending");
        assert_eq!(store.pending_uploads().expect("list"), vec![sha.clone()]);
        store.mark_uploaded(&sha).expect("done");
        assert!(store.pending_uploads().expect("list").is_empty());
        assert!(store.mark_upload_pending("nope").is_err());
        fs::write(dir.path().join("photos").join(format!("{sha}.jpg")), b"tampered").expect("tamper");
        assert!(matches!(store.get_photo(&sha), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn corrupt_files_are_reported_not_trusted() {
        let (dir, store) = store();
        let id = DocumentId::derive("e", "b");
        store.doc_dir(&id).expect("dir");
        fs::write(dir.path().join("docs").join(id.to_string()).join("actor"), b"zz").expect("write");
        assert!(matches!(store.document_actor(&id), Err(StoreError::Corrupt { .. })));
        fs::write(dir.path().join("docs").join(id.to_string()).join("rejected.json"), b"[").expect("write");
        assert!(matches!(store.load_rejected_edits(&id), Err(StoreError::Corrupt { .. })));
    }
}
