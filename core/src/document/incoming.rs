//! The incoming-change check shared by server and client: a batch of changes is decoded
//! strictly, checked path by path against the current status (in place when that can be proven,
//! else on a fork), and applied whole or refused whole.

use std::collections::{BTreeSet, HashMap};

use automerge::{AutoCommit, Change, ChangeHash, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{DraftPath, Status};

use super::classify::*;
use super::{GENESIS_ACTOR, RegistrationDoc, SERVER_ACTOR};

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

/// A refusal of the whole batch.
pub(super) fn whole(reason: RefusalReason) -> Vec<RefusedPath> {
    vec![RefusedPath { path: "*".into(), reason }]
}

/// Most bytes a compressed change chunk may inflate to.
pub(super) const MAX_INFLATED_CHANGE: u64 = 4 << 20;

/// Largest document chunk accepted from a peer. Registration documents are a few KB; the cap
/// bounds what the columns of a hostile document could inflate to.
pub(super) const MAX_DOCUMENT_CHUNK: usize = 128 << 10;

pub(super) const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Strictly splits Automerge storage data into changes: every byte must belong to a well-formed
/// document or change chunk, and compressed changes must inflate to a bounded size.
pub(super) fn decode_chunks(mut data: &[u8]) -> Result<Vec<Change>, ()> {
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
pub(super) fn leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

impl RegistrationDoc {
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

    pub(super) fn refusal(&mut self, status: Status, refused: Vec<RefusedPath>) -> Refusal {
        Refusal { status, refused, heads: self.doc.get_heads() }
    }

    /// Decodes `chunks` strictly and keeps the changes this document does not have yet, each
    /// once, within the batch limits.
    pub(super) fn new_incoming(
        &self,
        chunks: &[&[u8]],
        limits: IncomingLimits,
    ) -> Result<Vec<Change>, RefusalReason> {
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

    /// Each change that `chunks` hold, as its hash and the hashes it depends on, without
    /// checking anything else; undecodable chunks add nothing (the check refuses them).
    pub(crate) fn change_links(chunks: &[&[u8]]) -> Vec<(ChangeHash, Vec<ChangeHash>)> {
        chunks
            .iter()
            .filter_map(|chunk| decode_chunks(chunk).ok())
            .flatten()
            .map(|c| (c.hash(), c.deps().to_vec()))
            .collect()
    }

    /// Whether the document holds the change `hash`. Cheaper than `get_change_by_hash`, which
    /// rebuilds the change: a missing-dependency query from `hash` is empty exactly when the
    /// change is applied (a queued change always has a missing ancestor).
    pub(crate) fn has_change(&self, hash: &ChangeHash) -> bool {
        self.doc.get_missing_deps(&[*hash]).is_empty()
    }

    /// The reference check: applies the batch on a fork of the whole document, inspects every
    /// operation's path (resolved through the fork), type and size against `status`, and adopts
    /// the fork if all pass. Used for every batch [`RegistrationDoc::check_in_place`] cannot
    /// decide.
    pub(super) fn check_on_fork(
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
