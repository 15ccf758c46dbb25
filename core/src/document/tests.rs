//! Tests of the registration document: ids, genesis, the typed API, convergence of concurrent
//! replicas, and the incoming-change check.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;
use crate::catalog::Catalog;

const EXAM: &str = "ncre-2027-03";

fn actor(n: u8) -> ActorId {
    ActorId::from(&[n; 16][..])
}

fn server_replica(doc: &mut RegistrationDoc) -> RegistrationDoc {
    RegistrationDoc::load(&doc.save(), ActorId::from(&SERVER_ACTOR[..])).expect("load")
}

fn set_status(doc: &mut RegistrationDoc, status: Status) {
    let mut server = server_replica(doc);
    server
        .write_server(&ServerSection { status, updated_at_ms: 1_700_000_000_000, ..ServerSection::default() })
        .expect("server write");
    doc.merge(&mut server).expect("merge");
}

fn photo() -> PhotoRef {
    PhotoRef { sha256: "ab".repeat(32), bytes: 40_000, width: 330, height: 480 }
}

#[test]
fn document_ids_are_derived_and_round_trip() {
    let a = DocumentId::derive(EXAM, "account-1");
    assert_eq!(a, DocumentId::derive(EXAM, "account-1"));
    assert_ne!(a, DocumentId::derive(EXAM, "account-2"));
    assert_ne!(a, DocumentId::derive("ncre-2027-09", "account-1"));
    // No ambiguity from concatenation.
    assert_ne!(DocumentId::derive("ab", "c"), DocumentId::derive("a", "bc"));
    let text = a.to_string();
    assert_eq!(text.parse::<DocumentId>(), Ok(a));
    assert_eq!(a.url().parse::<DocumentId>(), Ok(a));
    // A typo breaks the check.
    let mut broken = text.clone().into_bytes();
    broken[3] = if broken[3] == b'2' { b'3' } else { b'2' };
    assert_eq!(String::from_utf8(broken).expect("ascii").parse::<DocumentId>(), Err(DocError::BadDocumentId));
    // base58check of 16 bytes, like automerge-repo ids.
    assert!(bs58::decode(&text).with_check(None).into_vec().is_ok_and(|v| v.len() == 16));
}

#[test]
fn genesis_is_identical_on_every_device() {
    let mut a = RegistrationDoc::new(EXAM, actor(1)).expect("a");
    let mut b = RegistrationDoc::new(EXAM, actor(2)).expect("b");
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.heads(), vec![genesis_hash(EXAM).expect("hash")]);
    assert_eq!(a.save(), b.save());
    let mut other = RegistrationDoc::new("ncre-2027-09", actor(1)).expect("other");
    assert_ne!(a.heads(), other.heads());
    assert_eq!(a.status(), Status::Draft);
    assert_eq!(a.draft(), Draft { exam: EXAM.into(), ..Draft::default() });
}

#[test]
fn load_refuses_what_is_not_a_registration() {
    assert!(matches!(RegistrationDoc::load(b"not automerge", actor(1)), Err(DocError::Corrupt(_))));
    let mut foreign = automerge::AutoCommit::new();
    foreign.put(ROOT, "exam", EXAM).expect("put");
    foreign.put_object(ROOT, "draft", ObjType::Map).expect("put");
    assert_eq!(RegistrationDoc::load(&foreign.save(), actor(1)).err(), Some(DocError::NotARegistration));
}

