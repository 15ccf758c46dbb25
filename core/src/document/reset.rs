//! The device's way back after a refusal: the document returns to what the server accepted,
//! the edits still allowed are made again, and the rest are reported as rejected edits.

use std::collections::BTreeSet;

use automerge::legacy::Key;
use automerge::transaction::Transactable;
use automerge::{ActorId, Change, ChangeHash, ObjType, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use crate::draft::Draft;
use crate::lifecycle::DraftPath;

use super::classify::*;
use super::{DocError, RefusedPath, RegistrationDoc};

/// A local edit the server refused, kept so the candidate can see what was not saved and redo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEdit {
    /// The draft path, e.g. `draft.fields.name`.
    pub path: String,
    /// What the candidate had entered there (`None` when the edit removed the value).
    pub value: Option<String>,
    /// Why it was refused (a [`RefusalReason`](super::RefusalReason) name, or `locked`).
    pub reason: String,
}

impl RegistrationDoc {
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
    pub(super) fn own_unaccepted_edits(
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
    pub(super) fn redo(&mut self, path: &DraftPath, draft: &Draft) -> Result<(), DocError> {
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
}
