//! Atomic seat accounting on the `seats` tree.
//!
//! A registration occupies one seat in its center's total pool and one in each chosen subject's
//! pool. [`stage_move`] reads those counters, lets the core's [`SeatLedger`] decide the move
//! all-or-nothing, and adds to a transaction both the new counters and a precondition that each
//! counter still holds exactly the bytes that were read. If another registration moved a counter
//! in between, the commit fails on that precondition and the caller re-reads and retries, so
//! `held + paid + free == capacity` holds for every pool at every commit and no seat is ever sold
//! twice.

use baoming_core::catalog::ExamSession;
use baoming_core::seats::{Pool, SeatCount, SeatError, SeatLedger, SeatMove};

use crate::catalog::{SeatCounter, center_key, read_counter, seat_key};
use crate::storage::{Storage, StorageError, Tree, Txn, encode};

/// The storage key and catalog capacity of `pool` in `exam`, if the catalog has it.
fn locate(exam: &ExamSession, pool: &Pool) -> Option<(Vec<u8>, u32)> {
    match pool {
        Pool::Center(c) => exam.center(c).map(|center| (center_key(&exam.id, c), center.total_capacity)),
        Pool::Subject { center, subject } => exam
            .center(center)
            .and_then(|c| c.offer(subject))
            .map(|offer| (seat_key(&exam.id, center, subject), offer.capacity)),
    }
}

/// Stages `movement` of one registration's seats (`center` + `subjects`) into `txn`. The outer
/// error is storage; the inner one is the ledger's refusal (nothing staged then), e.g.
/// [`SeatError::Full`] naming every pool without a free seat.
pub fn stage_move(
    store: &dyn Storage,
    txn: &mut Txn,
    exam: &ExamSession,
    center: &str,
    subjects: &[String],
    movement: SeatMove,
) -> Result<Result<(), SeatError>, StorageError> {
    let pools = SeatLedger::pools_of(center, subjects);
    let mut ledger = SeatLedger::default();
    let mut read = Vec::with_capacity(pools.len());
    for pool in pools {
        let Some((key, capacity)) = locate(exam, &pool) else {
            return Ok(Err(SeatError::UnknownPool(pool)));
        };
        let (counter, raw) = read_counter(store, &key, capacity)?;
        ledger.insert(
            pool.clone(),
            SeatCount { capacity: counter.capacity, held: counter.held, paid: counter.paid },
        );
        read.push((pool, key, raw));
    }
    if let Err(e) = ledger.apply(movement, center, subjects) {
        return Ok(Err(e));
    }
    for (pool, key, raw) in read {
        let Some(c) = ledger.get(&pool) else { continue };
        txn.require_equals(Tree::Seats, key.clone(), raw);
        txn.put(Tree::Seats, key, encode(&SeatCounter { capacity: c.capacity, held: c.held, paid: c.paid }));
    }
    Ok(Ok(()))
}

/// A pool as JSON for clients: `{"kind": "center", "center"}` or
/// `{"kind": "subject", "center", "subject"}`.
pub fn pool_json(pool: &Pool) -> serde_json::Value {
    match pool {
        Pool::Center(c) => serde_json::json!({ "kind": "center", "center": c }),
        Pool::Subject { center, subject } => {
            serde_json::json!({ "kind": "subject", "center": center, "subject": subject })
        }
    }
}
