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
//! * [`error`] — [`ErrorCode`](error::ErrorCode) and the error body [`ErrorBody`](error::ErrorBody).
//!
//! Types from the rest of the core appear where the server sends them unchanged: the catalog
//! types, [`Status`](crate::lifecycle::Status), [`PhotoReport`](crate::photo::PhotoReport),
//! [`IssueCode`](crate::validate::IssueCode), [`IdKind`](crate::id_document::IdKind) and
//! [`Gender`](crate::id_document::Gender).

pub mod error;

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
