//! Answers read strictly through the REST contract (`baoming_core::api`).
//!
//! A body is parsed into its contract type, serialised back and compared with the JSON the
//! server sent: a member renamed, missing or added on either side fails here, where an index
//! into untyped JSON would read `null` and pass. Error answers go through
//! [`ErrorBody`] the same way.

use baoming_core::api::error::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::Response;

/// Parses `body` into `T` and checks that `T` gives back exactly the JSON that was sent.
pub fn strict<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<T, String> {
    let name = std::any::type_name::<T>();
    let text = || String::from_utf8_lossy(body);
    let sent: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e}): {}", text()))?;
    let typed: T = serde_json::from_slice(body).map_err(|e| format!("not a {name} ({e}): {}", text()))?;
    // Through text, as it would travel: `to_value` would widen an `f32` member (the photo rules'
    // tolerances) to the nearest `f64`, which is not the number written.
    let text_back = serde_json::to_string(&typed).map_err(|e| format!("{name} does not serialise: {e}"))?;
    let back: Value =
        serde_json::from_str(&text_back).map_err(|e| format!("{name} serialises badly: {e}"))?;
    let mut differences = Vec::new();
    differ("", &sent, &back, &mut differences);
    if differences.is_empty() {
        Ok(typed)
    } else {
        differences.truncate(8);
        Err(format!("{name} does not give back what was sent ({}): {}", differences.join("; "), text()))
    }
}

/// [`strict`] for a value already in memory (an in-process service's answer, a client's
/// copy of one): serialised, then read as `T` under the same rules.
#[track_caller]
pub fn strict_value<T: DeserializeOwned + Serialize>(value: &impl Serialize) -> T {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|e| panic!("serialise: {e}"));
    strict(&bytes).unwrap_or_else(|e| panic!("{e}"))
}

