//! The sandbox's open API as operations: a signed gateway request in, the platform's answer
//! out (a signed JSON answer, the payment page, or an error page), and the cashier's pay and
//! cancel. Serving them over HTTP is the HTTP layer's work.

use serde_json::{Map, Value};

use super::state::{self, ApiFailure, CashierOutcome, PageView};
use super::{Faults, FaultsPatch, Sandbox, lock};

const PAGE_PAY: &str = "alipay.trade.page.pay";

/// What the open API answers a request with.
#[derive(Debug)]
pub enum GatewayAnswer {
    /// The platform is down (fault switch): 503.
    Down,
    /// The payment page of a trade.
    Page(PageView),
    /// A page request the platform refuses (shown as an error page).
    PageError(ApiFailure),
    /// A JSON answer `{"<method>_response": {...}, "sign": "..."}`, exactly as sent.
    Json(String),
}

fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

impl Sandbox {
    /// Whether the platform is down (fault switch).
    pub fn is_down(&self) -> bool {
        lock(&self.shared.faults).down
    }

    /// A JSON answer signed over the exact bytes of the inner object; unsigned when `signed`
    /// is false.
    fn json_answer(&self, key: &str, object: &Map<String, Value>, signed: bool) -> GatewayAnswer {
        let inner = serde_json::to_string(object).unwrap_or_else(|_| "{}".into());
        let key = serde_json::to_string(key).unwrap_or_else(|_| "\"error_response\"".into());
        GatewayAnswer::Json(if signed {
            let sign = self.shared.config.platform_key.sign(&inner);
            format!("{{{key}:{inner},\"sign\":\"{sign}\"}}")
        } else {
            format!("{{{key}:{inner}}}")
        })
    }

    /// Answers an open-API request with parameters `params` (query string and form merged).
    pub fn gateway(&self, params: Vec<(String, String)>) -> GatewayAnswer {
        if self.is_down() {
            return GatewayAnswer::Down;
        }
        let shared = &self.shared;
        let req = match state::authenticate(shared, &params) {
            Ok(req) => req,
            Err((Some(method), failure)) if method == PAGE_PAY => return GatewayAnswer::PageError(failure),
            Err((method, failure)) => {
                let known = method.as_deref().is_some_and(|m| m.starts_with("alipay.trade."));
                let key = match method {
                    Some(m) if known => response_key(&m),
                    _ => "error_response".to_owned(),
                };
                return self.json_answer(&key, &failure.to_object(), false);
            }
        };
        if req.method == PAGE_PAY {
            return match state::page_pay(shared, &req) {
                Ok(view) => GatewayAnswer::Page(view),
                Err(failure) => GatewayAnswer::PageError(failure),
            };
        }
        let key = response_key(&req.method);
        match state::call(shared, &req) {
            Ok(object) => self.json_answer(&key, &object, true),
            Err(failure) => self.json_answer(&key, &failure.to_object(), true),
        }
    }

    /// The cashier's `pay` (or `cancel`) of trade `trade_no`; `None` while the platform is down.
    pub fn cashier(&self, trade_no: &str, pay: bool) -> Option<CashierOutcome> {
        (!self.is_down()).then(|| state::cashier(&self.shared, trade_no, pay))
    }

    /// Changes fault switches from a JSON patch; returns the new ones.
    pub fn patch_faults(&self, patch: FaultsPatch) -> Faults {
        let f = self.set_faults(patch);
        tracing::info!(faults = ?f, "sandbox faults changed");
        f
    }

    /// Stops the notification dispatcher (when the platform stops serving).
    pub fn stop(&self) {
        self.shared.dispatcher.stop();
    }
}
