//! Who may open the sync WebSocket, and under which session.
//!
//! Three credentials open it ([`SyncCredential`]), all bound to a candidate session:
//!
//! * the session's **bearer token**, for clients that set headers (the device client);
//! * a **ticket** (`wst_` + 256 random bits), single use, for 60 seconds, issued to a session —
//!   only its SHA-256 is kept, in memory;
//! * the **sync cookie**, for browsers, whose WebSocket API sets no headers and whose stock
//!   adapters reconnect with a fixed URL. Its value is `bmc_`, the hash of the session's token
//!   and an HMAC of that hash under the data key: nothing is stored, it survives a restart, it
//!   cannot be forged without the data key, and it names its session, so it works exactly as long
//!   as the session does.
//!
//! [`Identity::sync_session`] returns the account and the [`SessionWatch`] the connection runs
//! under, so it closes when the session ends; tickets of a session that ended are void
//! ([`Identity::sessions_ended`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::session_end::SessionWatch;
use super::sessions::{self, Owner, Session};
use super::{Identity, IdentityError};
use crate::store::crypto::{ct_eq, random_array, sha256};

/// Lifetime of a sync ticket, in seconds.
pub const TICKET_TTL_SECS: u64 = 60;

const COOKIE_PREFIX: &str = "bmc_";
const COOKIE_DOMAIN: &str = "sync-cookie";

/// What a client shows at the sync upgrade.
#[derive(Debug, Clone, Copy)]
pub enum SyncCredential<'a> {
    /// A session's bearer token.
    Bearer(&'a str),
    /// A ticket from [`Identity::issue_sync_ticket`].
    Ticket(&'a str),
    /// The value of the sync cookie from [`Identity::sync_cookie`].
    Cookie(&'a str),
}

/// The sync cookie of a session.
#[derive(Debug, Clone)]
pub struct SyncCookieValue {
    /// The cookie's value.
    pub value: String,
    /// When the session expires (Unix seconds).
    pub expires: i64,
}

#[derive(Debug)]
struct Ticket {
    session: [u8; 32],
    /// Unix milliseconds, on the server's clock.
    expires_ms: i64,
}

/// The tickets not used yet, by the SHA-256 of the ticket.
#[derive(Debug, Default)]
pub struct Tickets {
    open: Mutex<HashMap<[u8; 32], Ticket>>,
}

impl Tickets {
    fn issue(&self, session: [u8; 32], now_ms: i64) -> String {
        let ticket = format!("wst_{}", hex::encode(random_array::<32>()));
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, t| t.expires_ms > now_ms);
        let ttl_ms = i64::try_from(TICKET_TTL_SECS * 1000).unwrap_or(i64::MAX);
        open.insert(sha256(ticket.as_bytes()), Ticket { session, expires_ms: now_ms.saturating_add(ttl_ms) });
        ticket
    }

    /// Takes the ticket out (single use); its session if it was still valid.
    fn redeem(&self, ticket: &str, now_ms: i64) -> Option<[u8; 32]> {
        let t =
            self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&sha256(ticket.as_bytes()))?;
        (t.expires_ms > now_ms).then_some(t.session)
    }

    /// Voids every ticket of the sessions `hashes`.
    pub(super) fn void(&self, hashes: &[[u8; 32]]) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, t| !hashes.contains(&t.session));
    }
}

fn account_of(session: &Session) -> Result<&str, IdentityError> {
    match &session.owner {
        Owner::Account(id) => Ok(id),
        Owner::Operator(_) => {
            Err(IdentityError::Unauthorized("an operator session cannot sync candidate documents"))
        }
    }
}

impl Identity {
    /// A single-use ticket for one sync upgrade of the candidate `session`, valid for
    /// [`TICKET_TTL_SECS`].
    pub fn issue_sync_ticket(&self, session: &Session) -> Result<String, IdentityError> {
        account_of(session)?;
        Ok(self.tickets.issue(session.token_hash, self.db.clock().now_ms()))
    }

    /// The sync cookie of the candidate `session`.
    pub fn sync_cookie(&self, session: &Session) -> Result<SyncCookieValue, IdentityError> {
        account_of(session)?;
        let mac = self.db.keys().lookup_hash(COOKIE_DOMAIN, &session.token_hash);
        let value = format!("{COOKIE_PREFIX}{}{}", hex::encode(session.token_hash), hex::encode(mac));
        Ok(SyncCookieValue { value, expires: session.expires })
    }

    /// The session hash a sync cookie names, if the cookie is one this server made.
    fn cookie_session(&self, cookie: &str) -> Option<[u8; 32]> {
        let raw = hex::decode(cookie.strip_prefix(COOKIE_PREFIX)?).ok()?;
        let (hash, mac) = raw.split_at_checked(32)?;
        let hash = <[u8; 32]>::try_from(hash).ok()?;
        ct_eq(mac, &self.db.keys().lookup_hash(COOKIE_DOMAIN, &hash)).then_some(hash)
    }

    /// The candidate account a sync connection runs for, and the watch that ends it with its
    /// session: `401` for unknown, malformed, used or expired credentials, ended sessions and
    /// operator sessions alike.
    pub fn sync_session(
        &self,
        credential: SyncCredential<'_>,
    ) -> Result<(String, SessionWatch), IdentityError> {
        let hash = match credential {
            SyncCredential::Bearer(token) => sessions::token_hash(token)?,
            SyncCredential::Ticket(ticket) => self
                .tickets
                .redeem(ticket, self.db.clock().now_ms())
                .ok_or(IdentityError::Unauthorized("the sync ticket is unknown, used or expired"))?,
            SyncCredential::Cookie(cookie) => self
                .cookie_session(cookie)
                .ok_or(IdentityError::Unauthorized("the sync cookie is not one this server made"))?,
        };
        // Subscribe first, then read the session: an end committed after the read is signalled
        // to this subscription (see `session_end`).
        let mut watch = self.watch_session(hash);
        let session = sessions::resolve_hash(self.db.store(), hash, self.now())?;
        let account = account_of(&session)?.to_owned();
        watch.expire_at(session.expires);
        Ok((account, watch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_works_once_until_it_expires_or_its_session_ends() {
        let tickets = Tickets::default();
        let (s1, s2) = ([1u8; 32], [2u8; 32]);
        let t = tickets.issue(s1, 1_000);
        assert_eq!(tickets.redeem(&t, 1_001), Some(s1));
        assert_eq!(tickets.redeem(&t, 1_002), None, "single use");
        let late = tickets.issue(s1, 1_000);
        assert_eq!(tickets.redeem(&late, 61_000), None, "60 s");
        let (a, b) = (tickets.issue(s1, 1_000), tickets.issue(s2, 1_000));
        tickets.void(&[s1]);
        assert_eq!(tickets.redeem(&a, 1_001), None, "its session ended");
        assert!(tickets.redeem(&b, 1_001).is_some(), "another session's ticket stays");
    }
}
