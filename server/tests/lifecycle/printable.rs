//! A name the shipped fonts cannot draw is refused where it is entered — in the profile, by the
//! device's validation and at submission — never after payment, when the PDFs could not print it.

use baoming_core::api::accounts::{Profile, ProfileRequest};
use baoming_core::catalog::{Catalog, DEMO_CATALOG_TOML};
use baoming_core::validate::{Availability, IssueCode, validate};

use super::*;

/// `李𱍐`: U+31350 is in CJK Extension H, which no font the server ships covers.
const UNPRINTABLE: &str = "李\u{31350}";
/// `李𠮷`: U+20BB7 is in Extension B, which the fonts cover.
const PRINTABLE_RARE: &str = "李\u{20BB7}";

fn profile(name: &str, id_number: &str) -> ProfileRequest {
    ProfileRequest {
        legal_name: name.into(),
        id_kind: "resident_id".into(),
        id_number: id_number.into(),
        phone: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_no_shipped_font_can_draw_is_refused_where_it_is_entered() {
    let server = start();
    let addr = server.addr;
    let c = Candidate::new(addr, 61, SMALL, &["15"]).await;
    let id_number = support::resident_id("11010519900101061");

    // The profile: refused with the character named, nothing stored; a rare but printable name
    // is taken.
    let put_profile = |name: &str| {
        support::put(addr, paths::ACCOUNT_PROFILE)
            .token(&c.device.token)
            .json(&profile(name, &id_number))
            .send()
    };
    let refused = put_profile(UNPRINTABLE).refused(422, ErrorCode::LegalNameNotPrintable);
    assert!(refused.message.contains("U+31350"), "the character is named: {}", refused.message);
    support::get(addr, paths::ACCOUNT_PROFILE)
        .token(&c.device.token)
        .send()
        .refused(404, ErrorCode::NotFound);
    let stored: Profile = put_profile(PRINTABLE_RARE).typed();
    assert_eq!(stored.legal_name, PRINTABLE_RARE);

    // The draft: the device's own validation says so, in both languages, offline.
    c.device.client.edit(EXAM, |d| d.set_field("name", UNPRINTABLE)).expect("the name typed");
    let catalog = Catalog::from_toml_str(DEMO_CATALOG_TOML).expect("the demo catalog");
    let draft = c.device.client.draft(EXAM).expect("draft");
    let issues = validate(&draft, &catalog, &Availability::default());
    let issue = issues.iter().find(|i| i.path == "draft.fields.name").expect("an issue on the name");
    assert_eq!(issue.code, IssueCode::FieldNotPrintable);
    assert!(issue.message_zh.contains("U+31350") && issue.message_en.contains("U+31350"), "{issue:?}");

    // The server: the submission is refused with the same issue, no seat held.
    c.device.client.sync_batch(SYNC).await.expect("sync");
    let invalid = c.device.submit(addr, "submit-unprintable").refused(422, ErrorCode::Invalid);
    let issues = invalid.issues.expect("issues");
    assert!(
        issues.iter().any(|i| i.path == "draft.fields.name" && i.code == IssueCode::FieldNotPrintable),
        "{issues:?}"
    );
    assert_eq!(registration(addr, &c.device.token).status, Status::Draft);

    // Fixed on the device, the draft submits.
    c.device.client.edit(EXAM, |d| d.set_field("name", PRINTABLE_RARE)).expect("the name fixed");
    c.device.client.sync_batch(SYNC).await.expect("sync");
    let submitted: RegistrationView = c.device.submit(addr, "submit-printable").typed();
    assert_eq!(submitted.status, Status::Submitted);
}
