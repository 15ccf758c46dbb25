//! Seat-race benchmark against the real release server binary: `BENCH_CANDIDATES`
//! candidates (default 20 000) with complete drafts submit at once for `BENCH_SEATS` seats
//! (default 2 000), every decision a durable sled commit (group commit, nothing disabled).
//!
//! * Setup, timed separately and not part of the figure: a catalog generated from the demo
//!   catalog (every date shifted so that registration opened an hour ago; the Changping center
//!   gets `BENCH_SEATS` seats in total and as many per subject, so its one center pool is the
//!   counter every submission races on); the candidates' accounts, their photo uploads and their
//!   drafts (over the sync WebSocket), `BENCH_SETUP_WORKERS` candidates at a time.
//! * Timed: every candidate's `POST /api/registrations/{exam}/submit` with an `Idempotency-Key`,
//!   over `BENCH_CONNECTIONS` keep-alive connections (default 256), each sending its next
//!   candidate's submission as soon as the previous one is answered. Accepted and refused
//!   submissions both count as answered; latency is per request.
//! * Checked: exactly `BENCH_SEATS` holds in the seat counters (center and subjects, with
//!   `held + paid + free == capacity`) and in the operator's registration listing, every refusal
//!   `409 seat_gone`.
//!
//! Then **the opening surge** (`surge.rs`): for each multiple in `BENCH_SURGE` (default `5,20`),
//! a fresh server and `BENCH_SURGE_CANDIDATES` candidates (default 4 000) for `BENCH_SURGE_SEATS`
//! seats (default 400) pressing submit open loop at that multiple of the rate the race sustained,
//! over up to `BENCH_SURGE_CONNECTIONS` connections (default 1 000); a `503 busy` is retried after
//! its `Retry-After`. Checked: no request times out, exactly the seats are held; reported: the
//! busy answers, the accepted submissions' median and p99, the server's memory.
//!
//! `BENCH_RUNS` (default 1) repeats setup and race on fresh servers and reports the median;
//! `BENCH_PAUSE_SECS` waits that long between setup and race, printing the server's process id
//! (e.g. for `perf record -p`).
//! Run: `cargo build --release -p baoming-server && cargo bench -p baoming-tests --bench submits`.
//! Under `cargo test` it runs once with 400 candidates for 40 seats, then one surge at 5× with 200
//! candidates for 20 seats, and asserts only the exactly-N-holds and no-time-out properties,
//! against the release binary if present and otherwise reports that it was not measured.
#![allow(clippy::print_stdout)] // printing the figures is what this harness is for

#[path = "submits/surge.rs"]
mod surge;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use baoming_core::Catalog;
use baoming_core::api::accounts::{RegisterRequest, SessionAnswer};
use baoming_core::api::catalog::CenterSeats;
use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::registrations::{CandidateAction, CenterRegistration, SubmitRequest};
use baoming_core::photo::PhotoRef;
use baoming_test_support::{
    CANDIDATE_PASSWORD, Conn, OPERATOR_PASSWORD, Request, SAMPLE_PHOTO, Server, answer_form,
    assert_seats_add_up, get, post, put, resident_id,
};
use baoming_tests::{Device, EXAM, release_binary, start_server, sync_url};

