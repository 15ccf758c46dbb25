//! Whole-draft validation against the demo catalog: a valid draft, and each kind of issue.

use super::*;
use crate::draft::{AgreementAcceptance, Declaration};
use crate::photo::PhotoRef;

/// A complete, valid draft for the demo session's review center.
pub(crate) fn valid_draft(catalog: &Catalog) -> Draft {
    let exam = &catalog.exams[0];
    let mut fields = BTreeMap::new();
    for (k, v) in [
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
    ] {
        fields.insert(k.to_owned(), v.to_owned());
    }
    Draft {
        exam: exam.id.clone(),
        agreement: Some(AgreementAcceptance {
            version: exam.agreement.version.clone(),
            sha256: exam.agreement.sha256.clone(),
            accepted_at_ms: 1,
        }),
        fields,
        center: Some("bj-haidian".into()),
        subjects: vec!["15".into(), "66".into()],
        photo: Some(PhotoRef { sha256: "0f".repeat(32), bytes: 40_000, width: 330, height: 480 }),
        declaration: Some(Declaration { declared_at_ms: 2 }),
    }
}

fn codes(issues: &[Issue]) -> Vec<(String, IssueCode)> {
    issues.iter().map(|i| (i.path.clone(), i.code)).collect()
}

#[test]
fn a_complete_draft_has_no_issue() {
    let catalog = Catalog::demo();
    let issues = validate(&valid_draft(&catalog), &catalog, &Availability::unknown());
    assert_eq!(issues, vec![]);
}

#[test]
fn an_empty_draft_reports_everything_at_once() {
    let catalog = Catalog::demo();
    let draft = Draft { exam: catalog.exams[0].id.clone(), ..Draft::default() };
    let got = codes(&validate(&draft, &catalog, &Availability::unknown()));
    for expected in [
        ("draft.agreement", IssueCode::AgreementMissing),
        ("draft.fields.name", IssueCode::FieldRequired),
        ("draft.fields.id_document", IssueCode::FieldRequired),
        ("draft.center", IssueCode::CenterMissing),
        ("draft.subjects", IssueCode::SubjectsMissing),
        ("draft.photo", IssueCode::PhotoMissing),
        ("draft.declaration", IssueCode::DeclarationMissing),
    ] {
        assert!(got.contains(&(expected.0.to_owned(), expected.1)), "{expected:?} missing from {got:?}");
    }
    assert!(!got.iter().any(|(p, _)| p == "draft.fields.email"), "email is optional");
}

#[test]
fn id_number_must_agree_with_birth_date_and_gender() {
    let catalog = Catalog::demo();
    let mut d = valid_draft(&catalog);
    d.fields.insert("birth_date".into(), "1950-01-01".into());
    d.fields.insert("gender".into(), "male".into());
    let got = codes(&validate(&d, &catalog, &Availability::unknown()));
    assert_eq!(
        got,
        vec![
            ("draft.fields.birth_date".into(), IssueCode::BirthDateMismatch),
            ("draft.fields.gender".into(), IssueCode::GenderMismatch),
        ]
    );
    d.fields.insert("id_document".into(), "resident_id:110105194912310021".into());
    let got = codes(&validate(&d, &catalog, &Availability::unknown()));
    assert_eq!(got, vec![("draft.fields.id_document".into(), IssueCode::IdDocumentInvalid)]);
}

