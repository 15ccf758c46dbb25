//! Preparing a compliant photo from a camera or gallery picture: orient, find the face, frame,
//! resize, re-encode into the byte range with no metadata, and check the result.

use serde::{Deserialize, Serialize};

use super::check::{PhotoReport, check, gate};
use super::face::{self, FaceBox};
use super::problem::{PhotoProblem, PhotoWarning};
use super::raster::{self, Rgb};
use super::rules::PhotoRules;

/// A JPEG source is decoded (DCT-scaled) down to a shorter side of at least this many times the
/// target height (a 12-megapixel picture at 1/2 scale): enough to frame the head at full target
/// resolution whenever the frame is at least a quarter of the picture's height. When the frame is
/// smaller, the file is decoded again at full size. (Entropy decoding costs the same at every
/// scale; what the scaling saves is the inverse DCT, colour conversion and memory.)
const DECODE_HEADROOM: f64 = 3.0;
/// The detector first looks at the picture fitted in this square (faces down to ~15 % of the
/// longer side), then, if nothing is found, in the larger one (down to ~8 %).
const DETECT_SIZES: [u32; 2] = [288, 512];
/// How far above the source's own resolution `prepare` may enlarge, and only to reach the minimum
/// file size.
const MAX_UPSCALE: f64 = 2.0;
/// Share of each placement tolerance `prepare` allows itself, leaving the rest for the checker's
/// independent re-detection on the result.
const PLACEMENT_SLACK: f32 = 0.7;
/// Quality tried first; usually lands in the range at once.
const FIRST_QUALITY: u8 = 90;
/// Lowest quality used before making the photo smaller instead.
const LOWEST_QUALITY: u8 = 40;

/// The frame cut from the (upright) source picture, in its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// A compliant photo made by [`prepare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The JPEG file: baseline, no EXIF or other metadata, inside the byte range.
    pub jpeg: Vec<u8>,
    /// [`check`]'s report on `jpeg` (it always passes).
    pub report: PhotoReport,
    /// What the candidate should know (no face found, enlarged …).
    pub warnings: Vec<PhotoWarning>,
    /// The face found in the source (upright source pixels), if any.
    pub source_face: Option<FaceBox>,
    /// The frame cut from the upright source (in its pixels).
    pub frame: Frame,
    /// The JPEG quality used.
    pub quality: u8,
}

/// Why [`prepare`] made no photo.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepareError {
    /// The picture cannot become a compliant photo (grey, too small, face cut or turned …).
    #[error("{0}")]
    Refused(PhotoProblem),
    /// The result failed the checker (a safety net: `prepare` never hands out a photo that
    /// [`check`] rejects).
    #[error("the prepared photo did not pass the check: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    SelfCheck(Vec<PhotoProblem>),
}

impl PrepareError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PrepareError::Refused(p) => p.code(),
            PrepareError::SelfCheck(_) => "photo_prepare_self_check",
        }
    }

    /// The English explanation (the same as `Display`).
    pub fn message_en(&self) -> String {
        self.to_string()
    }

    /// The candidate-facing Chinese explanation.
    pub fn message_zh(&self) -> String {
        match self {
            PrepareError::Refused(p) => p.message_zh(),
            PrepareError::SelfCheck(ps) => format!(
                "自动处理后的照片未通过检查：{}",
                ps.iter().map(PhotoProblem::message_zh).collect::<Vec<_>>().join("；")
            ),
        }
    }
}

impl From<PhotoProblem> for PrepareError {
    fn from(p: PhotoProblem) -> Self {
        PrepareError::Refused(p)
    }
}

/// The smallest frame height that satisfies both minimum dimensions at the frame's aspect.
fn min_frame_height(rules: &PhotoRules) -> u32 {
    let mut h = rules.min_height.max(1);
    while rules.width_for_height(h) < rules.min_width || !rules.aspect_ok(rules.width_for_height(h), h) {
        h += 1;
        if h > 100_000 {
            break;
        }
    }
    h
}

