//! The exam day: room arrangement and ticket numbers, the PDF documents, and the check-in scan.

pub mod arrangement;
pub mod documents;
