//! [`State`]: the services one server process runs, as the HTTP layer and the background jobs
//! see them. The composition root ([`crate::app`]) builds it; nothing here constructs or wires
//! anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::catalog::Catalogs;
use crate::config::Config;
use crate::desk::Desk;
use crate::examday::ExamDay;
use crate::identity::Identity;
use crate::payments::Payments;
use crate::registration::Registrations;
use crate::store::db::Db;

/// The services of one server process.
#[derive(Debug)]
pub struct State {
    /// Configuration in force.
    pub config: Config,
    /// The database.
    pub db: Arc<Db>,
    /// The catalog in force.
    pub catalogs: Arc<Catalogs>,
    /// Accounts, operators, sessions.
    pub identity: Identity,
    /// Registrations, their documents and lifecycle.
    pub registrations: Arc<Registrations>,
    /// Payments.
    pub payments: Arc<Payments>,
    /// The center's desk.
    pub desk: Desk,
    /// The exam day.
    pub examday: ExamDay,
    /// Whether the server accepts traffic (false while starting and draining).
    pub ready: AtomicBool,
}

/// The shared handle.
pub type App = Arc<State>;

impl State {
    /// Whether the server accepts traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.db.is_healthy()
    }

    /// Marks the server as draining (readiness fails while shutting down).
    pub fn set_draining(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }
}
