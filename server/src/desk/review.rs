//! The operator's review queue: the registrations of one center, filtered by status and by a
//! search on the candidate's name or the registration id, in a stable order, paged.
//!
//! Order: the time the registration entered its current status (`updated_at_ms` of its server
//! section — for `under_review` that is when the candidate applied, for `submitted` when it was
//! submitted), then the registration (document) id. The cursor names the last item of a page,
//! so a page boundary does not move when earlier registrations leave the filter; `offset` is
//! offered for simple tables.
//!
//! Each item carries the registration view, the candidate's answers as stored in the document
//! (form fields, center, subjects), the photo reference with its blob URL, and the photo check
//! report. The report is **recomputed on demand** from the stored JPEG with the exam's current
//! photo rules instead of being stored at upload: an upload may have named no exam (default
//! rules), the rules may change with a catalog import, and blobs uploaded before this module
//! existed have no stored report. Checks share the upload's concurrency limit
//! ([`crate::registration::Registrations::check_photo`]) and a page holds at most [`MAX_LIMIT`] items.

use baoming_core::catalog::ExamSession;
use baoming_core::document::DocumentId;
use baoming_core::draft::Draft;
use baoming_core::form::FieldRole;
use baoming_core::lifecycle::Status;
use serde_json::{Value, json};

use super::{Desk, DeskError};
use crate::identity::operators::Operator;
use crate::refusal::{Refusal, RefusalKind};
use crate::registration::Registrations;
use crate::registration::record::{RegistrationRecord, records_at, view};

/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 20;
/// Most items per page.
pub const MAX_LIMIT: usize = 100;
/// Longest search text, in characters.
pub const MAX_Q: usize = 64;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Skip this many matching items.
    Offset(usize),
    /// After the item with this sort key (from a cursor).
    After(i64, String),
}

/// A parsed queue request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    /// Statuses to include.
    pub statuses: Vec<Status>,
    /// Search text: a substring of the name (case-insensitive) or a prefix of the registration id.
    pub q: Option<String>,
    /// Page size.
    pub limit: usize,
    /// Page start.
    pub start: Start,
}

fn bad(code: &'static str, message: impl Into<String>, parameter: &str) -> Refusal {
    Refusal::new(RefusalKind::BadRequest, code, message).with(json!({ "parameter": parameter }))
}

fn encode_cursor(ms: i64, id: &str) -> String {
    hex::encode(format!("{ms}:{id}"))
}

fn decode_cursor(text: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(hex::decode(text).ok()?).ok()?;
    let (ms, id) = raw.split_once(':')?;
    let id = id.parse::<DocumentId>().ok()?.to_string();
    Some((ms.parse().ok()?, id))
}

