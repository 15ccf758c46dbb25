//! The sweeper: expires every hold whose payment deadline passed, after the payment platform had
//! its say, and at start-up repairs every projection a crash left behind.

use baoming_core::document::DocumentId;

use super::Action;
use crate::registration::record::RegistrationRecord;
use crate::registration::{RegistrationError, Registrations};
use crate::store::audit::Actor;
use crate::store::{Tree, decode};

impl Registrations {
    /// Expires every hold whose payment deadline passed; with `full`, first repairs every
    /// record's projection (crash recovery at start-up). Returns how many holds expired.
    /// Idempotent: each expiry re-checks status and deadline under the document's action lock.
    /// One sweep runs at a time.
    pub async fn sweep(&self, full: bool) -> Result<usize, RegistrationError> {
        let _sweeping = self.sweeping.lock().await;
        self.sweep_now(full).await
    }

    /// Moves the clock with `advance` (the test clock; `None` when the clock cannot move) and
    /// sweeps at the new time, holding off the background sweeper from before the move to the
    /// end of the sweep: every hold the move made due is expired by this sweep and counted in
    /// its answer, never half by a background pass that happened to run at the same moment.
    pub async fn advance_and_sweep(
        &self,
        advance: impl FnOnce() -> Option<i64>,
        sweep: bool,
    ) -> Result<Option<(i64, usize)>, RegistrationError> {
        let _sweeping = self.sweeping.lock().await;
        let Some(now_ms) = advance() else { return Ok(None) };
        let expired = if sweep { self.sweep_now(false).await? } else { 0 };
        Ok(Some((now_ms, expired)))
    }

    async fn sweep_now(&self, full: bool) -> Result<usize, RegistrationError> {
        let now = self.db.clock().now_ms();
        let store = self.db.shared_store();
        let records = tokio::task::spawn_blocking(move || store.scan_prefix(Tree::Registrations, b""))
            .await
            .map_err(RegistrationError::internal)??;
        let mut expired = 0;
        for (key, raw) in records {
            let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else { continue };
            let id = DocumentId::from_bytes(bytes);
            let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
            let due = record.section.deadline_ms.is_some_and(|d| d <= now);
            if !due && !full {
                continue;
            }
            let live = self.hub.open(id, &record.account, &record.exam).await?;
            if !due {
                let _guard = live.action_lock().await;
                self.reconcile(&live, Actor::System).await?;
                continue;
            }
            // Paying and expiring race safely: the payment platform closes the trade first, and
            // a payment found now is applied instead of the expiry.
            if let Some(payments) = self.payment_hook() {
                payments.before_expiry(&record).await?;
            }
            if self.act(&live, Actor::System, None, Action::Expire).await?.is_some() {
                expired += 1;
            }
        }
        Ok(expired)
    }
}
