//! Documents and the exam day: the exam's signing key and rooms in the catalog, room
//! arrangement, the registration form and admission ticket downloads, and the check-in scan.
//!
//! Against the real server binary: the refusals, and a candidate's whole way from a complete
//! draft through payment on the embedded sandbox's page to the printed ticket, the ticket number
//! in the device's document and the check-in. The arrangement's rules over several candidates
//! (order, newcomers, capacity, on-site confirmation, released and superseded tickets) run
//! in-process, where the test sets statuses through the storage layer instead of paying and
//! confirming each candidate.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baoming_client::SyncClient;
use baoming_core::document::DocumentId;
use baoming_core::lifecycle::Status;
use baoming_core::ticket::{self, TicketPayload};
use baoming_server::registration::record::load_record;
use baoming_server::store::{Tree, Txn, encode};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use serde_json::{Value, json};

use support::{
    CandidateDevice, HttpResponse, OPERATOR_PASSWORD, Server, Windows, catalog_around_now, http, http_with,
};

const EXAM: &str = "ncre-2027-03";
/// A center with three rooms of 30 seats and no review.
const ROOMS: &str = "bj-changping";
/// A center without rooms.
const NO_ROOMS: &str = "bj-haidian";
/// A center that requires on-site confirmation.
const ONSITE: &str = "bj-chaoyang";
const SYNC: Duration = Duration::from_secs(30);
const ONE_MB: usize = 1024 * 1024;

fn printing_catalog() -> String {
    catalog_around_now(baoming_core::catalog::DEMO_CATALOG_TOML, Windows::PRINTING)
}

fn send(addr: SocketAddr, method: &str, path: &str, token: &str, body: Option<Value>) -> HttpResponse {
    let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
    http(addr, method, path, Some(token), bytes.as_deref()).expect("http")
}

fn doc(addr: SocketAddr, token: &str, what: &str) -> HttpResponse {
    send(addr, "GET", &format!("/api/registrations/{EXAM}/documents/{what}"), token, None)
}

fn arrange(addr: SocketAddr, token: &str, center: &str, method: &str) -> HttpResponse {
    send(addr, method, &format!("/api/operator/exams/{EXAM}/centers/{center}/arrangement"), token, None)
}

fn scan(addr: SocketAddr, token: &str, code: &str) -> HttpResponse {
    send(addr, "POST", &format!("/api/operator/exams/{EXAM}/check-in"), token, Some(json!({ "code": code })))
}

fn refused(r: &HttpResponse, status: u16, code: &str) -> Value {
    let v = r.json();
    assert_eq!((r.status, v["code"].as_str()), (status, Some(code)), "{v}");
    v
}

fn center_operator(addr: SocketAddr, admin: &str, username: &str, center: &str) -> String {
    let body = json!({ "username": username, "password": OPERATOR_PASSWORD, "role": "center_operator", "centers": [center] });
    let r = send(addr, "POST", "/api/operator/operators", admin, Some(body));
    assert!(r.status == 200 || r.status == 201, "{:?}", r.json());
    support::operator_login(addr, username, OPERATOR_PASSWORD)
}

