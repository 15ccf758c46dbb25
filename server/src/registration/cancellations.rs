//! The administrator cancels a test center, or a whole exam session.
//!
//! A cancellation is a marker in the `cancellations` tree (key: exam ‖ 0 ‖ center, or exam ‖ 0
//! for the whole session) followed by one ordinary lifecycle action per registration:
//!
//! 1. The marker is committed first (durably, audited as `exam.cancel` / `center.cancel`). From
//!    that commit on the pool is closed: every seat hold ([`crate::registration::lifecycle`]) carries a
//!    precondition that neither marker of its center exists ([`crate::catalog::cancelled::require_open`]), so a submission
//!    racing the cancellation either commits before the marker — and the scan below, which starts
//!    after it, finds it — or is refused with the typed `cancelled` error.
//! 2. Every registration in scope that holds seats is moved to `cancelled` through
//!    [`Registrations::act`] with [`Action::Cancel`]: the core's transition, the seats released (paid
//!    ones from `paid`, flagged `refund_due`), the ID-document claim dropped, the audit entry, and
//!    the document's `server` section written so devices see it live.
//! 3. The marker is marked finished with the counts, together with the stored answer of the
//!    request's `Idempotency-Key`.
//!
//! Each step is idempotent, so the whole is crash-safe: running the cancellation again (the
//! administrator's retry, or [`Registrations::resume`] at start-up for a marker that never finished) skips what
//! is already cancelled, repairs projections a crash left behind and finishes the rest.
//! Drafts, expired and withdrawn registrations in scope are left as they are: they hold nothing,
//! and they cannot submit into a cancelled pool.

use std::sync::Arc;

use baoming_core::api::admin::{CancellationAnswer, CancellationProgress, CancellationStatus};
use baoming_core::document::DocumentId;
use baoming_core::lifecycle::Status;
use serde_json::json;

use super::idempotency::{Idempotency, replay, stage_answer};
use super::lifecycle::{Action, check_reason};
use super::record::{RegistrationRecord, load_record};
use super::{RegistrationError, Registrations};
use crate::catalog::cancelled::{self, Cancellation, marker_key};
use crate::identity::operators::{Operator, Permission, authorize};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, StorageError, Tree, Txn, decode, encode};

/// Whether `marker` covers `record`.
fn covers(marker: &Cancellation, record: &RegistrationRecord) -> bool {
    record.exam == marker.exam && marker.center.as_ref().is_none_or(|c| *c == record.center)
}

