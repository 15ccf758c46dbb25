//! The candidate's profile: legal name, ID document (checked by the core's rules, one account per
//! document) and phone, sealed with the data key.

use baoming_core::api::accounts::{Profile, ProfileRequest};
use baoming_core::api::error::ErrorCode;
use baoming_core::coverage;
use baoming_core::form::FieldProblem;
use baoming_core::id_document::{IdDocument, IdKind, mask};

use super::accounts::{Account, LoginKind, normalize_login};
use super::{Identity, IdentityError};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Tree, Txn, encode};

/// The profile, as the candidate enters it (the contract's request body).
pub type ProfileInput = ProfileRequest;

fn profile_context(account_id: &str) -> String {
    format!("profile:{account_id}")
}

/// The profile `input` describes, checked: the legal name, the ID document by the core's rules
/// (check digit, birth date, area code …), the phone. Returns it with the parsed document.
fn checked(input: &ProfileInput) -> Result<(Profile, IdDocument), IdentityError> {
    let name = input.legal_name.trim();
    let name_len = name.chars().count();
    if name_len == 0 || name_len > 64 || name.chars().any(char::is_control) {
        return Err(IdentityError::invalid(
            ErrorCode::LegalNameInvalid,
            "the legal name must have 1–64 characters",
        ));
    }
    // The name is printed on the registration form and the admission ticket: a character the
    // shipped fonts cannot draw is refused here, where the candidate can still change it.
    if let Err(missing) = coverage::printable(name) {
        let problem = FieldProblem::NotPrintable(missing);
        return Err(IdentityError::invalid(
            ErrorCode::LegalNameNotPrintable,
            format!("{} ({problem})", problem.message_zh()),
        ));
    }
    let kind: IdKind = input.id_kind.parse().map_err(|_| {
        IdentityError::invalid(
            ErrorCode::IdUnknownKind,
            format!("unknown ID document kind `{}`", input.id_kind),
        )
    })?;
    let doc = IdDocument::parse(kind, &input.id_number).map_err(|e| IdentityError::Invalid {
        code: ErrorCode::from(e.code()),
        message: format!("{} ({e})", e.message_zh()),
    })?;
    let phone = match input.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => match normalize_login(p)? {
            (n, LoginKind::Mobile) => Some(n),
            _ => {
                return Err(IdentityError::invalid(
                    ErrorCode::PhoneInvalid,
                    "the phone must be a mainland mobile number",
                ));
            }
        },
        None => None,
    };
    let profile = Profile {
        legal_name: name.to_owned(),
        id_kind: kind,
        id_number: doc.number().to_owned(),
        id_masked: doc.masked(),
        birth_date: doc.birth_date().map(|d| d.to_string()),
        gender: doc.gender(),
        phone,
    };
    Ok((profile, doc))
}

impl Identity {
    fn id_doc_key(&self, doc: &IdDocument) -> Vec<u8> {
        self.db
            .keys()
            .lookup_hash("id_document", format!("{}:{}", doc.kind().as_str(), doc.number()).as_bytes())
            .to_vec()
    }

    /// Checks and stores the profile (one account per ID document).
    pub async fn set_profile(&self, account_id: &str, input: ProfileInput) -> Result<Profile, IdentityError> {
        let (profile, doc) = checked(&input)?;
        let kind = profile.id_kind;
        let account = self.require_account(account_id)?;
        let doc_key = self.id_doc_key(&doc);
        let doc_hex = hex::encode(&doc_key);
        let taken = || IdentityError::Conflict {
            code: ErrorCode::IdDocumentTaken,
            message: "this ID document is already used by another account".into(),
        };
        let mut txn = Txn::new();
        let account_check =
            txn.require_equals(Tree::Accounts, account.id.as_bytes().to_vec(), Some(encode(&account)));
        let doc_check = if account.id_document_hash.as_deref() == Some(doc_hex.as_str()) {
            txn.require_equals(
                Tree::AccountByIdDocument,
                doc_key.clone(),
                Some(account.id.as_bytes().to_vec()),
            )
        } else {
            if let Some(old) = &account.id_document_hash {
                txn.delete(
                    Tree::AccountByIdDocument,
                    hex::decode(old).map_err(|e| IdentityError::Internal(e.to_string()))?,
                );
            }
            txn.require_absent(Tree::AccountByIdDocument, doc_key.clone())
        };
        txn.put(Tree::AccountByIdDocument, doc_key, account.id.as_bytes().to_vec());
        let plain = serde_json::to_vec(&profile).map_err(|e| IdentityError::Internal(e.to_string()))?;
        let updated = Account {
            profile_sealed: Some(hex::encode(
                self.db.keys().seal(profile_context(&account.id).as_bytes(), &plain),
            )),
            id_document_hash: Some(doc_hex),
            ..account
        };
        txn.put(Tree::Accounts, updated.id.as_bytes().to_vec(), encode(&updated));
        let event =
            AuditEvent::new(Actor::Account(updated.id.clone()), "account.profile_update", &updated.id)
                .with(serde_json::json!({ "id_kind": kind }));
        match self.db.commit(txn, event).await {
            Ok(()) => Ok(profile),
            Err(CommitError::Precondition(i)) if i == doc_check => Err(taken()),
            Err(CommitError::Precondition(i)) if i == account_check => Err(IdentityError::Conflict {
                code: ErrorCode::ConcurrentUpdate,
                message: "the account changed meanwhile; retry".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the profile.
    pub fn get_profile(&self, account_id: &str) -> Result<Option<Profile>, IdentityError> {
        let account = self.require_account(account_id)?;
        let Some(sealed) = account.profile_sealed else { return Ok(None) };
        let sealed = hex::decode(sealed).map_err(|e| IdentityError::Internal(e.to_string()))?;
        let plain = self
            .db
            .keys()
            .open(profile_context(account_id).as_bytes(), &sealed)
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
        let profile: Profile =
            serde_json::from_slice(&plain).map_err(|e| IdentityError::Internal(e.to_string()))?;
        // A profile stored under an older masking rule shows today's mask.
        let id_masked = mask(profile.id_kind, &profile.id_number).into();
        Ok(Some(Profile { id_masked, ..profile }))
    }
}
