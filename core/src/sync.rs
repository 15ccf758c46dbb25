//! The sans-IO sync engine: Automerge's sync protocol for one (peer, document) pair, with the
//! server's validation on a fork and the device's refusal path.
//!
//! The server keeps one [`PeerSync`] per connected peer and document, and feeds every incoming
//! Automerge sync message through [`PeerSync::receive_checked`]: the changes it carries are
//! checked with [`RegistrationDoc::apply_incoming`] before anything is applied, and only that
//! check ever puts a peer's changes into the document. A refused batch leaves the document
//! untouched, resets the peer's sync state, and is remembered twice: by the peer's state, so a
//! peer that keeps sending the same refused changes gets no further reply on this connection,
//! and by the document's [`RefusedMemory`], shared by all its peers and connections, so a peer
//! that comes back with them (or with edits built on them) is answered from memory, without a
//! second check — the exchange cannot loop, on one connection or across many.
//!
//! Messages may arrive duplicated or out of order (a retried HTTP batch, a reconnect). Changes
//! whose dependencies have not arrived yet are kept aside, bounded, and checked together with the
//! next message's changes once their history is complete, so reordering is never mistaken for a
//! refusal.
//!
//! A device feeds the server's messages through [`PeerSync::receive_trusted`] and, on a refusal
//! extension message, calls [`PeerSync::reset_after_refusal`], which returns the document to what
//! the server accepted, re-applies what is still allowed and reports the rest as rejected edits.

use std::collections::HashSet;

use automerge::ChangeHash;
use automerge::sync::{self, SyncDoc};

use crate::document::{
    Accepted, IncomingLimits, Refusal, RefusedPath, RegistrationDoc, RejectedEdit, genesis_hash,
};

mod refused;

pub use refused::{
    MAX_HASHES, MAX_PATH_BYTES, MAX_PATHS, MAX_REFUSALS, MemoryError, RefusedMemory, RememberedRefusal,
};

/// Why a sync message could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The bytes are not an Automerge sync message.
    #[error("not an Automerge sync message: {0}")]
    BadMessage(String),
    /// Applying a trusted message failed (corrupt data from the server).
    #[error("could not apply the server's changes: {0}")]
    Apply(String),
    /// The saved sync state is unreadable.
    #[error("unreadable sync state")]
    BadState,
}

/// What the server did with one incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The message's changes (possibly none) passed the check and were applied.
    Applied(Accepted),
    /// The message's changes were refused as a whole; nothing was applied.
    Refused(Refusal),
    /// The message offered changes the document refused before, on this connection or another
    /// (they, or changes they build on, are in its [`RefusedMemory`]): refused again from
    /// memory, without the check. Reported once per connection; repeats are `Ignored`.
    Recalled(Refusal),
    /// The message only repeated changes refused before; it was dropped without a reply.
    Ignored,
    /// The message's changes depend on changes the server has not received yet: nothing was
    /// applied, and they wait (bounded) to be checked together with their dependencies.
    Waiting,
}

/// Most bytes of change data a peer may have waiting for missing dependencies. More than that,
/// and the waiting batch is refused as `missing_dependencies`.
pub const MAX_WAITING_BYTES: usize = 1 << 20;

/// Sync state of one peer for one document.
#[derive(Debug, Clone)]
pub struct PeerSync {
    state: sync::State,
    refused: HashSet<ChangeHash>,
    /// Set while the peer still offers refused changes (it has not reset): the server then speaks
    /// only when its own heads move, never in reply, which bounds the exchange.
    diverged: Option<Vec<ChangeHash>>,
    /// Change chunks received before their dependencies, with the heads of their messages.
    waiting: Vec<Vec<u8>>,
    waiting_heads: Vec<ChangeHash>,
}

impl Default for PeerSync {
    fn default() -> Self {
        PeerSync::new()
    }
}

impl PeerSync {
    /// A fresh state (nothing known about the peer).
    pub fn new() -> PeerSync {
        PeerSync {
            state: sync::State::new(),
            refused: HashSet::new(),
            diverged: None,
            waiting: Vec::new(),
            waiting_heads: Vec::new(),
        }
    }

