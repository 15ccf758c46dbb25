//! The registration draft, edited offline: every edit is stored on the device before the call
//! returns and synced later. Validation runs the core's rules against the cached catalog, the
//! same rules the server runs on submit.

use std::collections::HashMap;

use baoming_client::now_ms;
use baoming_core::validate::{Availability, validate};

use crate::client::BaomingClient;
use crate::errors::BaomingError;

/// What the candidate has entered for one exam session.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DraftInfo {
    /// The exam session.
    pub exam_id: String,
    /// The accepted agreement version, if accepted.
    pub agreement_version: Option<String>,
    /// Answers by field key.
    pub fields: HashMap<String, String>,
    /// The chosen center.
    pub center: Option<String>,
    /// The chosen subject codes, sorted.
    pub subjects: Vec<String>,
    /// The attached photo's SHA-256, if any.
    pub photo_sha256: Option<String>,
    /// Whether the truthfulness declaration was given.
    pub declared: bool,
}

/// One problem with the draft, as the core's validator reports it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ValidationIssue {
    /// Where, e.g. `draft.fields.mobile`.
    pub path: String,
    /// Stable code, e.g. `field_required`, `slot_conflict`.
    pub code: String,
    /// Explanation in Chinese.
    pub message_zh: String,
    /// Explanation in English.
    pub message_en: String,
}

/// An edit the server refused; the draft went back to the server's value.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RejectedEditInfo {
    /// The draft path, e.g. `draft.center`.
    pub path: String,
    /// What the candidate had entered (`None` when the edit removed the value).
    pub value: Option<String>,
    /// Why (`locked`, `not_writable`, …).
    pub reason: String,
}

impl From<baoming_core::document::RejectedEdit> for RejectedEditInfo {
    fn from(e: baoming_core::document::RejectedEdit) -> Self {
        RejectedEditInfo { path: e.path, value: e.value, reason: e.reason }
    }
}

#[uniffi::export]
impl BaomingClient {
    /// Opens the signed-in candidate's registration for `exam_id` (created on first use) and
    /// includes it in every sync. Harmless to call again.
    pub fn open_registration(&self, exam_id: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.open_registration(&exam_id).map(|_| ())?))
    }

    /// The draft as stored on the device.
    pub fn draft(&self, exam_id: String) -> Result<DraftInfo, BaomingError> {
        let d = self.with_sync(|s| Ok(s.draft(&exam_id)?))?;
        Ok(DraftInfo {
            exam_id: d.exam,
            agreement_version: d.agreement.map(|a| a.version),
            fields: d.fields.into_iter().collect(),
            center: d.center,
            subjects: d.subjects,
            photo_sha256: d.photo.map(|p| p.sha256),
            declared: d.declaration.is_some(),
        })
    }

    /// Accepts the exam's current agreement (its version and SHA-256 are recorded with the time).
    pub fn accept_agreement(&self, exam_id: String) -> Result<(), BaomingError> {
        let exam = self.exam_session(&exam_id)?;
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.accept_agreement(&exam.agreement, now_ms()))?))
    }

    /// Sets a form answer (checked by [`BaomingClient::validate`], not here).
    pub fn set_field(&self, exam_id: String, key: String, value: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.set_field(&key, &value))?))
    }

    /// Removes a form answer.
    pub fn clear_field(&self, exam_id: String, key: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.clear_field(&key))?))
    }

    /// Chooses the test center; returns the chosen subjects it dropped because the new center
    /// does not offer them.
    pub fn choose_center(&self, exam_id: String, center_id: String) -> Result<Vec<String>, BaomingError> {
        let exam = self.exam_session(&exam_id)?;
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.choose_center(&exam, &center_id))?))
    }

    /// Adds a subject.
    pub fn add_subject(&self, exam_id: String, code: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.add_subject(&code))?))
    }

    /// Removes a subject.
    pub fn remove_subject(&self, exam_id: String, code: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.remove_subject(&code))?))
    }

    /// Gives the truthfulness declaration.
    pub fn declare(&self, exam_id: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.edit(&exam_id, |d| d.declare(now_ms()))?))
    }

    /// Everything that still stops a submission, checked offline against the cached catalog
    /// (seats count as available; the server checks live seats on submit). Empty: ready.
    pub fn validate(&self, exam_id: String) -> Result<Vec<ValidationIssue>, BaomingError> {
        let catalog = self.catalog()?;
        let draft = self.with_sync(|s| Ok(s.draft(&exam_id)?))?;
        Ok(validate(&draft, &catalog, &Availability::unknown())
            .into_iter()
            .map(|i| ValidationIssue {
                path: i.path,
                code: serde_json::to_value(i.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message_zh: i.message_zh,
                message_en: i.message_en,
            })
            .collect())
    }

    /// The edits the server refused on this registration and the candidate has not dismissed,
    /// oldest first.
    pub fn rejected_edits(&self, exam_id: String) -> Result<Vec<RejectedEditInfo>, BaomingError> {
        self.with_sync(|s| Ok(s.rejected_edits(&exam_id)?.into_iter().map(Into::into).collect()))
    }

    /// Forgets the rejected edits (the candidate has seen them).
    pub fn dismiss_rejected_edits(&self, exam_id: String) -> Result<(), BaomingError> {
        self.with_sync(|s| Ok(s.dismiss_rejected_edits(&exam_id)?))
    }
}
