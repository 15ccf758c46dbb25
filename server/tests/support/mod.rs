//! Shared helpers for the server's integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod paysandbox;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use baoming_server::config::{Argon2Config, Config};
use baoming_server::state::App;
use baoming_server::store::{SledStorage, Storage};

/// The password of candidates the tests create.
pub const CANDIDATE_PASSWORD: &str = "Lantern-Harbor-42";

/// The demo operator password used by tests.
pub const OPERATOR_PASSWORD: &str = "Demo-Operator-Pass-1";

/// Test configuration. Argon2 runs with tiny parameters here, ONLY because tests set
/// `allow_weak_for_tests`; the production default stays at 19 MiB / t = 2.
pub fn test_config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        argon2: Argon2Config {
            memory_kib: 256,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 2,
            max_waiting: 256,
            allow_weak_for_tests: true,
        },
        demo_operator_password: Some(OPERATOR_PASSWORD.to_owned()),
        ..Config::default()
    }
}

/// An app on a temporary sled database.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub app: App,
}

impl TestApp {
    pub fn new() -> TestApp {
        TestApp::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let store: Arc<dyn Storage> = Arc::new(SledStorage::open(dir.path()).expect("open sled"));
        let app = baoming_server::app::build(config, store).expect("build app").app;
        TestApp { dir, app }
    }

    /// Serves this app's HTTP endpoints on a free local port, in-process, for tests that must
    /// also drive the server's own code; returns the address.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(baoming_server::api::serve_http(listener, self.app.clone(), std::future::pending()));
        addr
    }
}

/// A valid mainland resident ID number for `body17` (17 digits).
pub fn resident_id(body17: &str) -> String {
    let check = baoming_core::id_document::gb11643_check_char(body17).expect("17 digits");
    format!("{body17}{check}")
}

/// A minimal blocking HTTP/1.1 client for end-to-end tests (one request per connection).
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    http_with(addr, method, path, token, None, body)
}

/// [`http`] with an optional `Idempotency-Key` header.
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    idempotency_key: Option<&str>,
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(k) = idempotency_key {
        req.push_str(&format!("Idempotency-Key: {k}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    if let Some(b) = body {
        s.write_all(b)?;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP response"))
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).ok()?.trim(), 16).ok()?;
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body = out;
    }
    Some(HttpResponse { status, headers, body })
}

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_baoming-server");

/// Environment for test servers: tiny Argon2 parameters, explicitly allowed for tests only.
pub fn test_env(cmd: &mut Command) -> &mut Command {
    cmd.env("BAOMING_ARGON2__MEMORY_KIB", "256")
        .env("BAOMING_ARGON2__ALLOW_WEAK_FOR_TESTS", "true")
        .env("BAOMING_THROTTLE__ADDRESS_ATTEMPTS_PER_MINUTE", "1000000")
        .env("BAOMING_LOG", "warn")
        .env_remove("BAOMING_CONFIG")
        .env_remove("BAOMING_DATA_KEY")
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub banner: Vec<String>,
}

impl Server {
    /// Starts `baoming-server serve` on a free port with `data_dir`.
    pub fn start(data_dir: &Path) -> Server {
        let mut cmd = Command::new(BIN);
        test_env(&mut cmd)
            .args(["--data-dir"])
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("BAOMING_DEMO_OPERATOR_PASSWORD", OPERATOR_PASSWORD);
        Server::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut banner = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut addr = None;
        while Instant::now() < deadline && banner.len() < 5 {
            let mut line = String::new();
            if reader.read_line(&mut line).expect("read banner") == 0 {
                break;
            }
            if let Some(rest) = line.trim().strip_prefix("Baoming server listening on http://") {
                addr = Some(rest.parse::<SocketAddr>().expect("address"));
            }
            banner.push(line.trim_end().to_owned());
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let addr = addr.unwrap_or_else(|| panic!("no listening line in {banner:?}"));
        Server { child, addr, banner }
    }

    pub fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> HttpResponse {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
        http(self.addr, method, path, token, bytes.as_deref()).expect("http")
    }

    /// SIGTERM, then waits; returns the exit status success.
    pub fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }

