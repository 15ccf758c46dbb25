//! The ID photo: check any picture against the exam's rules, prepare a compliant one from a
//! phone picture, and attach it to the draft (uploaded on the next sync, before the reference).

use baoming_core::photo::{PhotoProblem, PhotoReport, PhotoRules, check, prepare};

use crate::client::BaomingClient;
use crate::errors::BaomingError;

/// One rule a photo breaks.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PhotoProblemInfo {
    /// Stable code, e.g. `too_small`, `not_colour`.
    pub code: String,
    /// Explanation in Chinese.
    pub message_zh: String,
    /// Explanation in English.
    pub message_en: String,
}

/// The checker's verdict on a picture.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PhotoCheck {
    /// Whether the photo can be used as it is.
    pub passed: bool,
    /// File size.
    pub bytes: u64,
    /// Width in pixels, if readable.
    pub width: Option<u32>,
    /// Height in pixels, if readable.
    pub height: Option<u32>,
    /// Every rule broken.
    pub problems: Vec<PhotoProblemInfo>,
}

/// A compliant photo made from a picture.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PreparedPhoto {
    /// The JPEG (no metadata, inside the byte range): show it, then `attach_photo` it.
    pub jpeg: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// What the candidate should know (e.g. `no_face_found`), as codes.
    pub warnings: Vec<String>,
}

fn problem(p: &PhotoProblem) -> PhotoProblemInfo {
    PhotoProblemInfo { code: p.code().to_owned(), message_zh: p.message_zh(), message_en: p.message_en() }
}

fn verdict(r: &PhotoReport) -> PhotoCheck {
    PhotoCheck {
        passed: r.passed(),
        bytes: r.bytes,
        width: r.width,
        height: r.height,
        problems: r.problems.iter().map(problem).collect(),
    }
}

impl BaomingClient {
    fn photo_rules(&self, exam_id: &str) -> Result<PhotoRules, BaomingError> {
        Ok(self.exam_session(exam_id)?.photo)
    }
}

#[uniffi::export]
impl BaomingClient {
    /// Checks a picture against the exam's photo rules (offline).
    pub fn check_photo(&self, exam_id: String, picture: Vec<u8>) -> Result<PhotoCheck, BaomingError> {
        Ok(verdict(&check(&picture, &self.photo_rules(&exam_id)?)))
    }

    /// Makes a compliant photo from a phone picture (JPEG, PNG or WebP; offline): orientation,
    /// face-aware crop, resize, re-encode. `PhotoRejected` when the picture cannot become one.
    pub fn prepare_photo(&self, exam_id: String, picture: Vec<u8>) -> Result<PreparedPhoto, BaomingError> {
        let prepared = prepare(&picture, &self.photo_rules(&exam_id)?).map_err(|e| {
            BaomingError::PhotoRejected { problems: vec![e.code().to_owned()], detail: e.message_en() }
        })?;
        Ok(PreparedPhoto {
            width: prepared.report.width.unwrap_or_default(),
            height: prepared.report.height.unwrap_or_default(),
            warnings: prepared.warnings.iter().map(|w| w.code().to_owned()).collect(),
            jpeg: prepared.jpeg,
        })
    }

    /// Attaches a photo to the draft after checking it (`PhotoRejected` with the problems if it
    /// fails); it is uploaded on the next sync, before the draft's reference to it. Returns its
    /// SHA-256.
    pub fn attach_photo(&self, exam_id: String, jpeg: Vec<u8>) -> Result<String, BaomingError> {
        let report = check(&jpeg, &self.photo_rules(&exam_id)?);
        let (Some(width), Some(height), true) = (report.width, report.height, report.passed()) else {
            let problems = report.problems.iter().map(|p| p.code().to_owned()).collect();
            let message = report.problems.iter().map(|p| p.message_en()).collect::<Vec<_>>().join("; ");
            return Err(BaomingError::PhotoRejected { problems, detail: message });
        };
        self.with_sync(|s| Ok(s.attach_photo(&exam_id, &jpeg, width, height)?.sha256))
    }
}
