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
use baoming_core::api::accounts::{Profile, ProfileRequest};
use baoming_core::api::catalog::{CatalogAnswer, ExamAnswer};
use baoming_core::api::documents::{
    ArrangedCandidate, ArrangementAnswer, ArrangementCounts, CandidateDocument, CheckInAnswer,
    CheckInRequest, TicketCode,
};
use baoming_core::api::error::{ErrorCode, NotEligibleReason, Shortage};
use baoming_core::api::operator::{AuditEntry, AuditQuery};
use baoming_core::api::paths;
use baoming_core::api::payments::PaymentAnswer;
use baoming_core::api::registrations::RegistrationView;
use baoming_core::document::DocumentId;
use baoming_core::id_document::{IdKind, mask};
use baoming_core::lifecycle::Status;
use baoming_core::ticket::{self, TicketPayload};
use baoming_server::registration::record::load_record;
use baoming_server::store::{Tree, Txn, encode};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

use support::{
    CandidateDevice, Response, Windows, admin_login, center_operator, get, import_catalog, post, put,
    register_candidate, registration, wait_until,
};

const EXAM: &str = support::DEMO_EXAM;
/// A center with three rooms of 30 seats and no review.
const ROOMS: &str = "bj-changping";
/// A center without rooms.
const NO_ROOMS: &str = "bj-haidian";
/// A center that requires on-site confirmation.
const ONSITE: &str = "bj-chaoyang";
const SYNC: Duration = support::SYNC;
const ONE_MB: usize = 1024 * 1024;

fn printing_catalog() -> String {
    support::catalog_around_now(baoming_core::catalog::DEMO_CATALOG_TOML, Windows::PRINTING)
}

fn doc(addr: SocketAddr, token: &str, which: CandidateDocument) -> Response {
    get(addr, &paths::registration_document(EXAM, which)).token(token).send()
}

fn arrange(addr: SocketAddr, token: &str, center: &str) -> Response {
    post(addr, &paths::arrangement(EXAM, center)).token(token).send()
}

fn arrangement(addr: SocketAddr, token: &str, center: &str) -> Response {
    get(addr, &paths::arrangement(EXAM, center)).token(token).send()
}

fn scan(addr: SocketAddr, token: &str, code: &str) -> Response {
    post(addr, &paths::check_in(EXAM)).token(token).json(&CheckInRequest { code: code.into() }).send()
}

fn audit(addr: SocketAddr, token: &str) -> Vec<AuditEntry> {
    let query = AuditQuery { from: 1, limit: 1000 }.query_string();
    get(addr, &format!("{}{query}", paths::OPERATOR_AUDIT)).token(token).send().typed()
}

