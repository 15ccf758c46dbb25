//! Passport accounts: registration, login (behind the throttle and the captcha), logout and
//! password change.
//!
//! The login name (an e-mail address or a mainland mobile number) is personal data: the account
//! record keeps it sealed with the data key, and the login index is keyed by its HMAC.

use baoming_core::api::error::ErrorCode;
use baoming_core::api::sync::SessionEnd;
use serde::{Deserialize, Serialize};

use super::passwords::check_policy;
use super::sessions::{self, NewSession, Owner, Session};
use super::{Identity, IdentityError};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::random_array;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// What kind of login name (as the contract spells it).
pub use baoming_core::api::accounts::LoginKind;

/// A stored account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// `acc_` + 128 random bits in hex.
    pub id: String,
    /// Kind of login name.
    pub login_kind: LoginKind,
    /// The normalised login name, sealed (hex).
    pub login_sealed: String,
    /// Argon2id PHC string (empty for accounts created by third-party login only).
    pub password: String,
    /// Unix seconds.
    pub created: i64,
    /// The sealed profile (hex).
    pub profile_sealed: Option<String>,
    /// The lookup hash of the profile's ID document (hex).
    pub id_document_hash: Option<String>,
}

/// Normalises and checks a login name.
pub fn normalize_login(raw: &str) -> Result<(String, LoginKind), IdentityError> {
    let s = raw.trim();
    if s.contains('@') {
        let lower = s.to_lowercase();
        let (local, domain) = lower.split_once('@').unwrap_or(("", ""));
        let ok = lower.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && lower.chars().all(|c| c.is_ascii_graphic());
        if ok {
            return Ok((lower, LoginKind::Email));
        }
        return Err(IdentityError::invalid(ErrorCode::LoginInvalid, "not a valid e-mail address"));
    }
    let digits = s.strip_prefix("+86").unwrap_or(s).replace([' ', '-'], "");
    let b = digits.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit) {
        return Ok((digits, LoginKind::Mobile));
    }
    Err(IdentityError::invalid(
        ErrorCode::LoginInvalid,
        "the account name must be an e-mail address or a mainland mobile number (11 digits starting with 13–19)",
    ))
}

impl Identity {
    pub(super) fn login_key(&self, login: &str) -> Vec<u8> {
        self.db.keys().lookup_hash("login", login.as_bytes()).to_vec()
    }

