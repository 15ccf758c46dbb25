//! The sandbox's HTTP surface: the open API, the cashier page and the control API.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::{Map, Value};
use warp::http::StatusCode;
use warp::hyper::body::Bytes;
use warp::{Filter, Reply};

use super::super::form_decode;
use super::super::gateway::TradeStatus;
use super::state::{self, ApiFailure, CashierOutcome, PageView};
use super::{FaultsPatch, Shared, lock};

const MAX_BODY: u64 = 64 * 1024;

/// All routes.
pub(super) fn routes(
    shared: Arc<Shared>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with = {
        let shared = shared.clone();
        warp::any().map(move || shared.clone())
    };
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let gateway_get = warp::path("gateway.do")
        .and(warp::path::end())
        .and(warp::get())
        .and(with.clone())
        .and(raw_query)
        .map(|shared: Arc<Shared>, q: String| gateway(&shared, form_decode(q.as_bytes())));
    let gateway_post = warp::path("gateway.do")
        .and(warp::path::end())
        .and(warp::post())
        .and(with.clone())
        .and(raw_query)
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .map(|shared: Arc<Shared>, q: String, body: Bytes| {
            // The platform accepts parameters in the query string, the form body, or both.
            let mut params = form_decode(q.as_bytes());
            params.extend(form_decode(&body));
            gateway(&shared, params)
        });
    let cashier = warp::path("cashier")
        .and(warp::path::end())
        .and(warp::post())
        .and(with.clone())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .map(|shared: Arc<Shared>, body: Bytes| cashier(&shared, &form_decode(&body)));
    let faults_get = warp::path!("sandbox" / "faults")
        .and(warp::get())
        .and(with.clone())
        .map(|shared: Arc<Shared>| warp::reply::json(&*lock(&shared.faults)).into_response());
    let faults_put = warp::path!("sandbox" / "faults")
        .and(warp::put())
        .and(with.clone())
        .and(warp::body::content_length_limit(4096))
        .and(warp::body::bytes())
        .map(|shared: Arc<Shared>, body: Bytes| match serde_json::from_slice::<FaultsPatch>(&body) {
            Ok(patch) => {
                let mut f = lock(&shared.faults);
                f.apply(patch);
                tracing::info!(faults = ?*f, "sandbox faults changed");
                warp::reply::json(&*f).into_response()
            }
            Err(e) => text(StatusCode::BAD_REQUEST, &format!("invalid faults: {e}")),
        });
    let deliveries = warp::path!("sandbox" / "deliveries")
        .and(warp::get())
        .and(with.clone())
        .map(|shared: Arc<Shared>| warp::reply::json(&shared.dispatcher.log()).into_response());
    let public_key = warp::path!("sandbox" / "platform-public-key")
        .and(warp::get())
        .and(with)
        .map(|shared: Arc<Shared>| text(StatusCode::OK, shared.config.platform_key.verifier().pem()));
    let health = warp::path!("healthz").and(warp::get()).map(|| text(StatusCode::OK, "ok"));
    gateway_get
        .or(gateway_post)
        .unify()
        .or(cashier)
        .unify()
        .or(faults_get)
        .unify()
        .or(faults_put)
        .unify()
        .or(deliveries)
        .unify()
        .or(public_key)
        .unify()
        .or(health)
        .unify()
        .recover(|r: warp::Rejection| async move {
            let (status, why) = if r.is_not_found() {
                (StatusCode::NOT_FOUND, "not found")
            } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
                (StatusCode::PAYLOAD_TOO_LARGE, "body too large")
            } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
                (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            } else {
                (StatusCode::BAD_REQUEST, "bad request")
            };
            Ok::<_, Infallible>(text(status, why))
        })
        .unify()
}

fn text(status: StatusCode, body: &str) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::with_header(body.to_owned(), "content-type", "text/plain; charset=utf-8"),
        status,
    )
    .into_response()
}

fn html(status: StatusCode, body: String) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::html(body), status).into_response()
}

fn down(shared: &Shared) -> Option<warp::reply::Response> {
    lock(&shared.faults)
        .down
        .then(|| text(StatusCode::SERVICE_UNAVAILABLE, "payment platform unavailable (sandbox fault: down)"))
}

/// A JSON answer `{"<method>_response": {...}, "sign": "..."}`, signed over the exact bytes of
/// the inner object; unsigned when `signed` is false.
fn json_answer(
    shared: &Shared,
    key: &str,
    object: &Map<String, Value>,
    signed: bool,
) -> warp::reply::Response {
    let inner = serde_json::to_string(object).unwrap_or_else(|_| "{}".into());
    let key = serde_json::to_string(key).unwrap_or_else(|_| "\"error_response\"".into());
    let body = if signed {
        let sign = shared.config.platform_key.sign(&inner);
        format!("{{{key}:{inner},\"sign\":\"{sign}\"}}")
    } else {
        format!("{{{key}:{inner}}}")
    };
    warp::reply::with_header(body, "content-type", "application/json;charset=utf-8").into_response()
}

fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

const PAGE_PAY: &str = "alipay.trade.page.pay";

