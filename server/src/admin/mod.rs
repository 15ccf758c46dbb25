//! `baoming-server admin …`: offline administration of a database.
//!
//! sled allows one process per database, so these commands run while the server is stopped
//! (they fail with a clear lock error otherwise). Every change they make is audited like any
//! other, with the actor `cli`.

use std::path::Path;
use std::sync::Arc;

use crate::app::{StartError, open_db};
use crate::catalog;
use crate::clock::Clock;
use crate::config::Config;
use crate::identity::notifier::{self, OutboxEntry};
use crate::identity::operators::{self, Operator, Role};
use crate::identity::passwords::{Hasher, check_policy, generate_password};
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::db::Db;
use crate::store::{CommitError, SledStorage, Storage, StorageError, Tree, Txn, encode};

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Start-up problem (config, key, storage).
    #[error(transparent)]
    Start(#[from] StartError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A commit failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// The audit chain is broken.
    #[error(transparent)]
    Audit(#[from] audit::VerifyError),
    /// Backup or restore failed.
    #[error(transparent)]
    Backup(#[from] crate::store::backup::BackupError),
    /// Anything else, explained.
    #[error("{0}")]
    Message(String),
}

/// Opens the database of `config`.
pub fn open_store(config: &Config) -> Result<Arc<dyn Storage>, AdminError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| AdminError::Message(format!("{}: {e}", config.data_dir.display())))?;
    Ok(Arc::new(SledStorage::open(&config.data_dir).map_err(|e| {
        AdminError::Message(format!("{e} (is the server running on this database? stop it first)"))
    })?))
}

fn read_text(path: &Path) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|e| AdminError::Message(format!("{}: {e}", path.display())))
}

/// Validates a catalog file; returns a one-line summary.
pub fn catalog_validate(path: &Path) -> Result<String, AdminError> {
    let cat = baoming_core::Catalog::from_toml_str(&read_text(path)?)
        .map_err(|e| AdminError::Message(e.to_string()))?;
    let centers: usize = cat.exams.iter().map(|e| e.centers.len()).sum();
    Ok(format!("valid: {} exam session(s), {centers} center(s)", cat.exams.len()))
}

/// Opens the database of `config` with its data key.
fn open(config: &Config) -> Result<Db, AdminError> {
    let (db, _) = open_db(config, open_store(config)?, Clock::system()).map_err(StartError::from)?;
    Ok(db)
}

/// Imports a catalog file into the database.
pub fn catalog_import(config: &Config, path: &Path) -> Result<String, AdminError> {
    let text = read_text(path)?;
    let db = open(config)?;
    let mut txn = Txn::new();
    let view = catalog::import(db.store(), db.keys(), &mut txn, &text, db.clock().now_secs())
        .map_err(|e| AdminError::Message(e.to_string()))?;
    let event = AuditEvent::new(Actor::Cli, "catalog.import", &view.sha256)
        .with(serde_json::json!({ "exams": view.catalog.exams.iter().map(|e| &e.id).collect::<Vec<_>>() }));
    db.commit_blocking(txn, event)?;
    Ok(format!("imported catalog {} ({} exam session(s))", &view.sha256[..12], view.catalog.exams.len()))
}

/// Creates an operator; returns it and the password when one was generated.
pub fn operator_create(
    config: &Config,
    username: &str,
    role: Role,
    centers: Vec<String>,
    password: Option<String>,
) -> Result<(Operator, Option<String>), AdminError> {
    operators::check_username(username).map_err(|e| AdminError::Message(e.to_string()))?;
    if role == Role::CenterOperator && centers.is_empty() {
        return Err(AdminError::Message("a center operator needs at least one --center".into()));
    }
    if role != Role::CenterOperator && !centers.is_empty() {
        return Err(AdminError::Message("only center operators are scoped to centers".into()));
    }
    let db = open(config)?;
    if let Some(view) = catalog::load(db.store())? {
        for c in &centers {
            if !view.catalog.exams.iter().any(|e| e.center(c).is_some()) {
                return Err(AdminError::Message(format!("no center `{c}` in the catalog")));
            }
        }
    }
    let (phc, generated) = hashed_password(config, username, password)?;
    let mut txn = Txn::new();
    let (op, check) = operators::create(&mut txn, username, role, centers, phc, db.clock().now_secs());
    let event = AuditEvent::new(Actor::Cli, "operator.create", &op.id)
        .with(serde_json::json!({ "username": op.username, "role": op.role, "centers": op.centers }));
    match db.commit_blocking(txn, event).map_err(AdminError::from) {
        Err(AdminError::Commit(CommitError::Precondition(i))) if i == check => {
            Err(AdminError::Message(format!("an operator `{username}` already exists")))
        }
        other => other.map(|()| (op, generated)),
    }
}

