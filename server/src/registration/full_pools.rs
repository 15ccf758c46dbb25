//! Pools known to be full, remembered from the seat path's own refusals, so that in the opening
//! surge a submission for a full pool is refused from memory — before the line in front of the
//! seat path, without reading or writing storage — instead of queueing for a slot only to be
//! told `seat_gone`.
//!
//! A fact is only ever kept while it is true: it is recorded for the catalog whose capacities the
//! refusal read (a new catalog forgets every fact), and only if no seat was released anywhere
//! between the moment the refusal read the counters and the moment it records ([`FullPools::epoch`]);
//! every release, once committed, forgets the facts of its pools. Forgetting is always safe —
//! the submission then takes the seat path and reads the counters.

use std::collections::HashSet;
use std::sync::Mutex;

use baoming_core::seats::Pool;

/// The facts, shared by every submission.
#[derive(Debug, Default)]
pub(crate) struct FullPools {
    facts: Mutex<Facts>,
}

#[derive(Debug, Default)]
struct Facts {
    /// The SHA-256 of the catalog the facts were read under.
    catalog: String,
    /// Releases so far (every one, of any pool).
    epoch: u64,
    /// (exam, pool) with no free seat.
    full: HashSet<(String, Pool)>,
}

impl FullPools {
    fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The release count now: take it before reading the counters, give it to [`Self::record_full`].
    pub(crate) fn epoch(&self) -> u64 {
        self.facts().epoch
    }

    /// The seat path found `pools` of `exam` full under catalog `catalog`, having read the
    /// counters after [`Self::epoch`] answered `seen`. Kept only if no release came since.
    pub(crate) fn record_full(&self, catalog: &str, exam: &str, pools: &[Pool], seen: u64) {
        let mut facts = self.facts();
        if facts.epoch != seen {
            return;
        }
        if facts.catalog != catalog {
            facts.catalog = catalog.to_owned();
            facts.full.clear();
        }
        facts.full.extend(pools.iter().map(|p| (exam.to_owned(), p.clone())));
    }

    /// Seats of `pools` of `exam` were released (committed): they are not full any more.
    pub(crate) fn released(&self, exam: &str, pools: &[Pool]) {
        let mut facts = self.facts();
        facts.epoch = facts.epoch.wrapping_add(1);
        for p in pools {
            facts.full.remove(&(exam.to_owned(), p.clone()));
        }
    }

    /// Which of `pools` of `exam` are known to be full under catalog `catalog`.
    pub(crate) fn known_full(&self, catalog: &str, exam: &str, pools: &[Pool]) -> Vec<Pool> {
        let facts = self.facts();
        if facts.catalog != catalog {
            return Vec::new();
        }
        pools.iter().filter(|p| facts.full.contains(&(exam.to_owned(), (*p).clone()))).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use baoming_core::seats::SeatLedger;

    use super::*;

    fn center(c: &str) -> Pool {
        Pool::Center(c.to_owned())
    }

    #[test]
    fn a_refusal_is_remembered_until_a_seat_of_its_pool_is_released() {
        let f = FullPools::default();
        let seen = f.epoch();
        f.record_full("cat-1", "exam", &[center("a")], seen);
        assert_eq!(
            f.known_full("cat-1", "exam", &SeatLedger::pools_of("a", &["15".into()])),
            vec![center("a")]
        );
        assert!(f.known_full("cat-1", "other-exam", &[center("a")]).is_empty(), "per exam");
        f.released("exam", &[center("b")]);
        assert_eq!(f.known_full("cat-1", "exam", &[center("a")]), vec![center("a")], "another pool's seat");
        f.released("exam", &[center("a")]);
        assert!(f.known_full("cat-1", "exam", &[center("a")]).is_empty());
    }

    #[test]
    fn a_refusal_that_read_before_a_release_is_not_remembered() {
        let f = FullPools::default();
        let seen = f.epoch();
        // A seat comes free after the refusal read the counters and before it records.
        f.released("exam", &[center("a")]);
        f.record_full("cat-1", "exam", &[center("a")], seen);
        assert!(f.known_full("cat-1", "exam", &[center("a")]).is_empty());
    }

    #[test]
    fn a_new_catalog_forgets_every_fact() {
        let f = FullPools::default();
        f.record_full("cat-1", "exam", &[center("a")], f.epoch());
        assert!(f.known_full("cat-2", "exam", &[center("a")]).is_empty(), "capacities may have changed");
        f.record_full("cat-2", "exam", &[center("b")], f.epoch());
        assert!(f.known_full("cat-2", "exam", &[center("a")]).is_empty(), "the old catalog's facts are gone");
        assert_eq!(f.known_full("cat-2", "exam", &[center("b")]), vec![center("b")]);
    }
}
