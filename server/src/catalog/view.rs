//! The stored catalog and the seat counters.
//!
//! The catalog is kept as the TOML it was imported from (validated by the core on import and on
//! load) and served as JSON. Seat counters live in their own tree, one record per
//! (exam, center, subject) and one per (exam, center) for the center's total, each with
//! `capacity`, `held` and `paid`, so that [`crate::catalog::seats`] can move them in transactions.

use baoming_core::api::catalog::{CenterSeats, SubjectSeats};
use serde::{Deserialize, Serialize};

use baoming_core::catalog::{Catalog, CatalogError};

use crate::store::crypto::Keys;
use crate::store::{Storage, StorageError, Tree, Txn, decode, encode};

const CURRENT: &[u8] = b"current";

/// The catalog as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCatalog {
    /// The TOML text.
    pub toml: String,
    /// SHA-256 of the TOML (hex).
    pub sha256: String,
    /// Unix seconds.
    pub imported: i64,
}

/// A loaded catalog.
#[derive(Debug, Clone)]
pub struct CatalogView {
    /// The parsed, validated catalog.
    pub catalog: Catalog,
    /// SHA-256 of its TOML (hex).
    pub sha256: String,
}

/// Seat counters of one subject at one center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCounter {
    /// Seats offered.
    pub capacity: u32,
    /// Seats held by submitted, unpaid registrations.
    pub held: u32,
    /// Seats paid for.
    pub paid: u32,
}

impl SeatCounter {
    /// Seats still free.
    pub fn free(&self) -> u32 {
        self.capacity.saturating_sub(self.held.saturating_add(self.paid))
    }
}

/// The seat key of (exam, center, subject).
pub fn seat_key(exam: &str, center: &str, subject: &str) -> Vec<u8> {
    format!("{exam}\0{center}\0{subject}").into_bytes()
}

/// The seat key of a center's total pool (exam, center): one separator fewer than any subject
/// key, so it never collides with one.
pub fn center_key(exam: &str, center: &str) -> Vec<u8> {
    format!("{exam}\0{center}").into_bytes()
}

/// Reads one counter; an absent record is the untouched pool of `capacity`.
pub fn read_counter(
    store: &dyn Storage,
    key: &[u8],
    capacity: u32,
) -> Result<(SeatCounter, Option<Vec<u8>>), StorageError> {
    let raw = store.get(Tree::Seats, key)?;
    let counter = match &raw {
        Some(v) => decode::<SeatCounter>(Tree::Seats, v)?,
        None => SeatCounter { capacity, held: 0, paid: 0 },
    };
    Ok((counter, raw))
}

