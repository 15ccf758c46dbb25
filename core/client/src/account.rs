//! The candidate's account calls (blocking REST, server/SERVER.md): register, log in (with a
//! captcha when the server raises the risk), log out, change and recover the password, and the
//! public reads a device caches or shows: the catalog (with its ETag), the registration's status
//! and the live seat availability.
//!
//! [`AccountApi`] needs no session and no store: an app uses it before it has an account id to
//! open a [`SyncClient`](crate::SyncClient) with. Every call blocks on one HTTP request (run it
//! off the UI thread, or on tokio's blocking pool). Requests and answers are the REST contract's
//! types ([`baoming_core::api`]); failures are [`ClientError`]s: [`ClientError::Server`] carries
//! the server's [`ErrorCode`](baoming_core::api::error::ErrorCode) (`BadCredentials`,
//! `CaptchaRequired`, `TooManyRequests` …).

use std::time::Duration;

use baoming_core::api::accounts::{
    LoginRequest, PasswordChangeAnswer, PasswordChangeRequest, RecoveryRequest, RecoveryResetRequest,
    RegisterRequest, SessionAnswer,
};
use baoming_core::api::catalog::{CenterSeats, ExamAvailability};
use baoming_core::api::paths;
use baoming_core::api::registrations::RegistrationView;

use crate::error::ClientError;
use crate::http;
use crate::state::urls;
use crate::store::CachedCatalog;

/// A captcha to show before logging in again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captcha {
    /// The id to send back with the answer.
    pub id: String,
    /// The PNG image.
    pub png: Vec<u8>,
}

/// The answer to a captcha, sent with a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptchaAnswer {
    /// [`Captcha::id`].
    pub id: String,
    /// What the candidate read.
    pub answer: String,
}

/// The result of [`AccountApi::fetch_catalog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogFetch {
    /// The server's catalog equals the cached one (HTTP 304).
    NotModified,
    /// A new catalog: its ETag and JSON body.
    Fresh(CachedCatalog),
}

/// The account endpoints of one server.
#[derive(Debug, Clone)]
pub struct AccountApi {
    base: String,
    agent: ureq::Agent,
}

impl AccountApi {
    /// The API of the server at `server_url` (`http://…` or `https://…`), each request allowed
    /// `timeout`.
    pub fn new(server_url: &str, timeout: Duration) -> Result<AccountApi, ClientError> {
        let (base, _) = urls(server_url)?;
        Ok(AccountApi { base, agent: http::agent(timeout) })
    }