/// Runs `check` on the prepared `jpeg`; its warnings join `warnings`. A failed check is an error,
/// never a silent bad photo.
fn self_check(
    jpeg: &[u8],
    rules: &PhotoRules,
    warnings: &mut Vec<PhotoWarning>,
) -> Result<PhotoReport, PrepareError> {
    let report = check(jpeg, rules);
    if !report.passed() {
        // The checker looks at the framed result at its own scale. When it reads the face
        // differently from the search on the whole source (turned, cut, or placed elsewhere —
        // face detection is not exactly scale-invariant, and a small or unusual picture shows
        // it), the detector cannot frame this picture reliably: that is a refusal about the
        // face, the same one `check` gives, and the candidate is asked for a better picture.
        if let Some(face) = report.problems.iter().find(|p| {
            matches!(
                p,
                PhotoProblem::FaceNotUpright { .. }
                    | PhotoProblem::FaceCut
                    | PhotoProblem::HeadTooSmall { .. }
                    | PhotoProblem::HeadTooLarge { .. }
                    | PhotoProblem::TopMargin { .. }
                    | PhotoProblem::FaceOffCentre { .. }
            )
        }) {
            return Err(PrepareError::Refused(face.clone()));
        }
        return Err(PrepareError::SelfCheck(report.problems));
    }
    for w in &report.warnings {
        if !warnings.contains(w) {
            warnings.push(*w);
        }
    }
    Ok(report)
}

/// Makes a compliant JPEG from a JPEG, PNG or WebP picture: applies its EXIF orientation, finds
/// the face and frames the head (≈ `head_ratio` of the height, ≈ `top_margin` free above,
/// centred), or frames the centre with a warning when no face is found; resizes with Lanczos3;
/// encodes with no metadata, searching quality (and, for a plain picture, a larger size) until the
/// file is inside the byte range; and checks the result.
pub fn prepare(bytes: &[u8], rules: &PhotoRules) -> Result<Prepared, PrepareError> {
    let mut scratch = PhotoReport::new(bytes.len());
    let header = gate(bytes, rules, &mut scratch)?;
    if header.grey && rules.require_colour {
        return Err(PhotoProblem::Grayscale.into());
    }
    let orientation = header.orientation.unwrap_or(1);
    let min_h = min_frame_height(rules);
    let aspect = f64::from(rules.aspect_width) / f64::from(rules.aspect_height.max(1));

    let short = (f64::from(rules.target_height.max(min_h)) * DECODE_HEADROOM) as u32;
    let decoded = raster::decode(bytes, &header, Some(short))?;
    if rules.require_colour && (decoded.grey || raster::is_grayscale(&decoded.rgb)) {
        return Err(PhotoProblem::Grayscale.into());
    }
    // The picture stays as stored: the face is looked for in a small oriented copy, the frame is
    // mapped back to stored pixels, and only the small result is turned upright.
    let mut stored = decoded.rgb;
    let mut scale = decoded.scale;
    let (uw, uh) = raster::oriented_size(stored.width, stored.height, orientation);
    let face = find_face(&stored, orientation)?;
    let mut warnings = Vec::new();
    if face.is_none() {
        warnings.push(PhotoWarning::NoFaceFound);
    }
    let mut rect = frame(face.as_ref(), uw, uh, rules, aspect)?;

    // The frame in source (declared) pixels decides what the output may be.
    let source_h = rect[3] * scale;
    if source_h + 0.5 < f64::from(min_h) {
        let h = source_h.floor() as u32;
        return Err(PhotoProblem::SourceTooSmall {
            width: (source_h * aspect).floor() as u32,
            height: h,
            min_width: rules.min_width,
            min_height: rules.min_height,
        }
        .into());
    }
    let natural_h = (source_h.floor() as u32).clamp(min_h, rules.target_height.max(min_h));
    if rect[3] < f64::from(natural_h) && scale > 1.0 {
        // Decoded too small for this frame: decode again at full size.
        stored = raster::decode(bytes, &header, None)?.rgb;
        rect = rect.map(|v| v * scale);
        scale = 1.0;
    }
    let stored_rect = raster::rect_to_stored(rect, orientation, stored.width, stored.height);
    let max_h = ((source_h * MAX_UPSCALE).floor() as u32).max(natural_h);
    let (jpeg, quality, out_h) =
        encode_in_range(&stored, stored_rect, orientation, natural_h, min_h, max_h, rules)?;
    if f64::from(out_h) > source_h + 0.5 {
        warnings.push(PhotoWarning::Upscaled);
    }
    drop(stored);

    let report = self_check(&jpeg, rules, &mut warnings)?;
    let s = scale as f32;
    Ok(Prepared {
        jpeg,
        report,
        warnings,
        source_face: face.map(|f| f.scaled(s)),
        frame: Frame {
            x: rect[0] * scale,
            y: rect[1] * scale,
            width: rect[2] * scale,
            height: rect[3] * scale,
        },
        quality,
    })
}

