//! What the identity services refuse, and why.

use baoming_core::api::error::ErrorCode;

use crate::store::{CommitError, StorageError};

/// A failure of an identity service (the HTTP layer maps each variant to a status and a code).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A value is refused: `code` names the rule (e.g. `password_too_common`).
    #[error("{message}")]
    Invalid {
        /// Machine-readable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// A uniqueness rule or a concurrent change refused the request (e.g. `login_taken`).
    #[error("{message}")]
    Conflict {
        /// Machine-readable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// No, unknown, expired or revoked credentials.
    #[error("authentication required: {0}")]
    Unauthorized(&'static str),
    /// Wrong account name or password.
    #[error("the account name or the password is wrong")]
    BadCredentials,
    /// The risk is raised: the next attempt needs a solved captcha.
    #[error("a captcha is required: request one from POST /api/captcha")]
    CaptchaRequired,
    /// The captcha answer is wrong, expired or already used.
    #[error("the captcha answer is wrong or expired; request a new captcha")]
    CaptchaWrong,
    /// Too many attempts from one address.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The operator may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// Nothing there (a login provider, a profile).
    #[error("not found: {0}")]
    NotFound(String),
    /// Saturated (the password hashing queue is full, too many pending logins).
    #[error("the server is busy; retry shortly")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl IdentityError {
    /// The rule's code of a refused value or a conflict.
    pub fn rule(&self) -> Option<ErrorCode> {
        match self {
            IdentityError::Invalid { code, .. } | IdentityError::Conflict { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A refused value.
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> IdentityError {
        IdentityError::Invalid { code, message: message.into() }
    }

    /// A refused uniqueness rule or concurrent change.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> IdentityError {
        IdentityError::Conflict { code, message: message.into() }
    }
}

impl From<CommitError> for IdentityError {
    fn from(e: CommitError) -> IdentityError {
        match e {
            CommitError::Storage(s) => IdentityError::Storage(s),
            CommitError::Precondition(i) => IdentityError::Internal(format!("unexpected precondition {i}")),
        }
    }
}
