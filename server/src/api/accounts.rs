//! Candidate accounts: captcha, registration, sessions, password, profile, recovery, and
//! third-party (OAuth) login.

use baoming_core::api::accounts::{
    AccountAnswer, LoginRequest, OAuthCallbackAnswer, OAuthCallbackQuery, OAuthStartAnswer,
    PasswordChangeAnswer, PasswordChangeRequest, RecoveryAnswer, RecoveryRequest, RecoveryResetRequest,
    RegisterRequest, SessionAnswer,
};
use baoming_core::api::error::ErrorCode;
use baoming_core::api::paths;
use warp::Reply;
use warp::http::{HeaderName, HeaderValue, StatusCode, header};

use super::error::ApiError;
use super::extract::{Answer, Candidate, ClientAddr, bearer, json, no_content, ok};
use crate::identity::accounts::{CaptchaProof, LoggedIn};
use crate::identity::profile::ProfileInput;
use crate::identity::sessions::Owner;
use crate::state::App;

fn session_resp(status: StatusCode, l: LoggedIn) -> Answer {
    Ok(json(
        status,
        &SessionAnswer { account_id: l.account_id, token: l.session.token, expires_at: l.session.expires },
    ))
}

/// `POST /api/captcha`: a PNG captcha, its id in `X-Captcha-Id`.
pub(super) async fn captcha(app: App) -> Answer {
    let issued = app.identity.captcha()?;
    let mut resp = warp::reply::with_header(issued.png, "content-type", "image/png").into_response();
    let id = HeaderValue::from_str(&issued.id).map_err(|e| ApiError::Internal(e.to_string()))?;
    let name = HeaderName::from_bytes(paths::CAPTCHA_ID.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    resp.headers_mut().insert(name, id);
    resp.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `POST /api/accounts`.
pub(super) async fn register(app: App, addr: ClientAddr, req: RegisterRequest) -> Answer {
    app.identity.attempt(&addr.0)?;
    session_resp(StatusCode::CREATED, app.identity.register(&req.login, &req.password).await?)
}

/// `POST /api/sessions`.
pub(super) async fn login(app: App, addr: ClientAddr, req: LoginRequest) -> Answer {
    let proof = CaptchaProof { id: req.captcha_id, answer: req.captcha_answer };
    session_resp(StatusCode::OK, app.identity.login(&req.login, &req.password, &proof, &addr.0).await?)
}

/// `DELETE /api/sessions/current`: the session ends (its sync connections close) and the
/// browser is told to forget the sync cookie.
pub(super) async fn logout(app: App, who: Candidate) -> Answer {
    app.identity.logout(&who.session).await?;
    let mut resp = no_content()?;
    resp.headers_mut().insert(header::SET_COOKIE, super::sync::cookie_header(&app, "", 0)?);
    Ok(resp)
}

/// `GET /api/account`.
pub(super) async fn account(app: App, who: Candidate) -> Answer {
    let account = app.identity.account(&who.account)?;
    let login = app.identity.login_of(&account)?;
    ok(&AccountAnswer {
        has_profile: account.profile_sealed.is_some(),
        account_id: account.id,
        login,
        login_kind: account.login_kind,
        created: account.created,
        session_expires_at: who.session.expires,
    })
}

/// `PUT /api/account/password`.
pub(super) async fn change_password(app: App, who: Candidate, req: PasswordChangeRequest) -> Answer {
    let revoked = app
        .identity
        .change_password(&who.account, &who.session.token_hash, &req.current_password, &req.new_password)
        .await?;
    ok(&PasswordChangeAnswer { revoked_sessions: revoked as u64 })
}

/// `GET /api/account/profile`.
pub(super) async fn profile(app: App, who: Candidate) -> Answer {
    match app.identity.get_profile(&who.account)? {
        Some(p) => ok(&p),
        None => Err(ApiError::NotFound("no profile yet".into())),
    }
}

/// `PUT /api/account/profile`.
pub(super) async fn set_profile(app: App, who: Candidate, req: ProfileInput) -> Answer {
    ok(&app.identity.set_profile(&who.account, req).await?)
}

/// `POST /api/password-recovery`: 202 whether or not the account exists.
pub(super) async fn recover(app: App, addr: ClientAddr, req: RecoveryRequest) -> Answer {
    app.identity.recover_start(&req.login, &addr.0).await?;
    Ok(json(StatusCode::ACCEPTED, &RecoveryAnswer { status: RecoveryAnswer::STATUS.into() }))
}

/// `POST /api/password-recovery/reset`.
pub(super) async fn reset(app: App, addr: ClientAddr, req: RecoveryResetRequest) -> Answer {
    app.identity.recover_finish(&req.login, &req.code, &req.new_password, &addr.0).await?;
    no_content()
}

/// `POST /api/oauth/{provider}/start`: with a candidate token, the provider identity is linked
/// to that account.
pub(super) async fn oauth_start(provider: String, app: App, auth: Option<String>) -> Answer {
    let link = match auth {
        None => None,
        Some(h) => match app.identity.session(bearer(Some(&h))?)?.owner {
            Owner::Account(id) => Some(id),
            Owner::Operator(_) => {
                return Err(ApiError::Unauthorized("operators cannot link third-party logins"));
            }
        },
    };
    let (url, state) = app.identity.oauth_start(&provider, link)?;
    ok(&OAuthStartAnswer { authorize_url: url, state })
}

/// `GET /api/oauth/{provider}/callback?code&state`.
pub(super) async fn oauth_callback(provider: String, app: App, q: OAuthCallbackQuery) -> Answer {
    if let Some(e) = q.error {
        return Err(crate::identity::IdentityError::invalid(
            ErrorCode::OauthDenied,
            format!("the provider answered `{e}`"),
        )
        .into());
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(ApiError::BadRequest("the callback needs `code` and `state`".into()));
    };
    let f = app.identity.oauth_finish(&provider, &code, &state).await?;
    ok(&OAuthCallbackAnswer {
        account_id: f.account_id,
        token: f.session.token,
        expires_at: f.session.expires,
        outcome: f.outcome,
    })
}
