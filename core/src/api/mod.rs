//! The REST contract of the Baoming server: every JSON request body, answer, query and error
//! body, with the endpoint paths and protocol headers, as one set of types.
//!
//! The server serialises these types and the device client and the bindings deserialise them,
//! so a response field, a machine-readable code or a path is spelled here and nowhere else. Each
//! type describes the JSON exactly as it travels: a field the server always sends (as `null`
//! when there is nothing) is a plain `Option` that serialises as `null`; a field the server only
//! sends in some answers is skipped when absent; request bodies refuse unknown fields exactly
//! where the server does. The module holds no HTTP machinery (no status type, no client): the
//! HTTP statuses are named in the documentation of [`error::ErrorCode`].
//!
//! * [`paths`] — one function or constant per endpoint path, and the header names.
//! * [`error`] — [`ErrorCode`](error::ErrorCode) and the error body [`ErrorBody`](error::ErrorBody).
//! * [`health`] — `/healthz` and `/readyz`.
//! * [`accounts`] — registration, sessions, password change and recovery, profile, OAuth.
//! * [`catalog`] — the published catalog, exam summaries, centers and live seat availability.
//! * [`operator`] — operator sessions, `me`, centers, audit log and verification, operator
//!   creation, catalog import.
//! * [`registrations`] — the registration view, the candidate's actions and the operator's
//!   decisions.
//! * [`payments`] — the pay and refresh answers with their `payment` object.
//! * [`blobs`] — photo uploads.
//! * [`documents`] — the ticket code, the candidate's notices, room arrangement and check-in.
//! * [`desk`] — the operator's desk: review queue, stats, notices, on-site confirmation.
//! * [`admin`] — the administrator's cancellations.
//! * [`sync`] — WebSocket tickets (the sync exchange itself is CBOR, see [`crate::wire`]).
//! * [`testing`] — the test clock of a server started for end-to-end tests.
//!
//! Types from the rest of the core appear where the server sends them unchanged: the catalog
//! types, [`Status`](crate::lifecycle::Status), [`PhotoReport`](crate::photo::PhotoReport),
//! [`IssueCode`](crate::validate::IssueCode), [`IdKind`](crate::id_document::IdKind) and
//! [`Gender`](crate::id_document::Gender).

pub mod accounts;
pub mod admin;
pub mod blobs;
pub mod catalog;
pub mod desk;
pub mod documents;
pub mod error;
pub mod health;
pub mod operator;
pub mod paths;
pub mod payments;
pub mod registrations;
pub mod sync;
pub mod testing;

/// Serde helper for a member that is sometimes absent and sometimes `null`: absent is `None`,
/// `null` is `Some(None)`, a value is `Some(Some(value))`. Used with
/// `#[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = …)]`, so each
/// of the three serialises back as it came.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Appends `key=value` to a query string with the form encoding the server decodes
/// (unreserved characters as they are, everything else as `%XX` of its UTF-8 bytes).
pub(crate) fn push_query_pair(query: &mut String, key: &str, value: &str) {
    fn encode(out: &mut String, text: &str) {
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    query.push(if query.is_empty() { '?' } else { '&' });
    encode(query, key);
    query.push('=');
    encode(query, value);
}

/// Test sample: a registration view as the server sends it.
#[cfg(test)]
pub(crate) const VIEW: &str = r#"{"document_id":"2xQd1","exam":"ncre-2027-03","status":"awaiting_payment",
    "status_label_zh":"缴费中","reason":null,"reason_paths":[],"deadline_ms":1800000000000,
    "center":"bj-changping","seats":["15"],"amount_fen":7500,"refund_due":false,"updated_at_ms":1799999000000,
    "order":"BM17999990000000a1b2c3d4e5f6","trade_no":null,"paid_at_ms":null,"refunded_fen":null,"ticket":null}"#;

/// Test helper: `VIEW` with `extra` members (`"key":value,…`) added.
#[cfg(test)]
pub(crate) fn view_with(extra: &str) -> String {
    VIEW.replacen('{', &format!("{{{extra},"), 1)
}

/// Test helper: `json` parses into `T` and serialises back to the same JSON value; returns the
/// typed value.
#[cfg(test)]
pub(crate) fn round_trip<T>(json: &str) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let original: serde_json::Value = serde_json::from_str(json).expect("the sample is JSON");
    let typed: T = serde_json::from_str(json).expect("the sample parses into the contract type");
    let text = serde_json::to_string(&typed).expect("the contract type serialises");
    let again: serde_json::Value = serde_json::from_str(&text).expect("JSON again");
    assert_eq!(again, original, "the contract type does not give back the sample");
    typed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_percent_encoded() {
        let mut q = String::new();
        push_query_pair(&mut q, "q", "张 三");
        push_query_pair(&mut q, "status", "under_review,paid");
        assert_eq!(q, "?q=%E5%BC%A0%20%E4%B8%89&status=under_review%2Cpaid");
    }

    #[test]
    fn present_tells_absent_from_null() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Probe {
            #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
            center: Option<Option<String>>,
        }
        assert_eq!(round_trip::<Probe>(r#"{}"#), Probe { center: None });
        assert_eq!(round_trip::<Probe>(r#"{"center":null}"#), Probe { center: Some(None) });
        assert_eq!(round_trip::<Probe>(r#"{"center":"x"}"#), Probe { center: Some(Some("x".into())) });
    }
}
