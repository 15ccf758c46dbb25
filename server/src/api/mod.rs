//! The HTTP layer: the one route table, what handlers receive ([`extract`]), the one mapping of
//! errors to statuses and JSON bodies ([`error`]), serving with upgrades (`serve`,
//! [`upgrade`]), and the sandbox payment platform's own HTTP surface ([`paysandbox`]).
//!
//! Only this folder knows warp, hyper and HTTP status codes. Handlers translate: they take
//! typed requests, call one domain service and turn its answer (or its error) into a response.
//! Routes are disjoint — a path and a method name one handler — so the order of the table does
//! not decide which handler runs.

mod accounts;
mod blobs;
mod catalog;
pub mod connections;
mod desk;
pub mod error;
mod examday;
pub mod extract;
mod operators;
pub mod paysandbox;
mod query;
mod registrations;
mod serve;
mod sync;
mod system;
pub mod upgrade;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use self::extract::{
    bytes_body, candidate, client_address, idempotency_key, json_body, respond, session, staff, with_app,
};
use self::registrations::{ActionName, ReviewName};
pub use self::serve::serve_http;
use crate::state::App;

/// Largest platform notification body.
const NOTIFY_LIMIT: u64 = 16 * 1024;

/// One route: a filter extracting a handler's arguments, the handler, its answer as a response.
macro_rules! route {
    ($filter:expr, $handler:expr) => {
        $filter.then($handler).map(respond).boxed()
    };
}

fn center_path() -> impl Filter<Extract = (String, String), Error = warp::Rejection> + Clone {
    warp::path!("api" / "operator" / "exams" / String / "centers" / String / ..)
}