#[test]
fn typed_api_round_trips_through_save_and_load() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut doc = RegistrationDoc::new(EXAM, actor(1)).expect("doc");
    doc.accept_agreement(&exam.agreement, 1_000).expect("agree");
    doc.set_field("name", "张三").expect("name");
    doc.set_field("mobile", "13800138000").expect("mobile");
    doc.add_subject("15").expect("15");
    doc.add_subject("38").expect("38");
    assert_eq!(doc.choose_center(exam, "bj-haidian").expect("center"), vec!["38".to_owned()]);
    doc.add_subject("66").expect("66");
    doc.set_photo(&photo()).expect("photo");
    doc.declare(2_000).expect("declare");
    doc.clear_field("mobile").expect("clear");

    let mut loaded = RegistrationDoc::load(&doc.save(), actor(1)).expect("load");
    let draft = loaded.draft();
    assert_eq!(draft, doc.draft());
    assert_eq!(draft.fields, BTreeMap::from([("name".to_owned(), "张三".to_owned())]));
    assert_eq!(draft.center.as_deref(), Some("bj-haidian"));
    assert_eq!(draft.subjects, vec!["15".to_owned(), "66".to_owned()]);
    assert_eq!(draft.photo, Some(photo()));
    assert_eq!(draft.agreement.as_ref().map(|a| a.sha256.as_str()), Some(exam.agreement.sha256.as_str()));
    assert_eq!(draft.declaration.map(|d| d.declared_at_ms), Some(2_000));
    assert_eq!(loaded.heads(), doc.heads());

    assert_eq!(doc.choose_center(exam, "nowhere"), Err(DocError::UnknownCenter("nowhere".into())));
    assert!(matches!(doc.set_field("Bad.Key", "x"), Err(DocError::InvalidValue { .. })));
    assert!(matches!(doc.set_field("name", &"长".repeat(501)), Err(DocError::InvalidValue { .. })));
    assert!(matches!(doc.add_subject("../x"), Err(DocError::InvalidValue { .. })));
}

#[test]
fn incremental_saves_rebuild_the_document() {
    let mut doc = RegistrationDoc::new(EXAM, actor(1)).expect("doc");
    let mut stored = vec![doc.save()];
    for (k, v) in [("name", "李四"), ("mobile", "13900139000"), ("name", "李四五")] {
        doc.set_field(k, v).expect("set");
        let chunk = doc.save_incremental();
        assert!(!chunk.is_empty() && chunk.len() < 400, "one edit is a small chunk ({} bytes)", chunk.len());
        stored.push(chunk);
    }
    assert!(doc.save_incremental().is_empty());
    let mut rebuilt = RegistrationDoc::load(&stored[0], actor(1)).expect("load");
    for chunk in &stored[1..] {
        rebuilt.load_incremental(chunk).expect("chunk");
    }
    assert_eq!(rebuilt.draft(), doc.draft());
}

#[test]
fn the_draft_at_heads_is_the_current_draft_or_a_past_one() {
    let mut doc = RegistrationDoc::new(EXAM, actor(1)).expect("doc");
    doc.set_field("name", "李四").expect("set");
    let hex = |heads: Vec<ChangeHash>| heads.iter().map(ToString::to_string).collect::<Vec<_>>();
    let then = hex(doc.heads());
    doc.set_field("name", "李四五").expect("set");
    let now = hex(doc.heads());
    let field = |d: Option<Draft>| d.expect("known heads").fields.get("name").cloned();
    assert_eq!(field(doc.draft_at_hex(&now)), Some("李四五".to_owned()), "the current heads, unforked");
    assert_eq!(field(doc.draft_at_hex(&then)), Some("李四".to_owned()), "past heads, forked");
    assert!(doc.draft_at_hex(&[]).is_none() && doc.draft_at_hex(&["00".repeat(32)]).is_none());
}

#[test]
fn server_section_is_written_and_read() {
    let mut doc = RegistrationDoc::new(EXAM, actor(1)).expect("doc");
    let mut server = server_replica(&mut doc);
    let section = ServerSection {
        status: Status::Rejected,
        reason: Some("照片背景不符合要求".into()),
        reason_paths: vec!["draft.photo".into()],
        seats: vec!["15".into(), "66".into()],
        deadline_ms: Some(1_800_000_000_000),
        order: Some("BM202701010001".into()),
        amount_fen: Some(19_800),
        ticket: None,
        trade_no: Some("2027010122001000000000000001".into()),
        paid_at_ms: Some(1_790_000_000_000),
        refunded_fen: Some(19_800),
        updated_at_ms: 1_700_000_000_000,
    };
    server.write_server(&section).expect("write");
    assert_eq!(server.server(), section);
    doc.merge(&mut server).expect("merge");
    assert_eq!(doc.server(), section);
    let cleared = ServerSection { status: Status::UnderReview, ..ServerSection::default() };
    server.write_server(&cleared).expect("write");
    assert_eq!(server.server(), cleared);
}