    /// A request to `path` on this server, with the session token if there is one; send it
    /// with `json` or `empty`.
    pub(super) fn request<'a>(
        &'a self,
        method: &'a str,
        path: &str,
        token: Option<&str>,
    ) -> http::Request<'a> {
        let req = http::Request::new(&self.agent, method, format!("{}{path}", self.base));
        match token {
            Some(t) => req.header(paths::AUTHORIZATION, &http::bearer(t)),
            None => req,
        }
    }

    pub(super) fn expect<T: serde::de::DeserializeOwned>(
        answer: http::Answer,
        ok: &[u16],
    ) -> Result<T, ClientError> {
        if !ok.contains(&answer.status) {
            return Err(answer.into_error());
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| ClientError::Protocol(format!("unexpected answer body: {e}")))
    }

    /// Registers an account (`login` = e-mail or mainland mobile number) and returns its first
    /// session. 409 `LoginTaken`, 422 `PasswordTooWeak` … as [`ClientError::Server`].
    pub fn register(&self, login: &str, password: &str) -> Result<SessionAnswer, ClientError> {
        let body = RegisterRequest { login: login.to_owned(), password: password.to_owned() };
        Self::expect(self.request("POST", paths::ACCOUNTS, None).json(&body)?, &[200, 201])
    }

    /// Logs in. 401 `BadCredentials`, `CaptchaRequired` (fetch [`AccountApi::captcha`] and
    /// retry with the answer), `CaptchaWrong`; 429 `TooManyRequests`.
    pub fn login(
        &self,
        login: &str,
        password: &str,
        captcha: Option<&CaptchaAnswer>,
    ) -> Result<SessionAnswer, ClientError> {
        let body = LoginRequest {
            login: login.to_owned(),
            password: password.to_owned(),
            captcha_id: captcha.map(|c| c.id.clone()),
            captcha_answer: captcha.map(|c| c.answer.clone()),
        };
        Self::expect(self.request("POST", paths::SESSIONS, None).json(&body)?, &[200, 201])
    }

    /// A new captcha image.
    pub fn captcha(&self) -> Result<Captcha, ClientError> {
        let answer = self.request("POST", paths::CAPTCHA, None).empty()?;
        if answer.status != 200 {
            return Err(answer.into_error());
        }
        let id = answer.captcha_id.clone().ok_or_else(|| {
            ClientError::Protocol(format!("captcha without an {} header", paths::CAPTCHA_ID))
        })?;
        Ok(Captcha { id, png: answer.body })
    }

    /// Ends the session of `token` on the server. An already invalid token counts as logged out.
    pub fn logout(&self, token: &str) -> Result<(), ClientError> {
        let answer = self.request("DELETE", paths::SESSIONS_CURRENT, Some(token)).empty()?;
        match answer.status {
            200..=299 | 401 => Ok(()),
            _ => Err(answer.into_error()),
        }
    }

    /// Changes the password; the account's other sessions end (the answer says how many).
    pub fn change_password(
        &self,
        token: &str,
        current: &str,
        new: &str,
    ) -> Result<PasswordChangeAnswer, ClientError> {
        let body =
            PasswordChangeRequest { current_password: current.to_owned(), new_password: new.to_owned() };
        Self::expect(self.request("PUT", paths::ACCOUNT_PASSWORD, Some(token)).json(&body)?, &[200])
    }

    /// Asks for a one-time recovery code to be sent to `login` (the server answers the same
    /// whether or not the account exists).
    pub fn request_password_recovery(&self, login: &str) -> Result<(), ClientError> {
        ok_or_error(
            self.request("POST", paths::PASSWORD_RECOVERY, None)
                .json(&RecoveryRequest { login: login.to_owned() })?,
        )
    }

    /// Sets a new password with the recovery code; every session of the account ends.
    pub fn reset_password(&self, login: &str, code: &str, new: &str) -> Result<(), ClientError> {
        let body = RecoveryResetRequest {
            login: login.to_owned(),
            code: code.to_owned(),
            new_password: new.to_owned(),
        };
        ok_or_error(self.request("POST", paths::PASSWORD_RECOVERY_RESET, None).json(&body)?)
    }

    /// Fetches the public catalog, or learns that `etag` (of the cached copy) is still current.
    pub fn fetch_catalog(&self, etag: Option<&str>) -> Result<CatalogFetch, ClientError> {
        let mut req = self.request("GET", paths::CATALOG, None);
        if let Some(e) = etag {
            req = req.header(paths::IF_NONE_MATCH, e);
        }
        let answer = req.empty()?;
        match answer.status {
            304 => Ok(CatalogFetch::NotModified),
            200 => Ok(CatalogFetch::Fresh(CachedCatalog {
                etag: answer.etag.clone().unwrap_or_default(),
                body: answer.body,
            })),
            _ => Err(answer.into_error()),
        }
    }

    /// The server's view of the candidate's registration for `exam_id` (`draft` before any
    /// submission).
    pub fn registration_status(&self, token: &str, exam_id: &str) -> Result<RegistrationView, ClientError> {
        Self::expect(self.request("GET", &paths::registration(exam_id), Some(token)).empty()?, &[200])
    }

    /// The live seat availability of every center of `exam_id`, in catalog order.
    pub fn availability(&self, exam_id: &str) -> Result<Vec<CenterSeats>, ClientError> {
        let answer: ExamAvailability =
            Self::expect(self.request("GET", &paths::availability(exam_id), None).empty()?, &[200])?;
        Ok(answer.centers)
    }
}

fn ok_or_error(answer: http::Answer) -> Result<(), ClientError> {
    if (200..300).contains(&answer.status) { Ok(()) } else { Err(answer.into_error()) }
}
