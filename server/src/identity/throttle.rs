//! Login throttling per account and per address.
//!
//! Failed logins are counted in a sliding window per account name and per client address.
//! Past a threshold the next attempts must carry a solved captcha — the account is never locked,
//! so an attacker cannot lock a victim out; the victim solves a captcha and logs in. Separately,
//! one address may make only so many attempts per minute (HTTP 429 with `Retry-After`), which
//! bounds what a single source can try without touching anyone else.
//!
//! The counters live in memory: they protect a running server and start empty after a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::IdentityError;
use crate::config::ThrottleConfig;

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 50_000;

#[derive(Debug, Default)]
struct Record {
    failures: VecDeque<Instant>,
    attempts: VecDeque<Instant>,
}

/// The throttle state.
#[derive(Debug)]
pub struct Throttle {
    cfg: ThrottleConfig,
    inner: Mutex<HashMap<String, Record>>,
}

impl Throttle {
    /// An empty throttle.
    pub fn new(cfg: ThrottleConfig) -> Throttle {
        Throttle { cfg, inner: Mutex::new(HashMap::new()) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Record>) -> T) -> T {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut map)
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.cfg.window_secs)
    }

    /// Counts one attempt from `address`; refuses with 429 past the per-minute limit.
    pub fn attempt(&self, address: &str) -> Result<(), IdentityError> {
        let now = Instant::now();
        let limit = self.cfg.address_attempts_per_minute as usize;
        let window = self.window();
        self.with(|map| {
            if map.len() > SWEEP_AT {
                map.retain(|_, r| {
                    prune(&mut r.failures, now, window);
                    prune(&mut r.attempts, now, Duration::from_secs(60));
                    !(r.failures.is_empty() && r.attempts.is_empty())
                });
            }
            let r = map.entry(format!("ip:{address}")).or_default();
            prune(&mut r.attempts, now, Duration::from_secs(60));
            if r.attempts.len() >= limit {
                let oldest = r.attempts.front().copied().unwrap_or(now);
                let wait = Duration::from_secs(60).saturating_sub(now - oldest);
                return Err(IdentityError::TooManyRequests { retry_after_secs: wait.as_secs().max(1) });
            }
            r.attempts.push_back(now);
            Ok(())
        })
    }

    /// Whether the next login for `account` from `address` must carry a captcha.
    pub fn captcha_required(&self, account: &str, address: &str) -> bool {
        let now = Instant::now();
        let window = self.window();
        self.with(|map| {
            let mut count = |key: String| {
                map.get_mut(&key)
                    .map(|r| {
                        prune(&mut r.failures, now, window);
                        r.failures.len() as u32
                    })
                    .unwrap_or(0)
            };
            count(format!("acct:{account}")) >= self.cfg.captcha_after_account_failures
                || count(format!("ip:{address}")) >= self.cfg.captcha_after_address_failures
        })
    }

    /// Records a failed login.
    pub fn failure(&self, account: &str, address: &str) {
        let now = Instant::now();
        self.with(|map| {
            for key in [format!("acct:{account}"), format!("ip:{address}")] {
                let r = map.entry(key).or_default();
                r.failures.push_back(now);
                if r.failures.len() > 1000 {
                    r.failures.pop_front();
                }
            }
        });
    }

    /// Records a successful login: the account's failures are forgotten.
    pub fn success(&self, account: &str) {
        self.with(|map| {
            if let Some(r) = map.get_mut(&format!("acct:{account}")) {
                r.failures.clear();
            }
        });
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) > window) {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            captcha_after_account_failures: 2,
            captcha_after_address_failures: 3,
            window_secs: 60,
            address_attempts_per_minute: 5,
        }
    }

    #[test]
    fn failures_raise_captcha_per_account_and_per_address() {
        let t = Throttle::new(cfg());
        assert!(!t.captcha_required("a", "1.1.1.1"));
        t.failure("a", "1.1.1.1");
        t.failure("a", "2.2.2.2");
        assert!(t.captcha_required("a", "3.3.3.3"), "account risk follows the account");
        assert!(!t.captcha_required("b", "2.2.2.2"));
        t.failure("c", "2.2.2.2");
        t.failure("d", "2.2.2.2");
        assert!(t.captcha_required("e", "2.2.2.2"), "address risk follows the address");
        t.success("a");
        assert!(!t.captcha_required("a", "3.3.3.3"));
    }

    #[test]
    fn address_rate_limit_answers_429() {
        let t = Throttle::new(cfg());
        for _ in 0..5 {
            t.attempt("9.9.9.9").expect("within limit");
        }
        assert!(matches!(t.attempt("9.9.9.9"), Err(IdentityError::TooManyRequests { .. })));
        t.attempt("8.8.8.8").expect("other addresses unaffected");
    }
}
