//! Operators: an administrator creates operators, a center operator sees only its centers, an
//! auditor reads everything and changes nothing, candidate and operator tokens do not mix, and
//! every change lands in an audit chain whose tampering the online check reports.

use serde_json::{Value, json};

use baoming_core::api::catalog::CenterSeats;
use baoming_core::api::error::{ErrorBody, ErrorCode};
use baoming_core::api::operator::{AuditEntry, AuditVerification, OperatorCenter, OperatorInfo, Role};
use baoming_server::state::App;
use baoming_server::store::Tree;
use baoming_server::store::audit;

use super::support::{CANDIDATE_PASSWORD as PASSWORD, OPERATOR_PASSWORD, TestApp};
use super::{EXAM, call, count, j, operator_login, register};

/// The password of the operators these tests create.
const DESK_PASSWORD: &str = "Counter-Desk-58";

/// The body that creates operator `username` with `role` on `centers`.
fn new_operator(username: &str, role: &str, centers: Value) -> Option<Vec<u8>> {
    j(json!({"username": username, "password": DESK_PASSWORD, "role": role, "centers": centers}))
}

/// The operator route to the seats of `center` in the demo exam.
fn seats(center: &str) -> String {
    format!("/api/operator/exams/{EXAM}/centers/{center}/seats")
}

#[tokio::test]
async fn operators_are_scoped_to_their_centers() {
    let t = TestApp::new();
    let admin = operator_login(&t.app, "admin", OPERATOR_PASSWORD).await;
    let r = call(&t.app, "GET", "/api/operator/me", Some(&admin), None).await;
    assert_eq!(r.typed::<OperatorInfo>().role, Role::Administrator);

    administrator_creates_operators(&t.app, &admin).await;
    let center = operator_login(&t.app, "haidian", DESK_PASSWORD).await;
    center_operator_sees_only_its_center(&t.app, &center).await;
    let auditor = operator_login(&t.app, "audit", DESK_PASSWORD).await;
    auditor_reads_everything_and_changes_nothing(&t.app, &auditor, &center).await;
    candidate_and_operator_tokens_do_not_mix(&t.app, &admin).await;

    let r = call(&t.app, "DELETE", "/api/operator/sessions/current", Some(&center), None).await;
    assert_eq!(r.status, 204);
    call(&t.app, "GET", "/api/operator/me", Some(&center), None).await.refused(401, ErrorCode::Unauthorized);
}

/// Phase 1: the administrator creates the center operator `haidian` and the auditor `audit`;
/// a taken username, an unknown center, no centers and an unknown role are refused.
async fn administrator_creates_operators(app: &App, admin: &str) {
    let r = call(
        app,
        "POST",
        "/api/operator/operators",
        Some(admin),
        new_operator("haidian", "center_operator", json!(["bj-haidian"])),
    )
    .await;
    r.expect(201).typed::<OperatorInfo>();
    let r = call(
        app,
        "POST",
        "/api/operator/operators",
        Some(admin),
        new_operator("haidian", "center_operator", json!(["bj-haidian"])),
    )
    .await;
    r.refused(409, ErrorCode::UsernameTaken);
    let r = call(
        app,
        "POST",
        "/api/operator/operators",
        Some(admin),
        new_operator("ghost", "center_operator", json!(["nowhere"])),
    )
    .await;
    r.refused(422, ErrorCode::CenterUnknown);
    let r = call(
        app,
        "POST",
        "/api/operator/operators",
        Some(admin),
        new_operator("ghost", "center_operator", json!([])),
    )
    .await;
    r.refused(422, ErrorCode::CentersRequired);
    let r = call(
        app,
        "POST",
        "/api/operator/operators",
        Some(admin),
        j(json!({"username": "ghost", "password": DESK_PASSWORD, "role": "king"})),
    )
    .await;
    r.refused(422, ErrorCode::InvalidBody);
    let r = call(
        app,
        "POST",
        "/api/operator/operators",
        Some(admin),
        new_operator("audit", "auditor", json!([])),
    )
    .await;
    r.expect(201).typed::<OperatorInfo>();
    assert_eq!(count(app, Tree::Operators), 3);
}

