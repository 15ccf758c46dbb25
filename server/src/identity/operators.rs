//! Operator accounts, roles and the one authorization rule.
//!
//! * **administrator** — everything: operators, catalog, every center, the audit log;
//! * **center operator** — only the centers listed on the account;
//! * **auditor** — reads every center and the audit log, changes nothing.
//!
//! Every operator route authenticates through the HTTP layer's operator filter and then asks
//! [`authorize`]; nothing else decides what an operator may do.

use baoming_core::api::error::ErrorCode;
use serde::{Deserialize, Serialize};

use super::accounts::CaptchaProof;
use super::passwords::check_policy;
use super::sessions::{self, NewSession, Owner};
use super::{Identity, IdentityError};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::random_array;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// An operator's role (as the contract spells it).
pub use baoming_core::api::operator::Role;

/// A stored operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operator {
    /// `op_` + 128 random bits in hex.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Centers a center operator may see.
    pub centers: Vec<String>,
    /// Argon2id PHC string.
    pub password: String,
    /// Unix seconds.
    pub created: i64,
}

/// What an operator wants to do.
#[derive(Debug, Clone, Copy)]
pub enum Permission<'a> {
    /// Read one center's data.
    ReadCenter(&'a str),
    /// Approve or reject registrations at one center.
    ReviewCenter(&'a str),
    /// Create operators.
    ManageOperators,
    /// Import a catalog.
    ManageCatalog,
    /// Read the audit log.
    ReadAudit,
    /// Cancel a test center or a whole exam session.
    CancelExam,
}

/// The authorization rule.
pub fn authorize(op: &Operator, perm: Permission<'_>) -> Result<(), IdentityError> {
    let allowed = match (op.role, perm) {
        (Role::Administrator, _) => true,
        (Role::Auditor, Permission::ReadCenter(_) | Permission::ReadAudit) => true,
        (Role::Auditor, _) => false,
        (Role::CenterOperator, Permission::ReadCenter(c) | Permission::ReviewCenter(c)) => {
            op.centers.iter().any(|x| x == c)
        }
        (Role::CenterOperator, _) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(IdentityError::Forbidden(match perm {
            Permission::ReadCenter(c) => {
                format!("operator `{}` is not assigned to center `{c}`", op.username)
            }
            Permission::ReviewCenter(c) => {
                format!("operator `{}` may not review registrations at center `{c}`", op.username)
            }
            Permission::ManageOperators => "only administrators manage operators".into(),
            Permission::ManageCatalog => "only administrators import catalogs".into(),
            Permission::ReadAudit => "only administrators and auditors read the audit log".into(),
            Permission::CancelExam => "only administrators cancel centers and exam sessions".into(),
        }))
    }
}

/// Whether `op` may see center `center` (for listings).
pub fn can_see(op: &Operator, center: &str) -> bool {
    authorize(op, Permission::ReadCenter(center)).is_ok()
}

/// Checks a user name: 3–32 of `a-z 0-9 . _ -`, starting with a letter.
pub fn check_username(name: &str) -> Result<(), IdentityError> {
    let ok = (3..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::invalid(
            ErrorCode::UsernameInvalid,
            "user names have 3–32 characters a-z, 0-9, '.', '_' or '-' and start with a letter",
        ))
    }
}

/// Adds the creation of an operator to `txn` (the name must be free at commit); returns it and
/// the index of the uniqueness precondition.
pub fn create(
    txn: &mut Txn,
    username: &str,
    role: Role,
    centers: Vec<String>,
    password_phc: String,
    now: i64,
) -> (Operator, usize) {
    let op = Operator {
        id: format!("op_{}", hex::encode(random_array::<16>())),
        username: username.to_owned(),
        role,
        centers,
        password: password_phc,
        created: now,
    };
    let check = txn.require_absent(Tree::OperatorByName, username.as_bytes().to_vec());
    txn.put(Tree::OperatorByName, username.as_bytes().to_vec(), op.id.as_bytes().to_vec());
    txn.put(Tree::Operators, op.id.as_bytes().to_vec(), encode(&op));
    (op, check)
}

/// Reads an operator by id.
pub fn get(store: &dyn Storage, id: &str) -> Result<Option<Operator>, StorageError> {
    store.get(Tree::Operators, id.as_bytes())?.map(|v| decode(Tree::Operators, &v)).transpose()
}

