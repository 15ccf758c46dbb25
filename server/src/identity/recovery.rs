//! Password recovery: a 6-digit code sent to the account's login (single use, limited tries and
//! lifetime), then a new password that ends every session (and closes their live connections).

use baoming_core::api::error::ErrorCode;
use baoming_core::api::sync::SessionEnd;
use serde::{Deserialize, Serialize};

use super::accounts::{Account, normalize_login};
use super::notifier::Message;
use super::passwords::check_policy;
use super::sessions::{self, Owner};
use super::{Identity, IdentityError};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::{random_array, sha256};
use crate::store::{CommitError, Tree, Txn, decode, encode};

/// Attempts allowed on one recovery code.
pub const RECOVERY_ATTEMPTS: u32 = 5;

/// A recovery code waiting to be used.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecoveryRecord {
    code_hash: String,
    expires: i64,
    attempts: u32,
}

fn code_hash(account_id: &str, code: &str) -> String {
    hex::encode(sha256(format!("baoming-recovery\0{account_id}\0{code}").as_bytes()))
}

impl Identity {
    /// Starts password recovery: when the account exists, a 6-digit code valid for
    /// `recovery_code_ttl_secs` is sent to it. The answer never tells whether the account exists.
    pub async fn recover_start(&self, login: &str, address: &str) -> Result<(), IdentityError> {
        self.throttle.attempt(address)?;
        let Ok((login, _)) = normalize_login(login) else { return Ok(()) };
        let Some(account) = self.find_by_login(&login)? else {
            tracing::info!("recovery requested for an unknown account");
            return Ok(());
        };
        let raw: [u8; 4] = random_array();
        let code = format!("{:06}", u32::from_le_bytes(raw) % 1_000_000);
        let ttl = i64::try_from(self.settings.recovery_code_ttl_secs).unwrap_or(600);
        let rec = RecoveryRecord {
            code_hash: code_hash(&account.id, &code),
            expires: self.now() + ttl,
            attempts: 0,
        };
        let mut txn = Txn::new();
        txn.put(Tree::Recovery, account.id.as_bytes().to_vec(), encode(&rec));
        self.db.commit(txn, AuditEvent::new(Actor::Anonymous, "account.recovery_start", &account.id)).await?;
        let minutes = ttl / 60;
        let msg = Message {
            to: login,
            subject: "Baoming password recovery code / 报名平台找回密码验证码".into(),
            body: format!(
                "您的验证码是 {code}，{minutes} 分钟内有效，只能使用一次。\nYour code is {code}; it is valid for {minutes} minutes and works once.\n"
            ),
        };
        let via = self.notifier.send(self.db.store(), self.db.keys(), self.now(), msg).await?;
        tracing::info!(via, "recovery code issued");
        Ok(())
    }

    /// Finishes recovery: checks the code (single use, limited attempts), sets the new password and
    /// revokes every session.
    pub async fn recover_finish(
        &self,
        login: &str,
        code: &str,
        new_password: &str,
        address: &str,
    ) -> Result<(), IdentityError> {
        self.throttle.attempt(address)?;
        let wrong = || {
            IdentityError::invalid(ErrorCode::RecoveryCodeWrong, "the code is wrong, expired or already used")
        };
        let (login, _) = normalize_login(login)?;
        let account = self.find_by_login(&login)?.ok_or_else(wrong)?;
        let key = account.id.as_bytes().to_vec();
        let raw = self.db.store().get(Tree::Recovery, &key)?.ok_or_else(wrong)?;
        let rec: RecoveryRecord = decode(Tree::Recovery, &raw)?;
        if rec.expires <= self.now() || rec.attempts >= RECOVERY_ATTEMPTS {
            let mut txn = Txn::new();
            txn.delete(Tree::Recovery, key);
            self.db
                .commit(txn, AuditEvent::new(Actor::Anonymous, "account.recovery_expired", &account.id))
                .await?;
            return Err(wrong());
        }
        if !crate::store::crypto::ct_eq(
            rec.code_hash.as_bytes(),
            code_hash(&account.id, code.trim()).as_bytes(),
        ) {
            let mut txn = Txn::new();
            txn.require_equals(Tree::Recovery, key.clone(), Some(raw));
            txn.put(Tree::Recovery, key, encode(&RecoveryRecord { attempts: rec.attempts + 1, ..rec }));
            match self
                .db
                .commit(txn, AuditEvent::new(Actor::Anonymous, "account.recovery_failed", &account.id))
                .await
            {
                Ok(()) | Err(CommitError::Precondition(_)) => {}
                Err(e) => return Err(e.into()),
            }
            return Err(wrong());
        }
        check_policy(new_password, &login)?;
        let phc = self.hasher.hash(new_password.to_owned()).await?;
        let mut txn = Txn::new();
        // Single use: the code record must still be exactly the one we checked.
        let code_check = txn.require_equals(Tree::Recovery, key.clone(), Some(raw));
        txn.delete(Tree::Recovery, key);
        let revoked =
            sessions::revoke_all(self.db.store(), &mut txn, &Owner::Account(account.id.clone()), None)?;
        let updated = Account { password: phc, ..account };
        txn.put(Tree::Accounts, updated.id.as_bytes().to_vec(), encode(&updated));
        let event = AuditEvent::new(Actor::Anonymous, "account.password_reset", &updated.id)
            .with(serde_json::json!({ "revoked_sessions": revoked.len() }));
        match self.db.commit(txn, event).await {
            Ok(()) => {
                self.sessions_ended(&revoked, SessionEnd::PasswordReset);
                Ok(())
            }
            Err(CommitError::Precondition(i)) if i == code_check => Err(wrong()),
            Err(e) => Err(e.into()),
        }
    }
}