/// Every route of the API, one line each: method and path, what the handler receives, the
/// handler.
#[allow(clippy::too_many_lines)] // One table of ~60 one-line routes reads best in one place.
fn table(app: &App) -> Vec<BoxedFilter<(Response,)>> {
    use warp::{delete, get, head, path, post, put};
    let limit = app.config.body_limit_bytes;
    let a = || with_app(app.clone());
    let who = || candidate(app.clone());
    let op = || staff(app.clone());
    let inm = || warp::header::optional::<String>("if-none-match");
    let mut routes = vec![
        route!(path!("healthz").and(get()), system::health),
        route!(path!("readyz").and(get()).and(a()), system::ready),
        route!(
            path!("api" / "testing" / "clock").and(post()).and(a()).and(json_body(limit)),
            system::advance_clock
        ),
        // Accounts.
        route!(path!("api" / "captcha").and(post()).and(a()), accounts::captcha),
        route!(
            path!("api" / "accounts").and(post()).and(a()).and(client_address()).and(json_body(limit)),
            accounts::register
        ),
        route!(
            path!("api" / "sessions").and(post()).and(a()).and(client_address()).and(json_body(limit)),
            accounts::login
        ),
        route!(path!("api" / "sessions" / "current").and(delete()).and(a()).and(who()), accounts::logout),
        route!(path!("api" / "account").and(get()).and(a()).and(who()), accounts::account),
        route!(
            path!("api" / "account" / "password").and(put()).and(a()).and(who()).and(json_body(limit)),
            accounts::change_password
        ),
        route!(path!("api" / "account" / "profile").and(get()).and(a()).and(who()), accounts::profile),
        route!(
            path!("api" / "account" / "profile").and(put()).and(a()).and(who()).and(json_body(limit)),
            accounts::set_profile
        ),
        route!(
            path!("api" / "password-recovery")
                .and(post())
                .and(a())
                .and(client_address())
                .and(json_body(limit)),
            accounts::recover
        ),
        route!(
            path!("api" / "password-recovery" / "reset")
                .and(post())
                .and(a())
                .and(client_address())
                .and(json_body(limit)),
            accounts::reset
        ),
        route!(
            path!("api" / "oauth" / String / "start")
                .and(post())
                .and(a())
                .and(warp::header::optional::<String>("authorization")),
            accounts::oauth_start
        ),
        route!(
            path!("api" / "oauth" / String / "callback").and(get()).and(a()).and(warp::query()),
            accounts::oauth_callback
        ),
        // The catalog.
        route!(path!("api" / "catalog").and(get()).and(a()).and(inm()), catalog::catalog),
        route!(path!("api" / "exams").and(get()).and(a()).and(inm()), catalog::exams),
        route!(path!("api" / "exams" / String).and(get()).and(a()).and(inm()), catalog::exam),
        route!(path!("api" / "exams" / String / String).and(get()).and(a()).and(inm()), catalog::part),
        route!(
            path!("api" / "exams" / String / "centers" / String).and(get()).and(a()).and(inm()),
            catalog::center
        ),
        route!(
            path!("api" / "exams" / String / "centers" / String / "availability")
                .and(get())
                .and(a())
                .and(inm()),
            catalog::center_availability
        ),
        // Operators.
        route!(
            path!("api" / "operator" / "sessions")
                .and(post())
                .and(a())
                .and(client_address())
                .and(json_body(limit)),
            operators::login
        ),
        route!(
            path!("api" / "operator" / "sessions" / "current").and(delete()).and(a()).and(op()),
            operators::logout
        ),
        route!(path!("api" / "operator" / "me").and(get()).and(op()), operators::me),
        route!(path!("api" / "operator" / "centers").and(get()).and(a()).and(op()), operators::centers),
        route!(center_path().and(path!("seats")).and(get()).and(a()).and(op()), operators::seats),
        route!(
            path!("api" / "operator" / "audit").and(get()).and(a()).and(op()).and(warp::query()),
            operators::audit
        ),
        route!(
            path!("api" / "operator" / "audit" / "verify").and(get()).and(a()).and(op()),
            operators::verify_audit
        ),
        route!(
            path!("api" / "operator" / "operators").and(post()).and(a()).and(op()).and(json_body(limit)),
            operators::create
        ),
        route!(
            path!("api" / "operator" / "catalog")
                .and(put())
                .and(a())
                .and(op())
                .and(bytes_body(app.config.catalog_limit_bytes)),
            operators::import_catalog
        ),
        // Sync.
        route!(path!("api" / "sync" / "tickets").and(post()).and(a()).and(who()), sync::ticket),
        route!(path!("api" / "sync" / "cookie").and(post()).and(a()).and(who()), sync::cookie),
        route!(
            path!("api" / "sync").and(get()).and(a()).and(sync::upgrade_auth()).and(upgrade::ws()),
            sync::socket
        ),
        route!(
            path!("api" / "sync" / "batch")
                .and(post())
                .and(a())
                .and(who())
                .and(bytes_body(baoming_core::wire::MAX_FRAME_BYTES as u64)),
            sync::batch
        ),
        route!(path!("api" / "sync" / "documents" / String).and(get()).and(a()).and(who()), sync::copy),
        // Photo blobs.
        route!(
            blobs::blob_path()
                .and(put())
                .and(a())
                .and(who())
                .and(blobs::upload_rules(app.clone()))
                .and(warp::body::bytes()),
            blobs::upload
        ),
        route!(
            blobs::blob_path().and(get().or(head()).unify()).and(a()).and(session(app.clone())).and(inm()),
            blobs::download
        ),
    ];
    routes.extend(lifecycle_routes(app, limit));
    routes
}

