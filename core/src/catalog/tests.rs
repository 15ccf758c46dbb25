//! The catalog's checks, on the demo catalog and on broken copies of it.

use super::*;

#[test]
fn the_published_json_form_loads_back_into_the_same_catalog() {
    let demo = Catalog::demo();
    let json = serde_json::to_vec(&demo).expect("json");
    let back = Catalog::from_json_slice(&json).expect("loads");
    assert_eq!(serde_json::to_value(&back).expect("json"), serde_json::to_value(&demo).expect("json"));
    assert!(matches!(Catalog::from_json_slice(b"{}"), Err(CatalogError::Syntax(_))));
}

#[test]
fn demo_catalog_is_valid_and_realistic() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    assert!(exam.centers.len() >= 3);
    assert!(exam.centers.iter().any(|c| c.review));
    assert!(exam.centers.iter().any(TestCenter::requires_onsite));
    assert!(exam.centers.iter().any(|c| c.total_capacity <= 10), "one center is nearly full");
    assert_eq!(exam.agreement.sha256, hex_sha256(exam.agreement.text.as_bytes()));
    assert!(exam.field_with_role(FieldRole::IdDocument).is_some());
}

fn broken(edit: impl FnOnce(&mut String)) -> Vec<String> {
    let mut text = DEMO_CATALOG_TOML.to_owned();
    edit(&mut text);
    match Catalog::from_toml_str(&text) {
        Err(CatalogError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn problems_point_at_the_offending_entry() {
    let p = broken(|t| *t = t.replacen("fee_fen = 8000", "fee_fen = -1", 1));
    assert!(p.iter().any(|m| m.contains("center[bj-haidian]") && m.contains("fee_fen must be ≥ 0")), "{p:?}");

    let p = broken(|t| *t = t.replacen("slot = \"sat-am\"", "slot = \"moon\"", 1));
    assert!(p.iter().any(|m| m.contains("subject[14]") && m.contains("slot `moon`")), "{p:?}");

    let p = broken(|t| *t = t.replacen("id = \"bj-chaoyang\"", "id = \"bj-haidian\"", 1));
    assert!(p.iter().any(|m| m.contains("duplicate center id")), "{p:?}");

    let p = broken(|t| *t = t.replacen("code = \"66\"\ncapacity", "code = \"99\"\ncapacity", 1));
    assert!(p.iter().any(|m| m.contains("subject[99]") && m.contains("not defined")), "{p:?}");

    let p = broken(|t| {
        *t = t.replacen("closes = \"2027-01-20T17:00:00+08:00\"", "closes = \"2026-01-20T17:00:00+08:00\"", 1)
    });
    assert!(p.iter().any(|m| m.contains(".registration") && m.contains("opens must be before")), "{p:?}");
}

#[test]
fn rooms_are_optional_and_checked() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    assert!(exam.centers.iter().any(|c| !c.rooms.is_empty()), "the demo has rooms");
    assert!(exam.centers.iter().any(|c| c.rooms.is_empty()), "and a center without");
    assert!(exam.public_key.is_none(), "the server fills the key");
    let room = "[[exam.center.room]]\nid = \"r1\"\nname = { zh = \"一\", en = \"One\" }\n";
    let p = broken(|t| {
        t.push_str(&format!("{room}capacity = 0\n{room}capacity = 3\n"));
    });
    assert!(p.iter().any(|m| m.contains("room[r1]") && m.contains("capacity must be 1–999")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("room[r1]") && m.contains("duplicate room id")), "{p:?}");
}

#[test]
fn printed_texts_must_be_printable_with_the_shipped_fonts() {
    let p =
        broken(|t| *t = t.replacen("name = { zh = \"三级网络技术\"", "name = { zh = \"三级网络技术ก\"", 1));
    assert!(
        p.iter().any(|m| m.contains("subject[35].name.zh")
            && m.contains("U+0E01")
            && m.contains("cannot be printed")),
        "{p:?}"
    );
    let p = broken(|t| *t = t.replacen("{ zh = \"回族\"", "{ zh = \"回族\u{31350}\"", 1));
    assert!(p.iter().any(|m| m.contains("option[hui].label.zh") && m.contains("U+31350")), "{p:?}");
}

#[test]
fn a_stated_agreement_digest_must_match() {
    let p = broken(|t| *t = t.replacen("[exam.agreement]\n", "[exam.agreement]\nsha256 = \"00\"\n", 1));
    assert!(p.iter().any(|m| m.contains("agreement") && m.contains("does not match")), "{p:?}");
}

#[test]
fn syntax_errors_are_reported() {
    assert!(matches!(Catalog::from_toml_str("[[exam]\nid="), Err(CatalogError::Syntax(_))));
    assert!(matches!(Catalog::from_toml_str(""), Err(CatalogError::Syntax(_) | CatalogError::Invalid(_))));
}

#[test]
fn fees_add_up_in_fen() {
    let catalog = Catalog::demo();
    let exam = &catalog.exams[0];
    let fee = exam.fee_fen("bj-haidian", &["15".into(), "66".into()]);
    assert_eq!(fee, Some(8000 + 11800));
    assert_eq!(exam.fee_fen("bj-haidian", &["nope".into()]), None);
}
