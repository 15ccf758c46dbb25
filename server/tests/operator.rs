//! End-to-end tests of the operator's side of the lifecycle against the real server binary:
//! the review queue (filters, paging, photo and report, reject → fix → re-apply → approve),
//! stats, the roster CSV, notices with the candidate's read, on-site confirmation refusals, and
//! per-center scoping on every endpoint. The successful confirmation needs a paid registration,
//! which only the storage layer can produce before payments exist: that test runs in-process.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use baoming_client::{ClientConfig, SyncClient};
use baoming_core::Catalog;
use baoming_core::catalog::DEMO_CATALOG_TOML;
use baoming_core::form::encode_id_document;
use baoming_core::id_document::IdKind;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::{
    HttpResponse, OPERATOR_PASSWORD, Server, Windows, http, http_with, register_candidate, resident_id,
};

const EXAM: &str = "ncre-2027-03";
const SYNC: Duration = Duration::from_secs(30);
/// Reviews registrations.
const REVIEWED: &str = "bj-haidian";
/// Requires on-site confirmation (its catalog window opens in twenty days in these tests).
const ONSITE: &str = "bj-chaoyang";
/// Neither review nor on-site confirmation.
const PLAIN: &str = "bj-dongcheng";
const DESK_PASSWORD: &str = "Eastern-Desk-Pass-9";

fn call(addr: SocketAddr, method: &str, path: &str, token: &str, body: Option<Value>) -> HttpResponse {
    let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
    http(addr, method, path, Some(token), bytes.as_deref()).expect("http")
}

fn get(addr: SocketAddr, path: &str, token: &str) -> HttpResponse {
    call(addr, "GET", path, token, None)
}

fn code(r: &HttpResponse) -> (u16, String) {
    (r.status, r.json()["code"].as_str().unwrap_or_default().to_owned())
}

fn operator_token(addr: SocketAddr, username: &str, password: &str) -> String {
    let body = serde_json::to_vec(&json!({ "username": username, "password": password })).expect("json");
    let r = http(addr, "POST", "/api/operator/sessions", None, Some(&body)).expect("login");
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()["token"].as_str().expect("token").to_owned()
}

/// The demo administrator, and an operator of each of `centers`, and an auditor.
struct Desks {
    admin: String,
    by_center: Vec<(String, String)>,
    auditor: String,
}

impl Desks {
    fn new(addr: SocketAddr, centers: &[&str]) -> Desks {
        let admin = operator_token(addr, "admin", OPERATOR_PASSWORD);
        let mut by_center = Vec::new();
        for c in centers {
            let username = format!("desk-{c}");
            let r = call(
                addr,
                "POST",
                "/api/operator/operators",
                &admin,
                Some(
                    json!({ "username": username, "password": DESK_PASSWORD, "role": "center_operator", "centers": [c] }),
                ),
            );
            assert_eq!(r.status, 201, "{:?}", r.json());
            by_center.push(((*c).to_owned(), operator_token(addr, &username, DESK_PASSWORD)));
        }
        let r = call(
            addr,
            "POST",
            "/api/operator/operators",
            &admin,
            Some(json!({ "username": "auditor1", "password": DESK_PASSWORD, "role": "auditor" })),
        );
        assert_eq!(r.status, 201, "{:?}", r.json());
        let auditor = operator_token(addr, "auditor1", DESK_PASSWORD);
        Desks { admin, by_center, auditor }
    }

    fn of(&self, center: &str) -> &str {
        &self.by_center.iter().find(|(c, _)| c == center).expect("desk").1
    }
}

/// A candidate whose device holds a complete draft.
struct Candidate {
    token: String,
    client: SyncClient,
    id_number: String,
    _dir: tempfile::TempDir,
}