    /// SIGKILL.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Registers candidate `login` (a new account) and returns (account id, token).
pub fn register_candidate(addr: SocketAddr, login: &str) -> (String, String) {
    let body = serde_json::to_vec(&serde_json::json!({ "login": login, "password": CANDIDATE_PASSWORD }))
        .expect("json");
    let r = http(addr, "POST", "/api/accounts", None, Some(&body)).expect("register");
    assert_eq!(r.status, 201, "register: {:?}", r.json());
    let v = r.json();
    (v["account_id"].as_str().expect("id").to_owned(), v["token"].as_str().expect("token").to_owned())
}

/// Registers candidate `login` if needed, then logs in; returns (account id, a fresh token).
pub fn candidate_session(addr: SocketAddr, login: &str) -> (String, String) {
    let body = serde_json::to_vec(&serde_json::json!({ "login": login, "password": CANDIDATE_PASSWORD }))
        .expect("json");
    let r = http(addr, "POST", "/api/accounts", None, Some(&body)).expect("register");
    assert!(r.status == 201 || r.status == 409, "register: {} {:?}", r.status, r.json());
    let r = http(addr, "POST", "/api/sessions", None, Some(&body)).expect("login");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    (v["account_id"].as_str().expect("id").to_owned(), v["token"].as_str().expect("token").to_owned())
}

/// The windows of a test catalog, in seconds relative to the moment it is generated, so that
/// tests never depend on the calendar.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// When registration opens (negative: in the past).
    pub registration_opens: i64,
    /// When registration closes (negative: already closed).
    pub registration_closes: i64,
    /// When every center's on-site confirmation window opens.
    pub onsite_opens: i64,
    /// When it closes.
    pub onsite_closes: i64,
    /// When the exam's admission-ticket printing window opens.
    pub printing_opens: i64,
    /// When it closes.
    pub printing_closes: i64,
}

impl Windows {
    /// Registration opened a day ago and stays open for thirty days.
    /// On-site confirmation runs from an hour ago to two days from now.
    pub const OPEN: Windows = Windows {
        registration_opens: -86_400,
        registration_closes: 30 * 86_400,
        onsite_opens: -3_600,
        onsite_closes: 2 * 86_400,
        printing_opens: 40 * 86_400,
        printing_closes: 48 * 86_400,
    };
    /// As [`Windows::OPEN`], with the printing window open from an hour ago for two days.
    pub const PRINTING: Windows =
        Windows { printing_opens: -3_600, printing_closes: 2 * 86_400, ..Windows::OPEN };
    /// Registration open as in [`Windows::OPEN`]; on-site confirmation opens in twenty days.
    pub const ONSITE_LATER: Windows =
        Windows { onsite_opens: 20 * 86_400, onsite_closes: 22 * 86_400, ..Windows::OPEN };
    /// Registration opened two days ago and closed a second ago.
    pub const CLOSED: Windows =
        Windows { registration_opens: -2 * 86_400, registration_closes: -1, ..Windows::OPEN };
}

