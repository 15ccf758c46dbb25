//! What the registration services refuse, and why.

use baoming_core::api::error::ErrorCode;
use baoming_core::photo::PhotoReport;

use crate::catalog::CatalogError;
use crate::identity::IdentityError;
use crate::refusal::Refusal;
use crate::store::{CommitError, StorageError};

/// A failure of a registration service (the HTTP layer maps each variant to a status and a code).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// A typed refusal the client can act on (`seat_gone`, `window_closed`, `invalid` …).
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// An uploaded photo breaks the photo rules; the report goes to the client.
    #[error("the photo does not meet the photo rules: {}", .0.codes().join(", "))]
    PhotoRejected(Box<PhotoReport>),
    /// The operator may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// No such exam, registration, document or blob (for this caller).
    #[error("not found: {0}")]
    NotFound(String),
    /// Too much contention: the action gave up; retry.
    #[error("the server is busy; retry shortly")]
    Busy,
    /// Too many submissions at once: this one was not let in (the line in front of the seat
    /// path is full, or its turn did not come in time). Nothing was done; retry after
    /// `retry_after_secs`.
    #[error("too many submissions at once; try again in {retry_after_secs} s")]
    Overloaded {
        /// When to try again.
        retry_after_secs: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RegistrationError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> RegistrationError {
        RegistrationError::Internal(e.to_string())
    }

    /// The refusal's code, when this is a typed refusal.
    pub fn refusal_code(&self) -> Option<ErrorCode> {
        match self {
            RegistrationError::Refused(r) => Some(r.code()),
            _ => None,
        }
    }
}

impl From<Refusal> for RegistrationError {
    fn from(r: Refusal) -> RegistrationError {
        RegistrationError::Refused(Box::new(r))
    }
}

impl From<CommitError> for RegistrationError {
    fn from(e: CommitError) -> RegistrationError {
        match e {
            CommitError::Storage(s) => RegistrationError::Storage(s),
            CommitError::Precondition(i) => {
                RegistrationError::Internal(format!("unexpected precondition {i}"))
            }
        }
    }
}

impl From<IdentityError> for RegistrationError {
    fn from(e: IdentityError) -> RegistrationError {
        match e {
            IdentityError::Forbidden(why) => RegistrationError::Forbidden(why),
            IdentityError::NotFound(what) => RegistrationError::NotFound(what),
            IdentityError::Storage(s) => RegistrationError::Storage(s),
            other => RegistrationError::Internal(other.to_string()),
        }
    }
}

impl From<CatalogError> for RegistrationError {
    fn from(e: CatalogError) -> RegistrationError {
        match e {
            CatalogError::NotFound(what) => RegistrationError::NotFound(what),
            CatalogError::Storage(s) => RegistrationError::Storage(s),
            other => RegistrationError::Internal(other.to_string()),
        }
    }
}