#[test]
fn the_typed_api_enforces_the_editable_table() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut doc = RegistrationDoc::new(EXAM, actor(1)).expect("doc");
    set_status(&mut doc, Status::Submitted);
    doc.set_field("name", "王五").expect("answers stay editable while submitted");
    doc.set_photo(&photo()).expect("photo stays editable while submitted");
    assert_eq!(
        doc.add_subject("15"),
        Err(DocError::Locked { path: "draft.subjects".into(), status: Status::Submitted })
    );
    assert!(matches!(doc.choose_center(exam, "bj-haidian"), Err(DocError::Locked { .. })));
    assert!(matches!(doc.accept_agreement(&exam.agreement, 1), Err(DocError::Locked { .. })));
    set_status(&mut doc, Status::UnderReview);
    assert_eq!(
        doc.set_field("name", "赵六"),
        Err(DocError::Locked { path: "draft.fields.name".into(), status: Status::UnderReview })
    );
    assert!(matches!(doc.clear_photo(), Err(DocError::Locked { .. })));
    set_status(&mut doc, Status::Rejected);
    doc.set_field("name", "赵六").expect("editable again after rejection");
}

// ---- incoming-change check -------------------------------------------------------------------

/// The server's replica and a device replica of the same document, in `status`.
fn pair(status: Status) -> (RegistrationDoc, RegistrationDoc) {
    let mut device = RegistrationDoc::new(EXAM, actor(7)).expect("device");
    let mut server = RegistrationDoc::new(EXAM, ActorId::from(&SERVER_ACTOR[..])).expect("server");
    if status != Status::Draft {
        server.write_server(&ServerSection { status, ..ServerSection::default() }).expect("status");
        device.merge(&mut server).expect("merge");
    }
    (server, device)
}

/// What the device has that the server does not, as one chunk.
fn outgoing(device: &mut RegistrationDoc, server: &mut RegistrationDoc) -> Vec<u8> {
    let heads = server.heads();
    device.automerge().save_after(&heads)
}

fn raw_edit(device: &mut RegistrationDoc, f: impl FnOnce(&mut automerge::AutoCommit)) {
    f(device.automerge());
    device.automerge().commit();
}

fn obj(doc: &mut RegistrationDoc, path: &[&str]) -> automerge::ObjId {
    let mut o = ROOT;
    for key in path {
        o = doc.automerge().get(&o, *key).expect("get").expect("present").1;
    }
    o
}

fn paths(r: &Refusal) -> Vec<(String, RefusalReason)> {
    r.refused.iter().map(|p| (p.path.clone(), p.reason)).collect()
}

#[test]
fn field_edits_are_accepted_while_submitted() {
    let (mut server, mut device) = pair(Status::Submitted);
    device.automerge().commit();
    raw_edit(&mut device, |d| {
        let fields = d.get(ROOT, "draft").expect("g").expect("draft").1;
        let fields = d.get(&fields, "fields").expect("g").expect("fields").1;
        d.put(&fields, "name", "孙七").expect("put");
    });
    let chunk = outgoing(&mut device, &mut server);
    let accepted = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect("accepted");
    assert_eq!(accepted.new_changes, 1);
    assert_eq!(accepted.touched.into_iter().collect::<Vec<_>>(), vec![DraftPath::Field("name".into())]);
    assert_eq!(server.draft().fields.get("name").map(String::as_str), Some("孙七"));
    assert_eq!(accepted.heads, server.heads());
    // Applying the same batch again is a no-op.
    let again = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect("idempotent");
    assert_eq!(again.new_changes, 0);
}

#[test]
fn a_write_to_the_server_section_is_refused_and_nothing_changes() {
    let (mut server, mut device) = pair(Status::Draft);
    let server_obj = obj(&mut device, &["server"]);
    raw_edit(&mut device, |d| {
        d.put(&server_obj, "status", "paid").expect("put");
    });
    let before = server.save();
    let chunk = outgoing(&mut device, &mut server);
    let refusal = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect_err("refused");
    assert_eq!(paths(&refusal), vec![("server.status".into(), RefusalReason::ServerSection)]);
    assert_eq!(refusal.heads, server.heads());
    assert_eq!(server.status(), Status::Draft);
    assert_eq!(server.save(), before);
}

