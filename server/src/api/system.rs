//! Liveness, readiness, and the test clock.

use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Answer, ok};
use crate::state::App;

/// `POST /api/testing/clock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdvanceReq {
    /// Milliseconds to move the clock forward.
    advance_ms: u64,
    /// Run the deadline sweeper once after moving (default true).
    #[serde(default = "yes")]
    sweep: bool,
}

fn yes() -> bool {
    true
}

/// `GET /healthz`.
pub(super) async fn health() -> Answer {
    ok(&serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 503 while starting or draining.
pub(super) async fn ready(app: App) -> Answer {
    if app.is_ready() { ok(&serde_json::json!({ "status": "ready" })) } else { Err(ApiError::Busy) }
}

/// `POST /api/testing/clock {advance_ms, sweep?}`: only on a server started with
/// `test_clock = true` (404 otherwise). Moves the server's clock forward and, unless told not
/// to, runs the deadline sweeper once, so a test sees the expiries the new time makes due
/// without waiting for the sweeper's next pass.
pub(super) async fn advance_clock(app: App, req: AdvanceReq) -> Answer {
    let now_ms = app
        .db
        .clock()
        .advance(req.advance_ms)
        .ok_or_else(|| ApiError::NotFound("no such endpoint".into()))?;
    let expired = if req.sweep { app.registrations.sweep(false).await? } else { 0 };
    ok(&serde_json::json!({ "now_ms": now_ms, "expired": expired }))
}
