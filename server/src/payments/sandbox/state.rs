//! The sandbox platform's trades and open-API methods.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::super::gateway::TradeStatus;
use super::super::money::{fen_to_yuan, yuan_to_fen};
use super::super::rsa2::{NOTIFICATION_EXCLUDED, REQUEST_EXCLUDED};
use super::super::{parse_platform_time, platform_time};
use super::{SandboxApp, Shared, lock};

/// Default time to pay when a page-pay request names no `time_expire` (the platform's 15 days).
const DEFAULT_EXPIRY: time::Duration = time::Duration::days(15);

/// One trade.
#[derive(Debug, Clone)]
pub(super) struct Trade {
    pub(super) app_id: String,
    pub(super) seller_id: String,
    pub(super) out_trade_no: String,
    pub(super) trade_no: String,
    pub(super) subject: String,
    pub(super) total_fen: i64,
    pub(super) status: TradeStatus,
    pub(super) time_expire: OffsetDateTime,
    pub(super) notify_url: Option<String>,
    pub(super) return_url: Option<String>,
    pub(super) created: OffsetDateTime,
    pub(super) paid_at: Option<OffsetDateTime>,
    pub(super) closed_at: Option<OffsetDateTime>,
    pub(super) refunded_fen: i64,
    /// Refunds by `out_request_no`: amount and time.
    refunds: HashMap<String, (i64, OffsetDateTime)>,
}

/// All trades.
#[derive(Debug, Default)]
pub(super) struct Trades {
    by_key: HashMap<(String, String), Trade>,
    by_trade_no: HashMap<String, (String, String)>,
    seq: u64,
}

/// An open-API failure: `code`, `msg`, `sub_code`, `sub_msg`.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    /// The platform's code (`40004` …).
    pub code: &'static str,
    /// Its message.
    pub msg: &'static str,
    /// The business code (`ACQ.TRADE_NOT_EXIST` …).
    pub sub_code: &'static str,
    /// The business message.
    pub sub_msg: String,
}

impl ApiFailure {
    fn business(sub_code: &'static str, sub_msg: impl Into<String>) -> ApiFailure {
        ApiFailure { code: "40004", msg: "Business Failed", sub_code, sub_msg: sub_msg.into() }
    }
    fn invalid(sub_code: &'static str, sub_msg: impl Into<String>) -> ApiFailure {
        ApiFailure { code: "40002", msg: "Invalid Arguments", sub_code, sub_msg: sub_msg.into() }
    }
    fn missing(sub_code: &'static str, sub_msg: impl Into<String>) -> ApiFailure {
        ApiFailure { code: "40001", msg: "Missing Required Arguments", sub_code, sub_msg: sub_msg.into() }
    }

    /// The failure as a response object.
    pub(super) fn to_object(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("code".into(), self.code.into());
        m.insert("msg".into(), self.msg.into());
        m.insert("sub_code".into(), self.sub_code.into());
        m.insert("sub_msg".into(), self.sub_msg.clone().into());
        m
    }
}

/// An authenticated open-API request.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) app: SandboxApp,
    pub(super) method: String,
    pub(super) biz: Map<String, Value>,
    pub(super) notify_url: Option<String>,
    pub(super) return_url: Option<String>,
}

