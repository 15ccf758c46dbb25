//! Test-center notices: what a center publishes to its candidates, each with a time window.
//!
//! A notice is published as soon as it is created; candidates see it while its window is open
//! (`opens` ≤ now < `closes`). A notice with `requires_onsite_confirmation` also opens an on-site
//! confirmation window at its center (see [`crate::desk::onsite`]); it is accepted only at centers whose
//! catalog entry requires on-site confirmation, because the catalog decides the lifecycle policy.
//!
//! Notices live in the `notices` tree under `exam ‖ 0 ‖ center ‖ 0 ‖ id`, so a center's notices
//! are one prefix scan. Every change is audited with the operator as actor.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use warp::http::StatusCode;

use crate::app::App;
use crate::error::ApiError;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::random_array;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 100;
/// Longest body, in characters.
pub const MAX_BODY: usize = 5000;
/// Longest window.
pub const MAX_WINDOW: time::Duration = time::Duration::days(366);
/// Most notices one center keeps.
pub const MAX_PER_CENTER: usize = 200;

/// A stored notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `nt_` + 64 random bits in hex.
    pub id: String,
    /// The exam session.
    pub exam: String,
    /// The publishing center.
    pub center: String,
    /// Title.
    pub title: String,
    /// Text (Chinese), line breaks allowed.
    pub body: String,
    /// First instant the notice is shown.
    #[serde(with = "time::serde::rfc3339")]
    pub opens: OffsetDateTime,
    /// First instant it is no longer shown.
    #[serde(with = "time::serde::rfc3339")]
    pub closes: OffsetDateTime,
    /// Whether candidates must confirm on site within the window.
    pub requires_onsite_confirmation: bool,
    /// The operator who last wrote it.
    pub updated_by: String,
    /// Unix milliseconds of the last write.
    pub updated_at_ms: i64,
}

impl Notice {
    /// Whether the notice is shown at `at`.
    pub fn is_open(&self, at: OffsetDateTime) -> bool {
        self.opens <= at && at < self.closes
    }
}

/// What an operator writes (create and replace).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    /// Title, 1–[`MAX_TITLE`] characters.
    pub title: String,
    /// Body, 1–[`MAX_BODY`] characters.
    pub body: String,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub opens: OffsetDateTime,
    /// RFC 3339, after `opens`.
    #[serde(with = "time::serde::rfc3339")]
    pub closes: OffsetDateTime,
    /// Whether the window is an on-site confirmation window.
    #[serde(default)]
    pub requires_onsite_confirmation: bool,
}

fn prefix(exam: &str, center: &str) -> Vec<u8> {
    let mut k = exam.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(center.as_bytes());
    k.push(0);
    k
}

fn key(exam: &str, center: &str, id: &str) -> Vec<u8> {
    let mut k = prefix(exam, center);
    k.extend_from_slice(id.as_bytes());
    k
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Checks an operator's notice for center `center` of `exam` (its catalog entry `onsite_required`).
pub fn check(input: &NoticeInput, onsite_required: bool) -> Result<(), ApiError> {
    let text_ok = |s: &str, max: usize, newlines: bool| {
        let n = s.trim().chars().count();
        (1..=max).contains(&n)
            && !s.chars().any(|c| c.is_control() && !(newlines && (c == '\n' || c == '\r')))
    };
    if !text_ok(&input.title, MAX_TITLE, false) {
        return Err(ApiError::invalid(
            "title_invalid",
            format!("a title has 1–{MAX_TITLE} characters and no control characters"),
        ));
    }
    if !text_ok(&input.body, MAX_BODY, true) {
        return Err(ApiError::invalid(
            "body_invalid",
            format!(
                "a body has 1–{MAX_BODY} characters; line breaks are the only control characters allowed"
            ),
        ));
    }
    if input.opens >= input.closes || input.closes - input.opens > MAX_WINDOW {
        return Err(ApiError::invalid(
            "window_invalid",
            "`opens` must come before `closes`, and a window lasts at most 366 days",
        ));
    }
    if input.requires_onsite_confirmation && !onsite_required {
        return Err(ApiError::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "onsite_not_required",
            "this test center does not ask for on-site confirmation in the catalog",
            json!({}),
        ));
    }
    Ok(())
}

/// Every notice of `center` in `exam`, by opening time then id.
pub fn list(store: &dyn Storage, exam: &str, center: &str) -> Result<Vec<Notice>, StorageError> {
    let mut out: Vec<Notice> = store
        .scan_prefix(Tree::Notices, &prefix(exam, center))?
        .into_iter()
        .map(|(_, raw)| decode(Tree::Notices, &raw))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| (a.opens, &a.id).cmp(&(b.opens, &b.id)));
    Ok(out)
}

/// The notices of `center` in `exam` shown at `at`.
pub fn open_at(
    store: &dyn Storage,
    exam: &str,
    center: &str,
    at: OffsetDateTime,
) -> Result<Vec<Notice>, StorageError> {
    Ok(list(store, exam, center)?.into_iter().filter(|n| n.is_open(at)).collect())
}

