//! The composition root: opens the database, builds every service and wires them together,
//! seeds a new database, and runs the background jobs. Nothing else in the crate constructs a
//! service or imports this module; the HTTP layer and the jobs get the built [`State`].

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::catalog::{self, Catalogs};
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::desk::Desk;
use crate::examday::ExamDay;
use crate::identity::notifier::Notifier;
use crate::identity::operators::{self, Role};
use crate::identity::passwords::generate_password;
use crate::identity::{Identity, IdentitySettings};
use crate::payments::Payments;
use crate::registration::{PaymentHook, RegistrationSettings, Registrations};
use crate::state::{App, State};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::db::{Db, KeySource, OpenError};
use crate::store::{Storage, StorageError, Tree, Txn, encode};

const SEEDED: &[u8] = b"seeded";
/// User name of the operator seeded on first start.
pub const DEMO_OPERATOR: &str = "admin";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened with the data key.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Seeding failed.
    #[error("seeding: {0}")]
    Seed(String),
}

/// What start-up did.
#[derive(Debug)]
pub struct Startup {
    /// The state.
    pub app: App,
    /// The data key file was generated now.
    pub key_generated: bool,
    /// The demo operator's password, when it was generated at this start.
    pub demo_password: Option<String>,
    /// Whether the database was seeded at this start.
    pub seeded: bool,
}

/// Opens the database on `store` with the configured data key (or `data_dir/data.key`,
/// generated when missing) and `clock`.
pub fn open_db(config: &Config, store: Arc<dyn Storage>, clock: Clock) -> Result<(Db, bool), OpenError> {
    let key_file = config.data_dir.join("data.key");
    let key = match &config.data_key {
        Some(hex) => KeySource::Hex(hex),
        None => KeySource::File(&key_file),
    };
    Db::open(store, key, clock)
}

fn identity_settings(config: &Config) -> IdentitySettings {
    IdentitySettings {
        session_ttl_secs: config.session_ttl_secs,
        operator_session_ttl_secs: config.operator_session_ttl_secs,
        recovery_code_ttl_secs: config.recovery_code_ttl_secs,
        captcha_ttl_secs: config.captcha_ttl_secs,
        argon2: config.argon2.clone(),
        throttle: config.throttle.clone(),
        oauth: config.oauth.clone(),
    }
}

/// Builds the state on `store`: data key, key check, first-start seeding (demo catalog and the
/// demo operator `admin`), every service. The clock is the system's unless the configuration
/// asks for a movable test clock.
pub fn build(config: Config, store: Arc<dyn Storage>) -> Result<Startup, StartError> {
    let clock = if config.test_clock { Clock::movable() } else { Clock::system() };
    let (db, key_generated) = open_db(&config, store, clock)?;
    let db = Arc::new(db);
    let notifier = Notifier::from_config(config.smtp.as_ref()).map_err(ConfigError::Invalid)?;
    let identity = Identity::new(Arc::clone(&db), identity_settings(&config), notifier)?;
    let (seeded, demo_password) = seed(&db, &identity, &config)?;
    let catalogs = Arc::new(Catalogs::load(Arc::clone(&db))?);
    let lifecycle = &config.lifecycle;
    let settings = RegistrationSettings {
        payment_window_secs: lifecycle.payment_window_secs,
        submit_slots: lifecycle.submit_slots,
        submit_line: lifecycle.submit_line,
        submit_wait: Duration::from_millis(lifecycle.submit_wait_ms),
        busy_retry_after_secs: lifecycle.busy_retry_after_secs.max(1),
    };
    let registrations = Arc::new(Registrations::new(Arc::clone(&db), Arc::clone(&catalogs), settings));
    let payments =
        Arc::new(Payments::new(Arc::clone(&db), Arc::clone(&registrations), config.payments.clone()));
    let hook: Arc<dyn PaymentHook> = payments.clone();
    registrations.set_payment_hook(Arc::downgrade(&hook));
    let state = State {
        desk: Desk::new(Arc::clone(&db), Arc::clone(&registrations)),
        examday: ExamDay::new(Arc::clone(&db), Arc::clone(&registrations)),
        config,
        db,
        catalogs,
        identity,
        registrations,
        payments,
        ready: AtomicBool::new(true),
    };
    Ok(Startup { app: Arc::new(state), key_generated, demo_password, seeded })
}

/// Seeds a new database: the demo catalog and the demo operator, once.
fn seed(db: &Db, identity: &Identity, config: &Config) -> Result<(bool, Option<String>), StartError> {
    if db.store().get(Tree::Meta, SEEDED)?.is_some() {
        return Ok((false, None));
    }
    let mut txn = Txn::new();
    let now = db.clock().now_secs();
    if catalog::load(db.store())?.is_none() {
        catalog::import(db.store(), db.keys(), &mut txn, baoming_core::catalog::DEMO_CATALOG_TOML, now)
            .map_err(|e| StartError::Seed(e.to_string()))?;
    }
    let mut generated = None;
    if operators::find(db.store(), DEMO_OPERATOR)?.is_none() {
        let password = match &config.demo_operator_password {
            Some(p) => p.clone(),
            None => {
                let p = generate_password();
                generated = Some(p.clone());
                p
            }
        };
        let phc = identity.hasher.hash_blocking(&password).map_err(StartError::Seed)?;
        operators::create(&mut txn, DEMO_OPERATOR, Role::Administrator, Vec::new(), phc, now);
    }
    txn.put(Tree::Meta, SEEDED.to_vec(), encode(&now));
    let event = AuditEvent::new(Actor::System, "system.seed", "database")
        .with(serde_json::json!({ "demo_catalog": true, "demo_operator": DEMO_OPERATOR }));
    db.commit_blocking(txn, event).map_err(|e| StartError::Seed(e.to_string()))?;
    Ok((true, generated))
}
