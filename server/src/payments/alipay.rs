//! The Alipay-style adapter: [`PaymentGateway`] over the platform's open API.
//!
//! Requests are form parameters to one gateway URL: the common parameters `app_id`, `method`,
//! `format=JSON`, `charset=utf-8`, `sign_type=RSA2`, `timestamp` (`yyyy-MM-dd HH:mm:ss`,
//! China Standard Time), `version=1.0`, `notify_url` where it applies, and `biz_content` (the
//! call's own fields as JSON), signed with the merchant's key over the signing string of all
//! non-empty parameters except `sign` (see [`super::rsa2`]).
//!
//! * `alipay.trade.page.pay` is not called by the server: its signed parameters become the URL
//!   the candidate's browser opens ([`PaymentGateway::create_order`]). `biz_content` carries
//!   `out_trade_no`, `total_amount` (yuan, two decimals), `subject`, `product_code =
//!   FAST_INSTANT_TRADE_PAY` and the absolute `time_expire`.
//! * `alipay.trade.query`, `.close` and `.refund` are POSTed; the answer is JSON
//!   `{"alipay_trade_query_response": {...}, "sign": "..."}` whose `sign` is the platform's
//!   RSA2 signature over the exact bytes of the `…_response` value. `code` `10000` is success;
//!   anything else is a business error with `sub_code` (`ACQ.TRADE_NOT_EXIST` …).
//! * Notifications are form POSTs to `notify_url`, signed over every non-empty parameter except
//!   `sign` and `sign_type`; after verification `app_id` (and `seller_id`, when configured)
//!   must be ours. The acknowledgement is the plain body `success`.
//!
//! Closing a trade whose page was never opened answers `ACQ.TRADE_NOT_EXIST` (the platform has
//! no trade yet); what then keeps the order from being paid is its `time_expire`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::gateway::{
    Checkout, GatewayError, Notification, NotificationError, OrderRequest, PaymentGateway, Refund,
    RefundRequest, Trade, TradeStatus,
};
use super::money::{fen_to_yuan, yuan_to_fen};
use super::rsa2::{NOTIFICATION_EXCLUDED, Rsa2Signer, Rsa2Verifier, SignatureError};
use super::{form_encode, platform_time};

/// The acknowledgement body the platform waits for.
pub const ACK: &str = "success";
/// The success `code` of an open-API answer.
pub const CODE_SUCCESS: &str = "10000";
/// The `sub_code` of a trade the platform does not know.
pub const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";
/// Largest answer body read from the platform.
const MAX_RESPONSE: u64 = 1024 * 1024;

/// How to reach and trust the platform.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// The gateway URL (`https://…/gateway.do`; the sandbox's `http://host:port/gateway.do`).
    pub gateway_url: String,
    /// Our application id at the platform.
    pub app_id: String,
    /// Our seller (merchant) id; notifications for another seller are refused when set.
    pub seller_id: Option<String>,
    /// Our private key: signs requests.
    pub merchant_key: Rsa2Signer,
    /// The platform's public key: verifies answers and notifications.
    pub platform_key: Rsa2Verifier,
    /// Where the platform sends notifications.
    pub notify_url: String,
    /// Where the browser returns after paying, if anywhere.
    pub return_url: Option<String>,
    /// Timeout of one call, connect to last byte.
    pub timeout: Duration,
}

/// The adapter.
#[derive(Debug)]
pub struct AlipayGateway {
    config: AlipayConfig,
    agent: ureq::Agent,
}

impl AlipayGateway {
    /// An adapter with `config`.
    pub fn new(config: AlipayConfig) -> AlipayGateway {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        AlipayGateway { config, agent }
    }

