//! Registrations: the candidates' documents at rest and in the live sync hub, the sync session
//! of one connection, the photo blobs, the records and their views, and the lifecycle actions —
//! the candidate's, the center's, the sweeper's and the administrator's cancellations.
//!
//! [`Registrations`] is the service the HTTP layer and the other domains call. Payments meet
//! it through [`PaymentHook`], a small trait it calls before a hold expires; the payments
//! domain implements it and drives payment results through [`Registrations::act`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};

use baoming_core::document::DocumentId;

use crate::catalog::Catalogs;
use crate::store::db::Db;

pub mod actions;
pub mod blobs;
pub mod cancellations;
pub mod docstore;
mod error;
mod full_pools;
pub mod hub;
pub mod idempotency;
pub mod lifecycle;
pub mod record;
pub mod sync;

pub use error::RegistrationError;

/// The settings registrations need from the configuration.
#[derive(Debug, Clone)]
pub struct RegistrationSettings {
    /// Overrides every exam's payment window (tests and drills), in seconds.
    pub payment_window_secs: Option<u64>,
    /// Submissions at work on the seat path at once.
    pub submit_slots: usize,
    /// Submissions waiting for a slot before the server answers [`RegistrationError::Overloaded`].
    pub submit_line: usize,
    /// Longest wait for a slot.
    pub submit_wait: std::time::Duration,
    /// What [`RegistrationError::Overloaded`] asks the client to wait, in seconds.
    pub busy_retry_after_secs: u64,
}

/// A boxed future, as the hooks return it.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), RegistrationError>> + Send + 'a>>;

/// What the lifecycle asks of the payments domain.
pub trait PaymentHook: Send + Sync {
    /// Called before the sweeper expires `record`'s hold: close the open order at the payment
    /// platform so it can no longer be paid, and apply a payment the platform reports instead.
    fn before_expiry<'a>(&'a self, record: &'a record::RegistrationRecord) -> HookFuture<'a>;
}

/// The registration service.
pub struct Registrations {
    db: Arc<Db>,
    catalogs: Arc<Catalogs>,
    /// The live documents.
    pub hub: hub::Hub,
    settings: RegistrationSettings,
    /// Photo checks running on the blocking pool: one slot per core, so a burst of uploads
    /// queues instead of occupying every blocking thread.
    photo_checks: tokio::sync::Semaphore,
    payments: OnceLock<Weak<dyn PaymentHook>>,
    /// The line in front of the seat path (submissions): see [`crate::admission`].
    submit_gate: crate::admission::Admission,
    /// Pools the seat path found full, for refusing submissions from memory in a surge.
    full_pools: full_pools::FullPools,
    /// Held by a deadline sweep from start to end: sweeps never overlap, and a sweep that
    /// follows a move of the test clock sees every hold the move made due (see `sweep`).
    sweeping: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrations").finish_non_exhaustive()
    }
}

impl Registrations {
    /// The service over `db` and the catalog in force.
    pub fn new(db: Arc<Db>, catalogs: Arc<Catalogs>, settings: RegistrationSettings) -> Registrations {
        let cores = std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2);
        let submit_gate = crate::admission::Admission::new(
            settings.submit_slots,
            settings.submit_line,
            settings.submit_wait,
        );
        Registrations {
            hub: hub::Hub::new(Arc::clone(&db)),
            db,
            catalogs,
            settings,
            photo_checks: tokio::sync::Semaphore::new(cores),
            submit_gate,
            full_pools: full_pools::FullPools::default(),
            payments: OnceLock::new(),
            sweeping: tokio::sync::Mutex::new(()),
        }
    }

    /// Connects the payments domain (once, at start-up).
    pub fn set_payment_hook(&self, hook: Weak<dyn PaymentHook>) {
        let _ = self.payments.set(hook);
    }

    fn payment_hook(&self) -> Option<Arc<dyn PaymentHook>> {
        self.payments.get().and_then(Weak::upgrade)
    }

    /// The catalog in force.
    pub fn catalogs(&self) -> &Catalogs {
        &self.catalogs
    }

    /// The document ids `account` may sync: one per exam session of the catalog.
    pub fn allowed(&self, account: &str) -> Vec<(DocumentId, String)> {
        self.catalogs
            .current()
            .map(|view| {
                view.catalog
                    .exams
                    .iter()
                    .map(|e| (DocumentId::derive(&e.id, account), e.id.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The candidate's document for `exam` (`NotFound` when the catalog has no such exam).
    pub fn candidate_doc(&self, account: &str, exam: &str) -> Result<DocumentId, RegistrationError> {
        self.catalogs.require()?.session(exam)?;
        Ok(DocumentId::derive(exam, account))
    }

    /// Opens the live document `id` of `account` for `exam`.
    pub async fn open(
        &self,
        id: DocumentId,
        account: &str,
        exam: &str,
    ) -> Result<Arc<hub::LiveDoc>, RegistrationError> {
        self.hub.open(id, account, exam).await
    }

    /// The draft of document `id`: from the live hub when it is open, else from storage
    /// (without creating anything).
    pub async fn draft_of(
        &self,
        id: &DocumentId,
    ) -> Result<Option<baoming_core::draft::Draft>, RegistrationError> {
        if let Some(live) = self.hub.live(id) {
            return Ok(Some(live.draft().await));
        }
        let (db, id) = (Arc::clone(&self.db), *id);
        Ok(tokio::task::spawn_blocking(move || docstore::load(db.store(), db.keys(), &id))
            .await
            .map_err(|e| RegistrationError::Internal(format!("load task: {e}")))??
            .map(|(doc, _)| doc.draft()))
    }

    /// The registration's view (status, seats, deadline, receipt …) for its candidate.
    pub fn status(
        &self,
        account: &str,
        exam: &str,
    ) -> Result<baoming_core::api::registrations::RegistrationView, RegistrationError> {
        let id = self.candidate_doc(account, exam)?;
        let record = record::load_record(self.db.store(), &id)?.map(|(r, _)| r);
        Ok(record::view(&id, exam, record.as_ref()))
    }
}