/// The center whose seats are raced for.
const CENTER: &str = "bj-changping";
/// Its subjects; candidate `i` chooses subject `i % 6`.
const SUBJECTS: [&str; 6] = ["14", "15", "17", "24", "65", "66"];
/// Answered submissions per second the design asks for.
const BUDGET: f64 = 2000.0;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy)]
struct Load {
    candidates: usize,
    seats: usize,
    connections: usize,
    setup_workers: usize,
    runs: usize,
    /// Seconds between setup and race (to attach a profiler to the server).
    pause: u64,
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let load = if smoke {
        Load { candidates: 400, seats: 40, connections: 32, setup_workers: 16, runs: 1, pause: 0 }
    } else {
        Load {
            candidates: env_or("BENCH_CANDIDATES", 20_000) as usize,
            seats: env_or("BENCH_SEATS", 2_000) as usize,
            connections: env_or("BENCH_CONNECTIONS", 256) as usize,
            setup_workers: env_or("BENCH_SETUP_WORKERS", 64) as usize,
            runs: env_or("BENCH_RUNS", 1).max(1) as usize,
            pause: env_or("BENCH_PAUSE_SECS", 0),
        }
    };
    let binary = match release_binary() {
        Ok(b) => b,
        Err(why) if smoke => {
            println!("submit harness smoke run not measured: {why}");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    let catalog = bench_catalog(load.seats);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "== seat race ({}): {} candidates, {} seats, {} connections, {} run(s)",
        binary.display(),
        load.candidates,
        load.seats,
        load.connections,
        load.runs
    );
    let mut runs = Vec::new();
    for run in 1..=load.runs {
        let server = start_server(&binary, Some(&catalog)).expect("start server");
        let figures = runtime.block_on(race(&server, &load));
        println!("run {run}: {}", figures.describe());
        if smoke {
            assert_eq!(figures.accepted, load.seats, "every seat sold once, none twice");
            println!(
                "submit harness smoke run: exactly {} holds for {} candidates",
                load.seats, load.candidates
            );
            let small = Load { candidates: 200, seats: 20, connections: 64, ..load };
            let server = start_server(&binary, Some(&bench_catalog(small.seats))).expect("start server");
            let s = runtime.block_on(surge::surge(&server, &small, figures.per_second(), 5.0));
            println!("surge smoke run: {}", s.describe());
            assert!(s.answered_all(), "every request answered");
            return;
        }
        runs.push(figures);
    }
    report(&runs, &load);
    let rate = runs.iter().map(Figures::per_second).fold(f64::NAN, f64::max);
    let surge_load = Load {
        candidates: env_or("BENCH_SURGE_CANDIDATES", 4_000) as usize,
        seats: env_or("BENCH_SURGE_SEATS", 400) as usize,
        connections: env_or("BENCH_SURGE_CONNECTIONS", 1_000) as usize,
        ..load
    };
    let multiples = std::env::var("BENCH_SURGE").unwrap_or_else(|_| "5,20".into());
    println!(
        "\n== opening surge: {} candidates for {} seats, offered open loop at multiples of {rate:.0} submits/s",
        surge_load.candidates, surge_load.seats
    );
    for multiple in multiples.split(',').filter_map(|m| m.trim().parse::<f64>().ok()) {
        let catalog = bench_catalog(surge_load.seats);
        let server = start_server(&binary, Some(&catalog)).expect("start server");
        let s = runtime.block_on(surge::surge(&server, &surge_load, rate, multiple));
        println!("{} — {}", s.describe(), if s.calm() { "calm" } else { "NOT calm" });
    }
}

/// The demo catalog with every date shifted so that registration opened an hour ago, and
/// [`CENTER`] holding `seats` seats in total and as many per subject.
fn bench_catalog(seats: usize) -> String {
    use time::format_description::well_known::Rfc3339;
    let mut doc: toml::Table =
        toml::from_str(baoming_core::catalog::DEMO_CATALOG_TOML).expect("the demo catalog is TOML");
    let exam = doc["exam"].as_array_mut().and_then(|a| a.first_mut()).and_then(|e| e.as_table_mut());
    let exam = exam.expect("one exam");
    let opens = exam["registration"]["opens"].as_str().expect("opens");
    let opens = time::OffsetDateTime::parse(opens, &Rfc3339).expect("RFC 3339");
    let shift = time::OffsetDateTime::now_utc() - time::Duration::hours(1) - opens;
    fn shift_dates(v: &mut toml::Value, by: time::Duration) {
        match v {
            toml::Value::String(s) => {
                if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
                    *s = (t + by).format(&Rfc3339).expect("format");
                }
            }
            toml::Value::Array(a) => a.iter_mut().for_each(|x| shift_dates(x, by)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, x)| shift_dates(x, by)),
            _ => {}
        }
    }
    for (_, v) in exam.iter_mut() {
        shift_dates(v, shift);
    }
    let capacity = toml::Value::Integer(seats as i64);
    let centers = exam["center"].as_array_mut().expect("centers");
    let center = centers.iter_mut().find(|c| c["id"].as_str() == Some(CENTER)).expect("the raced center");
    center["total_capacity"] = capacity.clone();
    for s in center["subject"].as_array_mut().expect("subjects") {
        s["capacity"] = capacity.clone();
    }
    let text = toml::to_string(&doc).expect("serialise");
    Catalog::from_toml_str(&text).expect("the generated catalog is valid");
    text
}

