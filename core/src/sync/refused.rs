//! A document's memory of the changes it refused, shared by every peer and connection that syncs
//! it (protocol.md §6, *No loops*).
//!
//! A peer that does not reset after a refusal — a stock automerge-repo client, which cannot read
//! Baoming's refusal message — offers the same refused changes again on every connection, and
//! builds its later edits on them. The server remembers each refusal under the hashes of the
//! changes it refused, so such a re-send is recognised by a look-up and answered from memory,
//! without checking the changes again.
//!
//! The memory is bounded: at most [`MAX_REFUSALS`] refusals, the least recently recalled
//! forgotten first; each keeps at most [`MAX_HASHES`] change hashes and the refused paths
//! trimmed to [`MAX_PATHS`] paths of at most [`MAX_PATH_BYTES`] bytes. A refusal is remembered
//! together with the status it was decided in, and recalled only while the document is in that
//! status: a status change (a rejected review reopening the draft, say) can make a refused
//! change acceptable, so after it the first re-send is checked again. Refusals for
//! `missing_dependencies` are never remembered: the next exchange may well bring the history.

use std::collections::VecDeque;

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use crate::document::{Refusal, RefusalReason, RefusedPath};
use crate::lifecycle::Status;

/// Most refusals a document remembers.
pub const MAX_REFUSALS: usize = 16;
/// Most change hashes one remembered refusal keeps.
pub const MAX_HASHES: usize = 16;
/// Most refused paths one remembered refusal keeps (a `*` path stands for those left out).
pub const MAX_PATHS: usize = 16;
/// Longest refused path kept; a longer one is left out (and stood for by `*`).
pub const MAX_PATH_BYTES: usize = 128;

/// One remembered refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedRefusal {
    /// Hashes of refused changes: the peer's heads when the changes were refused, then the heads
    /// of re-sends that built on them (at most [`MAX_HASHES`]). The server has none of them.
    #[serde(with = "hex_hashes")]
    pub changes: Vec<ChangeHash>,
    /// The status the changes were checked against.
    pub status: Status,
    /// The refused paths and reasons, trimmed (see the module's documentation).
    pub refused: Vec<RefusedPath>,
}

/// The refusals a document remembers, least recently recalled first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusedMemory {
    refusals: VecDeque<RememberedRefusal>,
    /// Set when a refusal or a hash was added since the last [`RefusedMemory::take_changed`].
    changed: bool,
}

/// Why a stored memory could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable refused-change memory: {0}")]
pub struct MemoryError(String);

/// The persisted form: a version, then the refusals in recall order.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    refusals: Vec<RememberedRefusal>,
}

impl RefusedMemory {
    /// An empty memory.
    pub fn new() -> RefusedMemory {
        RefusedMemory::default()
    }

    /// The remembered refusals, least recently recalled first.
    pub fn refusals(&self) -> impl Iterator<Item = &RememberedRefusal> {
        self.refusals.iter()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.refusals.is_empty()
    }

    /// Remembers `refusal` under `changes` (the refused changes' hashes; those beyond
    /// [`MAX_HASHES`] are left out). Returns whether it was remembered: not when `changes` is
    /// empty or the refusal names `missing_dependencies`. The least recently recalled refusal is
    /// forgotten when there are more than [`MAX_REFUSALS`].
    pub fn remember(&mut self, refusal: &Refusal, changes: &[ChangeHash]) -> bool {
        let lasting = refusal.refused.iter().all(|r| r.reason != RefusalReason::MissingDependencies);
        let mut kept: Vec<ChangeHash> = Vec::new();
        for h in changes {
            if kept.len() < MAX_HASHES && !kept.contains(h) {
                kept.push(*h);
            }
        }
        if !lasting || kept.is_empty() {
            return false;
        }
        self.refusals.push_back(RememberedRefusal {
            changes: kept,
            status: refusal.status,
            refused: trim_paths(&refusal.refused),
        });
        while self.refusals.len() > MAX_REFUSALS {
            self.refusals.pop_front();
        }
        self.changed = true;
        true
    }

    /// Whether `hash` is a remembered refused change for a document in `status`.
    pub fn knows(&self, status: Status, hash: &ChangeHash) -> bool {
        self.refusals.iter().any(|r| r.status == status && r.changes.contains(hash))
    }

    /// The remembered refusal, decided in `status`, of any of the hashes in `probe`; it becomes
    /// the most recently recalled, and keeps the hashes of `more` too (as room allows), so that
    /// changes built on the refused ones are recognised directly later (that counts as a change
    /// to store; a recall alone does not). Refusals decided in another status are forgotten here.
    pub fn recall(
        &mut self,
        status: Status,
        probe: &[ChangeHash],
        more: &[ChangeHash],
    ) -> Option<RememberedRefusal> {
        self.refusals.retain(|r| r.status == status);
        let at = self.refusals.iter().position(|r| r.changes.iter().any(|h| probe.contains(h)))?;
        let mut hit = self.refusals.remove(at)?;
        for h in more {
            if hit.changes.len() < MAX_HASHES && !hit.changes.contains(h) {
                hit.changes.push(*h);
                self.changed = true;
            }
        }
        self.refusals.push_back(hit.clone());
        Some(hit)
    }

    /// Whether a refusal, or a hash to a refusal, was added since the last call (the server then
    /// stores the memory).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The memory as bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored { v: 1, refusals: self.refusals.iter().cloned().collect() };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Reads a memory stored with [`RefusedMemory::encode`], within the bounds.
    pub fn decode(bytes: &[u8]) -> Result<RefusedMemory, MemoryError> {
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| MemoryError(e.to_string()))?;
        if stored.v != 1 {
            return Err(MemoryError(format!("version {}", stored.v)));
        }
        let skip = stored.refusals.len().saturating_sub(MAX_REFUSALS);
        let refusals = stored
            .refusals
            .into_iter()
            .skip(skip)
            .map(|mut r| {
                r.changes.truncate(MAX_HASHES);
                r.refused = trim_paths(&r.refused);
                r
            })
            .filter(|r| !r.changes.is_empty())
            .collect();
        Ok(RefusedMemory { refusals, changed: false })
    }
}

/// The first [`MAX_PATHS`] distinct paths of at most [`MAX_PATH_BYTES`] bytes; if any other
/// path is left out, a `*` path with the first left-out reason stands for the rest (a device then keeps
/// every dropped edit as rejected rather than re-applying one the server refused).
fn trim_paths(refused: &[RefusedPath]) -> Vec<RefusedPath> {
    let mut kept: Vec<RefusedPath> = Vec::new();
    let mut left_out = None;
    for r in refused {
        if kept.contains(r) {
            continue;
        }
        if kept.len() < MAX_PATHS && r.path.len() <= MAX_PATH_BYTES {
            kept.push(r.clone());
        } else if left_out.is_none() {
            left_out = Some(r.reason);
        }
    }
    if let Some(reason) = left_out
        && !kept.iter().any(|r| r.path == "*")
    {
        kept.push(RefusedPath { path: "*".into(), reason });
    }
    kept
}

/// Change hashes as lower-case hex strings.
mod hex_hashes {
    use automerge::ChangeHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(hashes: &[ChangeHash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hashes.iter().map(ToString::to_string))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChangeHash>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|h| h.parse().map_err(serde::de::Error::custom)).collect()
    }
}

#[cfg(test)]
mod tests;
