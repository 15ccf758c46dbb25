//! Third-party login ("QQ-style"): OAuth 2.0 authorization code with PKCE (RFC 7636, S256).
//!
//! 1. `POST /api/oauth/{provider}/start` — the server makes a random `state` and PKCE verifier,
//!    keeps them (in memory, 10 minutes, single use) and answers the provider's authorization
//!    URL. With a candidate bearer token the login will be *linked* to that account.
//! 2. The provider sends the browser back to `GET /api/oauth/{provider}/callback?code&state`;
//!    the server redeems the code at the token endpoint with the verifier and its client
//!    credentials, reads the user-info endpoint, and then
//!    * logs into the account already linked to that provider identity, or
//!    * links the identity to the account that started the flow, or
//!    * creates a new passport account (named by the provider's verified e-mail when that name
//!      is free, else by `provider:subject`). An existing account with the same e-mail is never
//!      taken over silently: its owner links from a logged-in session.
//!
//! Provider calls use a blocking HTTPS client (ureq + rustls on *ring*) on the blocking pool.

use baoming_core::api::error::ErrorCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use baoming_core::api::accounts::OAuthOutcome;
use serde::Deserialize;

use super::accounts::{self, LoginKind};
use super::sessions::{self, NewSession, Owner};
use super::{Identity, IdentityError};
use crate::config::OAuthProviderConfig;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::{random_array, sha256};
use crate::store::{CommitError, Tree, Txn};

/// How long a started login may take.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
const MAX_PENDING: usize = 10_000;

#[derive(Debug)]
struct Pending {
    provider: String,
    verifier: String,
    link_account: Option<String>,
    expires: Instant,
}

/// Logins started and not yet finished.
#[derive(Debug, Default)]
pub struct PendingLogins {
    inner: Mutex<HashMap<String, Pending>>,
}

/// URL-safe base64 without padding (RFC 4648 §5), as PKCE requires.
pub fn base64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64url(&sha256(verifier.as_bytes()))
}

/// Percent-encodes a query value (unreserved characters pass).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn provider<'a>(
    providers: &'a [OAuthProviderConfig],
    name: &str,
) -> Result<&'a OAuthProviderConfig, IdentityError> {
    providers
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| IdentityError::NotFound(format!("no login provider `{name}`")))
}

impl Identity {
    /// Starts a third-party login; returns the provider's authorization URL and the state.
    pub fn oauth_start(
        &self,
        provider_name: &str,
        link_account: Option<String>,
    ) -> Result<(String, String), IdentityError> {
        let p = provider(&self.settings.oauth, provider_name)?;
        let state = base64url(&random_array::<24>());
        let verifier = base64url(&random_array::<32>());
        let challenge = pkce_challenge(&verifier);
        let url = format!(
            "{}{}response_type=code&client_id={}&redirect_uri={}&state={}&code_challenge={}&code_challenge_method=S256",
            p.authorize_url,
            if p.authorize_url.contains('?') { "&" } else { "?" },
            percent_encode(&p.client_id),
            percent_encode(&p.redirect_uri),
            state,
            challenge,
        );
        let now_i = Instant::now();
        let mut map = self.oauth.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_PENDING {
            map.retain(|_, v| v.expires > now_i);
            if map.len() >= MAX_PENDING {
                return Err(IdentityError::Busy);
            }
        }
        map.insert(
            state.clone(),
            Pending {
                provider: provider_name.to_owned(),
                verifier,
                link_account,
                expires: now_i + PENDING_TTL,
            },
        );
        Ok((url, state))
    }

