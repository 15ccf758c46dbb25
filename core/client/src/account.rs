//! The candidate's account calls (blocking REST, server/SERVER.md): register, log in (with a
//! captcha when the server raises the risk), log out, change and recover the password, and the
//! public reads a device caches or shows: the catalog (with its ETag), the registration's status
//! and the live seat availability.
//!
//! [`AccountApi`] needs no session and no store: an app uses it before it has an account id to
//! open a [`SyncClient`](crate::SyncClient) with. Every call blocks on one HTTP request (run it
//! off the UI thread, or on tokio's blocking pool). Failures are [`ClientError`]s:
//! [`ClientError::Server`] carries the server's machine-readable code (`bad_credentials`,
//! `captcha_required`, `too_many_requests` …).

use std::time::Duration;

use baoming_core::api::registrations::RegistrationView;
use serde::Deserialize;

use crate::error::ClientError;
use crate::http;
use crate::state::urls;
use crate::store::CachedCatalog;

/// A session from a registration or a login.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    /// The account id, which names the candidate's documents.
    pub account_id: String,
    /// The bearer token (keep it in the platform's keychain / keystore).
    pub token: String,
    /// When the token expires (as the server wrote it).
    #[serde(default, deserialize_with = "any_text")]
    pub expires_at: String,
}

fn any_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

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

/// Free seats of one subject at one center.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubjectSeats {
    /// The subject code.
    pub code: String,
    /// Seats in total.
    pub capacity: u32,
    /// Seats free now.
    pub free: u32,
}

/// Free seats at one center.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CenterSeats {
    /// The center id.
    pub center: String,
    /// The center's total capacity.
    pub total_capacity: u32,
    /// Seats free now.
    pub free: u32,
    /// Whether the administrator cancelled the center (nothing can be submitted there).
    #[serde(default)]
    pub cancelled: bool,
    /// Per subject.
    #[serde(default)]
    pub subjects: Vec<SubjectSeats>,
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

    pub(super) fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<http::Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = http::Request::new(&self.agent, method, &url);
        if let Some(t) = token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        match body {
            Some(b) => req.json(&b),
            None => req.empty(),
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
    /// session. 409 `login_taken`, 422 `password_weak` … as [`ClientError::Server`].
    pub fn register(&self, login: &str, password: &str) -> Result<Session, ClientError> {
        let body = serde_json::json!({ "login": login, "password": password });
        Self::expect(self.call("POST", "/api/accounts", None, Some(body), &[])?, &[200, 201])
    }

    /// Logs in. 401 `bad_credentials`, `captcha_required` (fetch [`AccountApi::captcha`] and
    /// retry with the answer), `captcha_wrong`; 429 `too_many_requests`.
    pub fn login(
        &self,
        login: &str,
        password: &str,
        captcha: Option<&CaptchaAnswer>,
    ) -> Result<Session, ClientError> {
        let mut body = serde_json::json!({ "login": login, "password": password });
        if let Some(c) = captcha {
            body["captcha_id"] = c.id.clone().into();
            body["captcha_answer"] = c.answer.clone().into();
        }
        Self::expect(self.call("POST", "/api/sessions", None, Some(body), &[])?, &[200, 201])
    }

    /// A new captcha image.
    pub fn captcha(&self) -> Result<Captcha, ClientError> {
        let answer = self.call("POST", "/api/captcha", None, None, &[])?;
        if answer.status != 200 {
            return Err(answer.into_error());
        }
        let id = answer
            .captcha_id
            .clone()
            .ok_or_else(|| ClientError::Protocol("captcha without an X-Captcha-Id header".into()))?;
        Ok(Captcha { id, png: answer.body })
    }

    /// Ends the session of `token` on the server. An already invalid token counts as logged out.
    pub fn logout(&self, token: &str) -> Result<(), ClientError> {
        let answer = self.call("DELETE", "/api/sessions/current", Some(token), None, &[])?;
        match answer.status {
            200..=299 | 401 => Ok(()),
            _ => Err(answer.into_error()),
        }
    }

    /// Changes the password; the account's other sessions end.
    pub fn change_password(&self, token: &str, current: &str, new: &str) -> Result<(), ClientError> {
        let body = serde_json::json!({ "current_password": current, "new_password": new });
        let answer = self.call("PUT", "/api/account/password", Some(token), Some(body), &[])?;
        ok_or_error(answer)
    }

    /// Asks for a one-time recovery code to be sent to `login` (the server answers the same
    /// whether or not the account exists).
    pub fn request_password_recovery(&self, login: &str) -> Result<(), ClientError> {
        let body = serde_json::json!({ "login": login });
        ok_or_error(self.call("POST", "/api/password-recovery", None, Some(body), &[])?)
    }

    /// Sets a new password with the recovery code; every session of the account ends.
    pub fn reset_password(&self, login: &str, code: &str, new: &str) -> Result<(), ClientError> {
        let body = serde_json::json!({ "login": login, "code": code, "new_password": new });
        ok_or_error(self.call("POST", "/api/password-recovery/reset", None, Some(body), &[])?)
    }

    /// Fetches the public catalog, or learns that `etag` (of the cached copy) is still current.
    pub fn fetch_catalog(&self, etag: Option<&str>) -> Result<CatalogFetch, ClientError> {
        let headers: Vec<(&str, &str)> = etag.map(|e| ("if-none-match", e)).into_iter().collect();
        let answer = self.call("GET", "/api/catalog", None, None, &headers)?;
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
        let path = format!("/api/registrations/{exam_id}");
        Self::expect(self.call("GET", &path, Some(token), None, &[])?, &[200])
    }

    /// The live seat availability of every center of `exam_id`.
    pub fn availability(&self, exam_id: &str) -> Result<Vec<CenterSeats>, ClientError> {
        #[derive(Deserialize)]
        struct Body {
            centers: Vec<CenterSeats>,
        }
        let path = format!("/api/exams/{exam_id}/availability");
        let body: Body = Self::expect(self.call("GET", &path, None, None, &[])?, &[200])?;
        Ok(body.centers)
    }
}

fn ok_or_error(answer: http::Answer) -> Result<(), ClientError> {
    if (200..300).contains(&answer.status) { Ok(()) } else { Err(answer.into_error()) }
}
