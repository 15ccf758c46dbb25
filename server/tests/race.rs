//! The seat race with churn, against the real server binary.
//!
//! A generated catalog offers about 200 seats at two centers, over eight subjects of mixed
//! capacities. Some 2 000 candidates (set `RACE_CANDIDATES` to change it) each prepare a
//! complete draft through the cheapest real path — account, photo upload, one HTTP batch sync of
//! an in-memory document — and then:
//!
//! 1. **the race**: every candidate submits at once from many client threads. Exactly the seats
//!    there are get taken, never one more, and every loser is told `seat_gone` naming pools of
//!    its own choice that are indeed full;
//! 2. **churn**: with a short payment window and a fast sweeper, the holds expire while a quarter
//!    of the winners withdraw and a crowd of latecomers keeps submitting into the seats that come
//!    free.
//!
//! Throughout both phases a sampler reads the counters that candidates see (the availability
//! endpoint) and checks `held + paid + free == capacity` for every center and subject pool; at
//! the end the counters equal what the registrations' records hold.
//!
//! Why 1 000 and not 2 000: preparing a candidate costs one photo check on the server (decode
//! and face detection, in a debug build, one per core at a time), which dominates the test;
//! 2 000 candidates took over two minutes on a busy 2-core machine. The race itself is 5
//! candidates per seat either way.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automerge::ActorId;
use baoming_core::catalog::{Catalog, ExamSession};
use baoming_core::document::{DocumentId, RegistrationDoc};
use baoming_core::form::encode_id_document;
use baoming_core::id_document::IdKind;
use baoming_core::photo::PhotoRef;
use baoming_core::sync::PeerSync;
use baoming_core::wire::{BatchRequest, BatchResponse};
use serde_json::{Value, json};

use support::{
    HttpResponse, OPERATOR_PASSWORD, Server, http, http_with, register_candidate, resident_id, test_env,
};

const EXAM: &str = "ncre-2027-03";
/// Short enough that phase-1 holds run out during the churn, long enough for the race itself.
const PAYMENT_WINDOW_SECS: u64 = 20;

/// One generated center: id, total capacity, and (subject, capacity) offers, every subject in
/// its own time slot so that any pair of them is a valid choice.
struct CenterSpec {
    id: &'static str,
    total: u32,
    subjects: [(&'static str, u32); 4],
}

const CENTERS: [CenterSpec; 2] = [
    CenterSpec { id: "race-east", total: 100, subjects: [("15", 50), ("66", 45), ("24", 40), ("17", 25)] },
    CenterSpec { id: "race-west", total: 100, subjects: [("14", 40), ("65", 50), ("35", 35), ("38", 35)] },
];

/// A pool as the test names it: (center, subject) with `None` for the center's total.
type PoolKey = (String, Option<String>);

/// The demo session with the generated centers instead of the demo ones, registration open.
fn race_catalog() -> String {
    let demo = baoming_core::catalog::DEMO_CATALOG_TOML;
    let cut = demo.find("\n[[exam.center]]").expect("the demo catalog has centers");
    // Small photos: the server checks every upload (decode and face detection), and with a
    // 144 × 210 photo instead of the demo's 330 × 480 that costs a fraction of the time.
    let mut toml = demo[..cut].replacen("min_bytes = 20480", "min_bytes = 4096\ntarget_height = 210", 1);
    for c in &CENTERS {
        toml.push_str(&format!(
            "\n[[exam.center]]\nid = \"{id}\"\nname = {{ zh = \"竞争考点 {id}\", en = \"Race center {id}\" }}\n\
             address = {{ zh = \"北京市\", en = \"Beijing\" }}\ntotal_capacity = {total}\n",
            id = c.id,
            total = c.total
        ));
        for (code, capacity) in c.subjects {
            toml.push_str(&format!(
                "\n[[exam.center.subject]]\ncode = \"{code}\"\ncapacity = {capacity}\nfee_fen = 8000\n"
            ));
        }
    }
    support::catalog_around_now(&toml, support::Windows::OPEN)
}

/// Candidate `n`'s choice: a center, and one or two of its subjects.
fn choice(n: usize) -> (&'static str, Vec<String>) {
    let c = &CENTERS[n % 2];
    let first = (n / 2) % 4;
    let mut subjects = vec![c.subjects[first].0.to_owned()];
    if n.is_multiple_of(3) {
        subjects.push(c.subjects[(first + 1) % 4].0.to_owned());
    }
    (c.id, subjects)
}

fn pools_of(center: &str, subjects: &[String]) -> Vec<PoolKey> {
    std::iter::once((center.to_owned(), None))
        .chain(subjects.iter().map(|s| (center.to_owned(), Some(s.clone()))))
        .collect()
}

/// A candidate whose complete draft the server has.
struct Prepared {
    n: usize,
    token: String,
    center: &'static str,
    subjects: Vec<String>,
    heads: Vec<String>,
}

struct Photo {
    jpeg: Vec<u8>,
    digest: String,
    width: u32,
    height: u32,
}

fn prepared_photo(exam: &ExamSession) -> Photo {
    let source = include_bytes!("../../core/assets/samples/photo.jpg");
    let p = baoming_core::photo::prepare(source, &exam.photo).expect("prepare");
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, &p.jpeg));
    Photo {
        width: p.report.width.expect("width"),
        height: p.report.height.expect("height"),
        jpeg: p.jpeg,
        digest,
    }
}

