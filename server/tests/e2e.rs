//! End-to-end tests against the real `baoming-server` binary, started on a free port with a
//! temporary database, plus the admin command line and a SIGKILL crash test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baoming_core::api::accounts::{
    LoginRequest, Profile, ProfileRequest, RecoveryRequest, RecoveryResetRequest, RegisterRequest,
    SessionAnswer,
};
use baoming_core::api::catalog::{CenterSeats, ExamAnswer, ExamSummary};
use baoming_core::api::error::ErrorCode;
use baoming_core::api::health::{Health, HealthStatus};
use baoming_core::api::operator::{AuditEntry, OperatorCenter, OperatorInfo, Role};
use baoming_core::api::paths;
use baoming_core::id_document::Gender;

use support::{
    CANDIDATE_PASSWORD, Response, Server, admin_login, create_operator, operator_session, post, resident_id,
    test_env, wait_until,
};

fn admin(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    support::server().admin(data_dir, args)
}

fn register(s: &Server, login: &str) -> Response {
    s.post(paths::ACCOUNTS)
        .json(&RegisterRequest { login: login.into(), password: CANDIDATE_PASSWORD.into() })
        .send()
}

fn login(s: &Server, login: &str, password: &str) -> Response {
    let req = LoginRequest {
        login: login.into(),
        password: password.into(),
        captcha_id: None,
        captcha_answer: None,
    };
    s.post(paths::SESSIONS).json(&req).send()
}

/// An operator's login answer: its status (the body is read through the contract when it is a
/// session).
fn operator_login_status(s: &Server, username: &str, password: &str) -> u16 {
    let req = baoming_core::api::operator::OperatorLoginRequest {
        username: username.into(),
        password: password.into(),
        captcha_id: None,
        captcha_answer: None,
    };
    let r = s.post(paths::OPERATOR_SESSIONS).json(&req).send();
    if r.status == 200 {
        r.typed::<baoming_core::api::operator::OperatorSessionAnswer>();
    } else {
        r.error();
    }
    r.status
}

#[test]
fn serve_without_arguments_seeds_prints_login_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No arguments at all; only the port comes from the environment so parallel runs never clash.
    let server = support::server().system_clock().without_arguments_in(dir.path()).start();
    assert!(dir.path().join("data").join("data.key").exists(), "key generated next to ./data");
    let line = server.banner.iter().find(|l| l.contains("demo operator")).expect("operator line");
    let password = line.split('`').nth(3).expect("password in banner").to_owned();
    assert!(server.banner.iter().any(|l| l.contains("seeded with the demo catalog")));

    assert_eq!(server.get(paths::HEALTHZ).send().typed::<Health>().status, HealthStatus::Ok);
    let exams: Vec<ExamSummary> = server.get(paths::EXAMS).send().typed();
    assert_eq!(exams[0].id, support::DEMO_EXAM);
    assert_eq!(operator_login_status(&server, "admin", &password), 200, "the printed demo password logs in");
    assert!(server.stop(), "graceful exit on SIGTERM");

    // A restart keeps everything and does not seed again.
    let server = support::server().system_clock().without_arguments_in(dir.path()).start();
    assert!(!server.banner.iter().any(|l| l.contains("seeded")), "{:?}", server.banner);
    assert_eq!(operator_login_status(&server, "admin", &password), 200);
    assert!(server.stop());
}

