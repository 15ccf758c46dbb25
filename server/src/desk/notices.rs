//! Test-center notices: what a center publishes to its candidates, each with a time window.
//!
//! A notice is published as soon as it is created; candidates see it while its window is open
//! (`opens` ≤ now < `closes`). A notice with `requires_onsite_confirmation` also opens an on-site
//! confirmation window at its center (see [`crate::desk::onsite`]); it is accepted only at centers whose
//! catalog entry requires on-site confirmation, because the catalog decides the lifecycle policy.
//!
//! Notices live in the `notices` tree under `exam ‖ 0 ‖ center ‖ 0 ‖ id`, so a center's notices
//! are one prefix scan. Every change is audited with the operator as actor.

use baoming_core::api::desk::{NoticeRequest, OperatorNotice};
use baoming_core::api::documents::{CandidateNotices, Notice as PublicNotice};
use baoming_core::api::error::ErrorCode;
use serde_json::json;
use time::OffsetDateTime;

use super::{Desk, DeskError, not_found as desk_not_found};
use crate::identity::operators::{Operator, Permission, authorize};
use crate::refusal::Refusal;
use crate::registration::record::load_record;
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

/// A stored notice: the operator's view of it (the notice candidates see, and who last wrote
/// it), stored as that JSON.
pub type Notice = OperatorNotice;

/// What an operator writes (create and replace): the contract's request body.
pub type NoticeInput = NoticeRequest;

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

