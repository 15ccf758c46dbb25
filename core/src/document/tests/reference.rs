//! The in-place incoming check decides like the reference check on a fork.

//! Tests of the registration document: ids, genesis, the typed API, convergence of concurrent
//! replicas, and the incoming-change check.

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT, ReadDoc};
use proptest::prelude::*;

use super::super::classify::classify;
use super::super::incoming::decode_chunks;
use super::super::*;
use super::convergence::SUBJECTS;
use super::*;
use crate::draft::ServerSection;
use crate::form::MAX_ANSWER_CHARS;
use crate::lifecycle::Status;
use automerge::{Change, ScalarValue};
use std::collections::BTreeSet;

/// The incoming-change check as it was before the in-place path: decode, apply the batch to a
/// fork of the whole document, inspect every operation through the fork, adopt the fork.
fn reference_apply_incoming(
    this: &mut RegistrationDoc,
    chunks: &[&[u8]],
    limits: IncomingLimits,
) -> Result<Accepted, Refusal> {
    let status = this.status();
    let before = this.doc.get_heads();
    let refuse = |refused: Vec<RefusedPath>| Refusal { status, refused, heads: before.clone() };
    let whole = |reason| vec![RefusedPath { path: "*".into(), reason }];

    let mut incoming = Vec::new();
    for chunk in chunks {
        match decode_chunks(chunk) {
            Ok(changes) => incoming.extend(changes),
            Err(()) => return Err(refuse(whole(RefusalReason::Malformed))),
        }
    }
    let mut seen = BTreeSet::new();
    let new_changes: Vec<Change> = incoming
        .into_iter()
        .filter(|c| seen.insert(c.hash()) && this.doc.get_change_by_hash(&c.hash()).is_none())
        .collect();
    if new_changes.len() > limits.max_changes
        || new_changes.iter().map(Change::len).sum::<usize>() > limits.max_ops
    {
        return Err(refuse(whole(RefusalReason::BatchTooLarge)));
    }
    let mut fork = this.doc.fork();
    if fork.apply_changes(new_changes.iter().cloned()).is_err() {
        return Err(refuse(whole(RefusalReason::Malformed)));
    }
    if !fork.get_missing_deps(&[]).is_empty() {
        return Err(refuse(whole(RefusalReason::MissingDependencies)));
    }
    if fork.stats().num_ops > limits.max_document_ops {
        return Err(refuse(whole(RefusalReason::DocumentTooLarge)));
    }
    let mut refused = BTreeSet::new();
    let mut touched = BTreeSet::new();
    for change in &new_changes {
        let actor = change.actor_id().to_bytes();
        if actor == GENESIS_ACTOR || actor == SERVER_ACTOR {
            refused.insert(RefusedPath { path: "*".into(), reason: RefusalReason::ReservedActor });
            continue;
        }
        for op in change.decode().operations {
            match classify(&fork, &op) {
                Ok(path) => {
                    if !status.can_edit(path.group()) {
                        refused.insert(RefusedPath { path: path.to_string(), reason: RefusalReason::Locked });
                    }
                    touched.insert(path);
                }
                Err(r) => {
                    refused.insert(r);
                }
            }
        }
    }
    if !refused.is_empty() {
        return Err(refuse(refused.into_iter().collect()));
    }
    fork.set_actor(this.doc.get_actor().clone());
    this.doc = fork;
    Ok(Accepted { new_changes: new_changes.len(), touched, heads: this.doc.get_heads() })
}

/// One raw write a device (or an impostor) may put into a batch.
#[derive(Debug, Clone)]
enum RawOp {
    Field(u8, String),
    LongField,
    DeleteField(u8),
    BadFieldKey,
    Center(String),
    Subject(u8, bool),
    NewPhoto(u8),
    PhotoSha(u8),
    PhotoWrongType,
    NewAgreement,
    AgreementVersion(String),
    Declare,
    DeletePhoto,
    ServerStatus,
    ServerSeat,
    RootKey,
    NestedInField,
    ListInDraft,
    Commit,
}

fn raw_op_strategy() -> impl Strategy<Value = RawOp> {
    prop_oneof![
        6 => (0u8..3, "[a-z\u{4e00}-\u{4e20}]{0,5}").prop_map(|(k, v)| RawOp::Field(k, v)),
        1 => Just(RawOp::LongField),
        1 => (0u8..3).prop_map(RawOp::DeleteField),
        1 => Just(RawOp::BadFieldKey),
        2 => "[a-z-]{1,8}".prop_map(RawOp::Center),
        2 => (0u8..4, any::<bool>()).prop_map(|(s, add)| RawOp::Subject(s, add)),
        2 => any::<u8>().prop_map(RawOp::NewPhoto),
        2 => any::<u8>().prop_map(RawOp::PhotoSha),
        1 => Just(RawOp::PhotoWrongType),
        1 => Just(RawOp::NewAgreement),
        1 => "[0-9.]{1,5}".prop_map(RawOp::AgreementVersion),
        1 => Just(RawOp::Declare),
        1 => Just(RawOp::DeletePhoto),
        1 => Just(RawOp::ServerStatus),
        1 => Just(RawOp::ServerSeat),
        1 => Just(RawOp::RootKey),
        1 => Just(RawOp::NestedInField),
        1 => Just(RawOp::ListInDraft),
        3 => Just(RawOp::Commit),
    ]
}