/// Parses the query pairs: `status` (repeated or comma-separated; default `under_review`),
/// `q`, `limit` (1–100, default 20), and one of `cursor` or `offset`. Unknown or repeated
/// parameters are refused with a typed 400.
pub fn parse_query(pairs: &[(String, String)]) -> Result<QueueQuery, Refusal> {
    let mut statuses = Vec::new();
    let (mut q, mut limit, mut cursor, mut offset) = (None, None, None, None);
    for (k, v) in pairs {
        let once = |slot: &Option<String>| {
            if slot.is_some() {
                Err(bad("parameter_repeated", format!("`{k}` may be given once"), k))
            } else {
                Ok(Some(v.clone()))
            }
        };
        match k.as_str() {
            "status" => {
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let st: Status = s.parse().map_err(|_| {
                        Refusal::new(
                            RefusalKind::BadRequest,
                            "status_invalid",
                            format!("unknown status `{s}`"),
                        )
                        .with(json!({ "parameter": "status",
                                    "allowed": Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() }))
                    })?;
                    if !statuses.contains(&st) {
                        statuses.push(st);
                    }
                }
            }
            "q" => q = once(&q)?,
            "limit" => limit = once(&limit)?,
            "cursor" => cursor = once(&cursor)?,
            "offset" => offset = once(&offset)?,
            other => {
                return Err(bad(
                    "parameter_unknown",
                    format!("unknown parameter `{other}` (status, q, limit, cursor, offset)"),
                    other,
                ));
            }
        }
    }
    if statuses.is_empty() {
        statuses.push(Status::UnderReview);
    }
    let q = q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if q.as_ref().is_some_and(|s| s.chars().count() > MAX_Q || s.chars().any(char::is_control)) {
        return Err(bad("q_invalid", format!("`q` has at most {MAX_Q} characters"), "q"));
    }
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(l) => l.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            bad("limit_invalid", format!("`limit` is a number from 1 to {MAX_LIMIT}"), "limit")
        })?,
    };
    let start = match (cursor, offset) {
        (Some(_), Some(_)) => {
            return Err(bad("paging_conflict", "give `cursor` or `offset`, not both", "cursor"));
        }
        (Some(c), None) => {
            let (ms, id) = decode_cursor(&c)
                .ok_or_else(|| bad("cursor_invalid", "the cursor is not one this server issued", "cursor"))?;
            Start::After(ms, id)
        }
        (None, Some(o)) => Start::Offset(
            o.parse().map_err(|_| bad("offset_invalid", "`offset` is a non-negative number", "offset"))?,
        ),
        (None, None) => Start::Offset(0),
    };
    Ok(QueueQuery { statuses, q, limit, start })
}

/// The candidate's name in `draft` (the field with the name role).
pub fn name_of<'a>(exam: &ExamSession, draft: &'a Draft) -> Option<&'a str> {
    exam.field_with_role(FieldRole::Name).and_then(|f| draft.fields.get(&f.key)).map(String::as_str)
}

/// The photo of `draft`: reference, blob URL and the check report against the exam's rules
/// (`null` report when the blob is not stored).
pub async fn photo_json(regs: &Registrations, exam: &ExamSession, draft: &Draft) -> Result<Value, DeskError> {
    let Some(photo) = &draft.photo else { return Ok(Value::Null) };
    let report = match crate::registration::blobs::parse_digest(&photo.sha256) {
        None => None,
        Some(digest) => regs.check_stored_photo(digest, exam.photo.clone()).await?,
    };
    Ok(json!({
        "sha256": photo.sha256,
        "url": format!("/api/blobs/{}", photo.sha256.to_ascii_lowercase()),
        "bytes": photo.bytes,
        "width": photo.width,
        "height": photo.height,
        "stored": report.is_some(),
        "passed": report.as_ref().map(baoming_core::photo::PhotoReport::passed),
        "report": report,
    }))
}

/// The answers of `draft` as an item shows them.
pub fn answers_json(draft: Option<&Draft>) -> Value {
    match draft {
        Some(d) => json!({ "fields": d.fields, "center": d.center, "subjects": d.subjects }),
        None => Value::Null,
    }
}

