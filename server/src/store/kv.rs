//! The storage interface: named trees, prefix scans, all-or-nothing transactions with
//! preconditions, and the versioned record encoding.
//!
//! Handlers and services never see sled: they talk to [`Storage`], a small key-value interface
//! with named trees, prefix scans and an all-or-nothing [`Txn`] (preconditions + writes across
//! trees). A distributed engine can implement the same trait later.
//!
//! Records are stored with a version byte in front of their JSON body ([`encode`] / [`decode`]),
//! so a later format can be read next to an older one.
//!
//! Nothing is acknowledged to a client before [`Storage::flush`] has returned: services call
//! [`crate::store::db::Db::commit`], which commits and then flushes.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The trees, one per concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tree {
    /// Singletons: key material checks, the audit head, seeding markers.
    Meta,
    /// Passport accounts by account id.
    Accounts,
    /// Index: keyed hash of the normalised login name → account id.
    AccountByLogin,
    /// Index: keyed hash of the ID document → account id.
    AccountByIdDocument,
    /// Sessions by SHA-256 of the bearer token.
    Sessions,
    /// Index: owner key ‖ 0 ‖ token hash → empty, to revoke all sessions of an owner.
    SessionsByOwner,
    /// Operators by operator id.
    Operators,
    /// Index: operator user name → operator id.
    OperatorByName,
    /// The current catalog.
    Catalog,
    /// Seat counters per exam/center/subject.
    Seats,
    /// The hash-chained audit log, keyed by big-endian sequence number.
    Audit,
    /// Notifications that no transport delivered (shown by `admin outbox`).
    Outbox,
    /// Password recovery codes by account id.
    Recovery,
    /// Index: OAuth provider ‖ 0 ‖ provider subject → account id.
    AccountByOAuth,
    /// Registration documents: document id → sealed snapshot.
    Documents,
    /// Registration document chunks: document id ‖ big-endian sequence → sealed chunk.
    DocumentChunks,
    /// Sync states of devices with a storage id: account ‖ 0 ‖ storage id ‖ 0 ‖ document id.
    SyncStates,
    /// Photo blobs: SHA-256 of the JPEG (32 bytes) → the sealed JPEG, stored once per digest.
    Blobs,
    /// Photo ownership: SHA-256 (32 bytes) ‖ account id → when that account uploaded it.
    BlobOwners,
    /// Submitted registrations: document id (16 bytes) → the server's record (status, seats,
    /// deadline); the document's `server` section is its projection.
    Registrations,
    /// One registration per ID document per exam: exam ‖ 0 ‖ keyed hash → document id.
    RegistrationByIdDocument,
    /// Answers of lifecycle actions by idempotency key: account ‖ 0 ‖ key → stored answer.
    Idempotency,
    /// Test-center notices: exam ‖ 0 ‖ center ‖ 0 ‖ notice id → the notice.
    Notices,
    /// Cancelled centers and sessions: exam ‖ 0 ‖ center (exam ‖ 0 for the whole session) →
    /// the cancellation (reason, progress).
    Cancellations,
    /// Exam signing keys: exam id → the Ed25519 key pair (PKCS#8 sealed with the data key) and
    /// its public key (see [`crate::examday::documents`]).
    ExamKeys,
    /// Room arrangements: exam ‖ 0 ‖ center → the arrangement (seats and ticket numbers).
    Arrangements,
    /// Check-ins at the exam: exam ‖ 0 ‖ ticket number → when and by whom.
    CheckIns,
    /// Payment orders: out_trade_no → the order (registration, amount, expiry, state).
    Orders,
    /// Index: out_trade_no → empty, for every order the payment reconciler still has to look
    /// at (open, or paid and due for a refund).
    OrdersPending,
    /// What each registration document refused, so that a peer offering it again is answered
    /// from memory: document id → the core's `RefusedMemory` (no values, only change hashes,
    /// statuses, paths and reasons).
    RefusedChanges,
}

impl Tree {
    /// Every tree, in a fixed order (backups are written in this order).
    pub const ALL: [Tree; 30] = [
        Tree::Meta,
        Tree::Accounts,
        Tree::AccountByLogin,
        Tree::AccountByIdDocument,
        Tree::Sessions,
        Tree::SessionsByOwner,
        Tree::Operators,
        Tree::OperatorByName,
        Tree::Catalog,
        Tree::Seats,
        Tree::Audit,
        Tree::Outbox,
        Tree::Recovery,
        Tree::AccountByOAuth,
        Tree::Documents,
        Tree::DocumentChunks,
        Tree::SyncStates,
        Tree::Blobs,
        Tree::BlobOwners,
        Tree::Registrations,
        Tree::RegistrationByIdDocument,
        Tree::Idempotency,
        Tree::Notices,
        Tree::Cancellations,
        Tree::ExamKeys,
        Tree::Arrangements,
        Tree::CheckIns,
        Tree::Orders,
        Tree::OrdersPending,
        Tree::RefusedChanges,
    ];

