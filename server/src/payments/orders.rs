//! Payment orders wired into the registration lifecycle: opening an order, the platform's
//! notifications, "I have paid, refresh", the background reconciler, refunds, and closing the
//! trade before a hold expires (DESIGN §2.9).
//!
//! An [`Order`] is one payment attempt of one registration, durable in the `orders` tree under
//! its `out_trade_no`; orders the reconciler still has to look at (open, or paid and due for a
//! refund) are also in the `orders_pending` index. An order only moves forward:
//!
//! ```text
//! open ──▶ paid ──▶ refund_due ──▶ refunded
//!   │                    ▲
//!   ├────────────────────┘   (paid, but the registration cannot take it)
//!   └──▶ closed              (closed unpaid at the platform: final)
//! ```
//!
//! Every payment result — notification, refresh, reconciler, the sweeper's query — goes through
//! [`apply`], which moves the order and the registration together in one transaction through
//! [`lifecycle::act`] (held seats become paid; after expiry free seats are re-taken with the
//! usual preconditions) and, when the registration cannot take the payment, marks the order for
//! a refund instead and tells the candidate in the `server` section.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use baoming_core::document::DocumentId;
use baoming_core::lifecycle::Status;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use warp::http::StatusCode;

use super::alipay::{AlipayConfig, AlipayGateway};
use super::gateway::{GatewayError, OrderRequest, PaymentGateway, RefundRequest, Trade, TradeStatus};
use super::rsa2::{Rsa2Signer, Rsa2Verifier};
use super::sandbox::{Sandbox, SandboxApp, SandboxConfig};
use crate::app::App;
use crate::config::PaymentsConfig;
use crate::error::ApiError;
use crate::registration::hub::LiveDoc;
use crate::registration::lifecycle::{self, Action, Idempotency, RegistrationRecord, Staged, load_record};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

/// The notification endpoint's path.
pub const NOTIFY_PATH: &str = "/api/payments/notify";
/// Platform calls the reconciler makes at once.
const RECONCILE_CONCURRENCY: usize = 8;

/// The payment platform in use.
pub struct Payments {
    /// The adapter.
    pub gateway: Arc<dyn PaymentGateway>,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Payments")
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Opened; not known to be paid.
    Open,
    /// Paid, and the registration took the payment.
    Paid,
    /// Closed unpaid at the platform (final).
    Closed,
    /// Paid, but to be refunded (no seat, cancelled, paid twice).
    RefundDue,
    /// Refunded.
    Refunded,
}

impl OrderState {
    fn pending(self) -> bool {
        matches!(self, OrderState::Open | OrderState::RefundDue)
    }
}

/// One payment attempt of one registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The merchant order number (unique per attempt).
    pub out_trade_no: String,
    /// The registration document.
    pub document: String,
    /// The owning account.
    pub account: String,
    /// The exam session.
    pub exam: String,
    /// The amount in fen.
    pub amount_fen: i64,
    /// The platform refuses payment from this instant on (the hold's deadline), Unix ms.
    pub expires_at_ms: i64,
    /// When the order was opened, Unix ms.
    pub created_ms: i64,
    /// The payment page.
    pub checkout_url: String,
    /// Its state.
    pub state: OrderState,
    /// The platform's trade number, once paid.
    pub trade_no: Option<String>,
    /// When it was paid, Unix ms.
    pub paid_at_ms: Option<i64>,
    /// Why it is (to be) refunded.
    pub refund_reason: Option<String>,
    /// Refunded so far, in fen.
    #[serde(default)]
    pub refunded_fen: i64,
}

/// A trade's state as the platform reported it (notification or query).
#[derive(Debug, Clone)]
pub struct Observed {
    /// The state.
    pub status: TradeStatus,
    /// The platform's trade number.
    pub trade_no: String,
    /// The amount in fen.
    pub total_fen: i64,
    /// When it was paid (Unix ms), when known.
    pub paid_at_ms: Option<i64>,
}

