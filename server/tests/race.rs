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
//! 2. **churn**: the server's test clock walks across the payment deadlines in steps, each step
//!    sweeping, while a quarter of the winners withdraw and a crowd of latecomers keeps
//!    submitting into the seats that come free: every step runs concurrently with one round of
//!    every latecomer.
//!
//! Throughout both phases the client threads read the counters that candidates see (the
//! availability endpoint) between their requests and check `held + paid + free == capacity`
//! for every center and subject pool; at the end the counters equal what the registrations'
//! records hold.
//!
//! Preparing a candidate costs one photo check on the server (decode and face detection, in a
//! debug build, one per core at a time), which dominates the test.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

use automerge::ActorId;
use baoming_core::api::catalog::ExamAvailability;
use baoming_core::api::error::{ErrorCode, SeatPool};
use baoming_core::api::paths;
use baoming_core::api::registrations::{CandidateAction, RegistrationView, SubmitRequest};
use baoming_core::catalog::{Catalog, ExamSession};
use baoming_core::document::{DocumentId, RegistrationDoc};
use baoming_core::lifecycle::Status;
use baoming_core::photo::PhotoRef;

use support::{
    Response, Windows, answer_form, batch_sync, import_catalog, post, put, register_candidate, resident_id,
};

const EXAM: &str = support::DEMO_EXAM;
/// Longer than any preparation or race could take, so that holds run out only when the test
/// moves the clock.
const PAYMENT_WINDOW_SECS: u64 = 3_600;
/// How many steps the clock takes across the payment deadlines during the churn.
const CHURN_STEPS: u64 = 12;
/// A client thread checks the counters after this many of its requests.
const SAMPLE_EVERY: usize = 8;

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

/// The demo session with the generated centers instead of the demo ones (windows as in the demo).
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
    toml
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
    let p = baoming_core::photo::prepare(support::SAMPLE_PHOTO, &exam.photo).expect("prepare");
    let digest = baoming_core::catalog::hex_sha256(&p.jpeg);
    Photo {
        width: p.report.width.expect("width"),
        height: p.report.height.expect("height"),
        jpeg: p.jpeg,
        digest,
    }
}

/// Account, photo, draft, synced: the cheapest real path to a submittable registration.
fn prepare(addr: SocketAddr, n: usize, exam: &ExamSession, photo: &Photo) -> Prepared {
    let (account, token) = register_candidate(addr, &format!("race{n}@example.org"));
    let upload = format!("{}?exam={EXAM}", paths::blob(&photo.digest));
    let r = put(addr, &upload).token(&token).content_type(paths::JPEG).body(photo.jpeg.clone()).send();
    assert!(r.status == 201 || r.status == 200, "upload: {} {}", r.status, r.text());
    // A distinct resident ID per candidate: the birth day and the sequence number vary.
    let day = 1 + n / 1000;
    let seq = n % 1000;
    let id = resident_id(&format!("11010519900{:03}{seq:03}", 100 + day));
    let (center, subjects) = choice(n);
    let mut doc = RegistrationDoc::new(EXAM, ActorId::random()).expect("document");
    answer_form(&mut doc, exam, "王小明", &id).expect("answers");
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
    batch_sync(addr, &token, &mut doc, DocumentId::derive(EXAM, &account));
    let heads = doc.heads().iter().map(ToString::to_string).collect();
    Prepared { n, token, center, subjects, heads }
}

fn submit(addr: SocketAddr, c: &Prepared, key: &str) -> Response {
    let path = paths::registration_action(EXAM, CandidateAction::Submit);
    post(addr, &path).token(&c.token).key(key).json(&SubmitRequest { heads: c.heads.clone() }).send()
}