/// One notice, with its raw bytes.
pub fn get(
    store: &dyn Storage,
    exam: &str,
    center: &str,
    id: &str,
) -> Result<Option<(Notice, Vec<u8>)>, StorageError> {
    match store.get(Tree::Notices, &key(exam, center, id))? {
        Some(raw) => Ok(Some((decode(Tree::Notices, &raw)?, raw))),
        None => Ok(None),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no notice `{id}` at this center"))
}

/// Publishes a notice (already [`check`]ed), durably and audited.
pub async fn create(
    app: &App,
    operator: &str,
    exam: &str,
    center: &str,
    input: NoticeInput,
) -> Result<Notice, ApiError> {
    if list(&*app.store, exam, center)?.len() >= MAX_PER_CENTER {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "too_many_notices",
            format!("a center keeps at most {MAX_PER_CENTER} notices; delete old ones first"),
            json!({}),
        ));
    }
    let notice = Notice {
        id: format!("nt_{}", hex::encode(random_array::<8>())),
        exam: exam.to_owned(),
        center: center.to_owned(),
        title: input.title.trim().to_owned(),
        body: input.body,
        opens: input.opens,
        closes: input.closes,
        requires_onsite_confirmation: input.requires_onsite_confirmation,
        updated_by: operator.to_owned(),
        updated_at_ms: now_ms(),
    };
    let mut txn = Txn::new();
    let k = key(exam, center, &notice.id);
    txn.require_absent(Tree::Notices, k.clone());
    txn.put(Tree::Notices, k, encode(&notice));
    app.commit(txn, audit_event(operator, "notice.create", &notice)).await?;
    Ok(notice)
}

/// Replaces notice `id`'s title, body, window and flag (already [`check`]ed).
pub async fn update(
    app: &App,
    operator: &str,
    exam: &str,
    center: &str,
    id: &str,
    input: NoticeInput,
) -> Result<Notice, ApiError> {
    let (old, raw) = get(&*app.store, exam, center, id)?.ok_or_else(|| not_found(id))?;
    let notice = Notice {
        title: input.title.trim().to_owned(),
        body: input.body,
        opens: input.opens,
        closes: input.closes,
        requires_onsite_confirmation: input.requires_onsite_confirmation,
        updated_by: operator.to_owned(),
        updated_at_ms: now_ms(),
        ..old
    };
    let mut txn = Txn::new();
    let k = key(exam, center, id);
    txn.require_equals(Tree::Notices, k.clone(), Some(raw));
    txn.put(Tree::Notices, k, encode(&notice));
    match app.commit(txn, audit_event(operator, "notice.update", &notice)).await {
        Ok(()) => Ok(notice),
        Err(CommitError::Precondition(_)) => Err(ApiError::refused(
            StatusCode::CONFLICT,
            "notice_changed",
            "the notice changed or was deleted meanwhile; read it again",
            json!({}),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Deletes notice `id`.
pub async fn delete(app: &App, operator: &str, exam: &str, center: &str, id: &str) -> Result<(), ApiError> {
    let (old, raw) = get(&*app.store, exam, center, id)?.ok_or_else(|| not_found(id))?;
    let mut txn = Txn::new();
    let k = key(exam, center, id);
    txn.require_equals(Tree::Notices, k.clone(), Some(raw));
    txn.delete(Tree::Notices, k);
    match app.commit(txn, audit_event(operator, "notice.delete", &old)).await {
        Ok(()) => Ok(()),
        Err(CommitError::Precondition(_)) => Err(not_found(id)),
        Err(e) => Err(e.into()),
    }
}

fn audit_event(operator: &str, action: &'static str, n: &Notice) -> AuditEvent {
    AuditEvent::new(Actor::Operator(operator.to_owned()), action, n.id.clone()).with(json!({
        "exam": n.exam, "center": n.center, "title": n.title,
        "opens": n.opens.unix_timestamp(), "closes": n.closes.unix_timestamp(),
        "requires_onsite_confirmation": n.requires_onsite_confirmation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(title: &str, body: &str, opens: i64, closes: i64, onsite: bool) -> NoticeInput {
        NoticeInput {
            title: title.into(),
            body: body.into(),
            opens: OffsetDateTime::from_unix_timestamp(opens).expect("time"),
            closes: OffsetDateTime::from_unix_timestamp(closes).expect("time"),
            requires_onsite_confirmation: onsite,
        }
    }

    #[test]
    fn notices_are_checked() {
        let code = |r: Result<(), ApiError>| r.err().map(|e| e.code());
        assert_eq!(code(check(&input("现场确认", "请携带身份证。\n地点：一楼", 0, 60, true), true)), None);
        assert_eq!(code(check(&input(" ", "x", 0, 60, false), false)), Some("title_invalid"));
        assert_eq!(code(check(&input("a\tb", "x", 0, 60, false), false)), Some("title_invalid"));
        assert_eq!(code(check(&input(&"题".repeat(101), "x", 0, 60, false), false)), Some("title_invalid"));
        assert_eq!(code(check(&input("t", "", 0, 60, false), false)), Some("body_invalid"));
        assert_eq!(code(check(&input("t", "a\u{7}", 0, 60, false), false)), Some("body_invalid"));
        assert_eq!(code(check(&input("t", "x", 60, 60, false), false)), Some("window_invalid"));
        assert_eq!(code(check(&input("t", "x", 0, 400 * 86_400, false), false)), Some("window_invalid"));
        assert_eq!(code(check(&input("t", "x", 0, 60, true), false)), Some("onsite_not_required"));
    }
}
