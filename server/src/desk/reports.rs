//! Operator reports: per-center statistics of an exam, and the roster of a center as CSV.
//!
//! **Stats** come from the live seat counters (capacity, held, paid, free per center and per
//! subject) and from the registration records (count per status; payments so far = the
//! registrations in `paid` or `confirmed` and the sum of their fees in fen).
//!
//! **Roster** is RFC 4180 CSV in UTF-8 with a byte-order mark (so spreadsheet programs open the
//! Chinese text correctly), CRLF line ends, and fields quoted when they hold a comma, a quote or
//! a line break. The header names every column in Chinese and in English. The ID document is
//! shown in full to administrators and center operators (they check it at the desk on the day)
//! and masked (`110105********002X`: the birth date hidden) for auditors, who read for oversight only. A cell that a
//! spreadsheet would take as a formula (starting with `=`, `+`, `-`, `@`) is prefixed with `'`.

use std::collections::BTreeMap;

use baoming_core::api::catalog::CenterSeats;
use baoming_core::api::desk::{CenterStats, ExamStats, PaymentTotals, SeatTotals, StatsTotals};
use baoming_core::catalog::ExamSession;
use baoming_core::document::DocumentId;
use baoming_core::form::{FieldRole, decode_id_document};
use baoming_core::id_document::IdDocument;
use baoming_core::lifecycle::Status;
use serde_json::json;

use super::review::name_of;
use super::{Desk, DeskError};
use crate::catalog::availability;
use crate::identity::operators::{Operator, Role, can_see};
use crate::registration::RegistrationError;
use crate::registration::record::{RegistrationRecord, records_at, records_where};
use crate::store::Txn;
use crate::store::audit::{Actor, AuditEvent};

/// Whether a status counts as paid.
fn is_paid(s: Status) -> bool {
    matches!(s, Status::Paid | Status::Confirmed)
}

fn status_counts() -> BTreeMap<Status, u64> {
    Status::ALL.iter().map(|s| (*s, 0)).collect()
}

/// Seats and registrations of one center, as the statistics count them.
fn center_stats(
    exam: &ExamSession,
    seat: &CenterSeats,
    records: &[(DocumentId, RegistrationRecord)],
    totals: &mut StatsTotals,
) -> CenterStats {
    let mut statuses = status_counts();
    let mut payments = PaymentTotals { paid_count: 0, paid_fen: 0 };
    for (_, r) in records {
        *statuses.entry(r.section.status).or_default() += 1;
        *totals.statuses.entry(r.section.status).or_default() += 1;
        if is_paid(r.section.status) {
            payments.paid_count += 1;
            payments.paid_fen += r.section.amount_fen.unwrap_or(0);
        }
    }
    totals.registrations += records.len() as u64;
    totals.payments.paid_count += payments.paid_count;
    totals.payments.paid_fen += payments.paid_fen;
    CenterStats {
        center: seat.center.clone(),
        name: exam.center(&seat.center).map(|c| c.name.clone()).unwrap_or_default(),
        seats: SeatTotals {
            capacity: seat.total_capacity,
            held: seat.held,
            paid: seat.paid,
            free: seat.free,
        },
        subjects: seat.subjects.clone(),
        statuses,
        registrations: records.len() as u64,
        payments,
    }
}

impl Desk {
    /// Statistics of `exam` for the centers the operator may see.
    pub async fn stats(&self, op: &Operator, exam: &str) -> Result<ExamStats, DeskError> {
        let view = self.scope(op, exam, None)?;
        let exam = view.session(exam)?;
        let centers: Vec<String> =
            exam.centers.iter().map(|c| c.id.clone()).filter(|c| can_see(op, c)).collect();
        let (store, v, exam_id) = (self.db.shared_store(), std::sync::Arc::clone(&view), exam.id.clone());
        let wanted = centers.clone();
        let (seats, records) = tokio::task::spawn_blocking(move || {
            let seats = availability(&*store, &v, &exam_id, None)?.unwrap_or_default();
            let all = records_where(&*store, &exam_id, |c| wanted.iter().any(|w| w == c))?;
            let records: Vec<Vec<_>> = wanted
                .iter()
                .map(|w| all.iter().filter(|(_, r)| &r.center == w).cloned().collect())
                .collect();
            Ok::<_, crate::store::StorageError>((seats, records))
        })
        .await
        .map_err(RegistrationError::internal)??;
        let mut totals = StatsTotals {
            statuses: status_counts(),
            registrations: 0,
            payments: PaymentTotals { paid_count: 0, paid_fen: 0 },
        };
        let mut out = Vec::new();
        for (center, records) in centers.iter().zip(records) {
            if let Some(seat) = seats.iter().find(|s| &s.center == center) {
                out.push(center_stats(exam, seat, &records, &mut totals));
            }
        }
        Ok(ExamStats { exam: exam.id.clone(), centers: out, totals })
    }
}

