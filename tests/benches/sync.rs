//! Sync benchmark harness against the real release server binary, with the stock
//! Node `@automerge/automerge-repo-sync-server` measured side by side on the same workload:
//!
//! * bytes on the wire for one field edit, device → server → second device;
//! * server memory per idle connected device;
//! * capacity: N connected devices each sending `BENCH_EDITS` field edits, each after the
//!   server's acknowledgement of the previous one (closed loop; round trips per second);
//! * latency at the budget's load: the same N devices editing on a fixed schedule that adds up
//!   to `BENCH_RATE` round trips per second for `BENCH_SECONDS` (open loop; a late answer delays
//!   nothing, and each latency is counted from the scheduled time, so a backlog shows up).
//!
//! The devices' edits are real Automerge changes and sync messages, prepared before each
//! measurement ([`Device::script`]) so that the two cores measure the server, not the load
//! generator's own Automerge work.
//!
//! Run: `cargo build --release -p baoming-server && cargo bench -p baoming-tests --bench sync`.
//! `BENCH_DEVICES` (default 1000), `BENCH_EDITS` (default 20), `BENCH_SECONDS` (default 10) and
//! `BENCH_RATE` (default 5000) change the load; `BENCH_NODE=0` skips the Node server. Under `cargo test` it runs once with
//! 20 devices for one second as a smoke test, against the release binary if present and
//! otherwise reports that it was not measured.
#![allow(clippy::print_stdout)] // printing the figures is what this harness is for

use std::time::{Duration, Instant};