impl From<Trade> for Observed {
    /// A trade as a query reports it (a query tells no payment time).
    fn from(t: Trade) -> Observed {
        Observed { status: t.status, trade_no: t.trade_no, total_fen: t.total_fen, paid_at_ms: None }
    }
}

/// Why a payment result was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// No order has this number.
    #[error("unknown order {0}")]
    UnknownOrder(String),
    /// The amount is not the order's.
    #[error("amount {got} fen does not match the order's {expected} fen")]
    AmountMismatch {
        /// The order's.
        expected: i64,
        /// Reported.
        got: i64,
    },
    /// Anything else.
    #[error(transparent)]
    Api(#[from] ApiError),
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The payment platform, or 503 while it is not configured or not started yet.
pub fn gateway(app: &App) -> Result<Arc<dyn PaymentGateway>, ApiError> {
    app.payments.get().map(|p| Arc::clone(&p.gateway)).ok_or_else(|| {
        ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "payments_unavailable",
            "the payment platform is not available yet; try again shortly",
            json!({}),
        )
    })
}

/// Runs a blocking gateway call on the blocking pool.
async fn call<T: Send + 'static>(
    gw: &Arc<dyn PaymentGateway>,
    f: impl FnOnce(&dyn PaymentGateway) -> Result<T, GatewayError> + Send + 'static,
) -> Result<T, GatewayError> {
    let gw = Arc::clone(gw);
    tokio::task::spawn_blocking(move || f(&*gw))
        .await
        .unwrap_or_else(|e| Err(GatewayError::Transport(format!("gateway task: {e}"))))
}

fn platform_down(e: &GatewayError) -> ApiError {
    ApiError::refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "payment_platform_unavailable",
        format!("the payment platform could not be reached: {e}"),
        json!({}),
    )
}

/// Reads order `no` with its raw bytes.
pub fn load_order(store: &dyn Storage, no: &str) -> Result<Option<(Order, Vec<u8>)>, StorageError> {
    match store.get(Tree::Orders, no.as_bytes())? {
        Some(raw) => Ok(Some((decode(Tree::Orders, &raw)?, raw))),
        None => Ok(None),
    }
}

/// The writes that replace order bytes `before` by `order` (and keep the pending index).
fn staged(order: &Order, before: Option<Vec<u8>>) -> Staged {
    let key = order.out_trade_no.as_bytes().to_vec();
    let mut s = Staged {
        requires: vec![(Tree::Orders, key.clone(), before)],
        puts: vec![(Tree::Orders, key.clone(), encode(order))],
        deletes: Vec::new(),
    };
    if order.state.pending() {
        s.puts.push((Tree::OrdersPending, key, Vec::new()));
    } else {
        s.deletes.push((Tree::OrdersPending, key));
    }
    s
}