/// Reads an operator by user name.
pub fn find(store: &dyn Storage, username: &str) -> Result<Option<Operator>, StorageError> {
    match store.get(Tree::OperatorByName, username.as_bytes())? {
        Some(id) => get(store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

/// A new operator, as an administrator enters it.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// User name.
    pub username: String,
    /// Initial password.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Centers of a center operator.
    pub centers: Vec<String>,
}

/// An operator logged in.
#[derive(Debug, Clone)]
pub struct OperatorLogin {
    /// The operator.
    pub operator: Operator,
    /// The new session.
    pub session: NewSession,
}

impl Identity {
    /// The operator with id `id` (401 when it no longer exists).
    pub fn operator(&self, id: &str) -> Result<Operator, IdentityError> {
        get(self.db.store(), id)?.ok_or(IdentityError::Unauthorized("the operator no longer exists"))
    }

    /// Logs an operator in, behind the same throttle and captcha rules as candidates.
    pub async fn operator_login(
        &self,
        username: &str,
        password: String,
        captcha: &CaptchaProof,
        address: &str,
    ) -> Result<OperatorLogin, IdentityError> {
        let key = format!("op:{username}");
        self.gate(&key, address, captcha)?;
        let op = find(self.db.store(), username)?;
        let ok = self.hasher.verify(password, op.as_ref().map(|o| o.password.clone())).await?;
        let Some(op) = op.filter(|_| ok) else {
            self.throttle.failure(&key, address);
            return Err(IdentityError::BadCredentials);
        };
        self.throttle.success(&key);
        let mut txn = Txn::new();
        let owner = Owner::Operator(op.id.clone());
        let session = sessions::create(&mut txn, &owner, self.now(), self.settings.operator_session_ttl_secs);
        let event = AuditEvent::new(Actor::Operator(op.id.clone()), "operator.login", &op.id);
        self.db.commit(txn, event).await?;
        Ok(OperatorLogin { operator: op, session })
    }

    /// Creates an operator on behalf of administrator `by`; `center_known` tells which center
    /// ids the catalog has.
    pub async fn create_operator(
        &self,
        by: &Operator,
        new: NewOperator,
        center_known: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Operator, IdentityError> {
        authorize(by, Permission::ManageOperators)?;
        check_username(&new.username)?;
        check_policy(&new.password, &new.username)?;
        if let Some(c) = new.centers.iter().find(|c| !center_known(c)) {
            return Err(IdentityError::invalid(
                ErrorCode::CenterUnknown,
                format!("no center `{c}` in the catalog"),
            ));
        }
        if new.role == Role::CenterOperator && new.centers.is_empty() {
            return Err(IdentityError::invalid(
                ErrorCode::CentersRequired,
                "a center operator needs at least one center",
            ));
        }
        if new.role != Role::CenterOperator && !new.centers.is_empty() {
            return Err(IdentityError::invalid(
                ErrorCode::CentersNotAllowed,
                "only center operators are scoped to centers",
            ));
        }
        let phc = self.hasher.hash(new.password).await?;
        let mut txn = Txn::new();
        let (op, check) = create(&mut txn, &new.username, new.role, new.centers, phc, self.now());
        let event = AuditEvent::new(Actor::Operator(by.id.clone()), "operator.create", &op.id)
            .with(serde_json::json!({ "username": op.username, "role": op.role, "centers": op.centers }));
        match self.db.commit(txn, event).await {
            Ok(()) => Ok(op),
            Err(CommitError::Precondition(i)) if i == check => Err(IdentityError::conflict(
                ErrorCode::UsernameTaken,
                format!("an operator `{}` already exists", new.username),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(role: Role, centers: &[&str]) -> Operator {
        Operator {
            id: "op_x".into(),
            username: "x".into(),
            role,
            centers: centers.iter().map(|c| (*c).to_owned()).collect(),
            password: String::new(),
            created: 0,
        }
    }

    #[test]
    fn roles_and_center_scope() {
        let admin = op(Role::Administrator, &[]);
        let center = op(Role::CenterOperator, &["bj-01"]);
        let auditor = op(Role::Auditor, &[]);
        assert!(authorize(&admin, Permission::ManageOperators).is_ok());
        assert!(authorize(&center, Permission::ReadCenter("bj-01")).is_ok());
        assert!(matches!(
            authorize(&center, Permission::ReadCenter("sh-01")),
            Err(IdentityError::Forbidden(_))
        ));
        assert!(authorize(&center, Permission::ReadAudit).is_err());
        assert!(authorize(&auditor, Permission::ReadCenter("sh-01")).is_ok());
        assert!(authorize(&auditor, Permission::ReadAudit).is_ok());
        assert!(authorize(&auditor, Permission::ManageCatalog).is_err());
        assert!(authorize(&admin, Permission::CancelExam).is_ok());
        assert!(authorize(&auditor, Permission::CancelExam).is_err());
        assert!(authorize(&center, Permission::CancelExam).is_err());
        assert!(check_username("center.bj-01").is_ok());
        assert!(check_username("Admin").is_err());
        assert!("auditor".parse::<Role>().is_ok() && "root".parse::<Role>().is_err());
    }
}
