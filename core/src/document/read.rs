//! Reading the document: typed snapshots of the draft and the server section, also as they were
//! at given heads.

use automerge::{ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::draft::{AgreementAcceptance, Declaration, Draft, ServerSection};
use crate::lifecycle::Status;
use crate::photo::PhotoRef;

use super::{DocError, RegistrationDoc};

impl RegistrationDoc {
    pub(super) fn map(&self, parent: &ObjId, key: &str) -> Option<ObjId> {
        match self.doc.get(parent, key).ok()?? {
            (Value::Object(ObjType::Map), id) => Some(id),
            _ => None,
        }
    }

    pub(super) fn draft_obj(&self) -> Result<ObjId, DocError> {
        self.map(&ROOT, "draft").ok_or(DocError::NotARegistration)
    }

    pub(super) fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.doc.get(obj, key).ok()?? {
            (Value::Scalar(s), _) => Some(s.into_owned()),
            _ => None,
        }
    }

    pub(super) fn str_at(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.scalar(obj, key)? {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }

    pub(super) fn int_at(&self, obj: &ObjId, key: &str) -> Option<i64> {
        match self.scalar(obj, key)? {
            ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(i),
            ScalarValue::Uint(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    pub(super) fn str_list(&self, obj: &ObjId, key: &str) -> Vec<String> {
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
    pub(super) fn at(&mut self, heads: &[ChangeHash]) -> Result<RegistrationDoc, DocError> {
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
}
