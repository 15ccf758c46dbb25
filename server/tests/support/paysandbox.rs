//! The sandbox payment platform for the server's tests: the merchant's and the platform's keys,
//! made once per test binary by the server's own signer, and the sandbox binary under test.

use std::sync::OnceLock;

use baoming_server::payments::rsa2::Rsa2Signer;
use baoming_test_support::{PaySandbox, SandboxMerchant};

/// The sandbox binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_baoming-paysandbox");
/// The application the sandbox registers for the tests' merchant.
pub const APP_ID: &str = "2021000000000001";
/// The tests' merchant (seller) id.
pub const SELLER_ID: &str = "2088000000000001";

/// The merchant's and the platform's keys, generated once per test run.
pub fn keys() -> &'static (Rsa2Signer, Rsa2Signer) {
    static KEYS: OnceLock<(Rsa2Signer, Rsa2Signer)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (Rsa2Signer::generate().expect("merchant key"), Rsa2Signer::generate().expect("platform key"))
    })
}

/// Starts `baoming-paysandbox` for the tests' merchant with `extra` arguments (faults, …).
pub fn start(extra: &[&str]) -> PaySandbox {
    let (merchant, platform) = keys();
    let merchant_public_pem = merchant.verifier().pem();
    let platform_private_pem = platform.to_pkcs8_pem().expect("pem");
    let who = SandboxMerchant {
        app_id: APP_ID,
        seller_id: SELLER_ID,
        merchant_public_pem,
        platform_private_pem: &platform_private_pem,
    };
    PaySandbox::start(std::path::Path::new(BIN), who, extra)
}
