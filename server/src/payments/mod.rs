//! Payments: the gateway interface, the Alipay-style adapter and the sandbox platform.
//!
//! * [`gateway`] — [`gateway::PaymentGateway`]: create an order (a signed payment-page URL with
//!   an absolute expiry), query, close, refund, verify an asynchronous notification. Blocking
//!   calls, amounts in integer fen, typed errors; no HTTP framework.
//! * [`alipay`] — the adapter that speaks the Alipay open-API format (form parameters, RSA2
//!   signatures, `biz_content` JSON, signed JSON answers, signed notifications, `success`).
//! * [`rsa2`] — the signing string and SHA256withRSA signatures; [`money`] — exact fen ⇄ yuan.
//! * [`sandbox`] — a payment platform of our own that speaks the same format over HTTP: payment
//!   page, notifications with the platform's retry schedule, query/close/refund, and switches
//!   that inject faults. It runs in-process or as the `baoming-paysandbox` binary.
//!
//! * [`orders`] — [`Payments`], the wiring into the registration lifecycle: orders,
//!   notifications, refresh, the reconciler, refunds and closing the trade before a hold expires
//!   (the registrations' [`crate::registration::PaymentHook`]).
//! * [`connect`] — the platform from the configuration, or the embedded sandbox.

pub mod alipay;
pub mod connect;
mod error;
pub mod gateway;
pub mod money;
pub mod orders;
pub mod rsa2;
pub mod sandbox;

pub use error::PaymentError;
pub use orders::Payments;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The platform's clock: China Standard Time, UTC+8, no daylight saving.
pub const PLATFORM_OFFSET: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

const PLATFORM_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Formats an instant as the platform writes times: `yyyy-MM-dd HH:mm:ss` in UTC+8.
pub fn platform_time(at: OffsetDateTime) -> String {
    at.to_offset(PLATFORM_OFFSET).format(PLATFORM_TIME).unwrap_or_default()
}

/// Parses a platform time (`yyyy-MM-dd HH:mm:ss`, UTC+8).
pub fn parse_platform_time(text: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(text, PLATFORM_TIME).ok().map(|t| t.assume_offset(PLATFORM_OFFSET))
}

/// `application/x-www-form-urlencoded` of `pairs`, in order.
pub fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// Decodes `application/x-www-form-urlencoded` into pairs, in order, duplicates kept.
pub fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_time_is_china_standard_time() {
        let t = time::macros::datetime!(2026-11-24 16:30:05 UTC);
        assert_eq!(platform_time(t), "2026-11-25 00:30:05");
        assert_eq!(parse_platform_time("2026-11-25 00:30:05"), Some(t));
        assert_eq!(parse_platform_time("2026-11-25T00:30:05"), None);
    }

    #[test]
    fn form_round_trip_keeps_order_and_unicode() {
        let body = form_encode([("subject", "报名费 & more"), ("a", "1+1=2")]);
        assert_eq!(
            form_decode(body.as_bytes()),
            vec![("subject".to_owned(), "报名费 & more".to_owned()), ("a".to_owned(), "1+1=2".to_owned())]
        );
    }
}