impl Candidate {
    async fn new(addr: SocketAddr, n: u32, name: &str, center: &str) -> Candidate {
        let (account_id, token) = register_candidate(addr, &format!("op{n}@example.org"));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ClientConfig::new(dir.path(), &format!("http://{addr}"), &account_id);
        config.connect_timeout = Duration::from_secs(10);
        let client = SyncClient::open(config, &token).expect("client");
        client.open_registration(EXAM).expect("registration");
        let id_number = support::fill_complete_draft(&client, n, name, center, &["15"]);
        client.sync_batch(SYNC).await.expect("sync");
        Candidate { token, client, id_number, _dir: dir }
    }

    fn heads(&self) -> Vec<String> {
        self.client.edit(EXAM, |d| Ok(d.heads())).expect("heads").iter().map(ToString::to_string).collect()
    }

    /// Submits; returns the registration id.
    fn submit(&self, addr: SocketAddr) -> String {
        let body = serde_json::to_vec(&json!({ "heads": self.heads() })).expect("json");
        let key = format!("submit-{}", self.id_number);
        let path = format!("/api/registrations/{EXAM}/submit");
        let r = http_with(addr, "POST", &path, Some(&self.token), Some(&key), Some(&body)).expect("submit");
        assert_eq!(r.status, 200, "{:?}", r.json());
        r.json()["document_id"].as_str().expect("id").to_owned()
    }

    fn apply(&self, addr: SocketAddr, key: &str) {
        let path = format!("/api/registrations/{EXAM}/apply-review");
        let r = http_with(addr, "POST", &path, Some(&self.token), Some(key), Some(b"")).expect("apply");
        assert_eq!((r.status, r.json()["status"].clone()), (200, json!("under_review")), "{:?}", r.json());
    }
}

fn review_path(center: &str, query: &str) -> String {
    format!("/api/operator/exams/{EXAM}/centers/{center}/review{query}")
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["registration_id"].as_str().expect("id").to_owned())
        .collect()
}

