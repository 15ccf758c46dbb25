//! End-to-end tests of the operator's side of the lifecycle against the real server binary:
//! the review queue (filters, paging, photo and report, reject → fix → re-apply → approve),
//! stats, the roster CSV, notices with the candidate's read, on-site confirmation refusals, and
//! per-center scoping on every endpoint. The successful confirmation is driven in-process
//! through the desk's service on a record made `paid` in storage.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use baoming_client::SyncClient;
use baoming_core::Catalog;
use baoming_core::api::desk::{
    ConfirmRequest, ExamStats, NoticeRequest, OperatorNotice, ReviewPage, ReviewQuery, ReviewStart,
};
use baoming_core::api::documents::CandidateNotices;
use baoming_core::api::error::{ConfirmationWindow, ErrorCode};
use baoming_core::api::operator::{AuditEntry, AuditQuery, Role};
use baoming_core::api::paths;
use baoming_core::api::registrations::{
    CandidateAction, OperatorDecision, RegistrationView, RejectRequest, SubmitRequest,
};
use baoming_core::form::encode_id_document;
use baoming_core::id_document::IdKind;
use baoming_core::lifecycle::Status;
use serde_json::{Value, json};
use time::OffsetDateTime;

use support::{
    Request, Response, Windows, admin_login, create_operator, delete, device_client, get, import_catalog,
    operator_login, post, put, register_candidate, registration, resident_id,
};

const EXAM: &str = support::DEMO_EXAM;
const SYNC: Duration = support::SYNC;
/// Reviews registrations.
const REVIEWED: &str = "bj-haidian";
/// Requires on-site confirmation (its catalog window opens in twenty days in these tests).
const ONSITE: &str = "bj-chaoyang";
/// Neither review nor on-site confirmation.
const PLAIN: &str = "bj-dongcheng";
const DESK_PASSWORD: &str = "Eastern-Desk-Pass-9";

/// The demo administrator, and an operator of each of `centers`, and an auditor.
struct Desks {
    admin: String,
    by_center: Vec<(String, String)>,
    auditor: String,
}

impl Desks {
    fn new(addr: SocketAddr, centers: &[&str]) -> Desks {
        let admin = admin_login(addr);
        let mut by_center = Vec::new();
        for c in centers {
            let username = format!("desk-{c}");
            create_operator(addr, &admin, &username, DESK_PASSWORD, Role::CenterOperator, &[c]);
            by_center.push(((*c).to_owned(), operator_login(addr, &username, DESK_PASSWORD)));
        }
        create_operator(addr, &admin, "auditor1", DESK_PASSWORD, Role::Auditor, &[]);
        let auditor = operator_login(addr, "auditor1", DESK_PASSWORD);
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
        let client = device_client(addr, dir.path(), &account_id, &token);
        let id_number = support::fill_complete_draft(&client, n, name, center, &["15"]);
        client.sync_batch(SYNC).await.expect("sync");
        Candidate { token, client, id_number, _dir: dir }
    }

    fn heads(&self) -> Vec<String> {
        self.client.edit(EXAM, |d| Ok(d.heads())).expect("heads").iter().map(ToString::to_string).collect()
    }

    /// Submits; returns the registration id.
    fn submit(&self, addr: SocketAddr) -> String {
        let path = paths::registration_action(EXAM, CandidateAction::Submit);
        let key = format!("submit-{}", self.id_number);
        let req = SubmitRequest { heads: self.heads() };
        post(addr, &path)
            .token(&self.token)
            .key(&key)
            .json(&req)
            .send()
            .typed::<RegistrationView>()
            .document_id
    }

    fn apply(&self, addr: SocketAddr, key: &str) {
        let path = paths::registration_action(EXAM, CandidateAction::ApplyReview);
        let applied: RegistrationView = post(addr, &path).token(&self.token).key(key).body("").send().typed();
        assert_eq!(applied.status, Status::UnderReview);
    }
}

/// The review queue of `center` with `query`.
fn queue(addr: SocketAddr, token: &str, center: &str, query: &ReviewQuery) -> Response {
    get(addr, &format!("{}{}", paths::review_queue(EXAM, center), query.query_string())).token(token).send()
}