/// Where `sent` and `back` differ, as `path: what` lines.
fn differ(path: &str, sent: &Value, back: &Value, out: &mut Vec<String>) {
    match (sent, back) {
        (Value::Object(s), Value::Object(b)) => {
            for (k, v) in s {
                let at = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => differ(&at, v, w, out),
                    None => out.push(format!("{at} was sent but the type has no such member")),
                }
            }
            for k in b.keys().filter(|k| !s.contains_key(*k)) {
                out.push(format!("{path}.{k} is in the type but was not sent"));
            }
        }
        (Value::Array(s), Value::Array(b)) if s.len() == b.len() => {
            for (i, (v, w)) in s.iter().zip(b).enumerate() {
                differ(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if sent != back => out.push(format!("{}: sent {sent}, the type gives {back}", display(path))),
        _ => {}
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() { "the body" } else { path }
}

/// An error answer: its HTTP status and its body, read strictly.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error body.
    pub body: ErrorBody,
}

impl Response {
    /// The body read strictly as `T`; the answer must be a success (2xx).
    #[track_caller]
    pub fn typed<T: DeserializeOwned + Serialize>(&self) -> T {
        assert!(
            (200..300).contains(&self.status),
            "expected a success, got {}: {}",
            self.status,
            self.text()
        );
        strict(&self.body).unwrap_or_else(|e| panic!("{} answer: {e}", self.status))
    }

    /// The error answer, its body read strictly as [`ErrorBody`]; the status must say an error.
    #[track_caller]
    pub fn error(&self) -> Refusal {
        assert!(self.status >= 400, "expected an error, got {}: {}", self.status, self.text());
        let body = strict(&self.body).unwrap_or_else(|e| panic!("{} answer: {e}", self.status));
        Refusal { status: self.status, body }
    }

    /// The status and the error code of an error answer (read strictly).
    #[track_caller]
    pub fn error_code(&self) -> (u16, ErrorCode) {
        let refusal = self.error();
        (refusal.status, refusal.body.code)
    }

    /// Asserts the error answer `status` with `code`; its body.
    #[track_caller]
    pub fn refused(&self, status: u16, code: ErrorCode) -> ErrorBody {
        let refusal = self.error();
        assert_eq!((refusal.status, refusal.body.code), (status, code), "{:?}", refusal.body);
        refusal.body
    }
}

#[cfg(test)]
mod tests {
    use baoming_core::api::registrations::RegistrationView;
    use baoming_core::lifecycle::Status;

    use super::*;

    /// A registration view as the server sends it.
    const VIEW: &str = r#"{"document_id":"2xQd1","exam":"ncre-2027-03","status":"awaiting_payment",
        "status_label_zh":"缴费中","reason":null,"reason_paths":[],"deadline_ms":1800000000000,
        "center":"bj-haidian","seats":["15"],"amount_fen":8000,"refund_due":false,
        "updated_at_ms":1700000000000,"order":null,"trade_no":null,"paid_at_ms":null,
        "refunded_fen":null,"ticket":null}"#;

    fn answer(status: u16, body: &str) -> Response {
        Response::new(status, Vec::new(), body.as_bytes().to_vec())
    }

    #[test]
    fn the_contract_reads_the_answer_it_describes() {
        let view: RegistrationView = answer(200, VIEW).typed();
        assert_eq!((view.status, view.deadline_ms), (Status::AwaitingPayment, Some(1_800_000_000_000)));
        // Single-precision members read back as the number written.
        let catalog = serde_json::to_vec(&baoming_core::Catalog::demo()).expect("json");
        strict::<baoming_core::api::catalog::CatalogAnswer>(&catalog).expect("the demo catalog");
    }

    #[test]
    fn a_renamed_member_is_refused_although_it_would_read_as_null() {
        let renamed = VIEW.replace("\"deadline_ms\"", "\"deadline\"");
        // Untyped, the renamed member reads as null, exactly like a registration without one.
        let untyped: Value = serde_json::from_str(&renamed).expect("JSON");
        assert_eq!(untyped["deadline_ms"], Value::Null);
        let err = strict::<RegistrationView>(renamed.as_bytes()).expect_err("renamed");
        assert!(err.contains(".deadline was sent") && err.contains(".deadline_ms is in the type"), "{err}");
    }

    #[test]
    fn a_missing_member_is_refused_even_where_the_type_would_default_it() {
        // `reason` is an Option: serde alone would fill it in as None.
        let missing = VIEW.replace("\"reason\":null,", "");
        let err = strict::<RegistrationView>(missing.as_bytes()).expect_err("missing");
        assert!(err.contains(".reason is in the type but was not sent"), "{err}");
        let required = VIEW.replace("\"exam\":\"ncre-2027-03\",", "");
        assert!(
            strict::<RegistrationView>(required.as_bytes()).expect_err("missing").contains("missing field")
        );
    }

    #[test]
    fn an_extra_member_is_refused() {
        let extra = VIEW.replace("\"ticket\":null", "\"ticket\":null,\"ticket_url\":\"/t\"");
        let err = strict::<RegistrationView>(extra.as_bytes()).expect_err("extra");
        assert!(err.contains(".ticket_url was sent"), "{err}");
        let typed = std::panic::catch_unwind(|| answer(200, &extra).typed::<RegistrationView>());
        assert!(typed.is_err(), "typed() applies the same check");
    }

    #[test]
    fn error_answers_are_read_strictly_with_their_status() {
        let seat_gone =
            r#"{"code":"seat_gone","message":"full","pools":[{"kind":"center","center":"bj-haidian"}]}"#;
        let refusal = answer(409, seat_gone).error();
        assert_eq!((refusal.status, refusal.body.code), (409, ErrorCode::SeatGone));
        assert_eq!(answer(409, seat_gone).error_code(), (409, ErrorCode::SeatGone));
        answer(409, seat_gone).refused(409, ErrorCode::SeatGone);
        let extra = r#"{"code":"seat_gone","message":"full","seats_left":0}"#;
        assert!(std::panic::catch_unwind(|| answer(409, extra).error()).is_err(), "an unknown detail");
        assert!(std::panic::catch_unwind(|| answer(200, seat_gone).error()).is_err(), "not an error status");
        assert!(std::panic::catch_unwind(|| answer(409, VIEW).typed::<RegistrationView>()).is_err());
    }
}
