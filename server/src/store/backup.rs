//! The versioned backup format (`admin backup` / `admin restore`).
//!
//! A backup is UTF-8 JSON lines, independent of the storage engine:
//!
//! ```text
//! {"format":"baoming-backup","version":1,"created":1764000000,"trees":["meta",…]}
//! {"t":"accounts","k":"<hex key>","v":"<hex value>"}
//! …
//! {"end":true,"records":1234,"sha256":"<hex of every preceding line, newline included>"}
//! ```
//!
//! Values are copied as stored, so sealed personal data stays sealed: keep the data key
//! (`data.key` or `BAOMING_DATA_KEY`) with — but apart from — the backup. A restore goes only
//! into an empty database, checks the trailer, then verifies the audit chain.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::store::crypto::sha256;
use crate::store::{Storage, StorageError, Tree, Txn};

/// The format name in the header.
pub const FORMAT: &str = "baoming-backup";
/// The format version.
pub const VERSION: u32 = 1;

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing the file failed.
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The file is not a valid backup.
    #[error("not a valid backup: {0}")]
    Format(String),
    /// The target database is not empty.
    #[error("restore needs an empty database; this one already holds data")]
    NotEmpty,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    created: i64,
    trees: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Record {
    t: String,
    k: String,
    v: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: bool,
    records: u64,
    sha256: String,
}

/// Writes every tree to `out`; returns the number of records.
pub fn write(store: &dyn Storage, out: &mut dyn Write, created: i64) -> Result<u64, BackupError> {
    let mut hashed: Vec<u8> = Vec::new();
    let emit = |line: String, out: &mut dyn Write, hashed: &mut Vec<u8>| -> std::io::Result<()> {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        hashed.extend_from_slice(line.as_bytes());
        hashed.push(b'\n');
        Ok(())
    };
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created,
        trees: Tree::ALL.iter().map(|t| t.name().to_owned()).collect(),
    };
    emit(line(&header)?, out, &mut hashed)?;
    let mut records = 0u64;
    for tree in Tree::ALL {
        for (k, v) in store.scan_prefix(tree, b"")? {
            let rec = Record { t: tree.name().into(), k: hex::encode(k), v: hex::encode(v) };
            emit(line(&rec)?, out, &mut hashed)?;
            records += 1;
        }
    }
    let trailer = Trailer { end: true, records, sha256: hex::encode(sha256(&hashed)) };
    emit(line(&trailer)?, out, &mut hashed)?;
    out.flush()?;
    Ok(records)
}

fn line<T: Serialize>(v: &T) -> Result<String, BackupError> {
    serde_json::to_string(v).map_err(|e| BackupError::Format(e.to_string()))
}

/// Reads a backup from `input` into the empty `store`; returns the number of records.
pub fn restore(store: &dyn Storage, input: &mut dyn BufRead) -> Result<u64, BackupError> {
    if !store.is_empty()? {
        return Err(BackupError::NotEmpty);
    }
    let bad = |m: String| BackupError::Format(m);
    let mut lines = input.lines();
    let mut hashed: Vec<u8> = Vec::new();
    let first = lines.next().ok_or_else(|| bad("empty file".into()))??;
    let header: Header = serde_json::from_str(&first).map_err(|e| bad(format!("header: {e}")))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(bad(format!("format {} version {} is not supported", header.format, header.version)));
    }
    hashed.extend_from_slice(first.as_bytes());
    hashed.push(b'\n');
    // Parse everything before writing anything, so a damaged file restores nothing.
    let mut records: Vec<(Tree, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut trailer: Option<Trailer> = None;
    for line in lines {
        let line = line?;
        if trailer.is_some() {
            return Err(bad("data after the trailer".into()));
        }
        if line.starts_with("{\"end\"") {
            trailer = Some(serde_json::from_str(&line).map_err(|e| bad(format!("trailer: {e}")))?);
            continue;
        }
        let rec: Record = serde_json::from_str(&line).map_err(|e| bad(format!("record: {e}")))?;
        let tree = Tree::from_name(&rec.t).ok_or_else(|| bad(format!("unknown tree `{}`", rec.t)))?;
        let k = hex::decode(&rec.k).map_err(|e| bad(format!("key: {e}")))?;
        let v = hex::decode(&rec.v).map_err(|e| bad(format!("value: {e}")))?;
        records.push((tree, k, v));
        hashed.extend_from_slice(line.as_bytes());
        hashed.push(b'\n');
    }
    let trailer = trailer.ok_or_else(|| bad("missing trailer (truncated file?)".into()))?;
    if trailer.records != records.len() as u64 || trailer.sha256 != hex::encode(sha256(&hashed)) {
        return Err(bad("checksum or record count does not match (damaged file?)".into()));
    }
    for chunk in records.chunks(1000) {
        let mut txn = Txn::new();
        for (t, k, v) in chunk {
            txn.put(*t, k.clone(), v.clone());
        }
        store.commit(&txn).map_err(|e| bad(format!("commit: {e}")))?;
    }
    store.flush()?;
    Ok(trailer.records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStorage;

    #[test]
    fn roundtrip_and_damage_detection() {
        let a = tempfile::tempdir().expect("tempdir");
        let src = SledStorage::open(a.path()).expect("open");
        let mut t = Txn::new();
        t.put(Tree::Accounts, b"acc_1".to_vec(), vec![1, 2, 3]);
        t.put(Tree::Audit, 1u64.to_be_bytes().to_vec(), b"entry".to_vec());
        src.commit(&t).expect("commit");
        let mut buf = Vec::new();
        assert_eq!(write(&src, &mut buf, 0).expect("backup"), 2);

        let b = tempfile::tempdir().expect("tempdir");
        let dst = SledStorage::open(b.path()).expect("open");
        assert_eq!(restore(&dst, &mut buf.as_slice()).expect("restore"), 2);
        assert_eq!(dst.get(Tree::Accounts, b"acc_1").expect("get"), Some(vec![1, 2, 3]));
        assert!(matches!(restore(&dst, &mut buf.as_slice()), Err(BackupError::NotEmpty)));

        let c = tempfile::tempdir().expect("tempdir");
        let other = SledStorage::open(c.path()).expect("open");
        let damaged = String::from_utf8(buf.clone()).expect("utf8").replace("010203", "010204");
        assert!(matches!(restore(&other, &mut damaged.as_bytes()), Err(BackupError::Format(_))));
        let truncated = &buf[..buf.len() - 20];
        assert!(restore(&other, &mut &truncated[..]).is_err());
        assert!(other.is_empty().expect("empty"), "nothing restored from a damaged file");
    }
}