    /// The stable on-disk name.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Accounts => "accounts",
            Tree::AccountByLogin => "account_by_login",
            Tree::AccountByIdDocument => "account_by_id_document",
            Tree::Sessions => "sessions",
            Tree::SessionsByOwner => "sessions_by_owner",
            Tree::Operators => "operators",
            Tree::OperatorByName => "operator_by_name",
            Tree::Catalog => "catalog",
            Tree::Seats => "seats",
            Tree::Audit => "audit",
            Tree::Outbox => "outbox",
            Tree::Recovery => "recovery",
            Tree::AccountByOAuth => "account_by_oauth",
            Tree::Documents => "documents",
            Tree::DocumentChunks => "document_chunks",
            Tree::SyncStates => "sync_states",
            Tree::Blobs => "blobs",
            Tree::BlobOwners => "blob_owners",
            Tree::Registrations => "registrations",
            Tree::RegistrationByIdDocument => "registration_by_id_document",
            Tree::Idempotency => "idempotency",
            Tree::Notices => "notices",
            Tree::Cancellations => "cancellations",
            Tree::ExamKeys => "exam_keys",
            Tree::Arrangements => "arrangements",
            Tree::CheckIns => "check_ins",
            Tree::Orders => "orders",
            Tree::OrdersPending => "orders_pending",
            Tree::RefusedChanges => "refused_changes",
        }
    }

    /// The tree with the on-disk `name`.
    pub fn from_name(name: &str) -> Option<Tree> {
        Tree::ALL.into_iter().find(|t| t.name() == name)
    }

    pub(super) fn index(self) -> usize {
        Tree::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// A stored record could not be decoded.
    #[error("stored record in `{tree}` is corrupt: {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// Why.
        reason: String,
    },
}

/// Why a transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Precondition number `.0` did not hold; nothing was written.
    #[error("precondition {0} failed")]
    Precondition(usize),
    /// The engine failed; nothing was written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A precondition checked atomically with a transaction's writes.
#[derive(Debug, Clone)]
pub enum Check {
    /// The key must not exist.
    Absent(Tree, Vec<u8>),
    /// The key must hold exactly this value (`None` = absent).
    Equals(Tree, Vec<u8>, Option<Vec<u8>>),
}

/// One write of a transaction.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace.
    Put(Tree, Vec<u8>, Vec<u8>),
    /// Remove (no error when absent).
    Delete(Tree, Vec<u8>),
}

/// An all-or-nothing unit: every check holds and every write applies, or nothing happens.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    /// Preconditions.
    pub checks: Vec<Check>,
    /// Writes, applied in order.
    pub writes: Vec<Write>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Txn {
        Txn::default()
    }

    /// Adds a precondition that `key` is absent; returns its index.
    pub fn require_absent(&mut self, tree: Tree, key: impl Into<Vec<u8>>) -> usize {
        self.checks.push(Check::Absent(tree, key.into()));
        self.checks.len() - 1
    }

    /// Adds a precondition that `key` holds `value`; returns its index.
    pub fn require_equals(&mut self, tree: Tree, key: impl Into<Vec<u8>>, value: Option<Vec<u8>>) -> usize {
        self.checks.push(Check::Equals(tree, key.into(), value));
        self.checks.len() - 1
    }

    /// Adds a put.
    pub fn put(&mut self, tree: Tree, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.writes.push(Write::Put(tree, key.into(), value));
    }

    /// Adds a delete.
    pub fn delete(&mut self, tree: Tree, key: impl Into<Vec<u8>>) {
        self.writes.push(Write::Delete(tree, key.into()));
    }
}

/// A key-value pair.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The storage interface every engine implements.
pub trait Storage: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Entry>, StorageError>;
    /// Entries with key ≥ `from`, at most `limit`, in key order.
    fn range_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<Entry>, StorageError>;
    /// The entry with the greatest key.
    fn last(&self, tree: Tree) -> Result<Option<Entry>, StorageError>;
    /// Applies `txn` atomically (not yet durable: call [`Storage::flush`]).
    fn commit(&self, txn: &Txn) -> Result<(), CommitError>;
    /// Makes every committed write durable.
    fn flush(&self) -> Result<(), StorageError>;
    /// Whether no tree holds anything.
    fn is_empty(&self) -> Result<bool, StorageError> {
        for tree in Tree::ALL {
            if !self.scan_prefix(tree, b"")?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The current record format version.
pub const RECORD_VERSION: u8 = 1;

/// Encodes a record: the version byte, then JSON.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    // Serialising our own plain structs to a Vec cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_writer(&mut out, value).expect("records serialise");
    out
}

/// Decodes a record written by [`encode`].
pub fn decode<T: DeserializeOwned>(tree: Tree, bytes: &[u8]) -> Result<T, StorageError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, body)) => serde_json::from_slice(body)
            .map_err(|e| StorageError::Corrupt { tree: tree.name(), reason: e.to_string() }),
        Some((v, _)) => {
            Err(StorageError::Corrupt { tree: tree.name(), reason: format!("unknown record version {v}") })
        }
        None => Err(StorageError::Corrupt { tree: tree.name(), reason: "empty record".into() }),
    }
}
