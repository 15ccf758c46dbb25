//! Applying what the platform reports — its signed notification, a query's answer — to the order and
//! the registration together; a payment the registration cannot take becomes a refund.

use std::sync::Arc;

use baoming_core::api::error::ErrorCode;
use baoming_core::lifecycle::Status;
use serde_json::json;

use super::super::gateway::{RefundRequest, TradeStatus};
use super::super::{form_decode, parse_platform_time};
use super::{Observed, Order, OrderState, Payments, call, load_order, staged};
use crate::payments::PaymentError;
use crate::refusal::RefusalKind;
use crate::registration::RegistrationError;
use crate::registration::hub::LiveDoc;
use crate::registration::lifecycle::Action;
use crate::registration::record::load_record;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{CommitError, Tree, Txn, encode};

/// How the notification endpoint answers the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyAnswer {
    /// Applied and durable (or already applied): acknowledge with this text.
    Applied(&'static str),
    /// Unverifiable (signature, app id, seller id, unknown order, wrong amount, malformed):
    /// nothing changed; answer `failure`.
    Refused,
    /// Verified but not applied (storage failed): answer `failure` so the platform re-sends.
    Failed,
    /// No platform is connected yet.
    Unavailable,
}

/// Why a payment the registration refused is refunded, in the candidate's words.
fn refund_reason(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::SeatGone => "the payment arrived after the deadline and no seat was free: refunded",
        ErrorCode::TransitionNotAllowed => "this payment was not needed any more: refunded",
        _ => "the registration could not take this payment: refunded",
    }
}