#[test]
fn any_draft_write_while_under_review_is_refused_with_its_paths() {
    let (mut server, mut device) = pair(Status::UnderReview);
    let fields = obj(&mut device, &["draft", "fields"]);
    let subjects = obj(&mut device, &["draft", "subjects"]);
    let draft = obj(&mut device, &["draft"]);
    raw_edit(&mut device, |d| {
        d.put(&fields, "name", "周八").expect("put");
        d.put(&subjects, "66", true).expect("put");
        d.put_object(&draft, "photo", ObjType::Map).expect("photo");
    });
    let chunk = outgoing(&mut device, &mut server);
    let refusal = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect_err("refused");
    assert_eq!(refusal.status, Status::UnderReview);
    assert_eq!(
        paths(&refusal),
        vec![
            ("draft.fields.name".into(), RefusalReason::Locked),
            ("draft.photo".into(), RefusalReason::Locked),
            ("draft.subjects".into(), RefusalReason::Locked),
        ]
    );
    assert!(server.draft().fields.is_empty());
}

#[test]
fn choices_are_refused_while_submitted_but_answers_in_the_same_batch_do_not_sneak_through() {
    let (mut server, mut device) = pair(Status::Submitted);
    let fields = obj(&mut device, &["draft", "fields"]);
    let draft = obj(&mut device, &["draft"]);
    raw_edit(&mut device, |d| {
        d.put(&fields, "name", "吴九").expect("put");
        d.put(&draft, "center", "bj-chaoyang").expect("put");
    });
    let chunk = outgoing(&mut device, &mut server);
    let refusal = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect_err("refused");
    assert_eq!(paths(&refusal), vec![("draft.center".into(), RefusalReason::Locked)]);
    assert!(server.draft().fields.is_empty(), "the batch is refused as a whole");
}

type RawEdit = Box<dyn Fn(&mut automerge::AutoCommit, &automerge::ObjId, &automerge::ObjId)>;

#[test]
fn shapes_types_and_sizes_are_checked() {
    let cases: Vec<(&str, RawEdit, (&str, RefusalReason))> = vec![
        (
            "replace root draft",
            Box::new(|d, _, _| {
                d.put_object(ROOT, "draft", ObjType::Map).expect("p");
            }),
            ("draft", RefusalReason::NotWritable),
        ),
        (
            "root schema",
            Box::new(|d, _, _| {
                d.put(ROOT, "schema", 2).expect("p");
            }),
            ("schema", RefusalReason::NotWritable),
        ),
        (
            "replace fields map",
            Box::new(|d, draft, _| {
                d.put_object(draft, "fields", ObjType::Map).expect("p");
            }),
            ("draft.fields", RefusalReason::NotWritable),
        ),
        (
            "number as answer",
            Box::new(|d, _, f| {
                d.put(f, "name", 42).expect("p");
            }),
            ("draft.fields.name", RefusalReason::WrongType),
        ),
        (
            "object as answer",
            Box::new(|d, _, f| {
                d.put_object(f, "name", ObjType::Text).expect("p");
            }),
            ("draft.fields.name", RefusalReason::WrongType),
        ),
        (
            "huge answer",
            Box::new(|d, _, f| {
                d.put(f, "name", "x".repeat(501)).expect("p");
            }),
            ("draft.fields.name", RefusalReason::TooLarge),
        ),
        (
            "bad key",
            Box::new(|d, _, f| {
                d.put(f, "Name!", "x").expect("p");
            }),
            ("draft.fields.Name!", RefusalReason::NotWritable),
        ),
        (
            "unknown draft key",
            Box::new(|d, draft, _| {
                d.put(draft, "bonus", "x").expect("p");
            }),
            ("draft.bonus", RefusalReason::NotWritable),
        ),
        (
            "center as number",
            Box::new(|d, draft, _| {
                d.put(draft, "center", 1).expect("p");
            }),
            ("draft.center", RefusalReason::WrongType),
        ),
    ];
    for (name, edit, expected) in cases {
        let (mut server, mut device) = pair(Status::Draft);
        let draft = obj(&mut device, &["draft"]);
        let fields = obj(&mut device, &["draft", "fields"]);
        raw_edit(&mut device, |d| edit(d, &draft, &fields));
        let chunk = outgoing(&mut device, &mut server);
        let refusal = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect_err(name);
        assert!(paths(&refusal).contains(&(expected.0.to_owned(), expected.1)), "{name}: {refusal}");
    }
}

