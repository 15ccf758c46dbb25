//! Encryption at rest and keyed hashing.
//!
//! One 256-bit master key (from configuration, or generated next to the database) is expanded
//! with HMAC-SHA256 into independent sub-keys:
//!
//! * an AEAD key (ChaCha20-Poly1305, random 96-bit nonces) that seals personal data — legal
//!   names, ID numbers, phone numbers and login names, recovery messages — bound to the record it
//!   belongs to through the associated data;
//! * an HMAC-SHA256 key for look-ups over personal data ("is this ID document already used?",
//!   "which account has this login name?") without storing the data in clear.
//!
//! It also holds the small helpers for randomness and SHA-256.

use std::path::Path;

use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Length of the master key in bytes.
pub const KEY_LEN: usize = 32;

/// Why key material or sealed data was refused.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key is not 64 hex characters.
    #[error("the data key must be 64 hexadecimal characters (256 bits)")]
    BadKey,
    /// Sealed data did not authenticate (wrong key, or tampered data).
    #[error("sealed data does not authenticate (wrong key or tampered record)")]
    Open,
    /// The key file could not be read or written.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The derived keys.
pub struct Keys {
    aead: LessSafeKey,
    lookup: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Derives the sub-keys from a master key.
    pub fn from_master(master: &[u8; KEY_LEN]) -> Keys {
        let kdf = hmac::Key::new(hmac::HMAC_SHA256, master);
        let aead_key = hmac::sign(&kdf, b"baoming/v1/aead");
        let lookup_key = hmac::sign(&kdf, b"baoming/v1/lookup");
        // A 32-byte key is exactly what ChaCha20-Poly1305 takes.
        #[allow(clippy::expect_used)]
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, aead_key.as_ref()).expect("32-byte AEAD key");
        Keys {
            aead: LessSafeKey::new(unbound),
            lookup: hmac::Key::new(hmac::HMAC_SHA256, lookup_key.as_ref()),
            rng: SystemRandom::new(),
        }
    }

    /// Parses a master key written as 64 hex characters.
    pub fn parse_master(hex_key: &str) -> Result<[u8; KEY_LEN], CryptoError> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| CryptoError::BadKey)?;
        bytes.try_into().map_err(|_| CryptoError::BadKey)
    }

    /// Loads the master key from `path`, or generates and saves one; the flag tells whether it
    /// was generated.
    pub fn load_or_generate(path: &Path) -> Result<([u8; KEY_LEN], bool), CryptoError> {
        let err = |e: std::io::Error| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(err)?;
            return Ok((Keys::parse_master(&text)?, false));
        }
        let key: [u8; KEY_LEN] = random_array();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        write_private(path, &hex::encode(key)).map_err(err)?;
        Ok((key, true))
    }

    /// Seals `plaintext`, bound to `context` (e.g. the record id): nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; aead::NONCE_LEN] = self.random();
        let mut buf = plaintext.to_vec();
        // Sealing only fails for inputs larger than the cipher's limit (hundreds of GiB).
        #[allow(clippy::expect_used)]
        self.aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context), &mut buf)
            .expect("AEAD seal");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// Opens data sealed by [`Keys::seal`] with the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < aead::NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = body.to_vec();
        let plain =
            self.aead.open_in_place(nonce, Aad::from(context), &mut buf).map_err(|_| CryptoError::Open)?;
        Ok(plain.to_vec())
    }

    /// Keyed hash for look-ups: HMAC-SHA256 over a domain label and the value.
    pub fn lookup_hash(&self, domain: &str, value: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.lookup);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value);
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Random bytes from the system generator.
    pub fn random<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        // The system generator does not fail on supported platforms.
        #[allow(clippy::expect_used)]
        self.rng.fill(&mut out).expect("system randomness");
        out
    }
}

/// Random bytes from the system generator, without a [`Keys`].
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    #[allow(clippy::expect_used)]
    SystemRandom::new().fill(&mut out).expect("system randomness");
    out
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let k = Keys::from_master(&[7u8; 32]);
        let sealed = k.seal(b"acc_1", "张三".as_bytes());
        assert!(!sealed.windows(6).any(|w| w == "张三".as_bytes()), "no clear text");
        assert_eq!(k.open(b"acc_1", &sealed).expect("open"), "张三".as_bytes());
        assert!(matches!(k.open(b"acc_2", &sealed), Err(CryptoError::Open)));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(k.open(b"acc_1", &tampered), Err(CryptoError::Open)));
        let other = Keys::from_master(&[8u8; 32]);
        assert!(matches!(other.open(b"acc_1", &sealed), Err(CryptoError::Open)));
        assert!(matches!(k.open(b"acc_1", &[1, 2, 3]), Err(CryptoError::Open)));
    }

    #[test]
    fn lookup_hash_is_keyed_and_domain_separated() {
        let k = Keys::from_master(&[7u8; 32]);
        let a = k.lookup_hash("id", b"110101199003077777");
        assert_eq!(a, k.lookup_hash("id", b"110101199003077777"));
        assert_ne!(a, k.lookup_hash("login", b"110101199003077777"));
        assert_ne!(a, Keys::from_master(&[1u8; 32]).lookup_hash("id", b"110101199003077777"));
    }

    #[test]
    fn key_file_is_generated_once_then_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data.key");
        let (k1, generated) = Keys::load_or_generate(&path).expect("generate");
        assert!(generated);
        let (k2, generated) = Keys::load_or_generate(&path).expect("load");
        assert!(!generated);
        assert_eq!(k1, k2);
        assert!(Keys::parse_master("abc").is_err());
    }
}
