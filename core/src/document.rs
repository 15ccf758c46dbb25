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

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use automerge::legacy::{Key, ObjectId, OpType as LegacyOp};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value,
};
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::catalog::{Agreement, ExamSession};
use crate::draft::{AgreementAcceptance, Declaration, Draft, ServerSection};
use crate::form::MAX_ANSWER_CHARS;
use crate::lifecycle::{DraftPath, Status};
use crate::photo::PhotoRef;

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
const ID_DOMAIN: &[u8] = b"baoming/registration-document/v1";

/// The 16-byte id of a registration document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// Derives the id of the document of `account_id` for `exam_id`: the first 16 bytes of
    /// SHA-256 over a domain tag and the two ids, each followed by a zero byte.
    pub fn derive(exam_id: &str, account_id: &str) -> DocumentId {
        let mut ctx = digest::Context::new(&digest::SHA256);
        for part in [ID_DOMAIN, exam_id.as_bytes(), account_id.as_bytes()] {
            ctx.update(part);
            ctx.update(&[0]);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&ctx.finish().as_ref()[..16]);
        DocumentId(id)
    }

    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> DocumentId {
        DocumentId(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The `automerge:` URL automerge-repo uses for this document.
    pub fn url(&self) -> String {
        format!("automerge:{self}")
    }
}

/// Base58check, as automerge-repo writes document ids.
impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = DocError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        let bytes = bs58::decode(s).with_check(None).into_vec().map_err(|_| DocError::BadDocumentId)?;
        let id: [u8; 16] = bytes.try_into().map_err(|_| DocError::BadDocumentId)?;
        Ok(DocumentId(id))
    }
}

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

/// Limits applied by [`RegistrationDoc::apply_incoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingLimits {
    /// Most changes in one batch.
    pub max_changes: usize,
    /// Most operations in one batch.
    pub max_ops: usize,
    /// Most operations the whole document may hold after the batch (a registration holds a few
    /// hundred; the cap stops a device from growing a document without bound).
    pub max_document_ops: u64,
}

impl Default for IncomingLimits {
    fn default() -> Self {
        IncomingLimits { max_changes: 1_000, max_ops: 20_000, max_document_ops: 200_000 }
    }
}

/// Why an operation of an incoming batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// Only the server writes `server`.
    ServerSection,
    /// The current status locks this path.
    Locked,
    /// The path is not one a candidate may write (root keys, unknown draft keys).
    NotWritable,
    /// The value has the wrong type, or the operation kind is not allowed here.
    WrongType,
    /// The value is too large.
    TooLarge,
    /// The change claims the genesis or server actor.
    ReservedActor,
    /// The batch depends on changes the document does not have.
    MissingDependencies,
    /// The batch is not decodable Automerge data.
    Malformed,
    /// The batch exceeds the change or operation limits.
    BatchTooLarge,
    /// The document would grow past its size limit.
    DocumentTooLarge,
}

impl RefusalReason {
    /// The snake_case name, as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::ServerSection => "server_section",
            RefusalReason::Locked => "locked",
            RefusalReason::NotWritable => "not_writable",
            RefusalReason::WrongType => "wrong_type",
            RefusalReason::TooLarge => "too_large",
            RefusalReason::ReservedActor => "reserved_actor",
            RefusalReason::MissingDependencies => "missing_dependencies",
            RefusalReason::Malformed => "malformed",
            RefusalReason::BatchTooLarge => "batch_too_large",
            RefusalReason::DocumentTooLarge => "document_too_large",
        }
    }

    /// Candidate-facing English text.
    pub fn message_en(self) -> &'static str {
        match self {
            RefusalReason::ServerSection => "only the server may change the registration status section",
            RefusalReason::Locked => "locked in the registration's current status",
            RefusalReason::NotWritable => "not a part of the draft that can be written",
            RefusalReason::WrongType => "wrong value type for this part of the draft",
            RefusalReason::TooLarge => "value too large",
            RefusalReason::ReservedActor => "change signed with a reserved actor id",
            RefusalReason::MissingDependencies => "changes depend on history the server does not have",
            RefusalReason::Malformed => "not valid Automerge data",
            RefusalReason::BatchTooLarge => "too many changes or operations in one batch",
            RefusalReason::DocumentTooLarge => "the registration document would grow too large",
        }
    }
}

/// One refused operation (or the whole batch, with path `*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RefusedPath {
    /// The dotted path the operation wrote, e.g. `server.status` or `draft.fields.name`.
    pub path: String,
    /// Why it was refused.
    pub reason: RefusalReason,
}

/// An incoming batch refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch refused while {status}: {}", .refused.iter().map(|r| format!("{} ({})", r.path, r.reason.message_en())).collect::<Vec<_>>().join(", "))]
pub struct Refusal {
    /// The status the batch was checked against.
    pub status: Status,
    /// Every offending path, sorted and without repeats.
    pub refused: Vec<RefusedPath>,
    /// The document's heads, unchanged by the refused batch.
    pub heads: Vec<ChangeHash>,
}

/// An incoming batch that passed the check and was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// How many changes were new to the document.
    pub new_changes: usize,
    /// The draft paths the batch touched.
    pub touched: BTreeSet<DraftPath>,
    /// The heads after applying.
    pub heads: Vec<ChangeHash>,
}

