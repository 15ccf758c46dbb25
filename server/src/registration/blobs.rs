//! Photo blobs: candidates' ID photos, content-addressed by SHA-256 and sealed at rest.
//!
//! The registration document only holds a reference (`draft.photo`: sha256, bytes, width,
//! height); the JPEG itself is uploaded here. A blob is stored **once per digest** in the `blobs`
//! tree, sealed with the data key and bound to its digest (a sealed blob cannot be moved under
//! another digest). Who may read it is recorded apart, one `blob_owners` entry per (digest,
//! account): two candidates who upload the same bytes both own them, and neither learns that the
//! other did.
//!
//! Reading rules ([`owns`], `referencing_registration`): an owner may read its blob; an
//! operator may read it when some owner's registration document references the digest and has
//! chosen a center in the operator's scope. Everybody else is told the blob does not exist.

use baoming_core::api::error::ErrorCode;
use baoming_core::document::DocumentId;
use baoming_core::photo::{PhotoReport, PhotoRules};
use serde::{Deserialize, Serialize};

use super::{RegistrationError, Registrations, docstore};
use crate::identity::operators::{self, Operator};
use crate::refusal::Refusal;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::Keys;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, encode};

/// How far above the rules' `max_bytes` an upload may be before it is refused unread (413). A
/// photo a little too large is still read, so the candidate gets the checker's precise
/// `photo_file_too_large` problem instead of a bare size refusal.
pub const UPLOAD_SLACK_BYTES: u64 = 64 * 1024;

/// A blob's SHA-256.
pub type Digest = [u8; 32];

/// Parses a digest written as 64 hexadecimal digits (either case).
pub fn parse_digest(text: &str) -> Option<Digest> {
    if text.len() != 64 {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

/// The largest request body read for an upload checked against `rules`.
pub fn upload_limit(rules: &PhotoRules) -> u64 {
    u64::from(rules.max_bytes) + UPLOAD_SLACK_BYTES
}

fn seal_context(digest: &Digest) -> Vec<u8> {
    let mut c = b"photo-blob\0".to_vec();
    c.extend_from_slice(digest);
    c
}

fn owner_key(digest: &Digest, account: &str) -> Vec<u8> {
    let mut k = digest.to_vec();
    k.extend_from_slice(account.as_bytes());
    k
}

/// One account's ownership of a blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ownership {
    /// Unix seconds of this account's first successful upload.
    pub uploaded_at: i64,
}

/// Whether `store` stored anything for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The account did not own the blob before (the bytes may have been stored already for
    /// another account).
    New,
    /// The account already owned it; nothing was written.
    Already,
}

/// Whether `account` owns blob `digest`.
pub fn owns(store: &dyn Storage, digest: &Digest, account: &str) -> Result<bool, StorageError> {
    Ok(store.get(Tree::BlobOwners, &owner_key(digest, account))?.is_some()
        && store.get(Tree::Blobs, digest)?.is_some())
}

/// The accounts that own blob `digest`.
pub fn owners(store: &dyn Storage, digest: &Digest) -> Result<Vec<String>, StorageError> {
    store
        .scan_prefix(Tree::BlobOwners, digest)?
        .into_iter()
        .map(|(k, _)| {
            String::from_utf8(k[digest.len()..].to_vec())
                .map_err(|_| StorageError::Corrupt { tree: "blob_owners", reason: "account id".into() })
        })
        .collect()
}

/// The JPEG bytes of blob `digest`, opened.
pub fn read(store: &dyn Storage, keys: &Keys, digest: &Digest) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(sealed) = store.get(Tree::Blobs, digest)? else { return Ok(None) };
    let bytes = keys
        .open(&seal_context(digest), &sealed)
        .map_err(|_| StorageError::Corrupt { tree: "blobs", reason: "sealed blob does not open".into() })?;
    if crate::store::crypto::sha256(&bytes) != *digest {
        return Err(StorageError::Corrupt { tree: "blobs", reason: "blob does not match its digest".into() });
    }
    Ok(Some(bytes))
}

/// Why an operator may read a blob: the registration that references it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The owning account.
    pub account: String,
    /// The registration document referencing the photo.
    pub document: DocumentId,
    /// The center that registration chose (in the operator's scope).
    pub center: String,
}

