//! The plain data of a registration: what the candidate wrote ([`Draft`]) and what the server
//! decided ([`ServerSection`]). The Automerge document ([`crate::document`]) reads into and
//! writes from these types; validation ([`crate::validate`](mod@crate::validate)) works on them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lifecycle::Status;
use crate::photo::PhotoRef;

/// The candidate's acceptance of the exam agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementAcceptance {
    /// The accepted version label.
    pub version: String,
    /// Hex SHA-256 of the accepted text.
    pub sha256: String,
    /// When it was accepted (Unix milliseconds).
    pub accepted_at_ms: i64,
}

/// The candidate's truthfulness declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// When it was given (Unix milliseconds).
    pub declared_at_ms: i64,
}

/// What the candidate has entered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Draft {
    /// The exam session id.
    pub exam: String,
    /// Agreement acceptance, if given.
    pub agreement: Option<AgreementAcceptance>,
    /// Form answers by field key.
    pub fields: BTreeMap<String, String>,
    /// The chosen test center.
    pub center: Option<String>,
    /// The chosen subject codes, sorted.
    pub subjects: Vec<String>,
    /// The chosen photo.
    pub photo: Option<PhotoRef>,
    /// The declaration, if given.
    pub declaration: Option<Declaration>,
}

/// What the server has decided about a registration. Only the server writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerSection {
    /// Lifecycle status.
    pub status: Status,
    /// The reason of the last rejection or refusal, shown to the candidate.
    pub reason: Option<String>,
    /// Draft paths the reason concerns (e.g. `draft.photo`).
    pub reason_paths: Vec<String>,
    /// Subject codes whose seats are held for the candidate.
    pub seats: Vec<String>,
    /// Payment deadline (Unix milliseconds), when one runs.
    pub deadline_ms: Option<i64>,
    /// Payment order reference, once an order exists.
    pub order: Option<String>,
    /// Amount due or paid, in fen.
    pub amount_fen: Option<i64>,
    /// Admission ticket number, once arranged.
    pub ticket: Option<String>,
    /// Receipt: the payment platform's trade number of the payment that paid the registration.
    #[serde(default)]
    pub trade_no: Option<String>,
    /// Receipt: when the payment was made (Unix milliseconds, as the platform reported it).
    #[serde(default)]
    pub paid_at_ms: Option<i64>,
    /// Refunded to the candidate so far, in fen (a late payment without a free seat, or a
    /// cancellation after payment).
    #[serde(default)]
    pub refunded_fen: Option<i64>,
    /// When the server last changed this section (Unix milliseconds).
    pub updated_at_ms: i64,
}