/// A local edit the server refused, kept so the candidate can see what was not saved and redo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEdit {
    /// The draft path, e.g. `draft.fields.name`.
    pub path: String,
    /// What the candidate had entered there (`None` when the edit removed the value).
    pub value: Option<String>,
    /// Why it was refused (a [`RefusalReason`] name, or `locked`).
    pub reason: String,
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

    fn map(&self, parent: &ObjId, key: &str) -> Option<ObjId> {
        match self.doc.get(parent, key).ok()?? {
            (Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        }
    }

    fn draft_obj(&self) -> Result<ObjId, DocError> {
        self.map(&ROOT, "draft").ok_or(DocError::NotARegistration)
    }

    fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.doc.get(obj, key).ok()?? {
            (Value::Scalar(s), _) => Some(s.into_owned()),
            _ => None,
        }
    }

    fn str_at(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.scalar(obj, key)? {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }

    fn int_at(&self, obj: &ObjId, key: &str) -> Option<i64> {
        match self.scalar(obj, key)? {
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(i),
            ScalarValue::Uint(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    fn str_list(&self, obj: &ObjId, key: &str) -> Vec<String> {
        let Ok(Some((Value::Object(ObjType::List), list))) = self.doc.get(obj, key) else {
            return Vec::new();
        };
        (0..self.doc.length(&list))
            .filter_map(|i| match self.doc.get(&list, i).ok()?? {
                (Value::Scalar(s), _) => s.as_str().map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    /// A typed snapshot of the draft. Entries of the wrong type are skipped.
    pub fn draft(&self) -> Draft {
        let mut draft = Draft { exam: self.exam.clone(), ..Draft::default() };
        let Ok(d) = self.draft_obj() else { return draft };
        if let Some(a) = self.map(&d, "agreement") {
            draft.agreement = match (self.str_at(&a, "version"), self.str_at(&a, "sha256")) {
                (Some(version), Some(sha256)) => Some(AgreementAcceptance {
                    version,
                    sha256,
                    accepted_at_ms: self.int_at(&a, "accepted_at").unwrap_or(0),
                }),
                _ => None,
            };
        }
        if let Some(f) = self.map(&d, "fields") {
            for key in self.doc.keys(&f) {
                if let Some(v) = self.str_at(&f, &key) {
                    draft.fields.insert(key, v);
                }
            }
        }
        draft.center = self.str_at(&d, "center");
        if let Some(s) = self.map(&d, "subjects") {
            draft.subjects = self
                .doc
                .keys(&s)
                .filter(|k| matches!(self.scalar(&s, k), Some(ScalarValue::Boolean(true))))
                .collect();
        }
        if let Some(p) = self.map(&d, "photo") {
            let dim = |k| self.int_at(&p, k).and_then(|v| u32::try_from(v).ok());
            if let (Some(sha256), Some(bytes), Some(width), Some(height)) =
                (self.str_at(&p, "sha256"), dim("bytes"), dim("width"), dim("height"))
            {
                draft.photo = Some(PhotoRef { sha256, bytes, width, height });
            }
        }
        if let Some(decl) = self.map(&d, "declaration") {
            draft.declaration =
                Some(Declaration { declared_at_ms: self.int_at(&decl, "declared_at").unwrap_or(0) });
        }
        draft
    }

    /// A typed snapshot of the draft as it was at `heads` (lower-case hex change hashes, as a
    /// client reports them). `None` when `heads` is empty, malformed or not all in this document
    /// (the client has not synced them yet).
    pub fn draft_at_hex(&mut self, heads: &[String]) -> Option<Draft> {
        let parsed = heads.iter().map(|h| h.parse::<ChangeHash>().ok()).collect::<Option<Vec<_>>>()?;
        if parsed.is_empty() || parsed.iter().any(|h| self.doc.get_change_by_hash(h).is_none()) {
            return None;
        }
        // The usual case, a client submitting what it has synced, needs no fork: forking
        // re-applies the whole history.
        let mut current = self.doc.get_heads();
        let mut asked = parsed.clone();
        current.sort();
        asked.sort();
        asked.dedup();
        if asked == current {
            return Some(self.draft());
        }
        Some(self.at(&parsed).ok()?.draft())
    }

    /// A read-only view of this document as it was at `heads` (a fork: it re-applies the
    /// history up to them).
    fn at(&mut self, heads: &[ChangeHash]) -> Result<RegistrationDoc, DocError> {
        Ok(RegistrationDoc { doc: self.doc.fork_at(heads)?, exam: self.exam.clone(), saved: Vec::new() })
    }

    /// A typed snapshot of the server section. A missing or unknown status reads as `draft`.
    pub fn server(&self) -> ServerSection {
        let Some(s) = self.map(&ROOT, "server") else { return ServerSection::default() };
        ServerSection {
            status: self.str_at(&s, "status").and_then(|v| v.parse().ok()).unwrap_or_default(),
            reason: self.str_at(&s, "reason"),
            reason_paths: self.str_list(&s, "reason_paths"),
            seats: self.str_list(&s, "seats"),
            deadline_ms: self.int_at(&s, "deadline"),
            order: self.str_at(&s, "order"),
            amount_fen: self.int_at(&s, "amount_fen"),
            ticket: self.str_at(&s, "ticket"),
            trade_no: self.str_at(&s, "trade_no"),
            paid_at_ms: self.int_at(&s, "paid_at"),
            refunded_fen: self.int_at(&s, "refunded_fen"),
            updated_at_ms: self.int_at(&s, "updated_at").unwrap_or(0),
        }
    }

    /// The lifecycle status.
    pub fn status(&self) -> Status {
        self.server().status
    }

    // ---- candidate actions -----------------------------------------------------------------

    fn ensure_editable(&self, path: &DraftPath) -> Result<(), DocError> {
        let status = self.status();
        if status.can_edit(path.group()) {
            Ok(())
        } else {
            Err(DocError::Locked { path: path.to_string(), status })
        }
    }

    fn commit(&mut self, message: &str) {
        self.doc.commit_with(CommitOptions::default().with_message(message));
    }

    /// Accepts `agreement` (its version and digest are recorded with the time).
    pub fn accept_agreement(&mut self, agreement: &Agreement, at_ms: i64) -> Result<(), DocError> {
        self.ensure_editable(&DraftPath::Agreement)?;
        let d = self.draft_obj()?;
        let a = self.doc.put_object(&d, "agreement", ObjType::Map)?;
        self.doc.put(&a, "version", agreement.version.as_str())?;
        self.doc.put(&a, "sha256", agreement.sha256.as_str())?;
        self.doc.put(&a, "accepted_at", ScalarValue::Timestamp(at_ms))?;
        self.commit("accept agreement");
        Ok(())
    }

    /// Withdraws the acceptance (declining stops the registration).
    pub fn decline_agreement(&mut self) -> Result<(), DocError> {
        self.ensure_editable(&DraftPath::Agreement)?;
        let d = self.draft_obj()?;
        self.doc.delete(&d, "agreement")?;
        self.commit("decline agreement");
        Ok(())
    }

    /// Sets the answer of field `key`.
    pub fn set_field(&mut self, key: &str, value: &str) -> Result<(), DocError> {
        let path = DraftPath::Field(key.to_owned());
        check_field_key(key)?;
        if value.chars().count() > MAX_ANSWER_CHARS {
            return Err(DocError::InvalidValue { path: path.to_string(), reason: "answer too long" });
        }
        self.ensure_editable(&path)?;
        let fields = self.map(&self.draft_obj()?, "fields").ok_or(DocError::NotARegistration)?;
        self.doc.put(&fields, key, value)?;
        self.commit("set field");
        Ok(())
    }

    /// Clears the answer of field `key`.
    pub fn clear_field(&mut self, key: &str) -> Result<(), DocError> {
        check_field_key(key)?;
        self.ensure_editable(&DraftPath::Field(key.to_owned()))?;
        let fields = self.map(&self.draft_obj()?, "fields").ok_or(DocError::NotARegistration)?;
        self.doc.delete(&fields, key)?;
        self.commit("clear field");
        Ok(())
    }

    /// Chooses the test center, dropping chosen subjects the new center does not offer.
    /// Returns the dropped subject codes.
    pub fn choose_center(&mut self, exam: &ExamSession, center_id: &str) -> Result<Vec<String>, DocError> {
        self.ensure_editable(&DraftPath::Center)?;
        let center = exam.center(center_id).ok_or_else(|| DocError::UnknownCenter(center_id.to_owned()))?;
        let d = self.draft_obj()?;
        let subjects = self.map(&d, "subjects").ok_or(DocError::NotARegistration)?;
        let dropped: Vec<String> = self.doc.keys(&subjects).filter(|c| center.offer(c).is_none()).collect();
        self.doc.put(&d, "center", center_id)?;
        for code in &dropped {
            self.doc.delete(&subjects, code.as_str())?;
        }
        self.commit("choose center");
        Ok(dropped)
    }

    /// Adds a subject to the chosen set.
    pub fn add_subject(&mut self, code: &str) -> Result<(), DocError> {
        check_subject_code(code)?;
        self.ensure_editable(&DraftPath::Subjects)?;
        let subjects = self.map(&self.draft_obj()?, "subjects").ok_or(DocError::NotARegistration)?;
        self.doc.put(&subjects, code, true)?;
        self.commit("add subject");
        Ok(())
    }

    /// Removes a subject from the chosen set.
    pub fn remove_subject(&mut self, code: &str) -> Result<(), DocError> {
        check_subject_code(code)?;
        self.ensure_editable(&DraftPath::Subjects)?;
        let subjects = self.map(&self.draft_obj()?, "subjects").ok_or(DocError::NotARegistration)?;
        self.doc.delete(&subjects, code)?;
        self.commit("remove subject");
        Ok(())
    }

    /// Sets the photo reference (replacing any previous one as a whole).
    pub fn set_photo(&mut self, photo: &PhotoRef) -> Result<(), DocError> {
        self.ensure_editable(&DraftPath::Photo)?;
        if photo.sha256.len() != 64 || !photo.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DocError::InvalidValue {
                path: "draft.photo".into(),
                reason: "sha256 must be 64 hex digits",
            });
        }
        let d = self.draft_obj()?;
        let p = self.doc.put_object(&d, "photo", ObjType::Map)?;
        self.doc.put(&p, "sha256", photo.sha256.to_ascii_lowercase())?;
        self.doc.put(&p, "bytes", u64::from(photo.bytes))?;
        self.doc.put(&p, "width", u64::from(photo.width))?;
        self.doc.put(&p, "height", u64::from(photo.height))?;
        self.commit("set photo");
        Ok(())
    }

    /// Removes the photo reference.
    pub fn clear_photo(&mut self) -> Result<(), DocError> {
        self.ensure_editable(&DraftPath::Photo)?;
        let d = self.draft_obj()?;
        self.doc.delete(&d, "photo")?;
        self.commit("clear photo");
        Ok(())
    }

    /// Gives the truthfulness declaration.
    pub fn declare(&mut self, at_ms: i64) -> Result<(), DocError> {
        self.ensure_editable(&DraftPath::Declaration)?;
        let d = self.draft_obj()?;
        let decl = self.doc.put_object(&d, "declaration", ObjType::Map)?;
        self.doc.put(&decl, "declared_at", ScalarValue::Timestamp(at_ms))?;
        self.commit("declare");
        Ok(())
    }

    /// Withdraws the declaration.
    pub fn withdraw_declaration(&mut self) -> Result<(), DocError> {
        self.ensure_editable(&DraftPath::Declaration)?;
        let d = self.draft_obj()?;
        self.doc.delete(&d, "declaration")?;
        self.commit("withdraw declaration");
        Ok(())
    }

    /// Replaces this replica's actor (after a reset, so dropped changes' sequence numbers are
    /// never reused).
    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    /// The refusal path of the client: drops every local change the server has not accepted by
    /// returning to `accepted_heads` (which this replica must have), continues with a fresh actor,
    /// re-applies the dropped edits that the status still allows and the server did not refuse,
    /// and returns the others as [`RejectedEdit`]s. Nothing the candidate typed is lost silently.
    pub fn reset_to_accepted(
        &mut self,
        accepted_heads: &[ChangeHash],
        refused: &[RefusedPath],
    ) -> Result<Vec<RejectedEdit>, DocError> {
        let (before, typed) = self.own_unaccepted_edits(accepted_heads)?;
        let mut reset = self.doc.fork_at(accepted_heads)?;
        reset.set_actor(ActorId::random());
        self.doc = reset;
        // The history was rewritten: the next incremental save holds all of it.
        self.saved = Vec::new();
        let after = self.draft();
        let status = self.status();

        let refusal_of = |path: &DraftPath| -> Option<String> {
            let text = path.to_string();
            refused
                .iter()
                .find(|r| r.path == "*" || r.path == text || r.path.starts_with(&format!("{text}.")))
                .map(|r| r.reason.as_str().to_owned())
                .or_else(|| (!status.can_edit(path.group())).then(|| "locked".to_owned()))
        };
        let mut rejected = Vec::new();
        let mut redo: Vec<(DraftPath, Option<String>)> = Vec::new();
        let mut consider = |path: DraftPath, value: Option<String>| {
            if !typed.contains(&path) {
                return;
            }
            match refusal_of(&path) {
                Some(reason) => rejected.push(RejectedEdit { path: path.to_string(), value, reason }),
                None => redo.push((path, value)),
            }
        };
        if before.agreement != after.agreement {
            consider(DraftPath::Agreement, before.agreement.as_ref().map(|a| a.version.clone()));
        }
        let keys: BTreeSet<&String> = before.fields.keys().chain(after.fields.keys()).collect();
        for key in keys {
            if before.fields.get(key) != after.fields.get(key) {
                consider(DraftPath::Field(key.clone()), before.fields.get(key).cloned());
            }
        }
        if before.center != after.center {
            consider(DraftPath::Center, before.center.clone());
        }
        if before.subjects != after.subjects {
            consider(DraftPath::Subjects, Some(before.subjects.join(",")));
        }
        if before.photo != after.photo {
            consider(DraftPath::Photo, before.photo.as_ref().map(|p| p.sha256.clone()));
        }
        if before.declaration != after.declaration {
            consider(
                DraftPath::Declaration,
                before.declaration.as_ref().map(|d| d.declared_at_ms.to_string()),
            );
        }
        for (path, _) in redo {
            self.redo(&path, &before)?;
        }
        if self.doc.pending_ops() > 0 {
            self.commit("re-apply edits after refusal");
        }
        Ok(rejected)
    }

    /// What this replica typed that the server has not accepted: the draft as its own changes
    /// since `accepted_heads` left it, and the draft paths those changes write.
    ///
    /// The draft is read at the replica's own last change, not at its current heads: a
    /// concurrent write of the same key received since (another device's, already accepted by
    /// the server) may win the merge and would otherwise hide the value the candidate typed.
    /// The replica's unaccepted changes are all by its current actor, which every reset renews.
    fn own_unaccepted_edits(
        &mut self,
        accepted_heads: &[ChangeHash],
    ) -> Result<(Draft, BTreeSet<DraftPath>), DocError> {
        let actor = self.doc.get_actor().clone();
        let own: Vec<Change> =
            self.doc.get_changes(accepted_heads).into_iter().filter(|c| c.actor_id() == &actor).collect();
        let deps: BTreeSet<ChangeHash> = own.iter().flat_map(|c| c.deps().iter().copied()).collect();
        let heads: Vec<ChangeHash> = own.iter().map(Change::hash).filter(|h| !deps.contains(h)).collect();
        if heads.is_empty() {
            return Ok((self.draft(), BTreeSet::new()));
        }
        let view = self.at(&heads)?;
        let typed = own
            .iter()
            .flat_map(|c| c.decode().operations)
            .filter_map(|op| {
                let mut path = object_path(&view.doc, &op.obj)?;
                if let Key::Map(key) = &op.key {
                    path.push(key.to_string());
                }
                draft_path_of(&path)
            })
            .collect();
        Ok((view.draft(), typed))
    }

    /// Writes `path` back to its value in `draft` (inside the current transaction).
    fn redo(&mut self, path: &DraftPath, draft: &Draft) -> Result<(), DocError> {
        let d = self.draft_obj()?;
        match path {
            DraftPath::Field(key) => {
                let fields = self.map(&d, "fields").ok_or(DocError::NotARegistration)?;
                match draft.fields.get(key) {
                    Some(v) => self.doc.put(&fields, key.as_str(), v.as_str())?,
                    None => self.doc.delete(&fields, key.as_str())?,
                }
            }
            DraftPath::Center => match &draft.center {
                Some(c) => self.doc.put(&d, "center", c.as_str())?,
                None => self.doc.delete(&d, "center")?,
            },
            DraftPath::Subjects => {
                let subjects = self.map(&d, "subjects").ok_or(DocError::NotARegistration)?;
                let current: Vec<String> = self.doc.keys(&subjects).collect();
                for code in current.iter().filter(|c| !draft.subjects.contains(c)) {
                    self.doc.delete(&subjects, code.as_str())?;
                }
                for code in &draft.subjects {
                    self.doc.put(&subjects, code.as_str(), true)?;
                }
            }
            DraftPath::Agreement => match &draft.agreement {
                Some(a) => {
                    let obj = self.doc.put_object(&d, "agreement", ObjType::Map)?;
                    self.doc.put(&obj, "version", a.version.as_str())?;
                    self.doc.put(&obj, "sha256", a.sha256.as_str())?;
                    self.doc.put(&obj, "accepted_at", ScalarValue::Timestamp(a.accepted_at_ms))?;
                }
                None => self.doc.delete(&d, "agreement")?,
            },
            DraftPath::Photo => match &draft.photo {
                Some(p) => {
                    let obj = self.doc.put_object(&d, "photo", ObjType::Map)?;
                    self.doc.put(&obj, "sha256", p.sha256.as_str())?;
                    self.doc.put(&obj, "bytes", u64::from(p.bytes))?;
                    self.doc.put(&obj, "width", u64::from(p.width))?;
                    self.doc.put(&obj, "height", u64::from(p.height))?;
                }
                None => self.doc.delete(&d, "photo")?,
            },
            DraftPath::Declaration => match &draft.declaration {
                Some(decl) => {
                    let obj = self.doc.put_object(&d, "declaration", ObjType::Map)?;
                    self.doc.put(&obj, "declared_at", ScalarValue::Timestamp(decl.declared_at_ms))?;
                }
                None => self.doc.delete(&d, "declaration")?,
            },
        }
        Ok(())
    }

    // ---- server side -----------------------------------------------------------------------

    /// Writes the server section. Only the server calls this, on a replica whose actor is
    /// [`SERVER_ACTOR`]; the incoming-change check refuses such writes from anyone else.
    pub fn write_server(&mut self, section: &ServerSection) -> Result<(), DocError> {
        let s = self.map(&ROOT, "server").ok_or(DocError::NotARegistration)?;
        self.doc.put(&s, "status", section.status.as_str())?;
        put_opt_str(&mut self.doc, &s, "reason", section.reason.as_deref())?;
        put_str_list(&mut self.doc, &s, "reason_paths", &section.reason_paths)?;
        put_str_list(&mut self.doc, &s, "seats", &section.seats)?;
        match section.deadline_ms {
            Some(ms) => self.doc.put(&s, "deadline", ScalarValue::Timestamp(ms))?,
            None => self.doc.delete(&s, "deadline")?,
        }
        put_opt_str(&mut self.doc, &s, "order", section.order.as_deref())?;
        match section.amount_fen {
            Some(v) => self.doc.put(&s, "amount_fen", v)?,
            None => self.doc.delete(&s, "amount_fen")?,
        }
        put_opt_str(&mut self.doc, &s, "ticket", section.ticket.as_deref())?;
        put_opt_str(&mut self.doc, &s, "trade_no", section.trade_no.as_deref())?;
        match section.paid_at_ms {
            Some(ms) => self.doc.put(&s, "paid_at", ScalarValue::Timestamp(ms))?,
            None => self.doc.delete(&s, "paid_at")?,
        }
        match section.refunded_fen {
            Some(v) => self.doc.put(&s, "refunded_fen", v)?,
            None => self.doc.delete(&s, "refunded_fen")?,
        }
        self.doc.put(&s, "updated_at", ScalarValue::Timestamp(section.updated_at_ms))?;
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(format!("server: {}", section.status))
                .with_time(section.updated_at_ms / 1000),
        );
        Ok(())
    }

    // ---- the incoming-change check ---------------------------------------------------------

    /// Checks a batch of incoming data (change chunks or saved documents, as `load_incremental`
    /// takes them) against the current status, and applies it to this document only if every
    /// operation is allowed. A refused batch leaves the document untouched.
    ///
    /// The common case, a batch that passes, is decided without copying the document (see
    /// `check_in_place`) and applied once. Anything that check cannot decide
    /// exactly, every refusal included, is decided by `check_on_fork`, so a
    /// refusal is reported exactly as the fork check reports it.
    pub fn apply_incoming(&mut self, chunks: &[&[u8]], limits: IncomingLimits) -> Result<Accepted, Refusal> {
        let status = self.status();
        let new_changes = match self.new_incoming(chunks, limits) {
            Ok(changes) => changes,
            Err(reason) => return Err(self.refusal(status, whole(reason))),
        };
        let Some(touched) = self.check_in_place(&new_changes, status, limits) else {
            return self.check_on_fork(new_changes, status, limits);
        };
        let count = new_changes.len();
        // automerge 0.12 validates the whole batch (duplicate actor/sequence pairs and authors)
        // before it changes anything, so an error here leaves the document as it was.
        if self.doc.apply_changes(new_changes).is_err() {
            return Err(self.refusal(status, whole(RefusalReason::Malformed)));
        }
        Ok(Accepted { new_changes: count, touched, heads: self.doc.get_heads() })
    }

    /// [`RegistrationDoc::apply_incoming`] deciding every batch on a fork, as it did before the
    /// in-place check: same decisions, kept public only so benchmarks can compare the two.
    #[doc(hidden)]
    pub fn apply_incoming_on_fork(
        &mut self,
        chunks: &[&[u8]],
        limits: IncomingLimits,
    ) -> Result<Accepted, Refusal> {
        let status = self.status();
        match self.new_incoming(chunks, limits) {
            Ok(changes) => self.check_on_fork(changes, status, limits),
            Err(reason) => Err(self.refusal(status, whole(reason))),
        }
    }

    fn refusal(&mut self, status: Status, refused: Vec<RefusedPath>) -> Refusal {
        Refusal { status, refused, heads: self.doc.get_heads() }
    }

    /// Decodes `chunks` strictly and keeps the changes this document does not have yet, each
    /// once, within the batch limits.
    fn new_incoming(&self, chunks: &[&[u8]], limits: IncomingLimits) -> Result<Vec<Change>, RefusalReason> {
        let mut incoming = Vec::new();
        for chunk in chunks {
            incoming.extend(decode_chunks(chunk).map_err(|()| RefusalReason::Malformed)?);
        }
        let mut seen = BTreeSet::new();
        let new_changes: Vec<Change> =
            incoming.into_iter().filter(|c| seen.insert(c.hash()) && !self.has_change(&c.hash())).collect();
        if new_changes.len() > limits.max_changes
            || new_changes.iter().map(Change::len).sum::<usize>() > limits.max_ops
        {
            return Err(RefusalReason::BatchTooLarge);
        }
        Ok(new_changes)
    }

    /// The changes that neither this document nor `chunks` (changes received ahead of their
    /// dependencies) hold, walking back from `from` through the chunks' dependencies: what a
    /// peer still has to send before the chunks can be checked. Undecodable chunks add nothing.
    pub(crate) fn missing_before(&self, chunks: &[&[u8]], from: &[ChangeHash]) -> Vec<ChangeHash> {
        let held: HashMap<ChangeHash, Change> = chunks
            .iter()
            .filter_map(|chunk| decode_chunks(chunk).ok())
            .flatten()
            .map(|c| (c.hash(), c))
            .collect();
        let mut missing = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack = from.to_vec();
        while let Some(hash) = stack.pop() {
            if !seen.insert(hash) || self.has_change(&hash) {
                continue;
            }
            match held.get(&hash) {
                Some(change) => stack.extend(change.deps().iter().copied()),
                None => {
                    missing.insert(hash);
                }
            }
        }
        missing.into_iter().collect()
    }

    /// Whether the document holds the change `hash`. Cheaper than `get_change_by_hash`, which
    /// rebuilds the change: a missing-dependency query from `hash` is empty exactly when the
    /// change is applied (a queued change always has a missing ancestor).
    fn has_change(&self, hash: &ChangeHash) -> bool {
        self.doc.get_missing_deps(&[*hash]).is_empty()
    }

    /// Decides a batch without applying it, for the case where it passes: returns the draft
    /// paths it touches when it provably passes every check [`RegistrationDoc::check_on_fork`]
    /// makes, and `None` whenever that is not certain (any refusal, an object it cannot place
    /// by keys alone, a size estimate over the cap, changes queued in the document).
    ///
    /// Objects never move in Automerge: an object's path is fixed by the `make` operation that
    /// created it. So an operation's path is found through the document for objects it has and
    /// through the batch's own `make` operations for objects the batch creates, without applying
    /// anything. Dependencies are checked against the document plus the batch, and the size
    /// against the document's operations plus the batch's (an upper bound of the size after).
    fn check_in_place(
        &self,
        changes: &[Change],
        status: Status,
        limits: IncomingLimits,
    ) -> Option<BTreeSet<DraftPath>> {
        if !self.doc.get_missing_deps(&[]).is_empty() {
            return None;
        }
        let hashes: BTreeSet<ChangeHash> = changes.iter().map(Change::hash).collect();
        let deps_present =
            changes.iter().flat_map(|c| c.deps()).all(|d| hashes.contains(d) || self.has_change(d));
        let batch_ops = changes.iter().map(|c| c.len() as u64).sum::<u64>();
        if !deps_present || self.doc.stats().num_ops.saturating_add(batch_ops) > limits.max_document_ops {
            return None;
        }
        let decoded: Vec<automerge::ExpandedChange> = changes.iter().map(Change::decode).collect();
        // The objects the batch creates in maps: id -> (parent object, key).
        let mut made: HashMap<(u64, &ActorId), (&ObjectId, &str)> = HashMap::new();
        for change in &decoded {
            let actor = change.actor_id.to_bytes();
            if actor == GENESIS_ACTOR || actor == SERVER_ACTOR {
                return None;
            }
            for (op, counter) in change.operations.iter().zip(change.start_op.get()..) {
                if let (LegacyOp::Make(_), Key::Map(key)) = (&op.action, &op.key) {
                    // An id the document already uses would make the batch's view ambiguous.
                    if self.doc.import(&format!("{counter}@{}", change.actor_id)).is_ok() {
                        return None;
                    }
                    made.insert((counter, &change.actor_id), (&op.obj, key.as_str()));
                }
            }
        }
        let mut touched = BTreeSet::new();
        for op in decoded.iter().flat_map(|c| &c.operations) {
            let path = self.place(&op.obj, &made)?;
            let path = classify_path(path, op).ok()?;
            if !status.can_edit(path.group()) {
                return None;
            }
            touched.insert(path);
        }
        Some(touched)
    }

    /// The path of `obj` as map keys from the root, through the batch's `make` operations and
    /// then the document; `None` if it passes through a list or cannot be found.
    fn place(
        &self,
        obj: &ObjectId,
        made: &HashMap<(u64, &ActorId), (&ObjectId, &str)>,
    ) -> Option<Vec<String>> {
        // Draft objects are at most three keys deep; deeper chains are refused anyway.
        const MAX_DEPTH: usize = 8;
        let mut keys = Vec::new();
        let mut current = obj;
        for _ in 0..MAX_DEPTH {
            let ObjectId::Id(id) = current else {
                keys.reverse();
                return Some(keys);
            };
            match made.get(&(id.counter(), id.actor())) {
                Some((parent, key)) => {
                    keys.push((*key).to_owned());
                    current = parent;
                }
                None => {
                    let (exid, _) = self.doc.import(&format!("{}@{}", id.counter(), id.actor())).ok()?;
                    let mut path = Vec::new();
                    for parent in self.doc.parents(&exid).ok()? {
                        let Prop::Map(key) = parent.prop else { return None };
                        path.push(key);
                    }
                    path.reverse();
                    keys.reverse();
                    path.extend(keys);
                    return Some(path);
                }
            }
        }
        None
    }

    /// The reference check: applies the batch on a fork of the whole document, inspects every
    /// operation's path (resolved through the fork), type and size against `status`, and adopts
    /// the fork if all pass. Used for every batch [`RegistrationDoc::check_in_place`] cannot
    /// decide.
    fn check_on_fork(
        &mut self,
        new_changes: Vec<Change>,
        status: Status,
        limits: IncomingLimits,
    ) -> Result<Accepted, Refusal> {
        let mut fork = self.doc.fork();
        if fork.apply_changes(new_changes.iter().cloned()).is_err() {
            return Err(self.refusal(status, whole(RefusalReason::Malformed)));
        }
        if !fork.get_missing_deps(&[]).is_empty() {
            return Err(self.refusal(status, whole(RefusalReason::MissingDependencies)));
        }
        if fork.stats().num_ops > limits.max_document_ops {
            return Err(self.refusal(status, whole(RefusalReason::DocumentTooLarge)));
        }

        let mut refused = BTreeSet::new();
        let mut touched = BTreeSet::new();
        for change in &new_changes {
            let actor = change.actor_id().to_bytes();
            if actor == GENESIS_ACTOR || actor == SERVER_ACTOR {
                refused.insert(RefusedPath { path: "*".into(), reason: RefusalReason::ReservedActor });
                continue;
            }
            for op in change.decode().operations {
                match classify(&fork, &op) {
                    Ok(path) => {
                        if !status.can_edit(path.group()) {
                            refused.insert(RefusedPath {
                                path: path.to_string(),
                                reason: RefusalReason::Locked,
                            });
                        }
                        touched.insert(path);
                    }
                    Err(r) => {
                        refused.insert(r);
                    }
                }
            }
        }
        if !refused.is_empty() {
            return Err(self.refusal(status, refused.into_iter().collect()));
        }
        // The fork already holds exactly the accepted batch on top of this document: adopt it,
        // under this replica's actor, instead of applying the batch a second time.
        fork.set_actor(self.doc.get_actor().clone());
        self.doc = fork;
        Ok(Accepted { new_changes: new_changes.len(), touched, heads: self.doc.get_heads() })
    }
}

/// A refusal of the whole batch.
fn whole(reason: RefusalReason) -> Vec<RefusedPath> {
    vec![RefusedPath { path: "*".into(), reason }]
}

/// Most bytes a compressed change chunk may inflate to.
const MAX_INFLATED_CHANGE: u64 = 4 << 20;
/// Largest document chunk accepted from a peer. Registration documents are a few KB; the cap
/// bounds what the columns of a hostile document could inflate to.
const MAX_DOCUMENT_CHUNK: usize = 128 << 10;
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Strictly splits Automerge storage data into changes: every byte must belong to a well-formed
/// document or change chunk, and compressed changes must inflate to a bounded size.
fn decode_chunks(mut data: &[u8]) -> Result<Vec<Change>, ()> {
    use std::io::Read;
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 9 || data[..4] != MAGIC {
            return Err(());
        }
        let (len, len_bytes) = leb128(&data[9..]).ok_or(())?;
        let body_start = 9 + len_bytes;
        let total = usize::try_from(len).ok().and_then(|l| l.checked_add(body_start)).ok_or(())?;
        let chunk = data.get(..total).ok_or(())?;
        match data[8] {
            0 => {
                if chunk.len() > MAX_DOCUMENT_CHUNK {
                    return Err(());
                }
                let options = automerge::LoadOptions::new()
                    .on_partial_load(automerge::OnPartialLoad::Error)
                    .verification_mode(automerge::VerificationMode::Check);
                let mut doc = AutoCommit::load_with_options(chunk, options).map_err(|_| ())?;
                out.extend(doc.get_changes(&[]));
            }
            1 => out.push(Change::try_from(chunk).map_err(|_| ())?),
            2 => {
                let inflated = std::io::copy(
                    &mut flate2::bufread::DeflateDecoder::new(&chunk[body_start..])
                        .take(MAX_INFLATED_CHANGE + 1),
                    &mut std::io::sink(),
                )
                .map_err(|_| ())?;
                if inflated > MAX_INFLATED_CHANGE {
                    return Err(());
                }
                out.push(Change::try_from(chunk).map_err(|_| ())?);
            }
            _ => return Err(()),
        }
        data = &data[total..];
    }
    Ok(out)
}

/// Unsigned LEB128: the value and the bytes it took.
fn leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn check_field_key(key: &str) -> Result<(), DocError> {
    let ok = (1..=64).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DocError::InvalidValue {
            path: format!("draft.fields.{key}"),
            reason: "field keys are lower-case letters, digits and `_`",
        })
    }
}

