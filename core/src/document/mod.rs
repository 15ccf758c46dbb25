//! The registration document: one Automerge document per (account, exam session).
//!
//! * Its [`DocumentId`] is derived from the exam session and the account, so every device of a
//!   candidate edits the same document without asking anyone.
//! * Every replica starts from the same deterministic genesis change (fixed actor, fixed
//!   timestamp, fixed operations creating the root maps), so independent devices never create
//!   competing root objects and their edits always merge.
//! * The candidate edits `draft` through a typed API that enforces the lifecycle's
//!   editable-path table; the server alone writes `server`.
//! * [`RegistrationDoc::apply_incoming`] is the incoming-change check shared by server and
//!   client: it resolves every operation's path (through the document and the batch's own new
//!   objects), checks its type and size against the current status, and applies the batch only
//!   if all pass; whatever it cannot decide that way is checked on a fork of the document.
//!
//! Layout (see ARCHITECTURE.md):
//!
//! ```text
//! { schema: 1, exam: "<exam id>",
//!   draft:  { agreement?: {version, sha256, accepted_at}, fields: {<key>: str},
//!             center?: str, subjects: {<code>: true}, photo?: {sha256, bytes, width, height},
//!             declaration?: {declared_at} },
//!   server: { status, reason?, reason_paths: [str], seats: [str], deadline?, order?,
//!             amount_fen?, ticket?, updated_at } }
//! ```

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::lifecycle::Status;

mod classify;
mod edit;
mod id;
mod incoming;
mod read;
mod reset;

pub use id::DocumentId;
pub use incoming::{Accepted, IncomingLimits, Refusal, RefusalReason, RefusedPath};
pub use reset::RejectedEdit;

/// Version of the document layout, stored at `schema`.
pub const SCHEMA_VERSION: u64 = 1;

/// The actor of the genesis change. No other change may use it.
pub const GENESIS_ACTOR: [u8; 16] = *b"baoming:genesis\0";
/// The actor of every change the server makes. No client change may use it.
pub const SERVER_ACTOR: [u8; 16] = *b"baoming:server\0\0";
/// The server's actor, ready to pass to [`RegistrationDoc::new`] or [`RegistrationDoc::load`].
pub fn server_actor() -> ActorId {
    ActorId::from(&SERVER_ACTOR[..])
}

const GENESIS_MESSAGE: &str = "baoming genesis v1";

/// Errors of the document API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    /// The status does not let the candidate change this part of the draft.
    #[error("{path} cannot be changed while the registration is {status}")]
    Locked {
        /// The path refused.
        path: String,
        /// The current status.
        status: Status,
    },
    /// The bytes are not an Automerge document or change.
    #[error("not a valid Automerge document: {0}")]
    Corrupt(String),
    /// The document does not start from this platform's genesis.
    #[error("not a registration document (missing or foreign genesis)")]
    NotARegistration,
    /// A document id string that is not base58check of 16 bytes.
    #[error("not a document id")]
    BadDocumentId,
    /// A field key or value outside the allowed shape.
    #[error("invalid value for {path}: {reason}")]
    InvalidValue {
        /// Where.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The center is not part of the session.
    #[error("unknown test center `{0}`")]
    UnknownCenter(String),
}

impl From<automerge::AutomergeError> for DocError {
    fn from(e: automerge::AutomergeError) -> Self {
        DocError::Corrupt(e.to_string())
    }
}

/// A registration document.
#[derive(Debug, Clone)]
pub struct RegistrationDoc {
    doc: AutoCommit,
    exam: String,
    /// Heads covered by the last `save`/`save_incremental` (or load): what is already stored.
    /// Kept here rather than in Automerge's own cursor so that adopting a checked fork (see
    /// [`RegistrationDoc::apply_incoming`]) keeps it.
    saved: Vec<ChangeHash>,
}

/// The genesis document of `exam_id`, with the genesis actor still set.
fn genesis(exam_id: &str) -> Result<AutoCommit, DocError> {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(&GENESIS_ACTOR[..]));
    doc.put(ROOT, "schema", SCHEMA_VERSION)?;
    doc.put(ROOT, "exam", exam_id)?;
    let draft = doc.put_object(ROOT, "draft", ObjType::Map)?;
    doc.put_object(&draft, "fields", ObjType::Map)?;
    doc.put_object(&draft, "subjects", ObjType::Map)?;
    doc.put_object(ROOT, "server", ObjType::Map)?;
    doc.commit_with(CommitOptions::default().with_message(GENESIS_MESSAGE).with_time(0));
    Ok(doc)
}

/// The hash of the genesis change of `exam_id`.
pub fn genesis_hash(exam_id: &str) -> Result<ChangeHash, DocError> {
    let mut doc = genesis(exam_id)?;
    doc.get_heads().first().copied().ok_or(DocError::NotARegistration)
}

impl RegistrationDoc {
    /// A fresh document for `exam_id`, edited as `actor` (one random actor per device install).
    pub fn new(exam_id: &str, actor: ActorId) -> Result<RegistrationDoc, DocError> {
        let mut doc = genesis(exam_id)?;
        doc.set_actor(actor);
        Ok(RegistrationDoc { doc, exam: exam_id.to_owned(), saved: Vec::new() })
    }

    /// Loads a saved document (full save, optionally followed by incremental chunks), checking
    /// that it starts from this platform's genesis.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<RegistrationDoc, DocError> {
        let mut doc = AutoCommit::load(bytes)?;
        doc.set_actor(actor);
        let exam = match doc.get(ROOT, "exam")? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => s.to_string(),
                _ => return Err(DocError::NotARegistration),
            },
            _ => return Err(DocError::NotARegistration),
        };
        let hash = genesis_hash(&exam)?;
        if doc.get_change_by_hash(&hash).is_none() {
            return Err(DocError::NotARegistration);
        }
        // What was loaded is stored already.
        let saved = doc.get_heads();
        Ok(RegistrationDoc { doc, exam, saved })
    }

    /// The exam session id.
    pub fn exam_id(&self) -> &str {
        &self.exam
    }

    /// This replica's actor.
    pub fn actor(&self) -> &ActorId {
        self.doc.get_actor()
    }

    /// The current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        let bytes = self.doc.save();
        self.saved = self.doc.get_heads();
        bytes
    }

    /// The whole document, compacted, for another replica: unlike [`RegistrationDoc::save`], it
    /// leaves the storage cursor alone, so the next `save_incremental` still holds every change
    /// not stored yet.
    pub fn copy_bytes(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes since the previous `save`, `save_incremental` or load (empty if none).
    pub fn save_incremental(&mut self) -> Vec<u8> {
        let bytes = self.doc.save_after(&self.saved);
        if !bytes.is_empty() {
            self.saved = self.doc.get_heads();
        }
        bytes
    }

    /// Applies the output of `save` or `save_incremental` from a trusted source (local storage).
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        self.doc.load_incremental(bytes)?;
        Ok(())
    }

    /// Changes this replica has and `heads` do not cover.
    pub fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<Change> {
        self.doc.get_changes(heads)
    }

    /// Merges another replica (trusted; devices merging what the server accepted).
    pub fn merge(&mut self, other: &mut RegistrationDoc) -> Result<(), DocError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// The underlying Automerge document, for the sync engine.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    // ---- read side -------------------------------------------------------------------------

    // ---- candidate actions -----------------------------------------------------------------

    // ---- server side -----------------------------------------------------------------------

    // ---- the incoming-change check ---------------------------------------------------------
}

#[cfg(test)]
mod tests;
