//! The incoming-change check: what a batch may write in each status, and refusals that change nothing.

//! Tests of the registration document: ids, genesis, the typed API, convergence of concurrent
//! replicas, and the incoming-change check.

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT, ReadDoc};

use super::super::*;
use super::*;
use crate::catalog::Catalog;
use crate::draft::ServerSection;
use crate::lifecycle::{DraftPath, Status};

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