#[test]
fn reserved_actors_malformed_data_missing_deps_and_limits() {
    // A client pretending to be the server.
    let (mut server, _) = pair(Status::Draft);
    let mut impostor = RegistrationDoc::new(EXAM, ActorId::from(&SERVER_ACTOR[..])).expect("impostor");
    impostor.set_field("name", "假冒").expect("set");
    let chunk = outgoing(&mut impostor, &mut server);
    let refusal = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect_err("refused");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::ReservedActor)]);

    // Garbage bytes.
    let refusal =
        server.apply_incoming(&[b"\x85\x6f\x4a\x83garbage"], IncomingLimits::default()).expect_err("refused");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::Malformed)]);

    // A truncated change, and a compressed chunk that would inflate without bound.
    let (mut server, mut device) = pair(Status::Draft);
    device.set_field("name", "一").expect("set");
    let chunk = outgoing(&mut device, &mut server);
    let refusal = server
        .apply_incoming(&[&chunk[..chunk.len() - 3]], IncomingLimits::default())
        .expect_err("truncated");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::Malformed)]);
    let bomb = {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 8 << 20]).expect("deflate");
        z.finish().expect("deflate")
    };
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = bomb.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        chunk.push(if len == 0 { byte } else { byte | 0x80 });
        if len == 0 {
            break;
        }
    }
    chunk.extend_from_slice(&bomb);
    let refusal = server.apply_incoming(&[&chunk], IncomingLimits::default()).expect_err("bomb");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::Malformed)]);

    // The second of two changes without the first.
    let (mut server, mut device) = pair(Status::Draft);
    device.set_field("name", "一").expect("set");
    let first = device.heads();
    device.set_field("name", "二").expect("set");
    let second_only = device.automerge().save_after(&first);
    let refusal = server.apply_incoming(&[&second_only], IncomingLimits::default()).expect_err("refused");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::MissingDependencies)]);
    assert!(server.draft().fields.is_empty());

    // Too many changes in one batch.
    let chunk = outgoing(&mut device, &mut server);
    let limits = IncomingLimits { max_changes: 1, ..IncomingLimits::default() };
    let refusal = server.apply_incoming(&[&chunk], limits).expect_err("refused");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::BatchTooLarge)]);
    let tiny = IncomingLimits { max_document_ops: 4, ..IncomingLimits::default() };
    let refusal = server.apply_incoming(&[&chunk], tiny).expect_err("document cap");
    assert_eq!(paths(&refusal), vec![("*".into(), RefusalReason::DocumentTooLarge)]);
    server.apply_incoming(&[&chunk], IncomingLimits::default()).expect("within default limits");
}

#[test]
fn typed_api_edits_pass_the_check_in_every_editable_status() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    for status in [Status::Draft, Status::Expired, Status::Withdrawn] {
        let (mut server, mut device) = pair(status);
        device.accept_agreement(&exam.agreement, 1).expect("agree");
        device.choose_center(exam, "bj-haidian").expect("center");
        device.add_subject("15").expect("subject");
        device.remove_subject("15").expect("subject");
        device.add_subject("66").expect("subject");
        device.set_field("name", "郑十").expect("name");
        device.set_photo(&photo()).expect("photo");
        device.declare(5).expect("declare");
        device.decline_agreement().expect("decline");
        let chunk = outgoing(&mut device, &mut server);
        server.apply_incoming(&[&chunk], IncomingLimits::default()).expect("accepted");
        assert_eq!(server.draft(), device.draft(), "{status}");
    }
}

// ---- convergence -----------------------------------------------------------------------------

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

const SUBJECTS: [&str; 6] = ["14", "15", "17", "65", "66", "35"];

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

// ---- the in-place incoming check against the fork-based reference -------------------------

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