/// Phase 2: the center operator reads its own center's seats and centers, and is refused
/// (with nothing but a code and a message) another center, the audit log and creating operators.
async fn center_operator_sees_only_its_center(app: &App, center: &str) {
    let r = call(app, "GET", &seats("bj-haidian"), Some(center), None).await;
    r.typed::<CenterSeats>();
    let r = call(app, "GET", &seats("bj-chaoyang"), Some(center), None).await;
    // Read strictly, the refusal carries nothing but its code and message: no data leaks.
    let forbidden = r.refused(403, ErrorCode::Forbidden);
    assert_eq!(forbidden, ErrorBody::new(ErrorCode::Forbidden, forbidden.message.clone()));
    let r = call(app, "GET", "/api/operator/centers", Some(center), None).await;
    assert_eq!(r.typed::<Vec<OperatorCenter>>().len(), 1);
    let r = call(app, "GET", "/api/operator/audit", Some(center), None).await;
    r.refused(403, ErrorCode::Forbidden);
    let r =
        call(app, "POST", "/api/operator/operators", Some(center), new_operator("x1x", "auditor", json!([])))
            .await;
    r.refused(403, ErrorCode::Forbidden);
}

/// Phase 3: the auditor reads and verifies the audit log and any center's seats, but may not
/// import a catalog; the center operator may not verify the log; a bad query is a 400.
async fn auditor_reads_everything_and_changes_nothing(app: &App, auditor: &str, center: &str) {
    let r = call(app, "GET", "/api/operator/audit?from=1&limit=5", Some(auditor), None).await;
    let entries: Vec<AuditEntry> = r.typed();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].action, "system.seed");
    let r = call(app, "GET", "/api/operator/audit/verify", Some(auditor), None).await;
    assert!(r.typed::<AuditVerification>().intact);
    call(app, "GET", "/api/operator/audit/verify", Some(center), None)
        .await
        .refused(403, ErrorCode::Forbidden);
    let r = call(app, "GET", "/api/operator/audit?limit=lots", Some(auditor), None).await;
    r.refused(400, ErrorCode::BadRequest);
    call(app, "GET", &seats("bj-chaoyang"), Some(auditor), None).await.typed::<CenterSeats>();
    let r = call(app, "PUT", "/api/operator/catalog", Some(auditor), Some(b"x".to_vec())).await;
    r.refused(403, ErrorCode::Forbidden);
}

/// Phase 4: candidate tokens do not open operator routes, nor the reverse, and a wrong
/// operator password is refused.
async fn candidate_and_operator_tokens_do_not_mix(app: &App, admin: &str) {
    let cand = register(app, "zheng.yi@example.org").await;
    call(app, "GET", "/api/operator/me", Some(&cand), None).await.refused(401, ErrorCode::Unauthorized);
    call(app, "GET", "/api/account", Some(admin), None).await.refused(401, ErrorCode::Unauthorized);
    let r = call(
        app,
        "POST",
        "/api/operator/sessions",
        None,
        j(json!({"username": "admin", "password": "Wrong-Pass-123"})),
    )
    .await;
    r.refused(401, ErrorCode::BadCredentials);
}

#[tokio::test]
async fn every_change_is_in_an_intact_audit_chain() {
    let t = TestApp::new();
    let token = register(&t.app, "feng.er@example.org").await;
    call(
        &t.app,
        "POST",
        "/api/sessions",
        None,
        j(json!({"login": "feng.er@example.org", "password": PASSWORD})),
    )
    .await;
    call(&t.app, "DELETE", "/api/sessions/current", Some(&token), None).await;
    let actions: Vec<String> =
        audit::read(t.app.db.store(), 1, 100).expect("read").into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["system.seed", "account.register", "account.login", "account.logout"]);
    assert_eq!(audit::verify(t.app.db.store()).expect("verify"), 4);

    // Tamper with entry 2 directly in the tree: the online check reports it.
    let admin = operator_login(&t.app, "admin", OPERATOR_PASSWORD).await;
    let key = 2u64.to_be_bytes().to_vec();
    let raw = t.app.db.store().get(Tree::Audit, &key).expect("get").expect("entry");
    let edited = String::from_utf8_lossy(&raw).replace("account.register", "account.deleted!");
    let mut txn = baoming_server::store::Txn::new();
    txn.put(Tree::Audit, key, edited.into_bytes());
    t.app.db.store().commit(&txn).expect("tamper");
    let r = call(&t.app, "GET", "/api/operator/audit/verify", Some(&admin), None).await;
    let verified: AuditVerification = r.typed();
    assert_eq!((verified.intact, verified.broken_at), (false, Some(2)));
}
