//! Lifecycle actions: submit, withdraw, apply for review, approve, reject, on-site confirmation,
//! expiry and cancellation (driven by [`crate::registration::cancellations`]).
//!
//! The server's truth about a registration is its [`RegistrationRecord`] in the `registrations`
//! tree. Every action is decided by the core's [`transition`] on the record's status and commits
//! in one storage transaction: the seat counters it moves (see [`crate::catalog::seats`], with
//! preconditions, retried on conflict), the record, the ID-document index, the stored answer of
//! its idempotency key and the audit entry. Only then is the document's `server` section — the
//! record's projection — written through [`LiveDoc::write_server_section`], so devices see it
//! live. A crash between the two is repaired by [`reconcile`], which every action runs first and
//! the sweeper runs over every record when the server starts.
//!
//! Actions on one document are serialised by [`LiveDoc::action_lock`]; actions on different
//! documents race only on shared seat counters and ID-document keys, which the preconditions
//! settle.

use std::sync::Arc;

use baoming_core::catalog::ExamSession;
use baoming_core::document::DocumentId;
use baoming_core::draft::{Draft, ServerSection};
use baoming_core::form::FieldRole;
use baoming_core::lifecycle::{
    DeadlineEffect, Event, Policy, SeatEffect, Status, TransitionError, transition,
};
use baoming_core::seats::{SeatError, SeatMove};
use baoming_core::validate::{Availability, IssueCode, validate};
use serde::{Deserialize, Serialize};
use serde_json::json;
use warp::http::StatusCode;

use crate::app::App;
use crate::catalog::seats::{pool_json, stage_move};
use crate::catalog::{CatalogView, availability};
use crate::error::ApiError;
use crate::registration::hub::LiveDoc;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::crypto::sha256;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// Commit attempts before an action gives up under extreme contention.
const MAX_ATTEMPTS: usize = 10_000;
/// Longest rejection reason, in characters.
const MAX_REASON: usize = 500;

/// What the server knows about a submitted registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    /// The owning account.
    pub account: String,
    /// The exam session.
    pub exam: String,
    /// The center the seats are (or were last) held at.
    pub center: String,
    /// The subjects held (or last held).
    pub subjects: Vec<String>,
    /// Hex of the ID-document index key claimed while seats are held.
    pub id_document_key: Option<String>,
    /// Cancelled by the administrator after payment: the fee is to be refunded (for the payments
    /// work to pick up).
    #[serde(default)]
    pub refund_due: bool,
    /// The server section, as projected into the document.
    pub section: ServerSection,
}

/// Reads the record of document `id`, with its raw bytes for a precondition.
pub fn load_record(
    store: &dyn Storage,
    id: &DocumentId,
) -> Result<Option<(RegistrationRecord, Vec<u8>)>, StorageError> {
    match store.get(Tree::Registrations, id.as_bytes())? {
        Some(raw) => Ok(Some((decode(Tree::Registrations, &raw)?, raw))),
        None => Ok(None),
    }
}

/// Every submitted registration of `exam` at `center` (any status), as views, oldest document id
/// first. A full scan of the `registrations` tree: fine for one session's size; an index by
/// center would replace it for very large sessions.
pub fn list_at_center(
    store: &dyn Storage,
    exam: &str,
    center: &str,
) -> Result<Vec<serde_json::Value>, StorageError> {
    let mut out = Vec::new();
    for (key, raw) in store.scan_prefix(Tree::Registrations, b"")? {
        let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else { continue };
        let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
        if record.exam == exam && record.center == center {
            let mut v = view(&DocumentId::from_bytes(bytes), exam, Some(&record));
            v["center"] = json!(record.center);
            v["subjects"] = json!(record.subjects);
            out.push(v);
        }
    }
    Ok(out)
}

