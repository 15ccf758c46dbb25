//! On-site confirmation: the center marks a paid candidate as confirmed in person.
//!
//! The operator finds the registration by its id, or — without a ticket — by the candidate's
//! name and ID document (looked up in the `registration_by_id_document` index, which holds every
//! registration that holds seats, paid ones included). The checks, in order:
//!
//! 1. the registration exists at this center of this exam and, for a name + ID look-up, the
//!    name matches the document's name field: otherwise 404 `not_found`;
//! 2. the center's catalog entry requires on-site confirmation: otherwise 409
//!    `onsite_not_required` (the core's [`TransitionError::OnsiteNotRequired`] code);
//! 3. a confirmation window is open now — the catalog's `onsite.window`, or the window of a
//!    published notice of the center with `requires_onsite_confirmation`: otherwise 409
//!    `confirmation_window_closed`, with the windows in the details;
//! 4. the lifecycle allows it ([`crate::registration::Registrations::act`] with [`Action::ConfirmOnSite`]): a
//!    registration that is not paid yet gets 409 `transition_not_allowed` with its status.
//!
//! The confirmation then reaches the record, the document's `server` section and the audit log
//! like every other lifecycle action.
//!
//! [`TransitionError::OnsiteNotRequired`]: baoming_core::lifecycle::TransitionError::OnsiteNotRequired

use baoming_core::api::desk::{ConfirmAnswer, ConfirmRequest};
use baoming_core::api::error::{ConfirmationWindow, ErrorCode};
use baoming_core::api::registrations::RegistrationView;
use std::str::FromStr;

use baoming_core::catalog::ExamSession;
use baoming_core::document::DocumentId;
use baoming_core::form::encode_id_document;
use baoming_core::id_document::IdKind;
use baoming_core::lifecycle::TransitionError;
use time::OffsetDateTime;

use super::review::name_of;
use super::{Desk, DeskError, not_found as desk_not_found};
use crate::identity::operators::{Operator, Permission, authorize};
use crate::refusal::Refusal;
use crate::registration::RegistrationError;
use crate::registration::idempotency::{Idempotency, replay};
use crate::registration::lifecycle::{Action, id_index_key};
use crate::registration::record::load_record;
use crate::store::Tree;
use crate::store::audit::Actor;

/// How the operator names the candidate: by registration id, or ticket-free by name and ID
/// document (`kind:number`, or the bare number) — the contract's request body.
pub type Lookup = ConfirmRequest;

fn not_found() -> DeskError {
    desk_not_found("no such registration at this center")
}

impl Desk {
    /// The registration `lookup` names at `center` of `exam`, if any.
    async fn find(&self, exam: &ExamSession, center: &str, lookup: &Lookup) -> Result<DocumentId, DeskError> {
        let id = match lookup {
            Lookup::Registration { registration_id } => {
                DocumentId::from_str(registration_id.trim()).map_err(|_| not_found())?
            }
            Lookup::Person { id_document, .. } => {
                let value = id_document.trim();
                let answers: Vec<String> = if value.contains(':') {
                    vec![value.to_owned()]
                } else {
                    IdKind::ALL.iter().map(|k| encode_id_document(*k, value)).collect()
                };
                let mut found = None;
                for answer in answers {
                    let Some(key) = self.regs.id_document_key(exam, &answer) else { continue };
                    if let Some(raw) =
                        self.db.store().get(Tree::RegistrationByIdDocument, &id_index_key(&exam.id, &key))?
                        && let Ok(bytes) = <[u8; 16]>::try_from(raw.as_slice())
                    {
                        found = Some(DocumentId::from_bytes(bytes));
                        break;
                    }
                }
                found.ok_or_else(not_found)?
            }
        };
        let (record, _) = load_record(self.db.store(), &id)?.ok_or_else(not_found)?;
        if record.exam != exam.id || record.center != center {
            return Err(not_found());
        }
        if let Lookup::Person { name, .. } = lookup {
            let draft = self.regs.draft_of(&id).await?.ok_or_else(not_found)?;
            if name_of(exam, &draft).map(str::trim) != Some(name.trim()) {
                return Err(not_found());
            }
        }
        Ok(id)
    }

