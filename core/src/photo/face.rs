//! Face finding with SeetaFace's frontal detector (the `rustface` crate, pure Rust), whose model
//! ships in this repository (`core/models/seeta_fd_frontal_v1.0.bin`, BSD-2-Clause, see
//! `core/models/LICENSE-SeetaFace`) and is compiled into the library.
//!
//! The detector returns a square box around eyebrows, eyes, nose and mouth. The head (crown to
//! chin) is estimated from it with two constants measured on real portraits: the crown lies
//! [`CROWN_ABOVE_BOX`] box heights above the box, the chin [`CHIN_BELOW_BOX_TOP`] box heights
//! below its top.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::raster::Luma;

/// The SeetaFace frontal face detection model (funnel-structured cascade, 1.2 MB).
static MODEL_BYTES: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// Crown height above the top of the detector's box, in box heights.
pub(crate) const CROWN_ABOVE_BOX: f32 = 0.55;
/// Chin height below the top of the detector's box, in box heights.
pub(crate) const CHIN_BELOW_BOX_TOP: f32 = 1.2;

/// The detector's window: faces smaller than this (in detector pixels) are not looked for.
const WINDOW: u32 = 40;
/// Detection score below which a candidate is not a face. Real faces at the sizes used here score
/// 4–40; textures and noise stay below 3.
const SCORE_THRESHOLD: f64 = 3.0;

/// A face found in a picture, in that picture's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Detector confidence (higher is surer).
    pub score: f32,
}

impl FaceBox {
    /// Estimated crown (top of the head) y.
    pub fn crown(&self) -> f32 {
        self.y - CROWN_ABOVE_BOX * self.height
    }

    /// Estimated chin y.
    pub fn chin(&self) -> f32 {
        self.y + CHIN_BELOW_BOX_TOP * self.height
    }

    /// Estimated head height, crown to chin.
    pub fn head_height(&self) -> f32 {
        (CROWN_ABOVE_BOX + CHIN_BELOW_BOX_TOP) * self.height
    }

    /// Horizontal centre.
    pub fn centre_x(&self) -> f32 {
        self.x + self.width / 2.0
    }

    /// The same box in a picture `factor` times larger.
    pub(crate) fn scaled(self, factor: f32) -> FaceBox {
        FaceBox {
            x: self.x * factor,
            y: self.y * factor,
            width: self.width * factor,
            height: self.height * factor,
            score: self.score,
        }
    }
}

fn model() -> Option<&'static rustface::Model> {
    static MODEL: OnceLock<Option<rustface::Model>> = OnceLock::new();
    MODEL.get_or_init(|| rustface::read_model(MODEL_BYTES).ok()).as_ref()
}

/// Whether the shipped model loads (it always should; tests make sure).
#[cfg(test)]
pub(crate) fn model_available() -> bool {
    model().is_some()
}

/// The most confident upright face in `luma`, if any, in `luma`'s pixels.
pub(crate) fn detect(luma: &Luma) -> Option<FaceBox> {
    if luma.width < WINDOW
        || luma.height < WINDOW
        || luma.data.len() != luma.width as usize * luma.height as usize
    {
        return None;
    }
    let model = model()?.clone();
    std::panic::catch_unwind(move || {
        let mut detector = rustface::create_detector_with_model(model);
        detector.set_min_face_size(WINDOW);
        detector.set_score_thresh(SCORE_THRESHOLD);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        let faces = detector.detect(&rustface::ImageData::new(&luma.data, luma.width, luma.height));
        faces
            .iter()
            .map(|f| {
                let b = f.bbox();
                FaceBox {
                    x: b.x() as f32,
                    y: b.y() as f32,
                    width: b.width() as f32,
                    height: b.height() as f32,
                    score: f.score() as f32,
                }
            })
            .max_by(|a, b| a.score.total_cmp(&b.score))
    })
    .ok()
    .flatten()
}

/// `luma` turned clockwise by 90, 180 or 270 degrees.
pub(crate) fn turn(luma: &Luma, degrees: u16) -> Luma {
    let (w, h) = (luma.width as usize, luma.height as usize);
    let (ow, oh) = if degrees == 180 { (w, h) } else { (h, w) };
    let mut data = vec![0u8; luma.data.len()];
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = match degrees {
                90 => (y, h - 1 - x),
                180 => (w - 1 - x, h - 1 - y),
                _ => (w - 1 - y, x),
            };
            data[y * ow + x] = luma.data[sy * w + sx];
        }
    }
    Luma { width: ow as u32, height: oh as u32, data }
}

/// A turned face is reported only on stronger evidence than an upright one — a higher score and a
/// face at least [`TURNED_MIN_SIZE`] of the picture's longer side — because refusing a photo as
/// sideways on a detector's false positive would be worse than missing a face.
const TURNED_SCORE: f32 = 8.0;
/// See [`TURNED_SCORE`].
const TURNED_MIN_SIZE: f32 = 0.15;

/// Looks for a face only visible when the picture is turned: returns the clockwise turn (90,
/// 180 or 270 degrees) that would make it upright.
pub(crate) fn find_turned(luma: &Luma) -> Option<u16> {
    let long = luma.width.max(luma.height) as f32;
    [90, 270, 180].into_iter().find(|&d| {
        detect(&turn(luma, d)).is_some_and(|f| f.score >= TURNED_SCORE && f.width >= TURNED_MIN_SIZE * long)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads() {
        assert!(model_available());
    }

    #[test]
    fn turning_four_times_is_identity() {
        let l = Luma { width: 3, height: 2, data: vec![1, 2, 3, 4, 5, 6] };
        let t = turn(&turn(&turn(&turn(&l, 90), 90), 90), 90);
        assert_eq!(t.data, l.data);
        let r = turn(&l, 90);
        assert_eq!((r.width, r.height, r.data.clone()), (2, 3, vec![4, 1, 5, 2, 6, 3]));
        assert_eq!(turn(&l, 180).data, vec![6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn nothing_is_found_in_flat_or_tiny_pictures() {
        assert_eq!(detect(&Luma { width: 200, height: 200, data: vec![128; 40_000] }), None);
        assert_eq!(detect(&Luma { width: 10, height: 10, data: vec![0; 100] }), None);
        assert_eq!(detect(&Luma { width: 100, height: 100, data: vec![0; 5] }), None);
    }
}
