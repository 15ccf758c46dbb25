//! The test clock: `POST /api/testing/clock` moves the clock of a server started with
//! `test_clock = true` forward (404 on any other server), so end-to-end tests reach deadlines
//! and windows without sleeping.

use serde::{Deserialize, Serialize};

/// The body of `POST /api/testing/clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockAdvance {
    /// Milliseconds to move the clock forward.
    pub advance_ms: u64,
    /// Run the deadline sweeper once after moving (default true), so the expiries the new time
    /// makes due have happened when the answer arrives.
    #[serde(default = "ClockAdvance::sweep_default")]
    pub sweep: bool,
}

impl ClockAdvance {
    fn sweep_default() -> bool {
        true
    }

    /// Moves the clock by `ms` and sweeps.
    pub fn by(ms: u64) -> ClockAdvance {
        ClockAdvance { advance_ms: ms, sweep: true }
    }
}

/// The answer: the server's time after the move and the holds the sweep expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAnswer {
    /// The server's clock now (Unix milliseconds).
    pub now_ms: i64,
    /// Holds the sweep expired.
    pub expired: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn clock_moves_parse() {
        assert_eq!(round_trip::<ClockAdvance>(r#"{"advance_ms":60000,"sweep":false}"#).advance_ms, 60_000);
        let default: ClockAdvance = serde_json::from_str(r#"{"advance_ms":1}"#).expect("json");
        assert!(default.sweep, "sweeping is the default");
        assert!(serde_json::from_str::<ClockAdvance>(r#"{"advance_ms":1,"by":2}"#).is_err());
        round_trip::<ClockAnswer>(r#"{"now_ms":1800000000000,"expired":2}"#);
    }
}
