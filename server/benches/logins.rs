//! Login throughput against the machine's Argon2id bound, and memory under a login flood.
//!
//! Run with `cargo bench -p baoming-server --bench logins`. It
//!
//! 1. measures the **Argon2id bound** in this run, before and after the login run (the machine
//!    may be shared; the mean is used): production parameters (19 MiB, t = 2, p = 1) hashed on
//!    every core for a few seconds → hashes per second (one login = one verification of the same
//!    cost, so this is the most logins per second the machine can do);
//! 2. starts the real `baoming-server` binary (release build, production Argon2 parameters) on a
//!    free port with a temporary database and measures **logins per second** with enough
//!    concurrent clients to keep every hashing slot busy;
//! 3. fires **1 000 concurrent login attempts** at once and reports the server's peak resident
//!    memory (`VmHWM`) and how the attempts ended (200, or 503 `busy` once the bounded queue is full).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "Lantern-Harbor-42";

fn argon_bound(seconds: f64) -> f64 {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    argon_rate(threads, seconds)
}

fn argon_rate(threads: usize, seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let count = count.clone();
            std::thread::spawn(move || {
                let params = Params::new(19 * 1024, 2, 1, None).unwrap();
                // Memory allocated once per thread, as the server's hasher does.
                let mut blocks = vec![Block::default(); params.block_count()];
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut out = [0u8; 32];
                while Instant::now() < deadline {
                    argon
                        .hash_password_into_with_memory(
                            PASSWORD.as_bytes(),
                            b"bench-salt-16byt",
                            &mut out,
                            &mut blocks[..],
                        )
                        .unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let head = String::from_utf8_lossy(&buf[..buf.len().min(32)]).into_owned();
    head.split(' ').nth(1)?.parse().ok()
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Starts the release server on a free port with the address throttle out of the way; the
/// process, its id and its address.
fn start_server(dir: &std::path::Path) -> (std::process::Child, u32, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baoming-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("BAOMING_LOG", "error")
        .env("BAOMING_THROTTLE__ADDRESS_ATTEMPTS_PER_MINUTE", "100000000")
        .env("BAOMING_THROTTLE__CAPTCHA_AFTER_ADDRESS_FAILURES", "100000000")
        .env_remove("BAOMING_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut addr: Option<SocketAddr> = None;
    let mut line = String::new();
    while addr.is_none() && reader.read_line(&mut line).unwrap() > 0 {
        addr = line.trim().strip_prefix("Baoming server listening on http://").and_then(|a| a.parse().ok());
        line.clear();
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    (child, pid, addr.expect("server address"))
}

/// `clients` concurrent clients logging in with `body` for `run_for`: (ok, other, seconds).
async fn login_run(addr: SocketAddr, body: &str, clients: usize, run_for: Duration) -> (u64, u64, f64) {
    let ok = Arc::new(AtomicU64::new(0));
    let other = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (ok, other, body) = (ok.clone(), other.clone(), body.to_owned());
            tokio::spawn(async move {
                while start.elapsed() < run_for {
                    match post(addr, "/api/sessions", &body).await {
                        Some(200) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (ok.load(Ordering::Relaxed), other.load(Ordering::Relaxed), start.elapsed().as_secs_f64())
}

/// `n` login attempts at once; how many got each answer.
async fn flood(addr: SocketAddr, body: &str, n: usize) -> std::collections::BTreeMap<String, u32> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let body = body.to_owned();
            tokio::spawn(async move { post(addr, "/api/sessions", &body).await })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::<String, u32>::new();
    for t in tasks {
        let s = t.await.unwrap().map(|s| s.to_string()).unwrap_or_else(|| "io error".into());
        *by_status.entry(s).or_default() += 1;
    }
    by_status
}

fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    println!("cores: {cores}");
    println!("one thread alone: {:.1} hashes/s", argon_rate(1, 3.0));
    let bound_before = argon_bound(4.0);
    println!("Argon2id bound before the run (19 MiB, t=2, p=1, {cores} threads): {bound_before:.1} hashes/s");

    let dir = tempfile::tempdir().unwrap();
    let (mut child, pid, addr) = start_server(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async move {
        let body = format!(r#"{{"login":"bench@example.org","password":"{PASSWORD}"}}"#);
        assert_eq!(post(addr, "/api/accounts", &body).await, Some(201));
        // Warm up.
        for _ in 0..4 {
            post(addr, "/api/sessions", &body).await;
        }
        let before_mem = vm_hwm_kib(pid);

        let clients = cores * 4;
        let (ok, other, secs) = login_run(addr, &body, clients, Duration::from_secs(8)).await;
        let rate = ok as f64 / secs;
        // The machine is shared: measure the bound again right after and use the mean.
        let bound_after = tokio::task::spawn_blocking(|| argon_bound(4.0)).await.unwrap();
        let bound = (bound_before + bound_after) / 2.0;
        println!("Argon2id bound after the run: {bound_after:.1} hashes/s (mean {bound:.1})");
        println!(
            "logins: {rate:.1}/s with {clients} concurrent clients over {secs:.1} s ({ok} ok, {other} other) = {:.0}% of the Argon2id bound",
            100.0 * rate / bound
        );

        println!("server peak resident memory after the login run: {:.1} MiB", vm_hwm_kib(pid) as f64 / 1024.0);
        let n = 1000;
        let start = Instant::now();
        let by_status = flood(addr, &body, n).await;
        let peak = vm_hwm_kib(pid);
        println!("flood: {n} concurrent login attempts in {:.1} s → {by_status:?}", start.elapsed().as_secs_f64());
        println!(
            "server peak resident memory: {:.1} MiB (before the load: {:.1} MiB)",
            peak as f64 / 1024.0,
            before_mem as f64 / 1024.0
        );
    });
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();
}