fn gateway(shared: &Arc<Shared>, params: Vec<(String, String)>) -> warp::reply::Response {
    if let Some(r) = down(shared) {
        return r;
    }
    let req = match state::authenticate(shared, &params) {
        Ok(req) => req,
        Err((Some(method), failure)) if method == PAGE_PAY => return error_page(&failure),
        Err((method, failure)) => {
            let known = method.as_deref().is_some_and(|m| m.starts_with("alipay.trade."));
            let key = match method {
                Some(m) if known => response_key(&m),
                _ => "error_response".to_owned(),
            };
            return json_answer(shared, &key, &failure.to_object(), false);
        }
    };
    if req.method == PAGE_PAY {
        return match state::page_pay(shared, &req) {
            Ok(view) => html(StatusCode::OK, page(&view)),
            Err(failure) => error_page(&failure),
        };
    }
    let key = response_key(&req.method);
    match state::call(shared, &req) {
        Ok(object) => json_answer(shared, &key, &object, true),
        Err(failure) => json_answer(shared, &key, &failure.to_object(), true),
    }
}

fn cashier(shared: &Arc<Shared>, form: &[(String, String)]) -> warp::reply::Response {
    if let Some(r) = down(shared) {
        return r;
    }
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let pay = match get("action") {
        "pay" => true,
        "cancel" => false,
        other => return text(StatusCode::BAD_REQUEST, &format!("unknown action {other:?}")),
    };
    match state::cashier(shared, get("trade_no"), pay) {
        CashierOutcome::Paid { view, return_to } => {
            let back = match return_to {
                Some(url) => format!(
                    r#"<p><a id="return" href="{}">返回商户 / Back to the merchant</a></p>"#,
                    esc(&url)
                ),
                None => String::new(),
            };
            html(
                StatusCode::OK,
                shell(
                    "支付成功 / Paid",
                    &format!(
                        r#"<h1 id="result" data-status="paid">支付成功 / Payment successful</h1>{}{back}"#,
                        summary(&view)
                    ),
                ),
            )
        }
        CashierOutcome::Cancelled(view) => html(
            StatusCode::OK,
            shell(
                "已取消 / Cancelled",
                &format!(
                    r#"<h1 id="result" data-status="cancelled">已取消支付 / Payment cancelled</h1>{}
<p>The order stays unpaid; it can be paid until {}.</p>"#,
                    summary(&view),
                    esc(&view.time_expire)
                ),
            ),
        ),
        CashierOutcome::Refused(view) => {
            let why = match view.status {
                TradeStatus::Closed => "交易已关闭 / The trade is closed",
                _ => "交易已支付 / The trade is already paid",
            };
            html(
                StatusCode::CONFLICT,
                shell(
                    "无法支付 / Refused",
                    &format!(r#"<h1 id="result" data-status="refused">{why}</h1>{}"#, summary(&view)),
                ),
            )
        }
        CashierOutcome::Unknown => text(StatusCode::NOT_FOUND, "no such trade"),
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn shell(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Baoming pay sandbox</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
.amount{{font-size:2rem;font-weight:600}}.banner{{background:#fff3cd;padding:.5rem;border-radius:.3rem}}
button{{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.8rem}}dt{{color:#666}}</style></head>
<body><p class="banner">沙箱环境 · SANDBOX — no real money moves.</p>
{body}
</body></html>"#,
        title = esc(title)
    )
}

fn summary(v: &PageView) -> String {
    format!(
        r#"<dl><dt>商品 / Subject</dt><dd id="subject">{}</dd>
<dt>金额 / Amount</dt><dd class="amount">¥ <span id="total_amount">{}</span></dd>
<dt>商户订单号 / Order</dt><dd id="out_trade_no">{}</dd>
<dt>交易号 / Trade</dt><dd id="trade_no">{}</dd>
<dt>状态 / Status</dt><dd id="trade_status">{}</dd>
<dt>支付截止 / Pay before</dt><dd id="time_expire">{} (UTC+8)</dd></dl>"#,
        esc(&v.subject),
        esc(&v.total_amount),
        esc(&v.out_trade_no),
        esc(&v.trade_no),
        v.status.as_str(),
        esc(&v.time_expire)
    )
}

/// The payment page.
fn page(v: &PageView) -> String {
    let actions = if v.status == TradeStatus::WaitBuyerPay {
        format!(
            r#"<form method="post" action="/cashier">
<input type="hidden" name="trade_no" value="{}">
<button type="submit" name="action" value="pay">确认付款 / Pay</button>
<button type="submit" name="action" value="cancel">取消 / Cancel</button>
</form>"#,
            esc(&v.trade_no)
        )
    } else {
        format!(
            r#"<p id="result" data-status="refused">This trade cannot be paid: {}.</p>"#,
            v.status.as_str()
        )
    };
    shell("收银台 / Checkout", &format!("<h1>收银台 / Checkout</h1>{}{actions}", summary(v)))
}

fn error_page(f: &ApiFailure) -> warp::reply::Response {
    html(
        StatusCode::BAD_REQUEST,
        shell(
            "错误 / Error",
            &format!(
                r#"<h1 id="result" data-status="error">支付请求错误 / Invalid payment request</h1>
<dl><dt>code</dt><dd id="code">{}</dd><dt>sub_code</dt><dd id="sub_code">{}</dd><dt>sub_msg</dt><dd>{}</dd></dl>"#,
                f.code,
                f.sub_code,
                esc(&f.sub_msg)
            ),
        ),
    )
}
