//! What the payments services refuse, and why.

use crate::refusal::Refusal;
use crate::registration::RegistrationError;
use crate::store::{CommitError, StorageError};

/// A failure of a payments service (the HTTP layer maps each variant to a status and a code).
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// A typed refusal (`not_submitted`, `deadline_passed`, `payments_unavailable` …).
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// A platform report names an order we never opened.
    #[error("unknown order {0}")]
    UnknownOrder(String),
    /// A platform report's amount is not the order's.
    #[error("amount {got} fen does not match the order's {expected} fen")]
    AmountMismatch {
        /// The order's.
        expected: i64,
        /// Reported.
        got: i64,
    },
    /// The registration refused (or failed) the payment's lifecycle step.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Too much contention: gave up; retry.
    #[error("the server is busy; retry shortly")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Refusal> for PaymentError {
    fn from(r: Refusal) -> PaymentError {
        PaymentError::Refused(Box::new(r))
    }
}

impl From<CommitError> for PaymentError {
    fn from(e: CommitError) -> PaymentError {
        PaymentError::Registration(e.into())
    }
}
