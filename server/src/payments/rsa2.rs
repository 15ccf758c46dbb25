//! RSA2 as the Alipay-style platform uses it: SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256)
//! of a *signing string*, the signature in standard base64.
//!
//! The signing string is built from form parameters: drop the excluded keys and every empty
//! value, sort by key (byte order), join as `k=v` with `&`. Values are used as they are
//! (URL-decoded, not re-encoded). Which keys are excluded depends on the direction:
//!
//! * a merchant's **request** excludes only `sign` ([`REQUEST_EXCLUDED`]);
//! * a platform **notification** (and the browser return) excludes `sign` and `sign_type`
//!   ([`NOTIFICATION_EXCLUDED`]).
//!
//! A gateway *response* is signed over the exact bytes of the `…_response` JSON value instead
//! (see [`crate::payments::alipay`]).

use base64::Engine as _;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use rsa::{PrivateKey, PublicKey};
use sha2::Sha256;

/// Keys left out of a request's signing string.
pub const REQUEST_EXCLUDED: &[&str] = &["sign"];
/// Keys left out of a notification's (and a return's) signing string.
pub const NOTIFICATION_EXCLUDED: &[&str] = &["sign", "sign_type"];

/// The key size the platform issues and the sandbox generates.
pub const KEY_BITS: usize = 2048;

/// A private key that signs with SHA256withRSA.
#[derive(Clone)]
pub struct Rsa2Signer {
    key: SigningKey<Sha256>,
    public: Rsa2Verifier,
}

impl std::fmt::Debug for Rsa2Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rsa2Signer(…)")
    }
}

/// A public key that verifies SHA256withRSA signatures.
#[derive(Clone, Debug)]
pub struct Rsa2Verifier {
    key: VerifyingKey<Sha256>,
    pem: String,
}

/// Why a key could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither PKCS#8 nor PKCS#1 (PEM, or bare base64 DER as the platform's console shows it).
    #[error("not an RSA {what} key in PKCS#8 or PKCS#1 form: {detail}")]
    Unreadable {
        /// `private` or `public`.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// Key generation or encoding failed.
    #[error("RSA key: {0}")]
    Rsa(String),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `sign` parameter (or field).
    #[error("the message is not signed")]
    Missing,
    /// `sign_type` is present and is not `RSA2`.
    #[error("unsupported sign_type {0:?} (only RSA2)")]
    UnsupportedType(String),
    /// `sign` is not standard base64 of a plausible signature.
    #[error("the signature is not base64")]
    Malformed,
    /// The signature does not match the content and the key.
    #[error("the signature does not match")]
    Mismatch,
}

impl Rsa2Signer {
    /// Generates a fresh key of [`KEY_BITS`] bits from the operating system's randomness.
    pub fn generate() -> Result<Rsa2Signer, KeyError> {
        let key =
            PrivateKey::new(&mut getrandom::SysRng, KEY_BITS).map_err(|e| KeyError::Rsa(e.to_string()))?;
        Rsa2Signer::from_key(key)
    }

    fn from_key(key: PrivateKey) -> Result<Rsa2Signer, KeyError> {
        let public = Rsa2Verifier::from_key(key.to_public_key())?;
        Ok(Rsa2Signer { key: SigningKey::new(key), public })
    }

    /// Reads a private key: PKCS#8 PEM (`BEGIN PRIVATE KEY`), PKCS#1 PEM (`BEGIN RSA PRIVATE
    /// KEY`), or bare base64 of PKCS#8 DER (how the platform's key tool prints it).
    pub fn from_pem(text: &str) -> Result<Rsa2Signer, KeyError> {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let text = text.trim();
        let unreadable = |detail: String| KeyError::Unreadable { what: "private", detail };
        let key = if text.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            PrivateKey::from_pkcs1_pem(text).map_err(|e| unreadable(e.to_string()))?
        } else if text.starts_with("-----BEGIN") {
            PrivateKey::from_pkcs8_pem(text).map_err(|e| unreadable(e.to_string()))?
        } else {
            let der = bare_base64(text).ok_or_else(|| unreadable("not PEM and not base64".into()))?;
            PrivateKey::from_pkcs8_der(&der).map_err(|e| unreadable(e.to_string()))?
        };
        Rsa2Signer::from_key(key)
    }

    /// The key as PKCS#8 PEM (for tests and the sandbox's key files).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        use rsa::pkcs8::EncodePrivateKey as _;
        self.key
            .as_ref()
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map(|p| p.to_string())
            .map_err(|e| KeyError::Rsa(e.to_string()))
    }

    /// The matching public key.
    pub fn verifier(&self) -> &Rsa2Verifier {
        &self.public
    }

    /// Signs `content`; returns the signature in standard base64.
    pub fn sign(&self, content: &str) -> String {
        let signature: Signature = self.key.sign(content.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }

    /// Signs the signing string of `params` (see [`signing_string`]) and returns the signature.
    pub fn sign_params<'a>(
        &self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        excluded: &[&str],
    ) -> String {
        self.sign(&signing_string(params, excluded))
    }
}

