//! Bearer sessions for candidates and operators.
//!
//! A token is `bm_` followed by 256 random bits in hex. Only its SHA-256 is stored (a database
//! leak yields no usable token), with the owner and the expiry; an index by owner lets a password
//! change revoke every other session of the same owner. Whoever ends sessions tells the live
//! connections running under them ([`Identity::sessions_ended`], see [`super::session_end`]).

use baoming_core::api::sync::SessionEnd;
use serde::{Deserialize, Serialize};

use super::{Identity, IdentityError};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::{random_array, sha256};
use crate::store::{Storage, StorageError, Tree, Txn, decode, encode};

/// Whose session it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A candidate account.
    Account(String),
    /// An operator.
    Operator(String),
}

impl Owner {
    /// The stored key, `a:<id>` or `o:<id>`.
    pub fn key(&self) -> String {
        match self {
            Owner::Account(id) => format!("a:{id}"),
            Owner::Operator(id) => format!("o:{id}"),
        }
    }

    fn parse(key: &str) -> Option<Owner> {
        if let Some(id) = key.strip_prefix("a:") {
            Some(Owner::Account(id.to_owned()))
        } else {
            key.strip_prefix("o:").map(|id| Owner::Operator(id.to_owned()))
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// [`Owner::key`].
    pub owner: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub expires: i64,
}

/// A resolved session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The owner.
    pub owner: Owner,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// Unix seconds.
    pub expires: i64,
}

/// A newly created session, with the only copy of the clear token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The bearer token to hand to the client.
    pub token: String,
    /// Unix seconds.
    pub expires: i64,
}

fn owner_index_key(owner: &Owner, token_hash: &[u8; 32]) -> Vec<u8> {
    let mut k = owner.key().into_bytes();
    k.push(0);
    k.extend_from_slice(token_hash);
    k
}

/// Adds a new session for `owner` to `txn`.
pub fn create(txn: &mut Txn, owner: &Owner, now: i64, ttl_secs: u64) -> NewSession {
    let token = format!("bm_{}", hex::encode(random_array::<32>()));
    let hash = sha256(token.as_bytes());
    let expires = now.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    txn.put(
        Tree::Sessions,
        hash.to_vec(),
        encode(&SessionRecord { owner: owner.key(), created: now, expires }),
    );
    txn.put(Tree::SessionsByOwner, owner_index_key(owner, &hash), Vec::new());
    NewSession { token, expires }
}

/// The stored key of a bearer token: its SHA-256 (`401` for a malformed token).
pub fn token_hash(token: &str) -> Result<[u8; 32], IdentityError> {
    if !token.starts_with("bm_") || token.len() != 3 + 64 {
        return Err(IdentityError::Unauthorized("malformed token"));
    }
    Ok(sha256(token.as_bytes()))
}

/// Resolves a bearer token; unknown, malformed and expired tokens are all `401`.
pub fn resolve(store: &dyn Storage, token: &str, now: i64) -> Result<Session, IdentityError> {
    resolve_hash(store, token_hash(token)?, now)
}

/// Resolves a session by the hash of its token (what tickets and the sync cookie name).
pub fn resolve_hash(store: &dyn Storage, hash: [u8; 32], now: i64) -> Result<Session, IdentityError> {
    let Some(raw) = store.get(Tree::Sessions, &hash)? else {
        return Err(IdentityError::Unauthorized("unknown or revoked token"));
    };
    let rec: SessionRecord = decode(Tree::Sessions, &raw)?;
    if rec.expires <= now {
        return Err(IdentityError::Unauthorized("session expired"));
    }
    let owner = Owner::parse(&rec.owner)
        .ok_or_else(|| IdentityError::Internal(format!("session owner `{}`", rec.owner)))?;
    Ok(Session { owner, token_hash: hash, expires: rec.expires })
}

/// Adds the removal of one session to `txn`.
pub fn revoke(txn: &mut Txn, owner: &Owner, token_hash: &[u8; 32]) {
    txn.delete(Tree::Sessions, token_hash.to_vec());
    txn.delete(Tree::SessionsByOwner, owner_index_key(owner, token_hash));
}

