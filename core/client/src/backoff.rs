//! Reconnect delays: exponential backoff with jitter, pure so that it can be tested without a
//! clock.
//!
//! The n-th consecutive failure waits `min(max, initial · 2ⁿ)` scaled by a random factor in
//! `[1 − jitter, 1]` ("equal jitter" at the default 0.5): devices that lost the server at the
//! same moment spread their retries, yet none retries sooner than half the nominal delay, so a
//! flapping server is never hammered. A healthy session (one that got in sync) resets the count.
//!
//! When the server says when to come back (`Retry-After` on a 429 or 503), the wait is never
//! shorter than that, and is spread over up to `jitter` times that again: thousands of devices
//! told "5 s" in the same second come back over 5 to 7.5 s, not all at the fifth.

use std::time::Duration;

/// Reconnect policy of [`SyncClient::start`](crate::SyncClient::start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure (default 0.5 s).
    pub initial: Duration,
    /// Largest delay (default 30 s).
    pub max: Duration,
    /// Fraction of the nominal delay that is randomised, 0 (none) to 1 (full jitter); default 0.5.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(30), jitter: 0.5 }
    }
}

impl Backoff {
    /// The nominal (unjittered) delay after `failures` consecutive failures (1 = the first).
    pub fn nominal(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(32);
        let factor = 2f64.powi(exp as i32);
        let secs = (self.initial.as_secs_f64() * factor).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The delay after `failures` consecutive failures, with `unit` a uniform random number in
    /// `[0, 1)` choosing where in the jitter window it falls.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let nominal = self.nominal(failures).as_secs_f64();
        let jitter = self.jitter.clamp(0.0, 1.0);
        let unit = unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(nominal * (1.0 - jitter * unit))
    }

    /// [`Backoff::delay`], honouring the server's `Retry-After` when it sent one: at least
    /// `server`, spread by `unit` over `[server, server · (1 + jitter))`, and never shorter than
    /// the backoff's own delay.
    pub fn delay_after(&self, failures: u32, unit: f64, server: Option<Duration>) -> Duration {
        let own = self.delay(failures, unit);
        let Some(asked) = server else { return own };
        let share = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        let spread = Duration::try_from_secs_f64(asked.as_secs_f64() * share).unwrap_or(Duration::MAX);
        own.max(asked.saturating_add(spread))
    }
}

/// Consecutive-failure count with its policy.
#[derive(Debug, Clone)]
pub(crate) struct Retry {
    policy: Backoff,
    failures: u32,
}

impl Retry {
    pub(crate) fn new(policy: Backoff) -> Retry {
        Retry { policy, failures: 0 }
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next_delay_after(None)
    }

    /// Records a failure the server answered with a `Retry-After` (`None`: it did not say) and
    /// returns how long to wait (see [`Backoff::delay_after`]).
    pub(crate) fn next_delay_after(&mut self, server: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.delay_after(self.failures, random_unit(), server)
    }

    /// A healthy session: the next failure starts from the initial delay again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A uniform random number in `[0, 1)` from the system's generator (0.5 if it is unavailable,
/// which only loses the spreading, never the delay).
fn random_unit() -> f64 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 8];
    if SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let b = Backoff::default();
        let nominal: Vec<f64> = (1..=9).map(|n| b.nominal(n).as_secs_f64()).collect();
        assert_eq!(nominal, vec![0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(30), "no overflow");
        assert_eq!(b.nominal(0), Duration::from_millis(500));
    }

    #[test]
    fn jitter_stays_inside_its_window() {
        let b = Backoff::default();
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(1500));
        let lowest = b.delay(3, 0.999_999);
        assert!(lowest >= Duration::from_millis(1000) && lowest < Duration::from_millis(1001));
        let none = Backoff { jitter: 0.0, ..b };
        assert_eq!(none.delay(2, 0.9), Duration::from_secs(1));
        let wild = Backoff { jitter: 7.0, ..b };
        assert_eq!(wild.delay(2, 2.0), Duration::ZERO, "inputs are clamped");
    }

    #[test]
    fn the_servers_retry_after_is_a_floor_spread_by_the_jitter() {
        let b = Backoff::default();
        let five = Some(Duration::from_secs(5));
        assert_eq!(b.delay_after(1, 0.0, five), Duration::from_secs(5), "never sooner than asked");
        assert_eq!(b.delay_after(1, 0.5, five), Duration::from_millis(6250));
        let latest = b.delay_after(1, 0.999_999, five);
        assert!(latest > Duration::from_millis(7499) && latest < Duration::from_millis(7500), "{latest:?}");
        assert_eq!(b.delay_after(7, 0.0, five), Duration::from_secs(30), "a longer own backoff wins");
        assert_eq!(b.delay_after(3, 0.5, None), b.delay(3, 0.5), "nothing asked: the backoff alone");
        let steady = Backoff { jitter: 0.0, ..b };
        assert_eq!(steady.delay_after(1, 0.7, five), Duration::from_secs(5));
        let huge = b.delay_after(1, 1.0, Some(Duration::MAX));
        assert_eq!(huge, Duration::MAX, "saturates");
    }

    #[test]
    fn random_delays_spread_and_reset() {
        let mut r = Retry::new(Backoff::default());
        let first = r.next_delay();
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
        for _ in 0..10 {
            r.next_delay();
        }
        let late = r.next_delay();
        assert!(late >= Duration::from_secs(15) && late <= Duration::from_secs(30));
        r.reset();
        assert!(r.next_delay() <= Duration::from_millis(500));
        let units: Vec<f64> = (0..32).map(|_| random_unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(units.iter().any(|u| *u != units[0]), "not constant");
    }
}
