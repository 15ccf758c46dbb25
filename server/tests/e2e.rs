//! End-to-end tests against the real `baoming-server` binary, started on a free port with a
//! temporary database, plus the admin command line and a SIGKILL crash test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use support::{BIN, OPERATOR_PASSWORD, Server, http, resident_id, test_env};

const PASSWORD: &str = "Lantern-Harbor-42";

fn admin(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    test_env(&mut cmd).arg("--data-dir").arg(data_dir).arg("admin").args(args);
    let out = cmd.output().expect("run admin");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_without_arguments_seeds_prints_login_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(BIN);
    // No arguments at all; only the port comes from the environment so parallel runs never clash.
    test_env(&mut cmd).current_dir(dir.path()).env("BAOMING_LISTEN", "127.0.0.1:0");
    let server = Server::spawn(cmd);
    assert!(dir.path().join("data").join("data.key").exists(), "key generated next to ./data");
    let line = server.banner.iter().find(|l| l.contains("demo operator")).expect("operator line");
    let password = line.split('`').nth(3).expect("password in banner").to_owned();
    assert!(server.banner.iter().any(|l| l.contains("seeded with the demo catalog")));

    let r = server.req("GET", "/healthz", None, None);
    assert_eq!(r.status, 200);
    let r = server.req("GET", "/api/exams", None, None);
    assert_eq!(r.json()[0]["id"], "ncre-2027-03");
    let r = server.req(
        "POST",
        "/api/operator/sessions",
        None,
        Some(json!({"username": "admin", "password": password})),
    );
    assert_eq!(r.status, 200, "the printed demo password logs in");
    assert!(server.stop(), "graceful exit on SIGTERM");

    // A restart keeps everything and does not seed again.
    let mut cmd = Command::new(BIN);
    test_env(&mut cmd).current_dir(dir.path()).env("BAOMING_LISTEN", "127.0.0.1:0");
    let server = Server::spawn(cmd);
    assert!(!server.banner.iter().any(|l| l.contains("seeded")), "{:?}", server.banner);
    let r = server.req(
        "POST",
        "/api/operator/sessions",
        None,
        Some(json!({"username": "admin", "password": password})),
    );
    assert_eq!(r.status, 200);
    assert!(server.stop());
}

#[test]
fn candidate_and_operator_flows_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path());
    let r =
        s.req("POST", "/api/accounts", None, Some(json!({"login": "e2e@example.org", "password": PASSWORD})));
    assert_eq!(r.status, 201);
    let token = r.json()["token"].as_str().expect("token").to_owned();
    let r =
        s.req("POST", "/api/accounts", None, Some(json!({"login": "e2e@example.org", "password": PASSWORD})));
    assert_eq!((r.status, r.json()["code"].as_str()), (409, Some("login_taken")));
    let r = http(s.addr, "POST", "/api/accounts", None, Some(b"{oops")).expect("http");
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("malformed_json")));
    let big = vec![b'x'; 200 * 1024];
    let r = http(s.addr, "POST", "/api/accounts", None, Some(&big)).expect("http");
    assert_eq!((r.status, r.json()["code"].as_str()), (413, Some("payload_too_large")));

    let id = resident_id("11010519900307001");
    let r = s.req(
        "PUT",
        "/api/account/profile",
        Some(&token),
        Some(json!({"legal_name": "端到端", "id_kind": "resident_id", "id_number": id})),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = s.req("GET", "/api/account/profile", Some(&token), None);
    assert_eq!(r.json()["gender"], "male");
    let r = s.req("GET", "/api/account", Some(&format!("bm_{}", "0".repeat(64))), None);
    assert_eq!(r.status, 401);

    let admin_token = s
        .req(
            "POST",
            "/api/operator/sessions",
            None,
            Some(json!({"username": "admin", "password": OPERATOR_PASSWORD})),
        )
        .json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = s.req(
        "POST",
        "/api/operator/operators",
        Some(&admin_token),
        Some(json!({"username": "chaoyang", "password": "Counter-Desk-58", "role": "center_operator", "centers": ["bj-chaoyang"]})),
    );
    assert_eq!(r.status, 201);
    let op = s
        .req(
            "POST",
            "/api/operator/sessions",
            None,
            Some(json!({"username": "chaoyang", "password": "Counter-Desk-58"})),
        )
        .json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let own = s.req("GET", "/api/operator/exams/ncre-2027-03/centers/bj-chaoyang/seats", Some(&op), None);
    assert_eq!(own.status, 200);
    let other = s.req("GET", "/api/operator/exams/ncre-2027-03/centers/bj-haidian/seats", Some(&op), None);
    assert_eq!((other.status, other.json()["code"].as_str()), (403, Some("forbidden")));
    let r = s.req("GET", "/api/exams/ncre-2027-03/availability", None, None);
    assert_eq!(r.status, 200);
    assert!(r.header("etag").is_some());
    assert!(s.stop());
    let (ok, out, err) = admin(dir.path(), &["audit-verify"]);
    assert!(ok, "{out}{err}");
}