fn check_subject_code(code: &str) -> Result<(), DocError> {
    if (1..=16).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(DocError::InvalidValue {
            path: format!("draft.subjects.{code}"),
            reason: "subject codes are up to 16 letters or digits",
        })
    }
}

fn put_opt_str(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: Option<&str>) -> Result<(), DocError> {
    match value {
        Some(v) => doc.put(obj, key, v)?,
        None => doc.delete(obj, key)?,
    }
    Ok(())
}

fn put_str_list(doc: &mut AutoCommit, obj: &ObjId, key: &str, values: &[String]) -> Result<(), DocError> {
    let list = doc.put_object(obj, key, ObjType::List)?;
    for (i, v) in values.iter().enumerate() {
        doc.insert(&list, i, v.as_str())?;
    }
    Ok(())
}

/// The path of the object `obj` from the root, as dotted segments.
fn object_path(doc: &AutoCommit, obj: &ObjectId) -> Option<Vec<String>> {
    let ObjectId::Id(opid) = obj else { return Some(Vec::new()) };
    let (id, _) = doc.import(&format!("{}@{}", opid.counter(), opid.actor())).ok()?;
    let mut path: Vec<String> = doc
        .parents(&id)
        .ok()?
        .map(|p| match p.prop {
            Prop::Map(k) => k,
            Prop::Seq(i) => i.to_string(),
        })
        .collect();
    path.reverse();
    Some(path)
}

