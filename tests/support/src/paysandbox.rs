//! The sandbox payment platform as its own process (`baoming-paysandbox`), and paying on its
//! page the way a browser does.
//!
//! The sandbox keeps its own time: its retry schedule runs 1000× faster here
//! (`--time-scale 0.001`), and the expiry of its trades follows its own clock, not a server's
//! test clock.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::{self, Response, split_url};

/// The keys and the merchant the sandbox is started with.
#[derive(Debug, Clone, Copy)]
pub struct SandboxMerchant<'a> {
    /// The application the sandbox registers for the merchant.
    pub app_id: &'a str,
    /// The merchant (seller) id.
    pub seller_id: &'a str,
    /// The merchant's public key (PEM): verifies the merchant's requests.
    pub merchant_public_pem: &'a str,
    /// The platform's private key (PKCS#8 PEM): signs the sandbox's answers and notifications.
    pub platform_private_pem: &'a str,
}

/// A running `baoming-paysandbox`, its retry schedule 1000× faster; killed when dropped.
#[derive(Debug)]
pub struct PaySandbox {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl PaySandbox {
    /// Starts `binary` for `merchant` with `extra` arguments (faults, …) and reads its banner.
    pub fn start(binary: &Path, merchant: SandboxMerchant<'_>, extra: &[&str]) -> PaySandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let merchant_pem = dir.path().join("merchant-public.pem");
        let platform_pem = dir.path().join("platform-private.pem");
        std::fs::write(&merchant_pem, merchant.merchant_public_pem).expect("write");
        std::fs::write(&platform_pem, merchant.platform_private_pem).expect("write");
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--app-id", merchant.app_id, "--seller-id", merchant.seller_id])
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
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
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

    /// Changes some fault switches (`PUT /sandbox/faults`); the switches now, read as `T`.
    #[track_caller]
    pub fn set_faults<T: DeserializeOwned>(&self, patch: &impl Serialize) -> T {
        let r = http::put(self.addr, "/sandbox/faults").json(patch).send();
        serde_json::from_slice(&r.expect(200).body).expect("the fault switches")
    }

    /// Every notification delivery attempt so far (`GET /sandbox/deliveries`): the sandbox's
    /// own log, which no contract type describes.
    #[track_caller]
    pub fn deliveries(&self) -> Vec<serde_json::Value> {
        let r = http::get(self.addr, "/sandbox/deliveries").send();
        serde_json::from_slice(&r.expect(200).body).expect("the delivery log")
    }
}

impl Drop for PaySandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET url` (an absolute `http://` URL, such as a payment page's).
pub fn get_url(url: &str) -> Response {
    let (addr, path) = split_url(url);
    http::get(addr, &path).send()
}

/// Submits a payment page's form the way a browser does: POST to `cashier_url` with the page's
/// hidden trade number and the button `action` pressed; the answer's status and body.
pub fn press(cashier_url: &str, html: &str, action: &str) -> (u16, String) {
    assert!(html.contains(r#"<form method="post" action="/cashier">"#), "no form in {html}");
    let field = "name=\"trade_no\" value=\"";
    let start = html.find(field).expect("hidden trade_no") + field.len();
    let trade_no = &html[start..start + html[start..].find('"').expect("quote")];
    let (addr, path) = split_url(cashier_url);
    let r = http::post(addr, &path)
        .content_type("application/x-www-form-urlencoded")
        .body(format!("trade_no={trade_no}&action={action}"))
        .send();
    (r.status, r.text())
}

/// Opens a payment page of the sandbox (the `url` an order answers with) like a browser and
/// presses "pay" (the page's form, POSTed); the page's status when it does not open.
pub fn pay_on_page(url: &str) -> u16 {
    let page = get_url(url);
    if page.status != 200 {
        return page.status;
    }
    let base = url.split("/gateway.do").next().expect("base");
    press(&format!("{base}/cashier"), &page.text(), "pay").0
}
