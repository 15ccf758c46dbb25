//! ID photo rules, and the checks that can be made from a photo's metadata alone.
//!
//! The rules are data in the catalog (`[exam.photo]`), so an exam can change them. The draft
//! refers to an uploaded photo by a [`PhotoRef`] (content hash, size, dimensions); the bytes are a
//! content-addressed blob held apart from the document.

use serde::{Deserialize, Serialize};

/// The photo rules of an exam session. Defaults follow the NCRE rules: JPEG of 20–200 KB (KB =
/// 1024 bytes), at least 144 × 192 pixels (width × height), a 33:48 width:height frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoRules {
    /// Smallest file in bytes.
    pub min_bytes: u32,
    /// Largest file in bytes.
    pub max_bytes: u32,
    /// Smallest width in pixels.
    pub min_width: u32,
    /// Smallest height in pixels.
    pub min_height: u32,
    /// Frame width (33 for a 33 mm × 48 mm photo).
    pub aspect_width: u32,
    /// Frame height (48 for a 33 mm × 48 mm photo).
    pub aspect_height: u32,
    /// Accepted relative deviation from the frame's aspect ratio.
    pub aspect_tolerance: f32,
    /// Head height as a fraction of the photo height.
    pub head_ratio: f32,
    /// Free space above the head as a fraction of the photo height.
    pub top_margin: f32,
}

impl Default for PhotoRules {
    fn default() -> Self {
        PhotoRules {
            min_bytes: 20 * 1024,
            max_bytes: 200 * 1024,
            min_width: 144,
            min_height: 192,
            aspect_width: 33,
            aspect_height: 48,
            aspect_tolerance: 0.02,
            head_ratio: 0.7,
            top_margin: 0.1,
        }
    }
}

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

impl PhotoRules {
    /// Checks what can be checked without the bytes: hash shape, size, dimensions, aspect.
    pub fn check_metadata(&self, photo: &PhotoRef) -> Vec<MetadataProblem> {
        let mut problems = Vec::new();
        if photo.sha256.len() != 64
            || !photo.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            problems.push(MetadataProblem::BadHash);
        }
        if photo.bytes < self.min_bytes {
            problems.push(MetadataProblem::TooFewBytes);
        }
        if photo.bytes > self.max_bytes {
            problems.push(MetadataProblem::TooManyBytes);
        }
        if photo.width < self.min_width || photo.height < self.min_height {
            problems.push(MetadataProblem::TooSmall);
        }
        if !self.aspect_ok(photo.width, photo.height) {
            problems.push(MetadataProblem::WrongAspect);
        }
        problems
    }

    /// Whether `width × height` has the frame's aspect ratio within the tolerance.
    pub fn aspect_ok(&self, width: u32, height: u32) -> bool {
        if width == 0 || height == 0 || self.aspect_height == 0 {
            return false;
        }
        let want = self.aspect_width as f32 / self.aspect_height as f32;
        let got = width as f32 / height as f32;
        ((got - want) / want).abs() <= self.aspect_tolerance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(bytes: u32, width: u32, height: u32) -> PhotoRef {
        PhotoRef { sha256: "ab".repeat(32), bytes, width, height }
    }

    #[test]
    fn metadata_rules() {
        let rules = PhotoRules::default();
        assert!(rules.check_metadata(&photo(40_000, 330, 480)).is_empty());
        assert!(rules.check_metadata(&photo(40_000, 144, 209)).is_empty());
        assert_eq!(rules.check_metadata(&photo(1_000, 330, 480)), vec![MetadataProblem::TooFewBytes]);
        assert_eq!(rules.check_metadata(&photo(300_000, 330, 480)), vec![MetadataProblem::TooManyBytes]);
        assert_eq!(rules.check_metadata(&photo(40_000, 110, 160)), vec![MetadataProblem::TooSmall]);
        assert_eq!(rules.check_metadata(&photo(40_000, 480, 480)), vec![MetadataProblem::WrongAspect]);
        let mut bad = photo(40_000, 330, 480);
        bad.sha256 = "XYZ".into();
        assert_eq!(rules.check_metadata(&bad), vec![MetadataProblem::BadHash]);
    }
}
