//! The sandbox payment platform's HTTP surface: the open API (`/gateway.do`), the cashier page
//! and its form, the control API (`/sandbox/faults`, `/sandbox/deliveries`,
//! `/sandbox/platform-public-key`) and serving it — embedded by `serve`, or on its own as the
//! `baoming-paysandbox` binary. What the platform does is [`crate::payments::sandbox`]'s.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use warp::http::StatusCode;
use warp::hyper::body::Bytes;
use warp::{Filter, Reply};

use crate::payments::form_decode;
use crate::payments::gateway::TradeStatus;
use crate::payments::sandbox::{
    ApiFailure, CashierOutcome, FaultsPatch, GatewayAnswer, PageView, Sandbox, SandboxConfig,
};

const MAX_BODY: u64 = 64 * 1024;

/// Every route of the platform.
pub fn routes(
    sandbox: Sandbox,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    platform_routes(sandbox.clone())
        .or(control_routes(sandbox))
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

/// What the real platform has too: the open API (`gateway.do`) and the cashier's page form.
fn platform_routes(
    sandbox: Sandbox,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static
{
    let with = warp::any().map(move || sandbox.clone());
    let raw_query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let gateway_get = warp::path("gateway.do")
        .and(warp::path::end())
        .and(warp::get())
        .and(with.clone())
        .and(raw_query)
        .map(|s: Sandbox, q: String| gateway(&s, form_decode(q.as_bytes())));
    let gateway_post = warp::path("gateway.do")
        .and(warp::path::end())
        .and(warp::post())
        .and(with.clone())
        .and(raw_query)
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .map(|s: Sandbox, q: String, body: Bytes| {
            // The platform accepts parameters in the query string, the form body, or both.
            let mut params = form_decode(q.as_bytes());
            params.extend(form_decode(&body));
            gateway(&s, params)
        });
    let cashier_post = warp::path("cashier")
        .and(warp::path::end())
        .and(warp::post())
        .and(with)
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .map(|s: Sandbox, body: Bytes| cashier(&s, &form_decode(&body)));
    gateway_get.or(gateway_post).unify().or(cashier_post).unify()
}

/// The sandbox's own controls: fault switches, the delivery log, the platform key, health.
fn control_routes(
    sandbox: Sandbox,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static
{
    let with = warp::any().map(move || sandbox.clone());
    let faults_get = warp::path!("sandbox" / "faults")
        .and(warp::get())
        .and(with.clone())
        .map(|s: Sandbox| warp::reply::json(&s.faults()).into_response());
    let faults_put = warp::path!("sandbox" / "faults")
        .and(warp::put())
        .and(with.clone())
        .and(warp::body::content_length_limit(4096))
        .and(warp::body::bytes())
        .map(|s: Sandbox, body: Bytes| match serde_json::from_slice::<FaultsPatch>(&body) {
            Ok(patch) => warp::reply::json(&s.patch_faults(patch)).into_response(),
            Err(e) => text(StatusCode::BAD_REQUEST, &format!("invalid faults: {e}")),
        });
    let deliveries = warp::path!("sandbox" / "deliveries")
        .and(warp::get())
        .and(with.clone())
        .map(|s: Sandbox| warp::reply::json(&s.deliveries()).into_response());
    let public_key = warp::path!("sandbox" / "platform-public-key")
        .and(warp::get())
        .and(with)
        .map(|s: Sandbox| text(StatusCode::OK, s.platform_public_key().pem()));
    let health = warp::path!("healthz").and(warp::get()).map(|| text(StatusCode::OK, "ok"));
    faults_get.or(faults_put).unify().or(deliveries).unify().or(public_key).unify().or(health).unify()
}

/// Serves `sandbox` on `listener` until `shutdown` completes.
pub async fn serve(
    sandbox: Sandbox,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes(sandbox.clone())).incoming(listener).graceful(shutdown).run().await;
    sandbox.stop();
}

/// Binds `addr` and serves a sandbox with `config` in the background on the current runtime.
pub async fn spawn(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sandbox = Sandbox::new(config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(sandbox.clone(), listener, async move {
        let _ = stopped.await;
    }));
    Ok(SandboxHandle { addr, sandbox, stop: Some(stop), task: Some(task) })
}

/// A sandbox serving on a socket in the background; dropping it (or [`SandboxHandle::stop`])
/// stops it.
#[derive(Debug)]
pub struct SandboxHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The platform, for in-process control.
    pub sandbox: Sandbox,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxHandle {
    /// The open-API gateway URL to configure the adapter with.
    pub fn gateway_url(&self) -> String {
        format!("http://{}/gateway.do", self.addr)
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn down() -> warp::reply::Response {
    text(StatusCode::SERVICE_UNAVAILABLE, "payment platform unavailable (sandbox fault: down)")
}

fn gateway(sandbox: &Sandbox, params: Vec<(String, String)>) -> warp::reply::Response {
    match sandbox.gateway(params) {
        GatewayAnswer::Down => down(),
        GatewayAnswer::Page(view) => html(StatusCode::OK, page(&view)),
        GatewayAnswer::PageError(failure) => error_page(&failure),
        GatewayAnswer::Json(body) => {
            warp::reply::with_header(body, "content-type", "application/json;charset=utf-8").into_response()
        }
    }
}

fn cashier(sandbox: &Sandbox, form: &[(String, String)]) -> warp::reply::Response {
    if sandbox.is_down() {
        return down();
    }
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let pay = match get("action") {
        "pay" => true,
        "cancel" => false,
        other => return text(StatusCode::BAD_REQUEST, &format!("unknown action {other:?}")),
    };
    match sandbox.cashier(get("trade_no"), pay) {
        None => down(),
        Some(outcome) => cashier_page(outcome),
    }
}

fn cashier_page(outcome: CashierOutcome) -> warp::reply::Response {
    match outcome {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::payments::alipay::{AlipayConfig, AlipayGateway};
    use crate::payments::gateway::{GatewayError, PaymentGateway};
    use crate::payments::rsa2::Rsa2Signer;
    use crate::payments::sandbox::SandboxApp;

    /// The library entry point: a sandbox served in-process, controlled through its handle.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_process_and_is_controlled_through_its_handle() {
        let (merchant, platform) = tokio::task::spawn_blocking(|| {
            (Rsa2Signer::generate().expect("key"), Rsa2Signer::generate().expect("key"))
        })
        .await
        .expect("keys");
        let app = SandboxApp {
            app_id: "2021000000000009".into(),
            seller_id: "2088000000000009".into(),
            merchant_key: merchant.verifier().clone(),
        };
        let handle = spawn(SandboxConfig::new(platform.clone(), app), ([127, 0, 0, 1], 0).into())
            .await
            .expect("spawn");
        assert_eq!(handle.sandbox.platform_public_key().pem(), platform.verifier().pem());
        let gateway = std::sync::Arc::new(AlipayGateway::new(AlipayConfig {
            gateway_url: handle.gateway_url(),
            app_id: "2021000000000009".into(),
            seller_id: None,
            merchant_key: merchant,
            platform_key: platform.verifier().clone(),
            notify_url: "http://127.0.0.1:9/notify".into(),
            return_url: None,
            timeout: Duration::from_secs(10),
        }));
        let query = |g: std::sync::Arc<AlipayGateway>| async move {
            tokio::task::spawn_blocking(move || g.query("BM-1")).await.expect("join")
        };
        assert!(matches!(query(gateway.clone()).await, Err(GatewayError::TradeNotFound)));
        let faults = handle.sandbox.set_faults(FaultsPatch { down: Some(true), ..FaultsPatch::default() });
        assert!(faults.down);
        assert!(matches!(query(gateway.clone()).await, Err(GatewayError::Unavailable(503))));
        handle.sandbox.set_faults(FaultsPatch { down: Some(false), ..FaultsPatch::default() });
        assert!(matches!(query(gateway.clone()).await, Err(GatewayError::TradeNotFound)));
        handle.stop().await;
        assert!(matches!(query(gateway).await, Err(GatewayError::Transport(_))));
    }
}
