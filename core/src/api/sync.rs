//! How a client authenticates the sync WebSocket (`GET /api/sync`) when it cannot set the
//! `Authorization` header, and how the server tells it that its session ended.
//!
//! * `POST /api/sync/tickets` (201) gives a single-use ticket for one upgrade,
//!   `GET /api/sync?ticket=…` ([`SyncTicket`], [`SyncQuery`]).
//! * `POST /api/sync/cookie` (200) sets the sync cookie [`SYNC_COOKIE`] (HttpOnly,
//!   SameSite=Strict, Secure under TLS, path [`SYNC_COOKIE_PATH`]), which authenticates every
//!   upgrade of the session's lifetime, reconnections included ([`SyncCookie`]).
//! * A connection whose session ends (logout, password change, recovery reset, expiry) is closed
//!   with the close code [`SESSION_ENDED_CLOSE_CODE`] and a [`SessionEnd`] as the reason.
//!
//! The sync exchange itself (WebSocket frames and the `POST /api/sync/batch` body) is CBOR, in
//! [`crate::wire`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A sync ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTicket {
    /// The ticket, for `?ticket=`.
    pub ticket: String,
    /// Seconds it stays valid (60).
    pub expires_in: u64,
}

/// The query of the WebSocket upgrade (`GET /api/sync`), for clients that cannot set the
/// `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncQuery {
    /// A ticket from `POST /api/sync/tickets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

impl SyncQuery {
    /// The query string (`?ticket=…`, or nothing).
    pub fn query_string(&self) -> String {
        let mut q = String::new();
        if let Some(t) = &self.ticket {
            super::push_query_pair(&mut q, "ticket", t);
        }
        q
    }
}

/// The name of the sync cookie.
pub const SYNC_COOKIE: &str = "bm_sync";
/// The path the sync cookie is set for: the browser sends it to the sync endpoints only.
pub const SYNC_COOKIE_PATH: &str = "/api/sync";

/// The answer of `POST /api/sync/cookie`: the cookie itself travels in `Set-Cookie`, out of
/// the page's reach (HttpOnly); this says what was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCookie {
    /// The cookie's name, [`SYNC_COOKIE`].
    pub cookie: String,
    /// The path it is sent to, [`SYNC_COOKIE_PATH`].
    pub path: String,
    /// When it stops working: the session's expiry, Unix seconds. It stops earlier when the
    /// session ends earlier.
    pub expires_at: i64,
}

/// The WebSocket close code of a sync connection whose session ended (RFC 6455's range for
/// applications, 4000–4999; 4401 as in HTTP 401). A client treats it as a refused token: sign
/// in again, then reconnect. The close reason is a [`SessionEnd`].
pub const SESSION_ENDED_CLOSE_CODE: u16 = 4401;

/// Why a session ended, as the reason of a [`SESSION_ENDED_CLOSE_CODE`] close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// The session logged out (`DELETE /api/sessions/current`).
    LoggedOut,
    /// Another session of the account changed the password.
    PasswordChanged,
    /// The password was reset through recovery, which ends every session.
    PasswordReset,
    /// The session reached its expiry.
    Expired,
}

impl SessionEnd {
    /// Every reason.
    pub const ALL: [SessionEnd; 4] =
        [SessionEnd::LoggedOut, SessionEnd::PasswordChanged, SessionEnd::PasswordReset, SessionEnd::Expired];

    /// The reason as it travels (`logged_out`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::LoggedOut => "logged_out",
            SessionEnd::PasswordChanged => "password_changed",
            SessionEnd::PasswordReset => "password_reset",
            SessionEnd::Expired => "expired",
        }
    }

    /// The reason spelled `text`, if it is one.
    pub fn parse(text: &str) -> Option<SessionEnd> {
        SessionEnd::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn tickets_parse() {
        let t: SyncTicket = round_trip(r#"{"ticket":"tk_0123","expires_in":60}"#);
        assert_eq!(t.expires_in, 60);
        assert_eq!(SyncQuery { ticket: Some(t.ticket) }.query_string(), "?ticket=tk_0123");
        round_trip::<SyncQuery>("{}");
    }

    #[test]
    fn the_cookie_answer_and_the_end_reasons_parse() {
        let c: SyncCookie = round_trip(r#"{"cookie":"bm_sync","path":"/api/sync","expires_at":1700000000}"#);
        assert_eq!((c.cookie.as_str(), c.path.as_str()), (SYNC_COOKIE, SYNC_COOKIE_PATH));
        for reason in SessionEnd::ALL {
            assert_eq!(SessionEnd::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).ok(), Some(serde_json::json!(reason.as_str())));
        }
        assert_eq!(SessionEnd::parse("bored"), None);
    }
}
