//! Waiting without sleeping, and the time.
//!
//! A test never sleeps until a deadline: a server with the test clock moves its clock forward
//! ([`crate::Server::advance`]). What is left is waiting for something asynchronous to happen —
//! a notification delivered, a closed socket noticed, a background client reconnected — and that
//! goes through [`wait_until`] (or [`wait_until_async`] inside async code whose condition needs
//! the runtime), which polls the condition at a short interval and fails with what it was
//! waiting for once its time is up.

use std::fmt::Display;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// Polls `done` until it holds; fails the test, naming `what`, if it does not within `within`.
/// `what` is only formatted on failure, so it may describe the state it finds then.
#[track_caller]
pub fn wait_until(what: impl Display, within: Duration, done: impl FnMut() -> bool) {
    assert!(poll_until(within, done), "gave up after {within:?} waiting for {what}");
}

/// Polls `done` until it holds or `within` has passed; whether it held.
pub(crate) fn poll_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

/// [`wait_until`] for a condition that awaits (a sync, a read through the async client): the
/// runtime keeps running while it waits.
pub async fn wait_until_async(what: impl Display, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "gave up after {within:?} waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// The system time in Unix milliseconds (a server with the test clock may be ahead of it:
/// [`crate::Server::time_ms`]).
pub fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_comes_true_ends_the_wait_and_one_that_does_not_fails_it() {
        let mut polls = 0;
        wait_until("the third poll", Duration::from_secs(5), || {
            polls += 1;
            polls == 3
        });
        assert_eq!(polls, 3);
        let failed = std::panic::catch_unwind(|| wait_until("never", Duration::from_millis(50), || false));
        let message = failed.expect_err("times out");
        let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("waiting for never"), "{text}");
    }
}