impl Rsa2Verifier {
    fn from_key(key: PublicKey) -> Result<Rsa2Verifier, KeyError> {
        use rsa::pkcs8::EncodePublicKey as _;
        let pem =
            key.to_public_key_pem(rsa::pkcs8::LineEnding::LF).map_err(|e| KeyError::Rsa(e.to_string()))?;
        Ok(Rsa2Verifier { key: VerifyingKey::new(key), pem })
    }

    /// Reads a public key: SPKI PEM (`BEGIN PUBLIC KEY`), PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`),
    /// or bare base64 of SPKI DER (how the platform's console shows its public key).
    pub fn from_pem(text: &str) -> Result<Rsa2Verifier, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::pkcs8::DecodePublicKey as _;
        let text = text.trim();
        let unreadable = |detail: String| KeyError::Unreadable { what: "public", detail };
        let key = if text.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            PublicKey::from_pkcs1_pem(text).map_err(|e| unreadable(e.to_string()))?
        } else if text.starts_with("-----BEGIN") {
            PublicKey::from_public_key_pem(text).map_err(|e| unreadable(e.to_string()))?
        } else {
            let der = bare_base64(text).ok_or_else(|| unreadable("not PEM and not base64".into()))?;
            PublicKey::from_public_key_der(&der).map_err(|e| unreadable(e.to_string()))?
        };
        Rsa2Verifier::from_key(key)
    }

    /// The key as SPKI PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Verifies a base64 signature over `content`.
    pub fn verify(&self, content: &str, sign_b64: &str) -> Result<(), SignatureError> {
        if sign_b64.is_empty() {
            return Err(SignatureError::Missing);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sign_b64.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::try_from(raw.as_slice()).map_err(|_| SignatureError::Malformed)?;
        self.key.verify(content.as_bytes(), &signature).map_err(|_| SignatureError::Mismatch)
    }

    /// Verifies signed form parameters: `sign` must be present, `sign_type` (when present) must
    /// be `RSA2`, and the signature must match the signing string without `excluded`.
    pub fn verify_params(
        &self,
        params: &[(String, String)],
        excluded: &[&str],
    ) -> Result<(), SignatureError> {
        let sign = params.iter().find(|(k, _)| k == "sign").map(|(_, v)| v.as_str()).unwrap_or("");
        if sign.is_empty() {
            return Err(SignatureError::Missing);
        }
        if let Some((_, t)) = params.iter().find(|(k, _)| k == "sign_type")
            && t != "RSA2"
        {
            return Err(SignatureError::UnsupportedType(t.clone()));
        }
        let content = signing_string(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), excluded);
        self.verify(&content, sign)
    }
}

fn bare_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).ok()
}