/// Maps one operation to the draft path it writes, or says why it may not.
fn classify(doc: &AutoCommit, op: &automerge::legacy::Op) -> Result<DraftPath, RefusedPath> {
    let path = object_path(doc, &op.obj)
        .ok_or(RefusedPath { path: "*".into(), reason: RefusalReason::Malformed })?;
    classify_path(path, op)
}

/// The draft path a write at `path` (map keys from the root) belongs to, whether or not the
/// write itself is allowed; `None` outside `draft`.
fn draft_path_of(path: &[String]) -> Option<DraftPath> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match segs.as_slice() {
        ["draft", "fields", key, ..] => DraftPath::Field((*key).to_owned()),
        ["draft", "center", ..] => DraftPath::Center,
        ["draft", "subjects", ..] => DraftPath::Subjects,
        ["draft", "photo", ..] => DraftPath::Photo,
        ["draft", "agreement", ..] => DraftPath::Agreement,
        ["draft", "declaration", ..] => DraftPath::Declaration,
        _ => return None,
    })
}

/// Maps one operation on the object at `path` to the draft path it writes, or says why it may
/// not.
fn classify_path(mut path: Vec<String>, op: &automerge::legacy::Op) -> Result<DraftPath, RefusedPath> {
    match &op.key {
        Key::Map(k) => path.push(k.to_string()),
        Key::Seq(_) => path.push("[]".into()),
    }
    let dotted = path.join(".");
    let refuse = |reason| Err(RefusedPath { path: dotted.clone(), reason });
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();

    enum Want {
        Str(usize),
        Int,
        True,
        Map,
    }
    let (draft_path, want) = match segs.as_slice() {
        ["server", ..] => return refuse(RefusalReason::ServerSection),
        ["draft", "fields", key] => {
            if check_field_key(key).is_err() {
                return refuse(RefusalReason::NotWritable);
            }
            (DraftPath::Field((*key).to_owned()), Want::Str(MAX_ANSWER_CHARS))
        }
        ["draft", "subjects", code] => {
            if check_subject_code(code).is_err() {
                return refuse(RefusalReason::NotWritable);
            }
            (DraftPath::Subjects, Want::True)
        }
        ["draft", "center"] => (DraftPath::Center, Want::Str(64)),
        ["draft", "photo"] => (DraftPath::Photo, Want::Map),
        ["draft", "photo", "sha256"] => (DraftPath::Photo, Want::Str(64)),
        ["draft", "photo", "bytes" | "width" | "height"] => (DraftPath::Photo, Want::Int),
        ["draft", "agreement"] => (DraftPath::Agreement, Want::Map),
        ["draft", "agreement", "version"] => (DraftPath::Agreement, Want::Str(64)),
        ["draft", "agreement", "sha256"] => (DraftPath::Agreement, Want::Str(64)),
        ["draft", "agreement", "accepted_at"] => (DraftPath::Agreement, Want::Int),
        ["draft", "declaration"] => (DraftPath::Declaration, Want::Map),
        ["draft", "declaration", "declared_at"] => (DraftPath::Declaration, Want::Int),
        _ => return refuse(RefusalReason::NotWritable),
    };
    if op.insert {
        return refuse(RefusalReason::WrongType);
    }
    match (&op.action, want) {
        (LegacyOp::Delete, _) => Ok(draft_path),
        (LegacyOp::Make(ObjType::Map), Want::Map) => Ok(draft_path),
        (LegacyOp::Put(ScalarValue::Str(s)), Want::Str(max)) => {
            if s.chars().count() > max {
                refuse(RefusalReason::TooLarge)
            } else {
                Ok(draft_path)
            }
        }
        (
            LegacyOp::Put(ScalarValue::Int(_) | ScalarValue::Uint(_) | ScalarValue::Timestamp(_)),
            Want::Int,
        ) => Ok(draft_path),
        (LegacyOp::Put(ScalarValue::Boolean(true)), Want::True) => Ok(draft_path),
        _ => refuse(RefusalReason::WrongType),
    }
}

#[cfg(test)]
mod tests;
