//! End-to-end tests of the photo blob endpoints against the real server binary: uploads that are
//! refused (and leave nothing behind), idempotent uploads, and who may read a photo — its owners,
//! and operators of the center that a registration referencing the photo chose.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use automerge::ActorId;
use baoming_core::catalog::Catalog;
use baoming_core::document::{DocumentId, RegistrationDoc};
use baoming_core::photo::{PhotoRef, PhotoRules, prepare};
use baoming_core::sync::PeerSync;
use baoming_core::wire::{BatchRequest, BatchResponse};
use serde_json::{Value, json};

use support::{HttpResponse, OPERATOR_PASSWORD, Server, http, register_candidate};

const EXAM: &str = "ncre-2027-03";
static ASTRONAUT_PNG: &[u8] = include_bytes!("../../core/tests/photos/astronaut.png");

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

fn account(addr: SocketAddr, login: &str) -> (String, String) {
    register_candidate(addr, login)
}

fn operator_token(server: &Server, username: &str, password: &str) -> String {
    let r = server.req(
        "POST",
        "/api/operator/sessions",
        None,
        Some(json!({ "username": username, "password": password })),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()["token"].as_str().expect("token").to_owned()
}

fn center_operator(server: &Server, admin: &str, username: &str, center: &str) -> String {
    let password = "Counter-Desk-58";
    let r = server.req(
        "POST",
        "/api/operator/operators",
        Some(admin),
        Some(json!({ "username": username, "password": password, "role": "center_operator", "centers": [center] })),
    );
    assert_eq!(r.status, 201, "{:?}", r.json());
    operator_token(server, username, password)
}

fn put(addr: SocketAddr, path: &str, token: Option<&str>, body: &[u8]) -> HttpResponse {
    http(addr, "PUT", path, token, Some(body)).expect("put")
}

fn get(addr: SocketAddr, digest: &str, token: Option<&str>) -> HttpResponse {
    http(addr, "GET", &format!("/api/blobs/{digest}"), token, None).expect("get")
}

/// Sends only the head of a request declaring `length` body bytes, and reads the answer: the
/// server must answer without waiting for the body.
fn declared_only(addr: SocketAddr, path: &str, token: &str, length: u64) -> HttpResponse {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/jpeg\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("write head");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the end of the JSON body (the server may keep the socket open for the body).
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.ends_with(b"}") {
            break;
        }
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let text = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
    HttpResponse { status, headers: Vec::new(), body: raw[end + 4..].to_vec() }
}

fn code(r: &HttpResponse) -> String {
    r.json()["code"].as_str().unwrap_or_default().to_owned()
}

/// A candidate's device syncing its draft through the HTTP batch form.
fn sync_draft(addr: SocketAddr, token: &str, doc: &mut RegistrationDoc, doc_id: DocumentId) {
    let mut sync = PeerSync::new();
    for round in 0.. {
        assert!(round < 20, "batch sync does not settle");
        let messages: Vec<Vec<u8>> = sync.generate(doc).into_iter().collect();
        let req =
            BatchRequest { document_id: doc_id.to_string(), storage_id: None, messages: messages.clone() };
        let r = http(addr, "POST", "/api/sync/batch", Some(token), Some(&req.encode())).expect("batch");
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        let resp = BatchResponse::decode(&r.body).expect("batch response");
        assert!(resp.refused.is_none(), "refused: {:?}", resp.refused);
        for m in &resp.messages {
            sync.receive_trusted(doc, m).expect("apply");
        }
        if messages.is_empty() && resp.messages.is_empty() {
            return;
        }
    }
}

#[test]
fn photo_blobs_are_checked_stored_once_and_readable_by_owners_and_their_centers_operators() {
    let rules = PhotoRules::default();
    let photo = prepare(ASTRONAUT_PNG, &rules).expect("the astronaut prepares").jpeg;
    let digest = sha_hex(&photo);
    let path = format!("/api/blobs/{digest}");

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let addr = server.addr;
    let (alice_id, alice) = account(addr, "alice@example.org");
    let (_, bob) = account(addr, "bob@example.org");
    let admin = operator_token(&server, "admin", OPERATOR_PASSWORD);
    let haidian = center_operator(&server, &admin, "haidian", "bj-haidian");
    let chaoyang = center_operator(&server, &admin, "chaoyang", "bj-chaoyang");
    let nothing_stored = |digest: &str| {
        let r = get(addr, digest, Some(&alice));
        assert_eq!((r.status, code(&r).as_str()), (404, "not_found"), "{:?}", r.json());
    };

    // ---- refusals, each leaving nothing behind --------------------------------------------
    let r = put(addr, &path, None, &photo);
    assert_eq!((r.status, code(&r).as_str()), (401, "unauthorized"));
    nothing_stored(&digest);

    for bad in ["xyz", &digest[..63], &format!("{}g", &digest[..63]), &format!("{digest}00")] {
        let r = put(addr, &format!("/api/blobs/{bad}"), Some(&alice), &photo);
        assert_eq!((r.status, code(&r).as_str()), (400, "bad_request"), "{bad}: {:?}", r.json());
    }
    nothing_stored(&digest);

    let mut altered = photo.clone();
    let last = altered.len() - 3;
    altered[last] ^= 0x55;
    let r = put(addr, &path, Some(&alice), &altered);
    assert_eq!((r.status, code(&r).as_str()), (422, "digest_mismatch"), "{:?}", r.json());
    nothing_stored(&digest);
    nothing_stored(&sha_hex(&altered));

    let garbage = b"this is not a photograph".repeat(1000);
    let r = put(addr, &format!("/api/blobs/{}", sha_hex(&garbage)), Some(&alice), &garbage);
    assert_eq!((r.status, code(&r).as_str()), (422, "photo_rejected"), "{:?}", r.json());
    let problems = r.json()["problems"].clone();
    assert_eq!(problems[0]["code"], "photo_unknown_format", "{problems}");
    assert!(problems[0]["message_zh"].as_str().is_some_and(|m| !m.is_empty()));
    nothing_stored(&sha_hex(&garbage));

    // A real JPEG that breaks the rules: the compliant photo cut to a third.
    let cut = &photo[..photo.len() / 3];
    let r = put(addr, &format!("/api/blobs/{}", sha_hex(cut)), Some(&alice), cut);
    assert_eq!((r.status, code(&r).as_str()), (422, "photo_rejected"), "{:?}", r.json());
    let codes: Vec<String> = r.json()["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["code"].as_str().expect("code").to_owned())
        .collect();
    assert!(!codes.is_empty(), "{:?}", r.json());
    assert!(r.json()["report"]["problems"].is_array(), "the whole report comes along");
    nothing_stored(&sha_hex(cut));

    // Oversized: refused from the declared length alone, without the body being sent.
    let too_big = u64::from(rules.max_bytes) + 64 * 1024 + 1;
    let r = declared_only(addr, &path, &alice, too_big);
    assert_eq!((r.status, code(&r).as_str()), (413, "payload_too_large"), "{:?}", r.json());
    assert_eq!(r.json()["limit_bytes"], u64::from(rules.max_bytes) + 64 * 1024);
    assert_eq!(r.json()["rules_max_bytes"], rules.max_bytes);
    let r = declared_only(addr, &path, &alice, 50 << 20);
    assert_eq!(r.status, 413);
    // No Content-Length, an unknown exam's rules.
    let r = http(addr, "PUT", &path, Some(&alice), None).expect("no body");
    assert_eq!((r.status, code(&r).as_str()), (411, "length_required"), "{:?}", r.json());
    let r = put(addr, &format!("{path}?exam=no-such-exam"), Some(&alice), &photo);
    assert_eq!(r.status, 404, "{:?}", r.json());
    nothing_stored(&digest);

    // ---- upload: 201, then 200 (idempotent) --------------------------------------------------
    let r = put(addr, &format!("{path}?exam={EXAM}"), Some(&alice), &photo);
    assert_eq!(r.status, 201, "{:?}", r.json());
    let v = r.json();
    assert_eq!(v["sha256"], digest.as_str());
    assert_eq!(v["bytes"], photo.len());
    assert!(v["width"].as_u64().is_some_and(|w| w >= 144) && v["height"].as_u64().is_some_and(|h| h >= 192));
    assert_eq!(v["report"]["problems"], json!([]));
    let (width, height) = (v["width"].as_u64().expect("w") as u32, v["height"].as_u64().expect("h") as u32);
    let r = put(addr, &format!("/api/blobs/{}", digest.to_ascii_uppercase()), Some(&alice), &photo);
    assert_eq!(r.status, 200, "the same bytes again (upper-case digest): {:?}", r.json());

    // ---- reads ------------------------------------------------------------------------------
    let r = get(addr, &digest, Some(&alice));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, photo);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));
    assert_eq!(r.header("cache-control"), Some("private, max-age=31536000, immutable"));
    let r = http(addr, "HEAD", &path, Some(&alice), None).expect("head");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some(photo.len().to_string().as_str()));

    // Another candidate: the blob does not exist for them, until they upload the same bytes.
    let r = get(addr, &digest, Some(&bob));
    assert_eq!((r.status, code(&r).as_str()), (404, "not_found"));
    let r = get(addr, &digest, None);
    assert_eq!(r.status, 401);
    let r = put(addr, &path, Some(&bob), &photo);
    assert_eq!(r.status, 201, "new for bob, although the bytes are stored: {:?}", r.json());
    assert_eq!(get(addr, &digest, Some(&bob)).body, photo);

    // Operators: nothing references the photo yet.
    for op in [&haidian, &chaoyang, &admin] {
        assert_eq!(get(addr, &digest, Some(op)).status, 404);
    }
    // Alice's draft chooses the Haidian center and references the photo.
    let catalog = Catalog::demo();
    let exam = catalog.exams.iter().find(|e| e.id == EXAM).expect("exam");
    let mut doc = RegistrationDoc::new(EXAM, ActorId::from(&[7u8; 16][..])).expect("doc");
    doc.choose_center(exam, "bj-haidian").expect("center");
    doc.set_photo(&PhotoRef { sha256: digest.clone(), bytes: photo.len() as u32, width, height })
        .expect("photo");
    sync_draft(addr, &alice, &mut doc, DocumentId::derive(EXAM, &alice_id));

    let r = get(addr, &digest, Some(&haidian));
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.body, photo);
    let r = get(addr, &digest, Some(&chaoyang));
    assert_eq!((r.status, code(&r).as_str()), (404, "not_found"), "another center's operator");
    assert_eq!(get(addr, &digest, Some(&admin)).status, 200);

    // Operator reads are audited; candidate reads and refusals are not.
    let r = server.req("GET", "/api/operator/audit?from=1&limit=1000", Some(&admin), None);
    let entries = r.json();
    let reads: Vec<&Value> =
        entries.as_array().expect("entries").iter().filter(|e| e["action"] == "blob.read").collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0]["target"], digest.as_str());
    assert_eq!(reads[0]["detail"]["center"], "bj-haidian");
    assert_eq!(reads[0]["detail"]["account"], alice_id.as_str());
    let uploads =
        entries.as_array().expect("entries").iter().filter(|e| e["action"] == "blob.upload").count();
    assert_eq!(uploads, 2, "one per account that came to own the blob");
    let r = server.req("GET", "/api/operator/audit/verify", Some(&admin), None);
    assert_eq!(r.json()["intact"], true);

    // The sealed blob survives a restart and is not stored in clear.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(get(server.addr, &digest, Some(&alice)).body, photo);
    drop(server);
    let clear_hits = walk(dir.path()).into_iter().filter(|f| contains(f, &photo[200..264])).count();
    assert_eq!(clear_hits, 0, "photo bytes found in clear in the database");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(file: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read(file).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false)
}
