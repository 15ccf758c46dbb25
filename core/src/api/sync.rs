//! Sync tickets: `POST /api/sync/tickets` (201) gives a single-use ticket for a WebSocket
//! upgrade without headers, `GET /api/sync?ticket=…`. The sync exchange itself (WebSocket
//! frames and the `POST /api/sync/batch` body) is CBOR, in [`crate::wire`].

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
}
