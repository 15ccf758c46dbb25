//! The sandbox payment platform as its own process (`baoming-paysandbox`), with the merchant's
//! and the platform's keys generated once per test run.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use baoming_server::payments::rsa2::Rsa2Signer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_baoming-paysandbox");
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

/// An HTTP agent that returns every status as an answer and follows no redirect.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// Submits a payment page's form the way a browser does: POST to `cashier_url` with the page's
/// hidden trade number and the button `action` pressed; the answer's status and body.
pub fn press(cashier_url: &str, html: &str, action: &str) -> (u16, String) {
    assert!(html.contains(r#"<form method="post" action="/cashier">"#), "no form in {html}");
    let field = "name=\"trade_no\" value=\"";
    let start = html.find(field).expect("hidden trade_no") + field.len();
    let trade_no = &html[start..start + html[start..].find('"').expect("quote")];
    let mut r = agent()
        .post(cashier_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("trade_no={trade_no}&action={action}"))
        .expect("cashier");
    (r.status().as_u16(), r.body_mut().read_to_string().expect("html"))
}

/// A running `baoming-paysandbox` with the test keys, its retry schedule 1000× faster.
pub struct PaySandbox {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl PaySandbox {
    /// Starts the sandbox with `extra` arguments (faults, …) and waits for its banner.
    pub fn start(extra: &[&str]) -> PaySandbox {
        let (merchant, platform) = keys();
        let dir = tempfile::tempdir().expect("tempdir");
        let merchant_pem = dir.path().join("merchant-public.pem");
        let platform_pem = dir.path().join("platform-private.pem");
        std::fs::write(&merchant_pem, merchant.verifier().pem()).expect("write");
        std::fs::write(&platform_pem, platform.to_pkcs8_pem().expect("pem")).expect("write");
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--app-id", APP_ID, "--seller-id", SELLER_ID])
            .arg("--merchant-public-key")
            .arg(&merchant_pem)
            .arg("--platform-private-key")
            .arg(&platform_pem)
            .args(["--time-scale", "0.001", "--reorder-window-ms", "3000"])
            .args(extra)
            .env("BAOMING_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sandbox");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("banner");
        let addr = line
            .trim()
            .strip_prefix("Baoming pay sandbox listening on http://")
            .unwrap_or_else(|| panic!("banner: {line:?}"))
            .parse()
            .expect("address");
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        PaySandbox { child, addr, _dir: dir }
    }

    /// The URL of `path` on the sandbox.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes the fault switches; the switches now.
    pub fn set_faults(&self, patch: Value) -> Value {
        let mut r = agent()
            .put(&self.url("/sandbox/faults"))
            .header("Content-Type", "application/json")
            .send(patch.to_string())
            .expect("faults");
        assert_eq!(r.status().as_u16(), 200);
        r.body_mut().read_json().expect("json")
    }

    /// Every notification delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Value> {
        agent()
            .get(&self.url("/sandbox/deliveries"))
            .call()
            .expect("deliveries")
            .body_mut()
            .read_json()
            .expect("json")
    }
}

impl Drop for PaySandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