    /// The configuration.
    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// The signed parameters of a call: the common ones, `biz_content` and `sign`.
    pub fn signed_params(
        &self,
        method: &str,
        biz_content: &Value,
        with_urls: bool,
    ) -> Result<Vec<(String, String)>, GatewayError> {
        let now = time::OffsetDateTime::now_utc();
        let mut params: Vec<(String, String)> = vec![
            ("app_id".into(), self.config.app_id.clone()),
            ("method".into(), method.into()),
            ("format".into(), "JSON".into()),
            ("charset".into(), "utf-8".into()),
            ("sign_type".into(), "RSA2".into()),
            ("timestamp".into(), platform_time(now)),
            ("version".into(), "1.0".into()),
            ("biz_content".into(), biz_content.to_string()),
        ];
        if with_urls {
            params.push(("notify_url".into(), self.config.notify_url.clone()));
            if let Some(r) = &self.config.return_url {
                params.push(("return_url".into(), r.clone()));
            }
        }
        let sign = self
            .config
            .merchant_key
            .sign_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), super::rsa2::REQUEST_EXCLUDED);
        params.push(("sign".into(), sign));
        Ok(params)
    }

    /// Calls `method` and returns the verified `…_response` object of a successful answer.
    fn call(&self, method: &str, biz_content: &Value) -> Result<Map<String, Value>, GatewayError> {
        let params = self.signed_params(method, biz_content, false)?;
        let mut response = self
            .agent
            .post(&self.config.gateway_url)
            .header("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
            .send(form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
            .map_err(|e| GatewayError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(GatewayError::Unavailable(status));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|e| GatewayError::Transport(e.to_string()))?;
        parse_response(&body, method, &self.config.platform_key)
    }

    fn check_out_trade_no(out_trade_no: &str) -> Result<(), GatewayError> {
        // The platform allows up to 64 letters, digits and underscores; we also allow `-`.
        let ok = !out_trade_no.is_empty()
            && out_trade_no.len() <= 64
            && out_trade_no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok { Ok(()) } else { Err(GatewayError::InvalidRequest(format!("out_trade_no {out_trade_no:?}"))) }
    }
}

/// Verifies and unwraps an open-API answer: the `…_response` value of `method` must be signed
/// by the platform over its exact bytes. An unsigned answer is accepted only as a refusal (the
/// platform does not sign answers to requests it could not authenticate), never as success or
/// as "no such trade".
pub fn parse_response(
    body: &str,
    method: &str,
    platform_key: &Rsa2Verifier,
) -> Result<Map<String, Value>, GatewayError> {
    let bad = |what: &str| GatewayError::BadResponse(what.to_owned());
    let envelope: BTreeMap<String, &RawValue> =
        serde_json::from_str(body).map_err(|e| GatewayError::BadResponse(e.to_string()))?;
    let key = format!("{}_response", method.replace('.', "_"));
    let sign = match envelope.get("sign") {
        Some(raw) => {
            Some(serde_json::from_str::<String>(raw.get()).map_err(|_| bad("sign is not a string"))?)
        }
        None => None,
    };
    let (raw, from_method) = match (envelope.get(key.as_str()), envelope.get("error_response")) {
        (Some(raw), _) => (*raw, true),
        (None, Some(raw)) => (*raw, false),
        (None, None) => return Err(GatewayError::BadResponse(format!("no {key} in the answer"))),
    };
    let object: Map<String, Value> =
        serde_json::from_str(raw.get()).map_err(|_| bad("the response value is not an object"))?;
    let text = |k: &str| object.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let code = text("code");
    let refused =
        || GatewayError::Refused { code: code.clone(), sub_code: text("sub_code"), message: text("sub_msg") };
    match sign.as_deref() {
        Some(sign) => platform_key.verify(raw.get(), sign)?,
        // The platform does not sign answers to requests it could not authenticate. Such an
        // answer is only ever a refusal, and is not trusted for anything else.
        None if code != CODE_SUCCESS => return Err(refused()),
        None => return Err(SignatureError::Missing.into()),
    }
    if code == CODE_SUCCESS && from_method {
        return Ok(object);
    }
    if text("sub_code") == TRADE_NOT_EXIST {
        return Err(GatewayError::TradeNotFound);
    }
    Err(refused())
}

fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, GatewayError> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GatewayError::BadResponse(format!("{key} missing from the answer")))
}

