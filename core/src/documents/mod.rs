//! PDF rendering of the registration form (报名登记表) and the admission ticket (准考证).
//!
//! Rendering is pure: plain data in ([`FormView`], [`TicketView`]), PDF bytes out, no I/O, no
//! clock, no server types. So the server renders the downloads and a device can render a cached
//! ticket offline with the same code and get the same pages.
//!
//! * Pages are A4, laid out in millimetres into a small display list (module `layout`) and then
//!   written with krilla.
//! * All text goes through the fonts shipped in `core/assets/fonts` (module `font`): Noto Sans CJK SC
//!   for everything it covers and HanaMinB as the fallback for the rarer CJK Extension B–F
//!   characters that some names use. krilla embeds each font as a subset, so a page carries only
//!   the glyphs it uses. A character neither font has is refused with
//!   [`DocumentError::MissingGlyph`] instead of printing a box; [`crate::coverage`] (no feature
//!   needed) lets a caller check a name where it is entered, long before a document is rendered,
//!   and [`shipped_font_ranges`] reads the same coverage from the fonts themselves.
//! * The ticket's QR code (module `qr`) carries the signed text from [`crate::ticket::sign_ticket`]
//!   (error correction M, alphanumeric mode) and is drawn as vector squares.

mod font;
mod form;
mod layout;
mod qr;
mod ticket;

#[cfg(test)]
mod tests;

pub use font::shipped_font_ranges;
pub use form::render_form;

use crate::id_document::MaskedId;
pub use ticket::render_ticket;

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// A character of the text is in none of the shipped fonts; it would print as a box.
    #[error("no glyph for {ch:?} (U+{:04X}) in the shipped fonts", u32::from(*ch))]
    MissingGlyph {
        /// The character.
        ch: char,
    },
    /// A shipped font could not be read (a broken build, not bad input).
    #[error("the shipped font {0} could not be loaded")]
    Font(&'static str),
    /// The photo is not a JPEG that can be embedded.
    #[error("the photo is not a readable JPEG: {0}")]
    Photo(String),
    /// The QR text does not fit in a QR code.
    #[error("the QR text cannot be encoded: {0}")]
    Qr(String),
    /// The form's total fee is not the sum of its subjects' fees.
    #[error("total fee {total_fen} fen is not the sum of the subject fees ({sum_fen} fen)")]
    FeeMismatch {
        /// The total given.
        total_fen: u64,
        /// The sum of the subjects' fees.
        sum_fen: u64,
    },
    /// The PDF writer refused the document.
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

impl DocumentError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::MissingGlyph { .. } => "document_missing_glyph",
            DocumentError::Font(_) => "document_font",
            DocumentError::Photo(_) => "document_photo",
            DocumentError::Qr(_) => "document_qr",
            DocumentError::FeeMismatch { .. } => "document_fee_mismatch",
            DocumentError::Pdf(_) => "document_pdf",
        }
    }
}

/// One answer of the registration form: its Chinese label and the value as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRow {
    /// Field label (zh), e.g. `姓名`.
    pub label: String,
    /// The answer as text.
    pub value: String,
}

/// One chosen subject on the registration form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSubject {
    /// Subject code.
    pub code: String,
    /// Subject name.
    pub name: String,
    /// The exam time slot as shown, e.g. `2026-12-12 09:00–11:00`.
    pub time_slot: String,
    /// Fee in fen.
    pub fee_fen: u64,
}

/// Everything printed on the registration form (报名登记表).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormView {
    /// Exam session name.
    pub exam_name: String,
    /// The registration id (报名号): the id the roster lists and on-site confirmation looks
    /// up, i.e. the registration document's id as text (`DocumentId`'s `Display`).
    pub registration_id: String,
    /// The candidate's answers, in form order.
    pub answers: Vec<FormRow>,
    /// The registration photo (JPEG, 33 × 48 mm frame).
    pub photo_jpeg: Vec<u8>,
    /// Test center name.
    pub center_name: String,
    /// Test center address.
    pub center_address: String,
    /// The chosen subjects.
    pub subjects: Vec<FormSubject>,
    /// Total fee in fen; must equal the sum of the subjects' fees.
    pub total_fee_fen: u64,
    /// The payment platform's trade number (支付流水号) from the receipt
    /// (`ServerSection::trade_no`): what the candidate's bank or wallet statement shows.
    pub trade_no: String,
    /// The merchant's order number (订单号) the platform was paid under (`out_trade_no`,
    /// `ServerSection::order`).
    pub order_no: String,
    /// Version of the agreement the candidate accepted.
    pub agreement_version: String,
    /// SHA-256 (hex) of the accepted agreement text.
    pub agreement_sha256: String,
    /// When the form was generated, as shown, e.g. `2026-11-20 14:03 (UTC+8)`.
    pub generated_at: String,
}

/// One sitting on the admission ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSitting {
    /// Subject code.
    pub subject_code: String,
    /// Subject name.
    pub subject_name: String,
    /// Date as shown, e.g. `2026-12-12`.
    pub date: String,
    /// Time as shown, e.g. `09:00–11:00`.
    pub time: String,
    /// Room (考场).
    pub room: String,
    /// Seat (座位号).
    pub seat: String,
}

/// Everything printed on the admission ticket (准考证).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    /// Exam session name.
    pub exam_name: String,
    /// The registration photo (JPEG).
    pub photo_jpeg: Vec<u8>,
    /// Candidate's legal name.
    pub name: String,
    /// ID document number, masked by the one rule, [`crate::id_document::mask`] (the same
    /// characters as in the QR code's payload).
    pub id_masked: MaskedId,
    /// Ticket number (准考证号).
    pub ticket_number: String,
    /// The sittings, in time order.
    pub sittings: Vec<TicketSitting>,
    /// Test center name.
    pub center_name: String,
    /// Test center address.
    pub center_address: String,
    /// Rules for candidates (考生须知); one paragraph per line.
    pub rules: String,
    /// The text of the QR code: the signed ticket from [`crate::ticket::sign_ticket`].
    pub qr_text: String,
}
