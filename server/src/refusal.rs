//! [`Refusal`]: a domain's typed "no" that the client can act on — the contract's error body
//! (a machine-readable [`ErrorCode`], a message and typed details such as the full pools or the
//! draft's issues) and what kind of refusal it is. The HTTP layer turns the kind into a status;
//! the domains never see one.

use baoming_core::api::error::{ErrorBody, ErrorCode};

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
    /// What the client is told (boxed: a refusal travels in `Result`s that are usually `Ok`).
    pub body: Box<ErrorBody>,
}

impl Refusal {
    /// A refusal without details.
    pub fn new(kind: RefusalKind, code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal { kind, body: Box::new(ErrorBody::new(code, message)) }
    }

    /// A conflict with the current state.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Conflict, code, message)
    }

    /// Content that breaks a rule.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalKind::Invalid, code, message)
    }

    /// With the details `fill` writes into the body.
    pub fn detail(mut self, fill: impl FnOnce(&mut ErrorBody)) -> Refusal {
        fill(&mut self.body);
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.body.code
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.body.message)
    }
}

impl std::error::Error for Refusal {}
