//! Paying the registration fee: `pay` opens (or answers again) the payment order and hands the
//! app the payment platform's page; after the candidate paid there, `refresh_payment` asks the
//! server to check with the platform ("I have paid, refresh"). The platform also notifies the
//! server by itself, so `status` (or the next sync) shows `paid` even without a refresh.

use baoming_client::idempotency_key;
use baoming_core::api::payments::PaymentAnswer;

use crate::actions::StatusInfo;
use crate::client::{BaomingClient, wire_text};
use crate::errors::{BaomingError, local_codes};

/// A payment order, as `pay` answers it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PaymentInfo {
    /// The payment page: open it in the browser or a web view; the candidate pays there.
    pub url: String,
    /// The amount, in fen.
    pub amount_fen: i64,
    /// The order number (`out_trade_no`): the payment reference.
    pub order_id: String,
    /// The platform refuses payment from this instant on (Unix milliseconds) — the seats'
    /// payment deadline.
    pub expires_at_ms: i64,
    /// `open`, `paid`, `closed`, `refund_due` or `refunded`.
    pub state: String,
    /// The registration after the call (`awaiting_payment` while the order is open).
    pub status: StatusInfo,
}

fn payment_info(a: PaymentAnswer) -> Result<PaymentInfo, BaomingError> {
    let order = a.payment.ok_or_else(|| BaomingError::Server {
        status: 200,
        code: local_codes::PROTOCOL.into(),
        detail: "the server answered `pay` without a payment order".into(),
    })?;
    Ok(PaymentInfo {
        url: order.url,
        amount_fen: order.amount_fen,
        order_id: order.out_trade_no,
        expires_at_ms: order.expires_at_ms,
        state: wire_text(&order.state),
        status: a.registration.into(),
    })
}

#[uniffi::export]
impl BaomingClient {
    /// Creates the payment order of the registration for `exam_id`, or returns the open one
    /// (online; safe to call again). Open `url` for the candidate, then call `refresh_payment`.
    /// Refusals are `Server` with the server's code: `not_submitted` (submit and sync first),
    /// `payment_not_due` (waiting for the center's review), `already_paid`, `deadline_passed`,
    /// 503 `payments_unavailable` (retry shortly).
    pub fn pay(&self, exam_id: String) -> Result<PaymentInfo, BaomingError> {
        let key = idempotency_key()?;
        payment_info(self.api.pay(&self.token()?, &exam_id, &key)?)
    }

    /// "I have paid, refresh": the server asks the payment platform about the current order and
    /// applies its answer; returns the registration afterwards (`paid` once the platform
    /// confirms; still `awaiting_payment` while the candidate has not finished). `Server`
    /// `no_order` when `pay` was never called.
    pub fn refresh_payment(&self, exam_id: String) -> Result<StatusInfo, BaomingError> {
        Ok(self.api.refresh_payment(&self.token()?, &exam_id)?.registration.into())
    }
}
