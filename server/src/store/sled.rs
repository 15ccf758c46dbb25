//! The sled engine: one sled tree per [`Tree`], transactions with preconditions across trees,
//! and the fast paths the sync hot path relies on (a one-key write, a one-tree batch).

use std::path::Path;

use super::kv::{Check, CommitError, Entry, Storage, StorageError, Tree, Txn, Write};

/// The sled engine: one sled tree per [`Tree`].
pub struct SledStorage {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl std::fmt::Debug for SledStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStorage").finish_non_exhaustive()
    }
}

fn engine(e: sled::Error) -> StorageError {
    StorageError::Engine(e.to_string())
}

impl SledStorage {
    /// Opens (or creates) the database in `dir` with sled's page cache bounded to 64 MiB.
    pub fn open(dir: &Path) -> Result<SledStorage, StorageError> {
        SledStorage::open_with_cache(dir, 64 * 1024 * 1024)
    }

    /// Opens (or creates) the database in `dir` with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStorage, StorageError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(engine)?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()).map_err(engine))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SledStorage { db, trees })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree.index()]
    }
}

impl Storage for SledStorage {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.tree(tree).get(key).map_err(engine)?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Entry>, StorageError> {
        self.tree(tree)
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(engine))
            .collect()
    }

    fn range_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<Entry>, StorageError> {
        self.tree(tree)
            .range(from..)
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(engine))
            .collect()
    }

    fn last(&self, tree: Tree) -> Result<Option<Entry>, StorageError> {
        Ok(self.tree(tree).last().map_err(engine)?.map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn commit(&self, txn: &Txn) -> Result<(), CommitError> {
        use sled::Transactional;
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        // Fastest path, the most common write (a document chunk, a sync state): one key with no
        // precondition, which sled writes atomically by itself. A sled batch would cost two
        // extra log-buffer writes, each with its own range sync: sled rolls the log buffer
        // before and after pinning the batch's recovery point.
        if let ([write], []) = (txn.writes.as_slice(), txn.checks.as_slice()) {
            let written = match write {
                Write::Put(t, k, v) => self.tree(*t).insert(k.as_slice(), v.as_slice()),
                Write::Delete(t, k) => self.tree(*t).remove(k.as_slice()),
            };
            return written.map(drop).map_err(|e| CommitError::Storage(engine(e)));
        }
        // Fast path for several writes to a single tree with no preconditions, which sled
        // applies atomically as a batch without the cost of a transaction over every tree.
        if let Some(tree) = single_tree(txn) {
            let mut batch = sled::Batch::default();
            for write in &txn.writes {
                match write {
                    Write::Put(_, k, v) => batch.insert(k.as_slice(), v.as_slice()),
                    Write::Delete(_, k) => batch.remove(k.as_slice()),
                }
            }
            return self.tree(tree).apply_batch(batch).map_err(|e| CommitError::Storage(engine(e)));
        }
        let result = self.trees[..].transaction(|views| {
            for (i, check) in txn.checks.iter().enumerate() {
                let holds = match check {
                    Check::Absent(t, k) => views[t.index()].get(k)?.is_none(),
                    Check::Equals(t, k, want) => views[t.index()].get(k)?.as_deref() == want.as_deref(),
                };
                if !holds {
                    return Err(ConflictableTransactionError::Abort(i));
                }
            }
            for write in &txn.writes {
                match write {
                    Write::Put(t, k, v) => {
                        views[t.index()].insert(k.as_slice(), v.as_slice())?;
                    }
                    Write::Delete(t, k) => {
                        views[t.index()].remove(k.as_slice())?;
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(i)) => Err(CommitError::Precondition(i)),
            Err(TransactionError::Storage(e)) => Err(CommitError::Storage(engine(e))),
        }
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(engine)?;
        Ok(())
    }
}

/// The one tree a precondition-free transaction writes to, if it writes to only one.
fn single_tree(txn: &Txn) -> Option<Tree> {
    if !txn.checks.is_empty() {
        return None;
    }
    let mut trees = txn.writes.iter().map(|w| match w {
        Write::Put(t, ..) | Write::Delete(t, _) => *t,
    });
    let first = trees.next()?;
    trees.all(|t| t == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::{decode, encode};

    fn store() -> (tempfile::TempDir, SledStorage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SledStorage::open(dir.path()).expect("open");
        (dir, s)
    }

    #[test]
    fn single_tree_writes_apply_puts_and_deletes_in_order() {
        let (_d, s) = store();
        let mut t = Txn::new();
        t.put(Tree::DocumentChunks, b"a".to_vec(), b"1".to_vec());
        t.put(Tree::DocumentChunks, b"b".to_vec(), b"2".to_vec());
        t.delete(Tree::DocumentChunks, b"a".to_vec());
        assert_eq!(single_tree(&t), Some(Tree::DocumentChunks));
        s.commit(&t).expect("commit");
        assert_eq!(s.get(Tree::DocumentChunks, b"a").expect("get"), None);
        assert_eq!(s.get(Tree::DocumentChunks, b"b").expect("get"), Some(b"2".to_vec()));
        let mut checked = Txn::new();
        checked.require_absent(Tree::DocumentChunks, b"b".to_vec());
        checked.put(Tree::DocumentChunks, b"c".to_vec(), b"3".to_vec());
        assert_eq!(single_tree(&checked), None, "preconditions need the transaction");
        assert!(matches!(s.commit(&checked), Err(CommitError::Precondition(0))));
        assert_eq!(s.get(Tree::DocumentChunks, b"c").expect("get"), None);
        // One write on its own takes the single-key path.
        let mut one = Txn::new();
        one.delete(Tree::DocumentChunks, b"b".to_vec());
        s.commit(&one).expect("commit");
        assert_eq!(s.get(Tree::DocumentChunks, b"b").expect("get"), None);
    }

    #[test]
    fn commit_applies_all_writes_or_none() {
        let (_d, s) = store();
        let mut t = Txn::new();
        t.require_absent(Tree::AccountByLogin, b"a".to_vec());
        t.put(Tree::AccountByLogin, b"a".to_vec(), b"1".to_vec());
        t.put(Tree::Accounts, b"1".to_vec(), encode(&"one"));
        s.commit(&t).expect("first commit");
        assert_eq!(s.get(Tree::AccountByLogin, b"a").expect("get"), Some(b"1".to_vec()));

        let mut t2 = Txn::new();
        t2.put(Tree::Accounts, b"2".to_vec(), encode(&"two"));
        let idx = t2.require_absent(Tree::AccountByLogin, b"a".to_vec());
        t2.put(Tree::AccountByLogin, b"a".to_vec(), b"2".to_vec());
        match s.commit(&t2) {
            Err(CommitError::Precondition(i)) => assert_eq!(i, idx),
            other => panic!("expected precondition failure, got {other:?}"),
        }
        assert_eq!(s.get(Tree::Accounts, b"2").expect("get"), None, "nothing written");
        assert_eq!(s.get(Tree::AccountByLogin, b"a").expect("get"), Some(b"1".to_vec()));
    }

    #[test]
    fn records_survive_reopen_after_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = SledStorage::open(dir.path()).expect("open");
            let mut t = Txn::new();
            t.put(Tree::Meta, b"k".to_vec(), encode(&42u32));
            s.commit(&t).expect("commit");
            s.flush().expect("flush");
        }
        // sled's background flusher may still hold the file lock for a moment after the drop.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let s = loop {
            match SledStorage::open(dir.path()) {
                Ok(s) => break s,
                Err(e) if std::time::Instant::now() > deadline => panic!("reopen: {e}"),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        let v: u32 =
            decode(Tree::Meta, &s.get(Tree::Meta, b"k").expect("get").expect("present")).expect("decode");
        assert_eq!(v, 42);
        assert!(!s.is_empty().expect("is_empty"));
    }

    #[test]
    fn decode_refuses_unknown_versions_and_garbage() {
        assert!(matches!(decode::<u32>(Tree::Meta, &[9, b'1']), Err(StorageError::Corrupt { .. })));
        assert!(matches!(decode::<u32>(Tree::Meta, &[]), Err(StorageError::Corrupt { .. })));
        assert!(matches!(decode::<u32>(Tree::Meta, &[1, b'x']), Err(StorageError::Corrupt { .. })));
        let v: u32 = decode(Tree::Meta, &encode(&7u32)).expect("roundtrip");
        assert_eq!(v, 7);
    }

    #[test]
    fn scans_and_last() {
        let (_d, s) = store();
        let mut t = Txn::new();
        for i in 1u64..=5 {
            t.put(Tree::Audit, i.to_be_bytes().to_vec(), vec![i as u8]);
        }
        t.put(Tree::SessionsByOwner, b"x\0a".to_vec(), vec![]);
        t.put(Tree::SessionsByOwner, b"y\0b".to_vec(), vec![]);
        s.commit(&t).expect("commit");
        assert_eq!(s.last(Tree::Audit).expect("last").map(|(_, v)| v), Some(vec![5]));
        assert_eq!(s.range_from(Tree::Audit, &3u64.to_be_bytes(), 2).expect("range").len(), 2);
        assert_eq!(s.scan_prefix(Tree::SessionsByOwner, b"x\0").expect("scan").len(), 1);
    }
}
