//! The opening surge: submissions offered open loop at a multiple of the rate the closed-loop
//! race sustained, on a fresh server with fresh candidates. Candidate `i` presses submit at
//! `i / (multiple · rate)` seconds; a `503 busy` is retried after its `Retry-After` plus up to
//! half again (as the device client does). Measured: whether every request was answered (none
//! timed out), how many were turned away busy, the latency of the accepted submissions, the
//! server's memory before and after, and exactly `seats` holds at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use baoming_core::api::registrations::{CandidateAction, SubmitRequest};
use baoming_test_support::{Conn, Request, Server, get, post};
use tokio::sync::Mutex;

use super::{Load, check_holds, ms, setup};

/// A request that takes longer than this counts as not answered.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What one surge measured.
pub(crate) struct Surge {
    multiple: f64,
    offered_rate: f64,
    sent: usize,
    accepted: usize,
    refused: usize,
    busy: usize,
    timed_out: usize,
    accepted_median: Duration,
    accepted_p99: Duration,
    elapsed: Duration,
    rss_before: u64,
    rss_after: u64,
}

impl Surge {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{:.0}× ({:.0} submits/s offered): {} requests in {:.2} s, {} timed out; {} accepted, {} refused seat_gone, {} answered 503 busy and retried; accepted median {:.1} ms, p99 {:.1} ms; server memory {:.0} → {:.0} MiB",
            self.multiple,
            self.offered_rate,
            self.sent,
            self.elapsed.as_secs_f64(),
            self.timed_out,
            self.accepted,
            self.refused,
            self.busy,
            ms(self.accepted_median),
            ms(self.accepted_p99),
            self.rss_before as f64 / (1 << 20) as f64,
            self.rss_after as f64 / (1 << 20) as f64,
        )
    }

    /// No request timed out.
    pub(crate) fn answered_all(&self) -> bool {
        self.timed_out == 0
    }

    /// Every request answered, exactly the seats held (checked already), the accepted
    /// submissions' p99 within 200 ms.
    pub(crate) fn calm(&self) -> bool {
        self.answered_all() && self.accepted_p99 <= Duration::from_millis(200)
    }
}

/// One surge at `multiple` × `rate` on `server` (fresh), `load.candidates` candidates for
/// `load.seats` seats, over at most `load.connections` connections at once.
pub(crate) async fn surge(server: &Server, load: &Load, rate: f64, multiple: f64) -> Surge {
    let addr = server.addr;
    let (candidates, _) = setup(addr, load).await;
    let path = paths::registration_action(super::EXAM, CandidateAction::Submit);
    let requests: Vec<Arc<Request>> = candidates
        .iter()
        .map(|c| {
            let body = SubmitRequest { heads: c.heads.clone() };
            Arc::new(post(addr, &path).token(&c.token).key("bench-surge").json(&body))
        })
        .collect();
    // The connections are open before the clock starts.
    let mut pool = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        let mut conn = Conn::new(addr);
        conn.send(&get(addr, "/healthz")).await.expect("a connection");
        pool.push(conn);
    }
    let pool = Arc::new(Mutex::new(pool));
    let idle = Arc::new(tokio::sync::Semaphore::new(load.connections));
    let rss_before = server.rss_bytes().unwrap_or(0);
    let offered_rate = rate * multiple;
    let started = Instant::now();
    let tasks: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| {
            let (pool, idle) = (Arc::clone(&pool), Arc::clone(&idle));
            let at = started + Duration::from_secs_f64(i as f64 / offered_rate);
            tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                press(&request, &pool, &idle, i).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.expect("a candidate"));
    }
    let elapsed = started.elapsed();
    let rss_after = server.rss_bytes().unwrap_or(0);
    let (mut accepted, mut refused, mut busy, mut timed_out) = (0, 0, 0, 0);
    let mut latencies = Vec::new();
    for o in &outcomes {
        busy += o.busy;
        match &o.answer {
            None => timed_out += 1,
            Some((latency, r)) if r.status == 200 => {
                accepted += 1;
                latencies.push(*latency);
            }
            Some((_, r)) => {
                r.refused(409, ErrorCode::SeatGone);
                refused += 1;
            }
        }
    }
    check_holds(addr, load.seats, accepted).await;
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    Surge {
        multiple,
        offered_rate,
        sent: outcomes.len() + busy,
        accepted,
        refused,
        busy,
        timed_out,
        accepted_median: pct(0.5).copied().unwrap_or_default(),
        accepted_p99: pct(0.99).copied().unwrap_or_default(),
        elapsed,
        rss_before,
        rss_after,
    }
}

/// One candidate's presses until a final answer: `None` if one timed out.
struct Outcome {
    answer: Option<(Duration, baoming_test_support::Response)>,
    busy: usize,
}

async fn press(
    request: &Request,
    pool: &Mutex<Vec<Conn>>,
    idle: &tokio::sync::Semaphore,
    i: usize,
) -> Outcome {
    let mut busy = 0;
    loop {
        let permit = idle.acquire().await.expect("the pool is never closed");
        let mut conn = pool.lock().await.pop().expect("a connection for every permit");
        let t = Instant::now();
        let answer = tokio::time::timeout(TIMEOUT, conn.send(request)).await;
        let latency = t.elapsed();
        pool.lock().await.push(conn);
        drop(permit);
        let Ok(Ok(r)) = answer else { return Outcome { answer: None, busy } };
        let Some(wait) = busy_wait(&r, i) else { return Outcome { answer: Some((latency, r)), busy } };
        busy += 1;
        tokio::time::sleep(wait).await;
    }
}

/// For a `503 busy` answer, how long candidate `i` waits before pressing again: the
/// `Retry-After` plus up to half again, spread by the candidate's number (the device client
/// draws it). `None` for any other answer.
pub(crate) fn busy_wait(r: &baoming_test_support::Response, i: usize) -> Option<Duration> {
    if r.status != 503 {
        return None;
    }
    r.refused(503, ErrorCode::Busy);
    let wait: u64 = r.header(paths::RETRY_AFTER).and_then(|v| v.parse().ok()).expect("Retry-After");
    let spread = (i * 7919 % 1000) as f64 / 2000.0;
    Some(Duration::from_secs_f64(wait as f64 * (1.0 + spread)))
}
