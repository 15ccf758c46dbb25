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
use crate::store::{Storage, StorageError, Tree, Txn, encode};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{availability, import, load};
    use crate::store::{CommitError, SledStorage};
    use baoming_core::catalog::DEMO_CATALOG_TOML;

    fn setup() -> (tempfile::TempDir, SledStorage, ExamSession) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SledStorage::open(dir.path()).expect("open");
        let mut t = Txn::new();
        let view =
            import(&s, &crate::store::crypto::Keys::from_master(&[1; 32]), &mut t, DEMO_CATALOG_TOML, 1)
                .expect("import");
        s.commit(&t).expect("commit");
        let exam = view.catalog.exams[0].clone();
        (dir, s, exam)
    }

    #[test]
    fn holds_until_a_pool_is_full_then_names_it_and_releases_restore_the_seats() {
        let (_d, s, exam) = setup();
        let subjects = vec!["15".to_owned()];
        for _ in 0..4 {
            let mut t = Txn::new();
            stage_move(&s, &mut t, &exam, "bj-dongcheng", &subjects, SeatMove::Hold)
                .expect("read")
                .expect("free");
            s.commit(&t).expect("commit");
        }
        let mut t = Txn::new();
        match stage_move(&s, &mut t, &exam, "bj-dongcheng", &subjects, SeatMove::Hold).expect("read") {
            Err(SeatError::Full(pools)) => {
                assert_eq!(pools, vec![Pool::Subject { center: "bj-dongcheng".into(), subject: "15".into() }])
            }
            other => panic!("expected a full pool, got {other:?}"),
        }
        assert!(t.writes.is_empty(), "nothing staged on refusal");
        let mut t = Txn::new();
        stage_move(&s, &mut t, &exam, "bj-dongcheng", &subjects, SeatMove::Release)
            .expect("read")
            .expect("held");
        s.commit(&t).expect("commit");
        let view = load(&s).expect("load").expect("catalog");
        let seats = availability(&s, &view, &exam.id, Some("bj-dongcheng")).expect("read").expect("exam");
        assert_eq!((seats[0].held, seats[0].free), (3, 5));
        let s15 = seats[0].subjects.iter().find(|x| x.code == "15").expect("15");
        assert_eq!((s15.held, s15.free), (3, 1));
    }

    #[test]
    fn a_move_staged_on_a_stale_read_fails_its_precondition() {
        let (_d, s, exam) = setup();
        let subjects = vec!["66".to_owned()];
        let mut first = Txn::new();
        stage_move(&s, &mut first, &exam, "bj-dongcheng", &subjects, SeatMove::Hold)
            .expect("read")
            .expect("free");
        let mut second = Txn::new();
        stage_move(&s, &mut second, &exam, "bj-dongcheng", &subjects, SeatMove::Hold)
            .expect("read")
            .expect("free");
        s.commit(&first).expect("first wins");
        assert!(matches!(s.commit(&second), Err(CommitError::Precondition(_))), "the stale move is refused");
    }
}