/// Why a request was not authenticated: the method (if known) and the failure. These answers
/// are not signed.
pub(super) type Unauthenticated = (Option<String>, ApiFailure);

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Checks the common parameters and the signature of a request.
pub(super) fn authenticate(shared: &Shared, params: &[(String, String)]) -> Result<Request, Unauthenticated> {
    let method = get(params, "method").map(str::to_owned);
    let fail = |f: ApiFailure| (method.clone(), f);
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = params.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return Err(fail(ApiFailure::invalid(
            "isv.invalid-parameter",
            format!("parameter {k} appears twice"),
        )));
    }
    let Some(m) = method.as_deref() else {
        return Err(fail(ApiFailure::missing("isv.missing-method", "缺少方法名参数")));
    };
    for key in ["app_id", "sign", "sign_type", "timestamp", "version", "charset", "biz_content"] {
        if get(params, key).is_none() {
            let sub = match key {
                "app_id" => "isv.missing-app-id",
                "sign" => "isv.missing-signature",
                "sign_type" => "isv.missing-signature-type",
                "timestamp" => "isv.missing-timestamp",
                "version" => "isv.missing-version",
                "charset" => "isv.missing-charset",
                _ => "isv.missing-biz-content",
            };
            return Err(fail(ApiFailure::missing(sub, format!("缺少参数 {key}"))));
        }
    }
    let app_id = get(params, "app_id").unwrap_or_default();
    let Some(app) = shared.config.apps.iter().find(|a| a.app_id == app_id) else {
        return Err(fail(ApiFailure::invalid("isv.invalid-app-id", "无效的AppID参数")));
    };
    if get(params, "sign_type") != Some("RSA2") {
        return Err(fail(ApiFailure::invalid("isv.invalid-signature-type", "无效的签名类型")));
    }
    if get(params, "version") != Some("1.0") {
        return Err(fail(ApiFailure::invalid("isv.invalid-version", "版本号错误")));
    }
    if !get(params, "charset").is_some_and(|c| c.eq_ignore_ascii_case("utf-8")) {
        return Err(fail(ApiFailure::invalid("isv.invalid-charset", "字符集错误")));
    }
    if get(params, "timestamp").and_then(parse_platform_time).is_none() {
        return Err(fail(ApiFailure::invalid("isv.invalid-timestamp", "非法的时间戳参数")));
    }
    if app.merchant_key.verify_params(params, REQUEST_EXCLUDED).is_err() {
        return Err(fail(ApiFailure::invalid("isv.invalid-signature", "验签出错")));
    }
    let biz: Map<String, Value> = serde_json::from_str(get(params, "biz_content").unwrap_or_default())
        .map_err(|_| fail(ApiFailure::invalid("isv.invalid-biz-content", "biz_content 不是 JSON 对象")))?;
    Ok(Request {
        app: app.clone(),
        method: m.to_owned(),
        biz,
        notify_url: get(params, "notify_url").map(str::to_owned),
        return_url: get(params, "return_url").map(str::to_owned),
    })
}

fn biz_str<'a>(biz: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    biz.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl Trades {
    fn find(&mut self, app_id: &str, biz: &Map<String, Value>) -> Result<&mut Trade, ApiFailure> {
        let key = match (biz_str(biz, "out_trade_no"), biz_str(biz, "trade_no")) {
            (Some(o), _) => (app_id.to_owned(), o.to_owned()),
            (None, Some(t)) => self
                .by_trade_no
                .get(t)
                .filter(|(a, _)| a == app_id)
                .cloned()
                .ok_or_else(|| ApiFailure::business("ACQ.TRADE_NOT_EXIST", "交易不存在"))?,
            (None, None) => {
                return Err(ApiFailure::missing(
                    "isv.missing-out-trade-no",
                    "out_trade_no 与 trade_no 不能同时为空",
                ));
            }
        };
        self.by_key.get_mut(&key).ok_or_else(|| ApiFailure::business("ACQ.TRADE_NOT_EXIST", "交易不存在"))
    }

    /// The trade behind a cashier form.
    pub(super) fn by_trade_no(&mut self, trade_no: &str) -> Option<&mut Trade> {
        let key = self.by_trade_no.get(trade_no)?.clone();
        self.by_key.get_mut(&key)
    }
}

/// A notification to send: the URL and the signed form parameters.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub(super) notify_url: String,
    pub(super) out_trade_no: String,
    pub(super) trade_status: TradeStatus,
    pub(super) params: Vec<(String, String)>,
}

/// The reason a trade changed, for its notification.
#[derive(Debug, Clone)]
enum Change {
    Paid,
    Closed,
    Refunded { out_request_no: String },
}

fn notification(shared: &Shared, trade: &Trade, change: &Change, now: OffsetDateTime) -> Option<Outgoing> {
    let notify_url = trade.notify_url.clone()?;
    let total = fen_to_yuan(trade.total_fen).ok()?;
    let mut p: Vec<(String, String)> = vec![
        ("notify_time".into(), platform_time(now)),
        ("notify_type".into(), "trade_status_sync".into()),
        ("notify_id".into(), hex::encode(crate::store::crypto::random_array::<16>())),
        ("app_id".into(), trade.app_id.clone()),
        ("charset".into(), "utf-8".into()),
        ("version".into(), "1.0".into()),
        ("sign_type".into(), "RSA2".into()),
        ("trade_no".into(), trade.trade_no.clone()),
        ("out_trade_no".into(), trade.out_trade_no.clone()),
        ("seller_id".into(), trade.seller_id.clone()),
        ("trade_status".into(), trade.status.as_str().into()),
        ("total_amount".into(), total.clone()),
        ("subject".into(), trade.subject.clone()),
        ("gmt_create".into(), platform_time(trade.created)),
    ];
    if let Some(paid) = trade.paid_at {
        p.push(("buyer_id".into(), BUYER_ID.into()));
        p.push(("buyer_logon_id".into(), BUYER_LOGON.into()));
        p.push(("receipt_amount".into(), total.clone()));
        p.push(("buyer_pay_amount".into(), total.clone()));
        p.push(("invoice_amount".into(), total));
        p.push(("gmt_payment".into(), platform_time(paid)));
    }
    if let Some(closed) = trade.closed_at {
        p.push(("gmt_close".into(), platform_time(closed)));
    }
    if let Change::Refunded { out_request_no } = change {
        p.push(("out_biz_no".into(), out_request_no.clone()));
        p.push(("refund_fee".into(), yuan_or_zero(trade.refunded_fen)));
        p.push(("gmt_refund".into(), platform_time(now)));
    }
    let sign = shared
        .config
        .platform_key
        .sign_params(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), NOTIFICATION_EXCLUDED);
    p.push(("sign".into(), sign));
    Some(Outgoing {
        notify_url,
        out_trade_no: trade.out_trade_no.clone(),
        trade_status: trade.status,
        params: p,
    })
}

