//! The server's clock.
//!
//! Every deadline, window and expiry the server decides reads the time from one [`Clock`]:
//! payment deadlines, registration, printing and on-site confirmation windows, session and
//! ticket lifetimes, audit timestamps. In production it is the system's clock. A server started
//! with `test_clock = true` runs a movable clock instead — real time plus an offset that only
//! grows — so end-to-end tests move time forward instead of sleeping until a deadline.
//! [`Clock::sleep_until_ms`] waits for a moment of this clock: it wakes when the moment comes in
//! real time or when a move of the test clock passes it, so a live connection that must end at
//! its session's expiry ends when a test moves the clock past it.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

/// A handle to the server's clock (cheap to clone; clones share the same time).
#[derive(Debug, Clone)]
pub struct Clock {
    /// Milliseconds added to the system time, announced to the waiters of
    /// [`Clock::sleep_until_ms`] when it moves; `None` for the plain system clock.
    offset_ms: Option<Arc<watch::Sender<i64>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { offset_ms: None }
    }

    /// A movable clock that starts at the system time (see [`Clock::advance`]).
    pub fn movable() -> Clock {
        Clock { offset_ms: Some(Arc::new(watch::Sender::new(0))) }
    }

    /// Whether this clock can be moved.
    pub fn is_movable(&self) -> bool {
        self.offset_ms.is_some()
    }

    /// Moves a movable clock forward by `ms`; returns the new time in Unix milliseconds, or
    /// `None` for the system clock (which never moves). Waiters of [`Clock::sleep_until_ms`]
    /// whose moment has come wake up.
    pub fn advance(&self, ms: u64) -> Option<i64> {
        let offset = self.offset_ms.as_ref()?;
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        offset.send_modify(|o| *o = o.saturating_add(ms));
        Some(self.now_ms())
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        let real = OffsetDateTime::now_utc();
        match &self.offset_ms {
            None => real,
            Some(offset) => real + time::Duration::milliseconds(*offset.borrow()),
        }
    }

    /// The current time in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        i64::try_from(self.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// The current time in Unix seconds.
    pub fn now_secs(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Waits until this clock reads `at_ms` (Unix milliseconds) or later: in real time, or at
    /// once when a move of the test clock passes it. Cancel-safe.
    pub async fn sleep_until_ms(&self, at_ms: i64) {
        let mut moved = self.offset_ms.as_ref().map(|o| o.subscribe());
        loop {
            let left = at_ms.saturating_sub(self.now_ms());
            let Ok(left) = u64::try_from(left) else { return };
            if left == 0 {
                return;
            }
            let nap = tokio::time::sleep(Duration::from_millis(left));
            match moved.as_mut() {
                None => nap.await,
                Some(rx) => {
                    tokio::select! {
                        () = nap => {}
                        // The sender lives as long as `self`: a move, never a close.
                        _ = rx.changed() => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_movable_clock_moves_forward_and_the_system_clock_does_not() {
        let system = Clock::system();
        assert_eq!(system.advance(1000), None);
        let clock = Clock::movable();
        let shared = clock.clone();
        let before = clock.now_ms();
        let after = clock.advance(3_600_000).expect("movable");
        assert!(after - before >= 3_600_000, "moved an hour: {before} → {after}");
        assert!(shared.now_ms() >= after, "clones share the offset");
        assert!(system.now_ms() < after, "the system clock stays behind");
    }

    #[tokio::test]
    async fn a_sleeper_wakes_when_the_clock_is_moved_past_its_moment() {
        let clock = Clock::movable();
        let at = clock.now_ms() + 3_600_000;
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until_ms(at).await }
        });
        tokio::task::yield_now().await;
        clock.advance(1_000).expect("movable");
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "a move short of the moment does not wake it");
        clock.advance(3_600_000).expect("movable");
        tokio::time::timeout(Duration::from_secs(5), sleeper).await.expect("woke").expect("joined");
        // A moment already past returns at once, on either clock.
        Clock::system().sleep_until_ms(0).await;
        clock.sleep_until_ms(at).await;
    }
}
