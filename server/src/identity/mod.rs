//! Who is calling: passport accounts and their profiles, password recovery, sessions, password
//! hashing, captchas, login throttling, third-party (OAuth) logins, operators with their roles
//! and center scopes, the notifier that sends recovery codes, the credentials of the sync
//! WebSocket (tickets, the sync cookie) and the end of sessions that live connections watch.
//!
//! [`Identity`] is the service the HTTP layer calls; its methods live in the module of their
//! concept (`accounts`, `profile`, `recovery`, `oauth`, `operators`, `sessions`,
//! `sync_access`, `session_end`).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Argon2Config, OAuthProviderConfig, ThrottleConfig};
use crate::store::db::Db;

pub mod accounts;
pub mod captcha;
mod error;
pub mod notifier;
pub mod oauth;
pub mod operators;
pub mod passwords;
pub mod profile;
pub mod recovery;
pub mod session_end;
pub mod sessions;
pub mod sync_access;
pub mod throttle;

pub use error::IdentityError;

/// The settings identity needs from the configuration.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// Lifetime of a candidate session, in seconds.
    pub session_ttl_secs: u64,
    /// Lifetime of an operator session, in seconds.
    pub operator_session_ttl_secs: u64,
    /// Lifetime of a password recovery code, in seconds.
    pub recovery_code_ttl_secs: u64,
    /// Lifetime of a captcha, in seconds.
    pub captcha_ttl_secs: u64,
    /// Password hashing.
    pub argon2: Argon2Config,
    /// Login throttling and captcha thresholds.
    pub throttle: ThrottleConfig,
    /// Third-party login providers.
    pub oauth: Vec<OAuthProviderConfig>,
}

/// Accounts, operators and their sessions.
#[derive(Debug)]
pub struct Identity {
    db: Arc<Db>,
    settings: IdentitySettings,
    /// Password hashing (Argon2id on the blocking pool, bounded).
    pub hasher: passwords::Hasher,
    throttle: throttle::Throttle,
    captchas: captcha::Captchas,
    notifier: notifier::Notifier,
    oauth: oauth::PendingLogins,
    /// Live connections waiting for their session's end.
    signals: session_end::SessionSignals,
    /// Sync tickets not used yet.
    tickets: sync_access::Tickets,
}

impl Identity {
    /// The service on `db`, sending notifications through `notifier`.
    pub fn new(
        db: Arc<Db>,
        settings: IdentitySettings,
        notifier: notifier::Notifier,
    ) -> Result<Identity, crate::config::ConfigError> {
        Ok(Identity {
            hasher: passwords::Hasher::new(&settings.argon2)?,
            throttle: throttle::Throttle::new(settings.throttle.clone()),
            captchas: captcha::Captchas::new(Duration::from_secs(settings.captcha_ttl_secs), 10_000),
            oauth: oauth::PendingLogins::default(),
            signals: session_end::SessionSignals::default(),
            tickets: sync_access::Tickets::default(),
            notifier,
            settings,
            db,
        })
    }

    /// Issues a captcha (PNG and id).
    pub fn captcha(&self) -> Result<captcha::Issued, IdentityError> {
        self.captchas.issue()
    }

    /// Counts one attempt from `address` against its per-minute limit.
    pub fn attempt(&self, address: &str) -> Result<(), IdentityError> {
        self.throttle.attempt(address)
    }

    fn now(&self) -> i64 {
        self.db.clock().now_secs()
    }
}