const BUYER_ID: &str = "2088102177846880";
const BUYER_LOGON: &str = "cand***@sandbox.example";

fn yuan_or_zero(fen: i64) -> String {
    if fen == 0 { "0.00".into() } else { fen_to_yuan(fen).unwrap_or_else(|_| "0.00".into()) }
}

/// Closes expired unpaid trades (sends their notifications). `now` is the wall clock.
fn expire_locked(shared: &Shared, trades: &mut Trades, now: OffsetDateTime) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for t in trades.by_key.values_mut() {
        if t.status == TradeStatus::WaitBuyerPay && now >= t.time_expire {
            t.status = TradeStatus::Closed;
            t.closed_at = Some(now);
            out.extend(notification(shared, t, &Change::Closed, now));
        }
    }
    out
}

/// Closes expired unpaid trades now.
pub(super) fn expire_due(shared: &Arc<Shared>) {
    let now = OffsetDateTime::now_utc();
    let out = expire_locked(shared, &mut lock(&shared.trades), now);
    for o in out {
        shared.dispatcher.enqueue(shared, o);
    }
}

/// What the payment page shows.
#[derive(Debug, Clone)]
pub struct PageView {
    /// The platform's trade number.
    pub trade_no: String,
    /// The merchant's order number.
    pub out_trade_no: String,
    /// What is paid for.
    pub subject: String,
    /// The amount in yuan, as the platform writes it.
    pub total_amount: String,
    /// The trade's state.
    pub status: TradeStatus,
    /// Pay before (UTC+8).
    pub time_expire: String,
}

impl PageView {
    fn of(t: &Trade) -> PageView {
        PageView {
            trade_no: t.trade_no.clone(),
            out_trade_no: t.out_trade_no.clone(),
            subject: t.subject.clone(),
            total_amount: fen_to_yuan(t.total_fen).unwrap_or_default(),
            status: t.status,
            time_expire: platform_time(t.time_expire),
        }
    }
}