/// An action on one registration.
#[derive(Debug, Clone)]
pub enum Action {
    /// The candidate submits the draft as of `heads` (hex).
    Submit {
        /// The heads the candidate saw.
        heads: Vec<String>,
    },
    /// The candidate withdraws.
    Withdraw,
    /// The candidate applies for review.
    ApplyForReview,
    /// The center approves.
    Approve,
    /// The center rejects.
    Reject {
        /// Why, shown to the candidate.
        reason: String,
        /// Draft paths the reason concerns.
        paths: Vec<String>,
    },
    /// The payment deadline passed (the sweeper).
    Expire,
    /// The center confirms the candidate on site (see [`crate::desk::onsite`]).
    ConfirmOnSite,
    /// The administrator cancelled the registration's center or exam (only registrations that
    /// hold seats are cancelled; for anything else this is "nothing due").
    Cancel {
        /// Why, shown to the candidate.
        reason: String,
    },
    // ---- payments (driven by crate::payments::orders) ----
    /// A payment order was opened for the registration; `staged` writes the order itself.
    StartPayment {
        /// The order's `out_trade_no`.
        order: String,
        /// The order's writes, committed with the status change.
        staged: Staged,
    },
    /// The payment platform reports the order paid: held seats become paid ones (or, after
    /// expiry, free seats are taken again as paid ones when there are any).
    PaymentSucceeded {
        /// The order's `out_trade_no`.
        order: String,
        /// The platform's trade number.
        trade_no: String,
        /// When the candidate paid (Unix milliseconds).
        paid_at_ms: i64,
        /// The order's writes, committed with the status change.
        staged: Staged,
    },
}

/// Writes of another module committed in the same transaction as a lifecycle action, with
/// preconditions; when one of these fails the action answers `order_changed` (409) and nothing
/// is stored.
#[derive(Debug, Clone, Default)]
pub struct Staged {
    /// Keys that must hold exactly these bytes (`None`: absent).
    pub requires: Vec<(Tree, Vec<u8>, Option<Vec<u8>>)>,
    /// Keys to write.
    pub puts: Vec<(Tree, Vec<u8>, Vec<u8>)>,
    /// Keys to delete.
    pub deletes: Vec<(Tree, Vec<u8>)>,
}

impl Staged {
    fn stage(&self, txn: &mut Txn) -> Vec<usize> {
        let checks =
            self.requires.iter().map(|(t, k, v)| txn.require_equals(*t, k.clone(), v.clone())).collect();
        for (t, k, v) in &self.puts {
            txn.put(*t, k.clone(), v.clone());
        }
        for (t, k) in &self.deletes {
            txn.delete(*t, k.clone());
        }
        checks
    }
}

impl Action {
    fn event(&self) -> Event {
        match self {
            Action::Submit { .. } => Event::Submit,
            Action::Withdraw => Event::Withdraw,
            Action::ApplyForReview => Event::ApplyForReview,
            Action::Approve => Event::Approve,
            Action::Reject { .. } => Event::Reject,
            Action::Expire => Event::DeadlinePassed,
            Action::ConfirmOnSite => Event::ConfirmOnSite,
            Action::Cancel { .. } => Event::Cancel,
            Action::StartPayment { .. } => Event::StartPayment,
            Action::PaymentSucceeded { .. } => Event::PaymentSucceeded,
        }
    }

    fn audit_action(&self) -> &'static str {
        match self {
            Action::Submit { .. } => "registration.submit",
            Action::Withdraw => "registration.withdraw",
            Action::ApplyForReview => "registration.apply_review",
            Action::Approve => "registration.approve",
            Action::Reject { .. } => "registration.reject",
            Action::Expire => "registration.expire",
            Action::ConfirmOnSite => "registration.confirm_onsite",
            Action::Cancel { .. } => "registration.cancel",
            Action::StartPayment { .. } => "registration.payment_started",
            Action::PaymentSucceeded { .. } => "registration.paid",
        }
    }
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Storage key: scope ‖ 0 ‖ key.
    key: Vec<u8>,
    fingerprint: String,
}

impl Idempotency {
    /// Validates `key` (1–128 visible ASCII characters) for `scope` (the account or operator)
    /// and fingerprints the request (`what` names the action and target, `body` is the body).
    pub fn new(scope: &str, key: &str, what: &str, body: &[u8]) -> Result<Idempotency, ApiError> {
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::refused(
                StatusCode::BAD_REQUEST,
                "idempotency_key_invalid",
                "Idempotency-Key must have 1–128 visible ASCII characters",
                json!({}),
            ));
        }
        let mut k = scope.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(key.as_bytes());
        let mut f = what.as_bytes().to_vec();
        f.push(0);
        f.extend_from_slice(body);
        Ok(Idempotency { key: k, fingerprint: hex::encode(sha256(&f)) })
    }
}

