//! The test center's desk: the review queue, statistics and the roster, notices, and on-site
//! confirmation.
//!
//! [`Desk`] is the service behind the operator's desk pages; every method checks the
//! operator's scope through [`crate::identity::operators::authorize`] first. Decisions on a
//! registration (approve, reject, confirm on site) go through the registrations' lifecycle.

use std::sync::Arc;

use crate::catalog::CatalogView;
use crate::identity::operators::{Operator, Permission, authorize, can_see};
use crate::refusal::Refusal;
use crate::registration::{RegistrationError, Registrations};
use crate::store::db::Db;
use crate::store::{CommitError, StorageError};

pub mod audit;
pub mod notices;
pub mod onsite;
pub mod reports;
pub mod review;

/// A failure of a desk service (the HTTP layer maps each variant to a status and a code).
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// A typed refusal (`status_invalid`, `title_invalid`, `confirmation_window_closed` …).
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// The registration domain refused or failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<Refusal> for DeskError {
    fn from(r: Refusal) -> DeskError {
        DeskError::Refused(Box::new(r))
    }
}

impl From<CommitError> for DeskError {
    fn from(e: CommitError) -> DeskError {
        DeskError::Registration(e.into())
    }
}

impl From<crate::identity::IdentityError> for DeskError {
    fn from(e: crate::identity::IdentityError) -> DeskError {
        DeskError::Registration(e.into())
    }
}

impl From<crate::catalog::CatalogError> for DeskError {
    fn from(e: crate::catalog::CatalogError) -> DeskError {
        DeskError::Registration(e.into())
    }
}

/// Not found at this center (the answer for anything outside the operator's scope too).
pub(crate) fn not_found(what: impl Into<String>) -> DeskError {
    DeskError::Registration(RegistrationError::NotFound(what.into()))
}

/// The desk service.
#[derive(Debug)]
pub struct Desk {
    db: Arc<Db>,
    regs: Arc<Registrations>,
}

impl Desk {
    /// The service over `db` and `regs`.
    pub fn new(db: Arc<Db>, regs: Arc<Registrations>) -> Desk {
        Desk { db, regs }
    }

    /// The catalog, after checking that `exam` exists and — when given — that `center` is one
    /// of its centers the operator may see. Anything else is `not_found` alike: an operator of
    /// center A learns nothing about center B.
    pub fn scope(
        &self,
        op: &Operator,
        exam: &str,
        center: Option<&str>,
    ) -> Result<Arc<CatalogView>, DeskError> {
        let view = self.regs.catalogs().require()?;
        let e = view.session(exam)?;
        if let Some(c) = center
            && (e.center(c).is_none() || !can_see(op, c))
        {
            return Err(not_found(format!("no center `{c}` in exam `{exam}`")));
        }
        Ok(view)
    }

    /// The scope check of a write at `center`, and the role: auditors are refused (403).
    pub fn may_write(&self, op: &Operator, exam: &str, center: &str) -> Result<(), DeskError> {
        self.scope(op, exam, Some(center))?;
        authorize(op, Permission::ReviewCenter(center))?;
        Ok(())
    }
}
