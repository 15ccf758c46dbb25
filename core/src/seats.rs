//! Seat accounting: the small algebra behind "no oversell, ever".
//!
//! Every counted pool (one per center, one per subject at a center) is a [`SeatCount`] with
//! `held + paid + free == capacity` at all times. A registration moves its seats together — one
//! in the center's pool and one in each chosen subject's pool — and [`SeatLedger`] applies such
//! moves all-or-nothing: it checks every pool first and changes none if one would break. The
//! server runs these operations inside one storage transaction, so the invariant holds at every
//! instant that anyone can observe.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::ExamSession;

/// One pool of seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeatCount {
    /// Seats in the pool.
    pub capacity: u32,
    /// Seats held for registrations that have not paid.
    pub held: u32,
    /// Seats of paid registrations.
    pub paid: u32,
}

impl SeatCount {
    /// An empty pool of `capacity` seats.
    pub fn new(capacity: u32) -> SeatCount {
        SeatCount { capacity, held: 0, paid: 0 }
    }

    /// Seats nobody holds or has paid for.
    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.held.saturating_add(self.paid))
    }

    /// Whether `held + paid + free == capacity` (i.e. `held + paid <= capacity`).
    pub fn is_consistent(&self) -> bool {
        self.held.checked_add(self.paid).is_some_and(|used| used <= self.capacity)
    }
}

/// Which pool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Pool {
    /// The center's total.
    Center(String),
    /// One subject at one center.
    Subject {
        /// Center id.
        center: String,
        /// Subject code.
        subject: String,
    },
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pool::Center(c) => write!(f, "center {c}"),
            Pool::Subject { center, subject } => write!(f, "subject {subject} at {center}"),
        }
    }
}

/// A seat move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatMove {
    /// free → held (submission).
    Hold,
    /// held → free (withdrawal, expiry, cancellation before payment).
    Release,
    /// held → paid (payment).
    Pay,
    /// paid → free (refund, cancellation after payment).
    Refund,
    /// free → paid directly (a payment that lands after its hold expired, when a seat is free).
    Rehold,
}

/// Why a move was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// These pools have no free seat.
    #[error("no seat left: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Full(Vec<Pool>),
    /// The pool does not exist.
    #[error("unknown seat pool: {0}")]
    UnknownPool(Pool),
    /// The move takes seats that are not there (a bookkeeping error upstream).
    #[error("{0} has no {1} seat to move")]
    NothingToMove(Pool, &'static str),
}

impl SeatError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SeatError::Full(_) => "seat_gone",
            SeatError::UnknownPool(_) => "unknown_pool",
            SeatError::NothingToMove(..) => "seat_bookkeeping",
        }
    }
}

/// All pools of a session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeatLedger {
    pools: BTreeMap<Pool, SeatCount>,
}

impl SeatLedger {
    /// Every pool of `exam` empty, at catalog capacity.
    pub fn for_exam(exam: &ExamSession) -> SeatLedger {
        let mut pools = BTreeMap::new();
        for c in &exam.centers {
            pools.insert(Pool::Center(c.id.clone()), SeatCount::new(c.total_capacity));
            for s in &c.subjects {
                pools.insert(
                    Pool::Subject { center: c.id.clone(), subject: s.code.clone() },
                    SeatCount::new(s.capacity),
                );
            }
        }
        SeatLedger { pools }
    }

    /// The pools a registration at `center` with `subjects` occupies.
    pub fn pools_of(center: &str, subjects: &[String]) -> Vec<Pool> {
        std::iter::once(Pool::Center(center.to_owned()))
            .chain(subjects.iter().map(|s| Pool::Subject { center: center.to_owned(), subject: s.clone() }))
            .collect()
    }

    /// Sets one pool's counts (e.g. as read from storage), replacing what was there.
    pub fn insert(&mut self, pool: Pool, count: SeatCount) {
        self.pools.insert(pool, count);
    }

    /// One pool's counts.
    pub fn get(&self, pool: &Pool) -> Option<SeatCount> {
        self.pools.get(pool).copied()
    }

    /// Every pool with its counts.
    pub fn iter(&self) -> impl Iterator<Item = (&Pool, &SeatCount)> {
        self.pools.iter()
    }

    /// Applies `movement` to every pool of a registration, all or nothing.
    pub fn apply(&mut self, movement: SeatMove, center: &str, subjects: &[String]) -> Result<(), SeatError> {
        let pools = SeatLedger::pools_of(center, subjects);
        let mut next = Vec::with_capacity(pools.len());
        let mut full = Vec::new();
        for pool in pools {
            let count = self.pools.get(&pool).copied().ok_or_else(|| SeatError::UnknownPool(pool.clone()))?;
            match apply_one(count, movement) {
                Ok(c) => next.push((pool, c)),
                Err(Shortage::Free) => full.push(pool),
                Err(Shortage::Held) => return Err(SeatError::NothingToMove(pool, "held")),
                Err(Shortage::Paid) => return Err(SeatError::NothingToMove(pool, "paid")),
            }
        }
        if !full.is_empty() {
            return Err(SeatError::Full(full));
        }
        for (pool, count) in next {
            self.pools.insert(pool, count);
        }
        Ok(())
    }
}

enum Shortage {
    Free,
    Held,
    Paid,
}