/// Adds the stored answer `body` of `idem` to `txn`; returns the index of the precondition that
/// the key is still unused.
pub(crate) fn stage_answer(txn: &mut Txn, idem: &Idempotency, body: &serde_json::Value) -> usize {
    let check = txn.require_absent(Tree::Idempotency, idem.key.clone());
    txn.put(
        Tree::Idempotency,
        idem.key.clone(),
        encode(&StoredAnswer { fingerprint: idem.fingerprint.clone(), body: body.clone() }),
    );
    check
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredAnswer {
    fingerprint: String,
    body: serde_json::Value,
}

/// The stored answer for `idem`, if any: the answer itself, or a refusal when the key came with
/// another request.
pub fn replay(store: &dyn Storage, idem: &Idempotency) -> Result<Option<serde_json::Value>, ApiError> {
    let Some(raw) = store.get(Tree::Idempotency, &idem.key)? else { return Ok(None) };
    let stored: StoredAnswer = decode(Tree::Idempotency, &raw)?;
    if stored.fingerprint != idem.fingerprint {
        return Err(ApiError::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
            json!({}),
        ));
    }
    Ok(Some(stored.body))
}

/// The JSON view of a registration, as candidates and operators see it.
pub fn view(id: &DocumentId, exam: &str, record: Option<&RegistrationRecord>) -> serde_json::Value {
    let default = ServerSection::default();
    let s = record.map(|r| &r.section).unwrap_or(&default);
    json!({
        "document_id": id.to_string(),
        "exam": exam,
        "status": s.status.as_str(),
        "status_label_zh": s.status.label_zh(),
        "reason": s.reason,
        "reason_paths": s.reason_paths,
        "deadline_ms": s.deadline_ms,
        "center": record.filter(|_| s.status.holds_seats()).map(|r| &r.center),
        "seats": s.seats,
        "amount_fen": s.amount_fen,
        "refund_due": record.is_some_and(|r| r.refund_due),
        "updated_at_ms": s.updated_at_ms,
        // The receipt and the ticket number (written by the room arrangement), as the synced
        // server section carries them.
        "order": s.order,
        "trade_no": s.trade_no,
        "paid_at_ms": s.paid_at_ms,
        "refunded_fen": s.refunded_fen,
        "ticket": s.ticket,
    })
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn transition_refused(e: TransitionError, status: Status) -> ApiError {
    let code = match e {
        TransitionError::UnderReview => "locked",
        other => other.code(),
    };
    ApiError::refused(StatusCode::CONFLICT, code, e.to_string(), json!({ "status": status.as_str() }))
}

fn seat_gone(pools: &[baoming_core::seats::Pool]) -> ApiError {
    ApiError::refused(
        StatusCode::CONFLICT,
        "seat_gone",
        format!("no seat left: {}", pools.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
        json!({ "pools": pools.iter().map(pool_json).collect::<Vec<_>>() }),
    )
}

fn seat_error(e: SeatError) -> ApiError {
    match e {
        SeatError::Full(pools) => seat_gone(&pools),
        SeatError::UnknownPool(p) => {
            ApiError::refused(StatusCode::UNPROCESSABLE_ENTITY, "unknown_pool", p.to_string(), json!({}))
        }
        SeatError::NothingToMove(..) => ApiError::Internal(e.to_string()),
    }
}

fn policy_of(exam: &ExamSession, center: &str) -> Policy {
    exam.center(center)
        .map(|c| Policy { review: c.review, onsite_required: c.requires_onsite() })
        .unwrap_or_default()
}

fn payment_window_ms(app: &App, exam: &ExamSession) -> i64 {
    let secs =
        app.config.lifecycle.payment_window_secs.unwrap_or(u64::from(exam.payment_window_hours) * 3600);
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Live seat counts of `center` as the validator wants them (it checks only the chosen
/// center's pools, so the other centers' counters are not read).
fn live_availability(
    app: &App,
    view: &CatalogView,
    exam: &str,
    center: Option<&str>,
) -> Result<Availability, ApiError> {
    let mut a = Availability::unknown();
    let Some(center) = center else { return Ok(a) };
    for c in availability(&*app.store, view, exam, Some(center))?.unwrap_or_default() {
        a.set_center(&c.center, c.free);
        for s in &c.subjects {
            a.set_subject(&c.center, &s.code, s.free);
        }
    }
    Ok(a)
}

/// Checks a draft for submission: the core's validation on live availability, then the photo
/// blob. Returns the ID-document index key (hex) when the form has an ID document.
fn check_draft(
    app: &App,
    view: &CatalogView,
    exam: &ExamSession,
    account: &str,
    draft: &Draft,
) -> Result<Option<String>, ApiError> {
    let seats = live_availability(app, view, &exam.id, draft.center.as_deref())?;
    let issues = validate(draft, &view.catalog, &seats);
    if !issues.is_empty() {
        let has = |c: IssueCode| issues.iter().any(|i| i.code == c);
        let details = json!({ "issues": issues });
        if has(IssueCode::CenterFull) || has(IssueCode::SubjectFull) {
            let center = draft.center.clone().unwrap_or_default();
            let mut pools = Vec::new();
            if has(IssueCode::CenterFull) {
                pools.push(baoming_core::seats::Pool::Center(center.clone()));
            }
            for i in issues.iter().filter(|i| i.code == IssueCode::SubjectFull) {
                let subject = i.path.rsplit('.').next().unwrap_or_default().to_owned();
                pools.push(baoming_core::seats::Pool::Subject { center: center.clone(), subject });
            }
            return Err(seat_gone(&pools));
        }
        let (code, message) = if has(IssueCode::PhotoMissing) {
            ("photo_missing", "a valid photo is required")
        } else if has(IssueCode::SlotConflict) {
            ("slot_conflict", "two chosen subjects share a time slot")
        } else {
            ("invalid", "the draft is not complete or not valid")
        };
        return Err(ApiError::refused(StatusCode::UNPROCESSABLE_ENTITY, code, message, details));
    }
    if let Some(photo) = &draft.photo {
        let uploaded = crate::registration::blobs::parse_digest(&photo.sha256)
            .map(|d| crate::registration::blobs::owns(&*app.store, &d, account))
            .transpose()?
            .unwrap_or(false);
        if !uploaded {
            return Err(ApiError::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "photo_missing",
                "the photo has not been uploaded by this account",
                json!({ "issues": [{ "path": "draft.photo", "code": "photo_missing" }] }),
            ));
        }
    }
    Ok(exam
        .field_with_role(FieldRole::IdDocument)
        .and_then(|field| id_document_key(app, exam, draft.fields.get(&field.key)?)))
}

/// The ID-document index key (hex) of answer `value` (`kind:number`) of the exam's ID-document
/// field, when it parses.
pub fn id_document_key(app: &App, exam: &ExamSession, value: &str) -> Option<String> {
    let doc = exam.field_with_role(FieldRole::IdDocument)?.id_document(value).ok()?;
    let material = format!("{}\0{}:{}", exam.id, doc.kind().as_str(), doc.number());
    Some(hex::encode(app.keys.lookup_hash("registration_id_document", material.as_bytes())))
}

/// The key of the `registration_by_id_document` index for `key_hex` in `exam`.
pub fn id_index_key(exam: &str, key_hex: &str) -> Vec<u8> {
    let mut k = exam.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key_hex.as_bytes());
    k
}

/// Writes the record's section into the document, audited as `actor`, when the document does
/// not show it yet (after a crash between the commit and the projection, or after a decision
/// committed to the records first, such as the room arrangement's ticket numbers). The caller
/// holds the document's action lock.
pub async fn reconcile(
    app: &App,
    live: &LiveDoc,
    actor: Actor,
) -> Result<Option<RegistrationRecord>, ApiError> {
    let record = load_record(&*app.store, &live.id)?.map(|(r, _)| r);
    if let Some(r) = &record
        && live.server_section().await != r.section
    {
        live.write_server_section(app, &r.section, actor).await?;
    }
    Ok(record)
}

/// Runs `action` on the registration behind `live` and returns the registration's view.
/// `Ok(None)` only for [`Action::Expire`] when nothing was due.
pub async fn act(
    app: &App,
    live: &Arc<LiveDoc>,
    actor: Actor,
    idem: Option<Idempotency>,
    action: Action,
) -> Result<Option<serde_json::Value>, ApiError> {
    let _guard = live.action_lock().await;
    if let Some(idem) = &idem
        && let Some(body) = replay(&*app.store, idem)?
    {
        return Ok(Some(body));
    }
    reconcile(app, live, Actor::System).await?;
    let view_ = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    let exam_id = live_exam(app, live)?;
    let exam =
        view_.catalog.exam(&exam_id).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam_id}`")))?;

    // Taking part anew (submitting, applying for review again) needs the registration window
    // open; holds already taken keep their deadline and run out through the sweeper.
    if matches!(action, Action::Submit { .. } | Action::ApplyForReview)
        && !exam.registration.contains(time::OffsetDateTime::now_utc())
    {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "window_closed",
            "registration for this exam is not open",
            json!({ "opens": exam.registration.opens.unix_timestamp(),
                    "closes": exam.registration.closes.unix_timestamp() }),
        ));
    }
    // What a submission holds: checked once, outside the retry loop (the draft at the given heads
    // does not change).
    let submitted = match &action {
        Action::Submit { heads } => {
            let draft = live.draft_at_hex(heads).await.ok_or_else(|| {
                ApiError::refused(
                    StatusCode::CONFLICT,
                    "heads_unknown",
                    "the server does not have these heads: sync, then submit again",
                    json!({}),
                )
            })?;
            if let Some(c) = crate::registration::cancellations::find(
                &*app.store,
                &exam.id,
                draft.center.as_deref().unwrap_or_default(),
            )? {
                return Err(c.refusal());
            }
            let id_key = check_draft(app, &view_, exam, &live.account, &draft)?;
            Some((draft, id_key))
        }
        _ => None,
    };

    for _ in 0..MAX_ATTEMPTS {
        let loaded = load_record(&*app.store, &live.id)?;
        let (old, raw) = match &loaded {
            Some((r, raw)) => (Some(r), Some(raw.clone())),
            None => (None, None),
        };
        let status = old.map(|r| r.section.status).unwrap_or_default();
        let center = match (&submitted, old) {
            (Some((draft, _)), _) => draft.center.clone().unwrap_or_default(),
            (None, Some(r)) => r.center.clone(),
            (None, None) => String::new(),
        };
        let policy = policy_of(exam, &center);
        let t = match transition(status, action.event(), policy) {
            Ok(t) => t,
            Err(_) if matches!(action, Action::Expire | Action::Cancel { .. }) => return Ok(None),
            Err(e) => return Err(transition_refused(e, status)),
        };
        if matches!(action, Action::Cancel { .. }) && !status.holds_seats() {
            return Ok(None);
        }
        let now = now_ms();
        if matches!(action, Action::Expire) && old.and_then(|r| r.section.deadline_ms).is_none_or(|d| d > now)
        {
            return Ok(None);
        }

        let mut txn = Txn::new();
        let mut record = match (&submitted, old) {
            (Some((draft, id_key)), _) => RegistrationRecord {
                account: live.account.clone(),
                exam: exam.id.clone(),
                center: center.clone(),
                subjects: draft.subjects.clone(),
                id_document_key: id_key.clone(),
                refund_due: false,
                section: ServerSection {
                    amount_fen: exam.fee_fen(&center, &draft.subjects),
                    ..ServerSection::default()
                },
            },
            (None, Some(r)) => r.clone(),
            (None, None) => {
                return Err(transition_refused(
                    TransitionError::NotAllowed { status, event: action.event() },
                    status,
                ));
            }
        };
        txn.require_equals(Tree::Registrations, live.id.as_bytes().to_vec(), raw);

        let mut dup_check = None;
        let mut open_checks = None;
        // ---- payments: a payment moves held seats to paid, or re-takes free ones after expiry.
        let staged_checks = match &action {
            Action::StartPayment { staged, .. } | Action::PaymentSucceeded { staged, .. } => {
                staged.stage(&mut txn)
            }
            _ => Vec::new(),
        };
        let seat_effect = match &action {
            Action::PaymentSucceeded { .. } => {
                let movement = if status.holds_seats() {
                    SeatMove::Pay
                } else {
                    open_checks = Some(crate::registration::cancellations::require_open(
                        &mut txn,
                        &exam.id,
                        &record.center,
                    ));
                    if let Some(k) = &record.id_document_key {
                        let key = id_index_key(&exam.id, k);
                        dup_check = Some(txn.require_absent(Tree::RegistrationByIdDocument, key.clone()));
                        txn.put(Tree::RegistrationByIdDocument, key, live.id.as_bytes().to_vec());
                    }
                    SeatMove::Rehold
                };
                stage_move(&*app.store, &mut txn, exam, &record.center, &record.subjects, movement)?
                    .map_err(seat_error)?;
                record.section.seats = record.subjects.clone();
                SeatEffect::None
            }
            _ => t.seats,
        };
        // ---- end payments
        match seat_effect {
            SeatEffect::Hold => {
                open_checks = Some(crate::registration::cancellations::require_open(
                    &mut txn,
                    &exam.id,
                    &record.center,
                ));
                stage_move(&*app.store, &mut txn, exam, &record.center, &record.subjects, SeatMove::Hold)?
                    .map_err(seat_error)?;
                record.section.seats = record.subjects.clone();
                if let Some(k) = &record.id_document_key {
                    let key = id_index_key(&exam.id, k);
                    dup_check = Some(txn.require_absent(Tree::RegistrationByIdDocument, key.clone()));
                    txn.put(Tree::RegistrationByIdDocument, key, live.id.as_bytes().to_vec());
                }
            }
            SeatEffect::Release => {
                // Paid seats go back from `paid`, held ones from `held`.
                let movement = if matches!(status, Status::Paid | Status::Confirmed) {
                    SeatMove::Refund
                } else {
                    SeatMove::Release
                };
                stage_move(&*app.store, &mut txn, exam, &record.center, &record.subjects, movement)?
                    .map_err(seat_error)?;
                record.section.seats.clear();
                if let Some(k) = &record.id_document_key {
                    txn.delete(Tree::RegistrationByIdDocument, id_index_key(&exam.id, k));
                }
            }
            SeatEffect::None | SeatEffect::Keep => {}
        }
        record.section.status = t.to;
        record.section.deadline_ms = match t.deadline {
            DeadlineEffect::Keep => record.section.deadline_ms,
            DeadlineEffect::Start => Some(now.saturating_add(payment_window_ms(app, exam))),
            DeadlineEffect::Clear => None,
        };
        match &action {
            Action::Reject { reason, paths } => {
                record.section.reason = Some(reason.clone());
                record.section.reason_paths = paths.clone();
            }
            Action::Expire => {
                record.section.reason = Some("payment deadline passed; seats released".into());
                record.section.reason_paths.clear();
            }
            Action::Cancel { reason } => {
                record.section.reason = Some(reason.clone());
                record.section.reason_paths.clear();
                record.refund_due = matches!(status, Status::Paid | Status::Confirmed);
            }
            Action::StartPayment { order, .. } => {
                record.section.order = Some(order.clone());
                record.section.reason = None;
                record.section.reason_paths.clear();
            }
            Action::PaymentSucceeded { order, trade_no, paid_at_ms, .. } => {
                record.section.order = Some(order.clone());
                record.section.trade_no = Some(trade_no.clone());
                record.section.paid_at_ms = Some(*paid_at_ms);
                record.section.reason = None;
                record.section.reason_paths.clear();
            }
            _ => {
                record.section.reason = None;
                record.section.reason_paths.clear();
            }
        }
        record.section.updated_at_ms = now;
        txn.put(Tree::Registrations, live.id.as_bytes().to_vec(), encode(&record));

        let body = view(&live.id, &exam.id, Some(&record));
        let idem_check = idem.as_ref().map(|idem| stage_answer(&mut txn, idem, &body));
        let event = AuditEvent::new(actor.clone(), action.audit_action(), live.id.to_string()).with(json!({
            "from": status.as_str(), "to": t.to.as_str(), "center": record.center,
            "subjects": record.subjects, "deadline_ms": record.section.deadline_ms,
            "reason": record.section.reason, "refund_due": record.refund_due,
        }));
        match app.commit(txn, event).await {
            Ok(()) => {
                live.write_server_section(app, &record.section, actor).await?;
                return Ok(Some(body));
            }
            Err(CommitError::Precondition(i)) if Some(i) == dup_check => {
                return Err(ApiError::refused(
                    StatusCode::CONFLICT,
                    "duplicate_id_document",
                    "this ID document is already registered for this exam",
                    json!({}),
                ));
            }
            Err(CommitError::Precondition(i)) if open_checks.is_some_and(|c| c.contains(&i)) => {
                let c = crate::registration::cancellations::find(&*app.store, &exam.id, &record.center)?
                    .ok_or_else(|| ApiError::Internal("a cancellation vanished".into()))?;
                return Err(c.refusal());
            }
            Err(CommitError::Precondition(i)) if staged_checks.contains(&i) => {
                return Err(ApiError::refused(
                    StatusCode::CONFLICT,
                    "order_changed",
                    "the payment order changed meanwhile; read it again",
                    json!({}),
                ));
            }
            Err(CommitError::Precondition(i)) if Some(i) == idem_check => {
                if let Some(idem) = &idem
                    && let Some(body) = replay(&*app.store, idem)?
                {
                    return Ok(Some(body));
                }
            }
            Err(CommitError::Precondition(_)) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Busy)
}

/// The exam of a live document (from the catalog: the exam whose derived id it is).
fn live_exam(app: &App, live: &LiveDoc) -> Result<String, ApiError> {
    crate::registration::hub::Hub::allowed(app, &live.account)
        .into_iter()
        .find(|(id, _)| *id == live.id)
        .map(|(_, exam)| exam)
        .ok_or_else(|| ApiError::NotFound("no such registration".into()))
}

/// Checks a reason shown to candidates: 1–500 characters once trimmed.
pub fn check_reason(reason: &str) -> Result<(), ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ApiError::invalid(
            "reason_invalid",
            format!("a reason of 1–{MAX_REASON} characters is required"),
        ));
    }
    Ok(())
}

/// Checks an operator's rejection: a reason and the draft paths it concerns.
pub fn check_rejection(reason: &str, paths: &[String]) -> Result<(), ApiError> {
    check_reason(reason)?;
    if paths.len() > 32 || paths.iter().any(|p| !p.starts_with("draft.") || p.len() > 200) {
        return Err(ApiError::invalid("paths_invalid", "paths are at most 32 draft paths (`draft.…`)"));
    }
    Ok(())
}

/// Expires every hold whose payment deadline passed; with `full`, first repairs every record's
/// projection (crash recovery at start-up). Returns how many holds expired. Idempotent: each
/// expiry re-checks status and deadline under the document's action lock.
pub async fn sweep(app: &App, full: bool) -> Result<usize, ApiError> {
    let now = now_ms();
    let store = Arc::clone(&app.store);
    let records = tokio::task::spawn_blocking(move || store.scan_prefix(Tree::Registrations, b""))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let mut expired = 0;
    for (key, raw) in records {
        let Ok(bytes) = <[u8; 16]>::try_from(key.as_slice()) else { continue };
        let id = DocumentId::from_bytes(bytes);
        let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
        let due = record.section.deadline_ms.is_some_and(|d| d <= now);
        if !due && !full {
            continue;
        }
        let live = app.hub.open(app, id, &record.account, &record.exam).await?;
        // ---- payments: close the trade at the platform first (DESIGN §2.9: paying and
        // expiring race safely); a payment found now is applied instead of the expiry.
        if due {
            crate::payments::orders::before_expiry(app, &live, &record).await?;
        }
        // ---- end payments
        if !due {
            let _guard = live.action_lock().await;
            reconcile(app, &live, Actor::System).await?;
            continue;
        }
        if act(app, &live, Actor::System, None, Action::Expire).await?.is_some() {
            expired += 1;
        }
    }
    Ok(expired)
}
