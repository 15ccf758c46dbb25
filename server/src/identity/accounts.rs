//! Passport accounts: registration, login, logout, password change and recovery, profile.
//!
//! The login name (an e-mail address or a mainland mobile number) is personal data: the account
//! record keeps it sealed with the data key, and the login index is keyed by its HMAC. The
//! profile (legal name, ID document, phone) is sealed the same way, and the ID document's HMAC
//! indexes "one account per ID document".

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use baoming_core::id_document::{IdDocument, IdKind};

use crate::app::{App, now};
use crate::error::ApiError;
use crate::identity::notifier::Message;
use crate::identity::passwords::check_policy;
use crate::identity::sessions::{self, NewSession, Owner, Session};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::{random_array, sha256};
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// Attempts allowed on one recovery code.
pub const RECOVERY_ATTEMPTS: u32 = 5;

/// What kind of login name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginKind {
    /// An e-mail address.
    Email,
    /// A mainland mobile number.
    Mobile,
    /// A third-party identity (`provider:subject`), for accounts created by OAuth login.
    External,
}

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

/// The profile, as the candidate enters it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// Legal name as on the ID document.
    pub legal_name: String,
    /// Document kind (`resident_id`, `passport`, …).
    pub id_kind: String,
    /// Document number.
    pub id_number: String,
    /// Contact phone (mainland mobile), optional.
    #[serde(default)]
    pub phone: Option<String>,
}

/// The stored (sealed) profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Legal name.
    pub legal_name: String,
    /// Document kind.
    pub id_kind: IdKind,
    /// Normalised number.
    pub id_number: String,
    /// Masked number for display.
    pub id_masked: String,
    /// Birth date from the number, where it encodes one (ISO).
    pub birth_date: Option<String>,
    /// Gender from the number, where it encodes one.
    pub gender: Option<String>,
    /// Contact phone.
    pub phone: Option<String>,
}

/// A recovery code waiting to be used.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecoveryRecord {
    code_hash: String,
    expires: i64,
    attempts: u32,
}

/// Normalises and checks a login name.
pub fn normalize_login(raw: &str) -> Result<(String, LoginKind), ApiError> {
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
        return Err(ApiError::invalid("login_invalid", "not a valid e-mail address"));
    }
    let digits = s.strip_prefix("+86").unwrap_or(s).replace([' ', '-'], "");
    let b = digits.as_bytes();
    if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit) {
        return Ok((digits, LoginKind::Mobile));
    }
    Err(ApiError::invalid(
        "login_invalid",
        "the account name must be an e-mail address or a mainland mobile number (11 digits starting with 13–19)",
    ))
}

fn login_key(app: &App, login: &str) -> Vec<u8> {
    app.keys.lookup_hash("login", login.as_bytes()).to_vec()
}

fn id_doc_key(app: &App, doc: &IdDocument) -> Vec<u8> {
    app.keys
        .lookup_hash("id_document", format!("{}:{}", doc.kind().as_str(), doc.number()).as_bytes())
        .to_vec()
}

/// Reads an account by id.
pub fn get(store: &dyn Storage, id: &str) -> Result<Option<Account>, StorageError> {
    store.get(Tree::Accounts, id.as_bytes())?.map(|v| decode(Tree::Accounts, &v)).transpose()
}

fn find_by_login(app: &App, login: &str) -> Result<Option<Account>, StorageError> {
    match app.store.get(Tree::AccountByLogin, &login_key(app, login))? {
        Some(id) => get(&*app.store, &String::from_utf8_lossy(&id)),
        None => Ok(None),
    }
}

/// The clear login name of an account.
pub fn login_of(app: &App, account: &Account) -> Result<String, ApiError> {
    let sealed = hex::decode(&account.login_sealed).map_err(|e| ApiError::Internal(e.to_string()))?;
    let plain =
        app.keys.open(account.id.as_bytes(), &sealed).map_err(|e| ApiError::Internal(e.to_string()))?;
    String::from_utf8(plain).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Result of a registration or login.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The account.
    pub account_id: String,
    /// The new session.
    pub session: NewSession,
}

/// A new account record (not yet stored) for a normalised login.
pub fn new_account(app: &App, login: &str, kind: LoginKind, password_phc: String) -> Account {
    let id = format!("acc_{}", hex::encode(random_array::<16>()));
    let sealed = app.keys.seal(id.as_bytes(), login.as_bytes());
    Account {
        id,
        login_kind: kind,
        login_sealed: hex::encode(sealed),
        password: password_phc,
        created: now(),
        profile_sealed: None,
        id_document_hash: None,
    }
}