fn apply_one(c: SeatCount, movement: SeatMove) -> Result<SeatCount, Shortage> {
    let need_free = || if c.free() > 0 { Ok(()) } else { Err(Shortage::Free) };
    Ok(match movement {
        SeatMove::Hold => {
            need_free()?;
            SeatCount { held: c.held + 1, ..c }
        }
        SeatMove::Rehold => {
            need_free()?;
            SeatCount { paid: c.paid + 1, ..c }
        }
        SeatMove::Release => SeatCount { held: c.held.checked_sub(1).ok_or(Shortage::Held)?, ..c },
        SeatMove::Pay => {
            SeatCount { held: c.held.checked_sub(1).ok_or(Shortage::Held)?, paid: c.paid + 1, ..c }
        }
        SeatMove::Refund => SeatCount { paid: c.paid.checked_sub(1).ok_or(Shortage::Paid)?, ..c },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn subjects(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn holds_are_all_or_nothing() {
        let catalog = Catalog::demo();
        let mut ledger = SeatLedger::for_exam(&catalog.exams[0]);
        // bj-dongcheng: 8 seats in total, 4 for subject 66.
        for _ in 0..4 {
            ledger.apply(SeatMove::Hold, "bj-dongcheng", &subjects(&["66"])).expect("hold");
        }
        let before = ledger.clone();
        let err =
            ledger.apply(SeatMove::Hold, "bj-dongcheng", &subjects(&["15", "66"])).expect_err("66 full");
        assert_eq!(
            err,
            SeatError::Full(vec![Pool::Subject { center: "bj-dongcheng".into(), subject: "66".into() }])
        );
        assert_eq!(err.code(), "seat_gone");
        assert_eq!(ledger, before, "nothing changed");
        ledger.apply(SeatMove::Hold, "bj-dongcheng", &subjects(&["15"])).expect("15 is free");
        let center = ledger.get(&Pool::Center("bj-dongcheng".into())).expect("pool");
        assert_eq!((center.held, center.paid, center.free()), (5, 0, 3));
        assert!(matches!(
            ledger.apply(SeatMove::Hold, "bj-dongcheng", &subjects(&["38"])),
            Err(SeatError::UnknownPool(_))
        ));
        assert!(matches!(
            ledger.apply(SeatMove::Refund, "bj-dongcheng", &subjects(&["15"])),
            Err(SeatError::NothingToMove(_, "paid"))
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Submit(usize, Vec<usize>),
        Withdraw(usize),
        Pay(usize),
        Refund(usize),
        Rehold(usize),
    }

    const CODES: [&str; 3] = ["15", "66", "14"];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..40, proptest::collection::vec(0usize..3, 1..3)).prop_map(|(c, s)| Op::Submit(c, s)),
            (0usize..40).prop_map(Op::Withdraw),
            (0usize..40).prop_map(Op::Pay),
            (0usize..40).prop_map(Op::Refund),
            (0usize..40).prop_map(Op::Rehold),
        ]
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Held {
        Held,
        Paid,
    }

    proptest! {
        /// Random candidates submit, withdraw, pay, are refunded and re-hold at a tiny center;
        /// every pool stays consistent, never exceeds capacity, and matches what the candidates
        /// hold one by one.
        #[test]
        fn invariants_hold_under_any_sequence(ops in proptest::collection::vec(op(), 1..200)) {
            let catalog = Catalog::from_toml_str(
                &crate::catalog::DEMO_CATALOG_TOML.replace("total_capacity = 8", "total_capacity = 5"),
            ).expect("catalog");
            let exam = &catalog.exams[0];
            let mut ledger = SeatLedger::for_exam(exam);
            let mut candidates: HashMap<usize, (Vec<String>, Held)> = HashMap::new();
            let center = "bj-dongcheng";
            for op in ops {
                match op {
                    Op::Submit(c, s) => {
                        if candidates.contains_key(&c) { continue; }
                        let mut chosen: Vec<String> = s.iter().map(|i| CODES[*i % 2].to_owned()).collect();
                        chosen.sort();
                        chosen.dedup();
                        if ledger.apply(SeatMove::Hold, center, &chosen).is_ok() {
                            candidates.insert(c, (chosen, Held::Held));
                        }
                    }
                    Op::Withdraw(c) => {
                        if let Some((s, Held::Held)) = candidates.get(&c).cloned() {
                            ledger.apply(SeatMove::Release, center, &s).expect("release what is held");
                            candidates.remove(&c);
                        }
                    }
                    Op::Pay(c) => {
                        if let Some((s, Held::Held)) = candidates.get(&c).cloned() {
                            ledger.apply(SeatMove::Pay, center, &s).expect("pay what is held");
                            candidates.insert(c, (s, Held::Paid));
                        }
                    }
                    Op::Refund(c) => {
                        if let Some((s, Held::Paid)) = candidates.get(&c).cloned() {
                            ledger.apply(SeatMove::Refund, center, &s).expect("refund what is paid");
                            candidates.remove(&c);
                        }
                    }
                    Op::Rehold(c) => {
                        if let std::collections::hash_map::Entry::Vacant(slot) = candidates.entry(c) {
                            let s = vec![CODES[c % 3].to_owned()];
                            if ledger.apply(SeatMove::Rehold, center, &s).is_ok() {
                                slot.insert((s, Held::Paid));
                            }
                        }
                    }
                }
                for (pool, count) in ledger.iter() {
                    prop_assert!(count.is_consistent(), "{pool}: {count:?}");
                    prop_assert_eq!(count.held + count.paid + count.free(), count.capacity);
                    let (mut held, mut paid) = (0, 0);
                    for (subjects, state) in candidates.values() {
                        let mine = match pool {
                            Pool::Center(c) => c == center,
                            Pool::Subject { center: c, subject } => c == center && subjects.contains(subject),
                        };
                        if mine {
                            if *state == Held::Held { held += 1 } else { paid += 1 }
                        }
                    }
                    prop_assert_eq!((count.held, count.paid), (held, paid), "{}", pool);
                }
            }
        }
    }
}