/// The signing string: `excluded` keys and empty values dropped, sorted by key, `k=v` joined
/// with `&`.
pub fn signing_string<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, excluded: &[&str]) -> String {
    let mut kept: Vec<(&str, &str)> =
        params.into_iter().filter(|(k, v)| !v.is_empty() && !excluded.contains(k)).collect();
    kept.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in kept.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// Two keys generated once per test run (nothing is committed).
    fn keys() -> &'static (Rsa2Signer, Rsa2Signer) {
        static KEYS: OnceLock<(Rsa2Signer, Rsa2Signer)> = OnceLock::new();
        KEYS.get_or_init(|| (Rsa2Signer::generate().expect("key"), Rsa2Signer::generate().expect("key")))
    }

    fn notification() -> Vec<(String, String)> {
        [
            ("notify_type", "trade_status_sync"),
            ("app_id", "2021000000000001"),
            ("out_trade_no", "BM-1"),
            ("trade_no", "2026112422001400000000000001"),
            ("total_amount", "88.00"),
            ("trade_status", "TRADE_SUCCESS"),
            ("subject", "NCRE 报名费"),
            ("body", ""),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("sign_type", "RSA2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn signed(key: &Rsa2Signer) -> Vec<(String, String)> {
        let mut p = notification();
        let sign = key.sign_params(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), NOTIFICATION_EXCLUDED);
        p.push(("sign".into(), sign));
        p
    }

    #[test]
    fn signing_string_sorts_skips_empty_and_excludes() {
        let p = notification();
        let s = signing_string(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), NOTIFICATION_EXCLUDED);
        assert_eq!(
            s,
            "app_id=2021000000000001&charset=utf-8&notify_type=trade_status_sync&out_trade_no=BM-1\
             &subject=NCRE 报名费&total_amount=88.00&trade_no=2026112422001400000000000001\
             &trade_status=TRADE_SUCCESS&version=1.0"
        );
        // A request keeps sign_type; sign never counts.
        let r = signing_string(
            [("sign", "x"), ("sign_type", "RSA2"), ("method", "alipay.trade.query"), ("app_id", "1")],
            REQUEST_EXCLUDED,
        );
        assert_eq!(r, "app_id=1&method=alipay.trade.query&sign_type=RSA2");
        // Byte order: upper case before lower case, `_` between them.
        assert_eq!(
            signing_string([("b", "1"), ("B", "2"), ("a_b", "3"), ("ab", "4")], &[]),
            "B=2&a_b=3&ab=4&b=1"
        );
    }

    #[test]
    fn sign_then_verify_known_answer() {
        let (key, _) = keys();
        // PKCS#1 v1.5 is deterministic: the same content gives the same signature.
        let a = key.sign("a=1&b=2");
        assert_eq!(a, key.sign("a=1&b=2"));
        assert_eq!(key.verifier().verify("a=1&b=2", &a), Ok(()));
        assert_eq!(key.verifier().verify("a=1&b=3", &a), Err(SignatureError::Mismatch));
        // Through PEM and back, both ways.
        let again = Rsa2Signer::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("read private");
        assert_eq!(again.sign("a=1&b=2"), a);
        let public = Rsa2Verifier::from_pem(key.verifier().pem()).expect("read public");
        assert_eq!(public.verify("a=1&b=2", &a), Ok(()));
        // Bare base64 DER, as the platform's console shows a public key.
        let bare: String = key.verifier().pem().lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(Rsa2Verifier::from_pem(&bare).expect("bare").verify("a=1&b=2", &a), Ok(()));
    }

    #[test]
    fn notification_verification_errors_are_typed() {
        let (key, other) = keys();
        let good = signed(key);
        assert_eq!(key.verifier().verify_params(&good, NOTIFICATION_EXCLUDED), Ok(()));
        // Empty values and sign_type do not count, so changing them keeps the signature valid.
        let mut extra = good.clone();
        extra.push(("passback_params".into(), String::new()));
        assert_eq!(key.verifier().verify_params(&extra, NOTIFICATION_EXCLUDED), Ok(()));
        // A tampered amount.
        let mut tampered = good.clone();
        tampered.iter_mut().filter(|(k, _)| k == "total_amount").for_each(|(_, v)| *v = "0.01".into());
        assert_eq!(
            key.verifier().verify_params(&tampered, NOTIFICATION_EXCLUDED),
            Err(SignatureError::Mismatch)
        );
        // An added non-empty field.
        let mut added = good.clone();
        added.push(("refund_fee".into(), "88.00".into()));
        assert_eq!(
            key.verifier().verify_params(&added, NOTIFICATION_EXCLUDED),
            Err(SignatureError::Mismatch)
        );
        // The wrong key.
        assert_eq!(
            other.verifier().verify_params(&good, NOTIFICATION_EXCLUDED),
            Err(SignatureError::Mismatch)
        );
        // No signature, an empty one, garbage, another algorithm.
        let unsigned: Vec<_> = good.iter().filter(|(k, _)| k != "sign").cloned().collect();
        assert_eq!(
            key.verifier().verify_params(&unsigned, NOTIFICATION_EXCLUDED),
            Err(SignatureError::Missing)
        );
        let mut empty = unsigned.clone();
        empty.push(("sign".into(), String::new()));
        assert_eq!(key.verifier().verify_params(&empty, NOTIFICATION_EXCLUDED), Err(SignatureError::Missing));
        let mut garbage = unsigned.clone();
        garbage.push(("sign".into(), "not base64!".into()));
        assert_eq!(
            key.verifier().verify_params(&garbage, NOTIFICATION_EXCLUDED),
            Err(SignatureError::Malformed)
        );
        let mut rsa1 = good.clone();
        rsa1.iter_mut().filter(|(k, _)| k == "sign_type").for_each(|(_, v)| *v = "RSA".into());
        assert_eq!(
            key.verifier().verify_params(&rsa1, NOTIFICATION_EXCLUDED),
            Err(SignatureError::UnsupportedType("RSA".into()))
        );
        // Signed as a notification, checked as a request: sign_type now counts, so it fails.
        assert_eq!(key.verifier().verify_params(&good, REQUEST_EXCLUDED), Err(SignatureError::Mismatch));
    }

    #[test]
    fn unreadable_keys_are_typed_errors() {
        assert!(matches!(Rsa2Signer::from_pem("hello"), Err(KeyError::Unreadable { what: "private", .. })));
        assert!(matches!(
            Rsa2Verifier::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
            Err(KeyError::Unreadable { what: "public", .. })
        ));
    }
}