fn raw_apply(doc: &mut automerge::AutoCommit, op: &RawOp) {
    let get = |d: &automerge::AutoCommit, o: &automerge::ObjId, k: &str| {
        d.get(o, k).expect("get").map(|(_, id)| id)
    };
    let draft = get(doc, &ROOT, "draft").expect("draft");
    let fields = get(doc, &draft, "fields").expect("fields");
    let subjects = get(doc, &draft, "subjects").expect("subjects");
    let server = get(doc, &ROOT, "server").expect("server");
    match op {
        RawOp::Field(k, v) => drop(doc.put(&fields, format!("f{k}"), v.as_str())),
        RawOp::LongField => drop(doc.put(&fields, "essay", "长".repeat(MAX_ANSWER_CHARS + 1))),
        RawOp::DeleteField(k) => drop(doc.delete(&fields, format!("f{k}"))),
        RawOp::BadFieldKey => drop(doc.put(&fields, "Bad Key", "x")),
        RawOp::Center(c) => drop(doc.put(&draft, "center", c.as_str())),
        RawOp::Subject(s, true) => drop(doc.put(&subjects, SUBJECTS[usize::from(*s)], true)),
        RawOp::Subject(s, false) => drop(doc.delete(&subjects, SUBJECTS[usize::from(*s)])),
        RawOp::NewPhoto(b) => {
            let p = doc.put_object(&draft, "photo", ObjType::Map).expect("photo");
            doc.put(&p, "sha256", format!("{b:02x}").repeat(32)).expect("sha");
            doc.put(&p, "bytes", u64::from(*b)).expect("bytes");
        }
        RawOp::PhotoSha(b) => {
            if let Some(p) = get(doc, &draft, "photo") {
                doc.put(&p, "sha256", format!("{b:02x}")).expect("sha");
            }
        }
        RawOp::PhotoWrongType => {
            if let Some(p) = get(doc, &draft, "photo") {
                doc.put(&p, "width", "wide").expect("width");
            }
        }
        RawOp::NewAgreement => {
            let a = doc.put_object(&draft, "agreement", ObjType::Map).expect("agreement");
            doc.put(&a, "version", "1").expect("version");
            doc.put(&a, "accepted_at", ScalarValue::Timestamp(1)).expect("at");
        }
        RawOp::AgreementVersion(v) => {
            if let Some(a) = get(doc, &draft, "agreement") {
                doc.put(&a, "version", v.as_str()).expect("version");
            }
        }
        RawOp::Declare => {
            let d = doc.put_object(&draft, "declaration", ObjType::Map).expect("declaration");
            doc.put(&d, "declared_at", ScalarValue::Timestamp(2)).expect("at");
        }
        RawOp::DeletePhoto => drop(doc.delete(&draft, "photo")),
        RawOp::ServerStatus => drop(doc.put(&server, "status", "paid")),
        RawOp::ServerSeat => {
            let seats = get(doc, &server, "seats")
                .unwrap_or_else(|| doc.put_object(&server, "seats", ObjType::List).expect("seats"));
            doc.insert(&seats, 0, "bj-haidian").expect("seat");
        }
        RawOp::RootKey => drop(doc.put(ROOT, "schema", 2)),
        RawOp::NestedInField => {
            let m = doc.put_object(&fields, "f9", ObjType::Map).expect("nested");
            let inner = doc.put_object(&m, "deeper", ObjType::Map).expect("deeper");
            doc.put(&inner, "x", "y").expect("x");
        }
        RawOp::ListInDraft => {
            let l = doc.put_object(&fields, "f8", ObjType::List).expect("list");
            doc.insert(&l, 0, "a").expect("a");
            let m = doc.insert_object(&l, 0, ObjType::Map).expect("m");
            doc.put(&m, "k", "v").expect("k");
        }
        RawOp::Commit => drop(doc.commit()),
    }
}

/// Writes a candidate may make in some status: batches made only of these are the ones the
/// in-place check accepts, so half the batches are drawn from them alone.
fn allowed_op_strategy() -> impl Strategy<Value = RawOp> {
    prop_oneof![
        6 => (0u8..3, "[a-z\u{4e00}-\u{4e20}]{0,5}").prop_map(|(k, v)| RawOp::Field(k, v)),
        1 => (0u8..3).prop_map(RawOp::DeleteField),
        1 => "[a-z-]{1,8}".prop_map(RawOp::Center),
        1 => (0u8..4, any::<bool>()).prop_map(|(s, add)| RawOp::Subject(s, add)),
        2 => any::<u8>().prop_map(RawOp::NewPhoto),
        2 => any::<u8>().prop_map(RawOp::PhotoSha),
        1 => Just(RawOp::NewAgreement),
        1 => "[0-9.]{1,5}".prop_map(RawOp::AgreementVersion),
        1 => Just(RawOp::Declare),
        1 => Just(RawOp::DeletePhoto),
        3 => Just(RawOp::Commit),
    ]
}