/// `alipay.trade.page.pay`: creates the trade on first sight (or finds it again) and answers
/// what the page shows.
pub(super) fn page_pay(shared: &Arc<Shared>, req: &Request) -> Result<PageView, ApiFailure> {
    let now = OffsetDateTime::now_utc();
    let out_trade_no = biz_str(&req.biz, "out_trade_no")
        .ok_or_else(|| ApiFailure::missing("isv.missing-out-trade-no", "缺少 out_trade_no"))?;
    if out_trade_no.len() > 64 {
        return Err(ApiFailure::invalid("isv.invalid-out-trade-no", "out_trade_no 过长"));
    }
    let amount = biz_str(&req.biz, "total_amount")
        .ok_or_else(|| ApiFailure::missing("isv.missing-total-amount", "缺少 total_amount"))?;
    let total_fen = yuan_to_fen(amount).ok().filter(|f| *f >= 1).ok_or_else(|| {
        ApiFailure::invalid("isv.invalid-total-amount", format!("total_amount {amount} 不合法"))
    })?;
    let subject = biz_str(&req.biz, "subject")
        .ok_or_else(|| ApiFailure::missing("isv.missing-subject", "缺少 subject"))?;
    if biz_str(&req.biz, "product_code") != Some("FAST_INSTANT_TRADE_PAY") {
        return Err(ApiFailure::invalid(
            "isv.invalid-product-code",
            "product_code 须为 FAST_INSTANT_TRADE_PAY",
        ));
    }
    let time_expire = match biz_str(&req.biz, "time_expire") {
        Some(t) => parse_platform_time(t).ok_or_else(|| {
            ApiFailure::invalid("isv.invalid-time-expire", format!("time_expire {t} 不合法"))
        })?,
        None => now + DEFAULT_EXPIRY,
    };
    let mut trades = lock(&shared.trades);
    let expired = expire_locked(shared, &mut trades, now);
    let key = (req.app.app_id.clone(), out_trade_no.to_owned());
    let view = if let Some(t) = trades.by_key.get(&key) {
        if t.total_fen != total_fen || t.subject != subject {
            Err(ApiFailure::business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"))
        } else {
            Ok(PageView::of(t))
        }
    } else if time_expire <= now {
        Err(ApiFailure::business("ACQ.TRADE_HAS_CLOSE", "交易已超时关闭"))
    } else {
        trades.seq += 1;
        let trade_no =
            format!("{}22001{:015}", platform_time(now).get(..10).unwrap_or("").replace('-', ""), trades.seq);
        let t = Trade {
            app_id: req.app.app_id.clone(),
            seller_id: req.app.seller_id.clone(),
            out_trade_no: out_trade_no.to_owned(),
            trade_no: trade_no.clone(),
            subject: subject.to_owned(),
            total_fen,
            status: TradeStatus::WaitBuyerPay,
            time_expire,
            notify_url: req.notify_url.clone(),
            return_url: req.return_url.clone(),
            created: now,
            paid_at: None,
            closed_at: None,
            refunded_fen: 0,
            refunds: HashMap::new(),
        };
        let view = PageView::of(&t);
        trades.by_trade_no.insert(trade_no, key.clone());
        trades.by_key.insert(key, t);
        Ok(view)
    };
    drop(trades);
    for o in expired {
        shared.dispatcher.enqueue(shared, o);
    }
    view
}

/// What the cashier did with a form.
#[derive(Debug, Clone)]
pub enum CashierOutcome {
    /// Paid now; the browser may return with these signed parameters.
    Paid {
        /// The trade.
        view: PageView,
        /// Where the browser returns to.
        return_to: Option<String>,
    },
    /// The candidate left without paying.
    Cancelled(PageView),
    /// Payment refused (closed, expired, already paid).
    Refused(PageView),
    /// No such trade.
    Unknown,
}

/// The cashier's `pay` / `cancel`.
pub(super) fn cashier(shared: &Arc<Shared>, trade_no: &str, pay: bool) -> CashierOutcome {
    let now = OffsetDateTime::now_utc();
    let mut trades = lock(&shared.trades);
    let mut outgoing = expire_locked(shared, &mut trades, now);
    let outcome = match trades.by_trade_no(trade_no) {
        None => CashierOutcome::Unknown,
        Some(t) if !pay => CashierOutcome::Cancelled(PageView::of(t)),
        Some(t) if t.status != TradeStatus::WaitBuyerPay => CashierOutcome::Refused(PageView::of(t)),
        Some(t) => {
            t.status = TradeStatus::Success;
            t.paid_at = Some(now);
            outgoing.extend(notification(shared, t, &Change::Paid, now));
            let return_to = t.return_url.as_ref().map(|url| return_url(shared, t, url, now));
            CashierOutcome::Paid { view: PageView::of(t), return_to }
        }
    };
    drop(trades);
    for o in outgoing {
        shared.dispatcher.enqueue(shared, o);
    }
    outcome
}

/// The synchronous return: the merchant's `return_url` with signed parameters (signed like a
/// notification; it proves nothing the notification or a query does not).
fn return_url(shared: &Shared, t: &Trade, url: &str, now: OffsetDateTime) -> String {
    let total = fen_to_yuan(t.total_fen).unwrap_or_default();
    let mut p: Vec<(&str, String)> = vec![
        ("charset", "utf-8".into()),
        ("out_trade_no", t.out_trade_no.clone()),
        ("method", "alipay.trade.page.pay.return".into()),
        ("total_amount", total),
        ("trade_no", t.trade_no.clone()),
        ("auth_app_id", t.app_id.clone()),
        ("version", "1.0".into()),
        ("app_id", t.app_id.clone()),
        ("sign_type", "RSA2".into()),
        ("seller_id", t.seller_id.clone()),
        ("timestamp", platform_time(now)),
    ];
    let sign = shared
        .config
        .platform_key
        .sign_params(p.iter().map(|(k, v)| (*k, v.as_str())), NOTIFICATION_EXCLUDED);
    p.push(("sign", sign));
    let query = super::super::form_encode(p.iter().map(|(k, v)| (*k, v.as_str())));
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// `alipay.trade.query`, `.close`, `.refund`: the response object (success or failure).
pub(super) fn call(shared: &Arc<Shared>, req: &Request) -> Result<Map<String, Value>, ApiFailure> {
    let now = OffsetDateTime::now_utc();
    let mut trades = lock(&shared.trades);
    let mut outgoing = expire_locked(shared, &mut trades, now);
    let result = match req.method.as_str() {
        "alipay.trade.query" => query(&mut trades, req),
        "alipay.trade.close" => close(&mut trades, req, now),
        "alipay.trade.refund" => refund(shared, &mut trades, req, now, &mut outgoing),
        _ => Err(ApiFailure::invalid("isv.invalid-method", "不存在的方法名")),
    };
    drop(trades);
    for o in outgoing {
        shared.dispatcher.enqueue(shared, o);
    }
    result
}

fn success(fields: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("code".into(), "10000".into());
    m.insert("msg".into(), "Success".into());
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    m
}

fn query(trades: &mut Trades, req: &Request) -> Result<Map<String, Value>, ApiFailure> {
    let t = trades.find(&req.app.app_id, &req.biz)?;
    let total = fen_to_yuan(t.total_fen).unwrap_or_default();
    let mut m = success(json!({
        "trade_no": t.trade_no,
        "out_trade_no": t.out_trade_no,
        "trade_status": t.status.as_str(),
        "total_amount": total,
    }));
    if let Some(paid) = t.paid_at {
        m.insert("buyer_logon_id".into(), BUYER_LOGON.into());
        m.insert("buyer_user_id".into(), BUYER_ID.into());
        m.insert("buyer_pay_amount".into(), total.clone().into());
        m.insert("receipt_amount".into(), total.into());
        m.insert("send_pay_date".into(), platform_time(paid).into());
    }
    Ok(m)
}

fn close(trades: &mut Trades, req: &Request, now: OffsetDateTime) -> Result<Map<String, Value>, ApiFailure> {
    let t = trades.find(&req.app.app_id, &req.biz)?;
    if t.status != TradeStatus::WaitBuyerPay {
        return Err(ApiFailure::business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
    }
    t.status = TradeStatus::Closed;
    t.closed_at = Some(now);
    Ok(success(json!({ "trade_no": t.trade_no, "out_trade_no": t.out_trade_no })))
}

fn refund(
    shared: &Shared,
    trades: &mut Trades,
    req: &Request,
    now: OffsetDateTime,
    outgoing: &mut Vec<Outgoing>,
) -> Result<Map<String, Value>, ApiFailure> {
    let amount = biz_str(&req.biz, "refund_amount")
        .ok_or_else(|| ApiFailure::missing("isv.missing-refund-amount", "缺少 refund_amount"))?;
    let amount_fen = yuan_to_fen(amount).ok().filter(|f| *f >= 1).ok_or_else(|| {
        ApiFailure::invalid("isv.invalid-refund-amount", format!("refund_amount {amount} 不合法"))
    })?;
    let t = trades.find(&req.app.app_id, &req.biz)?;
    let out_request_no = biz_str(&req.biz, "out_request_no").unwrap_or(&t.out_trade_no).to_owned();
    let answer = |t: &Trade, fund_change: bool, at: OffsetDateTime| {
        success(json!({
            "trade_no": t.trade_no,
            "out_trade_no": t.out_trade_no,
            "buyer_logon_id": BUYER_LOGON,
            "fund_change": if fund_change { "Y" } else { "N" },
            "refund_fee": yuan_or_zero(t.refunded_fen),
            "gmt_refund_pay": platform_time(at),
        }))
    };
    if let Some((done, at)) = t.refunds.get(&out_request_no) {
        // The same refund again: answered as before, no money moves.
        if *done != amount_fen {
            return Err(ApiFailure::business("ACQ.REQUEST_AMOUNT_EXCEED", "同一退款请求号的金额不一致"));
        }
        return Ok(answer(t, false, *at));
    }
    if !t.status.is_paid() || t.status == TradeStatus::Finished {
        return Err(ApiFailure::business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
    }
    if t.refunded_fen + amount_fen > t.total_fen {
        return Err(ApiFailure::business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"));
    }
    t.refunded_fen += amount_fen;
    t.refunds.insert(out_request_no.clone(), (amount_fen, now));
    if t.refunded_fen == t.total_fen {
        t.status = TradeStatus::Closed;
        t.closed_at = Some(now);
    }
    outgoing.extend(notification(shared, t, &Change::Refunded { out_request_no }, now));
    Ok(answer(t, true, now))
}