impl Desk {
    /// One page of the queue of `center` in `exam`.
    pub async fn queue(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        query: &QueueQuery,
    ) -> Result<Value, DeskError> {
        let view_ = self.scope(op, exam, Some(center))?;
        let exam = view_.session(exam)?;
        let store = self.db.shared_store();
        let (exam_id, center_id) = (exam.id.clone(), center.to_owned());
        let mut records = tokio::task::spawn_blocking(move || records_at(&*store, &exam_id, &center_id))
            .await
            .map_err(crate::registration::RegistrationError::internal)??;
        records.retain(|(_, r)| query.statuses.contains(&r.section.status));
        let mut rows: Vec<(i64, String, DocumentId, RegistrationRecord, Option<Draft>)> = records
            .into_iter()
            .map(|(id, r)| (r.section.updated_at_ms, id.to_string(), id, r, None))
            .collect();
        rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        if let Some(q) = &query.q {
            let needle = q.to_lowercase();
            let mut kept = Vec::new();
            for mut row in rows {
                let draft = self.regs.draft_of(&row.2).await?;
                let by_name = draft
                    .as_ref()
                    .and_then(|d| name_of(exam, d))
                    .is_some_and(|n| n.to_lowercase().contains(&needle));
                if by_name || row.1.starts_with(q.as_str()) {
                    row.4 = draft;
                    kept.push(row);
                }
            }
            rows = kept;
        }
        let total = rows.len();
        let skip = match &query.start {
            Start::Offset(n) => (*n).min(total),
            Start::After(ms, id) => rows.iter().take_while(|r| (r.0, &r.1) <= (*ms, id)).count(),
        };
        let more = total > skip + query.limit;
        let mut items = Vec::new();
        for (ms, id_text, id, record, draft) in rows.into_iter().skip(skip).take(query.limit) {
            let draft = match draft {
                Some(d) => Some(d),
                None => self.regs.draft_of(&id).await?,
            };
            let mut registration = view(&id, &exam.id, Some(&record));
            registration["center"] = json!(record.center);
            registration["subjects"] = json!(record.subjects);
            let photo = match &draft {
                Some(d) => photo_json(&self.regs, exam, d).await?,
                None => Value::Null,
            };
            items.push(json!({
                "registration_id": id_text,
                "queued_at_ms": ms,
                "name": draft.as_ref().and_then(|d| name_of(exam, d)),
                "registration": registration,
                "reason": record.section.reason,
                "reason_paths": record.section.reason_paths,
                "answers": answers_json(draft.as_ref()),
                "photo": photo,
            }));
        }
        let next_cursor = more
            .then(|| {
                items.last().and_then(|i| {
                    Some(encode_cursor(i["queued_at_ms"].as_i64()?, i["registration_id"].as_str()?))
                })
            })
            .flatten();
        Ok(json!({
            "exam": exam.id,
            "center": center,
            "statuses": query.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "total": total,
            "limit": query.limit,
            "items": items,
            "next_cursor": next_cursor,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn queries_parse_with_defaults_and_typed_refusals() {
        let q = parse_query(&[]).expect("defaults");
        assert_eq!(
            (q.statuses, q.limit, q.start, q.q),
            (vec![Status::UnderReview], 20, Start::Offset(0), None)
        );
        let q = parse_query(&pairs(&[
            ("status", "rejected,submitted"),
            ("status", "rejected"),
            ("limit", "100"),
        ]))
        .expect("parse");
        assert_eq!(q.statuses, vec![Status::Rejected, Status::Submitted]);
        assert_eq!(q.limit, 100);
        let id = DocumentId::derive("e", "a").to_string();
        let q = parse_query(&pairs(&[("cursor", &encode_cursor(42, &id))])).expect("cursor");
        assert_eq!(q.start, Start::After(42, id));
        let code = |p: &[(&str, &str)]| {
            parse_query(&pairs(p)).err().map(|e| (e.kind == RefusalKind::BadRequest, e.code))
        };
        assert_eq!(code(&[("status", "paid,nope")]), Some((true, "status_invalid")));
        assert_eq!(code(&[("limit", "0")]), Some((true, "limit_invalid")));
        assert_eq!(code(&[("limit", "101")]), Some((true, "limit_invalid")));
        assert_eq!(code(&[("offset", "-1")]), Some((true, "offset_invalid")));
        assert_eq!(code(&[("cursor", "zz")]), Some((true, "cursor_invalid")));
        assert_eq!(code(&[("cursor", &hex::encode("1:not-an-id"))]), Some((true, "cursor_invalid")));
        assert_eq!(code(&[("cursor", "00"), ("offset", "1")]), Some((true, "paging_conflict")));
        assert_eq!(code(&[("q", "a"), ("q", "b")]), Some((true, "parameter_repeated")));
        assert_eq!(code(&[("sort", "name")]), Some((true, "parameter_unknown")));
        assert_eq!(code(&[("q", &"x".repeat(65))]), Some((true, "q_invalid")));
    }
}
