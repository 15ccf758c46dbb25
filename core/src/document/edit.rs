//! The candidate's typed edits of `draft`, each checked against the editable-path table of the
//! current status, and the server's writes of `server`.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};

use crate::catalog::{Agreement, ExamSession};
use crate::draft::ServerSection;
use crate::form::MAX_ANSWER_CHARS;
use crate::lifecycle::DraftPath;
use crate::photo::PhotoRef;

use super::{DocError, RegistrationDoc};

pub(super) fn check_field_key(key: &str) -> Result<(), DocError> {
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

pub(super) fn check_subject_code(code: &str) -> Result<(), DocError> {
    if (1..=16).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(DocError::InvalidValue {
            path: format!("draft.subjects.{code}"),
            reason: "subject codes are up to 16 letters or digits",
        })
    }
}

pub(super) fn put_opt_str(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    value: Option<&str>,
) -> Result<(), DocError> {
    match value {
        Some(v) => doc.put(obj, key, v)?,
        None => doc.delete(obj, key)?,
    }
    Ok(())
}

pub(super) fn put_str_list(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    values: &[String],
) -> Result<(), DocError> {
    let list = doc.put_object(obj, key, ObjType::List)?;
    for (i, v) in values.iter().enumerate() {
        doc.insert(&list, i, v.as_str())?;
    }
    Ok(())
}

impl RegistrationDoc {
    pub(super) fn ensure_editable(&self, path: &DraftPath) -> Result<(), DocError> {
        let status = self.status();
        if status.can_edit(path.group()) {
            Ok(())
        } else {
            Err(DocError::Locked { path: path.to_string(), status })
        }
    }

    pub(super) fn commit(&mut self, message: &str) {
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

    /// Writes the server section. Only the server calls this, on a replica whose actor is
    /// [`SERVER_ACTOR`](super::SERVER_ACTOR); the incoming-change check refuses such writes from anyone else.
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
}
