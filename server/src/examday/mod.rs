//! The exam day: room arrangement and ticket numbers, the candidate's PDF documents, and the
//! check-in scan of a signed ticket.
//!
//! [`ExamDay`] is the service behind those endpoints. The arrangement writes ticket numbers
//! into the records first and then projects them into the documents through the registrations'
//! lifecycle, so devices see them like any other server-side change.

use std::sync::Arc;

use crate::refusal::Refusal;
use crate::registration::{RegistrationError, Registrations};
use crate::store::db::Db;
use crate::store::{CommitError, StorageError};

pub mod arrangement;
pub mod checkin;
pub mod documents;

/// A failure of an exam-day service (the HTTP layer maps each variant to a status and a code).
#[derive(Debug, thiserror::Error)]
pub enum ExamDayError {
    /// A typed refusal (`not_paid`, `not_eligible`, `ticket_signature`, `no_rooms` …).
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// The registration domain refused or failed; `NotFound` and `Forbidden` come this way too.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ExamDayError {
    /// Nothing there for this caller.
    pub(crate) fn not_found(what: impl Into<String>) -> ExamDayError {
        ExamDayError::Registration(RegistrationError::NotFound(what.into()))
    }
}

impl From<Refusal> for ExamDayError {
    fn from(r: Refusal) -> ExamDayError {
        ExamDayError::Refused(Box::new(r))
    }
}

impl From<CommitError> for ExamDayError {
    fn from(e: CommitError) -> ExamDayError {
        ExamDayError::Registration(e.into())
    }
}

impl From<crate::identity::IdentityError> for ExamDayError {
    fn from(e: crate::identity::IdentityError) -> ExamDayError {
        ExamDayError::Registration(e.into())
    }
}

/// The exam-day service.
#[derive(Debug)]
pub struct ExamDay {
    db: Arc<Db>,
    regs: Arc<Registrations>,
}

impl ExamDay {
    /// The service over `db` and `regs`.
    pub fn new(db: Arc<Db>, regs: Arc<Registrations>) -> ExamDay {
        ExamDay { db, regs }
    }
}