fn batch_strategy(max: usize) -> impl Strategy<Value = Vec<RawOp>> {
    prop_oneof![
        prop::collection::vec(allowed_op_strategy(), 0..max),
        prop::collection::vec(raw_op_strategy(), 0..max),
    ]
}

fn status_strategy() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Draft), Just(Status::Submitted), prop::sample::select(Status::ALL.to_vec()),]
}

/// How a batch reaches the server.
#[derive(Debug, Clone)]
struct Delivery {
    /// Send every change as its own chunk, in this rotation of the causal order.
    rotate: usize,
    reverse: bool,
    /// Send one change twice.
    duplicate: Option<usize>,
    /// Leave one change out.
    drop: Option<usize>,
    /// Also resend changes the server already has.
    resend_known: bool,
    /// Sign the second device's changes with a reserved actor.
    impostor: Option<bool>,
}

fn delivery_strategy() -> impl Strategy<Value = Delivery> {
    (
        any::<usize>(),
        any::<bool>(),
        prop::option::of(any::<usize>()),
        prop::option::weighted(0.15, any::<usize>()),
        any::<bool>(),
        prop::option::weighted(0.1, any::<bool>()),
    )
        .prop_map(|(rotate, reverse, duplicate, drop, resend_known, impostor)| Delivery {
            rotate,
            reverse,
            duplicate,
            drop,
            resend_known,
            impostor,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_in_place_check_decides_like_the_fork_check(
        status in status_strategy(),
        history in prop::collection::vec(raw_op_strategy(), 0..8),
        first in batch_strategy(10),
        second in batch_strategy(6),
        delivery in delivery_strategy(),
        tiny_cap in prop::option::weighted(0.1, 0u64..60),
    ) {
        // The server knows some history (accepted or not, it is there), then two devices (or a
        // device and an impostor) write concurrently on top of it.
        let mut base = RegistrationDoc::new(EXAM, actor(7)).expect("base");
        for op in &history {
            raw_apply(base.automerge(), op);
        }
        base.automerge().commit();
        let mut server = RegistrationDoc::load(&base.save(), ActorId::from(&SERVER_ACTOR[..])).expect("server");
        if status != Status::Draft {
            server.write_server(&ServerSection { status, ..ServerSection::default() }).expect("status");
        }
        let known = server.heads();
        let second_actor = match delivery.impostor {
            Some(true) => ActorId::from(&SERVER_ACTOR[..]),
            Some(false) => ActorId::from(&GENESIS_ACTOR[..]),
            None => actor(8),
        };
        let mut devices = [server.automerge().fork().with_actor(actor(7)), server.automerge().fork().with_actor(second_actor)];
        for (device, ops) in devices.iter_mut().zip([&first, &second]) {
            for op in ops {
                raw_apply(device, op);
            }
            device.commit();
        }
        let mut changes: Vec<Change> = devices.iter_mut().flat_map(|d| d.get_changes(&known)).collect();
        if let Some(i) = delivery.drop.filter(|_| !changes.is_empty()) {
            changes.remove(i % changes.len());
        }
        if let Some(i) = delivery.duplicate.filter(|_| !changes.is_empty()) {
            changes.push(changes[i % changes.len()].clone());
        }
        let n = changes.len().max(1);
        changes.rotate_left(delivery.rotate % n);
        if delivery.reverse {
            changes.reverse();
        }
        let mut chunks: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        if delivery.resend_known {
            chunks.push(server.automerge().save_after(&[]));
        }
        let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let limits = match tiny_cap {
            Some(extra) => IncomingLimits {
                max_document_ops: server.automerge().stats().num_ops + extra,
                ..IncomingLimits::default()
            },
            None => IncomingLimits::default(),
        };

        let mut checked = server.clone();
        let mut reference = server.clone();
        let got = checked.apply_incoming(&chunks, limits);
        let want = reference_apply_incoming(&mut reference, &chunks, limits);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(checked.heads(), reference.heads());
        prop_assert_eq!(checked.draft(), reference.draft());
        prop_assert_eq!(checked.server(), reference.server());
        prop_assert_eq!(checked.actor(), server.actor());
        if want.is_err() {
            prop_assert_eq!(checked.heads(), server.heads());
        }
        // The in-place check decides every accepted batch itself (the fork is only for the rest),
        // and never says yes to a batch the reference refuses.
        let fresh = server.new_incoming(&chunks, limits).unwrap_or_default();
        let in_place = server.check_in_place(&fresh, server.status(), limits);
        prop_assert!(in_place.is_none() || want.is_ok());
        if tiny_cap.is_none() {
            prop_assert_eq!(in_place.is_some(), want.is_ok());
        }
    }
}