#[test]
fn admin_cli_outbox_operators_catalog_backup_restore_and_tamper_detection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("db");
    let s = Server::start(&data);
    let r =
        s.req("POST", "/api/accounts", None, Some(json!({"login": "cli@example.org", "password": PASSWORD})));
    assert_eq!(r.status, 201);
    let r = s.req("POST", "/api/password-recovery", None, Some(json!({"login": "cli@example.org"})));
    assert_eq!(r.status, 202);
    // The CLI refuses to open a database the server holds.
    let (ok, _, err) = admin(&data, &["audit-verify"]);
    assert!(!ok && err.contains("stop it first"), "{err}");
    assert!(s.stop());

    let (ok, out, err) = admin(&data, &["outbox"]);
    assert!(ok, "{err}");
    assert!(out.contains("to cli@example.org") && out.contains("验证码"), "{out}");

    let (ok, out, err) = admin(
        &data,
        &["operator", "create", "dongcheng", "--role", "center_operator", "--center", "bj-dongcheng"],
    );
    assert!(ok, "{err}");
    let op_password =
        out.lines().find_map(|l| l.strip_prefix("password: ")).expect("generated password").to_owned();
    let mut cmd = Command::new(BIN);
    test_env(&mut cmd)
        .arg("--data-dir")
        .arg(&data)
        .args(["admin", "operator", "create", "inspector", "--role", "auditor"])
        .env("BAOMING_OPERATOR_PASSWORD", "Lookout-Desk-91");
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password:"), "given, not generated");
    let (ok, _, err) = admin(&data, &["operator", "create", "dongcheng", "--role", "auditor"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) =
        admin(&data, &["operator", "create", "nowhere", "--role", "center_operator", "--center", "mars-01"]);
    assert!(!ok && err.contains("mars-01"), "{err}");

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        baoming_core::catalog::DEMO_CATALOG_TOML.replace("subject_cap = 3", "subject_cap = 2"),
    )
    .expect("write");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[exam]]\nid = \"x\"\n").expect("write");
    let (ok, out, _) = admin(&data, &["catalog", "validate", good.to_str().expect("utf8")]);
    assert!(ok && out.contains("valid"), "{out}");
    let (ok, _, err) = admin(&data, &["catalog", "validate", bad.to_str().expect("utf8")]);
    assert!(!ok && !err.is_empty());
    let (ok, _, err) = admin(&data, &["catalog", "import", good.to_str().expect("utf8")]);
    assert!(ok, "{err}");

    let backup = dir.path().join("backup.jsonl");
    let (ok, out, err) = admin(&data, &["backup", backup.to_str().expect("utf8")]);
    assert!(ok && out.contains("records"), "{out}{err}");

    // Restore into a fresh folder with the same key, then serve from it.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).expect("mkdir");
    std::fs::copy(data.join("data.key"), restored.join("data.key")).expect("copy key");
    let (ok, out, err) = admin(&restored, &["restore", backup.to_str().expect("utf8")]);
    assert!(ok && out.contains("audit chain intact"), "{out}{err}");
    let (ok, _, err) = admin(&restored, &["restore", backup.to_str().expect("utf8")]);
    assert!(!ok && err.contains("empty"), "{err}");
    let s = Server::start(&restored);
    let r =
        s.req("POST", "/api/sessions", None, Some(json!({"login": "cli@example.org", "password": PASSWORD})));
    assert_eq!(r.status, 200, "accounts survive backup and restore");
    let r = s.req(
        "POST",
        "/api/operator/sessions",
        None,
        Some(json!({"username": "dongcheng", "password": op_password})),
    );
    assert_eq!(r.status, 200, "CLI-created operator logs in");
    let r = s.req(
        "POST",
        "/api/operator/sessions",
        None,
        Some(json!({"username": "inspector", "password": "Lookout-Desk-91"})),
    );
    assert_eq!(r.status, 200, "operator created with a password from the environment logs in");
    assert_eq!(s.req("GET", "/api/exams/ncre-2027-03", None, None).json()["subject_cap"], 2);
    assert!(s.stop());

    // A restored database with the wrong key refuses to start.
    let wrong = dir.path().join("wrongkey");
    std::fs::create_dir_all(&wrong).expect("mkdir");
    assert!(admin(&wrong, &["restore", backup.to_str().expect("utf8")]).0);
    let out = test_env(&mut Command::new(BIN))
        .arg("--data-dir")
        .arg(&wrong)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("data key"));

    // Reset an operator's password from the CLI; the old one stops working.
    let (ok, out, err) = admin(&data, &["operator", "reset-password", "dongcheng"]);
    assert!(ok, "{err}");
    let new_password =
        out.lines().find_map(|l| l.strip_prefix("password: ")).expect("new password").to_owned();
    let s = Server::start(&data);
    let login = |p: &str| {
        s.req("POST", "/api/operator/sessions", None, Some(json!({"username": "dongcheng", "password": p})))
            .status
    };
    assert_eq!(login(&op_password), 401);
    assert_eq!(login(&new_password), 200);
    assert!(s.stop());

    // Tamper with the audit tree directly: audit-verify must fail.
    let (ok, out, _) = admin(&data, &["audit-verify"]);
    assert!(ok, "{out}");
    tamper_audit_entry(&data, 2);
    let (ok, _, err) = admin(&data, &["audit-verify"]);
    assert!(!ok && err.contains("entry 2"), "{err}");
}