fn audit_actions(addr: SocketAddr, admin: &str) -> Vec<String> {
    let r = get(addr, "/api/operator/audit?from=1&limit=1000", admin);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let v = r.json();
    let entries = v.as_array().cloned().or_else(|| v["entries"].as_array().cloned()).expect("entries");
    entries.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_queue_filters_pages_and_sees_a_rejection_fixed_and_approved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let addr = server.addr;
    support::import_catalog(addr, &support::catalog_around_now(DEMO_CATALOG_TOML, Windows::ONSITE_LATER));
    let desks = Desks::new(addr, &[REVIEWED, ONSITE]);
    let a = Candidate::new(addr, 1, "张三丰", REVIEWED).await;
    let b = Candidate::new(addr, 2, "李\"四,五", REVIEWED).await;
    let c = Candidate::new(addr, 3, "王五", REVIEWED).await;
    let (ida, idb, idc) = (a.submit(addr), b.submit(addr), c.submit(addr));
    a.apply(addr, "a1");
    b.apply(addr, "b1");
    c.apply(addr, "c1");

    // The default queue: every registration under review, with answers, photo and report.
    let r = get(addr, &review_path(REVIEWED, ""), desks.of(REVIEWED));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let all = r.json();
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(all["statuses"], json!(["under_review"]));
    let order = ids(&all);
    let mut sorted = vec![ida.clone(), idb.clone(), idc.clone()];
    sorted.sort();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(listed, sorted);
    let item = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["registration_id"] == ida.as_str())
        .expect("a");
    assert_eq!(item["name"], "张三丰");
    assert_eq!(item["registration"]["status"], "under_review");
    assert_eq!(item["answers"]["fields"]["mobile"], "13800138000");
    assert_eq!(item["answers"]["center"], REVIEWED);
    assert_eq!(item["answers"]["subjects"], json!(["15"]));
    assert_eq!(item["photo"]["stored"], true, "{item}");
    assert_eq!(item["photo"]["passed"], true, "{item}");
    assert!(item["photo"]["report"]["problems"].as_array().is_some_and(Vec::is_empty), "{item}");
    let url = item["photo"]["url"].as_str().expect("url");
    let photo = get(addr, url, desks.of(REVIEWED));
    assert_eq!((photo.status, photo.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(photo.body, support::prepared_photo().0);
    let queued: Vec<i64> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["queued_at_ms"].as_i64().expect("ms"))
        .collect();
    assert!(queued.windows(2).all(|w| w[0] <= w[1]), "ordered by queue time: {queued:?}");

    // Paging by cursor and by offset walk the same order.
    let r = get(addr, &review_path(REVIEWED, "?limit=2"), desks.of(REVIEWED));
    let first = r.json();
    assert_eq!(ids(&first), order[..2].to_vec());
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let r = get(addr, &review_path(REVIEWED, &format!("?limit=2&cursor={cursor}")), desks.of(REVIEWED));
    let second = r.json();
    assert_eq!(ids(&second), order[2..].to_vec());
    assert_eq!(second["next_cursor"], Value::Null);
    let r = get(addr, &review_path(REVIEWED, "?offset=1&limit=1"), desks.of(REVIEWED));
    assert_eq!(ids(&r.json()), vec![order[1].clone()]);

    // Search by name (URL-encoded Chinese) and by registration id prefix.
    let r = get(addr, &review_path(REVIEWED, "?q=%E6%9D%8E"), desks.of(REVIEWED));
    assert_eq!(ids(&r.json()), vec![idb.clone()], "q=李");
    let r = get(addr, &review_path(REVIEWED, &format!("?q={}", &idc[..8])), desks.of(REVIEWED));
    assert_eq!(ids(&r.json()), vec![idc.clone()]);
    let r = get(addr, &review_path(REVIEWED, "?status=submitted"), desks.of(REVIEWED));
    assert_eq!(r.json()["total"], 0);

    // Bad parameters: typed 400s.
    for (query, expected) in [
        ("?limit=0", "limit_invalid"),
        ("?limit=101", "limit_invalid"),
        ("?status=paid,bogus", "status_invalid"),
        ("?cursor=zz", "cursor_invalid"),
        ("?cursor=00&offset=1", "paging_conflict"),
        ("?offset=x", "offset_invalid"),
        ("?sort=name", "parameter_unknown"),
    ] {
        let r = get(addr, &review_path(REVIEWED, query), desks.of(REVIEWED));
        assert_eq!(code(&r), (400, expected.to_owned()), "{query}");
    }

    // Scoping: another center's operator gets 404 (as for a center that does not exist); the
    // auditor reads.
    let r = get(addr, &review_path(REVIEWED, ""), desks.of(ONSITE));
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    let r = get(addr, &review_path("no-such-center", ""), &desks.admin);
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    let r = get(addr, &review_path(REVIEWED, ""), &desks.auditor);
    assert_eq!((r.status, r.json()["total"].clone()), (200, json!(3)));

    // Reject A with a reason and the paths it concerns; the item shows them.
    let reason = "姓名与证件不符,请更正\n\"照片\"亦需重拍";
    let r = call(
        addr,
        "POST",
        &format!("/api/operator/registrations/{ida}/reject"),
        desks.of(REVIEWED),
        Some(json!({ "reason": reason, "paths": ["draft.fields.name", "draft.photo"] })),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = get(addr, &review_path(REVIEWED, "?status=rejected"), desks.of(REVIEWED));
    let rejected = r.json();
    assert_eq!(ids(&rejected), vec![ida.clone()]);
    assert_eq!(rejected["items"][0]["reason"], reason);
    assert_eq!(rejected["items"][0]["reason_paths"], json!(["draft.fields.name", "draft.photo"]));
    assert_eq!(get(addr, &review_path(REVIEWED, ""), desks.of(REVIEWED)).json()["total"], 2);
    let r = get(addr, &review_path(REVIEWED, "?status=under_review&status=rejected"), desks.of(REVIEWED));
    assert_eq!(r.json()["total"], 3);

    // The candidate fixes the name through sync and applies again; the queue shows the fix.
    a.client.sync_batch(SYNC).await.expect("sync");
    a.client.edit(EXAM, |d| d.set_field("name", "张三")).expect("fix");
    a.client.sync_batch(SYNC).await.expect("sync");
    assert!(a.client.rejected_edits(EXAM).expect("rejected").is_empty());
    a.apply(addr, "a2");
    let r = get(addr, &review_path(REVIEWED, &format!("?q={}", &ida[..8])), desks.of(REVIEWED));
    let again = r.json();
    assert_eq!(again["items"][0]["name"], "张三", "{again}");
    assert_eq!(again["items"][0]["answers"]["fields"]["name"], "张三");
    assert_eq!(again["items"][0]["reason"], Value::Null);
    let r = call(
        addr,
        "POST",
        &format!("/api/operator/registrations/{ida}/approve"),
        desks.of(REVIEWED),
        Some(json!({})),
    );
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("approved")));

    // Reject B too, so the roster carries a reason with a comma, quotes and a line break.
    let r = call(
        addr,
        "POST",
        &format!("/api/operator/registrations/{idb}/reject"),
        &desks.admin,
        Some(json!({ "reason": reason, "paths": [] })),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());

    // Stats: per center the operator sees, per subject, per status.
    let r = get(addr, &format!("/api/operator/exams/{EXAM}/stats"), desks.of(REVIEWED));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let stats = r.json();
    let centers = stats["centers"].as_array().expect("centers");
    assert_eq!(centers.len(), 1, "only its own center: {stats}");
    let s = &centers[0];
    assert_eq!(s["center"], REVIEWED);
    assert_eq!((s["seats"]["held"].clone(), s["seats"]["paid"].clone()), (json!(3), json!(0)));
    let n = |v: &Value| v.as_u64().expect("number");
    assert_eq!(
        n(&s["seats"]["held"]) + n(&s["seats"]["paid"]) + n(&s["seats"]["free"]),
        n(&s["seats"]["capacity"])
    );
    let s15 = s["subjects"].as_array().expect("subjects").iter().find(|x| x["code"] == "15").expect("15");
    assert_eq!(s15["held"], 3);
    assert_eq!(n(&s15["held"]) + n(&s15["paid"]) + n(&s15["free"]), n(&s15["capacity"]));
    assert_eq!(s["statuses"]["approved"], 1);
    assert_eq!(s["statuses"]["rejected"], 1);
    assert_eq!(s["statuses"]["under_review"], 1);
    assert_eq!(s["payments"], json!({ "paid_count": 0, "paid_fen": 0 }));
    let r = get(addr, &format!("/api/operator/exams/{EXAM}/stats"), &desks.admin);
    let all_centers = r.json()["centers"].as_array().expect("centers").len();
    assert_eq!(all_centers, Catalog::demo().exam(EXAM).expect("exam").centers.len());
    assert_eq!(r.json()["totals"]["registrations"], 3);
    let r = get(addr, &format!("/api/operator/exams/{EXAM}/stats"), desks.of(ONSITE));
    let theirs = r.json();
    assert_eq!(theirs["centers"].as_array().map(Vec::len), Some(1));
    assert_eq!(theirs["centers"][0]["center"], ONSITE);
    assert_eq!(theirs["totals"]["registrations"], 0, "nothing of another center leaks into totals");
    let r = get(addr, "/api/operator/exams/no-such-exam/stats", &desks.admin);
    assert_eq!(code(&r), (404, "not_found".to_owned()));

    // Roster CSV: BOM, bilingual header, RFC 4180 quoting, full ID numbers for the center.
    let roster = format!("/api/operator/exams/{EXAM}/centers/{REVIEWED}/roster.csv");
    let r = get(addr, &roster, desks.of(REVIEWED));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r.body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM first");
    let text = std::str::from_utf8(&r.body[3..]).expect("utf-8");
    assert!(
        text.starts_with("报名号 registration_id,姓名 name,证件类型 id_type,证件号码 id_number,"),
        "{text}"
    );
    assert!(text.contains("\r\n"), "CRLF line ends");
    assert!(text.contains("\"李\"\"四,五\""), "name with a quote and a comma is quoted: {text}");
    let quoted_reason = format!("\"{}\"", reason.replace('"', "\"\""));
    assert!(text.contains(&quoted_reason), "reason with a line break is quoted: {text}");
    assert!(text.contains(&format!("{ida},张三,居民身份证,{}", a.id_number)), "{text}");
    assert!(text.contains("审核通过，待缴费"), "{text}");
    assert_eq!(
        text.matches("\r\n").count(),
        4,
        "header and three rows (the reason's LF is inside a quoted field)"
    );
    // Auditors get the ID numbers masked; another center's operator gets 404.
    let r = get(addr, &roster, &desks.auditor);
    let audited = String::from_utf8(r.body[3..].to_vec()).expect("utf-8");
    assert!(!audited.contains(&a.id_number) && audited.contains("1101**********"), "{audited}");
    let r = get(addr, &roster, desks.of(ONSITE));
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    let actions = audit_actions(addr, &desks.admin);
    assert_eq!(actions.iter().filter(|a| *a == "roster.read").count(), 2, "each read audited: {actions:?}");
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("format")
}

