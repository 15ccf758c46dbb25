//! Third-party login endpoints (authorization code + PKCE).

use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{json, run, with_app};
use crate::app::{App, now};
use crate::error::ApiError;
use crate::identity::oauth;
use crate::identity::sessions::{self, Owner};

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

pub(super) fn routes(app: App) -> BoxedFilter<(Response,)> {
    let start = warp::path!("api" / "oauth" / String / "start")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::header::optional::<String>("authorization"))
        .and_then(|provider: String, app: App, auth: Option<String>| async move {
            run(&app, async {
                // With a candidate token, the provider identity is linked to that account.
                let link = match auth {
                    None => None,
                    Some(h) => {
                        let token = h.strip_prefix("Bearer ").ok_or(ApiError::Unauthorized(
                            "the Authorization header must be `Bearer <token>`",
                        ))?;
                        match sessions::resolve(&*app.store, token.trim(), now())?.owner {
                            Owner::Account(id) => Some(id),
                            Owner::Operator(_) => {
                                return Err(ApiError::Unauthorized(
                                    "operators cannot link third-party logins",
                                ));
                            }
                        }
                    }
                };
                let (url, state) = oauth::start(&app, &provider, link)?;
                Ok(json(StatusCode::OK, &serde_json::json!({ "authorize_url": url, "state": state })))
            })
            .await
        })
        .boxed();

    let callback = warp::path!("api" / "oauth" / String / "callback")
        .and(warp::get())
        .and(with_app(app))
        .and(warp::query::<CallbackQuery>())
        .and_then(|provider: String, app: App, q: CallbackQuery| async move {
            run(&app, async {
                if let Some(e) = q.error {
                    return Err(ApiError::invalid("oauth_denied", format!("the provider answered `{e}`")));
                }
                let (Some(code), Some(state)) = (q.code, q.state) else {
                    return Err(ApiError::BadRequest("the callback needs `code` and `state`".into()));
                };
                let f = oauth::finish(&app, &provider, &code, &state).await?;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "account_id": f.account_id,
                        "token": f.session.token,
                        "expires_at": f.session.expires,
                        "outcome": f.outcome,
                    }),
                ))
            })
            .await
        })
        .boxed();

    start.or(callback).unify().boxed()
}
