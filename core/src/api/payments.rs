//! Payments: `POST /api/registrations/{exam}/pay` (with an `Idempotency-Key`, empty body) opens
//! the payment order or answers the open one again; `POST …/payment/refresh` asks the platform
//! ("I have paid, refresh"). Both answer the registration view with its current order as
//! `payment`. The platform's own notification (`POST /api/payments/notify`) is a form body
//! answered `success` or `failure` in plain text, outside this contract.

use serde::{Deserialize, Serialize};

use super::registrations::RegistrationView;

/// Where a payment order stands. An order only moves forward: `open → paid → refund_due →
/// refunded`, `open → refund_due`, `open → closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// A trade's state as the payment platform spells it, in a refresh's `platform_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlatformTradeStatus {
    /// `WAIT_BUYER_PAY`: created, not paid yet.
    WaitBuyerPay,
    /// `TRADE_SUCCESS`: paid; refunds are still possible.
    TradeSuccess,
    /// `TRADE_FINISHED`: paid and final.
    TradeFinished,
    /// `TRADE_CLOSED`: closed unpaid, or fully refunded.
    TradeClosed,
}

/// The registration's current payment order, the `payment` of a pay answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    /// The merchant order number (the payment reference on the registration form).
    pub out_trade_no: String,
    /// Where the order stands.
    pub state: OrderState,
    /// The payment platform's page: send the candidate's browser there.
    pub url: String,
    /// The amount, in fen.
    pub amount_fen: i64,
    /// The platform refuses payment from this instant on (Unix milliseconds): the hold's
    /// payment deadline.
    pub expires_at_ms: i64,
    /// The platform's trade number, once paid.
    pub trade_no: Option<String>,
    /// When it was paid (Unix milliseconds).
    pub paid_at_ms: Option<i64>,
    /// Refunded so far, in fen.
    pub refunded_fen: i64,
    /// Why it is (to be) refunded.
    pub refund_reason: Option<String>,
}

/// The `payment` of a refresh answer: the order and what the platform said about its trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshedPayment {
    /// The order.
    #[serde(flatten)]
    pub order: PaymentView,
    /// The platform's trade state; `null` when the payment page was never opened (the platform
    /// has no trade yet).
    pub platform_status: Option<PlatformTradeStatus>,
}

/// The answer to `pay`: the registration (status `awaiting_payment` once the order is open) and
/// its current order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAnswer {
    /// The registration after the call.
    #[serde(flatten)]
    pub registration: RegistrationView,
    /// The current order (`null` when none is open).
    pub payment: Option<PaymentView>,
}

/// The answer to "refresh": the registration after the platform's answer was applied, and the
/// order with the platform's trade state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefreshAnswer {
    /// The registration after the call (`paid` once the platform confirms).
    #[serde(flatten)]
    pub registration: RegistrationView,
    /// The current order (`null` if the order record is missing).
    pub payment: Option<RefreshedPayment>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{round_trip, view_with};

    const ORDER: &str = r#""out_trade_no":"BM17999990000000a1b2c3d4e5f6","state":"open",
        "url":"http://127.0.0.1:41234/gateway.do?method=alipay.trade.page.pay&sign=x","amount_fen":7500,
        "expires_at_ms":1800000000000,"trade_no":null,"paid_at_ms":null,"refunded_fen":0,"refund_reason":null"#;

    #[test]
    fn pay_answers_the_view_and_the_order() {
        let a: PaymentAnswer = round_trip(&view_with(&format!(r#""payment":{{{ORDER}}}"#)));
        let p = a.payment.expect("order");
        assert_eq!((p.state, p.amount_fen), (OrderState::Open, 7500));
        let none: PaymentAnswer = round_trip(&view_with(r#""payment":null"#));
        assert_eq!(none.payment, None);
        assert!(
            serde_json::from_str::<PaymentAnswer>(&view_with(&format!(
                r#""payment":{{{ORDER},"platform_status":null}}"#
            )))
            .and_then(serde_json::to_value)
            .is_ok_and(|v| v["payment"].get("platform_status").is_none()),
            "a pay answer's order has no platform status"
        );
    }

    #[test]
    fn refresh_answers_the_platform_status() {
        let paid = ORDER.replace(r#""state":"open""#, r#""state":"paid""#).replace(
            r#""trade_no":null,"paid_at_ms":null"#,
            r#""trade_no":"2027032722001","paid_at_ms":1799999500000"#,
        );
        let a: PaymentRefreshAnswer =
            round_trip(&view_with(&format!(r#""payment":{{{paid},"platform_status":"TRADE_SUCCESS"}}"#)));
        let p = a.payment.expect("order");
        assert_eq!(p.platform_status, Some(PlatformTradeStatus::TradeSuccess));
        assert_eq!(p.order.state, OrderState::Paid);
        let never: PaymentRefreshAnswer =
            round_trip(&view_with(&format!(r#""payment":{{{ORDER},"platform_status":null}}"#)));
        assert_eq!(never.payment.expect("order").platform_status, None);
        for s in ["WAIT_BUYER_PAY", "TRADE_FINISHED", "TRADE_CLOSED"] {
            round_trip::<PlatformTradeStatus>(&format!("\"{s}\""));
        }
        let due = ORDER.replace(r#""state":"open""#, r#""state":"refund_due""#).replace(
            r#""refund_reason":null"#,
            r#""refund_reason":"the payment arrived after the deadline and no seat was free: refunded""#,
        );
        round_trip::<PaymentRefreshAnswer>(&view_with(&format!(
            r#""payment":{{{due},"platform_status":"TRADE_SUCCESS"}}"#
        )));
    }
}