/// The face in the picture once `orientation` turns it upright (in upright pixels of `stored`);
/// refuses a face that is only found turned.
fn find_face(stored: &Rgb, orientation: u16) -> Result<Option<FaceBox>, PhotoProblem> {
    let mut first = None;
    for size in DETECT_SIZES {
        let luma = raster::orient_luma(raster::luma_fit(stored, size, size), orientation);
        if let Some(f) = face::detect(&luma) {
            return Ok(Some(
                f.scaled(stored.width.max(stored.height) as f32 / luma.width.max(luma.height) as f32),
            ));
        }
        let last = luma.width.max(luma.height) == stored.width.max(stored.height);
        first.get_or_insert(luma);
        if last {
            break;
        }
    }
    if let Some(luma) = first
        && let Some(degrees) = face::find_turned(&luma)
    {
        return Err(PhotoProblem::FaceNotUpright { degrees });
    }
    Ok(None)
}

/// The frame `[left, top, width, height]` in the upright picture's pixels.
fn frame(
    face: Option<&FaceBox>,
    w: u32,
    h: u32,
    rules: &PhotoRules,
    aspect: f64,
) -> Result<[f64; 4], PhotoProblem> {
    let (w, h) = (f64::from(w), f64::from(h));
    let max_h = h.min(w / aspect);
    let Some(f) = face else {
        let fw = max_h * aspect;
        return Ok([(w - fw) / 2.0, (h - max_h) / 2.0, fw, max_h]);
    };
    let crown = f64::from(f.crown());
    let chin = f64::from(f.chin());
    let head = f64::from(f.head_height());
    let cx = f64::from(f.centre_x());
    if crown < 0.0 || chin > h || f.x < 0.0 || f64::from(f.x + f.width) > w {
        return Err(PhotoProblem::FaceCut);
    }
    let head_ratio = f64::from(rules.head_ratio);
    let fh = (head / head_ratio).min(max_h);
    let ratio = (head / fh) as f32;
    if ratio > rules.head_ratio + rules.head_ratio_tolerance * PLACEMENT_SLACK {
        return Err(PhotoProblem::FaceTooClose);
    }
    let fw = fh * aspect;
    let top = (crown - f64::from(rules.top_margin) * fh).clamp(0.0, h - fh);
    let left = (cx - fw / 2.0).clamp(0.0, w - fw);
    let margin = ((crown - top) / fh) as f32;
    if (margin - rules.top_margin).abs() > rules.top_margin_tolerance * PLACEMENT_SLACK {
        return Err(PhotoProblem::TopMargin { margin, want: rules.top_margin });
    }
    let position = ((cx - left) / fw) as f32;
    if (position - 0.5).abs() > rules.centre_tolerance * PLACEMENT_SLACK {
        return Err(PhotoProblem::FaceOffCentre { position });
    }
    Ok([left, top, fw, fh])
}