/// Who asks to read a photo.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// A candidate account (an owner may read).
    Account(&'a str),
    /// An operator (may read while an owner's registration references the photo and chose a
    /// center in the operator's scope; the read is audited).
    Operator(&'a Operator),
}

/// A stored upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Whether the account owned it already.
    pub stored: Stored,
    /// The photo check's report.
    pub report: PhotoReport,
}

impl Registrations {
    /// The photo rules an upload is checked against: those of exam session `exam` in the
    /// current catalog, or the default rules when no exam is named.
    pub fn photo_rules(&self, exam: Option<&str>) -> Result<PhotoRules, RegistrationError> {
        let Some(exam) = exam else { return Ok(PhotoRules::default()) };
        self.catalogs
            .current()
            .and_then(|v| v.catalog.exams.iter().find(|e| e.id == exam).map(|e| e.photo.clone()))
            .ok_or_else(|| RegistrationError::NotFound(format!("no exam session `{exam}`")))
    }

    /// Checks an upload named `digest` against `rules` (the core's photo check, on the blocking
    /// pool with one slot per core) and stores it for `account`.
    pub async fn upload_photo(
        &self,
        account: &str,
        digest: Digest,
        rules: PhotoRules,
        body: bytes::Bytes,
    ) -> Result<Uploaded, RegistrationError> {
        let actual = crate::store::crypto::sha256(&body);
        if actual != digest {
            return Err(Refusal::invalid(
                ErrorCode::DigestMismatch,
                format!(
                    "the body's SHA-256 is {} but the path names {}",
                    hex::encode(actual),
                    hex::encode(digest)
                ),
            )
            .into());
        }
        let report = self.check_photo(body.to_vec(), rules).await?;
        if !report.passed() {
            return Err(RegistrationError::PhotoRejected(Box::new(report)));
        }
        let stored = self.store(&digest, account, &body).await?;
        Ok(Uploaded { stored, report })
    }

    /// Whether `reader` may read blob `digest`: an owner, or an operator of a referencing
    /// registration's center (audited). Everybody else is told the blob does not exist.
    pub async fn check_photo_access(
        &self,
        reader: Reader<'_>,
        digest: &Digest,
    ) -> Result<(), RegistrationError> {
        let not_found = || RegistrationError::NotFound("no such blob".into());
        match reader {
            Reader::Account(account) => {
                if !owns(self.db.store(), digest, account)? {
                    return Err(not_found());
                }
            }
            Reader::Operator(op) => {
                let reference = self.referencing_registration(op, digest).await?.ok_or_else(not_found)?;
                let event = AuditEvent::new(Actor::Operator(op.id.clone()), "blob.read", hex::encode(digest))
                    .with(serde_json::json!({
                        "account": reference.account,
                        "document": reference.document.to_string(),
                        "center": reference.center,
                    }));
                self.db.commit(Txn::new(), event).await?;
            }
        }
        Ok(())
    }

    /// Runs the core's photo check on the blocking pool, one check per core at a time (a burst
    /// of uploads and review pages queues instead of occupying every blocking thread).
    pub async fn check_photo(
        &self,
        bytes: Vec<u8>,
        rules: PhotoRules,
    ) -> Result<PhotoReport, RegistrationError> {
        let permit = self.photo_checks.acquire().await.map_err(RegistrationError::internal)?;
        let report = tokio::task::spawn_blocking(move || baoming_core::photo::check(&bytes, &rules))
            .await
            .map_err(|e| RegistrationError::Internal(format!("photo check task: {e}")))?;
        drop(permit);
        Ok(report)
    }

