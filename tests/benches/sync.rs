//! Sync benchmark harness against the real release server binary (DESIGN §7):
//!
//! * bytes on the wire for one field edit, device → server → second device;
//! * server memory per idle connected device;
//! * sync round trips per second and p99 latency with N connected devices, each editing a field
//!   and waiting for the server's acknowledgement in a closed loop.
//!
//! Run: `cargo build --release -p baoming-server && cargo bench -p baoming-tests --bench sync`.
//! `BENCH_DEVICES` (default 1000) and `BENCH_SECONDS` (default 10) change the load. Under
//! `cargo test` it runs once with 20 devices for one second as a smoke test, against the release
//! binary if present and otherwise reports that it was not measured.
#![allow(clippy::print_stdout)] // printing the figures is what this harness is for

use std::time::{Duration, Instant};

use baoming_tests::{Device, ServerProcess, register, release_binary};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let devices = if smoke { 20 } else { env_or("BENCH_DEVICES", 1000) as usize };
    let seconds = if smoke { 1 } else { env_or("BENCH_SECONDS", 10) };
    let binary = match release_binary() {
        Ok(b) => b,
        Err(why) if smoke => {
            println!("sync harness smoke run not measured: {why}");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run(&binary, devices, seconds));
}

async fn run(binary: &std::path::Path, n: usize, seconds: u64) {
    let server = ServerProcess::start(binary).expect("start server");
    let addr = server.addr;
    println!("sync harness: {n} devices, {seconds} s closed loop, server {}", binary.display());

    // Accounts (one per device), created before anything is measured.
    println!("registering {n} candidate accounts…");
    let accounts = tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|i| register(addr, &format!("bench{i}@example.org")).expect("register"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("accounts");

    // 1. Wire bytes of one field edit: device A → server → device B of the same candidate.
    let (acct, token) = &accounts[0];
    let mut a = Device::connect(addr, acct, token, 1_000_001).await.expect("device a");
    let mut b = Device::connect(addr, acct, token, 1_000_002).await.expect("device b");
    a.doc.set_field("name", "张三").expect("edit");
    a.exchange(false).await.expect("sync");
    b.receive_push().await.expect("push");
    b.exchange(false).await.expect("settle");
    let (before_a, before_b) = (a.wire_bytes, b.wire_bytes);
    a.doc.set_field("address", "北京市海淀区颐和园路5号").expect("edit");
    a.exchange(false).await.expect("sync");
    b.receive_push().await.expect("push");
    b.exchange(false).await.expect("ack");
    let edit_bytes = (a.wire_bytes - before_a) + (b.wire_bytes - before_b);
    assert_eq!(b.doc.draft().fields.get("address").map(String::as_str), Some("北京市海淀区颐和园路5号"));
    println!("one field edit, device → server → second device: {edit_bytes} bytes of frames (budget 1536)");
    drop((a, b));

    // 2. Memory per idle connected device.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_bytes().unwrap_or(0);
    let mut devices = Vec::with_capacity(n);
    for (i, (acct, token)) in accounts.iter().enumerate() {
        devices.push(Device::connect(addr, acct, token, i as u32).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_bytes().unwrap_or(0);
    let per_device = rss_after.saturating_sub(rss_before) / n as u64;
    println!(
        "server memory: {:.1} MiB before, {:.1} MiB with {n} connected devices → {:.1} KiB per idle device (budget 50)",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        per_device as f64 / 1024.0
    );

    // 3. Closed loop: every device edits a field and waits for the acknowledgement.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut k = 0u64;
                while Instant::now() < deadline {
                    k += 1;
                    let t = Instant::now();
                    d.doc.set_field("address", &format!("海淀区{i}号{k}")).expect("edit");
                    d.round_trip().await.expect("round trip");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("device task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "round trips: {} in {elapsed:.1} s = {:.0}/s with {n} connected devices (budget ≥ 5000/s); median {:.1} ms, p99 {:.1} ms (budget ≤ 50 ms)",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
}