/// The counters candidates see, checked: `held + paid + free == capacity` (and the capacity of
/// the catalog) for every pool. Returns (held, paid, free) per pool.
fn sample(addr: SocketAddr) -> Result<BTreeMap<PoolKey, (u32, u32, u32)>, String> {
    let r = support::get(addr, &paths::availability(EXAM)).try_send().map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!("availability answered {}", r.status));
    }
    let seats: ExamAvailability = support::strict(&r.body)?;
    let mut out = BTreeMap::new();
    for c in &seats.centers {
        let Some(spec) = CENTERS.iter().find(|s| s.id == c.center) else { continue };
        let pool = |held: u32, paid: u32, free: u32, capacity: u32, want: u32, what: &str| {
            if held + paid + free != capacity || capacity != want {
                Err(format!(
                    "{what}: held {held} + paid {paid} + free {free} != capacity {capacity} (catalog {want})"
                ))
            } else {
                Ok((held, paid, free))
            }
        };
        out.insert(
            (c.center.clone(), None),
            pool(c.held, c.paid, c.free, c.total_capacity, spec.total, &c.center)?,
        );
        for s in &c.subjects {
            let want =
                spec.subjects.iter().find(|(code, _)| *code == s.code).map(|(_, cap)| *cap).unwrap_or(0);
            let counts = pool(s.held, s.paid, s.free, s.capacity, want, &format!("{}/{}", c.center, s.code))?;
            out.insert((c.center.clone(), Some(s.code.clone())), counts);
        }
    }
    if out.len() != CENTERS.len() * 5 {
        return Err(format!("expected {} pools, saw {}", CENTERS.len() * 5, out.len()));
    }
    Ok(out)
}

/// The invariant checks the client threads make between their requests.
#[derive(Default)]
struct Samples {
    taken: AtomicUsize,
    violations: Mutex<Vec<String>>,
}

impl Samples {
    /// Checks the counters on the `request`-th request of a thread, every [`SAMPLE_EVERY`].
    fn maybe(&self, addr: SocketAddr, request: usize) {
        if !request.is_multiple_of(SAMPLE_EVERY) {
            return;
        }
        self.taken.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = sample(addr) {
            self.violations.lock().expect("violations").push(e);
        }
    }

    fn finish(self) -> usize {
        let violations = self.violations.into_inner().expect("violations");
        assert!(
            violations.is_empty(),
            "the invariant broke in {} samples: {:?}",
            violations.len(),
            &violations[..violations.len().min(5)]
        );
        self.taken.into_inner()
    }
}

