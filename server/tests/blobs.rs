//! End-to-end tests of the photo blob endpoints against the real server binary: uploads that are
//! refused (and leave nothing behind), idempotent uploads, and who may read a photo — its owners,
//! and operators of the center that a registration referencing the photo chose.

mod support;

use std::net::SocketAddr;

use automerge::ActorId;
use baoming_core::api::blobs::{PhotoUploadAnswer, UploadQuery};
use baoming_core::api::error::ErrorCode;
use baoming_core::api::operator::{AuditEntry, AuditQuery, AuditVerification};
use baoming_core::api::paths;
use baoming_core::catalog::{Catalog, hex_sha256};
use baoming_core::document::{DocumentId, RegistrationDoc};
use baoming_core::photo::{PhotoRef, PhotoRules, prepare};

use support::{Response, admin_login, batch_sync, center_operator, get, put, raw, register_candidate};

const EXAM: &str = support::DEMO_EXAM;
static ASTRONAUT_PNG: &[u8] = include_bytes!("../../core/tests/photos/astronaut.png");

fn upload(addr: SocketAddr, path: &str, token: Option<&str>, body: &[u8]) -> Response {
    put(addr, path).token_opt(token).content_type(paths::JPEG).body(body).send()
}

fn read(addr: SocketAddr, digest: &str, token: Option<&str>) -> Response {
    get(addr, &paths::blob(digest)).token_opt(token).send()
}

/// Sends only the head of a request declaring `length` body bytes, and reads the answer: the
/// server must answer without waiting for the body.
fn declared_only(addr: SocketAddr, path: &str, token: &str, length: u64) -> Response {
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: image/jpeg\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    raw(addr, head.as_bytes()).expect("an answer before the body")
}