    pub(super) fn find_by_login(&self, login: &str) -> Result<Option<Account>, StorageError> {
        match self.db.store().get(Tree::AccountByLogin, &self.login_key(login))? {
            Some(id) => get(self.db.store(), &String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// The clear login name of an account.
    pub fn login_of(&self, account: &Account) -> Result<String, IdentityError> {
        let sealed =
            hex::decode(&account.login_sealed).map_err(|e| IdentityError::Internal(e.to_string()))?;
        let plain = self
            .db
            .keys()
            .open(account.id.as_bytes(), &sealed)
            .map_err(|e| IdentityError::Internal(e.to_string()))?;
        String::from_utf8(plain).map_err(|e| IdentityError::Internal(e.to_string()))
    }

    /// A new account record (not yet stored) for a normalised login.
    pub fn new_account(&self, login: &str, kind: LoginKind, password_phc: String) -> Account {
        let id = format!("acc_{}", hex::encode(random_array::<16>()));
        let sealed = self.db.keys().seal(id.as_bytes(), login.as_bytes());
        Account {
            id,
            login_kind: kind,
            login_sealed: hex::encode(sealed),
            password: password_phc,
            created: self.now(),
            profile_sealed: None,
            id_document_hash: None,
        }
    }

    /// Adds the storage of a new account (login must be free) to `txn`; returns the check index.
    pub fn insert_account(&self, txn: &mut Txn, account: &Account, login: &str) -> usize {
        let key = self.login_key(login);
        let check = txn.require_absent(Tree::AccountByLogin, key.clone());
        txn.put(Tree::AccountByLogin, key, account.id.as_bytes().to_vec());
        txn.put(Tree::Accounts, account.id.as_bytes().to_vec(), encode(account));
        check
    }

    /// Registers an account and logs it in.
    pub async fn register(&self, login: &str, password: &str) -> Result<LoggedIn, IdentityError> {
        let (login, kind) = normalize_login(login)?;
        check_policy(password, &login)?;
        if self.find_by_login(&login)?.is_some() {
            return Err(login_taken());
        }
        let phc = self.hasher.hash(password.to_owned()).await?;
        let account = self.new_account(&login, kind, phc);
        let mut txn = Txn::new();
        let check = self.insert_account(&mut txn, &account, &login);
        let session = sessions::create(
            &mut txn,
            &Owner::Account(account.id.clone()),
            self.now(),
            self.settings.session_ttl_secs,
        );
        let event = AuditEvent::new(Actor::Anonymous, "account.register", &account.id)
            .with(serde_json::json!({ "login_kind": kind }));
        match self.db.commit(txn, event).await {
            Ok(()) => Ok(LoggedIn { account_id: account.id, session }),
            Err(CommitError::Precondition(i)) if i == check => Err(login_taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies the throttle and captcha rules around a credential check.
    pub fn gate(
        &self,
        throttle_key: &str,
        address: &str,
        captcha: &CaptchaProof,
    ) -> Result<(), IdentityError> {
        self.throttle.attempt(address)?;
        if self.throttle.captcha_required(throttle_key, address) {
            match (&captcha.id, &captcha.answer) {
                (Some(id), Some(answer)) => {
                    if !self.captchas.check(id, answer) {
                        return Err(IdentityError::CaptchaWrong);
                    }
                }
                _ => return Err(IdentityError::CaptchaRequired),
            }
        }
        Ok(())
    }

    /// Logs in with login name and password.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        captcha: &CaptchaProof,
        address: &str,
    ) -> Result<LoggedIn, IdentityError> {
        let throttle_key =
            normalize_login(login).map(|(l, _)| l).unwrap_or_else(|_| login.trim().to_lowercase());
        self.gate(&throttle_key, address, captcha)?;
        let account = match normalize_login(login) {
            Ok((l, _)) => self.find_by_login(&l)?,
            Err(_) => None,
        };
        let stored = account.as_ref().map(|a| a.password.clone()).filter(|p| !p.is_empty());
        let ok = self.hasher.verify(password.to_owned(), stored).await?;
        let Some(account) = account.filter(|_| ok) else {
            self.throttle.failure(&throttle_key, address);
            tracing::info!(address, "failed login");
            return Err(IdentityError::BadCredentials);
        };
        self.throttle.success(&throttle_key);
        let mut txn = Txn::new();
        let session = sessions::create(
            &mut txn,
            &Owner::Account(account.id.clone()),
            self.now(),
            self.settings.session_ttl_secs,
        );
        self.db
            .commit(txn, AuditEvent::new(Actor::Account(account.id.clone()), "account.login", &account.id))
            .await?;
        Ok(LoggedIn { account_id: account.id, session })
    }

    /// Ends one session (its live connections close).
    pub async fn logout(&self, session: &Session) -> Result<(), IdentityError> {
        let mut txn = Txn::new();
        sessions::revoke(&mut txn, &session.owner, &session.token_hash);
        let (actor, action, target) = match &session.owner {
            Owner::Account(id) => (Actor::Account(id.clone()), "account.logout", id.clone()),
            Owner::Operator(id) => (Actor::Operator(id.clone()), "operator.logout", id.clone()),
        };
        self.db.commit(txn, AuditEvent::new(actor, action, target)).await?;
        self.sessions_ended(&[session.token_hash], SessionEnd::LoggedOut);
        Ok(())
    }

    /// The account `id` (401 when it no longer exists).
    pub fn account(&self, id: &str) -> Result<Account, IdentityError> {
        self.require_account(id)
    }

    pub(super) fn require_account(&self, id: &str) -> Result<Account, IdentityError> {
        get(self.db.store(), id)?.ok_or(IdentityError::Unauthorized("the account no longer exists"))
    }

    /// Changes the password and revokes every other session of the account (their live
    /// connections close); returns how many.
    pub async fn change_password(
        &self,
        account_id: &str,
        current_session: &[u8; 32],
        current: &str,
        new: &str,
    ) -> Result<usize, IdentityError> {
        let account = self.require_account(account_id)?;
        let login = self.login_of(&account)?;
        check_policy(new, &login)?;
        let stored = Some(account.password.clone()).filter(|p| !p.is_empty());
        if !self.hasher.verify(current.to_owned(), stored).await? {
            return Err(IdentityError::invalid(
                ErrorCode::CurrentPasswordWrong,
                "the current password is wrong",
            ));
        }
        let phc = self.hasher.hash(new.to_owned()).await?;
        let mut txn = Txn::new();
        let owner = Owner::Account(account.id.clone());
        // The record must not have changed since we read it (e.g. a concurrent profile update).
        let check =
            txn.require_equals(Tree::Accounts, account.id.as_bytes().to_vec(), Some(encode(&account)));
        let revoked = sessions::revoke_all(self.db.store(), &mut txn, &owner, Some(current_session))?;
        let updated = Account { password: phc, ..account };
        txn.put(Tree::Accounts, updated.id.as_bytes().to_vec(), encode(&updated));
        let event =
            AuditEvent::new(Actor::Account(updated.id.clone()), "account.password_change", &updated.id)
                .with(serde_json::json!({ "revoked_sessions": revoked.len() }));
        match self.db.commit(txn, event).await {
            Ok(()) => {
                self.sessions_ended(&revoked, SessionEnd::PasswordChanged);
                Ok(revoked.len())
            }
            Err(CommitError::Precondition(i)) if i == check => Err(IdentityError::Conflict {
                code: ErrorCode::ConcurrentUpdate,
                message: "the account changed meanwhile; retry".into(),
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads an account by id.
pub fn get(store: &dyn Storage, id: &str) -> Result<Option<Account>, StorageError> {
    store.get(Tree::Accounts, id.as_bytes())?.map(|v| decode(Tree::Accounts, &v)).transpose()
}

/// Result of a registration or login.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The account.
    pub account_id: String,
    /// The new session.
    pub session: NewSession,
}

fn login_taken() -> IdentityError {
    IdentityError::Conflict {
        code: ErrorCode::LoginTaken,
        message: "an account with this name already exists".into(),
    }
}

/// Captcha proof sent with a login.
#[derive(Debug, Clone, Default)]
pub struct CaptchaProof {
    /// Captcha id.
    pub id: Option<String>,
    /// Answer.
    pub answer: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_are_normalised() {
        assert_eq!(normalize_login(" Zhang.San@Example.ORG ").expect("email").0, "zhang.san@example.org");
        assert_eq!(
            normalize_login("+86 138-0013-8000").expect("mobile"),
            ("13800138000".into(), LoginKind::Mobile)
        );
        for bad in ["", "12345", "12800138000", "a@b", "@example.org", "a@@b.cn", "138001380001"] {
            assert!(normalize_login(bad).is_err(), "{bad}");
        }
    }
}