fn notice(title: &str, opens: OffsetDateTime, closes: OffsetDateTime, onsite: bool) -> Value {
    json!({
        "title": title,
        "body": "请携带身份证件原件，于窗口期内到诚信楼一层办理现场确认。\n逾期视为放弃。",
        "opens": rfc3339(opens),
        "closes": rfc3339(closes),
        "requires_onsite_confirmation": onsite,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_and_on_site_confirmation_refusals_respect_center_scope() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let addr = server.addr;
    support::import_catalog(addr, &support::catalog_around_now(DEMO_CATALOG_TOML, Windows::ONSITE_LATER));
    let desks = Desks::new(addr, &[REVIEWED, ONSITE]);
    let e = Candidate::new(addr, 21, "赵六", ONSITE).await;
    let f = Candidate::new(addr, 22, "钱七", PLAIN).await;
    let ide = e.submit(addr);
    let idf = f.submit(addr);
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    let notices = format!("/api/operator/exams/{EXAM}/centers/{ONSITE}/notices");
    let confirm = |center: &str| format!("/api/operator/exams/{EXAM}/centers/{center}/confirm");
    let desk = desks.of(ONSITE);

    // Before any notice, confirmation waits for the catalog's window (in twenty days).
    let r = call(addr, "POST", &confirm(ONSITE), desk, Some(json!({ "registration_id": ide })));
    assert_eq!(code(&r), (409, "confirmation_window_closed".to_owned()), "{:?}", r.json());
    assert_eq!(r.json()["windows"][0]["source"], "catalog");

    // Notices: validation.
    for (body, expected) in [
        (notice("", now, now + hour, false), (422, "title_invalid")),
        (notice("t", now + hour, now, false), (422, "window_invalid")),
        (
            json!({ "title": "t", "body": "x".repeat(5001), "opens": rfc3339(now), "closes": rfc3339(now + hour) }),
            (422, "body_invalid"),
        ),
        (
            json!({ "title": "t", "body": "b", "opens": "tomorrow", "closes": rfc3339(now) }),
            (422, "invalid_body"),
        ),
        (
            json!({ "title": "t", "body": "b", "opens": rfc3339(now), "closes": rfc3339(now + hour), "pinned": true }),
            (422, "invalid_body"),
        ),
    ] {
        let r = call(addr, "POST", &notices, desk, Some(body));
        assert_eq!(code(&r), (expected.0, expected.1.to_owned()));
    }
    let r = http(addr, "POST", &notices, Some(desk), Some(b"{not json")).expect("http");
    assert_eq!(code(&r), (400, "malformed_json".to_owned()));
    let plain_notices = format!("/api/operator/exams/{EXAM}/centers/{PLAIN}/notices");
    let r = call(addr, "POST", &plain_notices, &desks.admin, Some(notice("现场确认", now, now + hour, true)));
    assert_eq!(code(&r), (422, "onsite_not_required".to_owned()), "the catalog decides the policy");
    assert_eq!(get(addr, &notices, desk).json(), json!([]), "nothing stored by refused writes");

    // Create, read, update; a future notice is listed for operators but not shown to candidates.
    let r = call(addr, "POST", &notices, desk, Some(notice("现场确认通知", now - hour, now + hour, true)));
    assert_eq!(r.status, 201, "{:?}", r.json());
    let open = r.json();
    let open_id = open["id"].as_str().expect("id").to_owned();
    assert_eq!(open["requires_onsite_confirmation"], true);
    let r = call(addr, "POST", &notices, desk, Some(notice("考前须知", now + hour, now + hour * 48, false)));
    assert_eq!(r.status, 201, "{:?}", r.json());
    let later_id = r.json()["id"].as_str().expect("id").to_owned();
    let r = get(addr, &notices, desk);
    assert_eq!(r.json().as_array().map(Vec::len), Some(2));
    let one = format!("{notices}/{open_id}");
    assert_eq!(get(addr, &one, desk).json()["title"], "现场确认通知");
    let r = call(addr, "PUT", &one, desk, Some(notice("现场确认通知（更新）", now - hour, now + hour, true)));
    assert_eq!((r.status, r.json()["title"].clone()), (200, json!("现场确认通知（更新）")));
    let r = call(
        addr,
        "PUT",
        &format!("{notices}/nt_0000000000000000"),
        desk,
        Some(notice("t", now, now + hour, false)),
    );
    assert_eq!(code(&r), (404, "not_found".to_owned()));

    // The candidate reads the open notices of the center of their registration.
    let r = get(addr, &format!("/api/registrations/{EXAM}/notices"), &e.token);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let shown = r.json();
    assert_eq!(shown["center"], ONSITE);
    let titles: Vec<&str> =
        shown["notices"].as_array().expect("notices").iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, vec!["现场确认通知（更新）"]);
    assert!(shown["notices"][0].get("updated_by").is_none(), "operators stay anonymous");
    assert_eq!(shown["onsite"]["required"], true);
    let r = get(addr, &format!("/api/registrations/{EXAM}/notices"), &f.token);
    assert_eq!((r.json()["center"].clone(), r.json()["notices"].clone()), (json!(PLAIN), json!([])));
    let r = get(addr, &format!("/api/registrations/{EXAM}/notices"), desk);
    assert_eq!(r.status, 401, "a candidate read");

    // Scoping of notices: another center's operator gets 404 for every method, the auditor
    // reads but may not write.
    let other = desks.of(REVIEWED);
    assert_eq!(code(&get(addr, &notices, other)), (404, "not_found".to_owned()));
    assert_eq!(code(&get(addr, &one, other)), (404, "not_found".to_owned()));
    let r = call(addr, "POST", &notices, other, Some(notice("x", now, now + hour, false)));
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    let r = call(addr, "PUT", &one, other, Some(notice("x", now, now + hour, false)));
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    assert_eq!(code(&call(addr, "DELETE", &one, other, None)), (404, "not_found".to_owned()));
    assert_eq!(get(addr, &notices, &desks.auditor).status, 200);
    let r = call(addr, "POST", &notices, &desks.auditor, Some(notice("x", now, now + hour, false)));
    assert_eq!(code(&r), (403, "forbidden".to_owned()));
    assert_eq!(code(&call(addr, "DELETE", &one, &desks.auditor, None)), (403, "forbidden".to_owned()));

    // With the notice's window open, the look-up works and the lifecycle refuses: not paid yet.
    let r = call(addr, "POST", &confirm(ONSITE), desk, Some(json!({ "registration_id": ide })));
    assert_eq!(code(&r), (409, "transition_not_allowed".to_owned()), "{:?}", r.json());
    assert_eq!(r.json()["status"], "submitted");
    let r = call(
        addr,
        "POST",
        &confirm(ONSITE),
        desk,
        Some(json!({ "name": "赵六", "id_document": e.id_number })),
    );
    assert_eq!(code(&r), (409, "transition_not_allowed".to_owned()), "found by name and ID: {:?}", r.json());
    let encoded = encode_id_document(IdKind::ResidentId, &e.id_number);
    let r =
        call(addr, "POST", &confirm(ONSITE), desk, Some(json!({ "name": "赵六", "id_document": encoded })));
    assert_eq!(code(&r), (409, "transition_not_allowed".to_owned()));
    // Not found: a wrong name, an unknown ID, an unknown or malformed registration id, and a
    // registration of another center.
    for body in [
        json!({ "name": "赵七", "id_document": e.id_number }),
        json!({ "name": "赵六", "id_document": resident_id("11010519900101999") }),
        json!({ "registration_id": "nonsense" }),
        json!({ "registration_id": idf }),
    ] {
        let r = call(addr, "POST", &confirm(ONSITE), desk, Some(body.clone()));
        assert_eq!(code(&r), (404, "not_found".to_owned()), "{body}");
    }
    let r =
        call(addr, "POST", &confirm(ONSITE), desk, Some(json!({ "registration_id": ide, "name": "赵六" })));
    assert_eq!(code(&r), (422, "invalid_body".to_owned()));
    // A center without on-site confirmation.
    let r = call(addr, "POST", &confirm(PLAIN), &desks.admin, Some(json!({ "registration_id": idf })));
    assert_eq!(code(&r), (409, "onsite_not_required".to_owned()), "{:?}", r.json());
    // Scoping of confirmation.
    let r = call(addr, "POST", &confirm(ONSITE), other, Some(json!({ "registration_id": ide })));
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    let r = call(addr, "POST", &confirm(PLAIN), desk, Some(json!({ "registration_id": idf })));
    assert_eq!(code(&r), (404, "not_found".to_owned()));
    let r = call(addr, "POST", &confirm(ONSITE), &desks.auditor, Some(json!({ "registration_id": ide })));
    assert_eq!(code(&r), (403, "forbidden".to_owned()));
    let r = get(addr, &format!("/api/registrations/{EXAM}"), &e.token);
    assert_eq!(r.json()["status"], "submitted", "nothing changed");

    // Delete: gone for operators and candidates; every write audited.
    assert_eq!(call(addr, "DELETE", &one, desk, None).status, 204);
    assert_eq!(code(&get(addr, &one, desk)), (404, "not_found".to_owned()));
    let r = get(addr, &format!("/api/registrations/{EXAM}/notices"), &e.token);
    assert_eq!(r.json()["notices"], json!([]));
    assert_eq!(get(addr, &notices, desk).json()[0]["id"], later_id);
    let actions = audit_actions(addr, &desks.admin);
    for a in ["notice.create", "notice.update", "notice.delete"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| *a == "notice.create").count(), 2, "refused writes are not audited");
}