/// Checks an operator's notice for center `center` of `exam` (its catalog entry `onsite_required`).
pub fn check(input: &NoticeInput, onsite_required: bool) -> Result<(), Refusal> {
    let text_ok = |s: &str, max: usize, newlines: bool| {
        let n = s.trim().chars().count();
        (1..=max).contains(&n)
            && !s.chars().any(|c| c.is_control() && !(newlines && (c == '\n' || c == '\r')))
    };
    if !text_ok(&input.title, MAX_TITLE, false) {
        return Err(Refusal::invalid(
            ErrorCode::TitleInvalid,
            format!("a title has 1–{MAX_TITLE} characters and no control characters"),
        ));
    }
    if !text_ok(&input.body, MAX_BODY, true) {
        return Err(Refusal::invalid(
            ErrorCode::BodyInvalid,
            format!(
                "a body has 1–{MAX_BODY} characters; line breaks are the only control characters allowed"
            ),
        ));
    }
    if input.opens >= input.closes || input.closes - input.opens > MAX_WINDOW {
        return Err(Refusal::invalid(
            ErrorCode::WindowInvalid,
            "`opens` must come before `closes`, and a window lasts at most 366 days",
        ));
    }
    if input.requires_onsite_confirmation && !onsite_required {
        return Err(Refusal::invalid(
            ErrorCode::OnsiteNotRequired,
            "this test center does not ask for on-site confirmation in the catalog",
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
    out.sort_by(|a, b| (a.notice.opens, &a.notice.id).cmp(&(b.notice.opens, &b.notice.id)));
    Ok(out)
}

/// The notices of `center` in `exam` shown at `at`.
pub fn open_at(
    store: &dyn Storage,
    exam: &str,
    center: &str,
    at: OffsetDateTime,
) -> Result<Vec<Notice>, StorageError> {
    Ok(list(store, exam, center)?.into_iter().filter(|n| n.notice.is_open(at)).collect())
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

fn not_found(id: &str) -> DeskError {
    desk_not_found(format!("no notice `{id}` at this center"))
}

impl Desk {
    /// Publishes a notice (already [`check`]ed), durably and audited.
    async fn create(
        &self,
        operator: &str,
        exam: &str,
        center: &str,
        input: NoticeInput,
    ) -> Result<Notice, DeskError> {
        if list(self.db.store(), exam, center)?.len() >= MAX_PER_CENTER {
            return Err(Refusal::conflict(
                ErrorCode::TooManyNotices,
                format!("a center keeps at most {MAX_PER_CENTER} notices; delete old ones first"),
            )
            .into());
        }
        let notice = Notice {
            notice: PublicNotice {
                id: format!("nt_{}", hex::encode(random_array::<8>())),
                exam: exam.to_owned(),
                center: center.to_owned(),
                title: input.title.trim().to_owned(),
                body: input.body,
                opens: input.opens,
                closes: input.closes,
                requires_onsite_confirmation: input.requires_onsite_confirmation,
                updated_at_ms: self.db.clock().now_ms(),
            },
            updated_by: operator.to_owned(),
        };
        let mut txn = Txn::new();
        let k = key(exam, center, &notice.notice.id);
        txn.require_absent(Tree::Notices, k.clone());
        txn.put(Tree::Notices, k, encode(&notice));
        self.db.commit(txn, audit_event(operator, "notice.create", &notice)).await?;
        Ok(notice)
    }

    /// Replaces notice `id`'s title, body, window and flag (already [`check`]ed).
    async fn update(
        &self,
        operator: &str,
        exam: &str,
        center: &str,
        id: &str,
        input: NoticeInput,
    ) -> Result<Notice, DeskError> {
        let (old, raw) = get(self.db.store(), exam, center, id)?.ok_or_else(|| not_found(id))?;
        let notice = Notice {
            notice: PublicNotice {
                title: input.title.trim().to_owned(),
                body: input.body,
                opens: input.opens,
                closes: input.closes,
                requires_onsite_confirmation: input.requires_onsite_confirmation,
                updated_at_ms: self.db.clock().now_ms(),
                ..old.notice
            },
            updated_by: operator.to_owned(),
        };
        let mut txn = Txn::new();
        let k = key(exam, center, id);
        txn.require_equals(Tree::Notices, k.clone(), Some(raw));
        txn.put(Tree::Notices, k, encode(&notice));
        match self.db.commit(txn, audit_event(operator, "notice.update", &notice)).await {
            Ok(()) => Ok(notice),
            Err(CommitError::Precondition(_)) => Err(Refusal::conflict(
                ErrorCode::NoticeChanged,
                "the notice changed or was deleted meanwhile; read it again",
            )
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes notice `id`.
    async fn delete(&self, operator: &str, exam: &str, center: &str, id: &str) -> Result<(), DeskError> {
        let (old, raw) = get(self.db.store(), exam, center, id)?.ok_or_else(|| not_found(id))?;
        let mut txn = Txn::new();
        let k = key(exam, center, id);
        txn.require_equals(Tree::Notices, k.clone(), Some(raw));
        txn.delete(Tree::Notices, k);
        match self.db.commit(txn, audit_event(operator, "notice.delete", &old)).await {
            Ok(()) => Ok(()),
            Err(CommitError::Precondition(_)) => Err(not_found(id)),
            Err(e) => Err(e.into()),
        }
    }
}

impl Desk {
    /// Every notice of `center` in `exam`, for an operator who may read the center.
    pub fn notices(&self, op: &Operator, exam: &str, center: &str) -> Result<Vec<OperatorNotice>, DeskError> {
        self.scope(op, exam, Some(center))?;
        Ok(list(self.db.store(), exam, center)?)
    }

    /// Notice `id` of `center` in `exam`.
    pub fn notice(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        id: &str,
    ) -> Result<OperatorNotice, DeskError> {
        self.scope(op, exam, Some(center))?;
        Ok(get(self.db.store(), exam, center, id)?.ok_or_else(|| not_found(id))?.0)
    }

    /// Checks `input` for a write at `center` (auditors are refused).
    fn writable(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        input: &NoticeInput,
    ) -> Result<(), DeskError> {
        let view = self.scope(op, exam, Some(center))?;
        authorize(op, Permission::ReviewCenter(center))?;
        let onsite_required = view
            .session(exam)?
            .center(center)
            .is_some_and(baoming_core::catalog::TestCenter::requires_onsite);
        Ok(check(input, onsite_required)?)
    }

    /// Publishes a notice at `center`.
    pub async fn publish_notice(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        input: NoticeInput,
    ) -> Result<OperatorNotice, DeskError> {
        self.writable(op, exam, center, &input)?;
        self.create(&op.id, exam, center, input).await
    }

    /// Replaces notice `id`.
    pub async fn replace_notice(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        id: &str,
        input: NoticeInput,
    ) -> Result<OperatorNotice, DeskError> {
        self.writable(op, exam, center, &input)?;
        self.update(&op.id, exam, center, id, input).await
    }

    /// Deletes notice `id`.
    pub async fn delete_notice(
        &self,
        op: &Operator,
        exam: &str,
        center: &str,
        id: &str,
    ) -> Result<(), DeskError> {
        self.scope(op, exam, Some(center))?;
        authorize(op, Permission::ReviewCenter(center))?;
        self.delete(&op.id, exam, center, id).await
    }

    /// The candidate's read: the notices of the center of their registration (the center the
    /// seats are held at, else the center chosen in the draft) that are open now, and the
    /// catalog's on-site confirmation rule of that center.
    pub async fn candidate_notices(&self, account: &str, exam: &str) -> Result<CandidateNotices, DeskError> {
        let view = self.regs.catalogs().require()?;
        let e = view.session(exam)?;
        let id = baoming_core::document::DocumentId::derive(exam, account);
        let center = match load_record(self.db.store(), &id)? {
            Some((r, _)) => Some(r.center),
            None => self.regs.draft_of(&id).await?.and_then(|d| d.center),
        };
        let Some(center) = center.filter(|c| e.center(c).is_some()) else {
            return Ok(CandidateNotices {
                exam: exam.to_owned(),
                center: None,
                notices: Vec::new(),
                onsite: None,
            });
        };
        let open = open_at(self.db.store(), exam, &center, self.db.clock().now())?;
        let onsite = e.center(&center).and_then(|c| c.onsite.clone());
        Ok(CandidateNotices {
            exam: exam.to_owned(),
            center: Some(center),
            notices: open.into_iter().map(|n| n.notice).collect(),
            onsite,
        })
    }
}

fn audit_event(operator: &str, action: &'static str, n: &Notice) -> AuditEvent {
    let n = &n.notice;
    AuditEvent::new(Actor::Operator(operator.to_owned()), action, n.id.clone()).with(json!({
        "exam": n.exam, "center": n.center, "title": n.title,
        "opens": n.opens.unix_timestamp(), "closes": n.closes.unix_timestamp(),
        "requires_onsite_confirmation": n.requires_onsite_confirmation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Notices were stored as one flat record before the contract's type was stored; the
    /// contract's type reads them, and writes the same members.
    #[test]
    fn a_notice_stored_as_a_flat_record_reads_and_writes_the_same_members() {
        let flat = br#"{"id":"nt_0011223344556677","exam":"ncre-2027-03","center":"bj-chaoyang","title":"t","body":"b","opens":"2027-03-01T00:00:00Z","closes":"2027-03-02T00:00:00Z","requires_onsite_confirmation":true,"updated_by":"op_1","updated_at_ms":5}"#;
        let stored = [&[crate::store::RECORD_VERSION][..], flat].concat();
        let n: Notice = decode(Tree::Notices, &stored).expect("the flat record reads");
        assert_eq!(
            (n.notice.id.as_str(), n.updated_by.as_str(), n.notice.updated_at_ms),
            ("nt_0011223344556677", "op_1", 5)
        );
        let again: serde_json::Value = serde_json::from_slice(&encode(&n)[1..]).expect("json");
        assert_eq!(again, serde_json::from_slice::<serde_json::Value>(flat).expect("json"));
    }

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
        let code = |r: Result<(), Refusal>| r.err().map(|e| e.code());
        assert_eq!(code(check(&input("现场确认", "请携带身份证。\n地点：一楼", 0, 60, true), true)), None);
        assert_eq!(code(check(&input(" ", "x", 0, 60, false), false)), Some(ErrorCode::TitleInvalid));
        assert_eq!(code(check(&input("a\tb", "x", 0, 60, false), false)), Some(ErrorCode::TitleInvalid));
        assert_eq!(
            code(check(&input(&"题".repeat(101), "x", 0, 60, false), false)),
            Some(ErrorCode::TitleInvalid)
        );
        assert_eq!(code(check(&input("t", "", 0, 60, false), false)), Some(ErrorCode::BodyInvalid));
        assert_eq!(code(check(&input("t", "a\u{7}", 0, 60, false), false)), Some(ErrorCode::BodyInvalid));
        assert_eq!(code(check(&input("t", "x", 60, 60, false), false)), Some(ErrorCode::WindowInvalid));
        assert_eq!(
            code(check(&input("t", "x", 0, 400 * 86_400, false), false)),
            Some(ErrorCode::WindowInvalid)
        );
        assert_eq!(code(check(&input("t", "x", 0, 60, true), false)), Some(ErrorCode::OnsiteNotRequired));
    }
}
