//! The exam catalog: the served catalog and its import, the cancelled pools, each exam's ticket
//! signing key, and the seat counters.
//!
//! [`Catalogs`] holds the catalog in force (replaced atomically by an import) and answers the
//! public catalog and availability reads.

use baoming_core::api::error::ErrorCode;
use std::sync::{Arc, RwLock};

use baoming_core::api::catalog::CenterSeats;
use baoming_core::catalog::ExamSession;

use crate::identity::operators::{Operator, Permission, authorize};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::db::Db;
use crate::store::{CommitError, StorageError, Txn};

pub mod cancelled;
pub mod exam_keys;
pub mod seats;
mod view;

pub use view::{
    CatalogView, ImportError, SeatCounter, StoredCatalog, availability, center_key, import, load,
    read_counter, seat_key,
};

/// Why a catalog request failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No such exam or center, or no catalog imported yet.
    #[error("not found: {0}")]
    NotFound(String),
    /// The uploaded catalog is refused (`catalog_invalid`, `catalog_encoding`).
    #[error("{message}")]
    Invalid {
        /// Machine-readable code.
        code: ErrorCode,
        /// Every problem, with its path.
        message: String,
    },
    /// The operator may not import catalogs.
    #[error("{0}")]
    Forbidden(String),
    /// Seat counters moved during the import; retry.
    #[error("seat counters changed during the import; retry")]
    Concurrent,
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<CommitError> for CatalogError {
    fn from(e: CommitError) -> CatalogError {
        match e {
            CommitError::Precondition(_) => CatalogError::Concurrent,
            CommitError::Storage(s) => CatalogError::Storage(s),
        }
    }
}

impl CatalogView {
    /// Exam `exam` of this catalog, or `NotFound`.
    pub fn session(&self, exam: &str) -> Result<&ExamSession, CatalogError> {
        self.catalog.exam(exam).ok_or_else(|| CatalogError::NotFound(format!("no exam `{exam}`")))
    }
}

/// The catalog in force.
#[derive(Debug)]
pub struct Catalogs {
    db: Arc<Db>,
    current: RwLock<Option<Arc<CatalogView>>>,
}

impl Catalogs {
    /// Loads the stored catalog (if any) from `db`.
    pub fn load(db: Arc<Db>) -> Result<Catalogs, StorageError> {
        let view = load(db.store())?;
        Ok(Catalogs { db, current: RwLock::new(view.map(Arc::new)) })
    }

    /// The catalog in force, if one was imported.
    pub fn current(&self) -> Option<Arc<CatalogView>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The catalog in force, or `NotFound` before the first import.
    pub fn require(&self) -> Result<Arc<CatalogView>, CatalogError> {
        self.current().ok_or_else(|| CatalogError::NotFound("no catalog".into()))
    }

    /// Whether some exam of the catalog has a center `center`.
    pub fn has_center(&self, center: &str) -> bool {
        self.current().is_some_and(|v| v.catalog.exams.iter().any(|e| e.center(center).is_some()))
    }

    /// Live seats of `exam` (optionally of one center only).
    pub fn availability(&self, exam: &str, center: Option<&str>) -> Result<Vec<CenterSeats>, CatalogError> {
        let view = self.require()?;
        availability(self.db.store(), &view, exam, center)?
            .ok_or_else(|| CatalogError::NotFound(format!("no exam `{exam}`")))
    }

    /// Imports an uploaded catalog on behalf of administrator `op` (UTF-8 TOML).
    pub async fn upload(&self, op: &Operator, body: &[u8]) -> Result<Arc<CatalogView>, CatalogError> {
        authorize(op, Permission::ManageCatalog).map_err(|e| CatalogError::Forbidden(e.to_string()))?;
        let text = std::str::from_utf8(body).map_err(|_| CatalogError::Invalid {
            code: ErrorCode::CatalogEncoding,
            message: "the catalog must be UTF-8 TOML".into(),
        })?;
        self.import(text, Actor::Operator(op.id.clone())).await
    }

    /// Validates and imports `toml` on behalf of `actor`, durably and audited, then serves it.
    /// Seat counters keep their holds; a capacity below them is refused.
    pub async fn import(&self, toml: &str, actor: Actor) -> Result<Arc<CatalogView>, CatalogError> {
        let mut txn = Txn::new();
        let view = import(self.db.store(), self.db.keys(), &mut txn, toml, self.db.clock().now_secs())
            .map_err(|e| match e {
                ImportError::Storage(s) => CatalogError::Storage(s),
                other => {
                    CatalogError::Invalid { code: ErrorCode::CatalogInvalid, message: other.to_string() }
                }
            })?;
        let event = AuditEvent::new(actor, "catalog.import", &view.sha256).with(
            serde_json::json!({ "exams": view.catalog.exams.iter().map(|e| &e.id).collect::<Vec<_>>() }),
        );
        self.db.commit(txn, event).await?;
        let view = Arc::new(view);
        self.set(Some(Arc::clone(&view)));
        Ok(view)
    }

    /// Serves `view` from now on (after a committed import).
    pub fn set(&self, view: Option<Arc<CatalogView>>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = view;
    }
}
