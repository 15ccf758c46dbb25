//! The refused-change memory against a plain model: bounded, least recently recalled forgotten
//! first, recalled only in the status it was decided in, and stored without loss.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

fn hash(n: u8) -> ChangeHash {
    ChangeHash([n; 32])
}

fn refusal(status: Status, reason: RefusalReason, paths: usize) -> Refusal {
    Refusal {
        status,
        refused: (0..paths).map(|i| RefusedPath { path: format!("draft.fields.f{i:03}"), reason }).collect(),
        heads: vec![hash(0)],
    }
}

#[derive(Debug, Clone)]
enum Op {
    Remember { status: Status, changes: Vec<u8>, missing: bool, paths: usize },
    Recall { status: Status, probe: Vec<u8>, more: Vec<u8> },
    Reload,
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Draft), Just(Status::Submitted), Just(Status::UnderReview)]
}

fn op() -> impl Strategy<Value = Op> {
    let hashes = || prop::collection::vec(1u8..40, 0..20);
    prop_oneof![
        (status(), hashes(), prop::bool::weighted(0.2), 1usize..24)
            .prop_map(|(status, changes, missing, paths)| Op::Remember { status, changes, missing, paths }),
        (status(), hashes(), hashes()).prop_map(|(status, probe, more)| Op::Recall { status, probe, more }),
        Just(Op::Reload),
    ]
}

/// The model: a list of (status, hashes), least recently recalled first.
type Model = VecDeque<(Status, Vec<ChangeHash>)>;

fn model_remember(model: &mut Model, status: Status, changes: &[ChangeHash]) {
    let mut kept: Vec<ChangeHash> = Vec::new();
    for h in changes {
        if !kept.contains(h) && kept.len() < MAX_HASHES {
            kept.push(*h);
        }
    }
    if !kept.is_empty() {
        model.push_back((status, kept));
        if model.len() > MAX_REFUSALS {
            model.pop_front();
        }
    }
}

/// Whether the model recalls a refusal, and whether it learnt a hash doing so.
fn model_recall(
    model: &mut Model,
    status: Status,
    probe: &[ChangeHash],
    more: &[ChangeHash],
) -> (bool, bool) {
    model.retain(|(s, _)| *s == status);
    let Some(at) = model.iter().position(|(_, hs)| hs.iter().any(|h| probe.contains(h))) else {
        return (false, false);
    };
    let Some((s, mut hs)) = model.remove(at) else { return (false, false) };
    let before = hs.len();
    for h in more {
        if !hs.contains(h) && hs.len() < MAX_HASHES {
            hs.push(*h);
        }
    }
    let learnt = hs.len() > before;
    model.push_back((s, hs));
    (true, learnt)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every operation leaves the memory as the model says, within its bounds; a recall answers
    /// only with a refusal of its status that holds one of the probed hashes; a reload (encode,
    /// decode) loses nothing.
    #[test]
    fn the_memory_is_a_bounded_lru_of_refusals_per_status(ops in prop::collection::vec(op(), 0..80)) {
        let mut memory = RefusedMemory::new();
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Remember { status, changes, missing, paths } => {
                    let reason = if missing { RefusalReason::MissingDependencies } else { RefusalReason::Locked };
                    let changes: Vec<ChangeHash> = changes.into_iter().map(hash).collect();
                    let kept = memory.remember(&refusal(status, reason, paths), &changes);
                    prop_assert_eq!(kept, !missing && !changes.is_empty());
                    prop_assert_eq!(memory.take_changed(), kept);
                    if !missing {
                        model_remember(&mut model, status, &changes);
                    }
                }
                Op::Recall { status, probe, more } => {
                    let probe: Vec<ChangeHash> = probe.into_iter().map(hash).collect();
                    let more: Vec<ChangeHash> = more.into_iter().map(hash).collect();
                    let got = memory.recall(status, &probe, &more);
                    let (hit, learnt) = model_recall(&mut model, status, &probe, &more);
                    prop_assert_eq!(got.is_some(), hit);
                    if let Some(r) = got {
                        prop_assert_eq!(r.status, status);
                        prop_assert!(r.changes.iter().any(|h| probe.contains(h)));
                    }
                    prop_assert_eq!(memory.take_changed(), learnt, "stored only when a hash was learnt");
                }
                Op::Reload => {
                    let reloaded = RefusedMemory::decode(&memory.encode()).expect("decode");
                    prop_assert_eq!(reloaded.refusals().collect::<Vec<_>>(), memory.refusals().collect::<Vec<_>>());
                    memory = reloaded;
                }
            }
            let now: Vec<(Status, Vec<ChangeHash>)> =
                memory.refusals().map(|r| (r.status, r.changes.clone())).collect();
            prop_assert_eq!(&now, &model.iter().cloned().collect::<Vec<_>>());
            prop_assert!(memory.refusals().count() <= MAX_REFUSALS);
            for r in memory.refusals() {
                prop_assert!(!r.changes.is_empty() && r.changes.len() <= MAX_HASHES);
                prop_assert!(r.refused.len() <= MAX_PATHS + 1);
                prop_assert!(r.refused.iter().all(|p| p.path.len() <= MAX_PATH_BYTES));
                for h in &r.changes {
                    prop_assert!(memory.knows(r.status, h));
                }
            }
        }
    }

    /// Whatever bytes are stored, reading them never panics and never exceeds the bounds.
    #[test]
    fn stored_bytes_are_read_within_the_bounds(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(memory) = RefusedMemory::decode(&bytes) {
            prop_assert!(memory.refusals().count() <= MAX_REFUSALS);
        }
    }
}

#[test]
fn paths_are_trimmed_with_a_star_standing_for_the_rest() {
    let mut memory = RefusedMemory::new();
    let mut many = refusal(Status::Draft, RefusalReason::NotWritable, MAX_PATHS + 5);
    many.refused
        .push(RefusedPath { path: "x".repeat(MAX_PATH_BYTES + 1), reason: RefusalReason::NotWritable });
    assert!(memory.remember(&many, &[hash(1)]));
    let r = memory.recall(Status::Draft, &[hash(1)], &[]).expect("recalled");
    assert_eq!(r.refused.len(), MAX_PATHS + 1);
    assert_eq!(r.refused.last(), Some(&RefusedPath { path: "*".into(), reason: RefusalReason::NotWritable }));
    // Few short paths are kept as they are.
    let few = refusal(Status::Draft, RefusalReason::WrongType, 2);
    assert!(memory.remember(&few, &[hash(2)]));
    assert_eq!(memory.recall(Status::Draft, &[hash(2)], &[]).expect("recalled").refused, few.refused);
}

#[test]
fn a_stored_memory_larger_than_the_bounds_is_cut_to_them() {
    let r = RememberedRefusal {
        changes: (0..40).map(hash).collect(),
        status: Status::Draft,
        refused: refusal(Status::Draft, RefusalReason::Locked, 40).refused,
    };
    let stored = Stored { v: 1, refusals: vec![r; MAX_REFUSALS + 4] };
    let memory = RefusedMemory::decode(&serde_json::to_vec(&stored).expect("json")).expect("decode");
    assert_eq!(memory.refusals().count(), MAX_REFUSALS);
    assert!(memory.refusals().all(|r| r.changes.len() == MAX_HASHES && r.refused.len() == MAX_PATHS + 1));
    assert!(RefusedMemory::decode(br#"{"v":2,"refusals":[]}"#).is_err());
}