impl PaymentGateway for AlipayGateway {
    fn create_order(&self, order: &OrderRequest) -> Result<Checkout, GatewayError> {
        AlipayGateway::check_out_trade_no(&order.out_trade_no)?;
        if order.subject.trim().is_empty() || order.subject.chars().count() > 256 {
            return Err(GatewayError::InvalidRequest("subject must be 1 to 256 characters".into()));
        }
        if order.expires_at <= time::OffsetDateTime::now_utc() {
            return Err(GatewayError::InvalidRequest("expires_at is not in the future".into()));
        }
        let biz = json!({
            "out_trade_no": order.out_trade_no,
            "product_code": "FAST_INSTANT_TRADE_PAY",
            "total_amount": fen_to_yuan(order.amount_fen)?,
            "subject": order.subject,
            "time_expire": platform_time(order.expires_at),
        });
        let params = self.signed_params("alipay.trade.page.pay", &biz, true)?;
        let query = form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sep = if self.config.gateway_url.contains('?') { '&' } else { '?' };
        Ok(Checkout { url: format!("{}{sep}{query}", self.config.gateway_url) })
    }

    fn query(&self, out_trade_no: &str) -> Result<Trade, GatewayError> {
        AlipayGateway::check_out_trade_no(out_trade_no)?;
        let r = self.call("alipay.trade.query", &json!({ "out_trade_no": out_trade_no }))?;
        let status_text = field(&r, "trade_status")?;
        let status = TradeStatus::parse(status_text)
            .ok_or_else(|| GatewayError::BadResponse(format!("trade_status {status_text:?}")))?;
        let got = field(&r, "out_trade_no")?;
        if got != out_trade_no {
            return Err(GatewayError::BadResponse(format!(
                "answer about {got:?}, asked about {out_trade_no:?}"
            )));
        }
        Ok(Trade {
            out_trade_no: got.to_owned(),
            trade_no: field(&r, "trade_no")?.to_owned(),
            status,
            total_fen: yuan_to_fen(field(&r, "total_amount")?)?,
        })
    }

    fn close(&self, out_trade_no: &str) -> Result<(), GatewayError> {
        AlipayGateway::check_out_trade_no(out_trade_no)?;
        self.call("alipay.trade.close", &json!({ "out_trade_no": out_trade_no }))?;
        Ok(())
    }

    fn refund(&self, refund: &RefundRequest) -> Result<Refund, GatewayError> {
        AlipayGateway::check_out_trade_no(&refund.out_trade_no)?;
        AlipayGateway::check_out_trade_no(&refund.out_request_no)?;
        let biz = json!({
            "out_trade_no": refund.out_trade_no,
            "refund_amount": fen_to_yuan(refund.amount_fen)?,
            "out_request_no": refund.out_request_no,
            "refund_reason": refund.reason,
        });
        let r = self.call("alipay.trade.refund", &biz)?;
        Ok(Refund {
            trade_no: field(&r, "trade_no")?.to_owned(),
            refunded_total_fen: yuan_to_fen(field(&r, "refund_fee")?)?,
            fund_change: field(&r, "fund_change")? == "Y",
        })
    }

    fn verify_notification(&self, form: &[(String, String)]) -> Result<Notification, NotificationError> {
        verify_notification(
            form,
            &self.config.platform_key,
            &self.config.app_id,
            self.config.seller_id.as_deref(),
        )
    }

    fn notification_ack(&self) -> &'static str {
        ACK
    }
}

