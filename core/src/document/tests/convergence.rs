//! Replicas editing concurrently offline converge, whatever the merge order.

//! Tests of the registration document: ids, genesis, the typed API, convergence of concurrent
//! replicas, and the incoming-change check.

use std::collections::BTreeMap;

use automerge::{ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;
use crate::catalog::Catalog;
use crate::catalog::ExamSession;
use crate::photo::PhotoRef;

#[derive(Debug, Clone)]
enum Edit {
    Field(u8, String),
    Shared(String),
    ClearField(u8),
    Subject(u8, bool),
    Center(u8),
    Photo(u8),
    Declare,
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u8..4, "[a-z\u{4e00}-\u{4e20}]{1,6}").prop_map(|(k, v)| Edit::Field(k, v)),
        "[a-z]{1,4}".prop_map(Edit::Shared),
        (0u8..4).prop_map(Edit::ClearField),
        (0u8..6, any::<bool>()).prop_map(|(s, add)| Edit::Subject(s, add)),
        (0u8..4).prop_map(Edit::Center),
        any::<u8>().prop_map(Edit::Photo),
        Just(Edit::Declare),
    ]
}

pub(super) const SUBJECTS: [&str; 6] = ["14", "15", "17", "65", "66", "35"];

fn apply(doc: &mut RegistrationDoc, exam: &ExamSession, device: usize, edit: &Edit) {
    // Each device owns its own field keys, so its edits to them must survive any merge.
    let own = |k: u8| format!("d{device}_f{k}");
    match edit {
        Edit::Field(k, v) => doc.set_field(&own(*k), v).expect("set"),
        Edit::Shared(v) => doc.set_field("shared", v).expect("set"),
        Edit::ClearField(k) => doc.clear_field(&own(*k)).expect("clear"),
        Edit::Subject(s, true) => doc.add_subject(SUBJECTS[usize::from(*s)]).expect("add"),
        Edit::Subject(s, false) => doc.remove_subject(SUBJECTS[usize::from(*s)]).expect("remove"),
        Edit::Center(c) => {
            doc.choose_center(exam, &exam.centers[usize::from(*c) % exam.centers.len()].id).expect("center");
        }
        Edit::Photo(b) => doc
            .set_photo(&PhotoRef {
                sha256: format!("{b:02x}").repeat(32),
                bytes: 30_000 + u32::from(*b),
                width: 330,
                height: 480,
            })
            .expect("photo"),
        Edit::Declare => doc.declare(i64::from(device as u8)).expect("declare"),
    }
}

fn own_fields(doc: &RegistrationDoc, device: usize) -> BTreeMap<String, String> {
    let prefix = format!("d{device}_");
    doc.draft().fields.into_iter().filter(|(k, _)| k.starts_with(&prefix)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_offline_replicas_converge_in_any_merge_order(
        edits in prop::collection::vec(prop::collection::vec(edit_strategy(), 0..12), 2..5),
        order_seed in any::<u64>(),
    ) {
        let catalog = Catalog::demo();
        let exam = &catalog.exams[0];
        let n = edits.len();
        let mut replicas: Vec<RegistrationDoc> = (0..n)
            .map(|i| RegistrationDoc::new(EXAM, actor(i as u8 + 1)).expect("new"))
            .collect();
        for (i, list) in edits.iter().enumerate() {
            for e in list {
                apply(&mut replicas[i], exam, i, e);
            }
        }
        let expected_own: Vec<_> = (0..n).map(|i| own_fields(&replicas[i], i)).collect();

        // Each replica merges every other one, in an order that differs per replica.
        let snapshots: Vec<RegistrationDoc> = replicas.clone();
        for (i, replica) in replicas.iter_mut().enumerate() {
            let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            let rot = (order_seed as usize).wrapping_add(i * 7) % order.len().max(1);
            order.rotate_left(rot);
            if (order_seed >> i) & 1 == 1 {
                order.reverse();
            }
            for j in order {
                let mut other = snapshots[j].clone();
                replica.merge(&mut other).expect("merge");
            }
        }

        let content = |r: &mut RegistrationDoc| {
            serde_json::to_vec(&automerge::AutoSerde::from(&*r.automerge())).expect("json")
        };
        let first_content = content(&mut replicas[0]);
        let first_heads = replicas[0].heads();
        let first_draft = replicas[0].draft();
        for (i, replica) in replicas.iter_mut().enumerate() {
            prop_assert_eq!(&replica.draft(), &first_draft, "replica {} content", i);
            prop_assert_eq!(&content(replica), &first_content, "replica {} content bytes", i);
            prop_assert_eq!(&replica.heads(), &first_heads, "replica {} heads", i);
            for (j, own) in expected_own.iter().enumerate() {
                prop_assert_eq!(&own_fields(replica, j), own, "device {}'s fields on replica {}", j, i);
            }
            // Exactly one object at each root path: no competing roots.
            let doc = replica.automerge();
            prop_assert_eq!(doc.get_all(ROOT, "draft").expect("all").len(), 1);
            prop_assert_eq!(doc.get_all(ROOT, "server").expect("all").len(), 1);
            let draft = doc.get(ROOT, "draft").expect("g").expect("draft").1;
            prop_assert_eq!(doc.get_all(&draft, "fields").expect("all").len(), 1);
            prop_assert_eq!(doc.get_all(&draft, "subjects").expect("all").len(), 1);
        }
    }
}