#[test]
#[allow(clippy::too_many_lines, reason = "one upload's checks, storage and readers in sequence")]
fn photo_blobs_are_checked_stored_once_and_readable_by_owners_and_their_centers_operators() {
    let rules = PhotoRules::default();
    let photo = prepare(ASTRONAUT_PNG, &rules).expect("the astronaut prepares").jpeg;
    let digest = hex_sha256(&photo);
    let path = paths::blob(&digest);

    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    let (alice_id, alice) = register_candidate(addr, "alice@example.org");
    let (_, bob) = register_candidate(addr, "bob@example.org");
    let admin = admin_login(addr);
    let haidian = center_operator(addr, &admin, "haidian", "bj-haidian");
    let chaoyang = center_operator(addr, &admin, "chaoyang", "bj-chaoyang");
    let nothing_stored = |digest: &str| {
        read(addr, digest, Some(&alice)).refused(404, ErrorCode::NotFound);
    };

    // ---- refusals, each leaving nothing behind --------------------------------------------
    upload(addr, &path, None, &photo).refused(401, ErrorCode::Unauthorized);
    nothing_stored(&digest);

    for bad in ["xyz", &digest[..63], &format!("{}g", &digest[..63]), &format!("{digest}00")] {
        let r = upload(addr, &paths::blob(bad), Some(&alice), &photo);
        assert_eq!(r.error_code(), (400, ErrorCode::BadRequest), "{bad}");
    }
    nothing_stored(&digest);

    let mut altered = photo.clone();
    let last = altered.len() - 3;
    altered[last] ^= 0x55;
    upload(addr, &path, Some(&alice), &altered).refused(422, ErrorCode::DigestMismatch);
    nothing_stored(&digest);
    nothing_stored(&hex_sha256(&altered));

    let garbage = b"this is not a photograph".repeat(1000);
    let rejected = upload(addr, &paths::blob(&hex_sha256(&garbage)), Some(&alice), &garbage)
        .refused(422, ErrorCode::PhotoRejected);
    let problems = rejected.problems.expect("problems");
    assert_eq!(problems[0].code, "photo_unknown_format", "{problems:?}");
    assert!(!problems[0].message_zh.is_empty());
    nothing_stored(&hex_sha256(&garbage));

    // A real JPEG that breaks the rules: the compliant photo cut to a third.
    let cut = &photo[..photo.len() / 3];
    let rejected = upload(addr, &paths::blob(&hex_sha256(cut)), Some(&alice), cut)
        .refused(422, ErrorCode::PhotoRejected);
    assert!(rejected.problems.as_ref().is_some_and(|p| !p.is_empty()), "{rejected:?}");
    assert!(rejected.report.is_some(), "the whole report comes along");
    nothing_stored(&hex_sha256(cut));

    // Oversized: refused from the declared length alone, without the body being sent.
    let too_big = u64::from(rules.max_bytes) + 64 * 1024 + 1;
    let r = declared_only(addr, &path, &alice, too_big).refused(413, ErrorCode::PayloadTooLarge);
    assert_eq!(r.limit_bytes, Some(u64::from(rules.max_bytes) + 64 * 1024));
    assert_eq!(r.rules_max_bytes, Some(rules.max_bytes));
    assert_eq!(declared_only(addr, &path, &alice, 50 << 20).status, 413);
    // No Content-Length, an unknown exam's rules.
    put(addr, &path).token(&alice).send().refused(411, ErrorCode::LengthRequired);
    let unknown_exam = format!("{path}{}", UploadQuery { exam: Some("no-such-exam".into()) }.query_string());
    upload(addr, &unknown_exam, Some(&alice), &photo).refused(404, ErrorCode::NotFound);
    nothing_stored(&digest);

    // ---- upload: 201, then 200 (idempotent) --------------------------------------------------
    let for_exam = format!("{path}{}", UploadQuery { exam: Some(EXAM.into()) }.query_string());
    let v: PhotoUploadAnswer = upload(addr, &for_exam, Some(&alice), &photo).expect(201).typed();
    assert_eq!(v.sha256, digest);
    assert_eq!(v.bytes, photo.len() as u64);
    let (width, height) = (v.width.expect("width"), v.height.expect("height"));
    assert!(width >= 144 && height >= 192, "{v:?}");
    assert!(v.report.problems.is_empty(), "{v:?}");
    let again = upload(addr, &paths::blob(&digest.to_ascii_uppercase()), Some(&alice), &photo);
    again.expect(200).typed::<PhotoUploadAnswer>();

    // ---- reads ------------------------------------------------------------------------------
    let r = read(addr, &digest, Some(&alice));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, photo);
    assert_eq!(r.header("content-type"), Some(paths::JPEG));
    assert_eq!(r.header(paths::ETAG), Some(format!("\"{digest}\"").as_str()));
    assert_eq!(r.header("cache-control"), Some("private, max-age=31536000, immutable"));
    let r = support::request(addr, "HEAD", &path).token(&alice).send();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some(photo.len().to_string().as_str()));

    // Another candidate: the blob does not exist for them, until they upload the same bytes.
    read(addr, &digest, Some(&bob)).refused(404, ErrorCode::NotFound);
    read(addr, &digest, None).refused(401, ErrorCode::Unauthorized);
    upload(addr, &path, Some(&bob), &photo).expect(201).typed::<PhotoUploadAnswer>();
    assert_eq!(read(addr, &digest, Some(&bob)).body, photo);

    // Operators: nothing references the photo yet.
    for op in [&haidian, &chaoyang, &admin] {
        read(addr, &digest, Some(op)).refused(404, ErrorCode::NotFound);
    }
    // Alice's draft chooses the Haidian center and references the photo.
    let catalog = Catalog::demo();
    let exam = catalog.exams.iter().find(|e| e.id == EXAM).expect("exam");
    let mut doc = RegistrationDoc::new(EXAM, ActorId::from(&[7u8; 16][..])).expect("doc");
    doc.choose_center(exam, "bj-haidian").expect("center");
    doc.set_photo(&PhotoRef { sha256: digest.clone(), bytes: photo.len() as u32, width, height })
        .expect("photo");
    batch_sync(addr, &alice, &mut doc, DocumentId::derive(EXAM, &alice_id));

    let r = read(addr, &digest, Some(&haidian));
    assert_eq!(r.expect(200).body, photo);
    read(addr, &digest, Some(&chaoyang)).refused(404, ErrorCode::NotFound);
    assert_eq!(read(addr, &digest, Some(&admin)).status, 200);

    // Operator reads are audited; candidate reads and refusals are not.
    let query = AuditQuery { from: 1, limit: 1000 }.query_string();
    let entries: Vec<AuditEntry> =
        get(addr, &format!("{}{query}", paths::OPERATOR_AUDIT)).token(&admin).send().typed();
    let reads: Vec<&AuditEntry> = entries.iter().filter(|e| e.action == "blob.read").collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0].target, digest);
    // The audit entry's detail is free-form.
    assert_eq!(reads[0].detail["center"], "bj-haidian");
    assert_eq!(reads[0].detail["account"], alice_id.as_str());
    let uploads = entries.iter().filter(|e| e.action == "blob.upload").count();
    assert_eq!(uploads, 2, "one per account that came to own the blob");
    let verified: AuditVerification = get(addr, paths::OPERATOR_AUDIT_VERIFY).token(&admin).send().typed();
    assert!(verified.intact, "{verified:?}");

    // The sealed blob survives a restart and is not stored in clear.
    drop(server);
    let server = support::start_server_in(dir.path());
    assert_eq!(read(server.addr, &digest, Some(&alice)).body, photo);
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

