//! Operators: sessions, `me`, the centers an operator sees, the audit log and its verification,
//! operator creation and the catalog import (`PUT /api/operator/catalog`, a TOML body).
//!
//! An operator's seat read (`GET /api/operator/exams/{exam}/centers/{center}/seats`) answers
//! [`CenterSeats`](super::catalog::CenterSeats).

use serde::{Deserialize, Serialize};

use crate::catalog::Bilingual;

/// `POST /api/operator/sessions`: log an operator in (captcha fields as for candidates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorLoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The id of the solved captcha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha_id: Option<String>,
    /// What the operator read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha_answer: Option<String>,
}

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the exam: everything.
    Administrator,
    /// Works for the listed centers only.
    CenterOperator,
    /// Reads everything, changes nothing.
    Auditor,
}

impl std::str::FromStr for Role {
    type Err = String;

    /// The role named `administrator` (or `admin`), `center_operator` (or `center`), `auditor`.
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "administrator" | "admin" => Ok(Role::Administrator),
            "center_operator" | "center" => Ok(Role::CenterOperator),
            "auditor" => Ok(Role::Auditor),
            other => Err(format!("unknown role `{other}` (administrator, center_operator, auditor)")),
        }
    }
}

/// An operator as the API shows it: `GET /api/operator/me`, and the answer (201) to
/// `POST /api/operator/operators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorInfo {
    /// `op_` + 128 random bits in hex.
    pub id: String,
    /// User name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// The centers of a center operator (empty for the other roles).
    pub centers: Vec<String>,
}

/// The answer to an operator login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSessionAnswer {
    /// Who logged in.
    pub operator: OperatorInfo,
    /// The bearer token.
    pub token: String,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// One entry of `GET /api/operator/centers`: a center this operator may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorCenter {
    /// Exam session id.
    pub exam: String,
    /// Center id.
    pub center: String,
    /// The center's name.
    pub name: Bilingual,
}

/// `POST /api/operator/operators` (administrators): create an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorRequest {
    /// User name (3–32 of `a-z 0-9 . _ -`, starting with a letter).
    pub username: String,
    /// Password (the candidates' rules).
    pub password: String,
    /// Role.
    pub role: Role,
    /// The centers of a center operator (required for them, refused for the others).
    #[serde(default)]
    pub centers: Vec<String>,
}

/// The answer to a catalog import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogImportAnswer {
    /// SHA-256 of the imported TOML (hex).
    pub sha256: String,
}

/// The query of `GET /api/operator/audit` (unknown parameters are refused with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// First sequence number (from 1; default 1).
    #[serde(default = "AuditQuery::default_from")]
    pub from: u64,
    /// Most entries (1–1000; default 100).
    #[serde(default = "AuditQuery::default_limit")]
    pub limit: usize,
}

impl AuditQuery {
    fn default_from() -> u64 {
        1
    }

    fn default_limit() -> usize {
        100
    }

    /// The query string, `?from=…&limit=…`.
    pub fn query_string(&self) -> String {
        let mut q = String::new();
        super::push_query_pair(&mut q, "from", &self.from.to_string());
        super::push_query_pair(&mut q, "limit", &self.limit.to_string());
        q
    }
}

impl Default for AuditQuery {
    fn default() -> AuditQuery {
        AuditQuery { from: AuditQuery::default_from(), limit: AuditQuery::default_limit() }
    }
}

/// One entry of the hash-chained audit log (`GET /api/operator/audit` answers a list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who (`account:…`, `operator:…`, `anonymous`, `system`, `cli`).
    pub actor: String,
    /// What, e.g. `registration.submit`.
    pub action: String,
    /// On what.
    pub target: String,
    /// Facts particular to the action: free-form, never personal data in clear.
    pub detail: serde_json::Value,
    /// Hash of the previous entry (hex).
    pub prev: String,
    /// Hash of this entry (hex).
    pub hash: String,
}

/// `GET /api/operator/audit/verify`: `{intact: true, entries}` or
/// `{intact: false, broken_at, reason}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Whether every link of the chain holds.
    pub intact: bool,
    /// Intact: the number of entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Broken: the first entry that does not verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// Broken: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditVerification {
    /// An intact chain of `entries` entries.
    pub fn intact(entries: u64) -> AuditVerification {
        AuditVerification { intact: true, entries: Some(entries), broken_at: None, reason: None }
    }

    /// A chain broken at entry `at`.
    pub fn broken(at: u64, reason: impl Into<String>) -> AuditVerification {
        AuditVerification { intact: false, entries: None, broken_at: Some(at), reason: Some(reason.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::round_trip;

    #[test]
    fn operator_answers_parse() {
        let s: OperatorSessionAnswer = round_trip(
            r#"{"operator":{"id":"op_01","username":"admin","role":"administrator","centers":[]},
                "token":"bm_02","expires_at":1800000000}"#,
        );
        assert_eq!(s.operator.role, Role::Administrator);
        round_trip::<OperatorInfo>(
            r#"{"id":"op_03","username":"desk.a","role":"center_operator","centers":["bj-dongcheng"]}"#,
        );
        round_trip::<Vec<OperatorCenter>>(
            r#"[{"exam":"ncre-2027-03","center":"bj-dongcheng","name":{"zh":"东城","en":"Dongcheng"}}]"#,
        );
        round_trip::<CatalogImportAnswer>(r#"{"sha256":"ab"}"#);
        let entries: Vec<AuditEntry> = round_trip(
            r#"[{"seq":1,"at":"2027-01-01T00:00:00Z","actor":"system","action":"system.seed","target":"database",
                 "detail":{"demo_catalog":true},"prev":"00","hash":"ab"},
                {"seq":2,"at":"2027-01-01T00:00:01Z","actor":"cli","action":"x","target":"y","detail":null,
                 "prev":"ab","hash":"cd"}]"#,
        );
        assert_eq!(entries[1].seq, 2);
    }

    #[test]
    fn verification_is_one_shape_or_the_other() {
        let ok: AuditVerification = round_trip(r#"{"intact":true,"entries":42}"#);
        assert_eq!(ok, AuditVerification::intact(42));
        let broken: AuditVerification = round_trip(
            r#"{"intact":false,"broken_at":7,"reason":"expected entry 7, found key 8 (deleted entry?)"}"#,
        );
        assert_eq!(broken, AuditVerification::broken(7, "expected entry 7, found key 8 (deleted entry?)"));
    }

    #[test]
    fn requests_and_queries() {
        round_trip::<OperatorLoginRequest>(r#"{"username":"admin","password":"p"}"#);
        let c: CreateOperatorRequest = round_trip(
            r#"{"username":"desk.a","password":"p","role":"center_operator","centers":["bj-dongcheng"]}"#,
        );
        assert_eq!(c.role, Role::CenterOperator);
        let c: CreateOperatorRequest =
            serde_json::from_str(r#"{"username":"aud","password":"p","role":"auditor"}"#)
                .expect("centers default");
        assert!(c.centers.is_empty());
        assert!(
            serde_json::from_str::<CreateOperatorRequest>(r#"{"username":"a","password":"p","role":"root"}"#)
                .is_err()
        );
        let q: AuditQuery = serde_json::from_str("{}").expect("defaults");
        assert_eq!(q, AuditQuery::default());
        assert_eq!(AuditQuery { from: 5, limit: 10 }.query_string(), "?from=5&limit=10");
    }
}