/// A name the shipped fonts cannot draw is refused by validation (on the device and at
/// submission), not by the documents after payment.
#[test]
fn a_name_the_documents_cannot_print_is_refused() {
    let catalog = Catalog::demo();
    let mut d = valid_draft(&catalog);
    d.fields.insert("name".into(), "李\u{31350}".into());
    let issues = validate(&d, &catalog, &Availability::unknown());
    assert_eq!(codes(&issues), vec![("draft.fields.name".into(), IssueCode::FieldNotPrintable)]);
    assert!(issues[0].message_zh.starts_with("姓名：") && issues[0].message_zh.contains("U+31350"));
    assert!(issues[0].message_en.contains("U+31350") && issues[0].message_en.contains("test center"));
    assert_eq!(
        serde_json::to_value(IssueCode::FieldNotPrintable).ok(),
        Some(serde_json::json!("field_not_printable"))
    );
    for name in ["李𰻝", "龚䶮", "买买提·艾力", "𪚥𡒄"] {
        d.fields.insert("name".into(), name.into());
        assert_eq!(validate(&d, &catalog, &Availability::unknown()), vec![], "{name}");
    }
}

#[test]
fn subject_rules() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let mut d = valid_draft(&catalog);
    // 65 and 66 share a slot; 15 repeated; 99 unknown; 38 not offered at bj-haidian.
    d.subjects = vec!["65".into(), "66".into(), "15".into(), "15".into(), "99".into()];
    let got = codes(&validate(&d, &catalog, &Availability::unknown()));
    assert!(got.contains(&("draft.subjects".into(), IssueCode::TooManySubjects)), "{got:?}");
    assert!(got.contains(&("draft.subjects.66".into(), IssueCode::SlotConflict)), "{got:?}");
    assert!(got.contains(&("draft.subjects.15".into(), IssueCode::SubjectDuplicate)), "{got:?}");
    assert!(got.contains(&("draft.subjects.99".into(), IssueCode::SubjectUnknown)), "{got:?}");
    d.subjects = vec!["38".into()];
    let got = codes(&validate(&d, &catalog, &Availability::unknown()));
    assert_eq!(got, vec![("draft.subjects.38".into(), IssueCode::SubjectNotOffered)]);

    let mut seats = Availability::all_free(exam);
    seats.set_subject("bj-haidian", "66", 0);
    d.subjects = vec!["15".into(), "66".into()];
    let got = codes(&validate(&d, &catalog, &seats));
    assert_eq!(got, vec![("draft.subjects.66".into(), IssueCode::SubjectFull)]);
    seats.set_center("bj-haidian", 0);
    let got = codes(&validate(&d, &catalog, &seats));
    assert!(got.contains(&("draft.center".into(), IssueCode::CenterFull)), "{got:?}");
}

#[test]
fn agreement_photo_and_unknown_fields() {
    let catalog = Catalog::demo();
    let mut d = valid_draft(&catalog);
    if let Some(a) = d.agreement.as_mut() {
        a.version = "2020.1".into();
    }
    d.photo = Some(PhotoRef { sha256: "0f".repeat(32), bytes: 900, width: 300, height: 300 });
    d.fields.insert("shoe_size".into(), "42".into());
    d.fields.insert("mobile".into(), "1380013800".into());
    let got = codes(&validate(&d, &catalog, &Availability::unknown()));
    assert_eq!(
        got,
        vec![
            ("draft.agreement".into(), IssueCode::AgreementOutdated),
            ("draft.fields.mobile".into(), IssueCode::FieldInvalid),
            ("draft.fields.shoe_size".into(), IssueCode::FieldUnknown),
            ("draft.photo".into(), IssueCode::PhotoInvalid),
            ("draft.photo".into(), IssueCode::PhotoInvalid),
        ]
    );
    let unknown = Draft { exam: "nope".into(), ..d };
    assert_eq!(
        codes(&validate(&unknown, &catalog, &Availability::unknown())),
        vec![("exam".into(), IssueCode::ExamUnknown)]
    );
}

#[test]
fn every_issue_has_both_languages() {
    let catalog = Catalog::demo();
    let d = Draft {
        exam: catalog.exams[0].id.clone(),
        subjects: vec!["65".into(), "66".into(), "99".into(), "14".into()],
        ..Draft::default()
    };
    for issue in validate(&d, &catalog, &Availability::unknown()) {
        assert!(!issue.message_zh.is_empty() && !issue.message_en.is_empty(), "{issue:?}");
    }
}
