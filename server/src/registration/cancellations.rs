//! The administrator cancels a test center, or a whole exam session.
//!
//! A cancellation is a marker in the `cancellations` tree (key: exam ‖ 0 ‖ center, or exam ‖ 0
//! for the whole session) followed by one ordinary lifecycle action per registration:
//!
//! 1. The marker is committed first (durably, audited as `exam.cancel` / `center.cancel`). From
//!    that commit on the pool is closed: every seat hold ([`crate::registration::lifecycle`]) carries a
//!    precondition that neither marker of its center exists ([`require_open`]), so a submission
//!    racing the cancellation either commits before the marker — and the scan below, which starts
//!    after it, finds it — or is refused with the typed `cancelled` error.
//! 2. Every registration in scope that holds seats is moved to `cancelled` through
//!    [`lifecycle::act`] with [`Action::Cancel`]: the core's transition, the seats released (paid
//!    ones from `paid`, flagged `refund_due`), the ID-document claim dropped, the audit entry, and
//!    the document's `server` section written so devices see it live.
//! 3. The marker is marked finished with the counts, together with the stored answer of the
//!    request's `Idempotency-Key`.
//!
//! Each step is idempotent, so the whole is crash-safe: running the cancellation again (the
//! administrator's retry, or [`resume`] at start-up for a marker that never finished) skips what
//! is already cancelled, repairs projections a crash left behind and finishes the rest.
//! Drafts, expired and withdrawn registrations in scope are left as they are: they hold nothing,
//! and they cannot submit into a cancelled pool.

use std::sync::Arc;

use baoming_core::document::DocumentId;
use baoming_core::lifecycle::Status;
use serde::{Deserialize, Serialize};
use serde_json::json;
use warp::http::StatusCode;

use crate::app::App;
use crate::error::ApiError;
use crate::registration::lifecycle::{
    self, Action, Idempotency, RegistrationRecord, check_reason, replay, stage_answer,
};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// A cancellation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The exam session.
    pub exam: String,
    /// The center, or `None` for the whole session.
    pub center: Option<String>,
    /// Why, shown to every candidate cancelled.
    pub reason: String,
    /// Who cancelled (operator id).
    pub by: String,
    /// When the cancellation was decided (Unix milliseconds).
    pub started_at_ms: i64,
    /// When every registration in scope was cancelled; `None` while some may still be live.
    pub finished_at_ms: Option<i64>,
    /// Registrations cancelled in scope, as of the last finished run.
    pub registrations_cancelled: u64,
    /// Of those, paid registrations whose fee is to be refunded.
    pub refunds_due: u64,
}

impl Cancellation {
    /// The typed refusal of a submission into this cancelled pool (409 `cancelled`).
    pub fn refusal(&self) -> ApiError {
        let what = match &self.center {
            Some(c) => format!("test center `{c}` of exam `{}` has been cancelled", self.exam),
            None => format!("exam `{}` has been cancelled", self.exam),
        };
        ApiError::refused(
            StatusCode::CONFLICT,
            "cancelled",
            format!("{what}: {}", self.reason),
            json!({ "exam": self.exam, "center": self.center, "reason": self.reason }),
        )
    }

    fn scope(&self) -> String {
        match &self.center {
            Some(c) => format!("{}/{c}", self.exam),
            None => self.exam.clone(),
        }
    }