/// Verifies a notification's form parameters against the platform's key, then checks that it
/// is addressed to `app_id` (and `seller_id`, when given) and reads it.
pub fn verify_notification(
    form: &[(String, String)],
    platform_key: &Rsa2Verifier,
    app_id: &str,
    seller_id: Option<&str>,
) -> Result<Notification, NotificationError> {
    let mut seen = std::collections::HashSet::new();
    for (k, _) in form {
        if !seen.insert(k.as_str()) {
            return Err(NotificationError::Duplicate(k.clone()));
        }
    }
    platform_key.verify_params(form, NOTIFICATION_EXCLUDED)?;
    let get =
        |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let need = |k: &'static str| get(k).ok_or(NotificationError::Missing(k));
    let got_app = need("app_id")?;
    if got_app != app_id {
        return Err(NotificationError::WrongApp { expected: app_id.to_owned(), got: got_app.to_owned() });
    }
    if let Some(expected) = seller_id {
        let got = need("seller_id")?;
        if got != expected {
            return Err(NotificationError::WrongSeller {
                expected: expected.to_owned(),
                got: got.to_owned(),
            });
        }
    }
    let status_text = need("trade_status")?;
    let status = TradeStatus::parse(status_text)
        .ok_or_else(|| NotificationError::UnknownStatus(status_text.to_owned()))?;
    Ok(Notification {
        notify_id: need("notify_id")?.to_owned(),
        out_trade_no: need("out_trade_no")?.to_owned(),
        trade_no: need("trade_no")?.to_owned(),
        status,
        total_fen: yuan_to_fen(need("total_amount")?)?,
        refund_fen: get("refund_fee").map(yuan_to_fen).transpose()?,
        out_biz_no: get("out_biz_no").map(str::to_owned),
        notify_time: need("notify_time")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    fn keys() -> &'static (Rsa2Signer, Rsa2Signer) {
        static KEYS: OnceLock<(Rsa2Signer, Rsa2Signer)> = OnceLock::new();
        KEYS.get_or_init(|| (Rsa2Signer::generate().expect("key"), Rsa2Signer::generate().expect("key")))
    }

    fn platform_notification(platform: &Rsa2Signer, app_id: &str) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("notify_time", "2026-11-24 12:00:00"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("app_id", app_id),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("sign_type", "RSA2"),
            ("trade_no", "2026112422001400000000000001"),
            ("out_trade_no", "BM-42"),
            ("seller_id", "2088000000000001"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "120.50"),
            ("gmt_payment", "2026-11-24 11:59:58"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let sign =
            platform.sign_params(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), NOTIFICATION_EXCLUDED);
        p.push(("sign".into(), sign));
        p
    }

    #[test]
    fn a_notification_is_verified_and_read() {
        let (platform, other) = keys();
        let form = platform_notification(platform, "2021000000000001");
        let n = verify_notification(&form, platform.verifier(), "2021000000000001", Some("2088000000000001"))
            .expect("valid");
        assert_eq!(n.out_trade_no, "BM-42");
        assert_eq!(n.total_fen, 12_050);
        assert_eq!(n.status, TradeStatus::Success);
        assert_eq!(n.refund_fen, None);
        // Wrong app, wrong seller, wrong key, a duplicated parameter.
        assert_eq!(
            verify_notification(&form, platform.verifier(), "2021000000000002", None),
            Err(NotificationError::WrongApp {
                expected: "2021000000000002".into(),
                got: "2021000000000001".into()
            })
        );
        assert!(matches!(
            verify_notification(&form, platform.verifier(), "2021000000000001", Some("2088000000000009")),
            Err(NotificationError::WrongSeller { .. })
        ));
        assert_eq!(
            verify_notification(&form, other.verifier(), "2021000000000001", None),
            Err(NotificationError::Signature(SignatureError::Mismatch))
        );
        let mut twice = form.clone();
        twice.push(("total_amount".into(), "0.01".into()));
        assert_eq!(
            verify_notification(&twice, platform.verifier(), "2021000000000001", None),
            Err(NotificationError::Duplicate("total_amount".into()))
        );
    }

    #[test]
    fn answers_are_verified_over_the_exact_response_bytes() {
        let (platform, other) = keys();
        // Deliberately not in serde_json's canonical form: spaces and key order must survive.
        let inner = r#"{"code":"10000","msg":"Success","trade_no":"T1","out_trade_no":"BM-1", "trade_status":"TRADE_SUCCESS","total_amount":"88.00"}"#;
        let body = format!(r#"{{"alipay_trade_query_response":{inner},"sign":"{}"}}"#, platform.sign(inner));
        let r = parse_response(&body, "alipay.trade.query", platform.verifier()).expect("verified");
        assert_eq!(r["trade_status"], "TRADE_SUCCESS");
        assert!(matches!(
            parse_response(&body, "alipay.trade.query", other.verifier()),
            Err(GatewayError::Signature(SignatureError::Mismatch))
        ));
        let tampered = body.replace("88.00", "0.01");
        assert!(matches!(
            parse_response(&tampered, "alipay.trade.query", platform.verifier()),
            Err(GatewayError::Signature(SignatureError::Mismatch))
        ));
        let unsigned = format!(r#"{{"alipay_trade_query_response":{inner}}}"#);
        assert!(matches!(
            parse_response(&unsigned, "alipay.trade.query", platform.verifier()),
            Err(GatewayError::Signature(SignatureError::Missing))
        ));
        // A business error, signed; an unsigned error_response.
        let inner = r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#;
        let body = format!(r#"{{"alipay_trade_close_response":{inner},"sign":"{}"}}"#, platform.sign(inner));
        assert!(matches!(
            parse_response(&body, "alipay.trade.close", platform.verifier()),
            Err(GatewayError::TradeNotFound)
        ));
        let unsigned = format!(r#"{{"alipay_trade_close_response":{inner}}}"#);
        assert!(matches!(
            parse_response(&unsigned, "alipay.trade.close", platform.verifier()),
            Err(GatewayError::Refused { sub_code, .. }) if sub_code == TRADE_NOT_EXIST
        ));
        let body = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}"#;
        assert!(matches!(
            parse_response(body, "alipay.trade.close", platform.verifier()),
            Err(GatewayError::Refused { sub_code, .. }) if sub_code == "isv.invalid-signature"
        ));
        assert!(matches!(
            parse_response("<html>", "alipay.trade.close", platform.verifier()),
            Err(GatewayError::BadResponse(_))
        ));
    }

    #[test]
    fn the_checkout_url_is_a_signed_page_pay_request() {
        let (merchant, platform) = keys();
        let gateway = AlipayGateway::new(AlipayConfig {
            gateway_url: "http://127.0.0.1:9/gateway.do".into(),
            app_id: "2021000000000001".into(),
            seller_id: None,
            merchant_key: merchant.clone(),
            platform_key: platform.verifier().clone(),
            notify_url: "http://127.0.0.1:9/notify".into(),
            return_url: None,
            timeout: Duration::from_secs(1),
        });
        let expires_at = time::macros::datetime!(2099-11-25 04:00:00 UTC);
        let checkout = gateway
            .create_order(&OrderRequest {
                out_trade_no: "BM-7".into(),
                amount_fen: 8_800,
                subject: "NCRE 报名费".into(),
                expires_at,
            })
            .expect("checkout");
        let query = checkout.url.split_once('?').expect("query").1;
        let params: Vec<(String, String)> =
            form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        merchant.verifier().verify_params(&params, super::super::rsa2::REQUEST_EXCLUDED).expect("signed");
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).expect(k);
        assert_eq!(get("method"), "alipay.trade.page.pay");
        assert_eq!(get("sign_type"), "RSA2");
        let biz: Value = serde_json::from_str(&get("biz_content")).expect("json");
        assert_eq!(biz["total_amount"], "88.00");
        // 04:00 UTC is noon in China Standard Time.
        assert_eq!(biz["time_expire"], "2099-11-25 12:00:00");
        assert!(matches!(
            gateway.create_order(&OrderRequest {
                out_trade_no: "BM-7".into(),
                amount_fen: 0,
                subject: "x".into(),
                expires_at
            }),
            Err(GatewayError::Amount(_))
        ));
        assert!(matches!(
            gateway.create_order(&OrderRequest {
                out_trade_no: "BM-7".into(),
                amount_fen: 100,
                subject: "x".into(),
                expires_at: time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
            }),
            Err(GatewayError::InvalidRequest(_))
        ));
        // Nothing listens on port 9: a typed transport error.
        assert!(matches!(gateway.query("BM-7"), Err(GatewayError::Transport(_))));
    }
}
