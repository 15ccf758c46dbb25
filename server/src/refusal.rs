//! [`Refusal`]: a domain's typed "no" that the client can act on — a machine-readable code, a
//! message, details (the failed pools, the draft's issues, a window's times …) and what kind of
//! refusal it is. The HTTP layer turns the kind into a status; the domains never see one.

use serde_json::Value;

/// What kind of refusal, in the domain's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request itself is malformed (a missing or invalid header, a bad parameter).
    BadRequest,
    /// The request is well-formed but its content breaks a rule.
    Invalid,
    /// The current state does not allow it (a full pool, a closed window, a locked status).
    Conflict,
    /// A dependency (the payment platform) cannot serve it now; retry later.
    Unavailable,
}

/// A typed refusal.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The kind.
    pub kind: RefusalKind,
    /// The machine-readable code, e.g. `seat_gone`.
    pub code: &'static str,
    /// The explanation.
    pub message: String,
    /// Extra members of the error body (an object, or null for none).
    pub details: Value,
}

impl Refusal {
    /// A refusal without details.
    pub fn new(kind: RefusalKind, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { kind, code, message: message.into(), details: Value::Null }
    }

    /// A conflict with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Conflict, code, message)
    }

    /// Content that breaks a rule.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Invalid, code, message)
    }

    /// With these details (a JSON object).
    pub fn with(mut self, details: Value) -> Refusal {
        self.details = details;
        self
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}
