//! The server's clock.
//!
//! Every deadline, window and expiry the server decides reads the time from one [`Clock`]:
//! payment deadlines, registration, printing and on-site confirmation windows, session and
//! ticket lifetimes, audit timestamps. In production it is the system's clock. A server started
//! with `test_clock = true` runs a movable clock instead — real time plus an offset that only
//! grows — so end-to-end tests move time forward instead of sleeping until a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// A handle to the server's clock (cheap to clone; clones share the same time).
#[derive(Debug, Clone)]
pub struct Clock {
    /// Milliseconds added to the system time; `None` for the plain system clock.
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { offset_ms: None }
    }

    /// A movable clock that starts at the system time (see [`Clock::advance`]).
    pub fn movable() -> Clock {
        Clock { offset_ms: Some(Arc::new(AtomicI64::new(0))) }
    }

    /// Whether this clock can be moved.
    pub fn is_movable(&self) -> bool {
        self.offset_ms.is_some()
    }

    /// Moves a movable clock forward by `ms`; returns the new time in Unix milliseconds, or
    /// `None` for the system clock (which never moves).
    pub fn advance(&self, ms: u64) -> Option<i64> {
        let offset = self.offset_ms.as_ref()?;
        offset.fetch_add(i64::try_from(ms).unwrap_or(i64::MAX), Ordering::SeqCst);
        Some(self.now_ms())
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        let real = OffsetDateTime::now_utc();
        match &self.offset_ms {
            None => real,
            Some(offset) => real + time::Duration::milliseconds(offset.load(Ordering::SeqCst)),
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
}