fn reseat(
    store: &dyn Storage,
    txn: &mut Txn,
    key: Vec<u8>,
    capacity: u32,
    what: impl FnOnce() -> String,
) -> Result<(), ImportError> {
    let existing: Option<SeatCounter> =
        store.get(Tree::Seats, &key)?.map(|v| decode(Tree::Seats, &v)).transpose()?;
    let counter = match existing {
        Some(c) if c.held + c.paid > capacity => {
            return Err(ImportError::Capacity(format!(
                "{}: capacity {capacity} is below the {} seats already held or paid",
                what(),
                c.held + c.paid
            )));
        }
        Some(c) => SeatCounter { capacity, ..c },
        None => SeatCounter { capacity, held: 0, paid: 0 },
    };
    // The counters must not move between this read and the commit.
    txn.require_equals(Tree::Seats, key.clone(), existing.map(|c| encode(&c)));
    txn.put(Tree::Seats, key, encode(&counter));
    Ok(())
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The catalog is invalid.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A capacity would fall below seats already held or paid.
    #[error("{0}")]
    Capacity(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Loads the current catalog, if one was imported.
pub fn load(store: &dyn Storage) -> Result<Option<CatalogView>, StorageError> {
    let Some(raw) = store.get(Tree::Catalog, CURRENT)? else { return Ok(None) };
    let stored: StoredCatalog = decode(Tree::Catalog, &raw)?;
    let mut catalog = Catalog::from_toml_str(&stored.toml)
        .map_err(|e| StorageError::Corrupt { tree: "catalog", reason: e.to_string() })?;
    crate::catalog::exam_keys::fill_public_keys(store, &mut catalog)?;
    Ok(Some(CatalogView { catalog, sha256: stored.sha256 }))
}

/// Validates `toml_text` and adds its import (catalog + seat counters + a signing key for every
/// exam that has none, see [`crate::catalog::exam_keys`]) to `txn`.
pub fn import(
    store: &dyn Storage,
    keys: &Keys,
    txn: &mut Txn,
    toml_text: &str,
    now: i64,
) -> Result<CatalogView, ImportError> {
    let mut catalog = Catalog::from_toml_str(toml_text)?;
    crate::catalog::exam_keys::stage_missing(store, keys, txn, &mut catalog, now)?;
    let sha256 = hex::encode(crate::store::crypto::sha256(toml_text.as_bytes()));
    for exam in &catalog.exams {
        for center in &exam.centers {
            reseat(store, txn, center_key(&exam.id, &center.id), center.total_capacity, || {
                format!("exam {} center {}", exam.id, center.id)
            })?;
            for offer in &center.subjects {
                reseat(store, txn, seat_key(&exam.id, &center.id, &offer.code), offer.capacity, || {
                    format!("exam {} center {} subject {}", exam.id, center.id, offer.code)
                })?;
            }
        }
    }
    txn.put(
        Tree::Catalog,
        CURRENT.to_vec(),
        encode(&StoredCatalog { toml: toml_text.to_owned(), sha256: sha256.clone(), imported: now }),
    );
    Ok(CatalogView { catalog, sha256 })
}

/// Reads the live seat counters of `exam`, optionally only one center.
pub fn availability(
    store: &dyn Storage,
    view: &CatalogView,
    exam_id: &str,
    only_center: Option<&str>,
) -> Result<Option<Vec<CenterSeats>>, StorageError> {
    let Some(exam) = view.catalog.exam(exam_id) else { return Ok(None) };
    let mut out = Vec::new();
    for center in exam.centers.iter().filter(|c| only_center.is_none_or(|o| o == c.id)) {
        let mut subjects = Vec::new();
        for offer in &center.subjects {
            let (counter, _) =
                read_counter(store, &seat_key(&exam.id, &center.id, &offer.code), offer.capacity)?;
            subjects.push(SubjectSeats {
                code: offer.code.clone(),
                capacity: counter.capacity,
                held: counter.held,
                paid: counter.paid,
                free: counter.free(),
            });
        }
        let (total, _) = read_counter(store, &center_key(&exam.id, &center.id), center.total_capacity)?;
        out.push(CenterSeats {
            center: center.id.clone(),
            total_capacity: center.total_capacity,
            held: total.held,
            paid: total.paid,
            free: total.free(),
            cancelled: super::cancelled::find(store, &exam.id, &center.id)?.is_some(),
            subjects,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStorage;
    use baoming_core::catalog::DEMO_CATALOG_TOML;

    #[test]
    fn import_seeds_counters_and_keeps_holds_on_reimport() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SledStorage::open(dir.path()).expect("open");
        let mut t = Txn::new();
        let view = import(&s, &Keys::from_master(&[1; 32]), &mut t, DEMO_CATALOG_TOML, 1).expect("import");
        s.commit(&t).expect("commit");
        let exam = &view.catalog.exams[0];
        let center = &exam.centers[0];
        let offer = &center.subjects[0];
        let key = seat_key(&exam.id, &center.id, &offer.code);
        // Simulate a hold placed by later work, then re-import.
        let mut t = Txn::new();
        t.put(Tree::Seats, key.clone(), encode(&SeatCounter { capacity: offer.capacity, held: 2, paid: 1 }));
        s.commit(&t).expect("hold");
        let mut t = Txn::new();
        import(&s, &Keys::from_master(&[1; 32]), &mut t, DEMO_CATALOG_TOML, 2).expect("reimport");
        s.commit(&t).expect("commit");
        let seats = availability(&s, &load(&s).expect("load").expect("some"), &exam.id, Some(&center.id))
            .expect("read")
            .expect("exam");
        let subj = &seats[0].subjects[0];
        assert_eq!((subj.held, subj.paid, subj.free), (2, 1, offer.capacity - 3));
        assert_eq!(seats[0].free, center.total_capacity, "the center pool is counted on its own");
    }

    #[test]
    fn invalid_catalog_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SledStorage::open(dir.path()).expect("open");
        let mut t = Txn::new();
        assert!(matches!(
            import(&s, &Keys::from_master(&[1; 32]), &mut t, "exam = 3", 1),
            Err(ImportError::Catalog(_))
        ));
        assert!(t.writes.is_empty());
    }
}
