//! The application state every handler receives, and the one write path.
//!
//! [`AppState`] is built from an injected [`Storage`] and a [`Config`], so tests build it on a
//! temporary sled database and call the routes in-process. Every state change goes through
//! [`AppState::commit`]: the change and its audit entry are committed together, then the caller
//! waits for a flush that covers it (shared with concurrent writers, see [`crate::store::durability`]),
//! and only then answers the client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::catalog::{self, CatalogView};
use crate::config::{Config, ConfigError};
use crate::identity::captcha::Captchas;
use crate::identity::notifier::Notifier;
use crate::identity::operators::{self, Role};
use crate::identity::passwords::Hasher;
use crate::identity::throttle::Throttle;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::crypto::{CryptoError, KEY_LEN, Keys};
use crate::store::durability::GroupFlush;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, encode};

const KEY_CHECK: &[u8] = b"key_check";
const SEEDED: &[u8] = b"seeded";
/// User name of the operator seeded on first start.
pub const DEMO_OPERATOR: &str = "admin";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Key material problem.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The configured key is not the one this database was written with.
    #[error("the data key does not open this database (wrong BAOMING_DATA_KEY or data.key?)")]
    KeyMismatch,
    /// Seeding failed.
    #[error("seeding: {0}")]
    Seed(String),
}

/// Shared state.
#[derive(Debug)]
pub struct AppState {
    /// Configuration in force.
    pub config: Config,
    /// The storage engine.
    pub store: Arc<dyn Storage>,
    /// Data keys.
    pub keys: Keys,
    /// Password hashing.
    pub hasher: Hasher,
    /// Login throttling.
    pub throttle: Throttle,
    /// Live captchas.
    pub captchas: Captchas,
    /// Notification transport.
    pub notifier: Notifier,
    /// Third-party logins in progress.
    pub oauth: crate::identity::oauth::PendingLogins,
    /// Live registration documents and sync tickets.
    pub hub: crate::registration::hub::Hub,
    /// Group commit: how writers wait for durability.
    pub flusher: GroupFlush,
    /// Photo checks running on the blocking pool: one slot per core, so a burst of uploads
    /// queues instead of occupying every blocking thread.
    pub photo_checks: tokio::sync::Semaphore,
    /// The payment platform, once started (see [`crate::payments::orders::start`]).
    pub payments: std::sync::OnceLock<crate::payments::orders::Payments>,
    catalog: RwLock<Option<Arc<CatalogView>>>,
    write_lock: Mutex<()>,
    ready: AtomicBool,
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

/// The shared handle.
pub type App = Arc<AppState>;

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

/// Current time in Unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl AppState {
    /// Builds the state: data key, key check, first-start seeding (demo catalog and the demo
    /// operator `admin`).
    pub fn build(config: Config, store: Arc<dyn Storage>) -> Result<Startup, StartError> {
        let (keys, key_generated) = open_keys(&config, &*store)?;
        let hasher = Hasher::new(&config.argon2)?;
        let notifier = Notifier::from_config(config.smtp.as_ref()).map_err(ConfigError::Invalid)?;
        let state = AppState {
            throttle: Throttle::new(config.throttle.clone()),
            captchas: Captchas::new(Duration::from_secs(config.captcha_ttl_secs), 10_000),
            notifier,
            oauth: crate::identity::oauth::PendingLogins::default(),
            hub: crate::registration::hub::Hub::default(),
            flusher: GroupFlush::start(Arc::clone(&store))
                .map_err(|e| StorageError::Engine(format!("flusher thread: {e}")))?,
            photo_checks: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2),
            ),
            payments: std::sync::OnceLock::new(),
            hasher,
            keys,
            store,
            catalog: RwLock::new(None),
            write_lock: Mutex::new(()),
            ready: AtomicBool::new(false),
            config,
        };
        let (seeded, demo_password) = state.seed()?;
        let view = catalog::load(&*state.store)?;
        state.set_catalog(view.map(Arc::new));
        state.store.flush()?;
        state.ready.store(true, Ordering::SeqCst);
        Ok(Startup { app: Arc::new(state), key_generated, demo_password, seeded })
    }

    fn seed(&self) -> Result<(bool, Option<String>), StartError> {
        if self.store.get(Tree::Meta, SEEDED)?.is_some() {
            return Ok((false, None));
        }
        let seed_err = |e: String| StartError::Seed(e);
        let mut txn = Txn::new();
        let t = now();
        if catalog::load(&*self.store)?.is_none() {
            catalog::import(&*self.store, &self.keys, &mut txn, baoming_core::catalog::DEMO_CATALOG_TOML, t)
                .map_err(|e| seed_err(e.to_string()))?;
        }
        let mut generated = None;
        if operators::find(&*self.store, DEMO_OPERATOR)?.is_none() {
            let password = match &self.config.demo_operator_password {
                Some(p) => p.clone(),
                None => {
                    let p = generate_password();
                    generated = Some(p.clone());
                    p
                }
            };
            let phc = self.hasher.hash_blocking(&password).map_err(seed_err)?;
            operators::create(&mut txn, DEMO_OPERATOR, Role::Administrator, Vec::new(), phc, t);
        }
        txn.put(Tree::Meta, SEEDED.to_vec(), encode(&t));
        self.commit_blocking(
            txn,
            AuditEvent::new(Actor::System, "system.seed", "database")
                .with(serde_json::json!({ "demo_catalog": true, "demo_operator": DEMO_OPERATOR })),
        )
        .map_err(|e| seed_err(e.to_string()))?;
        Ok((true, generated))
    }

    /// The current catalog.
    pub fn catalog(&self) -> Option<Arc<CatalogView>> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the served catalog (after a committed import).
    pub fn set_catalog(&self, view: Option<Arc<CatalogView>>) {
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// Whether the server accepts traffic.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.store.get(Tree::Meta, KEY_CHECK).is_ok()
    }

    /// Marks the server as draining (readiness fails while shutting down).
    pub fn set_draining(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }

    /// Commits `txn` together with the audit entry for `event`, not yet durable.
    fn commit_unflushed(&self, txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        commit_audited(&*self.store, txn, event)
    }

    /// Commits `txn` together with the audit entry for `event` and returns once it is durable.
    /// A precondition failure reports the caller's own check index.
    pub fn commit_blocking(&self, txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
        self.commit_unflushed(txn, event)?;
        Ok(self.flusher.durable_blocking()?)
    }

    /// [`AppState::commit_blocking`] without holding a thread while the flush runs.
    pub async fn commit(self: &Arc<Self>, txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
        let app = Arc::clone(self);
        tokio::task::spawn_blocking(move || app.commit_unflushed(txn, event))
            .await
            .map_err(|e| CommitError::Storage(StorageError::Engine(format!("commit task: {e}"))))??;
        Ok(self.flusher.durable().await?)
    }
}