    /// Finishes a third-party login from the provider's callback.
    pub async fn oauth_finish(
        &self,
        provider_name: &str,
        code: &str,
        state: &str,
    ) -> Result<Finished, IdentityError> {
        let invalid_state = || {
            IdentityError::invalid(
                ErrorCode::OauthStateInvalid,
                "unknown, expired or already used login state; start again",
            )
        };
        let pending = {
            let mut map = self.oauth.inner.lock().unwrap_or_else(|e| e.into_inner());
            map.remove(state).ok_or_else(invalid_state)?
        };
        if pending.expires < Instant::now() || pending.provider != provider_name {
            return Err(invalid_state());
        }
        let p = provider(&self.settings.oauth, provider_name)?.clone();
        let (code, verifier) = (code.to_owned(), pending.verifier.clone());
        let info = tokio::task::spawn_blocking(move || redeem(&p, &code, &verifier))
            .await
            .map_err(|e| IdentityError::Internal(format!("oauth task: {e}")))??;
        if info.sub.is_empty() || info.sub.len() > 256 {
            return Err(failed("user info", "empty or oversized subject"));
        }
        let identity =
            self.db.keys().lookup_hash("oauth", format!("{provider_name}\0{}", info.sub).as_bytes()).to_vec();
        let ttl = self.settings.session_ttl_secs;

        if let Some(id) = self.db.store().get(Tree::AccountByOAuth, &identity)? {
            let account_id = String::from_utf8_lossy(&id).into_owned();
            if pending.link_account.as_deref().is_some_and(|l| l != account_id) {
                return Err(IdentityError::Conflict {
                    code: ErrorCode::OauthIdentityTaken,
                    message: "this provider identity is already linked to another account".into(),
                });
            }
            let mut txn = Txn::new();
            let session = sessions::create(&mut txn, &Owner::Account(account_id.clone()), self.now(), ttl);
            let event =
                AuditEvent::new(Actor::Account(account_id.clone()), "account.oauth_login", &account_id)
                    .with(serde_json::json!({ "provider": provider_name }));
            self.db.commit(txn, event).await?;
            return Ok(Finished { account_id, session, outcome: OAuthOutcome::Login });
        }

        let taken = || IdentityError::Conflict {
            code: ErrorCode::OauthIdentityTaken,
            message: "this provider identity was linked meanwhile; retry".into(),
        };
        if let Some(account_id) = pending.link_account {
            accounts::get(self.db.store(), &account_id)?
                .ok_or(IdentityError::Unauthorized("the account no longer exists"))?;
            let mut txn = Txn::new();
            let check = txn.require_absent(Tree::AccountByOAuth, identity.clone());
            txn.put(Tree::AccountByOAuth, identity, account_id.as_bytes().to_vec());
            let session = sessions::create(&mut txn, &Owner::Account(account_id.clone()), self.now(), ttl);
            let event =
                AuditEvent::new(Actor::Account(account_id.clone()), "account.oauth_link", &account_id)
                    .with(serde_json::json!({ "provider": provider_name }));
            return match self.db.commit(txn, event).await {
                Ok(()) => Ok(Finished { account_id, session, outcome: OAuthOutcome::Linked }),
                Err(CommitError::Precondition(i)) if i == check => Err(taken()),
                Err(e) => Err(e.into()),
            };
        }

        // A new passport account.
        let email = info
            .email
            .filter(|_| info.email_verified.unwrap_or(false))
            .and_then(|e| accounts::normalize_login(&e).ok())
            .filter(|(_, kind)| *kind == LoginKind::Email)
            .map(|(l, _)| l);
        let mut candidates = Vec::new();
        if let Some(e) = email {
            candidates.push((e, LoginKind::Email));
        }
        candidates.push((format!("{provider_name}:{}", info.sub), LoginKind::External));
        for (login, kind) in candidates {
            let account = self.new_account(&login, kind, String::new());
            let mut txn = Txn::new();
            let login_check = self.insert_account(&mut txn, &account, &login);
            let id_check = txn.require_absent(Tree::AccountByOAuth, identity.clone());
            txn.put(Tree::AccountByOAuth, identity.clone(), account.id.as_bytes().to_vec());
            let session = sessions::create(&mut txn, &Owner::Account(account.id.clone()), self.now(), ttl);
            let event = AuditEvent::new(Actor::Anonymous, "account.oauth_register", &account.id)
                .with(serde_json::json!({ "provider": provider_name, "login_kind": kind }));
            match self.db.commit(txn, event).await {
                Ok(()) => {
                    return Ok(Finished { account_id: account.id, session, outcome: OAuthOutcome::Created });
                }
                Err(CommitError::Precondition(i)) if i == login_check => continue,
                Err(CommitError::Precondition(i)) if i == id_check => return Err(taken()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(IdentityError::Conflict {
            code: ErrorCode::LoginTaken,
            message: "no free account name for this identity".into(),
        })
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Debug, Deserialize)]
struct UserInfo {
    #[serde(alias = "openid", alias = "id")]
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> IdentityError {
    tracing::warn!(error = %e, "{what}");
    IdentityError::Invalid { code: ErrorCode::OauthFailed, message: format!("{what}: the provider refused") }
}

fn redeem(p: &OAuthProviderConfig, code: &str, verifier: &str) -> Result<UserInfo, IdentityError> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let token: TokenResponse = agent
        .post(&p.token_url)
        .send_form([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", p.redirect_uri.as_str()),
            ("client_id", p.client_id.as_str()),
            ("client_secret", p.client_secret.as_str()),
            ("code_verifier", verifier),
        ])
        .map_err(|e| failed("token exchange", e))?
        .body_mut()
        .read_json()
        .map_err(|e| failed("token response", e))?;
    agent
        .get(&p.userinfo_url)
        .header("Authorization", &format!("Bearer {}", token.access_token))
        .call()
        .map_err(|e| failed("user info", e))?
        .body_mut()
        .read_json()
        .map_err(|e| failed("user info response", e))
}

/// How a finished login ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The account.
    pub account_id: String,
    /// The new session.
    pub session: NewSession,
    /// `login`, `linked` or `created`.
    pub outcome: OAuthOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(percent_encode("http://a/b?c=d e"), "http%3A%2F%2Fa%2Fb%3Fc%3Dd%20e");
    }
}
