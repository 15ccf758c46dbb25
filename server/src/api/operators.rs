//! Operator endpoints. Every route but login authenticates through [`operator_auth`] and then
//! asks [`operators::authorize`] for the permission it needs.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{client_address, json, json_body, no_content, run, session, with_app};
use crate::app::{App, now};
use crate::catalog::{self, availability};
use crate::error::ApiError;
use crate::identity::accounts::{CaptchaProof, gate};
use crate::identity::operators::{self, Operator, Permission, Role, authorize};
use crate::identity::passwords::check_policy;
use crate::identity::sessions::{self, Owner, Session};
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::{CommitError, Txn};

/// An authenticated operator.
#[derive(Debug, Clone)]
pub(crate) struct OperatorCtx {
    pub(crate) operator: Operator,
    pub(crate) session: Session,
}

/// Requires an operator session.
pub(super) fn operator_auth(app: App) -> impl Filter<Extract = (OperatorCtx,), Error = Rejection> + Clone {
    session(app.clone()).and_then(move |s: Session| {
        let app = app.clone();
        async move {
            let id = match &s.owner {
                Owner::Operator(id) => id.clone(),
                Owner::Account(_) => {
                    return Err(warp::reject::custom(ApiError::Unauthorized(
                        "operator endpoints need an operator token",
                    )));
                }
            };
            let op = load_operator(&app, &id).map_err(warp::reject::custom)?;
            Ok(OperatorCtx { operator: op, session: s })
        }
    })
}

