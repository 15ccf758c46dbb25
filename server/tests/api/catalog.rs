//! The catalog: every public catalog endpoint answers with an ETag (and 304 when unchanged),
//! unknown exams and centers are 404, and an administrator's import is validated and audited.

use baoming_core::api::catalog::{
    AgreementAnswer, CatalogAnswer, CenterDetail, CenterSeats, ExamAnswer, ExamAvailability, ExamSummary,
};
use baoming_core::api::error::ErrorCode;
use baoming_core::api::operator::CatalogImportAnswer;
use baoming_core::api::paths;
use baoming_server::store::audit;

use super::support::{OPERATOR_PASSWORD, TestApp};
use super::{EXAM, call, call_h, operator_login};

#[tokio::test]
async fn catalog_endpoints_with_etags() {
    let t = TestApp::new();
    let r = call(&t.app, "GET", "/api/exams", None, None).await;
    assert_eq!(r.typed::<Vec<ExamSummary>>()[0].id, EXAM);
    let etag = r.header(paths::ETAG).expect("etag").to_owned();
    let r = call_h(&t.app, "GET", "/api/exams", None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = call_h(&t.app, "GET", "/api/exams", None, None, &[("if-none-match", "\"stale\"")]).await;
    r.typed::<Vec<ExamSummary>>();

    for part in [
        "",
        "/agreement",
        "/announcements",
        "/guide",
        "/form",
        "/subjects",
        "/slots",
        "/centers",
        "/availability",
    ] {
        let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}{part}"), None, None).await;
        assert_eq!(r.status, 200, "{part}");
        assert!(r.header(paths::ETAG).is_some(), "{part}");
    }
    let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}/agreement"), None, None).await;
    assert_eq!(r.typed::<AgreementAnswer>().sha256.len(), 64);
    let r = call(&t.app, "GET", "/api/catalog", None, None).await;
    assert_eq!(r.typed::<CatalogAnswer>().exams[0].id, EXAM);

    let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}/availability"), None, None).await;
    let centers = r.typed::<ExamAvailability>().centers;
    assert_eq!(centers.len(), 4);
    for c in &centers {
        assert_eq!(c.free, c.total_capacity, "all free for now");
        for s in &c.subjects {
            assert_eq!((s.held, s.paid, s.free), (0, 0, s.capacity));
        }
    }
    let r = call(&t.app, "GET", &format!("/api/exams/{EXAM}/centers/bj-haidian"), None, None).await;
    assert!(!r.typed::<CenterDetail>().subjects.is_empty());
    let r =
        call(&t.app, "GET", &format!("/api/exams/{EXAM}/centers/bj-haidian/availability"), None, None).await;
    assert_eq!(r.typed::<CenterSeats>().center, "bj-haidian");

    for bad in [
        "/api/exams/nope",
        "/api/exams/nope/agreement",
        &format!("/api/exams/{EXAM}/nope"),
        &format!("/api/exams/{EXAM}/centers/nope"),
    ] {
        let r = call(&t.app, "GET", bad, None, None).await;
        assert_eq!(r.error_code(), (404, ErrorCode::NotFound), "{bad}");
    }
}

#[tokio::test]
async fn catalog_import_by_an_administrator() {
    let t = TestApp::new();
    let admin = operator_login(&t.app, "admin", OPERATOR_PASSWORD).await;
    let etag =
        async || call(&t.app, "GET", "/api/catalog", None, None).await.header(paths::ETAG).map(str::to_owned);
    let before = etag().await;
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&admin), Some(b"exam = 5".to_vec())).await;
    r.refused(422, ErrorCode::CatalogInvalid);
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&admin), Some(vec![0xff, 0xfe])).await;
    r.refused(422, ErrorCode::CatalogEncoding);
    assert_eq!(etag().await, before, "unchanged");

    let changed = baoming_core::catalog::DEMO_CATALOG_TOML.replace("subject_cap = 3", "subject_cap = 2");
    let r = call(&t.app, "PUT", "/api/operator/catalog", Some(&admin), Some(changed.into_bytes())).await;
    r.typed::<CatalogImportAnswer>();
    let after = call(&t.app, "GET", &format!("/api/exams/{EXAM}"), None, None).await;
    assert_eq!(after.typed::<ExamAnswer>().subject_cap, 2);
    let entries = audit::read(t.app.db.store(), 1, 100).expect("audit");
    assert!(entries.iter().any(|e| e.action == "catalog.import"));
}