use baoming_core::document::DocumentId;
use baoming_test_support::register_candidate;
use baoming_tests::{Device, EXAM, NodeSyncServer, release_binary, start_server, sync_url};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Load {
    devices: usize,
    /// Edits per device in the closed loop.
    edits: usize,
    /// Length of the open loop.
    seconds: u64,
    rate: u64,
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let load = if smoke {
        Load { devices: 20, edits: 20, seconds: 1, rate: 200 }
    } else {
        Load {
            devices: env_or("BENCH_DEVICES", 1000) as usize,
            edits: env_or("BENCH_EDITS", 20) as usize,
            seconds: env_or("BENCH_SECONDS", 10),
            rate: env_or("BENCH_RATE", 5000),
        }
    };
    let binary = match release_binary() {
        Ok(b) => b,
        Err(why) if smoke => {
            println!("sync harness smoke run not measured: {why}");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let ours = runtime.block_on(baoming(&binary, &load));
    if env_or("BENCH_NODE", 1) == 0 {
        return;
    }
    match NodeSyncServer::entry_point() {
        Ok(_) => {
            let node = runtime.block_on(node(&load));
            compare(&ours, &node, &load);
        }
        Err(why) if smoke => println!("Node sync server not measured: {why}"),
        Err(why) => panic!("{why}"),
    }
}

/// What one server did under the workload.
struct Figures {
    kib_per_idle_device: f64,
    closed: Run,
    open: Run,
}

struct Run {
    round_trips: usize,
    per_second: f64,
    median: Duration,
    p99: Duration,
}

impl Run {
    fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Run {
            round_trips: latencies.len(),
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            median: pct(0.5),
            p99: pct(0.99),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} round trips = {:.0}/s; median {:.1} ms, p99 {:.1} ms",
            self.round_trips,
            self.per_second,
            ms(self.median),
            ms(self.p99)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn baoming(binary: &std::path::Path, load: &Load) -> Figures {
    let server = start_server(binary, None).expect("start server");
    let (addr, url) = (server.addr, sync_url(server.addr));
    let n = load.devices;
    println!("== Baoming server ({}): {n} devices", binary.display());

    println!("registering {n} candidate accounts…");
    let accounts = tokio::task::spawn_blocking(move || {
        (0..n).map(|i| register_candidate(addr, &format!("bench{i}@example.org"))).collect::<Vec<_>>()
    })
    .await
    .expect("accounts");

    // Wire bytes of one field edit: device A → server → device B of the same candidate.
    let (acct, token) = &accounts[0];
    let mut a = Device::connect(&url, acct, token, 1_000_001).await.expect("device a");
    let mut b = Device::connect(&url, acct, token, 1_000_002).await.expect("device b");
    a.doc.set_field("name", "张三").expect("edit");
    a.exchange().await.expect("sync");
    b.receive_push().await.expect("push");
    b.exchange().await.expect("settle");
    let (before_a, before_b) = (a.wire_bytes, b.wire_bytes);
    a.doc.set_field("address", "北京市海淀区颐和园路5号").expect("edit");
    a.exchange().await.expect("sync");
    b.receive_push().await.expect("push");
    b.exchange().await.expect("ack");
    let edit_bytes = (a.wire_bytes - before_a) + (b.wire_bytes - before_b);
    assert_eq!(b.doc.draft().fields.get("address").map(String::as_str), Some("北京市海淀区颐和园路5号"));
    println!("one field edit, device → server → second device: {edit_bytes} bytes of frames (budget 1536)");
    drop((a, b));

    let ids: Vec<(DocumentId, String)> =
        accounts.into_iter().map(|(acct, token)| (DocumentId::derive(EXAM, &acct), token)).collect();
    let figures = measure(&ids, &url, || server.rss_bytes(), load).await;
    println!(
        "memory per idle connected device: {:.1} KiB (budget 50)\ncapacity (closed loop): {} (budget ≥ 5000/s)\nat {}/s offered (open loop): {} (budget p99 ≤ 50 ms)",
        figures.kib_per_idle_device,
        figures.closed.describe(),
        load.rate,
        figures.open.describe()
    );
    figures
}

async fn node(load: &Load) -> Figures {
    let server = NodeSyncServer::start().expect("start the Node sync server");
    let url = server.sync_url();
    println!("\n== stock Node @automerge/automerge-repo-sync-server 0.2.8: {} devices", load.devices);
    // The Node server has no accounts; each device gets its own document. automerge-repo 1.x
    // (which this server runs) only accepts ids whose 16 bytes form a valid UUID, so the ids
    // carry the version and variant bits of a random UUID.
    let ids: Vec<(DocumentId, String)> = (0..load.devices)
        .map(|i| {
            let mut bytes = *DocumentId::derive(EXAM, &format!("node-bench-{i}")).as_bytes();
            bytes[6] = (bytes[6] & 0x0f) | 0x40;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            (DocumentId::from_bytes(bytes), String::new())
        })
        .collect();
    let figures = measure(&ids, &url, || server.rss_bytes(), load).await;
    println!(
        "memory per idle connected device: {:.1} KiB\ncapacity (closed loop): {}\nat {}/s offered (open loop): {}",
        figures.kib_per_idle_device,
        figures.closed.describe(),
        load.rate,
        figures.open.describe()
    );
    figures
}

/// A device's prepared sync messages, in order.
type Script = Vec<Vec<u8>>;

/// Connects one device per (document, token), then runs the idle-memory, closed-loop and
/// open-loop measurements with edits prepared beforehand ([`Device::script`]).
async fn measure(
    documents: &[(DocumentId, String)],
    url: &str,
    rss: impl Fn() -> Option<u64>,
    load: &Load,
) -> Figures {
    let n = documents.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss().unwrap_or(0);
    let mut devices = Vec::with_capacity(n);
    for (i, (id, token)) in documents.iter().enumerate() {
        devices.push(Device::connect_document(url, *id, token, i as u32).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss().unwrap_or(0);
    let kib_per_idle_device = rss_after.saturating_sub(rss_before) as f64 / n as f64 / 1024.0;

    // Each phase's edits are prepared first; both phases continue the same chains of changes.
    let per_device_open = ((load.rate * load.seconds) as usize).div_ceil(n).max(1);
    let scripts: Vec<(Script, Script)> = devices
        .iter_mut()
        .map(|d| {
            let closed = d.script(load.edits, "海淀区").expect("script");
            let open = d.script(per_device_open, "朝阳区").expect("script");
            (closed, open)
        })
        .collect();
    let (closed_scripts, open_scripts): (Vec<_>, Vec<_>) = scripts.into_iter().unzip();
    let (devices, closed) = closed_loop(devices, closed_scripts).await;
    let (_devices, open) = open_loop(devices, open_scripts, load.rate).await;
    Figures { kib_per_idle_device, closed, open }
}

/// Every device sends its edits one after another, each after the answer to the previous one.
async fn closed_loop(devices: Vec<Device>, scripts: Vec<Script>) -> (Vec<Device>, Run) {
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .zip(scripts)
        .map(|(mut d, script)| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(script.len());
                for message in script {
                    let t = Instant::now();
                    d.send_scripted(message).await.expect("round trip");
                    latencies.push(t.elapsed());
                }
                (d, latencies)
            })
        })
        .collect();
    collect(tasks, started).await
}

/// Every device sends its edits on its own fixed schedule; together they offer `rate` edits
/// per second.
async fn open_loop(devices: Vec<Device>, scripts: Vec<Script>, rate: u64) -> (Vec<Device>, Run) {
    let n = devices.len() as f64;
    let period = Duration::from_secs_f64(n / rate.max(1) as f64);
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .zip(scripts)
        .enumerate()
        .map(|(i, (mut d, script))| {
            // Spread the devices' phases evenly over one period.
            let mut due = started + period.mul_f64(i as f64 / n);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(script.len());
                for message in script {
                    tokio::time::sleep_until(due.into()).await;
                    d.send_scripted(message).await.expect("round trip");
                    latencies.push(due.elapsed());
                    due += period;
                }
                (d, latencies)
            })
        })
        .collect();
    collect(tasks, started).await
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<(Device, Vec<Duration>)>>,
    started: Instant,
) -> (Vec<Device>, Run) {
    let mut devices = Vec::with_capacity(tasks.len());
    let mut all = Vec::new();
    for t in tasks {
        let (d, latencies) = t.await.expect("device task");
        devices.push(d);
        all.extend(latencies);
    }
    (devices, Run::of(all, started.elapsed()))
}

fn compare(ours: &Figures, node: &Figures, load: &Load) {
    println!("\n== side by side, {} devices, same machine and run", load.devices);
    println!("| | Baoming | Node sync server | ratio |\n|---|---|---|---|");
    println!(
        "| round trips/s, closed loop | {:.0} | {:.0} | {:.1}× (goal ≥ 5×) |",
        ours.closed.per_second,
        node.closed.per_second,
        ours.closed.per_second / node.closed.per_second.max(f64::EPSILON)
    );
    println!(
        "| p99 at {}/s offered | {:.1} ms | {:.1} ms | {:.1}× |",
        load.rate,
        ms(ours.open.p99),
        ms(node.open.p99),
        ms(node.open.p99) / ms(ours.open.p99).max(f64::EPSILON)
    );
    println!(
        "| KiB per idle device | {:.1} | {:.1} | {:.1}× |",
        ours.kib_per_idle_device,
        node.kib_per_idle_device,
        node.kib_per_idle_device / ours.kib_per_idle_device.max(f64::EPSILON)
    );
}
