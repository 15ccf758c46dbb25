//! Benchmarks of the core's hot paths: whole-draft validation (budget ≤ 50 µs) and one
//! candidate edit followed by an incremental save (what a device does on every keystroke batch),
//! and the server's incoming-change check of a one-field batch, in place and on a fork.

use std::collections::BTreeMap;
use std::hint::black_box;

use automerge::ActorId;
use baoming_core::RegistrationDoc;
use baoming_core::catalog::Catalog;
use baoming_core::document::{IncomingLimits, server_actor};
use baoming_core::draft::{AgreementAcceptance, Declaration, Draft};
use baoming_core::photo::PhotoRef;
use baoming_core::validate::{Availability, validate};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn full_draft(catalog: &Catalog) -> Draft {
    let exam = &catalog.exams[0];
    let fields: BTreeMap<String, String> = [
        ("name", "张三"),
        ("gender", "female"),
        ("birth_date", "1949-12-31"),
        ("id_document", "resident_id:11010519491231002X"),
        ("ethnicity", "han"),
        ("mobile", "13800138000"),
        ("email", "zhangsan@example.cn"),
        ("education", "bachelor"),
        ("occupation", "student"),
        ("postal_code", "100871"),
        ("address", "北京市海淀区颐和园路5号"),
        ("prior_attempts", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Draft {
        exam: exam.id.clone(),
        agreement: Some(AgreementAcceptance {
            version: exam.agreement.version.clone(),
            sha256: exam.agreement.sha256.clone(),
            accepted_at_ms: 1,
        }),
        fields,
        center: Some("bj-haidian".into()),
        subjects: vec!["15".into(), "24".into(), "66".into()],
        photo: Some(PhotoRef { sha256: "0f".repeat(32), bytes: 40_000, width: 330, height: 480 }),
        declaration: Some(Declaration { declared_at_ms: 2 }),
    }
}

fn validation(c: &mut Criterion) {
    let catalog = Catalog::demo();
    let draft = full_draft(&catalog);
    let seats = Availability::all_free(&catalog.exams[0]);
    assert!(validate(&draft, &catalog, &seats).is_empty(), "the benchmark draft is valid");
    c.bench_function("validate full draft", |b| b.iter(|| validate(black_box(&draft), &catalog, &seats)));
    let empty = Draft { exam: draft.exam.clone(), ..Draft::default() };
    c.bench_function("validate empty draft (every issue)", |b| {
        b.iter(|| validate(black_box(&empty), &catalog, &seats))
    });
}

fn edit_and_save(c: &mut Criterion) {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut doc = RegistrationDoc::new(&exam.id, ActorId::from(&[9u8; 16][..])).expect("doc");
    doc.accept_agreement(&exam.agreement, 1).expect("agree");
    for (k, v) in &full_draft(&catalog).fields {
        doc.set_field(k, v).expect("field");
    }
    doc.choose_center(exam, "bj-haidian").expect("center");
    doc.save();
    let mut n = 0u64;
    c.bench_function("one field edit + incremental save", |b| {
        b.iter(|| {
            n += 1;
            doc.set_field("address", &format!("北京市海淀区颐和园路{n}号")).expect("edit");
            black_box(doc.save_incremental())
        })
    });
}

fn incoming_check(c: &mut Criterion) {
    // About a hundred prior changes, as a candidate's document holds after filling the form in,
    // and ten times that, to see how each check grows with history.
    for (rounds, label) in [(8, "~100"), (80, "~1000")] {
        incoming_check_on(c, rounds, label);
    }
}

fn incoming_check_on(c: &mut Criterion, rounds: usize, label: &str) {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut device = RegistrationDoc::new(&exam.id, ActorId::from(&[9u8; 16][..])).expect("doc");
    device.accept_agreement(&exam.agreement, 1).expect("agree");
    device.choose_center(exam, "bj-haidian").expect("center");
    let fields = full_draft(&catalog).fields;
    for round in 0..rounds {
        for (k, v) in &fields {
            device.set_field(k, &format!("{v}{round}")).expect("field");
        }
    }
    let mut server = RegistrationDoc::load(&device.save(), server_actor()).expect("server replica");
    let heads = server.heads();
    device.set_field("address", "北京市海淀区颐和园路6号").expect("edit");
    let batch = device.automerge().save_after(&heads);
    let limits = IncomingLimits::default();
    let prior = server.automerge().get_changes(&[]).len();
    assert!((rounds * 12..=rounds * 12 + 10).contains(&prior), "{prior} prior changes");
    assert!(server.clone().apply_incoming(&[&batch], limits).is_ok());
    assert!(server.clone().apply_incoming_on_fork(&[&batch], limits).is_ok());
    let mut group = c.benchmark_group(format!("apply_incoming one-field batch, {label} prior changes"));
    group.bench_function("in place", |b| {
        b.iter_batched(
            || server.clone(),
            |mut s| (s.apply_incoming(&[&batch], limits), s),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("on a fork (before)", |b| {
        b.iter_batched(
            || server.clone(),
            |mut s| (s.apply_incoming_on_fork(&[&batch], limits), s),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, validation, edit_and_save, incoming_check);
criterion_main!(benches);