/// Saves `order` over `before` on its own; `Ok(false)` when the order changed meanwhile.
async fn save(app: &App, order: &Order, before: Vec<u8>, what: &'static str) -> Result<bool, ApiError> {
    let mut txn = Txn::new();
    let s = staged(order, Some(before));
    for (t, k, v) in s.requires {
        txn.require_equals(t, k, v);
    }
    for (t, k, v) in s.puts {
        txn.put(t, k, v);
    }
    for (t, k) in s.deletes {
        txn.delete(t, k);
    }
    let event = AuditEvent::new(Actor::System, what, order.out_trade_no.clone()).with(json!({
        "document": order.document, "state": order.state, "trade_no": order.trade_no,
        "amount_fen": order.amount_fen, "refunded_fen": order.refunded_fen,
    }));
    match app.commit(txn, event).await {
        Ok(()) => Ok(true),
        Err(CommitError::Precondition(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn live_id(order: &Order) -> Result<DocumentId, ApiError> {
    DocumentId::from_str(&order.document)
        .map_err(|_| ApiError::Internal("an order with a bad document id".into()))
}

async fn live_of(app: &App, order: &Order) -> Result<Arc<LiveDoc>, ApiError> {
    app.hub.open(app, live_id(order)?, &order.account, &order.exam).await
}

fn payment_json(order: Option<&Order>) -> serde_json::Value {
    match order {
        Some(o) => json!({
            "out_trade_no": o.out_trade_no, "state": o.state, "url": o.checkout_url,
            "amount_fen": o.amount_fen, "expires_at_ms": o.expires_at_ms, "trade_no": o.trade_no,
            "paid_at_ms": o.paid_at_ms, "refunded_fen": o.refunded_fen, "refund_reason": o.refund_reason,
        }),
        None => serde_json::Value::Null,
    }
}

/// The registration's view with its current order as `payment`.
fn answer(app: &App, id: &DocumentId, exam: &str) -> Result<serde_json::Value, ApiError> {
    let record = load_record(&*app.store, id)?.map(|(r, _)| r);
    let order = match record.as_ref().and_then(|r| r.section.order.clone()) {
        Some(no) => load_order(&*app.store, &no)?.map(|(o, _)| o),
        None => None,
    };
    let mut v = lifecycle::view(id, exam, record.as_ref());
    v["payment"] = payment_json(order.as_ref());
    Ok(v)
}

/// `POST /api/registrations/{exam}/pay`: opens the registration's payment order, or answers the
/// open one again, with the payment page's URL.
pub async fn pay(
    app: &App,
    account: &str,
    exam_id: &str,
    idem: Idempotency,
) -> Result<serde_json::Value, ApiError> {
    if let Some(body) = lifecycle::replay(&*app.store, &idem)? {
        return Ok(body);
    }
    let view = app.catalog().ok_or_else(|| ApiError::NotFound("no catalog".into()))?;
    let exam =
        view.catalog.exam(exam_id).ok_or_else(|| ApiError::NotFound(format!("no exam `{exam_id}`")))?;
    let id = DocumentId::derive(exam_id, account);
    let live = app.hub.open(app, id, account, exam_id).await?;
    let not_submitted = || {
        ApiError::refused(StatusCode::CONFLICT, "not_submitted", "submit the registration first", json!({}))
    };
    let (record, _) = load_record(&*app.store, &id)?.ok_or_else(not_submitted)?;
    let now = now_ms();
    // The open order is reused while it can still be paid.
    if record.section.status == Status::AwaitingPayment
        && let Some(no) = &record.section.order
        && let Some((o, _)) = load_order(&*app.store, no)?
        && o.state == OrderState::Open
        && o.expires_at_ms > now
    {
        return store_answer(app, &idem, answer(app, &id, exam_id)?).await;
    }
    let deadline = match record.section.deadline_ms {
        Some(d) if d > now => d,
        _ if matches!(record.section.status, Status::Paid | Status::Confirmed) => {
            return Err(ApiError::refused(StatusCode::CONFLICT, "already_paid", "already paid", json!({})));
        }
        Some(_) => {
            return Err(ApiError::refused(
                StatusCode::CONFLICT,
                "deadline_passed",
                "the payment deadline has passed",
                json!({}),
            ));
        }
        None => {
            return Err(ApiError::refused(
                StatusCode::CONFLICT,
                "payment_not_due",
                "no payment is due for this registration (it may need the center's approval first)",
                json!({ "status": record.section.status.as_str() }),
            ));
        }
    };
    let amount_fen = record
        .section
        .amount_fen
        .or_else(|| exam.fee_fen(&record.center, &record.subjects))
        .filter(|f| *f > 0)
        .ok_or_else(|| {
            ApiError::refused(
                StatusCode::CONFLICT,
                "no_fee",
                "the chosen subjects have no fee to pay",
                json!({}),
            )
        })?;
    let gw = gateway(app)?;
    let random: [u8; 6] = crate::store::crypto::random_array();
    let no = format!("BM{now}{}", hex::encode(random));
    let expires_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(deadline) * 1_000_000)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let request = OrderRequest {
        out_trade_no: no.clone(),
        amount_fen,
        subject: format!("{} 报名费", exam.name.zh),
        expires_at,
    };
    let checkout = call(&gw, move |g| g.create_order(&request)).await.map_err(|e| match e {
        e if e.is_transient() => platform_down(&e),
        e => ApiError::Internal(format!("payment order: {e}")),
    })?;
    let order = Order {
        out_trade_no: no.clone(),
        document: id.to_string(),
        account: account.to_owned(),
        exam: exam_id.to_owned(),
        amount_fen,
        expires_at_ms: deadline,
        created_ms: now,
        checkout_url: checkout.url,
        state: OrderState::Open,
        trade_no: None,
        paid_at_ms: None,
        refund_reason: None,
        refunded_fen: 0,
    };
    let action = Action::StartPayment { order: no, staged: staged(&order, None) };
    lifecycle::act(app, &live, Actor::Account(account.to_owned()), None, action).await?;
    store_answer(app, &idem, answer(app, &id, exam_id)?).await
}

async fn store_answer(
    app: &App,
    idem: &Idempotency,
    body: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let mut txn = Txn::new();
    lifecycle::stage_answer(&mut txn, idem, &body);
    match app.commit(txn, AuditEvent::new(Actor::System, "payment.answer", "idempotency")).await {
        Ok(()) => Ok(body),
        Err(CommitError::Precondition(_)) => lifecycle::replay(&*app.store, idem)?.ok_or(ApiError::Busy),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/registrations/{exam}/payment/refresh`: asks the platform about the current order
/// and applies what it says.
pub async fn refresh(app: &App, account: &str, exam_id: &str) -> Result<serde_json::Value, ApiError> {
    let id = DocumentId::derive(exam_id, account);
    let no = load_record(&*app.store, &id)?.and_then(|(r, _)| r.section.order).ok_or_else(|| {
        ApiError::refused(StatusCode::CONFLICT, "no_order", "no payment order has been opened", json!({}))
    })?;
    let gw = gateway(app)?;
    let q = no.clone();
    let mut platform_status = None;
    match call(&gw, move |g| g.query(&q)).await {
        Ok(trade) => {
            platform_status = Some(trade.status.as_str());
            let observed = Observed::from(trade);
            apply(app, &no, &observed).await.map_err(|e| match e {
                ApplyError::Api(e) => e,
                other => ApiError::Internal(other.to_string()),
            })?;
        }
        // The page was never opened: nothing to apply.
        Err(GatewayError::TradeNotFound) => {}
        Err(e) if e.is_transient() => return Err(platform_down(&e)),
        Err(e) => return Err(ApiError::Internal(format!("payment query: {e}"))),
    }
    let mut v = answer(app, &id, exam_id)?;
    if v["payment"].is_object() {
        v["payment"]["platform_status"] = json!(platform_status);
    }
    Ok(v)
}

/// `POST /api/payments/notify`: verifies the platform's notification and applies it. Answers
/// the platform's acknowledgement only once the result is durable; anything unverifiable
/// changes nothing and is answered `failure` (the platform re-sends it).
pub async fn notify(app: &App, body: &[u8]) -> (StatusCode, &'static str) {
    let Ok(gw) = gateway(app) else { return (StatusCode::SERVICE_UNAVAILABLE, "failure") };
    let form = super::form_decode(body);
    let n = match gw.verify_notification(&form) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "payment notification refused");
            return (StatusCode::BAD_REQUEST, "failure");
        }
    };
    let observed = Observed {
        status: n.status,
        trade_no: n.trade_no.clone(),
        total_fen: n.total_fen,
        paid_at_ms: super::parse_platform_time(&n.notify_time)
            .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()),
    };
    match apply(app, &n.out_trade_no, &observed).await {
        Ok(_) => (StatusCode::OK, gw.notification_ack()),
        Err(e @ (ApplyError::UnknownOrder(_) | ApplyError::AmountMismatch { .. })) => {
            tracing::warn!(error = %e, notify_id = %n.notify_id, "payment notification refused");
            (StatusCode::BAD_REQUEST, "failure")
        }
        Err(ApplyError::Api(e)) => {
            tracing::warn!(error = %e, notify_id = %n.notify_id, "payment notification not applied");
            (StatusCode::INTERNAL_SERVER_ERROR, "failure")
        }
    }
}

/// Applies a trade state the platform reported for order `no`: never backward; a payment the
/// registration cannot take becomes a refund. Returns the order's state afterwards.
pub async fn apply(app: &App, no: &str, observed: &Observed) -> Result<OrderState, ApplyError> {
    for _ in 0..32 {
        let (order, raw) = load_order(&*app.store, no)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApplyError::UnknownOrder(no.into()))?;
        if observed.total_fen != order.amount_fen {
            return Err(ApplyError::AmountMismatch { expected: order.amount_fen, got: observed.total_fen });
        }
        match observed.status {
            TradeStatus::WaitBuyerPay => return Ok(order.state),
            TradeStatus::Closed => {
                if order.state != OrderState::Open {
                    return Ok(order.state);
                }
                let closed = Order { state: OrderState::Closed, ..order };
                if save(app, &closed, raw, "payment.closed").await? {
                    return Ok(OrderState::Closed);
                }
            }
            TradeStatus::Success | TradeStatus::Finished => {
                if order.state != OrderState::Open {
                    return Ok(order.state);
                }
                let paid_at_ms = observed.paid_at_ms.unwrap_or_else(now_ms);
                let paid = Order {
                    state: OrderState::Paid,
                    trade_no: Some(observed.trade_no.clone()),
                    paid_at_ms: Some(paid_at_ms),
                    ..order.clone()
                };
                let live = live_of(app, &order).await?;
                let action = Action::PaymentSucceeded {
                    order: no.to_owned(),
                    trade_no: observed.trade_no.clone(),
                    paid_at_ms,
                    staged: staged(&paid, Some(raw.clone())),
                };
                match lifecycle::act(app, &live, Actor::System, None, action).await {
                    Ok(_) => return Ok(OrderState::Paid),
                    Err(ApiError::Refused(r)) if r.code == "order_changed" => continue,
                    Err(ApiError::Refused(r)) if r.status == StatusCode::CONFLICT => {
                        // The registration cannot take this payment (no seat left, cancelled,
                        // paid by another order …): refund it.
                        let reason = match r.code {
                            "seat_gone" => {
                                "the payment arrived after the deadline and no seat was free: refunded"
                            }
                            "transition_not_allowed" => "this payment was not needed any more: refunded",
                            _ => "the registration could not take this payment: refunded",
                        };
                        let due = Order {
                            state: OrderState::RefundDue,
                            refund_reason: Some(reason.into()),
                            ..paid
                        };
                        if save(app, &due, raw, "payment.refund_due").await? {
                            tracing::info!(order = no, code = r.code, "payment to be refunded");
                            note_refund(app, &live, &due).await?;
                            refund_now(app, no).await?;
                            return Ok(load_order(&*app.store, no)
                                .map_err(ApiError::from)?
                                .map_or(due.state, |(o, _)| o.state));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(ApiError::Busy.into())
}

/// Tells the candidate about a refund in the `server` section: the reason, and the amount once
/// refunded. Only for the registration's own payment (or one made while it held no seats).
async fn note_refund(app: &App, live: &Arc<LiveDoc>, order: &Order) -> Result<(), ApiError> {
    let _guard = live.action_lock().await;
    for _ in 0..32 {
        let Some((mut record, raw)) = load_record(&*app.store, &live.id)? else { return Ok(()) };
        let own = record.section.trade_no.is_some() && record.section.trade_no == order.trade_no;
        if !own && matches!(record.section.status, Status::Paid | Status::Confirmed) {
            return Ok(());
        }
        record.section.reason = order.refund_reason.clone();
        if order.state == OrderState::Refunded {
            record.section.refunded_fen = Some(order.refunded_fen);
            record.refund_due = false;
        }
        record.section.updated_at_ms = now_ms();
        let mut txn = Txn::new();
        txn.require_equals(Tree::Registrations, live.id.as_bytes().to_vec(), Some(raw));
        txn.put(Tree::Registrations, live.id.as_bytes().to_vec(), encode(&record));
        let event = AuditEvent::new(Actor::System, "registration.refund_noted", live.id.to_string()).with(
            json!({ "order": order.out_trade_no, "state": order.state, "refunded_fen": order.refunded_fen }),
        );
        match app.commit(txn, event).await {
            Ok(()) => {
                live.write_server_section(app, &record.section, Actor::System).await?;
                return Ok(());
            }
            Err(CommitError::Precondition(_)) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Busy)
}

/// Refunds order `no` when it is due; a platform that cannot be reached leaves it due for the
/// reconciler.
pub async fn refund_now(app: &App, no: &str) -> Result<(), ApiError> {
    let Some((order, raw)) = load_order(&*app.store, no)? else { return Ok(()) };
    if order.state != OrderState::RefundDue {
        return Ok(());
    }
    let gw = gateway(app)?;
    let request = RefundRequest {
        out_trade_no: no.to_owned(),
        out_request_no: format!("{no}R"),
        amount_fen: order.amount_fen,
        reason: order.refund_reason.clone().unwrap_or_else(|| "refund".into()),
    };
    match call(&gw, move |g| g.refund(&request)).await {
        Ok(r) => {
            let done = Order { state: OrderState::Refunded, refunded_fen: r.refunded_total_fen, ..order };
            if save(app, &done, raw, "payment.refunded").await? {
                let live = live_of(app, &done).await?;
                note_refund(app, &live, &done).await?;
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(order = no, error = %e, "refund not made yet; the reconciler retries");
            Ok(())
        }
    }
}

/// Called by the sweeper before it expires a hold: closes the open order at the platform, so it
/// can no longer be paid; when the platform says it is paid already, the payment is applied
/// instead (and the expiry then finds nothing due). A platform that cannot be reached does not
/// stop the expiry: the order stays open for the reconciler, and a payment that still lands is
/// a late one.
pub async fn before_expiry(
    app: &App,
    _live: &Arc<LiveDoc>,
    record: &RegistrationRecord,
) -> Result<(), ApiError> {
    if record.section.status != Status::AwaitingPayment {
        return Ok(());
    }
    let Some(no) = record.section.order.clone() else { return Ok(()) };
    let Ok(gw) = gateway(app) else { return Ok(()) };
    let Some((order, _)) = load_order(&*app.store, &no)? else { return Ok(()) };
    if order.state != OrderState::Open {
        return Ok(());
    }
    let closed = Observed {
        status: TradeStatus::Closed,
        trade_no: String::new(),
        total_fen: order.amount_fen,
        paid_at_ms: None,
    };
    let q = no.clone();
    let result = match call(&gw, move |g| g.close(&q)).await {
        // Closed now, or never opened (the platform refuses the page after the expiry).
        Ok(()) | Err(GatewayError::TradeNotFound) => apply(app, &no, &closed).await,
        Err(e) if e.is_transient() => {
            tracing::warn!(order = %no, error = %e, "could not close the trade before expiry");
            return Ok(());
        }
        Err(_) => {
            let q = no.clone();
            match call(&gw, move |g| g.query(&q)).await {
                Ok(t) => {
                    let observed = Observed::from(t);
                    apply(app, &no, &observed).await
                }
                Err(e) => {
                    tracing::warn!(order = %no, error = %e, "could not query the trade before expiry");
                    return Ok(());
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::warn!(order = %no, error = %e, "trade state before expiry not applied");
    }
    Ok(())
}

/// One reconciler pass: cancelled paid registrations become refunds; every pending order is
/// queried (open ones applied, expired ones closed) or refunded. Returns how many orders
/// changed state.
pub async fn reconcile(app: &App) -> Result<usize, ApiError> {
    let gw = gateway(app)?;
    let store = Arc::clone(&app.store);
    let (pending, records) = tokio::task::spawn_blocking(move || {
        Ok::<_, StorageError>((
            store.scan_prefix(Tree::OrdersPending, b"")?,
            store.scan_prefix(Tree::Registrations, b"")?,
        ))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    // Paid registrations the administrator cancelled: their order is refunded.
    for (_, raw) in records {
        let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
        if !record.refund_due {
            continue;
        }
        let Some(no) = record.section.order.clone() else { continue };
        if let Some((order, raw)) = load_order(&*app.store, &no)?
            && order.state == OrderState::Paid
        {
            let due = Order {
                state: OrderState::RefundDue,
                refund_reason: Some(
                    record.section.reason.clone().unwrap_or_else(|| "cancelled: refunded".into()),
                ),
                ..order
            };
            save(app, &due, raw, "payment.refund_due").await?;
        }
    }
    let mut keys: Vec<String> = pending.into_iter().filter_map(|(k, _)| String::from_utf8(k).ok()).collect();
    // Orders made refund-due just now are in the index too.
    for (k, _) in app.store.scan_prefix(Tree::OrdersPending, b"")? {
        if let Ok(k) = String::from_utf8(k)
            && !keys.contains(&k)
        {
            keys.push(k);
        }
    }
    let changed = futures_util::stream::iter(keys)
        .map(|no| {
            let gw = Arc::clone(&gw);
            async move { reconcile_one(app, &gw, &no).await }
        })
        .buffer_unordered(RECONCILE_CONCURRENCY)
        .fold(0usize, |n, r| async move {
            match r {
                Ok(true) => n + 1,
                Ok(false) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "reconciling an order failed");
                    n
                }
            }
        })
        .await;
    Ok(changed)
}

async fn reconcile_one(app: &App, gw: &Arc<dyn PaymentGateway>, no: &str) -> Result<bool, ApiError> {
    let Some((order, _)) = load_order(&*app.store, no)? else { return Ok(false) };
    let before = order.state;
    match order.state {
        OrderState::RefundDue => refund_now(app, no).await?,
        OrderState::Open => {
            let q = no.to_owned();
            let closed = Observed {
                status: TradeStatus::Closed,
                trade_no: String::new(),
                total_fen: order.amount_fen,
                paid_at_ms: None,
            };
            let result = match call(gw, move |g| g.query(&q)).await {
                Ok(t) if t.status == TradeStatus::WaitBuyerPay && order.expires_at_ms <= now_ms() => {
                    // The sweeper could not close it: close it now.
                    let q = no.to_owned();
                    match call(gw, move |g| g.close(&q)).await {
                        Ok(()) => apply(app, no, &closed).await,
                        Err(_) => return Ok(false),
                    }
                }
                Ok(t) => {
                    let observed = Observed::from(t);
                    apply(app, no, &observed).await
                }
                Err(GatewayError::TradeNotFound) if order.expires_at_ms <= now_ms() => {
                    apply(app, no, &closed).await
                }
                Err(GatewayError::TradeNotFound) => return Ok(false),
                Err(e) => {
                    tracing::debug!(order = no, error = %e, "query failed; next pass");
                    return Ok(false);
                }
            };
            if let Err(e) = result {
                tracing::warn!(order = no, error = %e, "reconciled trade state not applied");
            }
        }
        _ => {}
    }
    Ok(load_order(&*app.store, no)?.is_some_and(|(o, _)| o.state != before))
}

fn read_key(
    inline: Option<&String>,
    file: Option<&std::path::PathBuf>,
    what: &str,
) -> Result<String, String> {
    match (inline, file) {
        (Some(pem), _) => Ok(pem.clone()),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))
        }
        (None, None) => Err(format!("payments: {what} is required")),
    }
}

fn notify_url(config: &PaymentsConfig, local: SocketAddr) -> String {
    match &config.notify_url_base {
        Some(base) => format!("{}{NOTIFY_PATH}", base.trim_end_matches('/')),
        None => {
            let host = if local.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], local.port()))
            } else {
                local
            };
            format!("http://{host}{NOTIFY_PATH}")
        }
    }
}

/// Connects the configured platform; without `gateway_url`, binds the embedded sandbox now and
/// starts it in the background with keys generated for this run (its address is known at once;
/// payments answer 503 until the keys are ready, a fraction of a second).
pub async fn start(app: &App, local: SocketAddr) -> Result<Option<SocketAddr>, String> {
    let config = app.config.payments.clone();
    let timeout = Duration::from_secs(config.timeout_secs);
    let notify_url = notify_url(&config, local);
    if let Some(url) = &config.gateway_url {
        let merchant_key = Rsa2Signer::from_pem(&read_key(
            config.merchant_private_key_pem.as_ref(),
            config.merchant_private_key_file.as_ref(),
            "merchant private key",
        )?)
        .map_err(|e| format!("payments merchant key: {e}"))?;
        let platform_key = Rsa2Verifier::from_pem(&read_key(
            config.platform_public_key_pem.as_ref(),
            config.platform_public_key_file.as_ref(),
            "platform public key",
        )?)
        .map_err(|e| format!("payments platform key: {e}"))?;
        let gateway = AlipayGateway::new(AlipayConfig {
            gateway_url: url.clone(),
            app_id: config.app_id.clone(),
            seller_id: config.seller_id.clone(),
            merchant_key,
            platform_key,
            notify_url,
            return_url: config.return_url.clone(),
            timeout,
        });
        let _ = app.payments.set(Payments { gateway: Arc::new(gateway) });
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(config.sandbox_listen)
        .await
        .map_err(|e| format!("payment sandbox listen {}: {e}", config.sandbox_listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let keys = tokio::task::spawn_blocking(|| {
            Ok::<_, String>((
                Rsa2Signer::generate().map_err(|e| e.to_string())?,
                Rsa2Signer::generate().map_err(|e| e.to_string())?,
            ))
        })
        .await;
        let (merchant, platform) = match keys {
            Ok(Ok(k)) => k,
            Ok(Err(e)) => return tracing::error!(error = %e, "payment sandbox keys"),
            Err(e) => return tracing::error!(error = %e, "payment sandbox keys"),
        };
        let seller_id = config.seller_id.clone().unwrap_or_else(|| "2088000000000001".into());
        let sandbox_app = SandboxApp {
            app_id: config.app_id.clone(),
            seller_id: seller_id.clone(),
            merchant_key: merchant.verifier().clone(),
        };
        let sandbox = Sandbox::new(SandboxConfig {
            time_scale: config.sandbox_time_scale,
            ..SandboxConfig::new(platform.clone(), sandbox_app)
        });
        let gateway = AlipayGateway::new(AlipayConfig {
            gateway_url: format!("http://{addr}/gateway.do"),
            app_id: config.app_id.clone(),
            seller_id: Some(seller_id),
            merchant_key: merchant,
            platform_key: platform.verifier().clone(),
            notify_url,
            return_url: config.return_url.clone(),
            timeout,
        });
        let _ = app.payments.set(Payments { gateway: Arc::new(gateway) });
        sandbox.serve(listener, std::future::pending()).await;
    });
    Ok(Some(addr))
}
