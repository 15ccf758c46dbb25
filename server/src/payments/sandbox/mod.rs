//! The sandbox payment platform: an Alipay-style platform of our own, reached over HTTP exactly
//! as the real one is, so the adapter, the notification endpoint and the reconciler are tested
//! against the real wire format.
//!
//! What it does:
//!
//! * `GET|POST /gateway.do` — the open API. `alipay.trade.page.pay` answers the HTML payment
//!   page (the trade is created when the page is first opened, as on the real platform);
//!   `alipay.trade.query`, `.close` and `.refund` answer signed JSON. Requests must be signed
//!   by a registered application's key (RSA2 over every non-empty parameter but `sign`).
//! * `POST /cashier` — the page's form: `action=pay` pays, `action=cancel` leaves the trade
//!   unpaid. Expired or closed trades refuse payment.
//! * Notifications: each state change (paid, expired, refunded) is form-POSTed to the trade's
//!   `notify_url`, signed over every non-empty parameter but `sign` and `sign_type`, and
//!   re-sent on the platform's schedule ([`RETRY_SCHEDULE`], multiplied by
//!   [`SandboxConfig::time_scale`]) until the answer is exactly `success`.
//! * Faults ([`Faults`]), settable at start and at run time through `GET|PUT /sandbox/faults`:
//!   notifications lost, delayed, duplicated or reordered; the platform down (the open API and
//!   the cashier answer 503 and no notification goes out until it is up again).
//! * `GET /sandbox/deliveries` — every delivery attempt and its outcome;
//!   `GET /sandbox/platform-public-key` — the key that verifies the platform's signatures.
//!
//! State is in memory: trades live as long as the process (a restart is a fresh platform).
//! A sandbox holds no money and nothing in it must survive; a fresh platform per test run keeps
//! tests independent, and the server that embeds it later owns its own durable order state and
//! reconciles against whatever the platform answers.

mod notify;
mod open_api;
mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rsa2::{Rsa2Signer, Rsa2Verifier};

pub use notify::{Delivery, DeliveryOutcome};
pub use open_api::GatewayAnswer;
pub use state::{ApiFailure, CashierOutcome, PageView};

/// The platform's notification schedule: after the first attempt, re-sends after these
/// intervals (4 min, 10 min, 10 min, 1 h, 2 h, 6 h, 15 h), then gives up.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(4 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(15 * 3600),
];

/// An application (merchant) registered with the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxApp {
    /// Its `app_id`.
    pub app_id: String,
    /// Its seller id, written into notifications as `seller_id`.
    pub seller_id: String,
    /// Its public key: verifies its requests.
    pub merchant_key: Rsa2Verifier,
}

/// Fault switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Notifications are never sent (the state still changes; query shows it).
    pub lost: bool,
    /// Every delivery attempt is sent twice.
    pub duplicate: bool,
    /// Notifications are held and released newest first (two at a time, or when the reorder
    /// window ends).
    pub reorder: bool,
    /// Extra delay before a notification's first attempt, in milliseconds (not scaled).
    pub delay_ms: u64,
    /// The platform is down: the open API and the cashier answer 503, notifications wait.
    pub down: bool,
}

/// A change to some of the fault switches (`PUT /sandbox/faults`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsPatch {
    /// See [`Faults::lost`].
    pub lost: Option<bool>,
    /// See [`Faults::duplicate`].
    pub duplicate: Option<bool>,
    /// See [`Faults::reorder`].
    pub reorder: Option<bool>,
    /// See [`Faults::delay_ms`].
    pub delay_ms: Option<u64>,
    /// See [`Faults::down`].
    pub down: Option<bool>,
}

