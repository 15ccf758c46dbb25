//! ID photos: the rules, the checker and the preparer.
//!
//! * [`PhotoRules`] — the rules as data in the catalog (`[exam.photo]`), so an exam can change
//!   them, and [`PhotoRules::check_metadata`], the checks that need only a [`PhotoRef`].
//! * [`check()`] — any file against the rules: measured facts (format, size, dimensions, colour,
//!   orientation tag, face box and head placement) and every rule broken, as a typed
//!   [`PhotoProblem`] with a stable code and Chinese and English text. Oversized input and images
//!   declaring too many pixels are refused from their headers, before decoding.
//! * [`prepare()`] — a compliant JPEG from a phone picture (JPEG, PNG or WebP): EXIF orientation,
//!   face-aware framing, Lanczos3 resize, metadata-free re-encoding into the byte range; its result
//!   always passes [`check()`].
//!
//! The draft refers to an uploaded photo by a [`PhotoRef`] (content hash, size, dimensions); the
//! bytes are a content-addressed blob held apart from the document. Nothing here does I/O: the
//! caller passes bytes and gets bytes back.

mod check;
mod container;
mod face;
mod prepare;
mod problem;
mod raster;
mod rules;
mod scan;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use check::{PhotoReport, check};
pub use container::{ImageFormat, exif_app1_with_orientation, insert_jpeg_app1};
pub use face::FaceBox;
pub use prepare::{Frame, PrepareError, Prepared, prepare};
pub use problem::{PhotoProblem, PhotoWarning};
pub use rules::PhotoRules;

/// A reference from the draft to an uploaded photo.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Lower-case hex SHA-256 of the JPEG bytes.
    pub sha256: String,
    /// File size in bytes.
    pub bytes: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A rule a photo's metadata breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataProblem {
    /// The hash is not 64 lower-case hex digits.
    BadHash,
    /// Smaller than `min_bytes`.
    TooFewBytes,
    /// Larger than `max_bytes`.
    TooManyBytes,
    /// Narrower or lower than the minimum.
    TooSmall,
    /// Not the frame's aspect ratio.
    WrongAspect,
}