    /// Restores a state saved with [`PeerSync::save`] (for peers with a storage id).
    pub fn restore(bytes: &[u8]) -> Result<PeerSync, SyncError> {
        let state = sync::State::decode(bytes).map_err(|_| SyncError::BadState)?;
        Ok(PeerSync { state, ..PeerSync::new() })
    }

    /// The persistent part of the state.
    pub fn save(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// The heads both sides are known to have.
    pub fn shared_heads(&self) -> &[ChangeHash] {
        &self.state.shared_heads
    }

    /// The next message to send, if any.
    pub fn generate(&mut self, doc: &mut RegistrationDoc) -> Option<Vec<u8>> {
        if let Some(last) = &self.diverged {
            let heads = doc.heads();
            if *last == heads {
                return None;
            }
            self.diverged = Some(heads);
        }
        let mut message = doc.automerge().sync().generate_sync_message(&mut self.state)?;
        if !self.waiting.is_empty() {
            self.ask_for_missing(doc, &mut message);
        }
        Some(message.encode())
    }

    /// Names in `need` the changes the waiting ones depend on. Automerge cannot: the waiting
    /// changes are kept out of the document (they are unchecked), so it asks only for the peer's
    /// heads, which the peer has already sent. A change the peer left out because this side's
    /// Bloom filter falsely claimed it would otherwise be left out on every round.
    fn ask_for_missing(&self, doc: &RegistrationDoc, message: &mut sync::Message) {
        let chunks: Vec<&[u8]> = self.waiting.iter().map(Vec::as_slice).collect();
        let their_heads: Vec<ChangeHash> = self.state.their_heads.iter().flatten().copied().collect();
        let from: Vec<ChangeHash> = self.waiting_heads.iter().chain(&their_heads).copied().collect();
        let missing = doc.missing_before(&chunks, &from);
        if missing.is_empty() {
            return;
        }
        // As Automerge does: no summary of this side's changes until the peer's advertised heads
        // cover everything asked for, so the peer answers the request alone.
        if !missing.iter().all(|h| their_heads.contains(h)) {
            message.have.clear();
        }
        message.need = missing;
    }

    /// Server side: checks the message's changes on a fork and applies them only if allowed.
    ///
    /// Changes whose dependencies are missing wait (up to [`MAX_WAITING_BYTES`]) and are checked
    /// again, together with the next message's changes; the reply to a waiting message asks the
    /// peer for what is missing. Duplicates of changes the document has are no-ops. Changes the
    /// document refused before (`memory`, the document's own) are refused again without the
    /// check, and a new refusal is added to `memory`.
    pub fn receive_checked(
        &mut self,
        doc: &mut RegistrationDoc,
        memory: &mut RefusedMemory,
        data: &[u8],
        limits: IncomingLimits,
    ) -> Result<Received, SyncError> {
        let message = sync::Message::decode(data).map_err(|e| SyncError::BadMessage(e.to_string()))?;
        let repeats_only =
            !message.heads.is_empty() && message.heads.iter().all(|h| self.refused.contains(h));
        if repeats_only && !message.changes.is_empty() {
            self.receive_state_only(doc, message, false)?;
            return Ok(Received::Ignored);
        }
        if let Some(remembered) = recall(doc, memory, &message) {
            return self.refuse_again(doc, message, remembered);
        }
        let status = doc.status();
        if self.diverged.is_some()
            && !message.heads.iter().any(|h| self.refused.contains(h) || memory.knows(status, h))
        {
            // The peer has dropped the refused changes: back to normal sync.
            self.diverged = None;
        }
        let chunks: Vec<&[u8]> =
            self.waiting.iter().map(Vec::as_slice).chain(message.changes.iter()).collect();
        match doc.apply_incoming(&chunks, limits) {
            Ok(accepted) => {
                self.waiting.clear();
                self.waiting_heads.clear();
                // The changes are in the document already; this only updates the peer's state.
                self.receive_state_only(doc, message, true)?;
                Ok(Received::Applied(accepted))
            }
            Err(refusal) if only_missing_dependencies(&refusal) && self.can_wait(&message) => {
                self.waiting.extend(message.changes.iter().map(<[u8]>::to_vec));
                self.waiting_heads.extend(message.heads.iter().copied());
                self.receive_state_only(doc, message, false)?;
                Ok(Received::Waiting)
            }
            Err(refusal) => {
                let refused = refused_changes(doc, &chunks, &message.heads, &self.waiting_heads);
                memory.remember(&refusal, &refused);
                self.forget_peer(doc, message)?;
                Ok(Received::Refused(refusal))
            }
        }
    }

    /// After a refusal: remembers the peer's heads as refused on this connection, drops what was
    /// waiting, and starts the peer's sync state afresh, so the server's next message gives the
    /// peer its whole state; until the peer drops the refused changes the server speaks only
    /// when its own document changes.
    fn forget_peer(&mut self, doc: &mut RegistrationDoc, message: sync::Message) -> Result<(), SyncError> {
        let unknown: Vec<ChangeHash> =
            message.heads.iter().chain(&self.waiting_heads).copied().filter(|h| !doc.has_change(h)).collect();
        self.refused.extend(unknown);
        self.waiting_heads.clear();
        self.waiting.clear();
        self.state = sync::State::new();
        self.diverged = Some(Vec::new());
        self.receive_state_only(doc, message, false)
    }

    /// A message that offers remembered refused changes: reported as [`Received::Recalled`] the
    /// first time on this connection (the peer's state is then forgotten as after a refusal),
    /// ignored after that.
    fn refuse_again(
        &mut self,
        doc: &mut RegistrationDoc,
        message: sync::Message,
        remembered: RememberedRefusal,
    ) -> Result<Received, SyncError> {
        if self.diverged.is_some() {
            let unknown: Vec<ChangeHash> =
                message.heads.iter().copied().filter(|h| !doc.has_change(h)).collect();
            self.refused.extend(unknown);
            self.receive_state_only(doc, message, false)?;
            return Ok(Received::Ignored);
        }
        self.forget_peer(doc, message)?;
        let heads = doc.heads();
        Ok(Received::Recalled(Refusal { status: remembered.status, refused: remembered.refused, heads }))
    }

    /// Whether the changes of `message` may wait for their dependencies.
    fn can_wait(&self, message: &sync::Message) -> bool {
        let waiting: usize = self.waiting.iter().map(Vec::len).sum();
        let incoming: usize = message.changes.iter().map(<[u8]>::len).sum();
        incoming > 0 && waiting + incoming <= MAX_WAITING_BYTES
    }

    /// Updates the peer's sync state from `message` — its heads, what it has and needs. Its
    /// changes go along only when `applied` says the check has put every one of them into the
    /// document already (for Automerge that is then a no-op that keeps its bookkeeping of what
    /// the peer sent); otherwise they are stripped, because Automerge would apply them unchecked,
    /// or queue them in the document to be applied unchecked once their dependencies arrive.
    /// Refused heads are left out, so the server never asks again for changes it refused.
    fn receive_state_only(
        &mut self,
        doc: &mut RegistrationDoc,
        mut message: sync::Message,
        applied: bool,
    ) -> Result<(), SyncError> {
        message.heads.retain(|h| !self.refused.contains(h));
        if !applied {
            message.changes = Vec::<Vec<u8>>::new().into();
        }
        doc.automerge()
            .sync()
            .receive_sync_message(&mut self.state, message)
            .map_err(|e| SyncError::Apply(e.to_string()))
    }

    /// Device side: applies a message from the server, which is trusted.
    pub fn receive_trusted(&mut self, doc: &mut RegistrationDoc, data: &[u8]) -> Result<(), SyncError> {
        let message = sync::Message::decode(data).map_err(|e| SyncError::BadMessage(e.to_string()))?;
        doc.automerge()
            .sync()
            .receive_sync_message(&mut self.state, message)
            .map_err(|e| SyncError::Apply(e.to_string()))
    }

    /// Device side, on a refusal: returns the document to what the server accepted (the shared
    /// heads, or `server_heads` where this device already has them), keeps what is still allowed,
    /// returns the refused edits, and starts a fresh sync so the server's state is pulled next.
    pub fn reset_after_refusal(
        &mut self,
        doc: &mut RegistrationDoc,
        server_heads: &[ChangeHash],
        refused: &[RefusedPath],
    ) -> Result<Vec<RejectedEdit>, SyncError> {
        let automerge = doc.automerge();
        let mut accepted: Vec<ChangeHash> = if !server_heads.is_empty()
            && server_heads.iter().all(|h| automerge.get_change_by_hash(h).is_some())
        {
            server_heads.to_vec()
        } else {
            self.state.shared_heads.clone()
        };
        if accepted.is_empty() {
            // Never synced: the server has at least the genesis every replica starts from.
            accepted.push(genesis_hash(doc.exam_id()).map_err(|e| SyncError::Apply(e.to_string()))?);
        }
        let rejected =
            doc.reset_to_accepted(&accepted, refused).map_err(|e| SyncError::Apply(e.to_string()))?;
        self.state = sync::State::new();
        Ok(rejected)
    }
}

/// The remembered refusal that `message` offers again, if any: when every head of the peer the
/// document lacks is a remembered refused change, or, for a message with changes, when one of
/// them or a change it depends on is. Free when the document remembers nothing; otherwise the
/// cost of decoding the changes' hashes, never a check.
fn recall(
    doc: &RegistrationDoc,
    memory: &mut RefusedMemory,
    message: &sync::Message,
) -> Option<RememberedRefusal> {
    if memory.is_empty() {
        return None;
    }
    let status = doc.status();
    let heads: Vec<ChangeHash> = message.heads.iter().copied().filter(|h| !doc.has_change(h)).collect();
    let probe: Vec<ChangeHash> = if !heads.is_empty() && heads.iter().all(|h| memory.knows(status, h)) {
        heads.clone()
    } else if message.changes.is_empty() {
        return None;
    } else {
        let chunks: Vec<&[u8]> = message.changes.iter().collect();
        RegistrationDoc::change_links(&chunks)
            .into_iter()
            .flat_map(|(hash, deps)| std::iter::once(hash).chain(deps))
            .filter(|h| !doc.has_change(h))
            .collect()
    };
    memory.recall(status, &probe, &heads)
}

/// The hashes a refusal is remembered under: the peer's heads and the heads of the changes that
/// waited, then the refused batch's own heads (its changes no other change of it depends on),
/// then its other changes — all of them changes the document does not have, most telling first
/// (the memory keeps the first [`MAX_HASHES`]).
fn refused_changes(
    doc: &RegistrationDoc,
    chunks: &[&[u8]],
    heads: &[ChangeHash],
    waiting_heads: &[ChangeHash],
) -> Vec<ChangeHash> {
    let links = RegistrationDoc::change_links(chunks);
    let deps: HashSet<ChangeHash> = links.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    let batch_heads = links.iter().map(|(h, _)| *h).filter(|h| !deps.contains(h));
    let batch = links.iter().map(|(h, _)| *h);
    let mut out: Vec<ChangeHash> = Vec::new();
    for h in heads.iter().chain(waiting_heads).copied().chain(batch_heads).chain(batch) {
        if out.len() == MAX_HASHES {
            break;
        }
        if !out.contains(&h) && !doc.has_change(&h) {
            out.push(h);
        }
    }
    out
}

/// Whether a refusal says only that the batch's history is incomplete.
fn only_missing_dependencies(refusal: &Refusal) -> bool {
    !refusal.refused.is_empty()
        && refusal.refused.iter().all(|r| r.reason == crate::document::RefusalReason::MissingDependencies)
}

#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod tests;
