//! The hash-chained audit log.
//!
//! Every account, operator and state-changing action appends one [`AuditEntry`] in the *same*
//! transaction as the change it records. Entries are keyed by their big-endian sequence number;
//! each stores the SHA-256 of the previous entry, and its own hash covers its content and that
//! link. The current head (sequence and hash) is kept in the meta tree, so cutting entries off
//! the end is detected as well. [`verify`] walks the chain and reports the first broken link —
//! an edited, deleted, inserted or reordered entry.

use serde::{Deserialize, Serialize};

use crate::store::crypto::sha256;
use crate::store::{Storage, StorageError, Tree, Txn, decode, encode};

/// The meta key holding the chain head.
pub const HEAD_KEY: &[u8] = b"audit_head";

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A candidate account.
    Account(String),
    /// An operator.
    Operator(String),
    /// Someone not authenticated (e.g. a registration or a failed recovery).
    Anonymous,
    /// The server itself (seeding at first start).
    System,
    /// The admin command line.
    Cli,
}

impl Actor {
    /// The stored form, e.g. `account:acc_…`.
    pub fn label(&self) -> String {
        match self {
            Actor::Account(id) => format!("account:{id}"),
            Actor::Operator(id) => format!("operator:{id}"),
            Actor::Anonymous => "anonymous".into(),
            Actor::System => "system".into(),
            Actor::Cli => "cli".into(),
        }
    }
}

/// What to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who.
    pub actor: Actor,
    /// What, e.g. `account.register`.
    pub action: &'static str,
    /// On what, e.g. an account id.
    pub target: String,
    /// Extra facts (never personal data in clear).
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event without details.
    pub fn new(actor: Actor, action: &'static str, target: impl Into<String>) -> AuditEvent {
        AuditEvent { actor, action, target: target.into(), detail: serde_json::Value::Null }
    }

    /// Adds details.
    pub fn with(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = detail;
        self
    }
}

/// One stored entry: the contract's audit entry, stored as operators read it.
pub use baoming_core::api::operator::AuditEntry;

/// The hash of `entry` over everything but its own hash (hex SHA-256).
pub fn entry_hash(entry: &AuditEntry) -> String {
    let body = (entry.seq, &entry.at, &entry.actor, &entry.action, &entry.target, &entry.detail, &entry.prev);
    let mut bytes = b"baoming-audit/v1\0".to_vec();
    // Serialising strings, numbers and a JSON value cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_writer(&mut bytes, &body).expect("audit entry serialises");
    hex::encode(sha256(&bytes))
}

/// The chain head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence of the last entry.
    pub seq: u64,
    /// Hash of the last entry.
    pub hash: String,
}

/// Adds the entry for `event` to `txn`, linked to the current head; the transaction also
/// requires that the head has not moved meanwhile. Returns the entry.
pub fn append(
    store: &dyn Storage,
    txn: &mut Txn,
    event: AuditEvent,
    now: time::OffsetDateTime,
) -> Result<AuditEntry, StorageError> {
    let raw_head = store.get(Tree::Meta, HEAD_KEY)?;
    let head: Option<Head> = raw_head.as_deref().map(|b| decode(Tree::Meta, b)).transpose()?;
    let (seq, prev) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS.to_owned()),
    };
    let at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let mut entry = AuditEntry {
        seq,
        at,
        actor: event.actor.label(),
        action: event.action.to_owned(),
        target: event.target,
        detail: event.detail,
        prev,
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry);
    txn.require_equals(Tree::Meta, HEAD_KEY.to_vec(), raw_head);
    txn.put(Tree::Audit, seq.to_be_bytes().to_vec(), encode(&entry));
    txn.put(Tree::Meta, HEAD_KEY.to_vec(), encode(&Head { seq, hash: entry.hash.clone() }));
    Ok(entry)
}

/// A broken chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at entry {at}: {reason}")]
pub struct ChainBroken {
    /// The sequence number (or position) where the chain breaks.
    pub at: u64,
    /// What is wrong.
    pub reason: String,
}