#[test]
fn candidate_and_operator_flows_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = support::start_server_in(dir.path());
    let token = register(&s, "e2e@example.org").expect(201).typed::<SessionAnswer>().token;
    register(&s, "e2e@example.org").refused(409, ErrorCode::LoginTaken);
    s.post(paths::ACCOUNTS).body("{oops").send().refused(400, ErrorCode::MalformedJson);
    let big = vec![b'x'; 200 * 1024];
    s.post(paths::ACCOUNTS).body(big).send().refused(413, ErrorCode::PayloadTooLarge);

    let id = resident_id("11010519900307001");
    let profile = ProfileRequest {
        legal_name: "端到端".into(),
        id_kind: "resident_id".into(),
        id_number: id.clone(),
        phone: None,
    };
    let stored: Profile = s.put(paths::ACCOUNT_PROFILE).token(&token).json(&profile).send().typed();
    assert_eq!(stored.id_number, id);
    let read: Profile = s.get(paths::ACCOUNT_PROFILE).token(&token).send().typed();
    assert_eq!(read.gender, Some(Gender::Male));
    s.get(paths::ACCOUNT)
        .token(&format!("bm_{}", "0".repeat(64)))
        .send()
        .refused(401, ErrorCode::Unauthorized);

    let admin_token = admin_login(s.addr);
    create_operator(
        s.addr,
        &admin_token,
        "chaoyang",
        "Counter-Desk-58",
        Role::CenterOperator,
        &["bj-chaoyang"],
    );
    let op = operator_session(s.addr, "chaoyang", "Counter-Desk-58").token;
    let own: CenterSeats =
        s.get(&paths::operator_seats(support::DEMO_EXAM, "bj-chaoyang")).token(&op).send().typed();
    assert_eq!(own.center, "bj-chaoyang");
    let other = s.get(&paths::operator_seats(support::DEMO_EXAM, "bj-haidian")).token(&op).send();
    other.refused(403, ErrorCode::Forbidden);
    let r = s.get(&paths::availability(support::DEMO_EXAM)).send();
    r.expect(200);
    assert!(r.header(paths::ETAG).is_some());
    assert!(s.stop());
    let (ok, out, err) = admin(dir.path(), &["audit-verify"]);
    assert!(ok, "{out}{err}");
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one operator's CLI session, command by command, on the same database"
)]
fn admin_cli_outbox_operators_catalog_backup_restore_and_tamper_detection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("db");
    let s = support::start_server_in(&data);
    register(&s, "cli@example.org").expect(201);
    let r =
        s.post(paths::PASSWORD_RECOVERY).json(&RecoveryRequest { login: "cli@example.org".into() }).send();
    r.expect(202);
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
    let (ok, out, err) = support::server()
        .env("BAOMING_OPERATOR_PASSWORD", "Lookout-Desk-91")
        .admin(&data, &["operator", "create", "inspector", "--role", "auditor"]);
    assert!(ok, "{err}");
    assert!(!out.contains("password:"), "given, not generated");
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
    let s = support::start_server_in(&restored);
    login(&s, "cli@example.org", CANDIDATE_PASSWORD).typed::<SessionAnswer>();
    assert_eq!(operator_login_status(&s, "dongcheng", &op_password), 200, "CLI-created operator logs in");
    assert_eq!(
        operator_login_status(&s, "inspector", "Lookout-Desk-91"),
        200,
        "operator created with a password from the environment logs in"
    );
    assert_eq!(s.get(&paths::exam(support::DEMO_EXAM)).send().typed::<ExamAnswer>().subject_cap, 2);
    assert!(s.stop());

    // A restored database with the wrong key refuses to start.
    let wrong = dir.path().join("wrongkey");
    std::fs::create_dir_all(&wrong).expect("mkdir");
    assert!(admin(&wrong, &["restore", backup.to_str().expect("utf8")]).0);
    let out = test_env(&mut Command::new(support::BIN))
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
    let s = support::start_server_in(&data);
    assert_eq!(operator_login_status(&s, "dongcheng", &op_password), 401);
    assert_eq!(operator_login_status(&s, "dongcheng", &new_password), 200);
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

/// Registrations and logins stream in while the server is SIGKILLed at random moments (after a
/// random number of acknowledged registrations); after each restart every acknowledged
/// registration logs in, every acknowledged session token still works, and finally the audit
/// chain verifies.
#[test]
fn crash_test_sigkill_during_registrations_and_logins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: PathBuf = dir.path().join("db");
    let acked_accounts: Arc<Mutex<Vec<String>>> = Arc::default();
    let acked_tokens: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut seed = u64::try_from(support::now_ms()).unwrap_or(7) | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rounds = 5;
    for round in 0..rounds {
        let s = support::start_server_in(&data);
        // Everything acknowledged before must be present.
        for account in acked_accounts.lock().expect("lock").iter() {
            let r = login(&s, account, CANDIDATE_PASSWORD);
            assert_eq!(r.status, 200, "round {round}: acknowledged account {account} lost");
        }
        for token in acked_tokens.lock().expect("lock").iter() {
            let r = s.get(paths::ACCOUNT).token(token).send();
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
                    let account = format!("crash-{round}-{w}-{i}@example.org");
                    let body =
                        RegisterRequest { login: account.clone(), password: CANDIDATE_PASSWORD.into() };
                    match post(addr, paths::ACCOUNTS).json(&body).try_send() {
                        Ok(r) if r.status == 201 => {
                            accounts.lock().expect("lock").push(account.clone());
                            let body = LoginRequest {
                                login: account,
                                password: CANDIDATE_PASSWORD.into(),
                                captcha_id: None,
                                captcha_answer: None,
                            };
                            if let Ok(r) = post(addr, paths::SESSIONS).json(&body).try_send()
                                && r.status == 200
                            {
                                tokens.lock().expect("lock").push(r.typed::<SessionAnswer>().token);
                            }
                        }
                        Ok(r) => panic!("unexpected status {} {}", r.status, r.text()),
                        Err(_) => break, // the server died mid-request: not acknowledged
                    }
                }
            }));
        }
        // Crash after a random number of further acknowledged registrations.
        let target =
            acked_accounts.lock().expect("lock").len() + 3 + usize::try_from(next() % 40).unwrap_or(0);
        wait_until("registrations to be acknowledged", Duration::from_secs(60), || {
            acked_accounts.lock().expect("lock").len() >= target
        });
        s.crash();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().expect("worker");
        }
    }
    let total = acked_accounts.lock().expect("lock").len();
    assert!(total > 20, "the stream made progress ({total} registrations)");
    let s = support::start_server_in(&data);
    for account in acked_accounts.lock().expect("lock").iter() {
        let r = login(&s, account, CANDIDATE_PASSWORD);
        assert_eq!(r.status, 200, "final: acknowledged account {account} lost");
    }
    assert!(s.stop());
    let (ok, out, err) = admin(&data, &["audit-verify"]);
    assert!(ok, "audit chain after crashes: {out}{err}");
}

