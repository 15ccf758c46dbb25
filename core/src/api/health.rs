//! `GET /healthz` (liveness) and `GET /readyz` (readiness; `503 busy` while starting or
//! draining).

use serde::{Deserialize, Serialize};

/// What a health probe reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// `/healthz`: the process answers.
    Ok,
    /// `/readyz`: the server takes traffic.
    Ready,
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: HealthStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn probes_parse() {
        assert_eq!(round_trip::<Health>(r#"{"status":"ok"}"#).status, HealthStatus::Ok);
        assert_eq!(round_trip::<Health>(r#"{"status":"ready"}"#).status, HealthStatus::Ready);
    }
}
