//! The background reconciler (pending orders queried without waiting for the candidate, due
//! refunds made) and the close-then-query the sweeper asks for before a hold expires.

use std::sync::Arc;

use baoming_core::lifecycle::Status;
use futures_util::StreamExt;

use super::super::gateway::{GatewayError, PaymentGateway, TradeStatus};
use super::{Observed, Order, OrderState, Payments, call, load_order};
use crate::payments::PaymentError;
use crate::registration::record::RegistrationRecord;
use crate::registration::{HookFuture, PaymentHook, RegistrationError};
use crate::store::{StorageError, Tree, decode};

/// Platform calls the reconciler makes at once.
const RECONCILE_CONCURRENCY: usize = 8;

impl Payments {
    /// Called by the sweeper before it expires a hold: closes the open order at the platform, so it
    /// can no longer be paid; when the platform says it is paid already, the payment is applied
    /// instead (and the expiry then finds nothing due). A platform that cannot be reached does not
    /// stop the expiry: the order stays open for the reconciler, and a payment that still lands is
    /// a late one.
    pub async fn before_expiry(&self, record: &RegistrationRecord) -> Result<(), PaymentError> {
        if record.section.status != Status::AwaitingPayment {
            return Ok(());
        }
        let Some(no) = record.section.order.clone() else { return Ok(()) };
        let Ok(gw) = self.gateway() else { return Ok(()) };
        let Some((order, _)) = load_order(self.db.store(), &no)? else { return Ok(()) };
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
            Ok(()) | Err(GatewayError::TradeNotFound) => self.apply(&no, &closed).await,
            Err(e) if e.is_transient() => {
                tracing::warn!(order = %no, error = %e, "could not close the trade before expiry");
                return Ok(());
            }
            Err(_) => {
                let q = no.clone();
                match call(&gw, move |g| g.query(&q)).await {
                    Ok(t) => {
                        let observed = Observed::from(t);
                        self.apply(&no, &observed).await
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
    pub async fn reconcile(&self) -> Result<usize, PaymentError> {
        let gw = self.gateway()?;
        let store = self.db.shared_store();
        let (pending, records) = tokio::task::spawn_blocking(move || {
            Ok::<_, StorageError>((
                store.scan_prefix(Tree::OrdersPending, b"")?,
                store.scan_prefix(Tree::Registrations, b"")?,
            ))
        })
        .await
        .map_err(|e| PaymentError::Internal(e.to_string()))??;
        // Paid registrations the administrator cancelled: their order is refunded.
        for (_, raw) in records {
            let record: RegistrationRecord = decode(Tree::Registrations, &raw)?;
            if !record.refund_due {
                continue;
            }
            let Some(no) = record.section.order.clone() else { continue };
            if let Some((order, raw)) = load_order(self.db.store(), &no)?
                && order.state == OrderState::Paid
            {
                let due = Order {
                    state: OrderState::RefundDue,
                    refund_reason: Some(
                        record.section.reason.clone().unwrap_or_else(|| "cancelled: refunded".into()),
                    ),
                    ..order
                };
                self.save(&due, raw, "payment.refund_due").await?;
            }
        }
        let mut keys: Vec<String> =
            pending.into_iter().filter_map(|(k, _)| String::from_utf8(k).ok()).collect();
        // Orders made refund-due just now are in the index too.
        for (k, _) in self.db.store().scan_prefix(Tree::OrdersPending, b"")? {
            if let Ok(k) = String::from_utf8(k)
                && !keys.contains(&k)
            {
                keys.push(k);
            }
        }
        let changed = futures_util::stream::iter(keys)
            .map(|no| {
                let gw = Arc::clone(&gw);
                async move { self.reconcile_one(&gw, &no).await }
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

    async fn reconcile_one(&self, gw: &Arc<dyn PaymentGateway>, no: &str) -> Result<bool, PaymentError> {
        let Some((order, _)) = load_order(self.db.store(), no)? else { return Ok(false) };
        let before = order.state;
        match order.state {
            OrderState::RefundDue => self.refund_now(no).await?,
            OrderState::Open => {
                let q = no.to_owned();
                let closed = Observed {
                    status: TradeStatus::Closed,
                    trade_no: String::new(),
                    total_fen: order.amount_fen,
                    paid_at_ms: None,
                };
                let result = match call(gw, move |g| g.query(&q)).await {
                    Ok(t)
                        if t.status == TradeStatus::WaitBuyerPay && order.expires_at_ms <= self.now_ms() =>
                    {
                        // The sweeper could not close it: close it now.
                        let q = no.to_owned();
                        match call(gw, move |g| g.close(&q)).await {
                            Ok(()) => self.apply(no, &closed).await,
                            Err(_) => return Ok(false),
                        }
                    }
                    Ok(t) => {
                        let observed = Observed::from(t);
                        self.apply(no, &observed).await
                    }
                    Err(GatewayError::TradeNotFound) if order.expires_at_ms <= self.now_ms() => {
                        self.apply(no, &closed).await
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
        Ok(load_order(self.db.store(), no)?.is_some_and(|(o, _)| o.state != before))
    }
}

impl PaymentHook for Payments {
    fn before_expiry<'a>(&'a self, record: &'a RegistrationRecord) -> HookFuture<'a> {
        Box::pin(async move {
            Payments::before_expiry(self, record).await.map_err(|e| match e {
                PaymentError::Registration(r) => r,
                PaymentError::Storage(s) => RegistrationError::Storage(s),
                other => RegistrationError::Internal(other.to_string()),
            })
        })
    }
}
