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

use baoming_core::api::desk::{ReviewAnswers, ReviewItem, ReviewPage, ReviewPhoto};
use baoming_core::api::paths;
use baoming_core::catalog::ExamSession;
use baoming_core::document::DocumentId;
use baoming_core::draft::Draft;
use baoming_core::form::FieldRole;
use baoming_core::lifecycle::Status;

use super::{Desk, DeskError};
use crate::identity::operators::Operator;
use crate::registration::Registrations;
use crate::registration::record::{RegistrationRecord, at_center, records_at};

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

/// The cursor naming the item with sort key (`ms`, `id`).
pub fn encode_cursor(ms: i64, id: &str) -> String {
    hex::encode(format!("{ms}:{id}"))
}

/// The sort key a cursor of this server names, if it is one.
pub fn decode_cursor(text: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(hex::decode(text).ok()?).ok()?;
    let (ms, id) = raw.split_once(':')?;
    let id = id.parse::<DocumentId>().ok()?.to_string();
    Some((ms.parse().ok()?, id))
}

/// The candidate's name in `draft` (the field with the name role).
pub fn name_of<'a>(exam: &ExamSession, draft: &'a Draft) -> Option<&'a str> {
    exam.field_with_role(FieldRole::Name).and_then(|f| draft.fields.get(&f.key)).map(String::as_str)
}

/// The photo of `draft`: reference, blob URL and the check report against the exam's rules
/// (`null` report when the blob is not stored).
pub async fn photo_of(
    regs: &Registrations,
    exam: &ExamSession,
    draft: &Draft,
) -> Result<Option<ReviewPhoto>, DeskError> {
    let Some(photo) = &draft.photo else { return Ok(None) };
    let report = match crate::registration::blobs::parse_digest(&photo.sha256) {
        None => None,
        Some(digest) => regs.check_stored_photo(digest, exam.photo.clone()).await?,
    };
    Ok(Some(ReviewPhoto {
        sha256: photo.sha256.clone(),
        url: paths::blob(&photo.sha256.to_ascii_lowercase()),
        bytes: photo.bytes,
        width: photo.width,
        height: photo.height,
        stored: report.is_some(),
        passed: report.as_ref().map(baoming_core::photo::PhotoReport::passed),
        report,
    }))
}

/// The answers of `draft` as an item shows them.
pub fn answers_of(draft: Option<&Draft>) -> Option<ReviewAnswers> {
    draft.map(|d| ReviewAnswers {
        fields: d.fields.clone(),
        center: d.center.clone(),
        subjects: d.subjects.clone(),
    })
}

impl Desk {
    /// One page of the queue of `center` in `exam`.
    pub async fn queue(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        query: &QueueQuery,
    ) -> Result<ReviewPage, DeskError> {
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
            let photo = match &draft {
                Some(d) => photo_of(&self.regs, exam, d).await?,
                None => None,
            };
            items.push(ReviewItem {
                registration_id: id_text,
                queued_at_ms: ms,
                name: draft.as_ref().and_then(|d| name_of(exam, d)).map(str::to_owned),
                registration: at_center(&id, &exam.id, &record),
                reason: record.section.reason.clone(),
                reason_paths: record.section.reason_paths.clone(),
                answers: answers_of(draft.as_ref()),
                photo,
            });
        }
        let next_cursor =
            if more { items.last().map(|i| encode_cursor(i.queued_at_ms, &i.registration_id)) } else { None };
        Ok(ReviewPage {
            exam: exam.id.clone(),
            center: center.to_owned(),
            statuses: query.statuses.clone(),
            total: total as u64,
            limit: query.limit as u64,
            items,
            next_cursor,
        })
    }
}