/// `toml` (a catalog in the demo catalog's layout, e.g. `DEMO_CATALOG_TOML`) with every exam's
/// registration and printing windows set to `windows` around now (printing opens 40 days from now
/// unless the test moves it), and every on-site confirmation window set to `windows` too.
/// Only the one-line `registration = {…}`, `printing = {…}` and `window = {…}` entries are
/// rewritten; everything else is kept byte for byte.
pub fn catalog_around_now(toml: &str, windows: Windows) -> String {
    let at = |offset_secs: i64| {
        let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
        t.format(&time::format_description::well_known::Rfc3339).expect("format a time")
    };
    let window = |key: &str, opens: i64, closes: i64| {
        format!("{key} = {{ opens = \"{}\", closes = \"{}\" }}", at(opens), at(closes))
    };
    let mut out = String::with_capacity(toml.len());
    for line in toml.lines() {
        let trimmed = line.trim_start();
        let replaced = if trimmed.starts_with("registration = {") {
            window("registration", windows.registration_opens, windows.registration_closes)
        } else if trimmed.starts_with("printing = {") {
            window("printing", windows.printing_opens, windows.printing_closes)
        } else if trimmed.starts_with("window = {") {
            window("window", windows.onsite_opens, windows.onsite_closes)
        } else {
            line.to_owned()
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    out
}

/// The demo catalog with registration open from a day ago for thirty days.
pub fn open_demo_catalog() -> String {
    catalog_around_now(baoming_core::catalog::DEMO_CATALOG_TOML, Windows::OPEN)
}

/// Logs operator `username` in; returns the bearer token.
pub fn operator_login(addr: SocketAddr, username: &str, password: &str) -> String {
    let body =
        serde_json::to_vec(&serde_json::json!({ "username": username, "password": password })).expect("json");
    let r = http(addr, "POST", "/api/operator/sessions", None, Some(&body)).expect("operator login");
    assert_eq!(r.status, 200, "operator login: {:?}", r.json());
    r.json()["token"].as_str().expect("token").to_owned()
}

/// Imports `toml` through the administrator's catalog endpoint (`PUT /api/operator/catalog`),
/// as the demo administrator.
pub fn import_catalog(addr: SocketAddr, toml: &str) {
    let admin = operator_login(addr, "admin", OPERATOR_PASSWORD);
    let r = http(addr, "PUT", "/api/operator/catalog", Some(&admin), Some(toml.as_bytes())).expect("import");
    assert_eq!(r.status, 200, "catalog import: {:?}", r.json());
}

/// The demo exam the seeded catalog holds.
pub const DEMO_EXAM: &str = "ncre-2027-03";

/// The core's sample photo prepared with the demo exam's rules: (JPEG, width, height), made
/// once per test binary.
pub fn prepared_photo() -> (Vec<u8>, u32, u32) {
    static PHOTO: std::sync::OnceLock<(Vec<u8>, u32, u32)> = std::sync::OnceLock::new();
    PHOTO
        .get_or_init(|| {
            let catalog = baoming_core::Catalog::demo();
            let rules = &catalog.exam(DEMO_EXAM).expect("exam").photo;
            let source = include_bytes!("../../../core/assets/samples/photo.jpg");
            let p = baoming_core::photo::prepare(source, rules).expect("prepare");
            (p.jpeg, p.report.width.expect("w"), p.report.height.expect("h"))
        })
        .clone()
}

/// A candidate's device: the account, its session and a client on its own store folder.
pub struct CandidateDevice {
    pub account_id: String,
    pub token: String,
    pub client: baoming_client::SyncClient,
    pub store: tempfile::TempDir,
}

impl CandidateDevice {
    /// Registers candidate `login` and fills, on a new device, a draft complete for `center`
    /// and `subjects` (candidate number `n`, see [`fill_complete_draft`]), synced.
    pub async fn with_complete_draft(
        addr: SocketAddr,
        login: &str,
        n: u32,
        center: &str,
        subjects: &[&str],
    ) -> CandidateDevice {
        let (account_id, token) = register_candidate(addr, login);
        let store = tempfile::tempdir().expect("tempdir");
        let mut config =
            baoming_client::ClientConfig::new(store.path(), &format!("http://{addr}"), &account_id);
        config.connect_timeout = Duration::from_secs(10);
        let client = baoming_client::SyncClient::open(config, &token).expect("client");
        client.open_registration(DEMO_EXAM).expect("registration");
        fill_complete_draft(&client, n, "张三丰", center, subjects);
        client.sync_batch(Duration::from_secs(30)).await.expect("sync");
        CandidateDevice { account_id, token, client, store }
    }

    /// The device's heads, as the submit endpoint takes them.
    pub fn heads(&self) -> Vec<String> {
        self.client
            .edit(DEMO_EXAM, |d| Ok(d.heads()))
            .expect("heads")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Submits the device's current heads with Idempotency-Key `key`; the server's answer.
    pub fn submit(&self, addr: SocketAddr, key: &str) -> HttpResponse {
        let body = serde_json::to_vec(&serde_json::json!({ "heads": self.heads() })).expect("json");
        let path = format!("/api/registrations/{DEMO_EXAM}/submit");
        http_with(addr, "POST", &path, Some(&self.token), Some(key), Some(&body)).expect("submit")
    }
}

/// Fills `client`'s draft of the demo exam, offline, so that the server accepts it for
/// submission: candidate `n` (the resident ID number and the gender follow from it) named
/// `name`, at `center` for `subjects`, declared, with the prepared photo attached (it uploads on
/// the next sync). Returns the resident ID number.
pub fn fill_complete_draft(
    client: &baoming_client::SyncClient,
    n: u32,
    name: &str,
    center: &str,
    subjects: &[&str],
) -> String {
    use baoming_core::form::encode_id_document;
    use baoming_core::id_document::IdKind;

    let catalog = baoming_core::Catalog::demo();
    let exam = catalog.exam(DEMO_EXAM).expect("exam").clone();
    // Birth date 1990-01-01; the sequence's last digit decides the gender (odd = male).
    let id = resident_id(&format!("11010519900101{:03}", n % 1000));
    let gender = if n % 2 == 1 { "male" } else { "female" };
    client
        .edit(DEMO_EXAM, |d| {
            d.accept_agreement(&exam.agreement, 1)?;
            for (k, v) in [
                ("name", name),
                ("gender", gender),
                ("birth_date", "1990-01-01"),
                ("id_document", &encode_id_document(IdKind::ResidentId, &id)),
                ("ethnicity", "han"),
                ("mobile", "13800138000"),
                ("education", "bachelor"),
                ("occupation", "student"),
            ] {
                d.set_field(k, v)?;
            }
            d.choose_center(&exam, center)?;
            for s in subjects {
                d.add_subject(s)?;
            }
            d.declare(2)
        })
        .expect("fill");
    let (jpeg, w, h) = prepared_photo();
    client.attach_photo(DEMO_EXAM, &jpeg, w, h).expect("photo");
    id
}

/// Opens a payment page of the sandbox (the `url` an order answers with) like a browser and
/// presses "pay" (the page's form, POSTed); the page's status when it does not open.
pub fn pay_on_page(url: &str) -> u16 {
    let mut r = paysandbox::agent().get(url).call().expect("page");
    if r.status().as_u16() != 200 {
        return r.status().as_u16();
    }
    let html = r.body_mut().read_to_string().expect("html");
    let base = url.split("/gateway.do").next().expect("base");
    paysandbox::press(&format!("{base}/cashier"), &html, "pay").0
}