/// Why verification could not complete.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken.
    #[error(transparent)]
    Broken(#[from] ChainBroken),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Walks the whole chain; returns the number of entries when it is intact.
pub fn verify(store: &dyn Storage) -> Result<u64, VerifyError> {
    let broken = |at: u64, reason: String| VerifyError::Broken(ChainBroken { at, reason });
    let mut expected_seq = 1u64;
    let mut prev = GENESIS.to_owned();
    let mut from = 0u64.to_be_bytes().to_vec();
    loop {
        let batch = store.range_from(Tree::Audit, &from, 1024)?;
        if batch.is_empty() {
            break;
        }
        for (key, value) in &batch {
            let entry: AuditEntry = decode(Tree::Audit, value)
                .map_err(|e| broken(expected_seq, format!("undecodable entry: {e}")))?;
            let key_seq = <[u8; 8]>::try_from(key.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| broken(expected_seq, "malformed key".into()))?;
            if key_seq != expected_seq {
                return Err(broken(
                    expected_seq,
                    format!("expected entry {expected_seq}, found key {key_seq} (deleted entry?)"),
                ));
            }
            if entry.seq != expected_seq {
                return Err(broken(
                    expected_seq,
                    format!("entry stored under {key_seq} claims sequence {} (moved?)", entry.seq),
                ));
            }
            if entry.prev != prev {
                return Err(broken(expected_seq, "link to the previous entry does not match".into()));
            }
            if entry_hash(&entry) != entry.hash {
                return Err(broken(expected_seq, "content does not match its hash (edited?)".into()));
            }
            prev = entry.hash.clone();
            expected_seq += 1;
        }
        let Some((last_key, _)) = batch.last() else { break };
        let mut next = last_key.clone();
        next.push(0);
        from = next;
    }
    let count = expected_seq - 1;
    let head: Option<Head> =
        store.get(Tree::Meta, HEAD_KEY)?.as_deref().map(|b| decode(Tree::Meta, b)).transpose()?;
    match head {
        None if count == 0 => Ok(0),
        None => Err(broken(count, "entries exist but the head is missing".into())),
        Some(h) if h.seq == count && h.hash == prev => Ok(count),
        Some(h) => {
            Err(broken(count + 1, format!("head says {} entries, the chain has {count} (truncated?)", h.seq)))
        }
    }
}

/// Reads up to `limit` entries starting at sequence `from`.
pub fn read(store: &dyn Storage, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StorageError> {
    store
        .range_from(Tree::Audit, &from.to_be_bytes(), limit)?
        .iter()
        .map(|(_, v)| decode(Tree::Audit, v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStorage;

    fn chain(n: u64) -> (tempfile::TempDir, SledStorage) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SledStorage::open(dir.path()).expect("open");
        for i in 0..n {
            let mut t = Txn::new();
            append(
                &s,
                &mut t,
                AuditEvent::new(Actor::System, "test.event", format!("t{i}")),
                time::OffsetDateTime::now_utc(),
            )
            .expect("append");
            s.commit(&t).expect("commit");
        }
        (dir, s)
    }

    fn raw_put(s: &SledStorage, seq: u64, bytes: Vec<u8>) {
        let mut t = Txn::new();
        t.put(Tree::Audit, seq.to_be_bytes().to_vec(), bytes);
        s.commit(&t).expect("tamper");
    }

    #[test]
    fn intact_chain_verifies() {
        let (_d, s) = chain(5);
        assert_eq!(verify(&s).expect("verify"), 5);
        assert_eq!(read(&s, 2, 2).expect("read").iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn concurrent_append_is_refused_by_the_head_check() {
        let (_d, s) = chain(1);
        let mut a = Txn::new();
        let mut b = Txn::new();
        let now = time::OffsetDateTime::now_utc();
        append(&s, &mut a, AuditEvent::new(Actor::System, "a", "x"), now).expect("a");
        append(&s, &mut b, AuditEvent::new(Actor::System, "b", "x"), now).expect("b");
        s.commit(&a).expect("first wins");
        assert!(s.commit(&b).is_err(), "second must retry");
        assert_eq!(verify(&s).expect("verify"), 2);
    }

    #[test]
    fn edit_is_detected() {
        let (_d, s) = chain(4);
        let mut e: AuditEntry =
            decode(Tree::Audit, &s.get(Tree::Audit, &2u64.to_be_bytes()).expect("get").expect("e"))
                .expect("decode");
        e.target = "someone else".into();
        raw_put(&s, 2, encode(&e));
        let err = verify(&s).expect_err("edited");
        assert!(matches!(err, VerifyError::Broken(ChainBroken { at: 2, .. })), "{err}");
        // Recomputing the hash of the edited entry breaks the next link instead.
        e.hash = entry_hash(&e);
        raw_put(&s, 2, encode(&e));
        assert!(matches!(verify(&s), Err(VerifyError::Broken(ChainBroken { at: 3, .. }))));
    }

    #[test]
    fn deletion_is_detected() {
        let (_d, s) = chain(4);
        let mut t = Txn::new();
        t.delete(Tree::Audit, 2u64.to_be_bytes().to_vec());
        s.commit(&t).expect("delete");
        assert!(matches!(verify(&s), Err(VerifyError::Broken(ChainBroken { at: 2, .. }))));
    }

    #[test]
    fn truncation_is_detected() {
        let (_d, s) = chain(4);
        let mut t = Txn::new();
        t.delete(Tree::Audit, 4u64.to_be_bytes().to_vec());
        s.commit(&t).expect("delete");
        assert!(matches!(verify(&s), Err(VerifyError::Broken(_))));
    }

    #[test]
    fn reordering_is_detected() {
        let (_d, s) = chain(4);
        let two = s.get(Tree::Audit, &2u64.to_be_bytes()).expect("get").expect("2");
        let three = s.get(Tree::Audit, &3u64.to_be_bytes()).expect("get").expect("3");
        raw_put(&s, 2, three);
        raw_put(&s, 3, two);
        assert!(matches!(verify(&s), Err(VerifyError::Broken(ChainBroken { at: 2, .. }))));
    }
}
