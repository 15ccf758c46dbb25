//! Operator endpoints: sessions, the operator's own record and centers, seat counters, the audit
//! log, creating operators and importing the catalog. Every decision on what an operator may do
//! is the domain's (`identity::operators::authorize`).

use baoming_core::api::operator::{
    AuditQuery, CatalogImportAnswer, CreateOperatorRequest, OperatorInfo, OperatorLoginRequest,
    OperatorSessionAnswer,
};
use bytes::Bytes;
use warp::http::StatusCode;

use super::extract::{Answer, ClientAddr, Staff, json, no_content, ok};
use crate::identity::accounts::CaptchaProof;
use crate::identity::operators::{NewOperator, Operator};
use crate::state::App;

fn public(op: &Operator) -> OperatorInfo {
    OperatorInfo {
        id: op.id.clone(),
        username: op.username.clone(),
        role: op.role,
        centers: op.centers.clone(),
    }
}

/// `POST /api/operator/sessions`.
pub(super) async fn login(app: App, addr: ClientAddr, req: OperatorLoginRequest) -> Answer {
    let proof = CaptchaProof { id: req.captcha_id, answer: req.captcha_answer };
    let l = app.identity.operator_login(&req.username, req.password, &proof, &addr.0).await?;
    ok(&OperatorSessionAnswer {
        operator: public(&l.operator),
        token: l.session.token,
        expires_at: l.session.expires,
    })
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
pub(super) async fn create(app: App, who: Staff, req: CreateOperatorRequest) -> Answer {
    let new =
        NewOperator { username: req.username, password: req.password, role: req.role, centers: req.centers };
    let known = |c: &str| app.catalogs.has_center(c);
    let op = app.identity.create_operator(&who.operator, new, &known).await?;
    Ok(json(StatusCode::CREATED, &public(&op)))
}

/// `PUT /api/operator/catalog` (TOML body).
pub(super) async fn import_catalog(app: App, who: Staff, body: Bytes) -> Answer {
    let view = app.catalogs.upload(&who.operator, &body).await?;
    ok(&CatalogImportAnswer { sha256: view.sha256.clone() })
}