/// Adds the removal of every session of `owner` except `keep` to `txn`; returns the hashes of
/// the sessions it removes.
pub fn revoke_all(
    store: &dyn Storage,
    txn: &mut Txn,
    owner: &Owner,
    keep: Option<&[u8; 32]>,
) -> Result<Vec<[u8; 32]>, StorageError> {
    let mut prefix = owner.key().into_bytes();
    prefix.push(0);
    let mut revoked = Vec::new();
    for (key, _) in store.scan_prefix(Tree::SessionsByOwner, &prefix)? {
        let Ok(hash) = <[u8; 32]>::try_from(&key[prefix.len()..]) else { continue };
        if keep == Some(&hash) {
            continue;
        }
        txn.delete(Tree::Sessions, hash.to_vec());
        txn.delete(Tree::SessionsByOwner, key.clone());
        revoked.push(hash);
    }
    Ok(revoked)
}

/// Adds the removal of every session expired at `now` (at most `limit`) to `txn`; returns the
/// hashes of the sessions it removes.
pub fn sweep_expired(
    store: &dyn Storage,
    txn: &mut Txn,
    now: i64,
    limit: usize,
) -> Result<Vec<[u8; 32]>, StorageError> {
    let mut swept = Vec::new();
    for (hash, raw) in store.scan_prefix(Tree::Sessions, b"")? {
        if swept.len() >= limit {
            break;
        }
        let rec: SessionRecord = decode(Tree::Sessions, &raw)?;
        if rec.expires > now {
            continue;
        }
        let Some(owner) = Owner::parse(&rec.owner) else { continue };
        let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else { continue };
        revoke(txn, &owner, &hash);
        swept.push(hash);
    }
    Ok(swept)
}

impl Identity {
    /// Resolves a bearer token at the clock's time (401 for unknown, malformed and expired
    /// tokens alike).
    pub fn session(&self, token: &str) -> Result<Session, IdentityError> {
        resolve(self.db.store(), token, self.now())
    }

    /// Removes expired sessions (in batches); returns how many were removed. (Their live
    /// connections have closed at the expiry already, by their own timer; they are told again.)
    pub async fn sweep_sessions(&self) -> Result<usize, IdentityError> {
        let mut total = 0;
        loop {
            let mut txn = Txn::new();
            let swept = sweep_expired(self.db.store(), &mut txn, self.now(), 1000)?;
            if swept.is_empty() {
                return Ok(total);
            }
            let event = AuditEvent::new(Actor::System, "session.sweep", "sessions")
                .with(serde_json::json!({ "removed": swept.len() }));
            self.db.commit(txn, event).await?;
            self.sessions_ended(&swept, SessionEnd::Expired);
            total += swept.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStorage;

    #[test]
    fn create_resolve_expire_revoke() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SledStorage::open(dir.path()).expect("open");
        let owner = Owner::Account("acc_1".into());
        let mut t = Txn::new();
        let a = create(&mut t, &owner, 1000, 60);
        let b = create(&mut t, &owner, 1000, 60);
        s.commit(&t).expect("commit");
        assert_eq!(a.token.len(), 67);
        let sa = resolve(&s, &a.token, 1001).expect("valid");
        assert_eq!(sa.owner, owner);
        assert!(matches!(resolve(&s, &a.token, 1060), Err(IdentityError::Unauthorized("session expired"))));
        let forged = format!("bm_{}", "0".repeat(64));
        assert!(matches!(resolve(&s, &forged, 1001), Err(IdentityError::Unauthorized(_))));
        assert!(matches!(resolve(&s, "Bearer x", 1001), Err(IdentityError::Unauthorized(_))));

        let mut t = Txn::new();
        let revoked = revoke_all(&s, &mut t, &owner, Some(&sa.token_hash)).expect("scan");
        assert_eq!(revoked, vec![token_hash(&b.token).expect("well-formed")]);
        s.commit(&t).expect("commit");
        assert!(resolve(&s, &a.token, 1001).is_ok(), "kept");
        assert!(resolve(&s, &b.token, 1001).is_err(), "revoked");

        let mut t = Txn::new();
        let c = create(&mut t, &owner, 5000, 60);
        s.commit(&t).expect("commit");
        let mut t = Txn::new();
        assert_eq!(
            sweep_expired(&s, &mut t, 2000, 100).expect("sweep"),
            vec![sa.token_hash],
            "only a is expired"
        );
        s.commit(&t).expect("commit");
        assert!(resolve(&s, &c.token, 5001).is_ok());
        assert_eq!(s.scan_prefix(Tree::Sessions, b"").expect("scan").len(), 1);
        assert_eq!(s.scan_prefix(Tree::SessionsByOwner, b"").expect("scan").len(), 1);
    }
}