fn tamper_audit_entry(data: &Path, seq: u64) {
    let db = sled::open(data).expect("open sled");
    let tree = db.open_tree("audit").expect("tree");
    let raw = tree.get(seq.to_be_bytes()).expect("get").expect("entry");
    let text = String::from_utf8_lossy(&raw[1..]).replace("account.register", "account.regist3r");
    let mut edited = vec![raw[0]];
    edited.extend_from_slice(text.as_bytes());
    tree.insert(seq.to_be_bytes(), edited).expect("insert");
    db.flush().expect("flush");
}

/// Registrations and logins stream in while the server is SIGKILLed at random moments; after
/// each restart every acknowledged registration logs in, every acknowledged session token still
/// works, and finally the audit chain verifies.
#[test]
fn crash_test_sigkill_during_registrations_and_logins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("db");
    let acked_accounts: Arc<Mutex<Vec<String>>> = Arc::default();
    let acked_tokens: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rounds = 5;
    for round in 0..rounds {
        let s = Server::start(&data);
        // Everything acknowledged before must be present.
        for login in acked_accounts.lock().expect("lock").iter() {
            let r = s.req("POST", "/api/sessions", None, Some(json!({"login": login, "password": PASSWORD})));
            assert_eq!(r.status, 200, "round {round}: acknowledged account {login} lost");
        }
        for token in acked_tokens.lock().expect("lock").iter() {
            let r = s.req("GET", "/api/account", Some(token), None);
            assert_eq!(r.status, 200, "round {round}: acknowledged session lost");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..3 {
            let (addr, stop, accounts, tokens) =
                (s.addr, stop.clone(), acked_accounts.clone(), acked_tokens.clone());
            workers.push(std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let login = format!("crash-{round}-{w}-{i}@example.org");
                    let body =
                        serde_json::to_vec(&json!({"login": login, "password": PASSWORD})).expect("json");
                    match http(addr, "POST", "/api/accounts", None, Some(&body)) {
                        Ok(r) if r.status == 201 => {
                            accounts.lock().expect("lock").push(login.clone());
                            let r = http(addr, "POST", "/api/sessions", None, Some(&body));
                            if let Ok(r) = r
                                && r.status == 200
                                && let Some(t) = r.json()["token"].as_str()
                            {
                                tokens.lock().expect("lock").push(t.to_owned());
                            }
                        }
                        Ok(r) => panic!("unexpected status {} {:?}", r.status, r.json()),
                        Err(_) => break, // the server died mid-request: not acknowledged
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(150 + next() % 600));
        s.crash();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().expect("worker");
        }
    }
    let total = acked_accounts.lock().expect("lock").len();
    assert!(total > 20, "the stream made progress ({total} registrations)");
    let s = Server::start(&data);
    for login in acked_accounts.lock().expect("lock").iter() {
        let r = s.req("POST", "/api/sessions", None, Some(json!({"login": login, "password": PASSWORD})));
        assert_eq!(r.status, 200, "final: acknowledged account {login} lost");
    }
    assert!(s.stop());
    let (ok, out, err) = admin(&data, &["audit-verify"]);
    assert!(ok, "audit chain after crashes: {out}{err}");
}

/// Every remaining endpoint once over a real socket (the in-process tests cover the details).
#[test]
fn every_endpoint_answers_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path());
    assert_eq!(s.req("GET", "/readyz", None, None).status, 200);
    let captcha = s.req("POST", "/api/captcha", None, None);
    assert_eq!((captcha.status, captcha.header("content-type")), (200, Some("image/png")));
    assert!(captcha.header("x-captcha-id").is_some());
    assert!(baoming_server::identity::captcha::read_digits(&captcha.body).is_some());

    let r = s.req("POST", "/api/accounts", None, Some(json!({"login": "13812345678", "password": PASSWORD})));
    assert_eq!(r.status, 201);
    let token = r.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(s.req("GET", "/api/account/profile", Some(&token), None).status, 404);
    let r = s.req(
        "PUT",
        "/api/account/password",
        Some(&token),
        Some(json!({"current_password": PASSWORD, "new_password": "River-Stone-77"})),
    );
    assert_eq!(r.status, 200);
    let r = s.req("POST", "/api/password-recovery", None, Some(json!({"login": "13812345678"})));
    assert_eq!(r.status, 202);
    let r = s.req(
        "POST",
        "/api/password-recovery/reset",
        None,
        Some(json!({"login": "13812345678", "code": "abcdef", "new_password": "Maple-Window-31"})),
    );
    assert_eq!((r.status, r.json()["code"].as_str()), (422, Some("recovery_code_wrong")));
    assert_eq!(s.req("DELETE", "/api/sessions/current", Some(&token), None).status, 204);
    assert_eq!(s.req("GET", "/api/account", Some(&token), None).status, 401);

    for path in [
        "/api/catalog",
        "/api/exams",
        "/api/exams/ncre-2027-03",
        "/api/exams/ncre-2027-03/agreement",
        "/api/exams/ncre-2027-03/announcements",
        "/api/exams/ncre-2027-03/guide",
        "/api/exams/ncre-2027-03/form",
        "/api/exams/ncre-2027-03/centers",
        "/api/exams/ncre-2027-03/centers/bj-haidian",
        "/api/exams/ncre-2027-03/centers/bj-haidian/availability",
    ] {
        let r = s.req("GET", path, None, None);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("etag").is_some(), "{path}");
    }

    let admin = s
        .req(
            "POST",
            "/api/operator/sessions",
            None,
            Some(json!({"username": "admin", "password": OPERATOR_PASSWORD})),
        )
        .json()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(s.req("GET", "/api/operator/me", Some(&admin), None).json()["username"], "admin");
    assert_eq!(
        s.req("GET", "/api/operator/centers", Some(&admin), None).json().as_array().map(Vec::len),
        Some(4)
    );
    let audit = s.req("GET", "/api/operator/audit?limit=500", Some(&admin), None).json();
    let actions: Vec<&str> =
        audit.as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for a in [
        "system.seed",
        "account.register",
        "account.password_change",
        "account.recovery_start",
        "account.logout",
        "operator.login",
    ] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
    let toml = baoming_core::catalog::DEMO_CATALOG_TOML.as_bytes();
    let r = http(s.addr, "PUT", "/api/operator/catalog", Some(&admin), Some(toml)).expect("http");
    assert_eq!(r.status, 200);
    let r = s.req("POST", "/api/oauth/qq/start", None, None);
    assert_eq!((r.status, r.json()["code"].as_str()), (404, Some("not_found")), "no provider configured");
    assert_eq!(s.req("DELETE", "/api/operator/sessions/current", Some(&admin), None).status, 204);
    assert!(s.stop());
}
