//! Third-party login against a small OAuth 2.0 provider that the test runs on a local port:
//! authorization code + PKCE (S256), checked by the provider exactly as a real one would.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::json;
use warp::Filter;
use warp::http::StatusCode;

use baoming_core::api::accounts::{
    AccountAnswer, LoginKind, OAuthCallbackAnswer, OAuthOutcome, OAuthStartAnswer, SessionAnswer,
};
use baoming_core::api::error::ErrorCode;
use baoming_server::config::OAuthProviderConfig;
use baoming_server::identity::oauth::pkce_challenge;
use baoming_server::state::App;
use baoming_server::store::audit;
use support::{Response, TestApp};

const CLIENT_ID: &str = "baoming-client";
const CLIENT_SECRET: &str = "s3cret-for-tests";
const REDIRECT: &str = "https://baoming.test/api/oauth/qq/callback";

#[derive(Default)]
struct ProviderState {
    /// code → (challenge, redirect_uri, user)
    codes: HashMap<String, (String, String, String)>,
    /// access token → user
    tokens: HashMap<String, String>,
    counter: u64,
}

fn users() -> HashMap<&'static str, &'static str> {
    HashMap::from([("u1", "u1@qq.example"), ("u2", "u2@qq.example"), ("u3", "taken@example.org")])
}