impl Payments {
    /// `POST /api/payments/notify`: verifies the platform's notification and applies it. The
    /// acknowledgement goes out only once the result is durable; anything unverifiable changes
    /// nothing and is answered `failure` (the platform re-sends it).
    pub async fn notify(&self, body: &[u8]) -> NotifyAnswer {
        let Ok(gw) = self.gateway() else { return NotifyAnswer::Unavailable };
        let n = match gw.verify_notification(&form_decode(body)) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "payment notification refused");
                return NotifyAnswer::Refused;
            }
        };
        let observed = Observed {
            status: n.status,
            trade_no: n.trade_no.clone(),
            total_fen: n.total_fen,
            paid_at_ms: parse_platform_time(&n.notify_time)
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()),
        };
        match self.apply(&n.out_trade_no, &observed).await {
            Ok(_) => NotifyAnswer::Applied(gw.notification_ack()),
            Err(e @ (PaymentError::UnknownOrder(_) | PaymentError::AmountMismatch { .. })) => {
                tracing::warn!(error = %e, notify_id = %n.notify_id, "payment notification refused");
                NotifyAnswer::Refused
            }
            Err(e) => {
                tracing::warn!(error = %e, notify_id = %n.notify_id, "payment notification not applied");
                NotifyAnswer::Failed
            }
        }
    }

    /// Applies a trade state the platform reported for order `no`: never backward; a payment the
    /// registration cannot take becomes a refund. Returns the order's state afterwards.
    pub async fn apply(&self, no: &str, observed: &Observed) -> Result<OrderState, PaymentError> {
        for _ in 0..32 {
            let (order, raw) =
                load_order(self.db.store(), no)?.ok_or_else(|| PaymentError::UnknownOrder(no.into()))?;
            if observed.total_fen != order.amount_fen {
                return Err(PaymentError::AmountMismatch {
                    expected: order.amount_fen,
                    got: observed.total_fen,
                });
            }
            let paid = matches!(observed.status, TradeStatus::Success | TradeStatus::Finished);
            // A closed order can still turn out paid: the platform's clock and ours differ, and
            // a trade the platform no longer knows was taken for closed. Its money is never kept
            // without a seat: the registration takes it, or it is refunded.
            let reopened = order.state == OrderState::Closed && paid;
            if (order.state != OrderState::Open && !reopened) || observed.status == TradeStatus::WaitBuyerPay
            {
                return Ok(order.state);
            }
            let applied = if observed.status == TradeStatus::Closed {
                let closed = Order { state: OrderState::Closed, ..order };
                self.save(&closed, raw, "payment.closed").await?.then_some(OrderState::Closed)
            } else {
                self.apply_paid(no, order, raw, observed).await?
            };
            if let Some(state) = applied {
                return Ok(state);
            }
        }
        Err(PaymentError::Busy)
    }

    /// Applies a payment of open order `order` (stored as `raw`): the registration takes it, or
    /// the order becomes a refund. `None` when the order changed meanwhile (read it again).
    async fn apply_paid(
        &self,
        no: &str,
        order: Order,
        raw: Vec<u8>,
        observed: &Observed,
    ) -> Result<Option<OrderState>, PaymentError> {
        let paid_at_ms = observed.paid_at_ms.unwrap_or_else(|| self.now_ms());
        let paid = Order {
            state: OrderState::Paid,
            trade_no: Some(observed.trade_no.clone()),
            paid_at_ms: Some(paid_at_ms),
            ..order.clone()
        };
        let live = self.live_of(&order).await?;
        let action = Action::PaymentSucceeded {
            order: no.to_owned(),
            trade_no: observed.trade_no.clone(),
            paid_at_ms,
            staged: staged(&paid, Some(raw.clone())),
        };
        let refusal = match self.regs.act(&live, Actor::System, None, action).await {
            Ok(_) => return Ok(Some(OrderState::Paid)),
            Err(RegistrationError::Refused(r)) if r.code() == ErrorCode::OrderChanged => return Ok(None),
            // The registration cannot take this payment (no seat left, cancelled, paid by
            // another order …): refund it.
            Err(RegistrationError::Refused(r)) if r.kind == RefusalKind::Conflict => r,
            Err(e) => return Err(e.into()),
        };
        let due = Order {
            state: OrderState::RefundDue,
            refund_reason: Some(refund_reason(refusal.code()).into()),
            ..paid
        };
        if !self.save(&due, raw, "payment.refund_due").await? {
            return Ok(None);
        }
        tracing::info!(order = no, code = %refusal.code(), "payment to be refunded");
        self.note_refund(&live, &due).await?;
        self.refund_now(no).await?;
        Ok(Some(load_order(self.db.store(), no)?.map_or(due.state, |(o, _)| o.state)))
    }

    /// Tells the candidate about a refund in the `server` section: the reason, and the amount once
    /// refunded. Only for the registration's own payment (or one made while it held no seats).
    async fn note_refund(&self, live: &Arc<LiveDoc>, order: &Order) -> Result<(), PaymentError> {
        let _guard = live.action_lock().await;
        for _ in 0..32 {
            let Some((mut record, raw)) = load_record(self.db.store(), &live.id)? else { return Ok(()) };
            let own = record.section.trade_no.is_some() && record.section.trade_no == order.trade_no;
            if !own && matches!(record.section.status, Status::Paid | Status::Confirmed) {
                return Ok(());
            }
            record.section.reason = order.refund_reason.clone();
            if order.state == OrderState::Refunded {
                record.section.refunded_fen = Some(order.refunded_fen);
                record.refund_due = false;
            }
            record.section.updated_at_ms = self.now_ms();
            let mut txn = Txn::new();
            txn.require_equals(Tree::Registrations, live.id.as_bytes().to_vec(), Some(raw));
            txn.put(Tree::Registrations, live.id.as_bytes().to_vec(), encode(&record));
            let event = AuditEvent::new(Actor::System, "registration.refund_noted", live.id.to_string()).with(
                json!({ "order": order.out_trade_no, "state": order.state, "refunded_fen": order.refunded_fen }),
            );
            match self.db.commit(txn, event).await {
                Ok(()) => {
                    live.write_server_section(&record.section, Actor::System).await?;
                    return Ok(());
                }
                Err(CommitError::Precondition(_)) => tokio::task::yield_now().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(PaymentError::Busy)
    }

    /// Refunds order `no` when it is due; a platform that cannot be reached leaves it due for the
    /// reconciler.
    pub async fn refund_now(&self, no: &str) -> Result<(), PaymentError> {
        let Some((order, raw)) = load_order(self.db.store(), no)? else { return Ok(()) };
        if order.state != OrderState::RefundDue {
            return Ok(());
        }
        let gw = self.gateway()?;
        let request = RefundRequest {
            out_trade_no: no.to_owned(),
            out_request_no: format!("{no}R"),
            amount_fen: order.amount_fen,
            reason: order.refund_reason.clone().unwrap_or_else(|| "refund".into()),
        };
        match call(&gw, move |g| g.refund(&request)).await {
            Ok(r) => {
                let done = Order { state: OrderState::Refunded, refunded_fen: r.refunded_total_fen, ..order };
                if self.save(&done, raw, "payment.refunded").await? {
                    let live = self.live_of(&done).await?;
                    self.note_refund(&live, &done).await?;
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(order = no, error = %e, "refund not made yet; the reconciler retries");
                Ok(())
            }
        }
    }
}
