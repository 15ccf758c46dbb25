//! The payment gateway interface: what the registration lifecycle needs from a payment
//! platform, independent of which platform it is.
//!
//! Calls are blocking (they do network I/O with timeouts); async callers run them on the
//! blocking pool (`tokio::task::spawn_blocking`). Amounts are integer fen throughout.

use time::OffsetDateTime;

use super::money::AmountError;
use super::rsa2::SignatureError;

/// An order to pay: one registration's fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The merchant's order number (unique per order; the platform deduplicates on it).
    pub out_trade_no: String,
    /// The amount in fen.
    pub amount_fen: i64,
    /// What the candidate sees on the payment page.
    pub subject: String,
    /// Absolute expiry: after this instant the platform refuses payment and closes the trade.
    pub expires_at: OffsetDateTime,
}

/// Where to send the candidate's browser to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// A complete, signed URL (GET) of the platform's payment page.
    pub url: String,
}

/// A trade's state at the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeStatus {
    /// Created, not paid yet.
    WaitBuyerPay,
    /// Paid; refunds are still possible.
    Success,
    /// Paid and final: no refund possible any more.
    Finished,
    /// Closed unpaid (closed by the merchant or expired), or fully refunded.
    Closed,
}

impl TradeStatus {
    /// The platform's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::Success => "TRADE_SUCCESS",
            TradeStatus::Finished => "TRADE_FINISHED",
            TradeStatus::Closed => "TRADE_CLOSED",
        }
    }

    /// Parses the platform's spelling.
    pub fn parse(text: &str) -> Option<TradeStatus> {
        Some(match text {
            "WAIT_BUYER_PAY" => TradeStatus::WaitBuyerPay,
            "TRADE_SUCCESS" => TradeStatus::Success,
            "TRADE_FINISHED" => TradeStatus::Finished,
            "TRADE_CLOSED" => TradeStatus::Closed,
            _ => return None,
        })
    }

    /// Whether money was received (a later full refund shows as [`TradeStatus::Closed`]).
    pub fn is_paid(self) -> bool {
        matches!(self, TradeStatus::Success | TradeStatus::Finished)
    }
}

/// A trade as the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The merchant's order number.
    pub out_trade_no: String,
    /// The platform's trade number.
    pub trade_no: String,
    /// Its state.
    pub status: TradeStatus,
    /// The trade's amount in fen.
    pub total_fen: i64,
}

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The merchant's order number of the paid trade.
    pub out_trade_no: String,
    /// Identifies this refund: retrying with the same number never refunds twice.
    pub out_request_no: String,
    /// How much to refund, in fen.
    pub amount_fen: i64,
    /// Shown to the payer.
    pub reason: String,
}

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The platform's trade number.
    pub trade_no: String,
    /// Everything refunded on this trade so far, in fen.
    pub refunded_total_fen: i64,
    /// Whether this call moved money (`false` when the same refund was already made).
    pub fund_change: bool,
}

/// A verified asynchronous notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The platform's id of this notification; the same id is re-sent until acknowledged.
    pub notify_id: String,
    /// The merchant's order number.
    pub out_trade_no: String,
    /// The platform's trade number.
    pub trade_no: String,
    /// The trade's state when the notification was made.
    pub status: TradeStatus,
    /// The trade's amount in fen.
    pub total_fen: i64,
    /// Refunded so far in fen, when the notification is about a refund.
    pub refund_fen: Option<i64>,
    /// The refund's request number, when the notification is about a refund.
    pub out_biz_no: Option<String>,
    /// When the platform made the notification, as it wrote it (platform local time).
    pub notify_time: String,
}

/// A gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The platform could not be reached or did not answer in time.
    #[error("payment platform unreachable: {0}")]
    Transport(String),
    /// The platform answered with an HTTP error status (it is down or overloaded).
    #[error("payment platform answered HTTP {0}")]
    Unavailable(u16),
    /// The answer is not in the platform's format.
    #[error("unexpected answer from the payment platform: {0}")]
    BadResponse(String),
    /// The answer is not signed by the platform's key.
    #[error("the payment platform's answer failed verification: {0}")]
    Signature(#[from] SignatureError),
    /// The platform knows no trade with this order number (never opened, or another app's).
    #[error("no such trade at the payment platform")]
    TradeNotFound,
    /// The platform refused the call (business error).
    #[error("the payment platform refused: {code} {sub_code}: {message}")]
    Refused {
        /// The platform's result code (`40004` …).
        code: String,
        /// The platform's detailed code (`ACQ.TRADE_STATUS_ERROR` …).
        sub_code: String,
        /// Its explanation.
        message: String,
    },
    /// An amount could not be converted.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The request itself is invalid (refused before anything was sent).
    #[error("invalid payment request: {0}")]
    InvalidRequest(String),
}

impl GatewayError {
    /// Whether retrying later may succeed (the platform was unreachable or down).
    pub fn is_transient(&self) -> bool {
        matches!(self, GatewayError::Transport(_) | GatewayError::Unavailable(_))
    }
}

/// A notification was refused; the platform gets no acknowledgement and will re-send it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// The signature is missing or wrong.
    #[error("notification signature: {0}")]
    Signature(#[from] SignatureError),
    /// A parameter appears twice.
    #[error("notification parameter {0} appears more than once")]
    Duplicate(String),
    /// A required parameter is missing or empty.
    #[error("notification parameter {0} is missing")]
    Missing(&'static str),
    /// It is addressed to another application.
    #[error("notification for app {got}, expected {expected}")]
    WrongApp {
        /// Configured.
        expected: String,
        /// Received.
        got: String,
    },
    /// It is about another seller's trade.
    #[error("notification for seller {got}, expected {expected}")]
    WrongSeller {
        /// Configured.
        expected: String,
        /// Received.
        got: String,
    },
    /// `trade_status` is not one the platform defines.
    #[error("unknown trade_status {0:?}")]
    UnknownStatus(String),
    /// An amount is malformed.
    #[error("notification amount: {0}")]
    Amount(#[from] AmountError),
}

/// A payment platform.
pub trait PaymentGateway: Send + Sync {
    /// Prepares payment of an order: the signed payment-page URL to send the browser to. (The
    /// platform creates the trade when the page is opened.)
    fn create_order(&self, order: &OrderRequest) -> Result<Checkout, GatewayError>;

    /// The trade's current state.
    fn query(&self, out_trade_no: &str) -> Result<Trade, GatewayError>;

    /// Closes an unpaid trade so that it can no longer be paid.
    fn close(&self, out_trade_no: &str) -> Result<(), GatewayError>;

    /// Refunds (part of) a paid trade.
    fn refund(&self, refund: &RefundRequest) -> Result<Refund, GatewayError>;

    /// Verifies an asynchronous notification given as its form parameters, in the order
    /// received (URL-decoded). Only a verified notification may change anything.
    fn verify_notification(&self, form: &[(String, String)]) -> Result<Notification, NotificationError>;

    /// The body to answer a notification with once it is durably handled; anything else makes
    /// the platform re-send it.
    fn notification_ack(&self) -> &'static str;
}
