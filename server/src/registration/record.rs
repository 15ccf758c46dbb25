//! The server's record of a submitted registration — the truth the document's `server` section
//! projects — and the views candidates and operators read.

use baoming_core::api::registrations::{CenterRegistration, RegistrationView};
use baoming_core::document::DocumentId;
use baoming_core::draft::ServerSection;
use serde::{Deserialize, Serialize};

use crate::store::{Storage, StorageError, Tree, decode};

/// What the server knows about a submitted registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    /// The owning account.
    pub account: String,
    /// The exam session.
    pub exam: String,
    /// The center the seats are (or were last) held at.
    pub center: String,
    /// The subjects held (or last held).
    pub subjects: Vec<String>,
    /// Hex of the ID-document index key claimed while seats are held.
    pub id_document_key: Option<String>,
    /// Cancelled by the administrator after payment: the fee is to be refunded (for the payments
    /// work to pick up).
    #[serde(default)]
    pub refund_due: bool,
    /// The server section, as projected into the document.
    pub section: ServerSection,
}

/// Reads the record of document `id`, with its raw bytes for a precondition.
pub fn load_record(
    store: &dyn Storage,
    id: &DocumentId,
) -> Result<Option<(RegistrationRecord, Vec<u8>)>, StorageError> {
    match store.get(Tree::Registrations, id.as_bytes())? {
        Some(raw) => Ok(Some((decode(Tree::Registrations, &raw)?, raw))),
        None => Ok(None),
    }
}

/// Every submitted registration of `exam` at `center` (any status), as operators list them,
/// oldest document id first. A full scan of the `registrations` tree: fine for one session's
/// size; an index by center would replace it for very large sessions.
pub fn list_at_center(
    store: &dyn Storage,
    exam: &str,
    center: &str,
) -> Result<Vec<CenterRegistration>, StorageError> {
    let mut records = records_at(store, exam, center)?;
    records.sort_by_key(|(id, _)| *id.as_bytes());
    Ok(records.iter().map(|(id, record)| at_center(id, exam, record)).collect())
}

/// A registration as an operator lists it: the view with its center always set, and its
/// subjects.
pub fn at_center(id: &DocumentId, exam: &str, record: &RegistrationRecord) -> CenterRegistration {
    let mut registration = view(id, exam, Some(record));
    registration.center = Some(record.center.clone());
    CenterRegistration { registration, subjects: record.subjects.clone() }
}

/// A registration as candidates and operators see it (`draft` without a record).
pub fn view(id: &DocumentId, exam: &str, record: Option<&RegistrationRecord>) -> RegistrationView {
    let default = ServerSection::default();
    let s = record.map(|r| &r.section).unwrap_or(&default);
    RegistrationView {
        document_id: id.to_string(),
        exam: exam.to_owned(),
        status: s.status,
        status_label_zh: s.status.label_zh().to_owned(),
        reason: s.reason.clone(),
        reason_paths: s.reason_paths.clone(),
        deadline_ms: s.deadline_ms,
        center: record.filter(|_| s.status.holds_seats()).map(|r| r.center.clone()),
        seats: s.seats.clone(),
        amount_fen: s.amount_fen,
        refund_due: record.is_some_and(|r| r.refund_due),
        updated_at_ms: s.updated_at_ms,
        // The receipt and the ticket number (written by the room arrangement), as the synced
        // server section carries them.
        order: s.order.clone(),
        trade_no: s.trade_no.clone(),
        paid_at_ms: s.paid_at_ms,
        refunded_fen: s.refunded_fen,
        ticket: s.ticket.clone(),
    }
}

/// Every record of `exam` whose center passes `center`, with its document id, unordered. A full
/// scan of the `registrations` tree (as [`list_at_center`]).
pub fn records_where(
    store: &dyn Storage,
    exam: &str,
    center: impl Fn(&str) -> bool,
) -> Result<Vec<(DocumentId, RegistrationRecord)>, StorageError> {
    Ok(stored_records_where(store, exam, center)?.into_iter().map(|(id, record, _)| (id, record)).collect())
}

/// [`records_where`] with each record's stored bytes, for a precondition on it.
pub fn stored_records_where(
    store: &dyn Storage,
    exam: &str,
    center: impl Fn(&str) -> bool,
) -> Result<Vec<(DocumentId, RegistrationRecord, Vec<u8>)>, StorageError> {
    let mut out = Vec::new();
    for (key, raw) in store.scan_prefix(Tree::Registrations, b"")? {
        let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else { continue };
        let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
        if record.exam == exam && center(&record.center) {
            out.push((DocumentId::from_bytes(bytes), record, raw));
        }
    }
    Ok(out)
}

/// Every record of `exam` at `center`, with its document id, unordered.
pub fn records_at(
    store: &dyn Storage,
    exam: &str,
    center: &str,
) -> Result<Vec<(DocumentId, RegistrationRecord)>, StorageError> {
    records_where(store, exam, |c| c == center)
}