/// Syncs `doc` through the HTTP batch form until neither side has anything to say.
fn sync_draft(addr: SocketAddr, token: &str, doc: &mut RegistrationDoc, id: DocumentId) {
    let mut sync = PeerSync::new();
    for round in 0.. {
        assert!(round < 20, "batch sync does not settle");
        let messages: Vec<Vec<u8>> = sync.generate(doc).into_iter().collect();
        let req = BatchRequest { document_id: id.to_string(), storage_id: None, messages: messages.clone() };
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

/// Account, photo, draft, synced: the cheapest real path to a submittable registration.
fn prepare(addr: SocketAddr, n: usize, exam: &ExamSession, photo: &Photo) -> Prepared {
    let (account, token) = register_candidate(addr, &format!("race{n}@example.org"));
    let r = http(
        addr,
        "PUT",
        &format!("/api/blobs/{}?exam={EXAM}", photo.digest),
        Some(&token),
        Some(&photo.jpeg),
    )
    .expect("upload");
    assert!(r.status == 201 || r.status == 200, "upload: {} {:?}", r.status, r.json());
    // A distinct resident ID per candidate: the birth day and the sequence number vary.
    let day = 1 + n / 1000;
    let seq = n % 1000;
    let id = resident_id(&format!("11010519900{:03}{seq:03}", 100 + day));
    let (center, subjects) = choice(n);
    let mut doc = RegistrationDoc::new(EXAM, ActorId::random()).expect("document");
    doc.accept_agreement(&exam.agreement, 1).expect("agreement");
    let birth = format!("1990-01-{day:02}");
    for (k, v) in [
        ("name", "王小明"),
        ("gender", if seq % 2 == 1 { "male" } else { "female" }),
        ("birth_date", birth.as_str()),
        ("id_document", &encode_id_document(IdKind::ResidentId, &id)),
        ("ethnicity", "han"),
        ("mobile", "13800138000"),
        ("education", "bachelor"),
        ("occupation", "student"),
    ] {
        doc.set_field(k, v).expect("field");
    }
    doc.choose_center(exam, center).expect("center");
    for s in &subjects {
        doc.add_subject(s).expect("subject");
    }
    doc.set_photo(&PhotoRef {
        sha256: photo.digest.clone(),
        bytes: u32::try_from(photo.jpeg.len()).expect("size"),
        width: photo.width,
        height: photo.height,
    })
    .expect("photo");
    doc.declare(2).expect("declaration");
    sync_draft(addr, &token, &mut doc, DocumentId::derive(EXAM, &account));
    let heads = doc.heads().iter().map(ToString::to_string).collect();
    Prepared { n, token, center, subjects, heads }
}

fn submit(addr: SocketAddr, c: &Prepared, key: &str) -> HttpResponse {
    let body = serde_json::to_vec(&json!({ "heads": c.heads })).expect("json");
    let path = format!("/api/registrations/{EXAM}/submit");
    http_with(addr, "POST", &path, Some(&c.token), Some(key), Some(&body)).expect("submit")
}

/// The counters candidates see, checked: `held + paid + free == capacity` (and the capacity of
/// the catalog) for every pool. Returns (held, paid, free) per pool.
fn sample(addr: SocketAddr) -> Result<BTreeMap<PoolKey, (u64, u64, u64)>, String> {
    let r = http(addr, "GET", &format!("/api/exams/{EXAM}/availability"), None, None)
        .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("availability answered {}", r.status));
    }
    let v = r.json();
    let n = |x: &Value| x.as_u64().unwrap_or(u64::MAX);
    let mut out = BTreeMap::new();
    for c in v["centers"].as_array().ok_or("no centers")? {
        let id = c["center"].as_str().unwrap_or_default().to_owned();
        let Some(spec) = CENTERS.iter().find(|s| s.id == id) else { continue };
        let pool = |held: u64, paid: u64, free: u64, capacity: u64, want: u32, what: &str| {
            if held + paid + free != capacity || capacity != u64::from(want) {
                Err(format!(
                    "{what}: held {held} + paid {paid} + free {free} != capacity {capacity} (catalog {want})"
                ))
            } else {
                Ok((held, paid, free))
            }
        };
        out.insert(
            (id.clone(), None),
            pool(n(&c["held"]), n(&c["paid"]), n(&c["free"]), n(&c["total_capacity"]), spec.total, &id)?,
        );
        for s in c["subjects"].as_array().ok_or("no subjects")? {
            let code = s["code"].as_str().unwrap_or_default().to_owned();
            let want = spec.subjects.iter().find(|(c, _)| *c == code).map(|(_, cap)| *cap).unwrap_or(0);
            let counts = pool(
                n(&s["held"]),
                n(&s["paid"]),
                n(&s["free"]),
                n(&s["capacity"]),
                want,
                &format!("{id}/{code}"),
            )?;
            out.insert((id.clone(), Some(code)), counts);
        }
    }
    if out.len() != CENTERS.len() * 5 {
        return Err(format!("expected {} pools, saw {}", CENTERS.len() * 5, out.len()));
    }
    Ok(out)
}