    /// The confirmation windows of `center` open at `at`, or a refusal listing every window.
    pub fn check_window(
        &self,
        exam: &ExamSession,
        center: &str,
        at: OffsetDateTime,
    ) -> Result<(), DeskError> {
        let c = exam.center(center).ok_or_else(not_found)?;
        let onsite = c.onsite.as_ref().filter(|o| o.required).ok_or_else(|| {
            Refusal::conflict(
                ErrorCode::from(TransitionError::OnsiteNotRequired.code()),
                TransitionError::OnsiteNotRequired.to_string(),
            )
        })?;
        let notices: Vec<_> = crate::desk::notices::list(self.db.store(), &exam.id, center)?
            .into_iter()
            .filter(|n| n.notice.requires_onsite_confirmation)
            .collect();
        if onsite.window.contains(at) || notices.iter().any(|n| n.notice.is_open(at)) {
            return Ok(());
        }
        let ts = |t: OffsetDateTime| t.unix_timestamp();
        let mut windows = vec![ConfirmationWindow::Catalog {
            opens: ts(onsite.window.opens),
            closes: ts(onsite.window.closes),
        }];
        windows.extend(notices.iter().map(|n| ConfirmationWindow::Notice {
            notice: n.notice.id.clone(),
            opens: ts(n.notice.opens),
            closes: ts(n.notice.closes),
        }));
        Err(Refusal::conflict(
            ErrorCode::ConfirmationWindowClosed,
            "on-site confirmation is not open at this center now",
        )
        .detail(|b| b.windows = Some(windows))
        .into())
    }

    /// Confirms the candidate `lookup` names at `center` of `exam` on site, as operator `op`;
    /// returns the registration view. `key` is the request's optional `Idempotency-Key` and
    /// `body` the body it fingerprints.
    pub async fn confirm(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        lookup: &Lookup,
        key: Option<&str>,
        body: &[u8],
    ) -> Result<ConfirmAnswer, DeskError> {
        let view = self.scope(op, exam, Some(center))?;
        authorize(op, Permission::ReviewCenter(center))?;
        let exam = view.session(exam)?;
        let idem = key
            .map(|k| {
                Idempotency::new(
                    &format!("op:{}", op.id),
                    k,
                    &format!("confirm\0{}\0{center}", exam.id),
                    body,
                )
            })
            .transpose()
            .map_err(RegistrationError::from)?;
        // A retried request gets its stored answer even when the window has closed since.
        if let Some(idem) = &idem
            && let Some(view) = replay::<RegistrationView>(self.db.store(), idem)?
        {
            return Ok(ConfirmAnswer { registration_id: view.document_id.clone(), registration: view });
        }
        let id = self.find(exam, center, lookup).await?;
        self.check_window(exam, center, self.db.clock().now())?;
        let (record, _) = load_record(self.db.store(), &id)?.ok_or_else(not_found)?;
        let live = self.regs.open(id, &record.account, &record.exam).await?;
        let registration = self
            .regs
            .act(&live, Actor::Operator(op.id.clone()), idem, Action::ConfirmOnSite)
            .await?
            .ok_or_else(|| RegistrationError::Internal("an action without an answer".into()))?;
        Ok(ConfirmAnswer { registration_id: id.to_string(), registration })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_one_shape_or_the_other() {
        let by_id: Lookup = serde_json::from_str(r#"{"registration_id":"x"}"#).expect("id");
        assert_eq!(by_id, Lookup::Registration { registration_id: "x".into() });
        let by_person: Lookup = serde_json::from_str(r#"{"name":"张三","id_document":"1"}"#).expect("person");
        assert_eq!(by_person, Lookup::Person { name: "张三".into(), id_document: "1".into() });
        assert!(serde_json::from_str::<Lookup>(r#"{"name":"张三"}"#).is_err());
        assert!(serde_json::from_str::<Lookup>(r#"{}"#).is_err());
        let both = r#"{"registration_id":"x","name":"张三","id_document":"1"}"#;
        assert!(serde_json::from_str::<Lookup>(both).is_err(), "one shape or the other, not both");
    }
}