/// The operator behind an operator session (401 when the account was removed since).
pub(super) fn load_operator(app: &App, id: &str) -> Result<Operator, ApiError> {
    operators::get(&*app.store, id)?.ok_or(ApiError::Unauthorized("the operator no longer exists"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    username: String,
    password: String,
    #[serde(default)]
    captcha_id: Option<String>,
    #[serde(default)]
    captcha_answer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateReq {
    username: String,
    password: String,
    role: Role,
    #[serde(default)]
    centers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
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

async fn login(app: &App, req: LoginReq, addr: &str) -> Result<Response, ApiError> {
    let key = format!("op:{}", req.username);
    gate(app, &key, addr, &CaptchaProof { id: req.captcha_id, answer: req.captcha_answer })?;
    let op = operators::find(&*app.store, &req.username)?;
    let ok = app.hasher.verify(req.password, op.as_ref().map(|o| o.password.clone())).await?;
    let Some(op) = op.filter(|_| ok) else {
        app.throttle.failure(&key, addr);
        return Err(ApiError::BadCredentials);
    };
    app.throttle.success(&key);
    let mut txn = Txn::new();
    let s = sessions::create(
        &mut txn,
        &Owner::Operator(op.id.clone()),
        now(),
        app.config.operator_session_ttl_secs,
    );
    app.commit(txn, AuditEvent::new(Actor::Operator(op.id.clone()), "operator.login", &op.id)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "operator": public(&op), "token": s.token, "expires_at": s.expires }),
    ))
}

async fn create_operator(app: &App, ctx: &OperatorCtx, req: CreateReq) -> Result<Response, ApiError> {
    authorize(&ctx.operator, Permission::ManageOperators)?;
    operators::check_username(&req.username)?;
    check_policy(&req.password, &req.username)?;
    let view = app.catalog();
    for c in &req.centers {
        let known = view.as_ref().is_some_and(|v| v.catalog.exams.iter().any(|e| e.center(c).is_some()));
        if !known {
            return Err(ApiError::invalid("center_unknown", format!("no center `{c}` in the catalog")));
        }
    }
    if req.role == Role::CenterOperator && req.centers.is_empty() {
        return Err(ApiError::invalid("centers_required", "a center operator needs at least one center"));
    }
    if req.role != Role::CenterOperator && !req.centers.is_empty() {
        return Err(ApiError::invalid("centers_not_allowed", "only center operators are scoped to centers"));
    }
    let phc = app.hasher.hash(req.password).await?;
    let mut txn = Txn::new();
    let (op, check) = operators::create(&mut txn, &req.username, req.role, req.centers, phc, now());
    let event = AuditEvent::new(Actor::Operator(ctx.operator.id.clone()), "operator.create", &op.id)
        .with(serde_json::json!({ "username": op.username, "role": op.role, "centers": op.centers }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(json(StatusCode::CREATED, &public(&op))),
        Err(CommitError::Precondition(i)) if i == check => Err(ApiError::Conflict {
            code: "username_taken",
            message: format!("an operator `{}` already exists", req.username),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn import_catalog(app: &App, ctx: &OperatorCtx, body: Bytes) -> Result<Response, ApiError> {
    authorize(&ctx.operator, Permission::ManageCatalog)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("catalog_encoding", "the catalog must be UTF-8 TOML"))?;
    let mut txn = Txn::new();
    let view = catalog::import(&*app.store, &app.keys, &mut txn, text, now()).map_err(|e| match e {
        catalog::ImportError::Storage(s) => ApiError::Storage(s),
        other => ApiError::invalid("catalog_invalid", other.to_string()),
    })?;
    let event = AuditEvent::new(Actor::Operator(ctx.operator.id.clone()), "catalog.import", &view.sha256)
        .with(serde_json::json!({ "exams": view.catalog.exams.iter().map(|e| &e.id).collect::<Vec<_>>() }));
    match app.commit(txn, event).await {
        Ok(()) => {}
        Err(CommitError::Precondition(_)) => {
            return Err(ApiError::Conflict {
                code: "concurrent_update",
                message: "seat counters changed during the import; retry".into(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    let sha = view.sha256.clone();
    app.set_catalog(Some(Arc::new(view)));
    Ok(json(StatusCode::OK, &serde_json::json!({ "sha256": sha })))
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;
    let auth = || operator_auth(app.clone());

    let login_route = warp::path!("api" / "operator" / "sessions")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client_address())
        .and(json_body::<LoginReq>(limit))
        .and_then(
            |app: App, addr: String, req: LoginReq| async move { run(&app, login(&app, req, &addr)).await },
        )
        .boxed();

    let logout = warp::path!("api" / "operator" / "sessions" / "current")
        .and(warp::delete())
        .and(with_app(app.clone()))
        .and(auth())
        .and_then(|app: App, ctx: OperatorCtx| async move {
            run(&app, async {
                crate::identity::accounts::logout(&app, &ctx.session).await?;
                Ok(no_content())
            })
            .await
        })
        .boxed();

    let me = warp::path!("api" / "operator" / "me")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(auth())
        .and_then(|app: App, ctx: OperatorCtx| async move {
            run(&app, async { Ok(json(StatusCode::OK, &public(&ctx.operator))) }).await
        })
        .boxed();

    let centers = warp::path!("api" / "operator" / "centers")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(auth())
        .and_then(|app: App, ctx: OperatorCtx| async move {
            run(&app, async {
                let mut out = Vec::new();
                if let Some(v) = app.catalog() {
                    for exam in &v.catalog.exams {
                        for c in exam.centers.iter().filter(|c| operators::can_see(&ctx.operator, &c.id)) {
                            out.push(serde_json::json!({ "exam": exam.id, "center": c.id, "name": c.name }));
                        }
                    }
                }
                Ok(json(StatusCode::OK, &out))
            })
            .await
        })
        .boxed();

    let seats = warp::path!("api" / "operator" / "exams" / String / "centers" / String / "seats")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(auth())
        .and_then(|exam: String, center: String, app: App, ctx: OperatorCtx| async move {
            run(&app, async {
                authorize(&ctx.operator, Permission::ReadCenter(&center))?;
                let v = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
                let seats = availability(&*app.store, &v, &exam, Some(&center))?
                    .ok_or_else(|| ApiError::NotFound(format!("no exam `{exam}`")))?;
                let one = seats
                    .into_iter()
                    .next()
                    .ok_or_else(|| ApiError::NotFound(format!("no center `{center}`")))?;
                Ok(json(StatusCode::OK, &one))
            })
            .await
        })
        .boxed();

    let audit_route = warp::path!("api" / "operator" / "audit")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(auth())
        .and(warp::query::<AuditQuery>())
        .and_then(|app: App, ctx: OperatorCtx, q: AuditQuery| async move {
            run(&app, async {
                authorize(&ctx.operator, Permission::ReadAudit)?;
                let entries = audit::read(&*app.store, q.from.max(1), q.limit.clamp(1, 1000))?;
                Ok(json(StatusCode::OK, &entries))
            })
            .await
        })
        .boxed();

    let verify = warp::path!("api" / "operator" / "audit" / "verify")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(auth())
        .and_then(|app: App, ctx: OperatorCtx| async move {
            run(&app, async {
                authorize(&ctx.operator, Permission::ReadAudit)?;
                let store = app.store.clone();
                let result = tokio::task::spawn_blocking(move || audit::verify(&*store))
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                Ok(match result {
                    Ok(entries) => {
                        json(StatusCode::OK, &serde_json::json!({ "intact": true, "entries": entries }))
                    }
                    Err(audit::VerifyError::Broken(b)) => json(
                        StatusCode::OK,
                        &serde_json::json!({ "intact": false, "broken_at": b.at, "reason": b.reason }),
                    ),
                    Err(audit::VerifyError::Storage(e)) => return Err(e.into()),
                })
            })
            .await
        })
        .boxed();

    let create = warp::path!("api" / "operator" / "operators")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(auth())
        .and(json_body::<CreateReq>(limit))
        .and_then(|app: App, ctx: OperatorCtx, req: CreateReq| async move {
            run(&app, create_operator(&app, &ctx, req)).await
        })
        .boxed();

    let import = warp::path!("api" / "operator" / "catalog")
        .and(warp::put())
        .and(with_app(app.clone()))
        .and(auth())
        .and(warp::body::content_length_limit(app.config.catalog_limit_bytes))
        .and(warp::body::bytes())
        .and_then(|app: App, ctx: OperatorCtx, body: Bytes| async move {
            run(&app, import_catalog(&app, &ctx, body)).await
        })
        .boxed();

    login_route
        .or(logout)
        .unify()
        .or(me)
        .unify()
        .or(centers)
        .unify()
        .or(seats)
        .unify()
        .or(audit_route)
        .unify()
        .or(verify)
        .unify()
        .or(create)
        .unify()
        .or(import)
        .unify()
        .boxed()
}