fn public_key(addr: SocketAddr) -> Vec<u8> {
    let r = http(addr, "GET", &format!("/api/exams/{EXAM}"), None, None).expect("exam");
    assert_eq!(r.status, 200);
    let key = r.json()["public_key"].as_str().expect("the exam publishes its public key").to_owned();
    assert_eq!(key.len(), 64, "32 bytes in hex: {key}");
    hex_decode(&key)
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

fn foreign_code(ticket_number: &str, center: &str) -> String {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
    let payload = TicketPayload {
        exam: EXAM.into(),
        ticket_number: ticket_number.into(),
        name: "张三丰".into(),
        id_masked: "110105********0011".into(),
        center: center.into(),
        sittings: vec![ticket::Sitting {
            subject: "15".into(),
            slot: "sat-am".into(),
            room: "001".into(),
            seat: 1,
        }],
        issued_at_ms: 1,
    };
    ticket::sign_ticket(&payload, &key)
}

/// A candidate whose draft is complete for `center` and `subjects`, synced and submitted.
struct Candidate {
    addr: SocketAddr,
    account_id: String,
    token: String,
    client: SyncClient,
    _dir: tempfile::TempDir,
}

impl Candidate {
    async fn submitted(addr: SocketAddr, n: u32, center: &str, subjects: &[&str]) -> Candidate {
        let device =
            CandidateDevice::with_complete_draft(addr, &format!("doc{n}@example.org"), n, center, subjects)
                .await;
        let r = device.submit(addr, &format!("submit-{n}"));
        assert_eq!(r.status, 200, "submit: {:?}", r.json());
        let CandidateDevice { account_id, token, client, store } = device;
        Candidate { addr, account_id, token, client, _dir: store }
    }

    fn id(&self) -> DocumentId {
        DocumentId::derive(EXAM, &self.account_id)
    }

    fn status(&self) -> Value {
        let r = send(self.addr, "GET", &format!("/api/registrations/{EXAM}"), &self.token, None);
        assert_eq!(r.status, 200, "{:?}", r.json());
        r.json()
    }

    /// Opens the payment order; returns (out_trade_no, payment page URL).
    fn open_order(&self) -> (String, String) {
        let path = format!("/api/registrations/{EXAM}/pay");
        let r =
            http_with(self.addr, "POST", &path, Some(&self.token), Some("pay-1"), Some(b"")).expect("pay");
        assert_eq!(r.status, 200, "pay: {:?}", r.json());
        let v = r.json();
        assert_eq!(v["status"], "awaiting_payment", "{v}");
        let p = &v["payment"];
        (p["out_trade_no"].as_str().expect("order").to_owned(), p["url"].as_str().expect("url").to_owned())
    }

    /// Presses "I have paid, refresh" until the registration is paid.
    fn refresh_until_paid(&self) {
        let started = std::time::Instant::now();
        loop {
            let path = format!("/api/registrations/{EXAM}/payment/refresh");
            let r = http(self.addr, "POST", &path, Some(&self.token), Some(b"")).expect("refresh");
            assert_eq!(r.status, 200, "refresh: {:?}", r.json());
            if self.status()["status"] == "paid" {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "not paid: {}", self.status());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_catalog_publishes_a_stable_exam_key_and_the_rooms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let addr = server.addr;
    support::import_catalog(addr, &support::open_demo_catalog());
    let key = public_key(addr);
    let r = http(addr, "GET", "/api/catalog", None, None).expect("catalog");
    let catalog = r.json();
    let exam = &catalog["exam"][0];
    assert_eq!(exam["public_key"].as_str().map(hex_decode), Some(key.clone()), "the same key in every view");
    let centers = exam["center"].as_array().expect("centers");
    let rooms_of = |id: &str| centers.iter().find(|c| c["id"] == id).expect("center")["room"].clone();
    assert_eq!(rooms_of(ROOMS).as_array().map(Vec::len), Some(3), "{}", rooms_of(ROOMS));
    assert_eq!(rooms_of(ROOMS)[0]["capacity"], 30);
    assert_eq!(rooms_of(ROOMS)[0]["name"]["zh"], "第001考场（图书馆301）");
    assert!(rooms_of(NO_ROOMS).is_null(), "rooms are optional");

    // A re-import and a restart keep the key: printed tickets keep verifying.
    support::import_catalog(addr, &printing_catalog());
    assert_eq!(public_key(addr), key);
    assert!(server.stop());
    let server = Server::start(dir.path());
    assert_eq!(public_key(server.addr), key);

    // A catalog with a broken room is refused with the room's path.
    let admin = support::operator_login(server.addr, "admin", OPERATOR_PASSWORD);
    let broken = printing_catalog().replacen("\ncapacity = 30\n", "\ncapacity = 0\n", 1);
    let r = http(server.addr, "PUT", "/api/operator/catalog", Some(&admin), Some(broken.as_bytes()))
        .expect("import");
    let v = refused(&r, 422, "catalog_invalid");
    assert!(v["message"].as_str().is_some_and(|m| m.contains("room[001]") && m.contains("capacity")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn documents_arrangement_and_check_in_are_refused_until_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let addr = server.addr;
    support::import_catalog(addr, &support::open_demo_catalog());
    let admin = support::operator_login(addr, "admin", OPERATOR_PASSWORD);
    let submitted = Candidate::submitted(addr, 1, ROOMS, &["15"]).await;
    let (_, bystander) = support::register_candidate(addr, "bystander@example.org");

    // Not paid: no registration form; no ticket outside the printing window.
    let v = refused(&doc(addr, &submitted.token, "registration-form.pdf"), 409, "not_paid");
    assert_eq!(v["status"], "submitted");
    let v = refused(&doc(addr, &submitted.token, "admission-ticket.pdf"), 409, "printing_window_closed");
    assert!(v["printing"]["opens"].as_i64().is_some(), "{v}");
    // Another candidate gets nothing of it: they have no registration of their own.
    let v = refused(&doc(addr, &bystander, "registration-form.pdf"), 409, "not_paid");
    assert_eq!(v["status"], "draft");
    refused(&doc(addr, &bystander, "nothing.pdf"), 404, "not_found");
    refused(&doc(addr, &admin, "registration-form.pdf"), 401, "unauthorized");

    // Inside the printing window: still not eligible until paid, and say why.
    support::import_catalog(addr, &printing_catalog());
    let v = refused(&doc(addr, &submitted.token, "admission-ticket.pdf"), 409, "not_eligible");
    assert_eq!(v["reason"], "not_paid");
    let v = refused(&doc(addr, &bystander, "admission-ticket.pdf"), 409, "not_eligible");
    assert_eq!(v["reason"], "not_registered");

    // Arrangement: a center without rooms cannot be arranged; an unpaid candidate is not seated.
    let v = refused(&arrange(addr, &admin, NO_ROOMS, "POST"), 409, "no_rooms");
    assert_eq!(v["center"], NO_ROOMS);
    refused(&arrange(addr, &admin, ROOMS, "GET"), 404, "not_found");
    let r = arrange(addr, &admin, ROOMS, "POST");
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["candidates"], json!([]));
    assert_eq!(r.json()["counts"]["arranged"], 0);
    assert_eq!(arrange(addr, &admin, ROOMS, "GET").status, 200);
    // Scoping: another center's operator sees nothing; candidates are not operators.
    let other = center_operator(addr, &admin, "desk.dongcheng", "bj-dongcheng");
    refused(&arrange(addr, &other, ROOMS, "POST"), 404, "not_found");
    refused(&arrange(addr, &submitted.token, ROOMS, "POST"), 401, "unauthorized");
    let audit = send(addr, "GET", "/api/operator/audit?from=1&limit=1000", &admin, None).json();
    assert!(audit.to_string().contains("arrangement.run"), "the arrangement is audited");

    // Check-in refuses codes that do not verify with the exam's key.
    refused(&scan(addr, &admin, "https://example.cn/ticket"), 422, "ticket_format");
    refused(&scan(addr, &admin, "BMT1:ABC"), 422, "ticket_format");
    refused(&scan(addr, &admin, &foreign_code("270301020010013", ROOMS)), 422, "ticket_signature");
    refused(
        &send(addr, "POST", &format!("/api/operator/exams/{EXAM}/check-in"), &admin, Some(json!({}))),
        422,
        "invalid_body",
    );
    refused(&scan(addr, &submitted.token, "BMT1:ABC"), 401, "unauthorized");
    refused(
        &send(addr, "POST", "/api/operator/exams/nope/check-in", &admin, Some(json!({ "code": "x" }))),
        404,
        "not_found",
    );
}

/// Marks the record of `id` paid (as the payments work will), optionally confirmed on site.
fn mark(app: &baoming_server::state::App, id: &DocumentId, status: Status) {
    let (mut record, _) = load_record(app.db.store(), id).expect("read").expect("record");
    record.section.status = status;
    record.section.order = Some(format!("PAY-{}", &id.to_string()[..8]));
    let mut txn = Txn::new();
    txn.put(Tree::Registrations, id.as_bytes().to_vec(), encode(&record));
    app.db.store().commit(&txn).expect("commit");
}

fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Every embedded font is a subset (`ABCDEF+Name`) with its font program.
fn assert_subset_fonts(pdf: &[u8]) {
    use lopdf::{Document, Object};
    let doc = Document::load_mem(pdf).expect("the PDF parses");
    let mut fonts = 0;
    for object in doc.objects.values() {
        let Object::Dictionary(dict) = object else { continue };
        if !dict.get(b"Type").and_then(Object::as_name).is_ok_and(|n| n == b"FontDescriptor") {
            continue;
        }
        fonts += 1;
        let name = dict.get(b"FontName").and_then(Object::as_name).expect("FontName");
        let name = String::from_utf8_lossy(name);
        let (tag, _) = name.split_once('+').unwrap_or_else(|| panic!("{name} is not a subset"));
        assert!(tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()), "{name}");
        assert!(dict.has(b"FontFile2") || dict.has(b"FontFile3"), "{name} is not embedded");
    }
    assert!(fonts > 0, "no embedded font");
}

fn decode_qr(pdf: Vec<u8>) -> Vec<String> {
    use hayro::hayro_interpret::InterpreterSettings;
    use hayro::hayro_syntax::Pdf;
    use hayro::vello_cpu::color::palette::css::WHITE;
    use hayro::{RenderSettings, render};
    let pdf = Pdf::new(Arc::new(pdf)).expect("hayro reads the PDF");
    let page = pdf.pages().first().expect("a page");
    let settings = RenderSettings { x_scale: 3.0, y_scale: 3.0, bg_color: WHITE, ..Default::default() };
    let pixmap = render(page, &InterpreterSettings::default(), &settings);
    let (w, h) = (usize::from(pixmap.width()), usize::from(pixmap.height()));
    let pixels = pixmap.take_unpremultiplied();
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        let p = pixels[y * w + x];
        ((u16::from(p.r) + u16::from(p.g) + u16::from(p.b)) / 3) as u8
    });
    image.detect_grids().iter().filter_map(|g| g.decode().ok()).map(|(_, text)| text).collect()
}

fn pdf_of(r: &HttpResponse, filename: &str) -> Vec<u8> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body[..r.body.len().min(400)]));
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{filename}\"").as_str())
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.body.starts_with(b"%PDF-"));
    assert!(r.body.len() < ONE_MB, "{} bytes", r.body.len());
    r.body.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn arrangement_rules_hold_over_several_candidates_in_process() {
    let t = support::TestApp::new();
    let app = t.app.clone();
    let addr = t.serve().await;
    support::import_catalog(addr, &printing_catalog());
    let admin = support::operator_login(addr, "admin", OPERATOR_PASSWORD);

    let mut at_rooms = Vec::new();
    for n in 1..=4 {
        let subjects: &[&str] = if n % 2 == 0 { &["15", "66"] } else { &["15"] };
        at_rooms.push(Candidate::submitted(addr, n, ROOMS, subjects).await);
    }
    let onsite = Candidate::submitted(addr, 5, ONSITE, &["15"]).await;
    for c in &at_rooms[..3] {
        mark(&app, &c.id(), Status::Paid);
    }
    mark(&app, &onsite.id(), Status::Paid);

    // Arrange: the three paid candidates, by registration id, into room 001 seats 1–3.
    let first = arrange(addr, &admin, ROOMS, "POST");
    assert_eq!(first.status, 200, "{:?}", first.json());
    let first = first.json();
    assert_eq!(first["counts"], json!({ "arranged": 3, "new": 3, "kept": 0, "released": 0 }));
    let listed = first["candidates"].as_array().expect("candidates").clone();
    let mut ids: Vec<String> = at_rooms[..3].iter().map(|c| c.id().to_string()).collect();
    ids.sort();
    assert_eq!(
        listed.iter().map(|c| c["registration_id"].as_str().expect("id").to_owned()).collect::<Vec<_>>(),
        ids
    );
    for (i, c) in listed.iter().enumerate() {
        let s = &c["sittings"][0];
        assert_eq!(
            (s["subject"].as_str(), s["room"].as_str(), s["seat"].as_u64()),
            (Some("15"), Some("001"), Some(i as u64 + 1)),
            "{c}"
        );
        let number = c["ticket_number"].as_str().expect("number");
        assert_eq!(number.len(), 15);
        assert!(number.starts_with("27030401001"), "exam 2703, center 04, slot 01, room 001: {number}");
        assert!(baoming_server::examday::arrangement::luhn_valid(number), "{number}");
    }
    // Re-running changes nothing but the time.
    let again = arrange(addr, &admin, ROOMS, "POST").json();
    assert_eq!(again["candidates"], first["candidates"]);
    assert_eq!(again["counts"]["kept"], 3);
    // A newcomer fills the next free seat; everyone else keeps theirs.
    mark(&app, &at_rooms[3].id(), Status::Paid);
    let third = arrange(addr, &admin, ROOMS, "POST").json();
    assert_eq!(third["counts"], json!({ "arranged": 4, "new": 1, "kept": 3, "released": 0 }));
    let by_id = |v: &Value, id: &str| {
        v["candidates"].as_array().expect("list").iter().find(|c| c["registration_id"] == id).cloned()
    };
    for id in &ids {
        assert_eq!(by_id(&third, id), by_id(&first, id), "{id} keeps the seat");
    }
    let newcomer = by_id(&third, &at_rooms[3].id().to_string()).expect("arranged");
    assert_eq!(newcomer["sittings"][0]["seat"], 4);
    assert_eq!(newcomer["sittings"][1]["slot"], "sun-am", "both sittings, in slot order");
    assert_eq!(arrange(addr, &admin, ROOMS, "GET").json()["candidates"], third["candidates"]);

    // Too few seats: the refusal names the slot and subject; nothing is stored.
    let tiny = printing_catalog().replace("\ncapacity = 30\n", "\ncapacity = 1\n");
    support::import_catalog(addr, &tiny);
    let v = refused(&arrange(addr, &admin, ROOMS, "POST"), 409, "room_capacity_short");
    assert_eq!(v["short"], json!([{ "slot": "sat-am", "subject": "15", "unseated": 1 }]), "{v}");
    assert_eq!(arrange(addr, &admin, ROOMS, "GET").json()["candidates"], third["candidates"]);
    support::import_catalog(addr, &printing_catalog());

    // The on-site center seats only confirmed candidates.
    let r = arrange(addr, &admin, ONSITE, "POST");
    assert_eq!(r.json()["counts"]["arranged"], 0, "paid but not confirmed");
    let v = refused(&doc(addr, &onsite.token, "admission-ticket.pdf"), 409, "not_eligible");
    assert_eq!(v["reason"], "not_confirmed_on_site");
    mark(&app, &onsite.id(), Status::Confirmed);
    assert_eq!(arrange(addr, &admin, ONSITE, "POST").json()["counts"]["arranged"], 1);

    // Every arranged candidate's device shows the number the arrangement gave them.
    let onsite_listed = arrange(addr, &admin, ONSITE, "GET").json();
    let mut devices: Vec<(&Candidate, &Value)> = at_rooms.iter().map(|c| (c, &third)).collect();
    devices.push((&onsite, &onsite_listed));
    for (c, listed) in devices {
        c.client.sync_batch(SYNC).await.expect("sync");
        let arranged = by_id(listed, &c.id().to_string()).expect("arranged");
        let section = c.client.server(EXAM).expect("server");
        assert_eq!(section.ticket.as_deref(), arranged["ticket_number"].as_str(), "{}", c.id());
    }

    // A ticket printed before a re-arrangement that moved the candidate is superseded; a
    // withdrawn seat makes the old code useless, and the number leaves the document.
    let other = &at_rooms[0];
    let other_code = decode_qr(pdf_of(
        &doc(addr, &other.token, "admission-ticket.pdf"),
        &format!("admission-ticket-{EXAM}.pdf"),
    ));
    let outsider = center_operator(addr, &admin, "desk.dongcheng", "bj-dongcheng");
    refused(&scan(addr, &outsider, &other_code[0]), 404, "not_found");
    mark(&app, &other.id(), Status::Withdrawn);
    assert_eq!(arrange(addr, &admin, ROOMS, "POST").json()["counts"]["released"], 1);
    other.client.sync_batch(SYNC).await.expect("sync");
    assert_eq!(other.client.server(EXAM).expect("server").ticket, None, "released: the number is gone");
    refused(&scan(addr, &admin, &other_code[0]), 409, "ticket_superseded");
    let v = refused(&doc(addr, &other.token, "admission-ticket.pdf"), 409, "not_eligible");
    assert_eq!(v["reason"], "not_paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidate_pays_on_the_sandbox_sees_the_ticket_number_prints_and_checks_in_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let addr = server.addr;
    support::import_catalog(addr, &printing_catalog());
    let admin = support::operator_login(addr, "admin", OPERATOR_PASSWORD);
    let payer = Candidate::submitted(addr, 21, ROOMS, &["15", "66"]).await;
    let unpaid = Candidate::submitted(addr, 22, ROOMS, &["15"]).await;

    // Pay on the sandbox's payment page, then "I have paid, refresh".
    let (order, url) = payer.open_order();
    assert_eq!(support::pay_on_page(&url), 200);
    payer.refresh_until_paid();

    // Not paid: no registration form, no ticket, and the typed reasons say so.
    let v = refused(&doc(addr, &unpaid.token, "registration-form.pdf"), 409, "not_paid");
    assert_eq!(v["status"], "submitted");
    let v = refused(&doc(addr, &unpaid.token, "admission-ticket.pdf"), 409, "not_eligible");
    assert_eq!((v["reason"].as_str(), v["status"].as_str()), (Some("not_paid"), Some("submitted")), "{v}");
    let v = refused(&doc(addr, &unpaid.token, "admission-ticket.code"), 409, "not_eligible");
    assert_eq!(v["reason"], "not_paid", "the code follows the ticket's rules");
    // Paid but not arranged yet.
    let v = refused(&doc(addr, &payer.token, "admission-ticket.pdf"), 409, "not_eligible");
    assert_eq!(v["reason"], "not_arranged");

    // The registration form: name, subjects, center and the payment reference.
    let form =
        pdf_of(&doc(addr, &payer.token, "registration-form.pdf"), &format!("registration-form-{EXAM}.pdf"));
    let text = squeeze(&pdf_extract::extract_text_from_mem(&form).expect("text"));
    for expected in [
        "报名登记表",
        "张三丰",
        "一级计算机基础及MSOffice应用",
        "二级Python语言程序设计",
        "北京信息职业技术学院",
        order.as_str(),
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the form:\n{text}");
    }
    assert_subset_fonts(&form);

    // The operator arranges the center: only the paid candidate is seated.
    let r = arrange(addr, &admin, ROOMS, "POST");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let arranged = r.json();
    assert_eq!(arranged["counts"], json!({ "arranged": 1, "new": 1, "kept": 0, "released": 0 }));
    let seated = &arranged["candidates"][0];
    assert_eq!(seated["registration_id"], payer.id().to_string());
    let number = seated["ticket_number"].as_str().expect("number").to_owned();

    // The ticket number reaches the candidate's device through the document.
    let report = payer.client.sync_batch(SYNC).await.expect("sync");
    assert_eq!(report.changed, vec![EXAM.to_owned()], "{report:?}");
    let section = payer.client.server(EXAM).expect("server section");
    assert_eq!(section.ticket.as_deref(), Some(number.as_str()));
    assert_eq!(section.status, Status::Paid);
    assert_eq!(payer.status()["ticket"], number, "and in the registration's view");
    unpaid.client.sync_batch(SYNC).await.expect("sync");
    assert_eq!(unpaid.client.server(EXAM).expect("server").ticket, None, "not arranged, no number");
    // A re-run that keeps every seat changes no document.
    let again = arrange(addr, &admin, ROOMS, "POST").json();
    assert_eq!(again["counts"]["kept"], 1);
    assert_eq!(again["candidates"], arranged["candidates"]);
    let report = payer.client.sync_batch(SYNC).await.expect("sync");
    assert!(report.changed.is_empty(), "a stable re-run writes nothing: {report:?}");
    assert_eq!(payer.client.server(EXAM).expect("server").ticket.as_deref(), Some(number.as_str()));

    // The admission ticket, and its QR code verified offline with the catalog's key.
    let ticket_pdf =
        pdf_of(&doc(addr, &payer.token, "admission-ticket.pdf"), &format!("admission-ticket-{EXAM}.pdf"));
    let text = squeeze(&pdf_extract::extract_text_from_mem(&ticket_pdf).expect("text"));
    for expected in ["准考证", "张三丰", number.as_str(), "二级Python语言程序设计", "第001考场（图书馆301）"]
    {
        assert!(text.contains(expected), "{expected:?} missing from the ticket:\n{text}");
    }
    assert_subset_fonts(&ticket_pdf);
    let codes = decode_qr(ticket_pdf);
    assert_eq!(codes.len(), 1, "one QR code");
    let payload = ticket::verify_ticket(&codes[0], &public_key(addr)).expect("verifies with the catalog key");
    assert_eq!(
        (
            payload.exam.as_str(),
            payload.ticket_number.as_str(),
            payload.center.as_str(),
            payload.name.as_str()
        ),
        (EXAM, number.as_str(), ROOMS, "张三丰")
    );
    assert_eq!(payload.sittings.len(), 2, "{payload:?}");
    // The same code without printing, for an app that shows the ticket on screen.
    let r = doc(addr, &payer.token, "admission-ticket.code");
    assert_eq!(r.status, 200, "{:?}", r.json());
    let shown = r.json();
    assert_eq!(shown["ticket_number"], number);
    let on_screen = ticket::verify_ticket(shown["code"].as_str().expect("code"), &public_key(addr))
        .expect("the on-screen code verifies");
    assert_eq!(
        (on_screen.ticket_number, on_screen.name, on_screen.sittings),
        (payload.ticket_number.clone(), payload.name.clone(), payload.sittings.clone())
    );

    // Check-in over HTTP: once, then "already checked in" with the first time.
    let desk = center_operator(addr, &admin, "desk.changping", ROOMS);
    let r = scan(addr, &desk, &codes[0]);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let first = r.json();
    assert_eq!(first["status"], "checked_in");
    assert_eq!(first["ticket_number"], number);
    assert_eq!(first["registration_id"], payer.id().to_string());
    let second = scan(addr, &desk, &codes[0]).json();
    assert_eq!(second["status"], "already_checked_in", "{second}");
    assert_eq!(second["checked_in_at_ms"], first["checked_in_at_ms"]);
    let audit = send(addr, "GET", "/api/operator/audit?from=1&limit=1000", &admin, None).json().to_string();
    assert_eq!(audit.matches("\"ticket.check_in\"").count(), 1, "one check-in recorded");

    // A tampered payload is refused.
    let mut tampered = codes[0].clone().into_bytes();
    let at = tampered.len() - 100;
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let r = scan(addr, &desk, &String::from_utf8(tampered).expect("ascii"));
    assert!(
        r.status == 422 && r.json()["code"].as_str().is_some_and(|c| c.starts_with("ticket_")),
        "{:?}",
        r.json()
    );
}
