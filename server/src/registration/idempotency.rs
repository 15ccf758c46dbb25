//! Idempotency keys: the stored answer of an action, replayed for a retry of the same request
//! and refused for a different one under the same key.

use serde::{Deserialize, Serialize};

use super::RegistrationError;
use crate::refusal::{Refusal, RefusalKind};
use crate::store::crypto::sha256;
use crate::store::{Storage, Tree, Txn, decode, encode};

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
                "idempotency_key_invalid",
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
pub fn stage_answer(txn: &mut Txn, idem: &Idempotency, body: &serde_json::Value) -> usize {
    let check = txn.require_absent(Tree::Idempotency, idem.key.clone());
    txn.put(
        Tree::Idempotency,
        idem.key.clone(),
        encode(&StoredAnswer { fingerprint: idem.fingerprint.clone(), body: body.clone() }),
    );
    check
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAnswer {
    fingerprint: String,
    body: serde_json::Value,
}

/// The stored answer for `idem`, if any: the answer itself, or a refusal when the key came with
/// another request.
pub fn replay(
    store: &dyn Storage,
    idem: &Idempotency,
) -> Result<Option<serde_json::Value>, RegistrationError> {
    let Some(raw) = store.get(Tree::Idempotency, &idem.key)? else { return Ok(None) };
    let stored: StoredAnswer = decode(Tree::Idempotency, &raw)?;
    if stored.fingerprint != idem.fingerprint {
        return Err(Refusal::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )
        .into());
    }
    Ok(Some(stored.body))
}

/// The refusal of a candidate action sent without an `Idempotency-Key`.
pub fn key_required() -> Refusal {
    Refusal::new(
        RefusalKind::BadRequest,
        "idempotency_key_required",
        "candidate actions need an Idempotency-Key header",
    )
}