/// Encodes the frame (`rect` in stored pixels, turned upright by `orientation`) at `start_h` (growing up to `max_h` or shrinking down to `min_h` if needed)
/// with a quality that puts the file inside the byte range. Returns the file, quality and height.
fn encode_in_range(
    src: &Rgb,
    rect: [f64; 4],
    orientation: u16,
    start_h: u32,
    min_h: u32,
    max_h: u32,
    rules: &PhotoRules,
) -> Result<(Vec<u8>, u8, u32), PhotoProblem> {
    let (min, max) = (rules.min_bytes as usize, rules.max_bytes as usize);
    let mut out_h = start_h;
    let mut smallest = usize::MAX;
    let mut largest = 0usize;
    let unreachable = |smallest: usize, largest: usize| PhotoProblem::BytesUnreachable {
        min: rules.min_bytes,
        max: rules.max_bytes,
        smallest: smallest as u64,
        largest: largest as u64,
    };
    // Grow for plain pictures, shrink for very busy ones; never both (that would loop).
    let mut direction = 0i8;
    loop {
        let out_w = rules.width_for_height(out_h);
        let (sw, sh) = raster::oriented_size(out_w, out_h, orientation);
        let img = raster::crop_resize(src, rect, sw, sh)
            .ok_or_else(|| PhotoProblem::Corrupt { detail: "cannot resize the frame".into() })?;
        let img = raster::orient(img, orientation);
        let mut enc = |q: u8| -> Result<Vec<u8>, PhotoProblem> {
            let jpeg = encode(&img, q)?;
            smallest = smallest.min(jpeg.len());
            largest = largest.max(jpeg.len());
            Ok(jpeg)
        };
        match search_quality(&mut enc, min, max)? {
            Search::Found(jpeg, q) => return Ok((jpeg, q, out_h)),
            Search::TooSmall if direction >= 0 && out_h < max_h => {
                direction = 1;
                out_h = ((f64::from(out_h) * 1.25).round() as u32).min(max_h);
            }
            Search::TooLarge if direction <= 0 && out_h > min_h => {
                direction = -1;
                out_h = ((f64::from(out_h) * 0.8).round() as u32).max(min_h);
            }
            _ => return Err(unreachable(smallest, largest)),
        }
    }
}

enum Search {
    Found(Vec<u8>, u8),
    TooSmall,
    TooLarge,
}

/// Finds a quality whose file size lies in `min..=max`, assuming size grows with quality: the
/// first try usually lands; otherwise a bisection between the tries.
fn search_quality(
    enc: &mut impl FnMut(u8) -> Result<Vec<u8>, PhotoProblem>,
    min: usize,
    max: usize,
) -> Result<Search, PhotoProblem> {
    let first = enc(FIRST_QUALITY)?;
    let (mut lo, mut hi) = if first.len() > max {
        let low = enc(LOWEST_QUALITY)?;
        if low.len() > max {
            return Ok(Search::TooLarge);
        }
        if low.len() >= min {
            // Bisect for the best quality that still fits.
            let (mut good, mut good_q) = (low, LOWEST_QUALITY);
            let (mut lo, mut hi) = (LOWEST_QUALITY, FIRST_QUALITY);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let j = enc(mid)?;
                if j.len() <= max {
                    (good, good_q, lo) = (j, mid, mid);
                } else {
                    hi = mid;
                }
            }
            return Ok(Search::Found(good, good_q));
        }
        (LOWEST_QUALITY, FIRST_QUALITY)
    } else if first.len() < min {
        let top = enc(100)?;
        if top.len() < min {
            return Ok(Search::TooSmall);
        }
        if top.len() <= max {
            return Ok(Search::Found(top, 100));
        }
        (FIRST_QUALITY, 100)
    } else {
        return Ok(Search::Found(first, FIRST_QUALITY));
    };
    // `lo` is below the range and `hi` above it: bisect for any quality inside.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let j = enc(mid)?;
        if j.len() < min {
            lo = mid;
        } else if j.len() > max {
            hi = mid;
        } else {
            return Ok(Search::Found(j, mid));
        }
    }
    // The range falls between two neighbouring qualities.
    Ok(if lo == LOWEST_QUALITY { Search::TooLarge } else { Search::TooSmall })
}

/// Baseline JPEG, 4:4:4, standard Huffman tables, JFIF header only (no EXIF, ICC, XMP or
/// comments).
fn encode(img: &Rgb, quality: u8) -> Result<Vec<u8>, PhotoProblem> {
    let (w, h) = (
        u16::try_from(img.width).map_err(|_| PhotoProblem::Corrupt { detail: "frame too wide".into() })?,
        u16::try_from(img.height).map_err(|_| PhotoProblem::Corrupt { detail: "frame too tall".into() })?,
    );
    let mut out = Vec::with_capacity(img.data.len() / 4);
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
    enc.encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| PhotoProblem::Corrupt { detail: format!("JPEG encoding failed: {e}") })?;
    Ok(out)
}
