//! Tests of the registration document: ids, genesis, the typed API, convergence of concurrent
//! replicas, and the incoming-change check.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ROOT};

use super::*;
use crate::catalog::Catalog;
use crate::draft::{Draft, ServerSection};
use crate::lifecycle::Status;
use crate::photo::PhotoRef;
use automerge::ChangeHash;

mod convergence;
mod incoming;
mod reference;

pub(super) const EXAM: &str = "ncre-2027-03";

pub(super) fn actor(n: u8) -> ActorId {
    ActorId::from(&[n; 16][..])
}

pub(super) fn server_replica(doc: &mut RegistrationDoc) -> RegistrationDoc {
    RegistrationDoc::load(&doc.save(), ActorId::from(&SERVER_ACTOR[..])).expect("load")
}

pub(super) fn set_status(doc: &mut RegistrationDoc, status: Status) {
    let mut server = server_replica(doc);
    server
        .write_server(&ServerSection { status, updated_at_ms: 1_700_000_000_000, ..ServerSection::default() })
        .expect("server write");
    doc.merge(&mut server).expect("merge");
}

pub(super) fn photo() -> PhotoRef {
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
