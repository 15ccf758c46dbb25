//! Notification delivery: the retry schedule and the notification faults.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use super::state::Outgoing;
use super::{RETRY_SCHEDULE, Shared, lock};

/// Most delivery records kept.
const MAX_LOG: usize = 10_000;

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The merchant answered `success`: no more attempts.
    Acknowledged,
    /// The merchant answered something else.
    Refused {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// No answer (connection refused, timeout).
    Failed {
        /// Why.
        error: String,
    },
    /// Dropped by the `lost` fault: never sent.
    Lost,
    /// The schedule ran out without an acknowledgement.
    GaveUp,
}

/// One delivery attempt (or a fault decision) in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The notification's id.
    pub notify_id: String,
    /// Its trade.
    pub out_trade_no: String,
    /// The trade status it reports.
    pub trade_status: String,
    /// 1 for the first attempt, 2 for the first re-send, …
    pub attempt: u32,
    /// 1, or 2 for the second copy of a duplicated attempt.
    pub copy: u32,
    /// Milliseconds since the sandbox started.
    pub at_ms: u64,
    /// What happened.
    pub outcome: DeliveryOutcome,
}

/// Holds the log, the reorder buffer and the stop signal.
#[derive(Debug)]
pub(super) struct Dispatcher {
    started: Instant,
    log: Mutex<Vec<Delivery>>,
    held: Mutex<Vec<Outgoing>>,
    stop_tx: watch::Sender<bool>,
}

impl Default for Dispatcher {
    fn default() -> Dispatcher {
        Dispatcher {
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            stop_tx: watch::channel(false).0,
        }
    }
}

fn param<'a>(o: &'a Outgoing, key: &str) -> &'a str {
    o.params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

impl Dispatcher {
    /// The log, oldest first.
    pub(super) fn log(&self) -> Vec<Delivery> {
        lock(&self.log).clone()
    }

    /// Stops every pending delivery.
    pub(super) fn stop(&self) {
        let _ = self.stop_tx.send(true);
    }

    fn record(&self, o: &Outgoing, attempt: u32, copy: u32, outcome: DeliveryOutcome) {
        let mut log = lock(&self.log);
        if log.len() >= MAX_LOG {
            log.remove(0);
        }
        log.push(Delivery {
            notify_id: param(o, "notify_id").to_owned(),
            out_trade_no: o.out_trade_no.clone(),
            trade_status: o.trade_status.as_str().to_owned(),
            attempt,
            copy,
            at_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome,
        });
    }

    /// Hands a notification to delivery, through the faults in force now.
    pub(super) fn enqueue(&self, shared: &Arc<Shared>, o: Outgoing) {
        let faults = *lock(&shared.faults);
        if faults.lost {
            self.record(&o, 1, 1, DeliveryOutcome::Lost);
            return;
        }
        if !faults.reorder {
            spawn_delivery(shared, o);
            return;
        }
        let release = {
            let mut held = lock(&self.held);
            held.push(o);
            if held.len() >= 2 { std::mem::take(&mut *held) } else { Vec::new() }
        };
        if release.is_empty() {
            // Alone for now: released when a second one comes, or when the window ends.
            let task = shared.clone();
            let window = shared.config.reorder_window;
            spawn_until_stopped(shared, async move {
                tokio::time::sleep(window).await;
                let held = std::mem::take(&mut *lock(&task.dispatcher.held));
                release_newest_first(&task, held);
            });
        }
        release_newest_first(shared, release);
    }
}

/// Runs `future` until it ends or the sandbox stops.
fn spawn_until_stopped(shared: &Arc<Shared>, future: impl Future<Output = ()> + Send + 'static) {
    let mut stop = shared.dispatcher.stop_tx.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            () = future => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
}

fn spawn_delivery(shared: &Arc<Shared>, o: Outgoing) {
    let task = shared.clone();
    spawn_until_stopped(shared, async move { deliver(&task, o).await });
}

/// Held notifications go out newest first: their first attempts one after the other, in
/// that order; re-sends then follow each one's own schedule.
fn release_newest_first(shared: &Arc<Shared>, held: Vec<Outgoing>) {
    if held.is_empty() {
        return;
    }
    let task = shared.clone();
    spawn_until_stopped(shared, async move {
        delay(&task).await;
        for o in held.into_iter().rev() {
            if !attempt(&task, &o, 1).await {
                let again = task.clone();
                spawn_until_stopped(&task, async move { resend_from(&again, o, 2).await });
            }
        }
    });
}

async fn delay(shared: &Shared) {
    let delay = lock(&shared.faults).delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
}

/// Sends `o` until it is acknowledged or the schedule runs out.
async fn deliver(shared: &Arc<Shared>, o: Outgoing) {
    delay(shared).await;
    if !attempt(shared, &o, 1).await {
        resend_from(shared, o, 2).await;
    }
}

/// Attempt `n` and the following ones, each after its interval of the schedule.
async fn resend_from(shared: &Arc<Shared>, o: Outgoing, first: u32) {
    let last = u32::try_from(RETRY_SCHEDULE.len()).unwrap_or(7) + 1;
    for n in first..=last {
        let wait = RETRY_SCHEDULE.get(n as usize - 2).copied().unwrap_or_default();
        tokio::time::sleep(shared.config.scaled(wait)).await;
        if attempt(shared, &o, n).await {
            return;
        }
    }
    shared.dispatcher.record(&o, last, 1, DeliveryOutcome::GaveUp);
}

/// One attempt (two copies under the `duplicate` fault), after waiting out a `down` platform;
/// whether it was acknowledged.
async fn attempt(shared: &Arc<Shared>, o: &Outgoing, n: u32) -> bool {
    while lock(&shared.faults).down {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let copies = if lock(&shared.faults).duplicate { 2 } else { 1 };
    let mut acknowledged = false;
    for copy in 1..=copies {
        let outcome = send(shared, o).await;
        acknowledged |= outcome == DeliveryOutcome::Acknowledged;
        shared.dispatcher.record(o, n, copy, outcome);
    }
    acknowledged
}

/// One POST of the notification; blocking I/O on the blocking pool.
async fn send(shared: &Arc<Shared>, o: &Outgoing) -> DeliveryOutcome {
    let url = o.notify_url.clone();
    let body = super::super::form_encode(o.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let timeout = shared.config.delivery_timeout;
    let result = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
            .send(body)
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().with_config().limit(4096).read_to_string().unwrap_or_default();
        Ok::<_, String>((status, text))
    })
    .await;
    match result {
        Ok(Ok((200, text))) if text.trim() == "success" => DeliveryOutcome::Acknowledged,
        Ok(Ok((status, text))) => DeliveryOutcome::Refused { status, body: text.chars().take(200).collect() },
        Ok(Err(error)) => DeliveryOutcome::Failed { error },
        Err(e) => DeliveryOutcome::Failed { error: e.to_string() },
    }
}