    fn covers(&self, record: &RegistrationRecord) -> bool {
        record.exam == self.exam && self.center.as_ref().is_none_or(|c| *c == record.center)
    }
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The marker key of `exam` (whole session: `center` = `None`) or of one center.
pub fn marker_key(exam: &str, center: Option<&str>) -> Vec<u8> {
    format!("{exam}\0{}", center.unwrap_or_default()).into_bytes()
}

fn get(store: &dyn Storage, key: &[u8]) -> Result<Option<(Cancellation, Vec<u8>)>, StorageError> {
    match store.get(Tree::Cancellations, key)? {
        Some(raw) => Ok(Some((decode(Tree::Cancellations, &raw)?, raw))),
        None => Ok(None),
    }
}

/// The cancellation that closes `center` of `exam`, if any: the whole session's first, else the
/// center's.
pub fn find(store: &dyn Storage, exam: &str, center: &str) -> Result<Option<Cancellation>, StorageError> {
    if let Some((c, _)) = get(store, &marker_key(exam, None))? {
        return Ok(Some(c));
    }
    if center.is_empty() {
        return Ok(None);
    }
    Ok(get(store, &marker_key(exam, Some(center)))?.map(|(c, _)| c))
}

/// Adds to `txn` the preconditions that neither `exam` nor its `center` is cancelled; returns
/// their indices (see the module documentation for why this closes the race).
pub fn require_open(txn: &mut Txn, exam: &str, center: &str) -> [usize; 2] {
    [
        txn.require_absent(Tree::Cancellations, marker_key(exam, None)),
        txn.require_absent(Tree::Cancellations, marker_key(exam, Some(center))),
    ]
}

/// What one run of a cancellation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Registrations in scope looked at (any status).
    pub in_scope: u64,
    /// Registrations this run moved to `cancelled` (their seats released).
    pub cancelled_now: u64,
    /// Registrations that an earlier (possibly interrupted) run had already cancelled.
    pub already_cancelled: u64,
    /// Registrations in scope that held nothing (draft, expired, withdrawn): left as they are.
    pub untouched: u64,
    /// Cancelled registrations that had paid: `refund_due` is set on them.
    pub refunds_due: u64,
}

