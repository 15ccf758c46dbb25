//! `baoming-server admin …`: offline administration of a database.
//!
//! sled allows one process per database, so these commands run while the server is stopped
//! (they fail with a clear lock error otherwise). Every change they make is audited like any
//! other, with the actor `cli`.

use std::path::Path;
use std::sync::Arc;

use crate::app::{StartError, commit_audited, generate_password, open_keys};
use crate::catalog;
use crate::config::Config;
use crate::identity::notifier::{self, OutboxEntry};
use crate::identity::operators::{self, Operator, Role};
use crate::identity::passwords::{Hasher, check_policy};
use crate::store::audit::{self, Actor, AuditEvent};
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

fn durable(store: &dyn Storage, txn: Txn, event: AuditEvent) -> Result<(), AdminError> {
    commit_audited(store, txn, event)?;
    store.flush()?;
    Ok(())
}

/// Imports a catalog file into the database.
pub fn catalog_import(config: &Config, path: &Path) -> Result<String, AdminError> {
    let text = read_text(path)?;
    let store = open_store(config)?;
    let (keys, _) = open_keys(config, &*store)?;
    let mut txn = Txn::new();
    let view = catalog::import(&*store, &keys, &mut txn, &text, crate::app::now())
        .map_err(|e| AdminError::Message(e.to_string()))?;
    let event = AuditEvent::new(Actor::Cli, "catalog.import", &view.sha256)
        .with(serde_json::json!({ "exams": view.catalog.exams.iter().map(|e| &e.id).collect::<Vec<_>>() }));
    durable(&*store, txn, event)?;
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
    let store = open_store(config)?;
    open_keys(config, &*store)?;
    if let Some(view) = catalog::load(&*store)? {
        for c in &centers {
            if !view.catalog.exams.iter().any(|e| e.center(c).is_some()) {
                return Err(AdminError::Message(format!("no center `{c}` in the catalog")));
            }
        }
    }
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
    let mut txn = Txn::new();
    let (op, check) = operators::create(&mut txn, username, role, centers, phc, crate::app::now());
    let event = AuditEvent::new(Actor::Cli, "operator.create", &op.id)
        .with(serde_json::json!({ "username": op.username, "role": op.role, "centers": op.centers }));
    match durable(&*store, txn, event) {
        Err(AdminError::Commit(CommitError::Precondition(i))) if i == check => {
            Err(AdminError::Message(format!("an operator `{username}` already exists")))
        }
        other => other.map(|()| (op, generated)),
    }
}

/// Sets a new password for an operator and ends its sessions; returns the password when it was
/// generated.
pub fn operator_reset_password(
    config: &Config,
    username: &str,
    password: Option<String>,
) -> Result<Option<String>, AdminError> {
    let store = open_store(config)?;
    open_keys(config, &*store)?;
    let op = operators::find(&*store, username)?
        .ok_or_else(|| AdminError::Message(format!("no operator `{username}`")))?;
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
    let mut txn = Txn::new();
    crate::identity::sessions::revoke_all(
        &*store,
        &mut txn,
        &crate::identity::sessions::Owner::Operator(op.id.clone()),
        None,
    )?;
    let updated = Operator { password: phc, ..op };
    txn.put(Tree::Operators, updated.id.as_bytes().to_vec(), encode(&updated));
    durable(&*store, txn, AuditEvent::new(Actor::Cli, "operator.reset_password", &updated.id))?;
    Ok(generated)
}

/// The notification outbox.
pub fn outbox(config: &Config) -> Result<Vec<OutboxEntry>, AdminError> {
    let store = open_store(config)?;
    let (keys, _) = open_keys(config, &*store)?;
    Ok(notifier::list_outbox(&*store, &keys)?)
}

/// Writes a backup of the database to `file`.
pub fn backup(config: &Config, file: &Path) -> Result<u64, AdminError> {
    let store = open_store(config)?;
    let f =
        std::fs::File::create(file).map_err(|e| AdminError::Message(format!("{}: {e}", file.display())))?;
    let mut w = std::io::BufWriter::new(f);
    let n = crate::store::backup::write(&*store, &mut w, crate::app::now())?;
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
