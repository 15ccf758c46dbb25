//! Payment orders wired into the registration lifecycle: opening an order, the platform's
//! notifications, "I have paid, refresh", the background reconciler, refunds, and closing the
//! trade before a hold expires, so that paying and expiring race safely.
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
//! [`Payments::apply`], which moves the order and the registration together in one transaction
//! through [`Registrations::act`] (held seats become paid; after expiry free seats are re-taken with the
//! usual preconditions) and, when the registration cannot take the payment, marks the order for
//! a refund instead and tells the candidate in the `server` section.

use baoming_core::api::error::ErrorCode;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use baoming_core::api::payments::{OrderState, PaymentAnswer, PaymentView};
use baoming_core::document::DocumentId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::PaymentError;
use super::gateway::{GatewayError, PaymentGateway, Trade, TradeStatus};
use crate::config::PaymentsConfig;
use crate::refusal::{Refusal, RefusalKind};
use crate::registration::Registrations;
use crate::registration::hub::LiveDoc;
use crate::registration::lifecycle::Staged;
use crate::registration::record::{load_record, view};
use crate::store::audit::{Actor, AuditEvent};
use crate::store::db::Db;
use crate::store::{CommitError, Storage, StorageError, Tree, Txn, decode, encode};

mod apply;
pub use apply::NotifyAnswer;
mod pay;
mod reconcile;

/// The payments service: orders in storage, the platform behind [`PaymentGateway`], and the
/// registrations whose lifecycle every payment result moves.
pub struct Payments {
    db: Arc<Db>,
    regs: Arc<Registrations>,
    gateway: OnceLock<Arc<dyn PaymentGateway>>,
    config: PaymentsConfig,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Payments")
    }
}

/// Whether the reconciler still has to look at an order in `state` (open, or due for a refund).
fn pending(state: OrderState) -> bool {
    matches!(state, OrderState::Open | OrderState::RefundDue)
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

impl Payments {
    /// The service over `db` and `regs`; payments answer `payments_unavailable` until a
    /// platform is connected ([`Payments::connect`]).
    pub fn new(db: Arc<Db>, regs: Arc<Registrations>, config: PaymentsConfig) -> Payments {
        Payments { db, regs, gateway: OnceLock::new(), config }
    }

    /// Connects the platform (once).
    pub fn connect(&self, gateway: Arc<dyn PaymentGateway>) {
        let _ = self.gateway.set(gateway);
    }

    /// The payments settings in force.
    pub fn config(&self) -> &PaymentsConfig {
        &self.config
    }

    fn now_ms(&self) -> i64 {
        self.db.clock().now_ms()
    }

    /// The payment platform, or 503 while it is not configured or not started yet.
    pub fn gateway(&self) -> Result<Arc<dyn PaymentGateway>, PaymentError> {
        self.gateway.get().map(Arc::clone).ok_or_else(|| {
            Refusal::new(
                RefusalKind::Unavailable,
                ErrorCode::PaymentsUnavailable,
                "the payment platform is not available yet; try again shortly",
            )
            .into()
        })
    }

    /// Saves `order` over `before` on its own; `Ok(false)` when the order changed meanwhile.
    pub(super) async fn save(
        &self,
        order: &Order,
        before: Vec<u8>,
        what: &'static str,
    ) -> Result<bool, PaymentError> {
        let mut txn = Txn::new();
        staged(order, Some(before)).stage(&mut txn);
        let event = AuditEvent::new(Actor::System, what, order.out_trade_no.clone()).with(json!({
            "document": order.document, "state": order.state, "trade_no": order.trade_no,
            "amount_fen": order.amount_fen, "refunded_fen": order.refunded_fen,
        }));
        match self.db.commit(txn, event).await {
            Ok(()) => Ok(true),
            Err(CommitError::Precondition(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn live_of(&self, order: &Order) -> Result<Arc<LiveDoc>, PaymentError> {
        Ok(self.regs.open(live_id(order)?, &order.account, &order.exam).await?)
    }

    /// The registration's view with its current order as `payment`.
    pub(super) fn answer(&self, id: &DocumentId, exam: &str) -> Result<PaymentAnswer, PaymentError> {
        let record = load_record(self.db.store(), id)?.map(|(r, _)| r);
        let order = match record.as_ref().and_then(|r| r.section.order.clone()) {
            Some(no) => load_order(self.db.store(), &no)?.map(|(o, _)| o),
            None => None,
        };
        Ok(PaymentAnswer {
            registration: view(id, exam, record.as_ref()),
            payment: order.as_ref().map(payment_view),
        })
    }
}

/// Runs a blocking gateway call on the blocking pool.
pub(super) async fn call<T: Send + 'static>(
    gw: &Arc<dyn PaymentGateway>,
    f: impl FnOnce(&dyn PaymentGateway) -> Result<T, GatewayError> + Send + 'static,
) -> Result<T, GatewayError> {
    let gw = Arc::clone(gw);
    tokio::task::spawn_blocking(move || f(&*gw))
        .await
        .unwrap_or_else(|e| Err(GatewayError::Transport(format!("gateway task: {e}"))))
}

pub(super) fn platform_down(e: &GatewayError) -> PaymentError {
    Refusal::new(
        RefusalKind::Unavailable,
        ErrorCode::PaymentPlatformUnavailable,
        format!("the payment platform could not be reached: {e}"),
    )
    .into()
}

/// Reads order `no` with its raw bytes.
pub fn load_order(store: &dyn Storage, no: &str) -> Result<Option<(Order, Vec<u8>)>, StorageError> {
    match store.get(Tree::Orders, no.as_bytes())? {
        Some(raw) => Ok(Some((decode(Tree::Orders, &raw)?, raw))),
        None => Ok(None),
    }
}

/// The writes that replace order bytes `before` by `order` (and keep the pending index).
pub(super) fn staged(order: &Order, before: Option<Vec<u8>>) -> Staged {
    let key = order.out_trade_no.as_bytes().to_vec();
    let mut s = Staged {
        requires: vec![(Tree::Orders, key.clone(), before)],
        puts: vec![(Tree::Orders, key.clone(), encode(order))],
        deletes: Vec::new(),
    };
    if pending(order.state) {
        s.puts.push((Tree::OrdersPending, key, Vec::new()));
    } else {
        s.deletes.push((Tree::OrdersPending, key));
    }
    s
}

pub(super) fn live_id(order: &Order) -> Result<DocumentId, PaymentError> {
    DocumentId::from_str(&order.document)
        .map_err(|_| PaymentError::Internal("an order with a bad document id".into()))
}

pub(super) fn payment_view(o: &Order) -> PaymentView {
    PaymentView {
        out_trade_no: o.out_trade_no.clone(),
        state: o.state,
        url: o.checkout_url.clone(),
        amount_fen: o.amount_fen,
        expires_at_ms: o.expires_at_ms,
        trade_no: o.trade_no.clone(),
        paid_at_ms: o.paid_at_ms,
        refunded_fen: o.refunded_fen,
        refund_reason: o.refund_reason.clone(),
    }
}