/// Every remaining endpoint once over a real socket (the in-process tests cover the details).
#[test]
fn every_endpoint_answers_over_the_socket() {
    let s = support::start_server();
    assert_eq!(s.get(paths::READYZ).send().typed::<Health>().status, HealthStatus::Ready);
    let captcha = s.post(paths::CAPTCHA).send();
    assert_eq!((captcha.status, captcha.header("content-type")), (200, Some(paths::PNG)));
    assert!(captcha.header(paths::CAPTCHA_ID).is_some());
    assert!(baoming_server::identity::captcha::read_digits(&captcha.body).is_some());

    let token = register(&s, "13812345678").expect(201).typed::<SessionAnswer>().token;
    s.get(paths::ACCOUNT_PROFILE).token(&token).send().refused(404, ErrorCode::NotFound);
    let change = baoming_core::api::accounts::PasswordChangeRequest {
        current_password: CANDIDATE_PASSWORD.into(),
        new_password: "River-Stone-77".into(),
    };
    s.put(paths::ACCOUNT_PASSWORD)
        .token(&token)
        .json(&change)
        .send()
        .typed::<baoming_core::api::accounts::PasswordChangeAnswer>();
    let r = s.post(paths::PASSWORD_RECOVERY).json(&RecoveryRequest { login: "13812345678".into() }).send();
    r.expect(202);
    let reset = RecoveryResetRequest {
        login: "13812345678".into(),
        code: "abcdef".into(),
        new_password: "Maple-Window-31".into(),
    };
    s.post(paths::PASSWORD_RECOVERY_RESET).json(&reset).send().refused(422, ErrorCode::RecoveryCodeWrong);
    assert_eq!(s.delete(paths::SESSIONS_CURRENT).token(&token).send().status, 204);
    s.get(paths::ACCOUNT).token(&token).send().refused(401, ErrorCode::Unauthorized);

    let exam = support::DEMO_EXAM;
    for path in [
        paths::CATALOG.to_owned(),
        paths::EXAMS.to_owned(),
        paths::exam(exam),
        paths::exam_part(exam, paths::ExamPart::Agreement),
        paths::exam_part(exam, paths::ExamPart::Announcements),
        paths::exam_part(exam, paths::ExamPart::Guide),
        paths::exam_part(exam, paths::ExamPart::Form),
        paths::exam_part(exam, paths::ExamPart::Centers),
        paths::exam_center(exam, "bj-haidian"),
        paths::center_availability(exam, "bj-haidian"),
    ] {
        let r = s.get(&path).send();
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header(paths::ETAG).is_some(), "{path}");
    }

    let admin = admin_login(s.addr);
    let me: OperatorInfo = s.get(paths::OPERATOR_ME).token(&admin).send().typed();
    assert_eq!((me.username.as_str(), me.role), ("admin", Role::Administrator));
    let centers: Vec<OperatorCenter> = s.get(paths::OPERATOR_CENTERS).token(&admin).send().typed();
    assert_eq!(centers.len(), 4);
    let audit: Vec<AuditEntry> =
        s.get(&format!("{}?limit=500", paths::OPERATOR_AUDIT)).token(&admin).send().typed();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
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
    let toml = baoming_core::catalog::DEMO_CATALOG_TOML;
    s.put(paths::OPERATOR_CATALOG).token(&admin).body(toml).send().expect(200);
    s.post(&paths::oauth_start("qq")).send().refused(404, ErrorCode::NotFound);
    assert_eq!(s.delete(paths::OPERATOR_SESSIONS_CURRENT).token(&admin).send().status, 204);
    assert!(s.stop());
}