/// The lifecycle, payments, the desk and the exam day.
#[allow(clippy::too_many_lines)] // One table of one-line routes reads best in one place.
fn lifecycle_routes(app: &App, limit: u64) -> Vec<BoxedFilter<(Response,)>> {
    use warp::{delete, get, path, post, put};
    let a = || with_app(app.clone());
    let who = || candidate(app.clone());
    let op = || staff(app.clone());
    let key = idempotency_key;
    let body = || bytes_body(limit);
    vec![
        route!(
            path!("api" / "registrations" / String / ActionName)
                .and(post())
                .and(a())
                .and(who())
                .and(key())
                .and(body()),
            registrations::act
        ),
        route!(path!("api" / "registrations" / String).and(get()).and(a()).and(who()), registrations::status),
        route!(
            path!("api" / "registrations" / String / "pay")
                .and(post())
                .and(a())
                .and(who())
                .and(key())
                .and(body()),
            registrations::pay
        ),
        route!(
            path!("api" / "registrations" / String / "payment" / "refresh").and(post()).and(a()).and(who()),
            registrations::refresh_payment
        ),
        route!(
            path!("api" / "payments" / "notify").and(post()).and(a()).and(bytes_body(NOTIFY_LIMIT)),
            registrations::notify
        ),
        route!(
            path!("api" / "registrations" / String / "notices").and(get()).and(a()).and(who()),
            desk::candidate_notices
        ),
        route!(
            path!("api" / "registrations" / String / "documents" / String).and(get()).and(a()).and(who()),
            examday::document
        ),
        route!(
            path!("api" / "operator" / "registrations" / String / ReviewName)
                .and(post())
                .and(a())
                .and(op())
                .and(key())
                .and(body()),
            registrations::review
        ),
        route!(
            center_path().and(path!("registrations")).and(get()).and(a()).and(op()),
            registrations::at_center
        ),
        route!(
            center_path().and(path!("review")).and(get()).and(a()).and(op()).and(warp::query()),
            desk::queue
        ),
        route!(
            path!("api" / "operator" / "exams" / String / "stats").and(get()).and(a()).and(op()),
            desk::stats
        ),
        route!(center_path().and(path!("roster.csv")).and(get()).and(a()).and(op()), desk::roster),
        route!(center_path().and(path!("notices")).and(get()).and(a()).and(op()), desk::notices),
        route!(
            center_path().and(path!("notices")).and(post()).and(a()).and(op()).and(body()),
            desk::publish_notice
        ),
        route!(center_path().and(path!("notices" / String)).and(get()).and(a()).and(op()), desk::notice),
        route!(
            center_path().and(path!("notices" / String)).and(put()).and(a()).and(op()).and(body()),
            desk::replace_notice
        ),
        route!(
            center_path().and(path!("notices" / String)).and(delete()).and(a()).and(op()),
            desk::delete_notice
        ),
        route!(
            center_path().and(path!("confirm")).and(post()).and(a()).and(op()).and(key()).and(body()),
            desk::confirm
        ),
        route!(center_path().and(path!("arrangement")).and(get()).and(a()).and(op()), examday::arrangement),
        route!(center_path().and(path!("arrangement")).and(post()).and(a()).and(op()), examday::arrange),
        route!(
            path!("api" / "operator" / "exams" / String / "check-in")
                .and(post())
                .and(a())
                .and(op())
                .and(body()),
            examday::check_in
        ),
        route!(
            path!("api" / "admin" / "exams" / String / "cancel")
                .and(post())
                .and(a())
                .and(op())
                .and(key())
                .and(body()),
            registrations::cancel_exam
        ),
        route!(
            path!("api" / "admin" / "exams" / String / "centers" / String / "cancel")
                .and(post())
                .and(a())
                .and(op())
                .and(key())
                .and(body()),
            registrations::cancel_center
        ),
    ]
}

/// The whole API, for [`serve_http`] or `warp::test`.
pub fn routes(
    app: App,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let all = table(&app).into_iter().reduce(|a, b| a.or(b).unify().boxed()).unwrap_or_else(|| {
        warp::any().and_then(|| async { Err::<Response, _>(warp::reject::not_found()) }).boxed()
    });
    all.recover(error::recover).unify().with(warp::trace(|info| {
        let id = info
            .request_headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 64)
            .map(str::to_owned)
            .unwrap_or_else(next_request_id);
        tracing::info_span!("request", id = %id, method = %info.method(), path = %info.path())
    }))
}

fn next_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("r{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
