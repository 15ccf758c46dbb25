//! Offline verification of an admission ticket's QR code with the exam's Ed25519 public key
//! (for staff at the door; no network needed).

use baoming_core::ticket::verify_ticket as core_verify;

use crate::errors::BaomingError;

/// One sitting on a ticket.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SittingInfo {
    /// Subject code.
    pub subject: String,
    /// Time slot id.
    pub slot: String,
    /// Room.
    pub room: String,
    /// Seat number.
    pub seat: u16,
}

/// What a verified ticket asserts.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TicketInfo {
    /// Exam session id.
    pub exam: String,
    /// Ticket number.
    pub ticket_number: String,
    /// The candidate's legal name.
    pub name: String,
    /// The candidate's ID number, partly masked.
    pub id_masked: String,
    /// Test center id.
    pub center: String,
    /// The sittings.
    pub sittings: Vec<SittingInfo>,
    /// When it was issued (Unix milliseconds).
    pub issued_at_ms: i64,
}

/// Verifies a ticket's QR code text against the exam's 32-byte Ed25519 public key; fails with
/// `InvalidTicket` when it is not a ticket, forged or altered.
#[uniffi::export]
pub fn verify_ticket(code: String, exam_public_key: Vec<u8>) -> Result<TicketInfo, BaomingError> {
    let t = core_verify(&code, &exam_public_key)
        .map_err(|e| BaomingError::InvalidTicket { code: e.code().to_owned(), detail: e.to_string() })?;
    Ok(TicketInfo {
        exam: t.exam,
        ticket_number: t.ticket_number,
        name: t.name,
        id_masked: t.id_masked.into(),
        center: t.center,
        sittings: t
            .sittings
            .into_iter()
            .map(|s| SittingInfo { subject: s.subject, slot: s.slot, room: s.room, seat: s.seat })
            .collect(),
        issued_at_ms: t.issued_at_ms,
    })
}
