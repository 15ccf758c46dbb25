//! The photo rules of an exam session, as data (`[exam.photo]` in the catalog).

use serde::{Deserialize, Serialize};

use super::{MetadataProblem, PhotoRef};

/// The photo rules of an exam session. Defaults follow the NCRE rules: JPEG of 20–200 KB (KB =
/// 1024 bytes), at least 144 × 192 pixels (width × height), a 33:48 width:height frame, colour,
/// upright, the head about 7/10 of the height with about 1/10 free above it.
///
/// Every key has a default, so a catalog that names only some of them still loads.
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
    /// Head height (crown to chin) as a fraction of the photo height.
    pub head_ratio: f32,
    /// Accepted absolute deviation from `head_ratio` (the head is estimated from the face).
    pub head_ratio_tolerance: f32,
    /// Free space above the head as a fraction of the photo height.
    pub top_margin: f32,
    /// Accepted absolute deviation from `top_margin`.
    pub top_margin_tolerance: f32,
    /// Largest horizontal offset of the face centre from the photo centre, as a fraction of the
    /// width.
    pub centre_tolerance: f32,
    /// Whether the photo must be in colour.
    pub require_colour: bool,
    /// The height `prepare` aims for; it goes higher only when a plain photo cannot otherwise
    /// reach `min_bytes`, and lower only when the source is smaller.
    pub target_height: u32,
    /// Largest input file either function looks at, in bytes; larger files are refused unread.
    pub max_input_bytes: u64,
    /// Largest declared pixel count either function decodes; larger images are refused from
    /// their header alone.
    pub max_input_pixels: u64,
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
            head_ratio_tolerance: 0.12,
            top_margin: 0.1,
            top_margin_tolerance: 0.08,
            centre_tolerance: 0.1,
            require_colour: true,
            target_height: 480,
            max_input_bytes: 20 * 1024 * 1024,
            max_input_pixels: 50_000_000,
        }
    }
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

    /// The frame's width for a given height, rounded to the nearest pixel.
    pub fn width_for_height(&self, height: u32) -> u32 {
        let w = f64::from(height) * f64::from(self.aspect_width) / f64::from(self.aspect_height.max(1));
        (w.round() as u32).max(1)
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

    #[test]
    fn catalogs_without_the_new_keys_still_load() {
        let old = "min_bytes = 20480\nmax_bytes = 204800\nmin_width = 144\nmin_height = 192\n\
                   aspect_width = 33\naspect_height = 48\n";
        let rules: PhotoRules = toml::from_str(old).expect("old catalog keys");
        assert_eq!(rules, PhotoRules::default());
    }

    #[test]
    fn frame_width_follows_the_aspect() {
        let rules = PhotoRules::default();
        assert_eq!(rules.width_for_height(480), 330);
        assert_eq!(rules.width_for_height(192), 132);
        for h in 1..2000 {
            let w = rules.width_for_height(h);
            assert!(h < 100 || rules.aspect_ok(w, h), "{w}x{h}");
        }
    }
}
