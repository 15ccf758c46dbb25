//! Password policy and Argon2id hashing with bounded concurrency.
//!
//! Hashing runs on tokio's blocking pool, never on the async worker threads, behind an
//! [`Admission`] of `argon2.max_concurrent` slots (the number of cores by default). At most
//! `argon2.max_waiting` requests wait for a slot, none longer than 20 s; beyond that the
//! server answers `503 busy` at once, so a flood of logins cannot grow memory without bound
//! (each hash holds `memory_kib` while it runs, and only `max_concurrent` run).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use baoming_core::api::error::ErrorCode;

use super::IdentityError;
use crate::admission::Admission;
use crate::config::{Argon2Config, ConfigError};
use crate::store::crypto::{ct_eq, random_array};

/// Longest wait for a hashing slot.
const MAX_WAIT: Duration = Duration::from_secs(20);

const COMMON: &str = include_str!("../../data/common-passwords.txt");

/// Shortest accepted password.
pub const MIN_LEN: usize = 8;
/// Longest accepted password (bounds hashing input).
pub const MAX_LEN: usize = 128;

/// Checks a new password against the policy; `login` is the account name it belongs to.
pub fn check_policy(password: &str, login: &str) -> Result<(), IdentityError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(IdentityError::invalid(
            ErrorCode::PasswordTooShort,
            format!("the password needs at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(IdentityError::invalid(
            ErrorCode::PasswordTooLong,
            format!("the password may have at most {MAX_LEN} characters"),
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|c| c == lower) {
        return Err(IdentityError::invalid(
            ErrorCode::PasswordTooCommon,
            "this password is among the most common ones; choose another",
        ));
    }
    let local = login.split('@').next().unwrap_or(login).to_lowercase();
    if local.chars().count() >= 4 && lower.contains(&local) {
        return Err(IdentityError::invalid(
            ErrorCode::PasswordContainsLogin,
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
        return Err(IdentityError::invalid(
            ErrorCode::PasswordTooWeak,
            "the password needs at least two kinds of characters (letters, digits, symbols) and four different characters",
        ));
    }
    Ok(())
}

/// Argon2id hashing behind a bounded queue, with reused memory.
///
/// Each running hash needs `memory_kib` of working memory. Allocating and freeing 19 MiB per
/// login makes glibc raise its mmap threshold and keep the freed blocks in per-thread arenas,
/// so resident memory grows far past `max_concurrent × memory_kib` under load (measured: 700 MiB
/// after 60 logins). The hasher therefore keeps its own pool of block buffers — at most one per
/// hashing slot — and hands them to `argon2`'s `hash_password_into_with_memory`.
#[derive(Debug, Clone)]
pub struct Hasher {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    admission: Arc<Admission>,
    pool: Arc<Mutex<Vec<Vec<Block>>>>,
    dummy: Arc<String>,
}

impl Hasher {
    /// Builds the hasher from configuration.
    pub fn new(cfg: &Argon2Config) -> Result<Hasher, ConfigError> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| ConfigError::Invalid(format!("argon2 parameters: {e}")))?;
        let mut h = Hasher {
            algorithm: Algorithm::Argon2id,
            version: Version::V0x13,
            params,
            admission: Arc::new(Admission::new(cfg.max_concurrent, cfg.max_waiting, MAX_WAIT)),
            pool: Arc::new(Mutex::new(Vec::new())),
            dummy: Arc::new(String::new()),
        };
        let dummy = h
            .hash_blocking("dummy password for unknown accounts")
            .map_err(|e| ConfigError::Invalid(format!("argon2: {e}")))?;
        h.dummy = Arc::new(dummy);
        Ok(h)
    }

    fn with_memory<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let mut buf = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        if buf.len() < blocks {
            buf.resize(blocks, Block::default());
        }
        let out = f(&mut buf[..blocks]);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(buf);
        out
    }

    /// Hashes a password on the calling thread (start-up seeding, the admin CLI, and the
    /// blocking jobs of [`Hasher::hash`]).
    pub fn hash_blocking(&self, password: &str) -> Result<String, String> {
        let salt_bytes: [u8; 16] = random_array();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
        let mut out = [0u8; 32];
        let argon = Argon2::new(self.algorithm, self.version, self.params.clone());
        self.with_memory(self.params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut out, blocks)
        })
        .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(self.version.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| e.to_string())?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    }

    /// Checks a password against a PHC string on the calling thread.
    pub fn verify_blocking(&self, password: &str, phc: &str) -> Result<bool, String> {
        let parsed = PasswordHash::new(phc).map_err(|e| e.to_string())?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).map_err(|e| e.to_string())?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let expected = parsed.hash.ok_or("stored hash has no output")?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed
            .salt
            .ok_or("stored hash has no salt")?
            .decode_b64(&mut salt_buf)
            .map_err(|e| e.to_string())?;
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        self.with_memory(blocks, |mem| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, mem)
        })
        .map_err(|e| e.to_string())?;
        Ok(ct_eq(&out, expected.as_bytes()))
    }

    /// Hashes a password (PHC string).
    pub async fn hash(&self, password: String) -> Result<String, IdentityError> {
        let me = self.clone();
        self.run(move || me.hash_blocking(&password).map_err(IdentityError::Internal)).await
    }

    /// Checks `password` against `stored`; with `None` a dummy hash is checked so that unknown
    /// accounts take as long as known ones.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, IdentityError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| (*self.dummy).clone());
        let me = self.clone();
        let ok = self
            .run(move || {
                me.verify_blocking(&password, &phc)
                    .map_err(|e| IdentityError::Internal(format!("stored hash: {e}")))
            })
            .await?;
        Ok(known && ok)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, IdentityError> + Send + 'static,
    ) -> Result<T, IdentityError> {
        // A request whose client went away leaves the line (its place is not kept forever).
        let permit = self.admission.enter().await.map_err(|_| IdentityError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let r = job();
            drop(permit);
            r
        })
        .await
        .map_err(|e| IdentityError::Internal(format!("hashing task: {e}")))?
    }
}

