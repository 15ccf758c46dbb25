//! Cancelled centers and sessions: the marker an administrator's cancellation commits first.
//!
//! A marker in the `cancellations` tree (key: exam ‖ 0 ‖ center, or exam ‖ 0 for the whole
//! session) closes its pool: every seat hold carries a precondition that neither marker of its
//! center exists ([`require_open`]), so a submission racing the cancellation either commits
//! before the marker or is refused with the typed `cancelled` refusal. Running the cancellation
//! over the registrations is the registration domain's work.

use baoming_core::api::error::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::refusal::Refusal;
use crate::store::{Storage, StorageError, Tree, Txn, decode};

/// A cancellation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The exam session.
    pub exam: String,
    /// The center, or `None` for the whole session.
    pub center: Option<String>,
    /// Why, shown to every candidate cancelled.
    pub reason: String,
    /// Who cancelled (operator id).
    pub by: String,
    /// When the cancellation was decided (Unix milliseconds).
    pub started_at_ms: i64,
    /// When every registration in scope was cancelled; `None` while some may still be live.
    pub finished_at_ms: Option<i64>,
    /// Registrations cancelled in scope, as of the last finished run.
    pub registrations_cancelled: u64,
    /// Of those, paid registrations whose fee is to be refunded.
    pub refunds_due: u64,
}

impl Cancellation {
    /// The typed refusal of a submission into this cancelled pool (`cancelled`).
    pub fn refusal(&self) -> Refusal {
        let what = match &self.center {
            Some(c) => format!("test center `{c}` of exam `{}` has been cancelled", self.exam),
            None => format!("exam `{}` has been cancelled", self.exam),
        };
        Refusal::conflict(ErrorCode::Cancelled, format!("{what}: {}", self.reason)).detail(|b| {
            b.exam = Some(self.exam.clone());
            b.center = Some(self.center.clone());
            b.reason = Some(self.reason.clone());
        })
    }

    /// The audit target: `exam` or `exam/center`.
    pub fn scope(&self) -> String {
        match &self.center {
            Some(c) => format!("{}/{c}", self.exam),
            None => self.exam.clone(),
        }
    }
}

/// The marker key of `exam` (whole session: `center` = `None`) or of one center.
pub fn marker_key(exam: &str, center: Option<&str>) -> Vec<u8> {
    format!("{exam}\0{}", center.unwrap_or_default()).into_bytes()
}

/// The marker stored under `key`, with its raw bytes.
pub fn get(store: &dyn Storage, key: &[u8]) -> Result<Option<(Cancellation, Vec<u8>)>, StorageError> {
    match store.get(Tree::Cancellations, key)? {
        Some(raw) => Ok(Some((decode(Tree::Cancellations, &raw)?, raw))),
        None => Ok(None),
    }
}

/// The cancellation that closes `center` of `exam`, if any: the whole session's first, else the
/// center's.
pub fn find(store: &dyn Storage, exam: &str, center: &str) -> Result<Option<Cancellation>, StorageError> {
    if let Some((c, _)) = get(store, &marker_key(exam, None))? {
        return Ok(Some(c));
    }
    if center.is_empty() {
        return Ok(None);
    }
    Ok(get(store, &marker_key(exam, Some(center)))?.map(|(c, _)| c))
}

/// Adds to `txn` the preconditions that neither `exam` nor its `center` is cancelled; returns
/// their indices (see the module documentation for why this closes the race).
pub fn require_open(txn: &mut Txn, exam: &str, center: &str) -> [usize; 2] {
    [
        txn.require_absent(Tree::Cancellations, marker_key(exam, None)),
        txn.require_absent(Tree::Cancellations, marker_key(exam, Some(center))),
    ]
}