impl AppState {
    /// Removes expired sessions (in batches); returns how many were removed.
    pub async fn sweep_sessions(self: &Arc<Self>) -> Result<usize, CommitError> {
        let mut total = 0;
        loop {
            let mut txn = Txn::new();
            let n = crate::identity::sessions::sweep_expired(&*self.store, &mut txn, now(), 1000)?;
            if n == 0 {
                return Ok(total);
            }
            let event = AuditEvent::new(Actor::System, "session.sweep", "sessions")
                .with(serde_json::json!({ "removed": n }));
            self.commit(txn, event).await?;
            total += n;
        }
    }
}

/// Commits `txn` with the audit entry for `event` (not flushed; the caller serialises writers).
pub fn commit_audited(store: &dyn Storage, mut txn: Txn, event: AuditEvent) -> Result<(), CommitError> {
    audit::append(store, &mut txn, event, time::OffsetDateTime::now_utc())?;
    store.commit(&txn)
}

/// Loads the data key (configured, or `data_dir/data.key`, generated if missing) and checks it
/// against the database; the flag tells whether the key file was generated now.
pub fn open_keys(config: &Config, store: &dyn Storage) -> Result<(Keys, bool), StartError> {
    let (master, generated): ([u8; KEY_LEN], bool) = match &config.data_key {
        Some(hex_key) => (Keys::parse_master(hex_key)?, false),
        None => Keys::load_or_generate(&config.data_dir.join("data.key"))?,
    };
    let keys = Keys::from_master(&master);
    match store.get(Tree::Meta, KEY_CHECK)? {
        Some(sealed) => {
            keys.open(KEY_CHECK, &sealed).map_err(|_| StartError::KeyMismatch)?;
        }
        None => {
            let mut t = Txn::new();
            t.put(Tree::Meta, KEY_CHECK.to_vec(), keys.seal(KEY_CHECK, b"baoming"));
            store.commit(&t).map_err(|e| StartError::Seed(e.to_string()))?;
            store.flush()?;
        }
    }
    Ok((keys, generated))
}

/// A random 20-character password for the demo operator.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let raw: [u8; 20] = crate::store::crypto::random_array();
    let mut p: String = raw.iter().map(|b| char::from(ALPHABET[*b as usize % ALPHABET.len()])).collect();
    p.push_str("-7");
    p
}