fn public_key(addr: SocketAddr) -> Vec<u8> {
    let exam: ExamAnswer = get(addr, &paths::exam(EXAM)).send().typed();
    let key = exam.public_key.expect("the exam publishes its public key");
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
        id_masked: mask(IdKind::ResidentId, "110105199001010011"),
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
        device.submit(addr, &format!("submit-{n}")).expect(200);
        let CandidateDevice { account_id, token, client, store } = device;
        Candidate { addr, account_id, token, client, _dir: store }
    }

    fn id(&self) -> DocumentId {
        DocumentId::derive(EXAM, &self.account_id)
    }

    fn status(&self) -> RegistrationView {
        registration(self.addr, &self.token)
    }

    /// Opens the payment order; returns (out_trade_no, payment page URL).
    fn open_order(&self) -> (String, String) {
        let opened: PaymentAnswer =
            post(self.addr, &paths::pay(EXAM)).token(&self.token).key("pay-1").body("").send().typed();
        assert_eq!(opened.registration.status, Status::AwaitingPayment, "{opened:?}");
        let p = opened.payment.expect("an order");
        (p.out_trade_no, p.url)
    }

    /// Presses "I have paid, refresh" until the registration is paid.
    fn refresh_until_paid(&self) {
        wait_until("the payment to show", Duration::from_secs(20), || {
            post(self.addr, &paths::payment_refresh(EXAM)).token(&self.token).body("").send().expect(200);
            self.status().status == Status::Paid
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_catalog_publishes_a_stable_exam_key_and_the_rooms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::start_server_in(dir.path());
    let addr = server.addr;
    import_catalog(addr, &server.demo_catalog(Windows::OPEN));
    let key = public_key(addr);
    let catalog: CatalogAnswer = get(addr, paths::CATALOG).send().typed();
    let exam = &catalog.exams[0];
    assert_eq!(exam.public_key.as_deref().map(hex_decode), Some(key.clone()), "the same key in every view");
    let rooms_of = |id: &str| exam.centers.iter().find(|c| c.id == id).expect("center").rooms.clone();
    assert_eq!(rooms_of(ROOMS).len(), 3, "{:?}", rooms_of(ROOMS));
    assert_eq!(rooms_of(ROOMS)[0].capacity, 30);
    assert_eq!(rooms_of(ROOMS)[0].name.zh, "第001考场（图书馆301）");
    assert!(rooms_of(NO_ROOMS).is_empty(), "rooms are optional");

    // A re-import and a restart keep the key: printed tickets keep verifying.
    import_catalog(addr, &printing_catalog());
    assert_eq!(public_key(addr), key);
    assert!(server.stop());
    let server = support::start_server_in(dir.path());
    assert_eq!(public_key(server.addr), key);

    // A catalog with a broken room is refused with the room's path.
    let admin = admin_login(server.addr);
    let broken = printing_catalog().replacen("\ncapacity = 30\n", "\ncapacity = 0\n", 1);
    let r = put(server.addr, paths::OPERATOR_CATALOG).token(&admin).body(broken).send();
    let v = r.refused(422, ErrorCode::CatalogInvalid);
    assert!(v.message.contains("room[001]") && v.message.contains("capacity"), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn documents_arrangement_and_check_in_are_refused_until_due() {
    let server = support::start_server();
    let addr = server.addr;
    import_catalog(addr, &server.demo_catalog(Windows::OPEN));
    let admin = admin_login(addr);
    let submitted = Candidate::submitted(addr, 1, ROOMS, &["15"]).await;
    let (_, bystander) = register_candidate(addr, "bystander@example.org");

    // Not paid: no registration form; no ticket outside the printing window.
    let v = doc(addr, &submitted.token, CandidateDocument::RegistrationForm).refused(409, ErrorCode::NotPaid);
    assert_eq!(v.status, Some(Status::Submitted));
    let v = doc(addr, &submitted.token, CandidateDocument::AdmissionTicket)
        .refused(409, ErrorCode::PrintingWindowClosed);
    assert!(v.printing.is_some_and(|w| w.opens < w.closes), "{v:?}");
    // Another candidate gets nothing of it: they have no registration of their own.
    let v = doc(addr, &bystander, CandidateDocument::RegistrationForm).refused(409, ErrorCode::NotPaid);
    assert_eq!(v.status, Some(Status::Draft));
    let nothing = format!("{}/documents/nothing.pdf", paths::registration(EXAM));
    get(addr, &nothing).token(&bystander).send().refused(404, ErrorCode::NotFound);
    doc(addr, &admin, CandidateDocument::RegistrationForm).refused(401, ErrorCode::Unauthorized);

    // Inside the printing window: still not eligible until paid, and say why.
    import_catalog(addr, &server.demo_catalog(Windows::PRINTING));
    let v =
        doc(addr, &submitted.token, CandidateDocument::AdmissionTicket).refused(409, ErrorCode::NotEligible);
    assert_eq!(v.not_eligible_reason(), Some(NotEligibleReason::NotPaid));
    let v = doc(addr, &bystander, CandidateDocument::AdmissionTicket).refused(409, ErrorCode::NotEligible);
    assert_eq!(v.not_eligible_reason(), Some(NotEligibleReason::NotRegistered));

    // Arrangement: a center without rooms cannot be arranged; an unpaid candidate is not seated.
    let v = arrange(addr, &admin, NO_ROOMS).refused(409, ErrorCode::NoRooms);
    assert_eq!(v.center, Some(Some(NO_ROOMS.to_owned())));
    arrangement(addr, &admin, ROOMS).refused(404, ErrorCode::NotFound);
    let run: ArrangementAnswer = arrange(addr, &admin, ROOMS).typed();
    assert!(run.candidates.is_empty());
    assert_eq!(run.counts.map(|c| c.arranged), Some(0));
    arrangement(addr, &admin, ROOMS).typed::<ArrangementAnswer>();
    // Scoping: another center's operator sees nothing; candidates are not operators.
    let other = center_operator(addr, &admin, "desk.dongcheng", "bj-dongcheng");
    arrange(addr, &other, ROOMS).refused(404, ErrorCode::NotFound);
    arrange(addr, &submitted.token, ROOMS).refused(401, ErrorCode::Unauthorized);
    assert!(audit(addr, &admin).iter().any(|e| e.action == "arrangement.run"), "the arrangement is audited");

    // Check-in refuses codes that do not verify with the exam's key.
    scan(addr, &admin, "https://example.cn/ticket").refused(422, ErrorCode::TicketFormat);
    scan(addr, &admin, "BMT1:ABC").refused(422, ErrorCode::TicketFormat);
    scan(addr, &admin, &foreign_code("270301020010013", ROOMS)).refused(422, ErrorCode::TicketSignature);
    post(addr, &paths::check_in(EXAM)).token(&admin).body("{}").send().refused(422, ErrorCode::InvalidBody);
    scan(addr, &submitted.token, "BMT1:ABC").refused(401, ErrorCode::Unauthorized);
    post(addr, &paths::check_in("nope"))
        .token(&admin)
        .json(&CheckInRequest { code: "x".into() })
        .send()
        .refused(404, ErrorCode::NotFound);
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

fn pdf_of(r: &Response, filename: &str) -> Vec<u8> {
    r.expect(200);
    assert_eq!(r.header("content-type"), Some(paths::PDF));
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
#[allow(clippy::too_many_lines, reason = "one arrangement, rule by rule, over the same candidates")]
async fn arrangement_rules_hold_over_several_candidates_in_process() {
    let t = support::TestApp::new();
    let app = t.app.clone();
    let addr = t.serve().await;
    import_catalog(addr, &printing_catalog());
    let admin = admin_login(addr);

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
    let first: ArrangementAnswer = arrange(addr, &admin, ROOMS).typed();
    assert_eq!(first.counts, Some(ArrangementCounts { arranged: 3, new: 3, kept: 0, released: 0 }));
    let mut ids: Vec<String> = at_rooms[..3].iter().map(|c| c.id().to_string()).collect();
    ids.sort();
    assert_eq!(first.candidates.iter().map(|c| c.registration_id.clone()).collect::<Vec<_>>(), ids);
    for (i, c) in first.candidates.iter().enumerate() {
        let s = &c.sittings[0];
        assert_eq!((s.subject.as_str(), s.room.as_str(), s.seat), ("15", "001", i as u16 + 1), "{c:?}");
        let number = c.ticket_number.as_str();
        assert_eq!(number.len(), 15);
        assert!(number.starts_with("27030401001"), "exam 2703, center 04, slot 01, room 001: {number}");
        assert!(baoming_server::examday::arrangement::luhn_valid(number), "{number}");
    }
    // Re-running changes nothing but the time.
    let again: ArrangementAnswer = arrange(addr, &admin, ROOMS).typed();
    assert_eq!(again.candidates, first.candidates);
    assert_eq!(again.counts.map(|c| c.kept), Some(3));
    // A newcomer fills the next free seat; everyone else keeps theirs.
    mark(&app, &at_rooms[3].id(), Status::Paid);
    let third: ArrangementAnswer = arrange(addr, &admin, ROOMS).typed();
    assert_eq!(third.counts, Some(ArrangementCounts { arranged: 4, new: 1, kept: 3, released: 0 }));
    let by_id = |v: &ArrangementAnswer, id: &str| -> Option<ArrangedCandidate> {
        v.candidates.iter().find(|c| c.registration_id == id).cloned()
    };
    for id in &ids {
        assert_eq!(by_id(&third, id), by_id(&first, id), "{id} keeps the seat");
    }
    let newcomer = by_id(&third, &at_rooms[3].id().to_string()).expect("arranged");
    assert_eq!(newcomer.sittings[0].seat, 4);
    assert_eq!(newcomer.sittings[1].slot, "sun-am", "both sittings, in slot order");
    assert_eq!(arrangement(addr, &admin, ROOMS).typed::<ArrangementAnswer>().candidates, third.candidates);

    // Too few seats: the refusal names the slot and subject; nothing is stored.
    let tiny = printing_catalog().replace("\ncapacity = 30\n", "\ncapacity = 1\n");
    import_catalog(addr, &tiny);
    let v = arrange(addr, &admin, ROOMS).refused(409, ErrorCode::RoomCapacityShort);
    let short = vec![Shortage { slot: "sat-am".into(), subject: "15".into(), unseated: 1 }];
    assert_eq!(v.short, Some(short), "{v:?}");
    assert_eq!(arrangement(addr, &admin, ROOMS).typed::<ArrangementAnswer>().candidates, third.candidates);
    import_catalog(addr, &printing_catalog());

    // The on-site center seats only confirmed candidates.
    let r: ArrangementAnswer = arrange(addr, &admin, ONSITE).typed();
    assert_eq!(r.counts.map(|c| c.arranged), Some(0), "paid but not confirmed");
    let v = doc(addr, &onsite.token, CandidateDocument::AdmissionTicket).refused(409, ErrorCode::NotEligible);
    assert_eq!(v.not_eligible_reason(), Some(NotEligibleReason::NotConfirmedOnSite));
    mark(&app, &onsite.id(), Status::Confirmed);
    assert_eq!(
        arrange(addr, &admin, ONSITE).typed::<ArrangementAnswer>().counts.map(|c| c.arranged),
        Some(1)
    );

    // Every arranged candidate's device shows the number the arrangement gave them.
    let onsite_listed: ArrangementAnswer = arrangement(addr, &admin, ONSITE).typed();
    let mut devices: Vec<(&Candidate, &ArrangementAnswer)> = at_rooms.iter().map(|c| (c, &third)).collect();
    devices.push((&onsite, &onsite_listed));
    for (c, listed) in devices {
        c.client.sync_batch(SYNC).await.expect("sync");
        let arranged = by_id(listed, &c.id().to_string()).expect("arranged");
        let section = c.client.server(EXAM).expect("server");
        assert_eq!(section.ticket.as_deref(), Some(arranged.ticket_number.as_str()), "{}", c.id());
    }

    // A ticket printed before a re-arrangement that moved the candidate is superseded; a
    // withdrawn seat makes the old code useless, and the number leaves the document.
    let other = &at_rooms[0];
    let other_code = decode_qr(pdf_of(
        &doc(addr, &other.token, CandidateDocument::AdmissionTicket),
        &format!("admission-ticket-{EXAM}.pdf"),
    ));
    let outsider = center_operator(addr, &admin, "desk.dongcheng", "bj-dongcheng");
    scan(addr, &outsider, &other_code[0]).refused(404, ErrorCode::NotFound);
    mark(&app, &other.id(), Status::Withdrawn);
    assert_eq!(arrange(addr, &admin, ROOMS).typed::<ArrangementAnswer>().counts.map(|c| c.released), Some(1));
    other.client.sync_batch(SYNC).await.expect("sync");
    assert_eq!(other.client.server(EXAM).expect("server").ticket, None, "released: the number is gone");
    scan(addr, &admin, &other_code[0]).refused(409, ErrorCode::TicketSuperseded);
    let v = doc(addr, &other.token, CandidateDocument::AdmissionTicket).refused(409, ErrorCode::NotEligible);
    assert_eq!(v.not_eligible_reason(), Some(NotEligibleReason::NotPaid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines, reason = "one candidate's way from payment to the exam door, step by step")]
async fn a_candidate_pays_on_the_sandbox_sees_the_ticket_number_prints_and_checks_in_once() {
    let server = support::start_server();
    let addr = server.addr;
    import_catalog(addr, &server.demo_catalog(Windows::PRINTING));
    let admin = admin_login(addr);
    let payer = Candidate::submitted(addr, 21, ROOMS, &["15", "66"]).await;
    let unpaid = Candidate::submitted(addr, 22, ROOMS, &["15"]).await;

    // Pay on the sandbox's payment page, then "I have paid, refresh".
    let (order, url) = payer.open_order();
    assert_eq!(support::pay_on_page(&url), 200);
    payer.refresh_until_paid();

    // Not paid: no registration form, no ticket, and the typed reasons say so.
    let v = doc(addr, &unpaid.token, CandidateDocument::RegistrationForm).refused(409, ErrorCode::NotPaid);
    assert_eq!(v.status, Some(Status::Submitted));
    let v = doc(addr, &unpaid.token, CandidateDocument::AdmissionTicket).refused(409, ErrorCode::NotEligible);
    assert_eq!(
        (v.not_eligible_reason(), v.status),
        (Some(NotEligibleReason::NotPaid), Some(Status::Submitted)),
        "{v:?}"
    );
    let v =
        doc(addr, &unpaid.token, CandidateDocument::AdmissionTicketCode).refused(409, ErrorCode::NotEligible);
    assert_eq!(
        v.not_eligible_reason(),
        Some(NotEligibleReason::NotPaid),
        "the code follows the ticket's rules"
    );
    // Paid but not arranged yet.
    let v = doc(addr, &payer.token, CandidateDocument::AdmissionTicket).refused(409, ErrorCode::NotEligible);
    assert_eq!(v.not_eligible_reason(), Some(NotEligibleReason::NotArranged));

    // The registration form: name, subjects, center, the registration and payment numbers.
    let form = pdf_of(
        &doc(addr, &payer.token, CandidateDocument::RegistrationForm),
        &format!("registration-form-{EXAM}.pdf"),
    );
    let text = squeeze(&pdf_extract::extract_text_from_mem(&form).expect("text"));
    for expected in [
        "报名登记表",
        "张三丰",
        "一级计算机基础及MSOffice应用",
        "二级Python语言程序设计",
        "北京信息职业技术学院",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from the form:\n{text}");
    }
    // The numbers a desk and a bank statement use, each after its label.
    let receipt = registration(addr, &payer.token);
    let trade_no = receipt.trade_no.expect("a receipt");
    for (label, number) in
        [("报名号：", payer.id().to_string()), ("订单号", order.clone()), ("支付流水号", trade_no)]
    {
        assert!(
            text.contains(&format!("{label}{number}")),
            "{label} {number} missing from the form:\n{text}"
        );
    }
    assert_subset_fonts(&form);

    // The operator arranges the center: only the paid candidate is seated.
    let arranged: ArrangementAnswer = arrange(addr, &admin, ROOMS).typed();
    assert_eq!(arranged.counts, Some(ArrangementCounts { arranged: 1, new: 1, kept: 0, released: 0 }));
    let seated = &arranged.candidates[0];
    assert_eq!(seated.registration_id, payer.id().to_string());
    let number = seated.ticket_number.clone();

    // The ticket number reaches the candidate's device through the document.
    let report = payer.client.sync_batch(SYNC).await.expect("sync");
    assert_eq!(report.changed, vec![EXAM.to_owned()], "{report:?}");
    let section = payer.client.server(EXAM).expect("server section");
    assert_eq!(section.ticket.as_deref(), Some(number.as_str()));
    assert_eq!(section.status, Status::Paid);
    assert_eq!(payer.status().ticket.as_deref(), Some(number.as_str()), "and in the registration's view");
    unpaid.client.sync_batch(SYNC).await.expect("sync");
    assert_eq!(unpaid.client.server(EXAM).expect("server").ticket, None, "not arranged, no number");
    // A re-run that keeps every seat changes no document.
    let again: ArrangementAnswer = arrange(addr, &admin, ROOMS).typed();
    assert_eq!(again.counts.map(|c| c.kept), Some(1));
    assert_eq!(again.candidates, arranged.candidates);
    let report = payer.client.sync_batch(SYNC).await.expect("sync");
    assert!(report.changed.is_empty(), "a stable re-run writes nothing: {report:?}");
    assert_eq!(payer.client.server(EXAM).expect("server").ticket.as_deref(), Some(number.as_str()));

    // The admission ticket, and its QR code verified offline with the catalog's key.
    let ticket_pdf = pdf_of(
        &doc(addr, &payer.token, CandidateDocument::AdmissionTicket),
        &format!("admission-ticket-{EXAM}.pdf"),
    );
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
    let shown: TicketCode = doc(addr, &payer.token, CandidateDocument::AdmissionTicketCode).typed();
    assert_eq!(shown.ticket_number, number);
    let on_screen =
        ticket::verify_ticket(&shown.code, &public_key(addr)).expect("the on-screen code verifies");
    assert_eq!(
        (on_screen.ticket_number, on_screen.name, on_screen.sittings),
        (payload.ticket_number.clone(), payload.name.clone(), payload.sittings.clone())
    );

    // Check-in over HTTP: once, then "already checked in" with the first time.
    let desk = center_operator(addr, &admin, "desk.changping", ROOMS);
    let first: CheckInAnswer = scan(addr, &desk, &codes[0]).typed();
    let CheckInAnswer::CheckedIn { ref ticket_number, ref registration_id, checked_in_at_ms, .. } = first
    else {
        panic!("the first scan checks in: {first:?}")
    };
    assert_eq!((ticket_number, registration_id), (&number, &payer.id().to_string()));
    // One ID number, one mask: the profile, the ticket's QR and the check-in show the same.
    let id_number = support::resident_id("11010519900101021");
    let profile = ProfileRequest {
        legal_name: "张三丰".into(),
        id_kind: "resident_id".into(),
        id_number: id_number.clone(),
        phone: None,
    };
    let profile: Profile =
        put(addr, paths::ACCOUNT_PROFILE).token(&payer.token).json(&profile).send().typed();
    let CheckInAnswer::CheckedIn { ref id_masked, .. } = first else { unreachable!("matched above") };
    let one = mask(IdKind::ResidentId, &id_number);
    assert_eq!(
        (profile.id_masked.as_str(), payload.id_masked.as_str(), id_masked.as_str()),
        (one.as_str(), one.as_str(), one.as_str())
    );
    assert!(text.contains(one.as_str()), "the printed ticket shows {one}");
    let second: CheckInAnswer = scan(addr, &desk, &codes[0]).typed();
    assert!(
        matches!(second, CheckInAnswer::AlreadyCheckedIn { checked_in_at_ms: at, .. } if at == checked_in_at_ms),
        "{second:?}"
    );
    let check_ins = audit(addr, &admin).iter().filter(|e| e.action == "ticket.check_in").count();
    assert_eq!(check_ins, 1, "one check-in recorded");

    // A tampered payload is refused.
    let mut tampered = codes[0].clone().into_bytes();
    let at = tampered.len() - 100;
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let refusal = scan(addr, &desk, &String::from_utf8(tampered).expect("ascii")).error();
    assert!(refusal.status == 422 && refusal.body.code.as_str().starts_with("ticket_"), "{refusal:?}");
}
