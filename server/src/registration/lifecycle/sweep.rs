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
    pub async fn sweep(&self, full: bool) -> Result<usize, RegistrationError> {
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
