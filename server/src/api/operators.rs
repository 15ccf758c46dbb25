//! Operator endpoints: sessions, the operator's own record and centers, seat counters, the audit
//! log, creating operators and importing the catalog. Every decision on what an operator may do
//! is the domain's (`identity::operators::authorize`).

use bytes::Bytes;
use serde::Deserialize;
use warp::http::StatusCode;

use super::extract::{Answer, ClientAddr, Staff, json, no_content, ok};
use crate::identity::accounts::CaptchaProof;
use crate::identity::operators::{NewOperator, Operator, Role};
use crate::state::App;

/// `POST /api/operator/sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginReq {
    username: String,
    password: String,
    #[serde(default)]
    captcha_id: Option<String>,
    #[serde(default)]
    captcha_answer: Option<String>,
}

/// `POST /api/operator/operators`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateReq {
    username: String,
    password: String,
    role: Role,
    #[serde(default)]
    centers: Vec<String>,
}

/// `GET /api/operator/audit?from&limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    #[serde(default = "one")]
    from: u64,
    #[serde(default = "hundred")]
    limit: usize,
}

fn one() -> u64 {
    1
}
fn hundred() -> usize {
    100
}

fn public(op: &Operator) -> serde_json::Value {
    serde_json::json!({ "id": op.id, "username": op.username, "role": op.role, "centers": op.centers })
}

/// `POST /api/operator/sessions`.
pub(super) async fn login(app: App, addr: ClientAddr, req: LoginReq) -> Answer {
    let proof = CaptchaProof { id: req.captcha_id, answer: req.captcha_answer };
    let l = app.identity.operator_login(&req.username, req.password, &proof, &addr.0).await?;
    ok(
        &serde_json::json!({ "operator": public(&l.operator), "token": l.session.token, "expires_at": l.session.expires }),
    )
}

/// `DELETE /api/operator/sessions/current`.
pub(super) async fn logout(app: App, who: Staff) -> Answer {
    app.identity.logout(&who.session).await?;
    no_content()
}

/// `GET /api/operator/me`.
pub(super) async fn me(who: Staff) -> Answer {
    ok(&public(&who.operator))
}

/// `GET /api/operator/centers`.
pub(super) async fn centers(app: App, who: Staff) -> Answer {
    ok(&app.desk.centers(&who.operator))
}

/// `GET /api/operator/exams/{exam}/centers/{center}/seats`.
pub(super) async fn seats(exam: String, center: String, app: App, who: Staff) -> Answer {
    ok(&app.desk.seats(&who.operator, &exam, &center)?)
}

/// `GET /api/operator/audit`.
pub(super) async fn audit(app: App, who: Staff, q: AuditQuery) -> Answer {
    ok(&app.desk.audit_log(&who.operator, q.from, q.limit)?)
}

/// `GET /api/operator/audit/verify`.
pub(super) async fn verify_audit(app: App, who: Staff) -> Answer {
    ok(&app.desk.verify_audit(&who.operator).await?)
}

/// `POST /api/operator/operators`.
pub(super) async fn create(app: App, who: Staff, req: CreateReq) -> Answer {
    let new =
        NewOperator { username: req.username, password: req.password, role: req.role, centers: req.centers };
    let known = |c: &str| app.catalogs.has_center(c);
    let op = app.identity.create_operator(&who.operator, new, &known).await?;
    Ok(json(StatusCode::CREATED, &public(&op)))
}

/// `PUT /api/operator/catalog` (TOML body).
pub(super) async fn import_catalog(app: App, who: Staff, body: Bytes) -> Answer {
    let view = app.catalogs.upload(&who.operator, &body).await?;
    ok(&serde_json::json!({ "sha256": view.sha256 }))
}