impl Faults {
    /// Applies `patch`.
    pub fn apply(&mut self, patch: FaultsPatch) {
        self.lost = patch.lost.unwrap_or(self.lost);
        self.duplicate = patch.duplicate.unwrap_or(self.duplicate);
        self.reorder = patch.reorder.unwrap_or(self.reorder);
        self.delay_ms = patch.delay_ms.unwrap_or(self.delay_ms);
        self.down = patch.down.unwrap_or(self.down);
    }
}

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The platform's private key (signs answers and notifications).
    pub platform_key: Rsa2Signer,
    /// The applications that may call it.
    pub apps: Vec<SandboxApp>,
    /// Multiplies [`RETRY_SCHEDULE`]: `1.0` is the real schedule, `0.001` turns 4 minutes into
    /// 240 ms.
    pub time_scale: f64,
    /// The switches at start.
    pub faults: Faults,
    /// How long reordered notifications are held at most.
    pub reorder_window: Duration,
    /// Timeout of one notification delivery.
    pub delivery_timeout: Duration,
}

impl SandboxConfig {
    /// A configuration with the real schedule, no faults and one application.
    pub fn new(platform_key: Rsa2Signer, app: SandboxApp) -> SandboxConfig {
        SandboxConfig {
            platform_key,
            apps: vec![app],
            time_scale: 1.0,
            faults: Faults::default(),
            reorder_window: Duration::from_secs(2),
            delivery_timeout: Duration::from_secs(10),
        }
    }

    /// A schedule interval scaled by [`SandboxConfig::time_scale`].
    pub fn scaled(&self, d: Duration) -> Duration {
        scale(d, self.time_scale)
    }
}

/// `d` × `factor`; a factor that is not a positive number leaves `d` as it is.
fn scale(d: Duration, factor: f64) -> Duration {
    if factor.is_finite() && factor > 0.0 { d.mul_f64(factor) } else { d }
}

/// The state shared by the routes, the dispatcher and the expiry sweeper.
#[derive(Debug)]
struct Shared {
    config: SandboxConfig,
    faults: Mutex<Faults>,
    trades: Mutex<state::Trades>,
    dispatcher: notify::Dispatcher,
}

/// A sandbox platform (cheap to clone).
#[derive(Debug, Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
}

impl Sandbox {
    /// A sandbox with `config`. Must be created inside a Tokio runtime (it starts its
    /// notification dispatcher and expiry sweeper there).
    pub fn new(config: SandboxConfig) -> Sandbox {
        let faults = Mutex::new(config.faults);
        let shared = Arc::new(Shared {
            config,
            faults,
            trades: Mutex::new(state::Trades::default()),
            dispatcher: notify::Dispatcher::default(),
        });
        let sweeper = Arc::downgrade(&shared);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                let Some(shared) = sweeper.upgrade() else { break };
                state::expire_due(&shared);
            }
        });
        Sandbox { shared }
    }

    /// The current fault switches.
    pub fn faults(&self) -> Faults {
        *lock(&self.shared.faults)
    }

    /// Changes fault switches; returns the new ones.
    pub fn set_faults(&self, patch: FaultsPatch) -> Faults {
        let mut f = lock(&self.shared.faults);
        f.apply(patch);
        *f
    }

    /// Every delivery attempt so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.dispatcher.log()
    }

    /// The platform's public key.
    pub fn platform_public_key(&self) -> &Rsa2Verifier {
        self.shared.config.platform_key.verifier()
    }
}

/// Locks a mutex, recovering from poisoning (the state stays consistent per operation).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_scales() {
        assert_eq!(scale(RETRY_SCHEDULE[0], 0.001), Duration::from_millis(240));
        assert_eq!(scale(RETRY_SCHEDULE[6], 0.001), Duration::from_secs(54));
        assert_eq!(scale(RETRY_SCHEDULE[0], 0.0), RETRY_SCHEDULE[0]);
        assert_eq!(scale(RETRY_SCHEDULE[0], f64::NAN), RETRY_SCHEDULE[0]);
        // Eight attempts over 24 h 24 min, as the platform does.
        assert_eq!(RETRY_SCHEDULE.iter().sum::<Duration>(), Duration::from_secs(24 * 3600 + 24 * 60));
    }
}