/// The server of `builder` with the payment window of these tests and the generated catalog open
/// now; the session and the photo every candidate uploads.
fn race_server(builder: support::ServerBuilder) -> (support::Server, ExamSession, Photo) {
    let server = builder.payment_window_secs(PAYMENT_WINDOW_SECS).start();
    let toml = server.catalog_around(&race_catalog(), Windows::OPEN);
    import_catalog(server.addr, &toml);
    let catalog = Catalog::from_toml_str(&toml).expect("the generated catalog is valid");
    let exam = catalog.exam(EXAM).expect("exam").clone();
    let photo = prepared_photo(&exam);
    (server, exam, photo)
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
#[allow(
    clippy::too_many_lines,
    reason = "one race and its churn, each phase needing the state the previous left"
)]
fn thousands_race_for_two_hundred_seats_then_holds_expire_under_churn() {
    let total = Instant::now();
    let candidates: usize =
        std::env::var("RACE_CANDIDATES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let (server, exam, photo) = race_server(support::server().env("BAOMING_ARGON2__MAX_WAITING", 4096));
    let addr = server.addr;

    // Preparation.
    let t = Instant::now();
    let ns: Vec<usize> = (0..candidates).collect();
    let prepared: Vec<Arc<Prepared>> = parallel(&ns, 16, |n| Arc::new(prepare(addr, *n, &exam, &photo)));
    let prepare_time = t.elapsed();
    eprintln!("race: {candidates} candidates prepared in {prepare_time:?}");

    // Phase 1: everybody at once.
    let samples = Samples::default();
    let t = Instant::now();
    let answers = parallel(&prepared, 32, |c| {
        let r = submit(addr, c, "race");
        samples.maybe(addr, c.n / 32);
        r
    });
    let race_time = t.elapsed();
    let mut winners: BTreeMap<usize, i64> = BTreeMap::new();
    let mut named: BTreeSet<PoolKey> = BTreeSet::new();
    let (mut center_named, mut subject_named) = (0, 0);
    for (c, r) in prepared.iter().zip(&answers) {
        if r.status == 200 {
            let v: RegistrationView = r.typed();
            assert_eq!(v.status, Status::Submitted, "{v:?}");
            winners.insert(c.n, v.deadline_ms.expect("a payment deadline"));
            continue;
        }
        let gone = r.refused(409, ErrorCode::SeatGone);
        let mine = pools_of(c.center, &c.subjects);
        let pools = gone.pools.clone().unwrap_or_default();
        assert!(!pools.is_empty(), "a loser is told which pool: {gone:?}");
        for p in pools {
            let key = match p {
                SeatPool::Center { center } => (center, None),
                SeatPool::Subject { center, subject } => (center, Some(subject)),
            };
            assert!(
                mine.contains(&key),
                "candidate {} is told about a pool it did not choose: {gone:?}",
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
    let after_race = sample(addr).expect("the invariant after the race");
    let mut expected: BTreeMap<PoolKey, u32> = BTreeMap::new();
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

    // Phase 2: the clock walks across the deadlines of the race in steps while winners withdraw and
    // latecomers keep trying. Each step, the clock's move (and its sweep) and the withdrawals
    // due run on this thread while every latecomer thread makes one round of submissions.
    let t = Instant::now();
    let first_deadline = *winners.values().min().expect("winners");
    let last_deadline = *winners.values().max().expect("winners");
    let before = server.advance(server.ms_until(first_deadline).saturating_sub(1_000));
    assert_eq!(before.expired, 0, "no hold is due a second before the first deadline");
    let step = server.ms_until(last_deadline) / (CHURN_STEPS - 1) + 1;
    let withdrawers: Vec<Arc<Prepared>> =
        winners.keys().filter(|n| n.is_multiple_of(4)).map(|n| Arc::clone(&prepared[*n])).collect();
    let latecomers: Vec<Arc<Prepared>> = prepared
        .iter()
        .filter(|c| !winners.contains_key(&c.n) && c.n.is_multiple_of(3))
        .map(Arc::clone)
        .collect();
    const LATE_THREADS: usize = 16;
    let late_wins = Mutex::new(BTreeSet::new());
    let attempts = AtomicUsize::new(0);
    let (mut withdrawn, mut expired) = (0, 0);
    let start = Barrier::new(LATE_THREADS + 1);
    let end = Barrier::new(LATE_THREADS + 1);
    std::thread::scope(|s| {
        for t in 0..LATE_THREADS {
            let (latecomers, late_wins, attempts, samples, start, end) =
                (&latecomers, &late_wins, &attempts, &samples, &start, &end);
            s.spawn(move || {
                let mine: Vec<&Arc<Prepared>> = latecomers.iter().skip(t).step_by(LATE_THREADS).collect();
                for round in 0..CHURN_STEPS {
                    start.wait();
                    for c in &mine {
                        if late_wins.lock().expect("wins").contains(&c.n) {
                            continue;
                        }
                        let request = attempts.fetch_add(1, Ordering::Relaxed);
                        let r = submit(addr, c, &format!("late-{round}"));
                        if r.status == 200 {
                            late_wins.lock().expect("wins").insert(c.n);
                        } else {
                            r.refused(409, ErrorCode::SeatGone);
                        }
                        samples.maybe(addr, request);
                    }
                    end.wait();
                }
            });
        }
        let per_step = withdrawers.len().div_ceil(CHURN_STEPS as usize);
        for round in 0..CHURN_STEPS as usize {
            start.wait();
            expired += server.advance(step).expired;
            for c in withdrawers.iter().skip(round * per_step).take(per_step) {
                let path = paths::registration_action(EXAM, CandidateAction::Withdraw);
                let r = post(addr, &path).token(&c.token).key("leave").body("").send();
                match r.status {
                    200 => withdrawn += 1,
                    // Expired first: nothing to withdraw.
                    _ => drop(r.refused(409, ErrorCode::TransitionNotAllowed)),
                }
            }
            end.wait();
        }
    });
    assert!(server.time_ms() > last_deadline, "the clock walked past every deadline of the race");
    let churn_time = t.elapsed();
    let late_wins = late_wins.into_inner().expect("wins");

    // The end: counters equal the records. The clock stands still now, and every hold left has
    // a deadline an hour away, so nothing moves under the comparison.
    let holders: BTreeSet<usize> = winners.keys().copied().chain(late_wins.iter().copied()).collect();
    let mut statuses: BTreeMap<Status, usize> = BTreeMap::new();
    let mut from_records: BTreeMap<PoolKey, u32> = BTreeMap::new();
    for n in &holders {
        let c = &prepared[*n];
        let v = support::registration(addr, &c.token);
        if v.status == Status::Submitted {
            let mut chosen = c.subjects.clone();
            chosen.sort();
            assert_eq!(v.seats, chosen, "a hold shows its subjects");
            for p in pools_of(c.center, &c.subjects) {
                *from_records.entry(p).or_default() += 1;
            }
        } else {
            assert!(v.seats.is_empty(), "{:?} holds nothing: {v:?}", v.status);
        }
        *statuses.entry(v.status).or_default() += 1;
    }
    for (pool, (held, paid, _)) in &sample(addr).expect("the invariant at the end") {
        assert_eq!((*held, *paid), (from_records.get(pool).copied().unwrap_or(0), 0), "{pool:?}");
    }
    let samples = samples.finish();
    assert!(
        statuses.get(&Status::Expired).copied().unwrap_or(0) > 0,
        "the sweeper expired holds: {statuses:?}"
    );
    assert!(expired > 0, "the clock's sweeps expired holds");
    assert!(withdrawn > 0, "winners withdrew");
    assert!(!late_wins.is_empty(), "latecomers took seats that came free");
    assert!(samples >= 20, "the invariant was sampled throughout ({samples} samples)");
    eprintln!(
        "race: {candidates} candidates, {seats} seats at {} centers; prepared in {prepare_time:?}; \
         race {race_time:?}: {} holds, losers named {center_named} center and {subject_named} subject pools; \
         churn {churn_time:?} in {CHURN_STEPS} clock steps of {step} ms: {expired} expired, {withdrawn} \
         withdrawals, {} late submissions ({} won); final {statuses:?}; {samples} invariant samples; total {:?}",
        CENTERS.len(),
        winners.len(),
        attempts.load(Ordering::Relaxed),
        late_wins.len(),
        total.elapsed(),
    );
}

/// The opening surge: with one submission at work and two in line, a crowd submitting at once is
/// answered at once — admitted, or 503 `busy` with `Retry-After` before anything is read or
/// written — and never left hanging; each candidate comes back after the `Retry-After`, as the
/// device client does, and in the end the holds are exactly those of the winners, every loser
/// told `seat_gone`.
#[test]
fn a_surge_beyond_the_submit_line_is_answered_busy_with_retry_after() {
    const CANDIDATES: usize = 300;
    let (server, exam, photo) = race_server(
        support::server()
            .env("BAOMING_LIFECYCLE__SUBMIT_SLOTS", 1)
            .env("BAOMING_LIFECYCLE__SUBMIT_LINE", 2)
            .env("BAOMING_LIFECYCLE__BUSY_RETRY_AFTER_SECS", 1),
    );
    let addr = server.addr;
    let ns: Vec<usize> = (0..CANDIDATES).collect();
    let prepared: Vec<Prepared> = parallel(&ns, 16, |n| prepare(addr, *n, &exam, &photo));

    let busy = AtomicUsize::new(0);
    let outcomes = parallel(&prepared, 64, |c| {
        loop {
            let r = submit(addr, c, "surge");
            if r.status != 503 {
                return r;
            }
            r.refused(503, ErrorCode::Busy);
            let wait: u64 = r.header(paths::RETRY_AFTER).and_then(|v| v.parse().ok()).expect("Retry-After");
            assert_eq!(wait, 1, "the configured Retry-After");
            busy.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_secs(wait));
        }
    });
    assert!(busy.load(Ordering::SeqCst) > 0, "a crowd of 64 at once overflows a line of two");
    let mut expected: BTreeMap<PoolKey, u32> = BTreeMap::new();
    let mut winners = 0;
    for (c, r) in prepared.iter().zip(&outcomes) {
        if r.status == 200 {
            assert_eq!(r.typed::<RegistrationView>().status, Status::Submitted);
            winners += 1;
            for p in pools_of(c.center, &c.subjects) {
                *expected.entry(p).or_default() += 1;
            }
        } else {
            r.refused(409, ErrorCode::SeatGone);
        }
    }
    assert!(winners > 0 && winners < CANDIDATES, "{winners} winners: more candidates than seats");
    eprintln!(
        "surge: {CANDIDATES} candidates, {winners} winners, {} busy answers",
        busy.load(Ordering::SeqCst)
    );
    for (pool, (held, paid, _)) in &sample(addr).expect("the invariant after the surge") {
        assert_eq!(
            (*held, *paid),
            (expected.get(pool).copied().unwrap_or(0), 0),
            "{pool:?}: one hold per winner"
        );
    }
}