/// Where the frame size of `jpeg` is written: the height, then the width, in its SOF segment.
fn frame_size_at(jpeg: &[u8]) -> usize {
    let sof = jpeg
        .windows(2)
        .position(|w| w[0] == 0xFF && matches!(w[1], 0xC0..=0xC2))
        .expect("a start-of-frame segment");
    // Marker (2), length (2), precision (1).
    sof + 5
}

/// A real photo whose header claims a larger frame than its scan data fills, and one cut short,
/// are refused as damaged at upload and leave nothing behind: they would otherwise print.
#[test]
fn re_headed_and_truncated_photos_are_refused_as_damaged_and_nothing_is_stored() {
    let photo = prepare(ASTRONAUT_PNG, &PhotoRules::default()).expect("the astronaut prepares").jpeg;
    let server = support::start_server();
    let (_, alice) = register_candidate(server.addr, "alice@example.org");
    let at = frame_size_at(&photo);
    let mut damaged: Vec<(String, Vec<u8>)> = [(660u16, 960u16), (990, 1440), (1650, 2400)]
        .into_iter()
        .map(|(w, h)| {
            let mut file = photo.clone();
            file[at..at + 2].copy_from_slice(&h.to_be_bytes());
            file[at + 2..at + 4].copy_from_slice(&w.to_be_bytes());
            (format!("re-headed to {w}×{h}"), file)
        })
        .collect();
    let mut cut = photo[..photo.len() * 2 / 3].to_vec();
    cut.extend_from_slice(&[0xFF, 0xD9]);
    damaged.push(("cut to two thirds, with an end marker".into(), cut));
    for (what, file) in damaged {
        let digest = hex_sha256(&file);
        let refused = upload(server.addr, &paths::blob(&digest), Some(&alice), &file)
            .refused(422, ErrorCode::PhotoRejected);
        let codes: Vec<&str> = refused.problems.iter().flatten().map(|p| p.code.as_str()).collect();
        assert!(codes.contains(&"photo_data_damaged"), "{what}: {codes:?}");
        let problem =
            refused.problems.iter().flatten().find(|p| p.code == "photo_data_damaged").expect("damage");
        assert!(
            !problem.message_zh.is_empty() && !problem.message_en.is_empty(),
            "{what}: told in both languages"
        );
        read(server.addr, &digest, Some(&alice)).refused(404, ErrorCode::NotFound);
    }
    // The untouched photo is taken.
    let digest = hex_sha256(&photo);
    upload(server.addr, &paths::blob(&digest), Some(&alice), &photo).typed::<PhotoUploadAnswer>();
}