impl Registrations {
    /// Cancels `center` of `exam` (or the whole exam with `center` = `None`) for `reason`, on
    /// behalf of administrator `op`; returns the answer (the cancellation and this run's
    /// [`CancellationProgress`]). `key` is the request's optional `Idempotency-Key` and `body` the body it
    /// fingerprints. Runs to the end even when the caller stops waiting: the work is spawned on
    /// the runtime.
    pub async fn cancel(
        self: &Arc<Self>,
        op: &Operator,
        exam: &str,
        center: Option<&str>,
        reason: &str,
        key: Option<&str>,
        body: &[u8],
    ) -> Result<CancellationAnswer, RegistrationError> {
        authorize(op, Permission::CancelExam)?;
        let by = op.id.as_str();
        let what = format!("cancel\0{exam}\0{}", center.unwrap_or_default());
        let idem = key.map(|k| Idempotency::new(&format!("op:{}", op.id), k, &what, body)).transpose()?;
        let view = self.catalogs.current().ok_or_else(|| RegistrationError::NotFound("no catalog".into()))?;
        let session = view
            .catalog
            .exam(exam)
            .ok_or_else(|| RegistrationError::NotFound(format!("no exam `{exam}`")))?;
        if let Some(c) = center
            && session.center(c).is_none()
        {
            return Err(RegistrationError::NotFound(format!("no center `{c}` in exam `{exam}`")));
        }
        check_reason(reason)?;
        if let Some(idem) = &idem
            && let Some(body) = replay(self.db.store(), idem)?
        {
            return Ok(body);
        }
        let key = marker_key(exam, center);
        let marker = match cancelled::get(self.db.store(), &key)? {
            // A re-run finishes what was decided, with the reason given then.
            Some((existing, _)) => existing,
            None => {
                let fresh = Cancellation {
                    exam: exam.to_owned(),
                    center: center.map(str::to_owned),
                    reason: reason.trim().to_owned(),
                    by: by.to_owned(),
                    started_at_ms: self.db.clock().now_ms(),
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
                match self.db.commit(txn, event).await {
                    Ok(()) => fresh,
                    // Another administrator decided it a moment earlier: finish theirs.
                    Err(CommitError::Precondition(_)) => cancelled::get(self.db.store(), &key)?
                        .map(|(c, _)| c)
                        .ok_or_else(|| RegistrationError::Internal("a cancellation vanished".into()))?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let me = Arc::clone(self);
        tokio::spawn(async move { me.run(marker, idem).await })
            .await
            .map_err(|e| RegistrationError::Internal(format!("cancellation task: {e}")))?
    }

    /// Finishes every cancellation whose marker never finished (a crash or a stop in the middle);
    /// the server runs it once at start-up. Returns how many it finished.
    pub async fn resume(&self) -> Result<usize, RegistrationError> {
        let store = self.db.shared_store();
        let markers = tokio::task::spawn_blocking(move || store.scan_prefix(Tree::Cancellations, b""))
            .await
            .map_err(|e| RegistrationError::Internal(e.to_string()))??;
        let mut finished = 0;
        for (_, raw) in markers {
            let marker: Cancellation = decode(Tree::Cancellations, &raw)?;
            if marker.finished_at_ms.is_none() {
                self.run(marker, None).await?;
                finished += 1;
            }
        }
        Ok(finished)
    }

    /// Moves every registration in the marker's scope that holds seats to `cancelled`, then marks
    /// the marker finished (with the idempotent answer, when there is a key).
    async fn run(
        &self,
        marker: Cancellation,
        idem: Option<Idempotency>,
    ) -> Result<CancellationAnswer, RegistrationError> {
        let mut progress = self.cancel_in_scope(&marker).await?;
        progress.refunds_due = self.refunds_due_in(&marker).await?;
        self.finish(marker, progress, idem).await
    }

    /// Runs the cancel action on every registration in the marker's scope; what it found.
    async fn cancel_in_scope(
        &self,
        marker: &Cancellation,
    ) -> Result<CancellationProgress, RegistrationError> {
        let store = self.db.shared_store();
        let records = tokio::task::spawn_blocking(move || store.scan_prefix(Tree::Registrations, b""))
            .await
            .map_err(|e| RegistrationError::Internal(e.to_string()))??;
        let actor = Actor::Operator(marker.by.clone());
        let mut p = CancellationProgress {
            in_scope: 0,
            cancelled_now: 0,
            already_cancelled: 0,
            untouched: 0,
            refunds_due: 0,
        };
        for (key, raw) in records {
            let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else { continue };
            let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
            if !covers(marker, &record) {
                continue;
            }
            p.in_scope += 1;
            let id = DocumentId::from_bytes(bytes);
            let live = self.hub.open(id, &record.account, &record.exam).await?;
            let action = Action::Cancel { reason: marker.reason.clone() };
            if self.act(&live, actor.clone(), None, action).await?.is_some() {
                p.cancelled_now += 1;
            } else {
                // Nothing was due: already cancelled (its projection repaired by `act`), or it holds
                // nothing.
                match load_record(self.db.store(), &id)?.map(|(r, _)| r) {
                    Some(r) if r.section.status == Status::Cancelled => p.already_cancelled += 1,
                    _ => p.untouched += 1,
                }
            }
        }
        Ok(p)
    }

    /// Cancelled registrations in the marker's scope with a refund due, counted from the records
    /// so that a re-run reports the same total.
    async fn refunds_due_in(&self, marker: &Cancellation) -> Result<u64, RegistrationError> {
        let store = self.db.shared_store();
        let scope = marker.clone();
        tokio::task::spawn_blocking(move || -> Result<u64, StorageError> {
            let mut n = 0;
            for (_, raw) in store.scan_prefix(Tree::Registrations, b"")? {
                let r: RegistrationRecord = decode(Tree::Registrations, &raw)?;
                if covers(&scope, &r) && r.section.status == Status::Cancelled && r.refund_due {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
        .map_err(|e| RegistrationError::Internal(e.to_string()))?
        .map_err(RegistrationError::from)
    }

    /// Marks the marker finished with `p`, storing the answer under `idem` when there is one.
    async fn finish(
        &self,
        marker: Cancellation,
        p: CancellationProgress,
        idem: Option<Idempotency>,
    ) -> Result<CancellationAnswer, RegistrationError> {
        let key = marker_key(&marker.exam, marker.center.as_deref());
        let done = Cancellation {
            finished_at_ms: Some(self.db.clock().now_ms()),
            registrations_cancelled: p.cancelled_now + p.already_cancelled,
            refunds_due: p.refunds_due,
            ..marker
        };
        let body = CancellationAnswer {
            exam: done.exam.clone(),
            center: done.center.clone(),
            reason: done.reason.clone(),
            started_at_ms: done.started_at_ms,
            finished_at_ms: done.finished_at_ms.unwrap_or_default(),
            status: CancellationStatus::Finished,
            registrations_cancelled: done.registrations_cancelled,
            refunds_due: done.refunds_due,
            progress: p,
        };
        let mut txn = Txn::new();
        txn.put(Tree::Cancellations, key, encode(&done));
        let idem_check = idem.as_ref().map(|idem| stage_answer(&mut txn, idem, &body));
        let event = AuditEvent::new(Actor::Operator(done.by.clone()), "cancel.finished", done.scope())
            .with(json!({ "progress": p }));
        match self.db.commit(txn, event).await {
            Ok(()) => Ok(body),
            // The same key finished concurrently: its answer stands.
            Err(CommitError::Precondition(i)) if Some(i) == idem_check => match &idem {
                Some(idem) => replay(self.db.store(), idem)?.ok_or(RegistrationError::Busy),
                None => Err(RegistrationError::Busy),
            },
            Err(e) => Err(e.into()),
        }
    }
}
