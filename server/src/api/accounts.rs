//! Candidate endpoints: captcha, registration, sessions, password, profile, recovery.

use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{AccountCtx, account_auth, client_address, json, json_body, no_content, run, with_app};
use crate::app::App;
use crate::error::ApiError;
use crate::identity::accounts::{self, CaptchaProof, LoggedIn, ProfileInput};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterReq {
    login: String,
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginReq {
    login: String,
    password: String,
    #[serde(default)]
    captcha_id: Option<String>,
    #[serde(default)]
    captcha_answer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordReq {
    current_password: String,
    new_password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverReq {
    login: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetReq {
    login: String,
    code: String,
    new_password: String,
}

/// Answer to a registration or login.
#[derive(Debug, Serialize)]
struct SessionResp {
    account_id: String,
    token: String,
    expires_at: i64,
}

fn session_resp(status: StatusCode, l: LoggedIn) -> Response {
    json(
        status,
        &SessionResp { account_id: l.account_id, token: l.session.token, expires_at: l.session.expires },
    )
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let limit = app.config.body_limit_bytes;

    let captcha = warp::path!("api" / "captcha")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and_then(|app: App| async move {
            run(&app, async {
                let issued = app.captchas.issue()?;
                let mut resp =
                    warp::reply::with_header(issued.png, "content-type", "image/png").into_response();
                let id = warp::http::HeaderValue::from_str(&issued.id)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                resp.headers_mut().insert("x-captcha-id", id);
                resp.headers_mut().insert("cache-control", warp::http::HeaderValue::from_static("no-store"));
                Ok(resp)
            })
            .await
        })
        .boxed();

    let register = warp::path!("api" / "accounts")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client_address())
        .and(json_body::<RegisterReq>(limit))
        .and_then(|app: App, addr: String, req: RegisterReq| async move {
            run(&app, async {
                app.throttle.attempt(&addr)?;
                let l = accounts::register(&app, &req.login, &req.password).await?;
                Ok(session_resp(StatusCode::CREATED, l))
            })
            .await
        })
        .boxed();

    let login = warp::path!("api" / "sessions")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client_address())
        .and(json_body::<LoginReq>(limit))
        .and_then(|app: App, addr: String, req: LoginReq| async move {
            run(&app, async {
                let proof = CaptchaProof { id: req.captcha_id, answer: req.captcha_answer };
                let l = accounts::login(&app, &req.login, &req.password, &proof, &addr).await?;
                Ok(session_resp(StatusCode::OK, l))
            })
            .await
        })
        .boxed();

    let logout = warp::path!("api" / "sessions" / "current")
        .and(warp::delete())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|app: App, ctx: AccountCtx| async move {
            run(&app, async {
                accounts::logout(&app, &ctx.session).await?;
                Ok(no_content())
            })
            .await
        })
        .boxed();

    let me = warp::path!("api" / "account")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|app: App, ctx: AccountCtx| async move {
            run(&app, async {
                let account = accounts::get(&*app.store, &ctx.account_id)?
                    .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
                let login = accounts::login_of(&app, &account)?;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "account_id": account.id,
                        "login": login,
                        "login_kind": account.login_kind,
                        "created": account.created,
                        "has_profile": account.profile_sealed.is_some(),
                        "session_expires_at": ctx.session.expires,
                    }),
                ))
            })
            .await
        })
        .boxed();

    let password = warp::path!("api" / "account" / "password")
        .and(warp::put())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and(json_body::<PasswordReq>(limit))
        .and_then(|app: App, ctx: AccountCtx, req: PasswordReq| async move {
            run(&app, async {
                let revoked = accounts::change_password(
                    &app,
                    &ctx.account_id,
                    &ctx.session.token_hash,
                    &req.current_password,
                    &req.new_password,
                )
                .await?;
                Ok(json(StatusCode::OK, &serde_json::json!({ "revoked_sessions": revoked })))
            })
            .await
        })
        .boxed();

    let get_profile = warp::path!("api" / "account" / "profile")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and_then(|app: App, ctx: AccountCtx| async move {
            run(&app, async {
                match accounts::get_profile(&app, &ctx.account_id)? {
                    Some(p) => Ok(json(StatusCode::OK, &p)),
                    None => Err(ApiError::NotFound("no profile yet".into())),
                }
            })
            .await
        })
        .boxed();

    let put_profile = warp::path!("api" / "account" / "profile")
        .and(warp::put())
        .and(with_app(app.clone()))
        .and(account_auth(app.clone()))
        .and(json_body::<ProfileInput>(limit))
        .and_then(|app: App, ctx: AccountCtx, req: ProfileInput| async move {
            run(&app, async {
                let p = accounts::set_profile(&app, &ctx.account_id, req).await?;
                Ok(json(StatusCode::OK, &p))
            })
            .await
        })
        .boxed();

    let recover = warp::path!("api" / "password-recovery")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client_address())
        .and(json_body::<RecoverReq>(limit))
        .and_then(|app: App, addr: String, req: RecoverReq| async move {
            run(&app, async {
                accounts::recover_start(&app, &req.login, &addr).await?;
                Ok(json(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({ "status": "if the account exists, a code was sent to it" }),
                ))
            })
            .await
        })
        .boxed();

    let reset = warp::path!("api" / "password-recovery" / "reset")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client_address())
        .and(json_body::<ResetReq>(limit))
        .and_then(|app: App, addr: String, req: ResetReq| async move {
            run(&app, async {
                accounts::recover_finish(&app, &req.login, &req.code, &req.new_password, &addr).await?;
                Ok(no_content())
            })
            .await
        })
        .boxed();

    captcha
        .or(register)
        .unify()
        .or(login)
        .unify()
        .or(logout)
        .unify()
        .or(me)
        .unify()
        .or(password)
        .unify()
        .or(get_profile)
        .unify()
        .or(put_profile)
        .unify()
        .or(recover)
        .unify()
        .or(reset)
        .unify()
        .boxed()
}
