//! [`Db`]: the handle every service holds — the storage engine, group commit, the data keys and
//! the clock — and the one durable write path.
//!
//! Every state change goes through [`Db::commit`]: the change and its audit entry are committed
//! together (one writer at a time, so the audit chain's head never forks), then the caller waits
//! for a flush that covers it (shared with concurrent writers, see [`super::durability`]), and
//! only then answers its client.

use std::sync::{Arc, Mutex};

use super::audit::{self, AuditEvent};
use super::crypto::{CryptoError, KEY_LEN, Keys};
use super::durability::GroupFlush;
use super::{CommitError, Storage, StorageError, Tree, Txn};
use crate::clock::Clock;

const KEY_CHECK: &[u8] = b"key_check";

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Key material problem.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The configured key is not the one this database was written with.
    #[error("the data key does not open this database (wrong BAOMING_DATA_KEY or data.key?)")]
    KeyMismatch,
}

/// The database: engine, durability, keys and clock.
pub struct Db {
    store: Arc<dyn Storage>,
    flusher: GroupFlush,
    keys: Keys,
    clock: Clock,
    write_lock: Mutex<()>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

/// Where the data key comes from.
#[derive(Debug, Clone)]
pub enum KeySource<'a> {
    /// 64 hex characters from the configuration.
    Hex(&'a str),
    /// A key file, generated when missing.
    File(&'a std::path::Path),
}

impl Db {
    /// Opens the database on `store`: loads the data key (generating the key file when
    /// missing), checks it against the database, and starts the flusher. The flag tells whether
    /// the key file was generated now.
    pub fn open(store: Arc<dyn Storage>, key: KeySource<'_>, clock: Clock) -> Result<(Db, bool), OpenError> {
        let (master, generated): ([u8; KEY_LEN], bool) = match key {
            KeySource::Hex(hex_key) => (Keys::parse_master(hex_key)?, false),
            KeySource::File(path) => Keys::load_or_generate(path)?,
        };
        let keys = Keys::from_master(&master);
        match store.get(Tree::Meta, KEY_CHECK)? {
            Some(sealed) => {
                keys.open(KEY_CHECK, &sealed).map_err(|_| OpenError::KeyMismatch)?;
            }
            None => {
                let mut t = Txn::new();
                t.put(Tree::Meta, KEY_CHECK.to_vec(), keys.seal(KEY_CHECK, b"baoming"));
                store.commit(&t).map_err(|e| StorageError::Engine(e.to_string()))?;
                store.flush()?;
            }
        }
        let flusher = GroupFlush::start(Arc::clone(&store))
            .map_err(|e| StorageError::Engine(format!("flusher thread: {e}")))?;
        Ok((Db { store, flusher, keys, clock, write_lock: Mutex::new(()) }, generated))
    }

    /// The engine, for reads and for writes that need no audit entry (document chunks, sync
    /// states); such writes become durable with [`Db::durable`].
    pub fn store(&self) -> &dyn Storage {
        &*self.store
    }

    /// The engine as a shared handle, for work moved to the blocking pool.
    pub fn shared_store(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.store)
    }

    /// The data keys (sealing personal data, keyed look-up hashes).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether the engine answers reads.
    pub fn is_healthy(&self) -> bool {
        self.store.get(Tree::Meta, KEY_CHECK).is_ok()
    }

    /// Commits `txn` together with the audit entry for `event`, not yet durable.
    fn commit_unflushed(&self, mut txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        audit::append(&*self.store, &mut txn, event, self.clock.now())?;
        self.store.commit(&txn)
    }

    /// Commits `txn` together with the audit entry for `event` and returns once it is durable.
    /// A precondition failure reports the caller's own check index.
    pub fn commit_blocking(&self, txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
        self.commit_unflushed(txn, event)?;
        Ok(self.flusher.durable_blocking()?)
    }

    /// [`Db::commit_blocking`] without holding a thread while the flush runs.
    pub async fn commit(self: &Arc<Self>, txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.commit_unflushed(txn, event))
            .await
            .map_err(|e| CommitError::Storage(StorageError::Engine(format!("commit task: {e}"))))??;
        Ok(self.flusher.durable().await?)
    }

    /// Waits until everything committed before this call is durable.
    pub async fn durable(&self) -> Result<(), StorageError> {
        self.flusher.durable().await
    }

    /// [`Db::durable`] for a thread that may block.
    pub fn durable_blocking(&self) -> Result<(), StorageError> {
        self.flusher.durable_blocking()
    }
}
