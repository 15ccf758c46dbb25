//! Liveness, readiness, and the test clock.

use baoming_core::api::health::{Health, HealthStatus};
use baoming_core::api::testing::{ClockAdvance, ClockAnswer};

use super::error::ApiError;
use super::extract::{Answer, ok};
use crate::state::App;

/// `GET /healthz`.
pub(super) async fn health() -> Answer {
    ok(&Health { status: HealthStatus::Ok })
}

/// `GET /readyz`: 503 while starting or draining.
pub(super) async fn ready(app: App) -> Answer {
    if app.is_ready() { ok(&Health { status: HealthStatus::Ready }) } else { Err(ApiError::Busy) }
}

/// `POST /api/testing/clock {advance_ms, sweep?}`: only on a server started with
/// `test_clock = true` (404 otherwise). Moves the server's clock forward and, unless told not
/// to, runs the deadline sweeper once, so a test sees the expiries the new time makes due
/// without waiting for the sweeper's next pass; `expired` counts them all (the background
/// sweeper waits meanwhile).
pub(super) async fn advance_clock(app: App, req: ClockAdvance) -> Answer {
    let clock = app.db.clock();
    let (now_ms, expired) = app
        .registrations
        .advance_and_sweep(|| clock.advance(req.advance_ms), req.sweep)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such endpoint".into()))?;
    ok(&ClockAnswer { now_ms, expired: expired as u64 })
}