/// One CSV cell, quoted per RFC 4180 when needed, formula-looking text neutralised.
pub fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// One CSV record with its CRLF.
pub fn csv_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells.iter().map(|c| csv_cell(c.as_ref())).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// The roster header.
pub const ROSTER_HEADER: [&str; 11] = [
    "报名号 registration_id",
    "姓名 name",
    "证件类型 id_type",
    "证件号码 id_number",
    "状态 status",
    "状态说明 status_zh",
    "科目 subjects",
    "费用(分) fee_fen",
    "缴费截止 payment_deadline",
    "审核意见 review_reason",
    "更新时间 updated_at",
];

fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

impl Desk {
    /// The roster of `center` as CSV: the UTF-8 BOM, the header and one row per registration, by
    /// registration id. ID numbers are in full for administrators and center operators (checked at
    /// the desk) and masked for auditors. The read is audited as `roster.read`.
    pub async fn roster_csv(&self, op: &Operator, exam: &str, center: &str) -> Result<Vec<u8>, DeskError> {
        let view = self.scope(op, exam, Some(center))?;
        let exam = view.session(exam)?;
        let masked = op.role == Role::Auditor;
        let (store, exam_id, center_id) = (self.db.shared_store(), exam.id.clone(), center.to_owned());
        let mut records = tokio::task::spawn_blocking(move || records_at(&*store, &exam_id, &center_id))
            .await
            .map_err(RegistrationError::internal)??;
        let mut rows: Vec<(String, _, _)> =
            records.drain(..).map(|(id, r)| (id.to_string(), id, r)).collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let id_field = exam.field_with_role(FieldRole::IdDocument);
        let mut out = "\u{feff}".to_owned();
        out.push_str(&csv_row(&ROSTER_HEADER));
        for (id_text, id, r) in &rows {
            let draft = self.regs.draft_of(id).await?;
            let name = draft.as_ref().and_then(|d| name_of(exam, d)).unwrap_or_default().to_owned();
            let answer = id_field.and_then(|f| draft.as_ref()?.fields.get(&f.key).cloned());
            let (kind, number) = match answer.as_deref().and_then(decode_id_document) {
                Some((kind, number)) => {
                    let shown = if masked {
                        IdDocument::parse(kind, number).map(|d| d.masked()).unwrap_or_else(|_| "****".into())
                    } else {
                        number.to_owned()
                    };
                    (kind.label_zh().to_owned(), shown)
                }
                None => (String::new(), String::new()),
            };
            let s = &r.section;
            out.push_str(&csv_row(&[
                id_text.clone(),
                name,
                kind,
                number,
                s.status.as_str().to_owned(),
                s.status.label_zh().to_owned(),
                r.subjects.join(" "),
                s.amount_fen.map(|f| f.to_string()).unwrap_or_default(),
                s.deadline_ms.map(rfc3339_ms).unwrap_or_default(),
                s.reason.clone().unwrap_or_default(),
                rfc3339_ms(s.updated_at_ms),
            ]));
        }
        let event =
            AuditEvent::new(Actor::Operator(op.id.clone()), "roster.read", format!("{}/{center}", exam.id))
                .with(json!({ "rows": rows.len(), "id_numbers": if masked { "masked" } else { "full" } }));
        self.db.commit(Txn::new(), event).await?;
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_per_rfc_4180() {
        assert_eq!(csv_cell("张三"), "张三");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("-1,2"), "\"'-1,2\"");
        assert_eq!(csv_row(&["a", "b,c", ""]), "a,\"b,c\",\r\n");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
    }
}