/// The PHC hash of `password`, checked against the policy, or of a generated password, which is
/// returned so the administrator can hand it over.
fn hashed_password(
    config: &Config,
    username: &str,
    password: Option<String>,
) -> Result<(String, Option<String>), AdminError> {
    let (password, generated) = match password {
        Some(p) => {
            check_policy(&p, username).map_err(|e| AdminError::Message(e.to_string()))?;
            (p, None)
        }
        None => {
            let p = generate_password();
            (p.clone(), Some(p))
        }
    };
    let phc = Hasher::new(&config.argon2)
        .map_err(StartError::from)?
        .hash_blocking(&password)
        .map_err(AdminError::Message)?;
    Ok((phc, generated))
}

/// Sets a new password for an operator and ends its sessions; returns the password when it was
/// generated.
pub fn operator_reset_password(
    config: &Config,
    username: &str,
    password: Option<String>,
) -> Result<Option<String>, AdminError> {
    let db = open(config)?;
    let op = operators::find(db.store(), username)?
        .ok_or_else(|| AdminError::Message(format!("no operator `{username}`")))?;
    let (phc, generated) = hashed_password(config, username, password)?;
    let mut txn = Txn::new();
    crate::identity::sessions::revoke_all(
        db.store(),
        &mut txn,
        &crate::identity::sessions::Owner::Operator(op.id.clone()),
        None,
    )?;
    let updated = Operator { password: phc, ..op };
    txn.put(Tree::Operators, updated.id.as_bytes().to_vec(), encode(&updated));
    db.commit_blocking(txn, AuditEvent::new(Actor::Cli, "operator.reset_password", &updated.id))?;
    Ok(generated)
}

/// The notification outbox.
pub fn outbox(config: &Config) -> Result<Vec<OutboxEntry>, AdminError> {
    let db = open(config)?;
    Ok(notifier::list_outbox(db.store(), db.keys())?)
}

/// Writes a backup of the database to `file`.
pub fn backup(config: &Config, file: &Path) -> Result<u64, AdminError> {
    let store = open_store(config)?;
    let f =
        std::fs::File::create(file).map_err(|e| AdminError::Message(format!("{}: {e}", file.display())))?;
    let mut w = std::io::BufWriter::new(f);
    let n = crate::store::backup::write(&*store, &mut w, Clock::system().now_secs())?;
    w.into_inner()
        .map_err(|e| AdminError::Message(e.to_string()))?
        .sync_all()
        .map_err(|e| AdminError::Message(e.to_string()))?;
    Ok(n)
}

/// Restores a backup into the (empty) database and verifies its audit chain.
pub fn restore(config: &Config, file: &Path) -> Result<(u64, u64), AdminError> {
    let store = open_store(config)?;
    let f = std::fs::File::open(file).map_err(|e| AdminError::Message(format!("{}: {e}", file.display())))?;
    let n = crate::store::backup::restore(&*store, &mut std::io::BufReader::new(f))?;
    let entries = audit::verify(&*store)?;
    Ok((n, entries))
}

/// Verifies the audit chain; returns the number of entries.
pub fn audit_verify(config: &Config) -> Result<u64, AdminError> {
    let store = open_store(config)?;
    Ok(audit::verify(&*store)?)
}