/// A candidate ready to submit.
struct Candidate {
    token: String,
    heads: Vec<String>,
}

/// What one run measured.
struct Figures {
    setup: Duration,
    setup_stages: [Duration; 3],
    elapsed: Duration,
    accepted: usize,
    refused: usize,
    /// `503 busy` answers (retried after their `Retry-After`, not counted as answered).
    busy: usize,
    median: Duration,
    p99: Duration,
}

impl Figures {
    fn per_second(&self) -> f64 {
        (self.accepted + self.refused) as f64 / self.elapsed.as_secs_f64()
    }

    fn describe(&self) -> String {
        format!(
            "setup {:.1} s (worker time: accounts {:.0} s, photos {:.0} s, drafts {:.0} s); {} submits in {:.2} s = {:.0}/s ({} accepted, {} refused seat_gone, {} busy and retried); median {:.1} ms, p99 {:.1} ms",
            self.setup.as_secs_f64(),
            self.setup_stages[0].as_secs_f64(),
            self.setup_stages[1].as_secs_f64(),
            self.setup_stages[2].as_secs_f64(),
            self.accepted + self.refused,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.accepted,
            self.refused,
            self.busy,
            ms(self.median),
            ms(self.p99)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Setup, race and checks on one fresh server.
async fn race(server: &Server, load: &Load) -> Figures {
    let addr = server.addr;
    let started = Instant::now();
    let (candidates, setup_stages) = setup(addr, load).await;
    let setup = started.elapsed();
    if load.pause > 0 {
        println!("setup done; server pid {}; the race starts in {} s", server.pid(), load.pause);
        tokio::time::sleep(Duration::from_secs(load.pause)).await;
    }

    // The race: every connection takes the next candidate as soon as its previous answer came.
    let candidates = Arc::new(candidates);
    let next = Arc::new(AtomicUsize::new(0));
    let path = paths::registration_action(EXAM, CandidateAction::Submit);
    // Each request is built before its clock starts: the figure is the server's, not the encoder's.
    let requests: Arc<Vec<Request>> = Arc::new(
        candidates
            .iter()
            .map(|c| {
                let body = SubmitRequest { heads: c.heads.clone() };
                post(addr, &path).token(&c.token).key("bench-submit").json(&body)
            })
            .collect(),
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..load.connections)
        .map(|_| {
            let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut answers = Vec::new();
                let mut busy = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(i) else { break };
                    loop {
                        let t = Instant::now();
                        let answer = conn.send(request).await.expect("submit");
                        let latency = t.elapsed();
                        // Turned away at the line: back after its Retry-After, as a device.
                        if let Some(wait) = surge::busy_wait(&answer, i) {
                            busy += 1;
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        answers.push((latency, answer));
                        break;
                    }
                }
                (answers, busy)
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(candidates.len());
    let mut busy = 0;
    for w in workers {
        let (a, b) = w.await.expect("submit worker");
        answers.extend(a);
        busy += b;
    }
    let elapsed = started.elapsed();

    let (mut accepted, mut refused) = (0, 0);
    for (_, a) in &answers {
        if a.status == 200 {
            a.typed::<baoming_core::api::registrations::RegistrationView>();
            accepted += 1;
        } else {
            // Anything but a seat_gone refusal fails the run.
            a.refused(409, ErrorCode::SeatGone);
            refused += 1;
        }
    }
    let mut latencies: Vec<Duration> = answers.iter().map(|(l, _)| *l).collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    check_holds(addr, load.seats, accepted).await;
    Figures { setup, setup_stages, elapsed, accepted, refused, busy, median: pct(0.5), p99: pct(0.99) }
}

/// Exactly `seats` holds: in the seat counters (center and subjects, each with
/// `held + paid + free == capacity`), in the operator's listing, and as accepted answers.
async fn check_holds(addr: SocketAddr, seats: usize, accepted: usize) {
    let mut conn = Conn::new(addr);
    let availability = get(addr, &paths::center_availability(EXAM, CENTER));
    let v: CenterSeats = conn.send(&availability).await.expect("availability").typed();
    let (center_held, _) = assert_seats_add_up(&v);
    let subjects_held: u32 = v.subjects.iter().map(|s| s.held).sum();
    let login = baoming_core::api::operator::OperatorLoginRequest {
        username: "admin".into(),
        password: OPERATOR_PASSWORD.into(),
        captcha_id: None,
        captcha_answer: None,
    };
    let login = post(addr, paths::OPERATOR_SESSIONS).json(&login);
    let session: baoming_core::api::operator::OperatorSessionAnswer =
        conn.send(&login).await.expect("operator login").typed();
    let listing = get(addr, &paths::operator_registrations(EXAM, CENTER)).token(&session.token);
    let listed: Vec<CenterRegistration> = conn.send(&listing).await.expect("listing").typed();
    let holding = listed.iter().filter(|r| !r.registration.seats.is_empty()).count();
    assert_eq!(
        (center_held as usize, subjects_held as usize, holding, listed.len(), accepted),
        (seats, seats, seats, seats, seats),
        "exactly {seats} holds (center counter, subject counters, holding registrations, listed, accepted)"
    );
}

/// What every candidate's setup shares: the exam, the prepared photo and its reference.
type Shared = (baoming_core::catalog::ExamSession, Vec<u8>, PhotoRef);

/// Accounts, photos and drafts for every candidate, `load.setup_workers` at a time. Returns the
/// candidates and the time spent in each stage (summed over workers).
async fn setup(addr: SocketAddr, load: &Load) -> (Vec<Candidate>, [Duration; 3]) {
    let catalog = Catalog::demo();
    let exam = catalog.exam(EXAM).expect("exam").clone();
    let photo = baoming_core::photo::prepare(SAMPLE_PHOTO, &exam.photo).expect("prepare the sample photo");
    let photo_ref = PhotoRef {
        sha256: baoming_core::catalog::hex_sha256(&photo.jpeg),
        bytes: photo.jpeg.len() as u32,
        width: photo.report.width.expect("width"),
        height: photo.report.height.expect("height"),
    };
    let shared: Arc<Shared> = Arc::new((exam, photo.jpeg, photo_ref));
    let next = Arc::new(AtomicUsize::new(0));
    let n = load.candidates;
    let workers: Vec<_> = (0..load.setup_workers)
        .map(|_| {
            let (shared, next) = (Arc::clone(&shared), Arc::clone(&next));
            tokio::spawn(async move {
                let mut conn = Conn::new(addr);
                let mut made = Vec::new();
                let mut stages = [Duration::ZERO; 3];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    made.push((i, set_up_one(&mut conn, addr, &shared, i, &mut stages).await));
                }
                (made, stages)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let mut stages = [Duration::ZERO; 3];
    for w in workers {
        let (made, s) = w.await.expect("setup worker");
        all.extend(made);
        for (total, part) in stages.iter_mut().zip(s) {
            *total += part;
        }
    }
    all.sort_by_key(|(i, _)| *i);
    (all.into_iter().map(|(_, c)| c).collect(), stages)
}

/// Candidate `i`: the account, the photo upload and the draft, each stage's time added to
/// `stages`.
async fn set_up_one(
    conn: &mut Conn,
    addr: SocketAddr,
    shared: &Shared,
    i: usize,
    stages: &mut [Duration; 3],
) -> Candidate {
    let (exam, jpeg, photo) = shared;
    let t = Instant::now();
    let body = RegisterRequest { login: format!("race{i}@example.org"), password: CANDIDATE_PASSWORD.into() };
    let register = post(addr, paths::ACCOUNTS).json(&body);
    let session: SessionAnswer = conn.send(&register).await.expect("register").expect(201).typed();
    let (account, token) = (session.account_id, session.token);
    stages[0] += t.elapsed();

    let t = Instant::now();
    let upload = put(addr, &format!("{}?exam={EXAM}", paths::blob(&photo.sha256)))
        .token(&token)
        .content_type(paths::JPEG)
        .body(jpeg.clone());
    let r = conn.send(&upload).await.expect("upload");
    assert!(r.status == 201 || r.status == 200, "upload: {} {}", r.status, r.text());
    stages[1] += t.elapsed();

    let t = Instant::now();
    let mut device = Device::connect(&sync_url(addr), &account, &token, i as u32).await.expect("connect");
    let base = device.doc.heads();
    fill(&mut device, exam, photo, i).expect("fill the draft");
    let heads = device.doc.heads();
    let draft = whole_draft(&mut device, &base).encode();
    device.send_scripted(draft).await.expect("sync the draft");
    stages[2] += t.elapsed();
    Candidate { token, heads: heads.iter().map(ToString::to_string).collect() }
}

/// One sync message carrying every change since `base` (the genesis both sides hold), so the
/// server has the draft once it answers, however busy it is.
fn whole_draft(device: &mut Device, base: &[automerge::ChangeHash]) -> automerge::sync::Message {
    automerge::sync::Message {
        heads: device.doc.heads(),
        need: Vec::new(),
        have: vec![automerge::sync::Have {
            last_sync: base.to_vec(),
            bloom: automerge::sync::BloomFilter::default(),
        }],
        changes: device
            .doc
            .changes_since(base)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect::<Vec<_>>()
            .into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
}

/// A complete draft for candidate `i`: the agreement, every required field (with a distinct
/// resident ID), the center, one subject, the photo and the declaration.
fn fill(
    device: &mut Device,
    exam: &baoming_core::catalog::ExamSession,
    photo: &PhotoRef,
    i: usize,
) -> Result<(), baoming_core::document::DocError> {
    let d = &mut device.doc;
    // Distinct numbers for 100 000 candidates: the district digits and the sequence vary; the
    // sequence's last digit gives the gender (odd = male).
    let id = resident_id(&format!("1101{:02}19900101{:03}", (i / 1000) % 100, i % 1000));
    answer_form(d, exam, "张三丰", &id)?;
    d.choose_center(exam, CENTER)?;
    d.add_subject(SUBJECTS[i % SUBJECTS.len()])?;
    d.set_photo(photo)?;
    d.declare(2)
}

fn report(runs: &[Figures], load: &Load) {
    let median_by = |key: &dyn Fn(&Figures) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(key).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate = median_by(&|f| f.per_second());
    let last = runs.last().expect("a run");
    println!(
        "\n== seat race: {} candidates for {} seats, {} keep-alive connections, median of {} run(s)",
        load.candidates,
        load.seats,
        load.connections,
        runs.len()
    );
    println!("| figure | measured | budget | met? |\n|---|---|---|---|");
    println!(
        "| answered submits/s (accepted + refused) | {rate:.0} | ≥ {BUDGET:.0}/s | {} ({:.2}× the budget) |",
        if rate >= BUDGET { "yes" } else { "no" },
        rate / BUDGET
    );
    println!(
        "| accepted / refused `seat_gone` | {} / {} | exactly {} holds | yes |",
        last.accepted, last.refused, load.seats
    );
    println!(
        "| latency median / p99 | {:.1} ms / {:.1} ms | — | — |",
        median_by(&|f| ms(f.median)),
        median_by(&|f| ms(f.p99))
    );
    println!(
        "| setup (not timed): accounts, photos, drafts | {:.1} s wall; worker time {:.0} / {:.0} / {:.0} s | — | — |",
        median_by(&|f| f.setup.as_secs_f64()),
        last.setup_stages[0].as_secs_f64(),
        last.setup_stages[1].as_secs_f64(),
        last.setup_stages[2].as_secs_f64()
    );
}
