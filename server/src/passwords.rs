//! Password policy and Argon2id hashing with bounded concurrency.
//!
//! Hashing runs on tokio's blocking pool, never on the async worker threads, behind a semaphore
//! of `argon2.max_concurrent` permits (the number of cores by default). At most
//! `argon2.max_waiting` requests may queue for a permit; beyond that the server answers
//! `503 busy` at once, so a flood of logins cannot grow memory without bound (each hash holds
//! `memory_kib` while it runs, and only `max_concurrent` run).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::{Argon2Config, ConfigError};
use crate::crypto::random_array;
use crate::error::ApiError;

const COMMON: &str = include_str!("../data/common-passwords.txt");

/// Shortest accepted password.
pub const MIN_LEN: usize = 8;
/// Longest accepted password (bounds hashing input).
pub const MAX_LEN: usize = 128;

/// Checks a new password against the policy; `login` is the account name it belongs to.
pub fn check_policy(password: &str, login: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(ApiError::invalid(
            "password_too_short",
            format!("the password needs at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(ApiError::invalid(
            "password_too_long",
            format!("the password may have at most {MAX_LEN} characters"),
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|c| c == lower) {
        return Err(ApiError::invalid(
            "password_too_common",
            "this password is among the most common ones; choose another",
        ));
    }
    let local = login.split('@').next().unwrap_or(login).to_lowercase();
    if local.chars().count() >= 4 && lower.contains(&local) {
        return Err(ApiError::invalid(
            "password_contains_login",
            "the password must not contain the account name",
        ));
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let distinct = {
        let mut cs: Vec<char> = password.chars().collect();
        cs.sort_unstable();
        cs.dedup();
        cs.len()
    };
    if classes < 2 || distinct < 4 {
        return Err(ApiError::invalid(
            "password_too_weak",
            "the password needs at least two kinds of characters (letters, digits, symbols) and four different characters",
        ));
    }
    Ok(())
}

/// Argon2id hashing behind a bounded queue.
#[derive(Debug, Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    dummy: Arc<String>,
}

impl Hasher {
    /// Builds the hasher from configuration.
    pub fn new(cfg: &Argon2Config) -> Result<Hasher, ConfigError> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| ConfigError::Invalid(format!("argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = hash_with(&argon, "dummy password for unknown accounts")
            .map_err(|e| ConfigError::Invalid(format!("argon2: {e}")))?;
        Ok(Hasher {
            argon,
            permits: Arc::new(Semaphore::new(cfg.max_concurrent)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: cfg.max_waiting,
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes a password on the calling thread (start-up seeding and the admin CLI only).
    pub fn hash_blocking(&self, password: &str) -> Result<String, String> {
        hash_with(&self.argon, password)
    }

    /// Hashes a password (PHC string).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon = self.argon.clone();
        self.run(move || hash_with(&argon, &password).map_err(ApiError::Internal)).await
    }

    /// Checks `password` against `stored`; with `None` a dummy hash is checked so that unknown
    /// accounts take as long as known ones.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| (*self.dummy).clone());
        let argon = self.argon.clone();
        let ok = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&phc).map_err(|e| ApiError::Internal(format!("stored hash: {e}")))?;
                Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?;
        Ok(known && ok)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::Busy);
        }
        let permit =
            tokio::time::timeout(Duration::from_secs(20), self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = match permit {
            Ok(Ok(p)) => p,
            Ok(Err(_)) | Err(_) => return Err(ApiError::Busy),
        };
        tokio::task::spawn_blocking(move || {
            let r = job();
            drop(permit);
            r
        })
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))?
    }
}

fn hash_with(argon: &Argon2<'static>, password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = random_array();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    argon.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_weak_and_common_passwords() {
        let code = |p: &str| check_policy(p, "zhang.san@example.org").err().map(|e| e.code());
        assert_eq!(code("short1"), Some("password_too_short"));
        assert_eq!(code("Password123"), Some("password_too_common"));
        assert_eq!(code("qwertyuiop"), Some("password_too_common"));
        assert_eq!(code("abcdefghij"), Some("password_too_weak"));
        assert_eq!(code("aaaa1111"), Some("password_too_weak"));
        assert_eq!(code("zhang.san-2027!"), Some("password_contains_login"));
        assert_eq!(code(&"a1".repeat(70)), Some("password_too_long"));
        assert_eq!(code("Lantern-Harbor-42"), None);
    }

    #[tokio::test]
    async fn hashes_verify_and_production_defaults_are_argon2id() {
        let cfg = Argon2Config {
            memory_kib: 256,
            iterations: 2,
            allow_weak_for_tests: true,
            ..Argon2Config::default()
        };
        let h = Hasher::new(&cfg).expect("hasher");
        let stored = h.hash("Lantern-Harbor-42".into()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=256,t=2"));
        assert!(h.verify("Lantern-Harbor-42".into(), Some(stored.clone())).await.expect("verify"));
        assert!(!h.verify("wrong-password-1".into(), Some(stored)).await.expect("verify"));
        assert!(!h.verify("dummy password for unknown accounts".into(), None).await.expect("v"));
        let d = Argon2Config::default();
        assert!(d.memory_kib >= 19 * 1024 && d.iterations >= 2 && !d.allow_weak_for_tests);
    }

    #[tokio::test]
    async fn queue_is_bounded() {
        let cfg = Argon2Config {
            memory_kib: 8 * 1024,
            iterations: 3,
            max_concurrent: 1,
            max_waiting: 1,
            allow_weak_for_tests: true,
            ..Argon2Config::default()
        };
        let h = Hasher::new(&cfg).expect("hasher");
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move { h.hash("Lantern-Harbor-42".into()).await }));
        }
        let mut busy = 0;
        for t in tasks {
            if matches!(t.await.expect("join"), Err(ApiError::Busy)) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "a full queue answers busy at once");
    }
}
