//! The audit log as administrators and auditors read it, and the chain's online verification.

use baoming_core::api::catalog::CenterSeats;
use baoming_core::api::operator::{AuditVerification, OperatorCenter};

use super::{Desk, DeskError};
use crate::identity::operators::{Operator, Permission, authorize};
use crate::registration::RegistrationError;
use crate::store::audit::{self, AuditEntry, VerifyError};

impl Desk {
    /// At most `limit` (1–1000) audit entries from sequence number `from` (≥ 1).
    pub fn audit_log(&self, op: &Operator, from: u64, limit: usize) -> Result<Vec<AuditEntry>, DeskError> {
        authorize(op, Permission::ReadAudit)?;
        Ok(audit::read(self.db.store(), from.max(1), limit.clamp(1, 1000))?)
    }

    /// Verifies the whole chain: `{intact, entries}` or `{intact: false, broken_at, reason}`.
    pub async fn verify_audit(&self, op: &Operator) -> Result<AuditVerification, DeskError> {
        authorize(op, Permission::ReadAudit)?;
        let store = self.db.shared_store();
        let result = tokio::task::spawn_blocking(move || audit::verify(&*store))
            .await
            .map_err(RegistrationError::internal)?;
        match result {
            Ok(entries) => Ok(AuditVerification::intact(entries)),
            Err(VerifyError::Broken(b)) => Ok(AuditVerification::broken(b.at, b.reason)),
            Err(VerifyError::Storage(e)) => Err(e.into()),
        }
    }

    /// The centers `op` may see, per exam.
    pub fn centers(&self, op: &Operator) -> Vec<OperatorCenter> {
        let mut out = Vec::new();
        if let Some(v) = self.regs.catalogs().current() {
            for exam in &v.catalog.exams {
                for c in exam.centers.iter().filter(|c| crate::identity::operators::can_see(op, &c.id)) {
                    out.push(OperatorCenter {
                        exam: exam.id.clone(),
                        center: c.id.clone(),
                        name: c.name.clone(),
                    });
                }
            }
        }
        out
    }

    /// The seat counters of `center` (403 outside the operator's scope).
    pub fn seats(&self, op: &Operator, exam: &str, center: &str) -> Result<CenterSeats, DeskError> {
        authorize(op, Permission::ReadCenter(center))?;
        self.regs
            .catalogs()
            .availability(exam, Some(center))?
            .into_iter()
            .next()
            .ok_or_else(|| super::not_found(format!("no center `{center}`")))
    }
}