/// A random 22-character password (generated operator passwords, the demo operator's).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let raw: [u8; 20] = crate::store::crypto::random_array();
    let mut p: String = raw.iter().map(|b| char::from(ALPHABET[*b as usize % ALPHABET.len()])).collect();
    p.push_str("-7");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_weak_and_common_passwords() {
        let code = |p: &str| check_policy(p, "zhang.san@example.org").err().and_then(|e| e.rule());
        assert_eq!(code("short1"), Some(ErrorCode::PasswordTooShort));
        assert_eq!(code("Password123"), Some(ErrorCode::PasswordTooCommon));
        assert_eq!(code("qwertyuiop"), Some(ErrorCode::PasswordTooCommon));
        assert_eq!(code("abcdefghij"), Some(ErrorCode::PasswordTooWeak));
        assert_eq!(code("aaaa1111"), Some(ErrorCode::PasswordTooWeak));
        assert_eq!(code("zhang.san-2027!"), Some(ErrorCode::PasswordContainsLogin));
        assert_eq!(code(&"a1".repeat(70)), Some(ErrorCode::PasswordTooLong));
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
        // Compatible with the argon2 crate's own PHC strings both ways.
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let theirs = Argon2::default()
            .hash_password(b"Lantern-Harbor-42", &SaltString::encode_b64(b"0123456789abcdef").expect("salt"))
            .expect("hash")
            .to_string();
        assert!(h.verify("Lantern-Harbor-42".into(), Some(theirs)).await.expect("verify"));
        let ours = h.hash("Lantern-Harbor-42".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("parse");
        assert!(Argon2::default().verify_password(b"Lantern-Harbor-42", &parsed).is_ok());
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
            if matches!(t.await.expect("join"), Err(IdentityError::Busy)) {
                busy += 1;
            }
        }
        assert!(busy >= 1, "a full queue answers busy at once");
    }
}