/// Serves `/authorize`, `/token` and `/userinfo`; returns its address.
#[allow(clippy::too_many_lines, reason = "the provider's three endpoints read best side by side")]
async fn start_provider() -> SocketAddr {
    let state: Arc<Mutex<ProviderState>> = Arc::default();
    let s1 = state.clone();
    let authorize = warp::path!("authorize")
        .and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .map(move |q: HashMap<String, String>| {
            let ok = q.get("response_type").map(String::as_str) == Some("code")
                && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && q.get("code_challenge_method").map(String::as_str) == Some("S256");
            let (Some(challenge), Some(redirect), Some(st), Some(user)) =
                (q.get("code_challenge"), q.get("redirect_uri"), q.get("state"), q.get("login_hint"))
            else {
                return warp::reply::with_status("missing parameters".to_owned(), StatusCode::BAD_REQUEST)
                    .into_response_boxed();
            };
            if !ok {
                return warp::reply::with_status("bad request".to_owned(), StatusCode::BAD_REQUEST)
                    .into_response_boxed();
            }
            let mut s = s1.lock().expect("lock");
            s.counter += 1;
            let code = format!("code-{}", s.counter);
            s.codes.insert(code.clone(), (challenge.clone(), redirect.clone(), user.clone()));
            let location = format!("{redirect}?code={code}&state={st}");
            warp::reply::with_header(StatusCode::FOUND, "location", location).into_response_boxed()
        });
    let s2 = state.clone();
    let token = warp::path!("token")
        .and(warp::post())
        .and(warp::body::form::<HashMap<String, String>>())
        .map(move |f: HashMap<String, String>| {
            let mut s = s2.lock().expect("lock");
            let get = |k: &str| f.get(k).cloned().unwrap_or_default();
            let grant = s.codes.remove(&get("code"));
            let valid = grant.as_ref().is_some_and(|(challenge, redirect, _)| {
                get("grant_type") == "authorization_code"
                    && get("client_id") == CLIENT_ID
                    && get("client_secret") == CLIENT_SECRET
                    && &get("redirect_uri") == redirect
                    && &pkce_challenge(&get("code_verifier")) == challenge
            });
            match grant {
                Some((_, _, user)) if valid => {
                    s.counter += 1;
                    let t = format!("at-{}", s.counter);
                    s.tokens.insert(t.clone(), user);
                    warp::reply::with_status(
                        warp::reply::json(&json!({"access_token": t, "token_type": "Bearer"})),
                        StatusCode::OK,
                    )
                }
                _ => warp::reply::with_status(
                    warp::reply::json(&json!({"error": "invalid_grant"})),
                    StatusCode::BAD_REQUEST,
                ),
            }
        });
    let s3 = state.clone();
    let userinfo = warp::path!("userinfo").and(warp::get()).and(warp::header::<String>("authorization")).map(
        move |h: String| {
            let s = s3.lock().expect("lock");
            let user = h.strip_prefix("Bearer ").and_then(|t| s.tokens.get(t)).cloned();
            match user {
                Some(u) => warp::reply::with_status(
                    warp::reply::json(
                        &json!({"sub": u, "email": users()[u.as_str()], "email_verified": true}),
                    ),
                    StatusCode::OK,
                ),
                None => warp::reply::with_status(
                    warp::reply::json(&json!({"error": "invalid_token"})),
                    StatusCode::UNAUTHORIZED,
                ),
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(warp::serve(authorize.or(token).or(userinfo)).incoming(listener).run());
    addr
}

trait BoxedResponse {
    fn into_response_boxed(self) -> warp::reply::Response;
}

impl<T: warp::Reply> BoxedResponse for T {
    fn into_response_boxed(self) -> warp::reply::Response {
        self.into_response()
    }
}

async fn call(app: &App, method: &str, path: &str, token: Option<&str>) -> Response {
    let routes = baoming_server::api::routes(app.clone());
    let mut req = warp::test::request().method(method).path(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let r = req.reply(&routes).await;
    Response::new(r.status().as_u16(), Vec::new(), r.body().to_vec())
}

/// The callback of a login with `code` and `state`.
async fn callback(app: &App, code: &str, state: &str) -> Response {
    call(app, "GET", &format!("/api/oauth/qq/callback?code={code}&state={state}"), None).await
}

/// Follows the provider's authorization URL as user `user`; returns (code, state).
async fn authorize(url: &str, provider: SocketAddr, user: &str) -> (String, String) {
    let path = url.split_once(&provider.to_string()).map(|(_, p)| p.to_owned()).expect("provider url");
    let path = format!("{path}&login_hint={user}");
    let r = tokio::task::spawn_blocking(move || support::get(provider, &path).send()).await.expect("join");
    assert_eq!(r.status, 302);
    let location = r.header("location").expect("location").to_owned();
    assert!(location.starts_with(REDIRECT));
    let query = location.split_once('?').map(|(_, q)| q).expect("query");
    let params: HashMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
    (params["code"].to_owned(), params["state"].to_owned())
}

async fn start(app: &App, token: Option<&str>) -> (String, String) {
    let started: OAuthStartAnswer = call(app, "POST", "/api/oauth/qq/start", token).await.typed();
    (started.authorize_url, started.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_code_with_pkce_creates_logs_in_and_links_accounts() {
    let provider = start_provider().await;
    let t = TestApp::with(|c| {
        c.oauth = vec![OAuthProviderConfig {
            name: "qq".into(),
            authorize_url: format!("http://{provider}/authorize"),
            token_url: format!("http://{provider}/token"),
            userinfo_url: format!("http://{provider}/userinfo"),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uri: REDIRECT.into(),
        }]
    });

    // First login creates a passport account named by the verified e-mail.
    let (url, _) = start(&t.app, None).await;
    assert!(url.contains("code_challenge_method=S256") && url.contains("client_id=baoming-client"));
    let (code, state) = authorize(&url, provider, "u1").await;
    let first: OAuthCallbackAnswer = callback(&t.app, &code, &state).await.typed();
    assert_eq!(first.outcome, OAuthOutcome::Created);
    let me: AccountAnswer = call(&t.app, "GET", "/api/account", Some(&first.token)).await.typed();
    assert_eq!((me.login.as_str(), me.login_kind), ("u1@qq.example", LoginKind::Email));

    // The same state and code cannot be replayed.
    callback(&t.app, &code, &state).await.refused(422, ErrorCode::OauthStateInvalid);

    // A second login reaches the same account.
    let (url, _) = start(&t.app, None).await;
    let (code, state) = authorize(&url, provider, "u1").await;
    let again: OAuthCallbackAnswer = callback(&t.app, &code, &state).await.typed();
    assert_eq!((again.outcome, again.account_id), (OAuthOutcome::Login, first.account_id.clone()));

    // PKCE: a code obtained for one verifier is refused with another (the provider checks).
    let (url1, _) = start(&t.app, None).await;
    let (_, state2) = start(&t.app, None).await;
    let (code1, _) = authorize(&url1, provider, "u2").await;
    callback(&t.app, &code1, &state2).await.refused(422, ErrorCode::OauthFailed);

    // Linking from a logged-in passport account.
    let routes = baoming_server::api::routes(t.app.clone());
    let r = warp::test::request()
        .method("POST")
        .path("/api/accounts")
        .json(&json!({"login": "taken@example.org", "password": "Lantern-Harbor-42"}))
        .reply(&routes)
        .await;
    let passport: SessionAnswer =
        Response::new(r.status().as_u16(), Vec::new(), r.body().to_vec()).expect(201).typed();
    let (url, _) = start(&t.app, Some(&passport.token)).await;
    let (code, state) = authorize(&url, provider, "u2").await;
    let linked: OAuthCallbackAnswer = callback(&t.app, &code, &state).await.typed();
    assert_eq!((linked.outcome, linked.account_id), (OAuthOutcome::Linked, passport.account_id.clone()));

    // A provider e-mail equal to an existing passport never takes that passport over.
    let (url, _) = start(&t.app, None).await;
    let (code, state) = authorize(&url, provider, "u3").await;
    let created: OAuthCallbackAnswer = callback(&t.app, &code, &state).await.typed();
    assert_eq!(created.outcome, OAuthOutcome::Created);
    assert_ne!(created.account_id, passport.account_id);
    let me: AccountAnswer = call(&t.app, "GET", "/api/account", Some(&created.token)).await.typed();
    assert_eq!((me.login.as_str(), me.login_kind), ("qq:u3", LoginKind::External));

    // Errors.
    call(&t.app, "POST", "/api/oauth/weibo/start", None).await.refused(404, ErrorCode::NotFound);
    let denied = call(&t.app, "GET", "/api/oauth/qq/callback?error=access_denied", None).await;
    denied.refused(422, ErrorCode::OauthDenied);
    call(&t.app, "GET", "/api/oauth/qq/callback", None).await.refused(400, ErrorCode::BadRequest);

    audit::verify(t.app.db.store()).expect("audit chain intact");
}