/// Adds the storage of a new account (login must be free) to `txn`; returns the check index.
pub fn insert_account(app: &App, txn: &mut Txn, account: &Account, login: &str) -> usize {
    let key = login_key(app, login);
    let check = txn.require_absent(Tree::AccountByLogin, key.clone());
    txn.put(Tree::AccountByLogin, key, account.id.as_bytes().to_vec());
    txn.put(Tree::Accounts, account.id.as_bytes().to_vec(), encode(account));
    check
}

fn login_taken() -> ApiError {
    ApiError::Conflict { code: "login_taken", message: "an account with this name already exists".into() }
}

/// Registers an account and logs it in.
pub async fn register(app: &App, login: &str, password: &str) -> Result<LoggedIn, ApiError> {
    let (login, kind) = normalize_login(login)?;
    check_policy(password, &login)?;
    if find_by_login(app, &login)?.is_some() {
        return Err(login_taken());
    }
    let phc = app.hasher.hash(password.to_owned()).await?;
    let account = new_account(app, &login, kind, phc);
    let mut txn = Txn::new();
    let check = insert_account(app, &mut txn, &account, &login);
    let session =
        sessions::create(&mut txn, &Owner::Account(account.id.clone()), now(), app.config.session_ttl_secs);
    let event = AuditEvent::new(Actor::Anonymous, "account.register", &account.id)
        .with(serde_json::json!({ "login_kind": kind }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(LoggedIn { account_id: account.id, session }),
        Err(CommitError::Precondition(i)) if i == check => Err(login_taken()),
        Err(e) => Err(e.into()),
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

/// Applies the throttle and captcha rules around a credential check.
pub fn gate(app: &App, throttle_key: &str, address: &str, captcha: &CaptchaProof) -> Result<(), ApiError> {
    app.throttle.attempt(address)?;
    if app.throttle.captcha_required(throttle_key, address) {
        match (&captcha.id, &captcha.answer) {
            (Some(id), Some(answer)) => {
                if !app.captchas.check(id, answer) {
                    return Err(ApiError::CaptchaWrong);
                }
            }
            _ => return Err(ApiError::CaptchaRequired),
        }
    }
    Ok(())
}

/// Logs in with login name and password.
pub async fn login(
    app: &App,
    login: &str,
    password: &str,
    captcha: &CaptchaProof,
    address: &str,
) -> Result<LoggedIn, ApiError> {
    let throttle_key = normalize_login(login).map(|(l, _)| l).unwrap_or_else(|_| login.trim().to_lowercase());
    gate(app, &throttle_key, address, captcha)?;
    let account = match normalize_login(login) {
        Ok((l, _)) => find_by_login(app, &l)?,
        Err(_) => None,
    };
    let stored = account.as_ref().map(|a| a.password.clone()).filter(|p| !p.is_empty());
    let ok = app.hasher.verify(password.to_owned(), stored).await?;
    let Some(account) = account.filter(|_| ok) else {
        app.throttle.failure(&throttle_key, address);
        tracing::info!(address, "failed login");
        return Err(ApiError::BadCredentials);
    };
    app.throttle.success(&throttle_key);
    let mut txn = Txn::new();
    let session =
        sessions::create(&mut txn, &Owner::Account(account.id.clone()), now(), app.config.session_ttl_secs);
    app.commit(txn, AuditEvent::new(Actor::Account(account.id.clone()), "account.login", &account.id))
        .await?;
    Ok(LoggedIn { account_id: account.id, session })
}

/// Ends one session.
pub async fn logout(app: &App, session: &Session) -> Result<(), ApiError> {
    let mut txn = Txn::new();
    sessions::revoke(&mut txn, &session.owner, &session.token_hash);
    let (actor, action, target) = match &session.owner {
        Owner::Account(id) => (Actor::Account(id.clone()), "account.logout", id.clone()),
        Owner::Operator(id) => (Actor::Operator(id.clone()), "operator.logout", id.clone()),
    };
    app.commit(txn, AuditEvent::new(actor, action, target)).await?;
    Ok(())
}

fn require_account(app: &App, id: &str) -> Result<Account, ApiError> {
    get(&*app.store, id)?.ok_or(ApiError::Unauthorized("the account no longer exists"))
}

/// Changes the password and revokes every other session of the account.
pub async fn change_password(
    app: &App,
    account_id: &str,
    current_session: &[u8; 32],
    current: &str,
    new: &str,
) -> Result<usize, ApiError> {
    let account = require_account(app, account_id)?;
    let login = login_of(app, &account)?;
    check_policy(new, &login)?;
    let stored = Some(account.password.clone()).filter(|p| !p.is_empty());
    if !app.hasher.verify(current.to_owned(), stored).await? {
        return Err(ApiError::invalid("current_password_wrong", "the current password is wrong"));
    }
    let phc = app.hasher.hash(new.to_owned()).await?;
    let mut txn = Txn::new();
    let owner = Owner::Account(account.id.clone());
    // The record must not have changed since we read it (e.g. a concurrent profile update).
    let check = txn.require_equals(Tree::Accounts, account.id.as_bytes().to_vec(), Some(encode(&account)));
    let revoked = sessions::revoke_all(&*app.store, &mut txn, &owner, Some(current_session))?;
    let updated = Account { password: phc, ..account };
    txn.put(Tree::Accounts, updated.id.as_bytes().to_vec(), encode(&updated));
    let event = AuditEvent::new(Actor::Account(updated.id.clone()), "account.password_change", &updated.id)
        .with(serde_json::json!({ "revoked_sessions": revoked }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(revoked),
        Err(CommitError::Precondition(i)) if i == check => Err(ApiError::Conflict {
            code: "concurrent_update",
            message: "the account changed meanwhile; retry".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Checks and stores the profile (one account per ID document).
pub async fn set_profile(app: &App, account_id: &str, input: ProfileInput) -> Result<Profile, ApiError> {
    let name = input.legal_name.trim();
    let name_len = name.chars().count();
    if name_len == 0 || name_len > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("legal_name_invalid", "the legal name must have 1–64 characters"));
    }
    let kind: IdKind = input.id_kind.parse().map_err(|_| {
        ApiError::invalid("id_unknown_kind", format!("unknown ID document kind `{}`", input.id_kind))
    })?;
    let doc = IdDocument::parse(kind, &input.id_number)
        .map_err(|e| ApiError::Invalid { code: e.code(), message: format!("{} ({e})", e.message_zh()) })?;
    let phone = match input.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => match normalize_login(p)? {
            (n, LoginKind::Mobile) => Some(n),
            _ => {
                return Err(ApiError::invalid("phone_invalid", "the phone must be a mainland mobile number"));
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
        gender: doc.gender().map(|g| g.as_str().to_owned()),
        phone,
    };
    let account = require_account(app, account_id)?;
    let doc_key = id_doc_key(app, &doc);
    let doc_hex = hex::encode(&doc_key);
    let taken = || ApiError::Conflict {
        code: "id_document_taken",
        message: "this ID document is already used by another account".into(),
    };
    let mut txn = Txn::new();
    let account_check =
        txn.require_equals(Tree::Accounts, account.id.as_bytes().to_vec(), Some(encode(&account)));
    let doc_check = if account.id_document_hash.as_deref() == Some(doc_hex.as_str()) {
        txn.require_equals(Tree::AccountByIdDocument, doc_key.clone(), Some(account.id.as_bytes().to_vec()))
    } else {
        if let Some(old) = &account.id_document_hash {
            txn.delete(
                Tree::AccountByIdDocument,
                hex::decode(old).map_err(|e| ApiError::Internal(e.to_string()))?,
            );
        }
        txn.require_absent(Tree::AccountByIdDocument, doc_key.clone())
    };
    txn.put(Tree::AccountByIdDocument, doc_key, account.id.as_bytes().to_vec());
    let plain = serde_json::to_vec(&profile).map_err(|e| ApiError::Internal(e.to_string()))?;
    let updated = Account {
        profile_sealed: Some(hex::encode(app.keys.seal(profile_context(&account.id).as_bytes(), &plain))),
        id_document_hash: Some(doc_hex),
        ..account
    };
    txn.put(Tree::Accounts, updated.id.as_bytes().to_vec(), encode(&updated));
    let event = AuditEvent::new(Actor::Account(updated.id.clone()), "account.profile_update", &updated.id)
        .with(serde_json::json!({ "id_kind": kind }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(profile),
        Err(CommitError::Precondition(i)) if i == doc_check => Err(taken()),
        Err(CommitError::Precondition(i)) if i == account_check => Err(ApiError::Conflict {
            code: "concurrent_update",
            message: "the account changed meanwhile; retry".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn profile_context(account_id: &str) -> String {
    format!("profile:{account_id}")
}

/// Reads the profile.
pub fn get_profile(app: &App, account_id: &str) -> Result<Option<Profile>, ApiError> {
    let account = require_account(app, account_id)?;
    let Some(sealed) = account.profile_sealed else { return Ok(None) };
    let sealed = hex::decode(sealed).map_err(|e| ApiError::Internal(e.to_string()))?;
    let plain = app
        .keys
        .open(profile_context(account_id).as_bytes(), &sealed)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    serde_json::from_slice(&plain).map(Some).map_err(|e| ApiError::Internal(e.to_string()))
}

fn code_hash(account_id: &str, code: &str) -> String {
    hex::encode(sha256(format!("baoming-recovery\0{account_id}\0{code}").as_bytes()))
}

/// Starts password recovery: when the account exists, a 6-digit code valid for
/// `recovery_code_ttl_secs` is sent to it. The answer never tells whether the account exists.
pub async fn recover_start(app: &App, login: &str, address: &str) -> Result<(), ApiError> {
    app.throttle.attempt(address)?;
    let Ok((login, _)) = normalize_login(login) else { return Ok(()) };
    let Some(account) = find_by_login(app, &login)? else {
        tracing::info!("recovery requested for an unknown account");
        return Ok(());
    };
    let raw: [u8; 4] = random_array();
    let code = format!("{:06}", u32::from_le_bytes(raw) % 1_000_000);
    let ttl = i64::try_from(app.config.recovery_code_ttl_secs).unwrap_or(600);
    let rec = RecoveryRecord { code_hash: code_hash(&account.id, &code), expires: now() + ttl, attempts: 0 };
    let mut txn = Txn::new();
    txn.put(Tree::Recovery, account.id.as_bytes().to_vec(), encode(&rec));
    app.commit(txn, AuditEvent::new(Actor::Anonymous, "account.recovery_start", &account.id)).await?;
    let minutes = ttl / 60;
    let msg = Message {
        to: login,
        subject: "Baoming password recovery code / 报名平台找回密码验证码".into(),
        body: format!(
            "您的验证码是 {code}，{minutes} 分钟内有效，只能使用一次。\nYour code is {code}; it is valid for {minutes} minutes and works once.\n"
        ),
    };
    let app2 = Arc::clone(app);
    let via = app2.notifier.send(&*app2.store, &app2.keys, msg).await?;
    tracing::info!(via, "recovery code issued");
    Ok(())
}

/// Finishes recovery: checks the code (single use, limited attempts), sets the new password and
/// revokes every session.
pub async fn recover_finish(
    app: &App,
    login: &str,
    code: &str,
    new_password: &str,
    address: &str,
) -> Result<(), ApiError> {
    app.throttle.attempt(address)?;
    let wrong = || ApiError::invalid("recovery_code_wrong", "the code is wrong, expired or already used");
    let (login, _) = normalize_login(login)?;
    let account = find_by_login(app, &login)?.ok_or_else(wrong)?;
    let key = account.id.as_bytes().to_vec();
    let raw = app.store.get(Tree::Recovery, &key)?.ok_or_else(wrong)?;
    let rec: RecoveryRecord = decode(Tree::Recovery, &raw)?;
    if rec.expires <= now() || rec.attempts >= RECOVERY_ATTEMPTS {
        let mut txn = Txn::new();
        txn.delete(Tree::Recovery, key);
        app.commit(txn, AuditEvent::new(Actor::Anonymous, "account.recovery_expired", &account.id)).await?;
        return Err(wrong());
    }
    if !crate::store::crypto::ct_eq(rec.code_hash.as_bytes(), code_hash(&account.id, code.trim()).as_bytes())
    {
        let mut txn = Txn::new();
        txn.require_equals(Tree::Recovery, key.clone(), Some(raw));
        txn.put(Tree::Recovery, key, encode(&RecoveryRecord { attempts: rec.attempts + 1, ..rec }));
        match app.commit(txn, AuditEvent::new(Actor::Anonymous, "account.recovery_failed", &account.id)).await
        {
            Ok(()) | Err(CommitError::Precondition(_)) => {}
            Err(e) => return Err(e.into()),
        }
        return Err(wrong());
    }
    check_policy(new_password, &login)?;
    let phc = app.hasher.hash(new_password.to_owned()).await?;
    let mut txn = Txn::new();
    // Single use: the code record must still be exactly the one we checked.
    let code_check = txn.require_equals(Tree::Recovery, key.clone(), Some(raw));
    txn.delete(Tree::Recovery, key);
    let revoked = sessions::revoke_all(&*app.store, &mut txn, &Owner::Account(account.id.clone()), None)?;
    let updated = Account { password: phc, ..account };
    txn.put(Tree::Accounts, updated.id.as_bytes().to_vec(), encode(&updated));
    let event = AuditEvent::new(Actor::Anonymous, "account.password_reset", &updated.id)
        .with(serde_json::json!({ "revoked_sessions": revoked }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(()),
        Err(CommitError::Precondition(i)) if i == code_check => Err(wrong()),
        Err(e) => Err(e.into()),
    }
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