/// Samples the counters until stopped; every sample must keep the invariant.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, Vec<String>)>,
}

impl Sampler {
    fn start(addr: SocketAddr) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let (mut samples, mut violations) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                match sample(addr) {
                    Ok(_) => samples += 1,
                    Err(e) => violations.push(e),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (samples, violations)
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let (samples, violations) = self.handle.join().expect("sampler");
        assert!(
            violations.is_empty(),
            "the invariant broke in {} samples: {:?}",
            violations.len(),
            &violations[..violations.len().min(5)]
        );
        samples
    }
}

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis()).expect("ms")
}

/// Runs `f` over `items` on `threads` threads (item `i` on thread `i % threads`), collecting the
/// results in item order.
fn parallel<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (f, slots) = (&f, &slots);
            s.spawn(move || {
                for i in (t..items.len()).step_by(threads) {
                    *slots[i].lock().expect("slot") = Some(f(&items[i]));
                }
            });
        }
    });
    slots.into_iter().map(|m| m.into_inner().expect("slot").expect("result")).collect()
}

#[test]
fn thousands_race_for_two_hundred_seats_then_holds_expire_under_churn() {
    let total = Instant::now();
    let candidates: usize =
        std::env::var("RACE_CANDIDATES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(support::BIN);
    test_env(&mut cmd)
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("BAOMING_DEMO_OPERATOR_PASSWORD", OPERATOR_PASSWORD)
        .env("BAOMING_ARGON2__MAX_WAITING", "4096")
        .env("BAOMING_LIFECYCLE__PAYMENT_WINDOW_SECS", PAYMENT_WINDOW_SECS.to_string())
        .env("BAOMING_LIFECYCLE__SWEEP_INTERVAL_SECS", "1");
    let server = Server::spawn(cmd);
    let addr = server.addr;
    let toml = race_catalog();
    support::import_catalog(addr, &toml);
    let catalog = Catalog::from_toml_str(&toml).expect("the generated catalog is valid");
    let exam = catalog.exam(EXAM).expect("exam").clone();
    let photo = prepared_photo(&exam);

    // Preparation.
    let t = Instant::now();
    let ns: Vec<usize> = (0..candidates).collect();
    let prepared: Vec<Arc<Prepared>> = parallel(&ns, 16, |n| Arc::new(prepare(addr, *n, &exam, &photo)));
    let prepare_time = t.elapsed();
    eprintln!("race: {candidates} candidates prepared in {prepare_time:?}");

    // Phase 1: everybody at once.
    let sampler = Sampler::start(addr);
    let t = Instant::now();
    let answers = parallel(&prepared, 32, |c| submit(addr, c, "race"));
    let race_time = t.elapsed();
    assert!(
        race_time < Duration::from_secs(PAYMENT_WINDOW_SECS - 3),
        "the race took {race_time:?}: holds may have expired during it, raise PAYMENT_WINDOW_SECS"
    );
    let mut winners: BTreeMap<usize, i64> = BTreeMap::new();
    let mut named: BTreeSet<PoolKey> = BTreeSet::new();
    let (mut center_named, mut subject_named) = (0, 0);
    for (c, r) in prepared.iter().zip(&answers) {
        let v = r.json();
        match (r.status, v["code"].as_str()) {
            (200, _) => {
                assert_eq!(v["status"], "submitted", "{v}");
                winners.insert(c.n, v["deadline_ms"].as_i64().expect("a payment deadline"));
            }
            (409, Some("seat_gone")) => {
                let mine = pools_of(c.center, &c.subjects);
                let pools = v["pools"].as_array().expect("pools");
                assert!(!pools.is_empty(), "a loser is told which pool: {v}");
                for p in pools {
                    let key = (
                        p["center"].as_str().expect("center").to_owned(),
                        p["subject"].as_str().map(str::to_owned),
                    );
                    assert!(
                        mine.contains(&key),
                        "candidate {} is told about a pool it did not choose: {v}",
                        c.n
                    );
                    if key.1.is_some() {
                        subject_named += 1
                    } else {
                        center_named += 1
                    }
                    named.insert(key);
                }
            }
            other => panic!("unexpected answer to a submission {other:?}: {v}"),
        }
    }
    let after_race = sample(addr).expect("the invariant after the race");
    let mut expected: BTreeMap<PoolKey, u64> = BTreeMap::new();
    for n in winners.keys() {
        let c = &prepared[*n];
        for p in pools_of(c.center, &c.subjects) {
            *expected.entry(p).or_default() += 1;
        }
    }
    for (pool, (held, paid, free)) in &after_race {
        assert_eq!(
            (*held, *paid),
            (expected.get(pool).copied().unwrap_or(0), 0),
            "{pool:?}: one hold per winner"
        );
        if named.contains(pool) {
            assert_eq!(*free, 0, "{pool:?} was named full but has free seats");
        }
    }
    let seats: u32 = CENTERS.iter().map(|c| c.total).sum();
    assert!(
        !winners.is_empty() && winners.len() <= seats as usize,
        "{} winners for {seats} seats",
        winners.len()
    );
    assert!(
        center_named > 0 && subject_named > 0,
        "both kinds of pool ran out: {center_named} / {subject_named}"
    );

    // Phase 2: the holds run out while winners withdraw and latecomers keep trying.
    let t = Instant::now();
    let last_deadline = *winners.values().max().expect("winners");
    let phase_end = t + Duration::from_millis(u64::try_from(last_deadline - now_ms()).unwrap_or(0) + 3_000);
    let withdrawers: Vec<Arc<Prepared>> =
        winners.keys().filter(|n| n.is_multiple_of(4)).map(|n| Arc::clone(&prepared[*n])).collect();
    let latecomers: Vec<Arc<Prepared>> = prepared
        .iter()
        .filter(|c| !winners.contains_key(&c.n) && c.n.is_multiple_of(3))
        .map(Arc::clone)
        .collect();
    let late_wins = Mutex::new(BTreeSet::new());
    let attempts = AtomicUsize::new(0);
    let withdrawn = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for c in &withdrawers {
                let path = format!("/api/registrations/{EXAM}/withdraw");
                let r = http_with(addr, "POST", &path, Some(&c.token), Some("leave"), Some(b""))
                    .expect("withdraw");
                match (r.status, r.json()["code"].as_str()) {
                    (200, _) => {
                        withdrawn.fetch_add(1, Ordering::Relaxed);
                    }
                    // Expired first: nothing to withdraw.
                    (409, Some("transition_not_allowed")) => {}
                    other => panic!("unexpected answer to a withdrawal {other:?}: {:?}", r.json()),
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        for t in 0..16 {
            let (latecomers, late_wins, attempts) = (&latecomers, &late_wins, &attempts);
            s.spawn(move || {
                let mine: Vec<&Arc<Prepared>> = latecomers.iter().skip(t).step_by(16).collect();
                let mut round = 0;
                while Instant::now() < phase_end {
                    for c in &mine {
                        if late_wins.lock().expect("wins").contains(&c.n) {
                            continue;
                        }
                        attempts.fetch_add(1, Ordering::Relaxed);
                        let r = submit(addr, c, &format!("late-{round}"));
                        match (r.status, r.json()["code"].as_str()) {
                            (200, _) => {
                                late_wins.lock().expect("wins").insert(c.n);
                            }
                            (409, Some("seat_gone")) => {}
                            other => {
                                panic!("unexpected answer to a late submission {other:?}: {:?}", r.json())
                            }
                        }
                    }
                    round += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    let churn_time = t.elapsed();
    let late_wins = late_wins.into_inner().expect("wins");

    // The end: counters equal the records (read twice around the records, so that no expiry
    // slipped in between).
    let holders: BTreeSet<usize> = winners.keys().copied().chain(late_wins.iter().copied()).collect();
    let mut settled = false;
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..10 {
        let before = sample(addr).expect("the invariant at the end");
        statuses.clear();
        let mut from_records: BTreeMap<PoolKey, u64> = BTreeMap::new();
        for n in &holders {
            let c = &prepared[*n];
            let r = http(addr, "GET", &format!("/api/registrations/{EXAM}"), Some(&c.token), None)
                .expect("status");
            let v = r.json();
            let status = v["status"].as_str().expect("status").to_owned();
            let held: Vec<String> = serde_json::from_value(v["seats"].clone()).expect("seats");
            if status == "submitted" {
                let mut chosen = c.subjects.clone();
                chosen.sort();
                assert_eq!(held, chosen, "a hold shows its subjects");
                for p in pools_of(c.center, &c.subjects) {
                    *from_records.entry(p).or_default() += 1;
                }
            } else {
                assert!(held.is_empty(), "{status} holds nothing: {v}");
            }
            *statuses.entry(status).or_default() += 1;
        }
        let after = sample(addr).expect("the invariant at the end");
        if before != after {
            continue;
        }
        for (pool, (held, paid, _)) in &after {
            assert_eq!((*held, *paid), (from_records.get(pool).copied().unwrap_or(0), 0), "{pool:?}");
        }
        settled = true;
        break;
    }
    assert!(settled, "the counters never held still long enough to compare them with the records");
    let samples = sampler.finish();
    assert!(statuses.get("expired").copied().unwrap_or(0) > 0, "the sweeper expired holds: {statuses:?}");
    assert!(withdrawn.load(Ordering::Relaxed) > 0, "winners withdrew");
    assert!(!late_wins.is_empty(), "latecomers took seats that came free");
    assert!(samples >= 20, "the invariant was sampled throughout ({samples} samples)");
    eprintln!(
        "race: {candidates} candidates, {seats} seats at {} centers; prepared in {prepare_time:?}; \
         race {race_time:?}: {} holds, losers named {center_named} center and {subject_named} subject pools; \
         churn {churn_time:?}: {} withdrawals, {} late submissions ({} won); final {statuses:?}; \
         {samples} invariant samples; total {:?}",
        CENTERS.len(),
        winners.len(),
        withdrawn.load(Ordering::Relaxed),
        attempts.load(Ordering::Relaxed),
        late_wins.len(),
        total.elapsed(),
    );
}
