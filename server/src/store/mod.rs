//! Storage: the key-value interface every engine implements, the sled engine, durability
//! (group commit), sealing of personal data, the hash-chained audit log and the backup format.
//!
//! This folder is the bottom of the server: it imports no other folder of the crate.

pub mod audit;
pub mod backup;
pub mod crypto;
pub mod db;
pub mod durability;
mod kv;
mod sled;

pub use kv::{
    Check, CommitError, Entry, RECORD_VERSION, Storage, StorageError, Tree, Txn, Write, decode, encode,
};
pub use sled::SledStorage;