/// Cancels `center` of `exam` (or the whole exam with `center` = `None`) for `reason`, on behalf
/// of operator `by`; returns the answer (the cancellation and this run's [`Progress`]). Runs to
/// the end even when the caller stops waiting: the work is spawned on the runtime.
pub async fn cancel(
    app: &App,
    by: &str,
    exam: &str,
    center: Option<&str>,
    reason: &str,
    idem: Option<Idempotency>,
) -> Result<serde_json::Value, ApiError> {
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    let session = view.catalog.exam(exam).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam}`")))?;
    if let Some(c) = center
        && session.center(c).is_none()
    {
        return Err(ApiError::NotFound(format!("no center `{c}` in exam `{exam}`")));
    }
    check_reason(reason)?;
    if let Some(idem) = &idem
        && let Some(body) = replay(&*app.store, idem)?
    {
        return Ok(body);
    }
    let key = marker_key(exam, center);
    let marker = match get(&*app.store, &key)? {
        // A re-run finishes what was decided, with the reason given then.
        Some((existing, _)) => existing,
        None => {
            let fresh = Cancellation {
                exam: exam.to_owned(),
                center: center.map(str::to_owned),
                reason: reason.trim().to_owned(),
                by: by.to_owned(),
                started_at_ms: now_ms(),
                finished_at_ms: None,
                registrations_cancelled: 0,
                refunds_due: 0,
            };
            let mut txn = Txn::new();
            txn.require_absent(Tree::Cancellations, key.clone());
            txn.put(Tree::Cancellations, key.clone(), encode(&fresh));
            let action = if center.is_some() { "center.cancel" } else { "exam.cancel" };
            let event = AuditEvent::new(Actor::Operator(by.to_owned()), action, fresh.scope())
                .with(json!({ "reason": fresh.reason }));
            match app.commit(txn, event).await {
                Ok(()) => fresh,
                // Another administrator decided it a moment earlier: finish theirs.
                Err(CommitError::Precondition(_)) => get(&*app.store, &key)?
                    .map(|(c, _)| c)
                    .ok_or_else(|| ApiError::Internal("a cancellation vanished".into()))?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let app2 = Arc::clone(app);
    tokio::spawn(async move { run(&app2, marker, idem).await })
        .await
        .map_err(|e| ApiError::Internal(format!("cancellation task: {e}")))?
}

/// Finishes every cancellation whose marker never finished (a crash or a stop in the middle);
/// the server runs it once at start-up. Returns how many it finished.
pub async fn resume(app: &App) -> Result<usize, ApiError> {
    let store = Arc::clone(&app.store);
    let markers = tokio::task::spawn_blocking(move || store.scan_prefix(Tree::Cancellations, b""))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let mut finished = 0;
    for (_, raw) in markers {
        let marker: Cancellation = decode(Tree::Cancellations, &raw)?;
        if marker.finished_at_ms.is_none() {
            run(app, marker, None).await?;
            finished += 1;
        }
    }
    Ok(finished)
}

/// Moves every registration in the marker's scope that holds seats to `cancelled`, then marks
/// the marker finished (with the idempotent answer, when there is a key).
async fn run(
    app: &App,
    marker: Cancellation,
    idem: Option<Idempotency>,
) -> Result<serde_json::Value, ApiError> {
    let store = Arc::clone(&app.store);
    let records = tokio::task::spawn_blocking(move || store.scan_prefix(Tree::Registrations, b""))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let actor = Actor::Operator(marker.by.clone());
    let mut p = Progress::default();
    for (key, raw) in records {
        let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else { continue };
        let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
        if !marker.covers(&record) {
            continue;
        }
        p.in_scope += 1;
        let id = DocumentId::from_bytes(bytes);
        let live = app.hub.open(app, id, &record.account, &record.exam).await?;
        let action = Action::Cancel { reason: marker.reason.clone() };
        if lifecycle::act(app, &live, actor.clone(), None, action).await?.is_some() {
            p.cancelled_now += 1;
        } else {
            // Nothing was due: already cancelled (its projection repaired by `act`), or it holds
            // nothing.
            match lifecycle::load_record(&*app.store, &id)?.map(|(r, _)| r) {
                Some(r) if r.section.status == Status::Cancelled => p.already_cancelled += 1,
                _ => p.untouched += 1,
            }
        }
    }
    // Refunds are counted from the records, so a re-run reports the same total.
    let store = Arc::clone(&app.store);
    let scope = marker.clone();
    let refunds = tokio::task::spawn_blocking(move || -> Result<u64, StorageError> {
        let mut n = 0;
        for (_, raw) in store.scan_prefix(Tree::Registrations, b"")? {
            let r: RegistrationRecord = decode(Tree::Registrations, &raw)?;
            if scope.covers(&r) && r.section.status == Status::Cancelled && r.refund_due {
                n += 1;
            }
        }
        Ok(n)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    p.refunds_due = refunds;

    let key = marker_key(&marker.exam, marker.center.as_deref());
    let done = Cancellation {
        finished_at_ms: Some(now_ms()),
        registrations_cancelled: p.cancelled_now + p.already_cancelled,
        refunds_due: refunds,
        ..marker
    };
    let body = json!({
        "exam": done.exam,
        "center": done.center,
        "reason": done.reason,
        "started_at_ms": done.started_at_ms,
        "finished_at_ms": done.finished_at_ms,
        "status": "finished",
        "registrations_cancelled": done.registrations_cancelled,
        "refunds_due": done.refunds_due,
        "progress": p,
    });
    let mut txn = Txn::new();
    txn.put(Tree::Cancellations, key, encode(&done));
    let idem_check = idem.as_ref().map(|idem| stage_answer(&mut txn, idem, &body));
    let event = AuditEvent::new(Actor::Operator(done.by.clone()), "cancel.finished", done.scope())
        .with(json!({ "progress": p }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(body),
        // The same key finished concurrently: its answer stands.
        Err(CommitError::Precondition(i)) if Some(i) == idem_check => match &idem {
            Some(idem) => replay(&*app.store, idem)?.ok_or(ApiError::Busy),
            None => Err(ApiError::Busy),
        },
        Err(e) => Err(e.into()),
    }
}