/// The success path: a paid registration at a center that requires on-site confirmation,
/// confirmed through the lifecycle while a confirmation notice is open. In-process, because
/// payments do not exist yet and only the storage layer can make a registration paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_registration_is_confirmed_on_site_through_the_lifecycle() {
    use baoming_core::document::DocumentId;
    use baoming_core::draft::ServerSection;
    use baoming_core::lifecycle::Status;
    use baoming_server::api::error::ApiError;
    use baoming_server::desk::notices::NoticeInput;
    use baoming_server::desk::onsite::Lookup;
    use baoming_server::identity::operators::{Operator, Role};
    use baoming_server::registration::record::{RegistrationRecord, load_record};
    use baoming_server::store::{Tree, Txn, encode};

    let t = support::TestApp::new();
    let app = &t.app;
    let desk = Operator {
        id: "op_desk".into(),
        username: "desk".into(),
        role: Role::Administrator,
        centers: Vec::new(),
        password: String::new(),
        created: 0,
    };
    let code = |e: baoming_server::desk::DeskError| ApiError::from(e).problem().body.code.as_str();
    let paid = |account: &str, center: &str| {
        let id = DocumentId::derive(EXAM, account);
        let record = RegistrationRecord {
            refund_due: false,
            account: account.into(),
            exam: EXAM.into(),
            center: center.into(),
            subjects: vec!["15".into()],
            id_document_key: None,
            section: ServerSection {
                status: Status::Paid,
                seats: vec!["15".into()],
                amount_fen: Some(8000),
                updated_at_ms: 1,
                ..ServerSection::default()
            },
        };
        let mut txn = Txn::new();
        txn.put(Tree::Registrations, id.as_bytes().to_vec(), encode(&record));
        app.db.store().commit(&txn).expect("commit a paid record");
        id
    };
    let id = paid("acc_paid", ONSITE);
    let live = app.registrations.hub.open(id, "acc_paid", EXAM).await.expect("open");
    let by_id = Lookup::Registration { registration_id: id.to_string() };

    // Outside every window: refused, nothing changes.
    let err = app.desk.confirm(&desk, EXAM, ONSITE, &by_id, None, b"").await.expect_err("closed");
    assert_eq!(code(err), "confirmation_window_closed");
    // A paid registration at a center without on-site confirmation.
    let plain = paid("acc_plain", PLAIN);
    let lookup = Lookup::Registration { registration_id: plain.to_string() };
    let err = app.desk.confirm(&desk, EXAM, PLAIN, &lookup, None, b"").await.expect_err("not required");
    assert_eq!(code(err), "onsite_not_required");

    // A confirmation notice opens the window.
    let now = OffsetDateTime::now_utc();
    let input = NoticeInput {
        title: "现场确认".into(),
        body: "请于今日到考点确认。".into(),
        opens: now - time::Duration::minutes(5),
        closes: now + time::Duration::hours(1),
        requires_onsite_confirmation: true,
    };
    app.desk.publish_notice(&desk, EXAM, ONSITE, input).await.expect("notice");
    let body = serde_json::to_vec(&json!({ "registration_id": id.to_string() })).expect("json");
    let answer =
        app.desk.confirm(&desk, EXAM, ONSITE, &by_id, Some("confirm-1"), &body).await.expect("confirmed");
    assert_eq!(answer.registration.status, Status::Confirmed);
    assert_eq!(answer.registration_id, id.to_string());
    let (record, _) = load_record(app.db.store(), &id).expect("read").expect("record");
    assert_eq!(record.section.status, Status::Confirmed);
    assert_eq!(record.section.seats, vec!["15".to_owned()], "seats stay paid");
    assert_eq!(live.server_section().await.status, Status::Confirmed, "the document's server section");
    let entries = baoming_server::store::audit::read(app.db.store(), 1, 10_000).expect("audit");
    let entry = entries.iter().find(|e| e.action == "registration.confirm_onsite").expect("audited");
    assert_eq!(entry.actor, baoming_server::store::audit::Actor::Operator("op_desk".into()).label());
    assert_eq!(entry.detail["from"], "paid");
    assert_eq!(entry.detail["to"], "confirmed");
    // A retry with the same key gets the stored answer; confirming again without it is a typed
    // refusal.
    let replayed =
        app.desk.confirm(&desk, EXAM, ONSITE, &by_id, Some("confirm-1"), &body).await.expect("replay");
    assert_eq!(replayed, answer);
    let err = app.desk.confirm(&desk, EXAM, ONSITE, &by_id, None, b"").await.expect_err("twice");
    assert_eq!(code(err), "transition_not_allowed");
}