/// The review queue of `center` with a query string written out (for the ones the query type
/// cannot write).
fn queue_raw(addr: SocketAddr, token: &str, center: &str, query: &str) -> Response {
    get(addr, &format!("{}{query}", paths::review_queue(EXAM, center))).token(token).send()
}

fn ids(page: &ReviewPage) -> Vec<String> {
    page.items.iter().map(|i| i.registration_id.clone()).collect()
}

fn reject(addr: SocketAddr, token: &str, id: &str, reason: &str, paths: &[&str]) -> Response {
    let body =
        RejectRequest { reason: reason.into(), paths: paths.iter().map(|p| (*p).to_owned()).collect() };
    post(addr, &paths::operator_decision(id, OperatorDecision::Reject)).token(token).json(&body).send()
}

fn audit_actions(addr: SocketAddr, admin: &str) -> Vec<String> {
    let query = AuditQuery { from: 1, limit: 1000 }.query_string();
    let entries: Vec<AuditEntry> =
        get(addr, &format!("{}{query}", paths::OPERATOR_AUDIT)).token(admin).send().typed();
    entries.into_iter().map(|e| e.action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one review queue, filter by filter, over the same registrations")]
async fn the_review_queue_filters_pages_and_sees_a_rejection_fixed_and_approved() {
    let server = support::start_server();
    let addr = server.addr;
    import_catalog(addr, &server.demo_catalog(Windows::ONSITE_LATER));
    let desks = Desks::new(addr, &[REVIEWED, ONSITE]);
    let a = Candidate::new(addr, 1, "张三丰", REVIEWED).await;
    let b = Candidate::new(addr, 2, "李\"四,五", REVIEWED).await;
    let c = Candidate::new(addr, 3, "王五", REVIEWED).await;
    let (ida, idb, idc) = (a.submit(addr), b.submit(addr), c.submit(addr));
    a.apply(addr, "a1");
    b.apply(addr, "b1");
    c.apply(addr, "c1");
    let desk = desks.of(REVIEWED);
    let by = |statuses: &[Status]| ReviewQuery { statuses: statuses.to_vec(), ..ReviewQuery::default() };

    // The default queue: every registration under review, with answers, photo and report.
    let all: ReviewPage = queue(addr, desk, REVIEWED, &ReviewQuery::default()).typed();
    assert_eq!(all.total, 3, "{all:?}");
    assert_eq!(all.statuses, vec![Status::UnderReview]);
    let order = ids(&all);
    let mut sorted = vec![ida.clone(), idb.clone(), idc.clone()];
    sorted.sort();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(listed, sorted);
    let item = all.items.iter().find(|i| i.registration_id == ida).expect("a");
    assert_eq!(item.name.as_deref(), Some("张三丰"));
    assert_eq!(item.registration.registration.status, Status::UnderReview);
    let answers = item.answers.as_ref().expect("answers");
    assert_eq!(answers.fields.get("mobile").map(String::as_str), Some("13800138000"));
    assert_eq!(answers.center.as_deref(), Some(REVIEWED));
    assert_eq!(answers.subjects, vec!["15".to_owned()]);
    let photo = item.photo.as_ref().expect("a photo");
    assert!(photo.stored, "{item:?}");
    assert_eq!(photo.passed, Some(true), "{item:?}");
    assert!(photo.report.as_ref().is_some_and(|r| r.problems.is_empty()), "{item:?}");
    let jpeg = get(addr, &photo.url).token(desk).send();
    assert_eq!((jpeg.status, jpeg.header("content-type")), (200, Some(paths::JPEG)));
    assert_eq!(jpeg.body, support::prepared_photo().0);
    let queued: Vec<i64> = all.items.iter().map(|i| i.queued_at_ms).collect();
    assert!(queued.windows(2).all(|w| w[0] <= w[1]), "ordered by queue time: {queued:?}");

    // Paging by cursor and by offset walk the same order.
    let first: ReviewPage =
        queue(addr, desk, REVIEWED, &ReviewQuery { limit: Some(2), ..ReviewQuery::default() }).typed();
    assert_eq!(ids(&first), order[..2].to_vec());
    let cursor = first.next_cursor.clone().expect("a next page");
    let second: ReviewPage = queue(
        addr,
        desk,
        REVIEWED,
        &ReviewQuery { limit: Some(2), start: Some(ReviewStart::Cursor(cursor)), ..ReviewQuery::default() },
    )
    .typed();
    assert_eq!(ids(&second), order[2..].to_vec());
    assert_eq!(second.next_cursor, None);
    let third: ReviewPage = queue(
        addr,
        desk,
        REVIEWED,
        &ReviewQuery { limit: Some(1), start: Some(ReviewStart::Offset(1)), ..ReviewQuery::default() },
    )
    .typed();
    assert_eq!(ids(&third), vec![order[1].clone()]);

    // Search by name (URL-encoded Chinese) and by registration id prefix.
    let named = queue_raw(addr, desk, REVIEWED, "?q=%E6%9D%8E").typed::<ReviewPage>();
    assert_eq!(ids(&named), vec![idb.clone()], "q=李");
    let prefix = ReviewQuery { q: Some(idc[..8].to_owned()), ..ReviewQuery::default() };
    assert_eq!(ids(&queue(addr, desk, REVIEWED, &prefix).typed()), vec![idc.clone()]);
    assert_eq!(queue(addr, desk, REVIEWED, &by(&[Status::Submitted])).typed::<ReviewPage>().total, 0);

    // Bad parameters: typed 400s.
    for (expected, queries) in [
        (ErrorCode::LimitInvalid, vec!["?limit=0", "?limit=101"]),
        (ErrorCode::StatusInvalid, vec!["?status=paid,bogus"]),
        (ErrorCode::CursorInvalid, vec!["?cursor=zz"]),
        (ErrorCode::PagingConflict, vec!["?cursor=00&offset=1"]),
        (ErrorCode::OffsetInvalid, vec!["?offset=x"]),
        (ErrorCode::ParameterUnknown, vec!["?sort=name"]),
    ] {
        for query in queries {
            assert_eq!(queue_raw(addr, desk, REVIEWED, query).error_code(), (400, expected), "{query}");
        }
    }

    // Scoping: another center's operator gets 404 (as for a center that does not exist); the
    // auditor reads.
    let everything = ReviewQuery::default();
    queue(addr, desks.of(ONSITE), REVIEWED, &everything).refused(404, ErrorCode::NotFound);
    queue(addr, &desks.admin, "no-such-center", &everything).refused(404, ErrorCode::NotFound);
    assert_eq!(queue(addr, &desks.auditor, REVIEWED, &everything).typed::<ReviewPage>().total, 3);

    // Reject A with a reason and the paths it concerns; the item shows them.
    let reason = "姓名与证件不符,请更正\n\"照片\"亦需重拍";
    reject(addr, desk, &ida, reason, &["draft.fields.name", "draft.photo"]).typed::<RegistrationView>();
    let rejected: ReviewPage = queue(addr, desk, REVIEWED, &by(&[Status::Rejected])).typed();
    assert_eq!(ids(&rejected), vec![ida.clone()]);
    assert_eq!(rejected.items[0].reason.as_deref(), Some(reason));
    assert_eq!(
        rejected.items[0].reason_paths,
        vec!["draft.fields.name".to_owned(), "draft.photo".to_owned()]
    );
    assert_eq!(queue(addr, desk, REVIEWED, &everything).typed::<ReviewPage>().total, 2);
    let both = queue_raw(addr, desk, REVIEWED, "?status=under_review&status=rejected").typed::<ReviewPage>();
    assert_eq!(both.total, 3);

    // The candidate fixes the name through sync and applies again; the queue shows the fix.
    a.client.sync_batch(SYNC).await.expect("sync");
    a.client.edit(EXAM, |d| d.set_field("name", "张三")).expect("fix");
    a.client.sync_batch(SYNC).await.expect("sync");
    assert!(a.client.rejected_edits(EXAM).expect("rejected").is_empty());
    a.apply(addr, "a2");
    let again: ReviewPage =
        queue(addr, desk, REVIEWED, &ReviewQuery { q: Some(ida[..8].to_owned()), ..ReviewQuery::default() })
            .typed();
    assert_eq!(again.items[0].name.as_deref(), Some("张三"), "{again:?}");
    let fields = &again.items[0].answers.as_ref().expect("answers").fields;
    assert_eq!(fields.get("name").map(String::as_str), Some("张三"));
    assert_eq!(again.items[0].reason, None);
    let approved: RegistrationView = post(addr, &paths::operator_decision(&ida, OperatorDecision::Approve))
        .token(desk)
        .body("{}")
        .send()
        .typed();
    assert_eq!(approved.status, Status::Approved);

    // Reject B too, so the roster carries a reason with a comma, quotes and a line break.
    reject(addr, &desks.admin, &idb, reason, &[]).typed::<RegistrationView>();

    // Stats: per center the operator sees, per subject, per status.
    let stats: ExamStats = get(addr, &paths::stats(EXAM)).token(desk).send().typed();
    assert_eq!(stats.centers.len(), 1, "only its own center: {stats:?}");
    let s = &stats.centers[0];
    assert_eq!(s.center, REVIEWED);
    assert_eq!((s.seats.held, s.seats.paid), (3, 0));
    assert_eq!(s.seats.held + s.seats.paid + s.seats.free, s.seats.capacity);
    let s15 = s.subjects.iter().find(|x| x.code == "15").expect("15");
    assert_eq!(s15.held, 3);
    assert_eq!(s15.held + s15.paid + s15.free, s15.capacity);
    let count = |status: Status| s.statuses.get(&status).copied();
    assert_eq!(
        (count(Status::Approved), count(Status::Rejected), count(Status::UnderReview)),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!((s.payments.paid_count, s.payments.paid_fen), (0, 0));
    let everyone: ExamStats = get(addr, &paths::stats(EXAM)).token(&desks.admin).send().typed();
    assert_eq!(everyone.centers.len(), Catalog::demo().exam(EXAM).expect("exam").centers.len());
    assert_eq!(everyone.totals.registrations, 3);
    let theirs: ExamStats = get(addr, &paths::stats(EXAM)).token(desks.of(ONSITE)).send().typed();
    assert_eq!(theirs.centers.iter().map(|c| c.center.as_str()).collect::<Vec<_>>(), vec![ONSITE]);
    assert_eq!(theirs.totals.registrations, 0, "nothing of another center leaks into totals");
    get(addr, &paths::stats("no-such-exam")).token(&desks.admin).send().refused(404, ErrorCode::NotFound);

    // Roster CSV: BOM, bilingual header, RFC 4180 quoting, full ID numbers for the center.
    let roster = paths::roster(EXAM, REVIEWED);
    let r = get(addr, &roster).token(desk).send();
    r.expect(200);
    assert_eq!(r.header("content-type"), Some(paths::CSV));
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
    let r = get(addr, &roster).token(&desks.auditor).send();
    let audited = String::from_utf8(r.body[3..].to_vec()).expect("utf-8");
    let masked = format!("{}********{}", &a.id_number[..6], &a.id_number[14..]);
    assert!(!audited.contains(&a.id_number) && audited.contains(&masked), "{audited}");
    get(addr, &roster).token(desks.of(ONSITE)).send().refused(404, ErrorCode::NotFound);
    let actions = audit_actions(addr, &desks.admin);
    assert_eq!(actions.iter().filter(|a| *a == "roster.read").count(), 2, "each read audited: {actions:?}");
}

fn notice(title: &str, opens: OffsetDateTime, closes: OffsetDateTime, onsite: bool) -> NoticeRequest {
    NoticeRequest {
        title: title.into(),
        body: "请携带身份证件原件，于窗口期内到诚信楼一层办理现场确认。\n逾期视为放弃。".into(),
        opens,
        closes,
        requires_onsite_confirmation: onsite,
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).expect("format")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "each scope refusal beside the allowed call it mirrors")]
async fn notices_and_on_site_confirmation_refusals_respect_center_scope() {
    let server = support::start_server();
    let addr = server.addr;
    import_catalog(addr, &server.demo_catalog(Windows::ONSITE_LATER));
    let desks = Desks::new(addr, &[REVIEWED, ONSITE]);
    let e = Candidate::new(addr, 21, "赵六", ONSITE).await;
    let f = Candidate::new(addr, 22, "钱七", PLAIN).await;
    let ide = e.submit(addr);
    let idf = f.submit(addr);
    let now = server.now().replace_nanosecond(0).expect("whole seconds");
    let hour = time::Duration::hours(1);
    let notices = paths::notices(EXAM, ONSITE);
    let confirm =
        |center: &str, token: &str| -> Request { post(addr, &paths::confirm(EXAM, center)).token(token) };
    let by_id = |id: &str| ConfirmRequest::Registration { registration_id: id.into() };
    let desk = desks.of(ONSITE);

    // Before any notice, confirmation waits for the catalog's window (in twenty days).
    let shut =
        confirm(ONSITE, desk).json(&by_id(&ide)).send().refused(409, ErrorCode::ConfirmationWindowClosed);
    assert!(matches!(shut.windows.as_deref(), Some([ConfirmationWindow::Catalog { .. }, ..])), "{shut:?}");

    // Notices: validation.
    let malformed: [(Value, (u16, ErrorCode)); 5] = [
        (json!(notice("", now, now + hour, false)), (422, ErrorCode::TitleInvalid)),
        (json!(notice("t", now + hour, now, false)), (422, ErrorCode::WindowInvalid)),
        (
            json!({ "title": "t", "body": "x".repeat(5001), "opens": rfc3339(now), "closes": rfc3339(now + hour) }),
            (422, ErrorCode::BodyInvalid),
        ),
        (
            json!({ "title": "t", "body": "b", "opens": "tomorrow", "closes": rfc3339(now) }),
            (422, ErrorCode::InvalidBody),
        ),
        (
            json!({ "title": "t", "body": "b", "opens": rfc3339(now), "closes": rfc3339(now + hour), "pinned": true }),
            (422, ErrorCode::InvalidBody),
        ),
    ];
    for (body, expected) in malformed {
        assert_eq!(post(addr, &notices).token(desk).json(&body).send().error_code(), expected, "{body}");
    }
    let r = post(addr, &notices).token(desk).body("{not json").send();
    r.refused(400, ErrorCode::MalformedJson);
    let plain_notices = paths::notices(EXAM, PLAIN);
    let r = post(addr, &plain_notices)
        .token(&desks.admin)
        .json(&notice("现场确认", now, now + hour, true))
        .send();
    r.refused(422, ErrorCode::OnsiteNotRequired);
    let stored: Vec<OperatorNotice> = get(addr, &notices).token(desk).send().typed();
    assert!(stored.is_empty(), "nothing stored by refused writes");

    // Create, read, update; a future notice is listed for operators but not shown to candidates.
    let open: OperatorNotice = post(addr, &notices)
        .token(desk)
        .json(&notice("现场确认通知", now - hour, now + hour, true))
        .send()
        .expect(201)
        .typed();
    assert!(open.notice.requires_onsite_confirmation);
    let open_id = open.notice.id.clone();
    let later: OperatorNotice = post(addr, &notices)
        .token(desk)
        .json(&notice("考前须知", now + hour, now + hour * 48, false))
        .send()
        .expect(201)
        .typed();
    assert_eq!(get(addr, &notices).token(desk).send().typed::<Vec<OperatorNotice>>().len(), 2);
    let one = paths::notice(EXAM, ONSITE, &open_id);
    assert_eq!(get(addr, &one).token(desk).send().typed::<OperatorNotice>().notice.title, "现场确认通知");
    let updated: OperatorNotice = put(addr, &one)
        .token(desk)
        .json(&notice("现场确认通知（更新）", now - hour, now + hour, true))
        .send()
        .typed();
    assert_eq!(updated.notice.title, "现场确认通知（更新）");
    put(addr, &paths::notice(EXAM, ONSITE, "nt_0000000000000000"))
        .token(desk)
        .json(&notice("t", now, now + hour, false))
        .send()
        .refused(404, ErrorCode::NotFound);

    // The candidate reads the open notices of the center of their registration.
    let candidate_notices = paths::registration_notices(EXAM);
    let shown: CandidateNotices = get(addr, &candidate_notices).token(&e.token).send().typed();
    assert_eq!(shown.center.as_deref(), Some(ONSITE));
    assert_eq!(shown.notices, vec![updated.notice.clone()], "only the open one, without its writer");
    assert!(shown.onsite.is_some_and(|rule| rule.required));
    let theirs: CandidateNotices = get(addr, &candidate_notices).token(&f.token).send().typed();
    assert_eq!((theirs.center.as_deref(), theirs.notices.len()), (Some(PLAIN), 0));
    get(addr, &candidate_notices).token(desk).send().refused(401, ErrorCode::Unauthorized);

    // Scoping of notices: another center's operator gets 404 for every method, the auditor
    // reads but may not write.
    let other = desks.of(REVIEWED);
    get(addr, &notices).token(other).send().refused(404, ErrorCode::NotFound);
    get(addr, &one).token(other).send().refused(404, ErrorCode::NotFound);
    let x = notice("x", now, now + hour, false);
    post(addr, &notices).token(other).json(&x).send().refused(404, ErrorCode::NotFound);
    put(addr, &one).token(other).json(&x).send().refused(404, ErrorCode::NotFound);
    delete(addr, &one).token(other).send().refused(404, ErrorCode::NotFound);
    get(addr, &notices).token(&desks.auditor).send().typed::<Vec<OperatorNotice>>();
    post(addr, &notices).token(&desks.auditor).json(&x).send().refused(403, ErrorCode::Forbidden);
    delete(addr, &one).token(&desks.auditor).send().refused(403, ErrorCode::Forbidden);

    // With the notice's window open, the look-up works and the lifecycle refuses: not paid yet.
    let refusal =
        confirm(ONSITE, desk).json(&by_id(&ide)).send().refused(409, ErrorCode::TransitionNotAllowed);
    assert_eq!(refusal.status, Some(Status::Submitted));
    let person = |name: &str, id_document: &str| ConfirmRequest::Person {
        name: name.into(),
        id_document: id_document.into(),
    };
    confirm(ONSITE, desk)
        .json(&person("赵六", &e.id_number))
        .send()
        .refused(409, ErrorCode::TransitionNotAllowed);
    let encoded = encode_id_document(IdKind::ResidentId, &e.id_number);
    confirm(ONSITE, desk)
        .json(&person("赵六", &encoded))
        .send()
        .refused(409, ErrorCode::TransitionNotAllowed);
    // Not found: a wrong name, an unknown ID, an unknown or malformed registration id, and a
    // registration of another center.
    for body in [
        person("赵七", &e.id_number),
        person("赵六", &resident_id("11010519900101999")),
        by_id("nonsense"),
        by_id(&idf),
    ] {
        confirm(ONSITE, desk).json(&body).send().refused(404, ErrorCode::NotFound);
    }
    confirm(ONSITE, desk)
        .json(&json!({ "registration_id": ide, "name": "赵六" }))
        .send()
        .refused(422, ErrorCode::InvalidBody);
    // A center without on-site confirmation.
    confirm(PLAIN, &desks.admin).json(&by_id(&idf)).send().refused(409, ErrorCode::OnsiteNotRequired);
    // Scoping of confirmation.
    confirm(ONSITE, other).json(&by_id(&ide)).send().refused(404, ErrorCode::NotFound);
    confirm(PLAIN, desk).json(&by_id(&idf)).send().refused(404, ErrorCode::NotFound);
    confirm(ONSITE, &desks.auditor).json(&by_id(&ide)).send().refused(403, ErrorCode::Forbidden);
    assert_eq!(registration(addr, &e.token).status, Status::Submitted, "nothing changed");

    // Delete: gone for operators and candidates; every write audited.
    assert_eq!(delete(addr, &one).token(desk).send().status, 204);
    get(addr, &one).token(desk).send().refused(404, ErrorCode::NotFound);
    let shown: CandidateNotices = get(addr, &candidate_notices).token(&e.token).send().typed();
    assert!(shown.notices.is_empty());
    let left: Vec<OperatorNotice> = get(addr, &notices).token(desk).send().typed();
    assert_eq!(left.iter().map(|n| n.notice.id.as_str()).collect::<Vec<_>>(), vec![later.notice.id.as_str()]);
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