    /// The check report of stored blob `digest` against `rules`, or `None` when it is not stored.
    pub async fn check_stored_photo(
        &self,
        digest: Digest,
        rules: PhotoRules,
    ) -> Result<Option<PhotoReport>, RegistrationError> {
        match self.read_photo(digest).await {
            Ok(bytes) => Ok(Some(self.check_photo(bytes, rules).await?)),
            Err(RegistrationError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The JPEG bytes of blob `digest`.
    pub async fn read_photo(&self, digest: Digest) -> Result<Vec<u8>, RegistrationError> {
        let db = std::sync::Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || read(db.store(), db.keys(), &digest))
            .await
            .map_err(|e| RegistrationError::Internal(format!("blob read task: {e}")))??
            .ok_or_else(|| RegistrationError::NotFound("no such blob".into()))
    }

    /// Stores `bytes` (whose SHA-256 the caller has checked to be `digest`, and which passed the
    /// photo check) for `account`: the sealed blob once per digest, and the account's ownership.
    /// Durable and audited before it returns.
    async fn store(&self, digest: &Digest, account: &str, bytes: &[u8]) -> Result<Stored, RegistrationError> {
        let key = owner_key(digest, account);
        // Two tries: a concurrent upload of the same bytes by another account may store the blob
        // between our read and our commit; the second try then only adds the ownership.
        for _ in 0..2 {
            if self.db.store().get(Tree::BlobOwners, &key)?.is_some()
                && self.db.store().get(Tree::Blobs, digest)?.is_some()
            {
                return Ok(Stored::Already);
            }
            let mut txn = Txn::new();
            let blob_check = if self.db.store().get(Tree::Blobs, digest)?.is_none() {
                let check = txn.require_absent(Tree::Blobs, digest.to_vec());
                txn.put(Tree::Blobs, digest.to_vec(), self.db.keys().seal(&seal_context(digest), bytes));
                Some(check)
            } else {
                None
            };
            let owner_check = txn.require_absent(Tree::BlobOwners, key.clone());
            txn.put(
                Tree::BlobOwners,
                key.clone(),
                encode(&Ownership { uploaded_at: self.db.clock().now_secs() }),
            );
            let event =
                AuditEvent::new(Actor::Account(account.to_owned()), "blob.upload", hex::encode(digest))
                    .with(serde_json::json!({ "bytes": bytes.len(), "new_blob": blob_check.is_some() }));
            match self.db.commit(txn, event).await {
                Ok(()) => return Ok(Stored::New),
                Err(CommitError::Precondition(i)) if i == owner_check => return Ok(Stored::Already),
                Err(CommitError::Precondition(i)) if Some(i) == blob_check => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RegistrationError::Internal("blob upload raced twice".into()))
    }

    /// The first registration document of an owner of `digest` that references the photo and has
    /// chosen a center `op` may see, if any.
    async fn referencing_registration(
        &self,
        op: &Operator,
        digest: &Digest,
    ) -> Result<Option<Reference>, RegistrationError> {
        let wanted = hex::encode(digest);
        for account in owners(self.db.store(), digest)? {
            for (id, _exam) in self.allowed(&account) {
                let draft = match self.hub.live(&id) {
                    Some(live) => Some(live.draft().await),
                    None => {
                        let db = std::sync::Arc::clone(&self.db);
                        tokio::task::spawn_blocking(move || docstore::load(db.store(), db.keys(), &id))
                            .await
                            .map_err(|e| RegistrationError::Internal(format!("load task: {e}")))??
                            .map(|(doc, _)| doc.draft())
                    }
                };
                let Some(draft) = draft else { continue };
                let references = draft.photo.as_ref().is_some_and(|p| p.sha256.eq_ignore_ascii_case(&wanted));
                if let (true, Some(center)) = (references, draft.center)
                    && operators::can_see(op, &center)
                {
                    return Ok(Some(Reference { account, document: id, center }));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_64_hex_digits_in_either_case() {
        let lower = "ab".repeat(32);
        assert_eq!(parse_digest(&lower), Some([0xab; 32]));
        assert_eq!(parse_digest(&lower.to_ascii_uppercase()), Some([0xab; 32]));
        assert_eq!(parse_digest(&"ab".repeat(31)), None);
        assert_eq!(parse_digest(&format!("{}zz", "ab".repeat(31))), None);
        assert_eq!(parse_digest(&format!("{lower}00")), None);
        assert_eq!(parse_digest("+b".repeat(32).as_str()), None);
    }

    #[test]
    fn the_upload_limit_is_a_little_above_the_rules() {
        let rules = PhotoRules::default();
        assert_eq!(upload_limit(&rules), 200 * 1024 + 64 * 1024);
    }
}
