//! Idempotency keys: the stored answer of an action, replayed for a retry of the same request
//! and refused for a different one under the same key.

use baoming_core::api::error::ErrorCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::RegistrationError;
use crate::refusal::{Refusal, RefusalKind};
use crate::store::crypto::sha256;
use crate::store::{Storage, StorageError, Tree, Txn, decode, encode};

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Storage key: scope ‖ 0 ‖ key.
    key: Vec<u8>,
    fingerprint: String,
}

impl Idempotency {
    /// Checks a key's form: 1–128 visible ASCII characters.
    pub fn check(key: &str) -> Result<(), Refusal> {
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Refusal::new(
                RefusalKind::BadRequest,
                ErrorCode::IdempotencyKeyInvalid,
                "Idempotency-Key must have 1–128 visible ASCII characters",
            ));
        }
        Ok(())
    }

    /// Validates `key` (1–128 visible ASCII characters) for `scope` (the account or operator)
    /// and fingerprints the request (`what` names the action and target, `body` is the body).
    pub fn new(scope: &str, key: &str, what: &str, body: &[u8]) -> Result<Idempotency, Refusal> {
        Idempotency::check(key)?;
        let mut k = scope.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(key.as_bytes());
        let mut f = what.as_bytes().to_vec();
        f.push(0);
        f.extend_from_slice(body);
        Ok(Idempotency { key: k, fingerprint: hex::encode(sha256(&f)) })
    }
}

/// Adds the stored answer `body` of `idem` to `txn`; returns the index of the precondition that
/// the key is still unused.
pub fn stage_answer<T: Serialize>(txn: &mut Txn, idem: &Idempotency, body: &T) -> usize {
    let check = txn.require_absent(Tree::Idempotency, idem.key.clone());
    // Serialising a contract type to a JSON value cannot fail.
    let body = serde_json::to_value(body).unwrap_or_default();
    txn.put(
        Tree::Idempotency,
        idem.key.clone(),
        encode(&StoredAnswer { fingerprint: idem.fingerprint.clone(), body }),
    );
    check
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAnswer {
    fingerprint: String,
    body: serde_json::Value,
}

/// The stored answer for `idem`, if any, read as `T` (the type it was stored as): the answer
/// itself, or a refusal when the key came with another request.
pub fn replay<T: DeserializeOwned>(
    store: &dyn Storage,
    idem: &Idempotency,
) -> Result<Option<T>, RegistrationError> {
    let Some(raw) = store.get(Tree::Idempotency, &idem.key)? else { return Ok(None) };
    let stored: StoredAnswer = decode(Tree::Idempotency, &raw)?;
    if stored.fingerprint != idem.fingerprint {
        return Err(Refusal::invalid(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for a different request",
        )
        .into());
    }
    let answer = serde_json::from_value(stored.body)
        .map_err(|e| StorageError::Corrupt { tree: "idempotency", reason: format!("stored answer: {e}") })?;
    Ok(Some(answer))
}

/// The refusal of a candidate action sent without an `Idempotency-Key`.
pub fn key_required() -> Refusal {
    Refusal::new(
        RefusalKind::BadRequest,
        ErrorCode::IdempotencyKeyRequired,
        "candidate actions need an Idempotency-Key header",
    )
}
