//! Checking any photo against the rules: the measured facts and every rule it breaks.

use serde::{Deserialize, Serialize};

use super::container::{HeaderError, ImageFormat, read_header};
use super::face::{self, FaceBox};
use super::problem::{PhotoProblem, PhotoWarning};
use super::raster::{self, Rgb};
use super::rules::PhotoRules;
use super::scan::{self, ScanFault};

/// Shorter side the checker decodes a large JPEG down to (DCT scaling); enough for the colour and
/// face measurements, and it keeps checking a 12-megapixel file cheap.
const CHECK_DECODE_SHORT_SIDE: u32 = 320;
/// The face detector looks at the photo fitted into the first square (in a compliant photo the
/// face is ~40 % of the height, so it is found there quickly), then the second (faces down to
/// ~16 % of the height, to tell a too-small head from a missing one).
const CHECK_DETECT_SIZES: [u32; 2] = [176, 256];

/// What [`check`] measured and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoReport {
    /// The container format, if recognised.
    pub format: Option<ImageFormat>,
    /// File size in bytes.
    pub bytes: u64,
    /// Declared width in pixels (as stored, before any EXIF rotation).
    pub width: Option<u32>,
    /// Declared height in pixels (as stored, before any EXIF rotation).
    pub height: Option<u32>,
    /// Whether the picture is in colour (`None` if it was not decoded).
    pub colour: Option<bool>,
    /// The EXIF orientation tag, if the file has one.
    pub orientation: Option<u16>,
    /// The face found, in pixels of the upright photo (declared size).
    pub face: Option<FaceBox>,
    /// Estimated head height (crown to chin) / photo height.
    pub head_ratio: Option<f32>,
    /// Estimated free space above the head / photo height.
    pub top_margin: Option<f32>,
    /// Face centre / photo width (0.5 is centred).
    pub face_centre: Option<f32>,
    /// Every rule the photo breaks. Empty means the photo passes.
    pub problems: Vec<PhotoProblem>,
    /// What the candidate should know although it does not fail the photo.
    pub warnings: Vec<PhotoWarning>,
}

impl PhotoReport {
    pub(crate) fn new(bytes: usize) -> PhotoReport {
        PhotoReport {
            format: None,
            bytes: bytes as u64,
            width: None,
            height: None,
            colour: None,
            orientation: None,
            face: None,
            head_ratio: None,
            top_margin: None,
            face_centre: None,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether the photo passes every rule.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problem codes, in order (handy for tests and logs).
    pub fn codes(&self) -> Vec<&'static str> {
        self.problems.iter().map(PhotoProblem::code).collect()
    }
}

/// Refusals that need only the file size and the headers, shared by `check` and `prepare`.
/// Returns the header when the file may be decoded.
pub(crate) fn gate(
    bytes: &[u8],
    rules: &PhotoRules,
    report: &mut PhotoReport,
) -> Result<super::container::Header, PhotoProblem> {
    if bytes.len() as u64 > rules.max_input_bytes {
        return Err(PhotoProblem::InputTooLarge { bytes: bytes.len() as u64, max: rules.max_input_bytes });
    }
    let header = read_header(bytes).map_err(|e| match e {
        HeaderError::Unknown => PhotoProblem::UnknownFormat,
        HeaderError::Malformed(detail) => PhotoProblem::Corrupt { detail: detail.to_owned() },
    })?;
    report.format = Some(header.format);
    report.width = Some(header.width);
    report.height = Some(header.height);
    report.orientation = header.orientation;
    if u64::from(header.width) * u64::from(header.height) > rules.max_input_pixels {
        return Err(PhotoProblem::TooManyPixels {
            width: header.width,
            height: header.height,
            max: rules.max_input_pixels,
        });
    }
    Ok(header)
}

/// Checks a photo file against `rules`. Never panics; refuses oversized input before reading it
/// and oversized or malformed images before decoding them. Returns the measured facts and every
/// rule broken.
pub fn check(bytes: &[u8], rules: &PhotoRules) -> PhotoReport {
    let mut report = PhotoReport::new(bytes.len());
    let header = match gate(bytes, rules, &mut report) {
        Ok(h) => h,
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let (w, h) = (header.width, header.height);
    if header.format != ImageFormat::Jpeg {
        report.problems.push(PhotoProblem::NotJpeg { format: header.format });
    }
    let size = bytes.len() as u64;
    if size < u64::from(rules.min_bytes) {
        report.problems.push(PhotoProblem::FileTooSmall { bytes: size, min: rules.min_bytes });
    }
    if size > u64::from(rules.max_bytes) {
        report.problems.push(PhotoProblem::FileTooLarge { bytes: size, max: rules.max_bytes });
    }
    let orientation = header.orientation.filter(|o| (2..=8).contains(o));
    let (uw, uh) = if orientation.is_some_and(|o| o >= 5) { (h, w) } else { (w, h) };
    if uw < rules.min_width || uh < rules.min_height {
        report.problems.push(PhotoProblem::DimensionsTooSmall {
            width: uw,
            height: uh,
            min_width: rules.min_width,
            min_height: rules.min_height,
        });
    }
    if !rules.aspect_ok(uw, uh) {
        report.problems.push(PhotoProblem::WrongAspect {
            width: uw,
            height: uh,
            aspect_width: rules.aspect_width,
            aspect_height: rules.aspect_height,
        });
    }
    if let Some(value) = orientation {
        report.problems.push(PhotoProblem::OrientationTag { value });
    }

    // The decoder fills a scan that ends early with flat grey; the walk refuses such files. A
    // file over `max_bytes` is refused already: walking it (about 25 ms for a 12-megapixel phone
    // JPEG) would only add a second reason, so only files that could pass are walked.
    if header.format == ImageFormat::Jpeg
        && size <= u64::from(rules.max_bytes)
        && let Err(fault) = scan::verify(bytes)
    {
        report.problems.push(match fault {
            ScanFault::Damaged(detail) => PhotoProblem::DataDamaged { detail },
            ScanFault::Unsupported(coding) => PhotoProblem::UnsupportedJpeg { coding: coding.to_owned() },
        });
        return report;
    }
    let decoded = match raster::decode(bytes, &header, Some(CHECK_DECODE_SHORT_SIDE)) {
        Ok(d) => d,
        Err(p) => {
            report.problems.push(p);
            return report;
        }
    };
    let grey = decoded.grey || raster::is_grayscale(&decoded.rgb);
    report.colour = Some(!grey);
    if grey && rules.require_colour {
        report.problems.push(PhotoProblem::Grayscale);
    }
    let upright = raster::orient(decoded.rgb, orientation.unwrap_or(1));
    let faces = measure_face(&upright, uw, rules, &mut report);
    report.problems.extend(faces);
    report
}

/// Finds the face in the upright picture and checks its placement. `declared_width` is the
/// upright photo's width in file pixels (the face box is reported in those).
fn measure_face(
    upright: &Rgb,
    declared_width: u32,
    rules: &PhotoRules,
    report: &mut PhotoReport,
) -> Vec<PhotoProblem> {
    let mut found = None;
    let mut luma = raster::luma_fit(upright, CHECK_DETECT_SIZES[0], CHECK_DETECT_SIZES[0]);
    for (i, size) in CHECK_DETECT_SIZES.into_iter().enumerate() {
        if i > 0 {
            let larger = raster::luma_fit(upright, size, size);
            if larger.width == luma.width {
                break;
            }
            luma = larger;
        }
        found = face::detect(&luma);
        if found.is_some() {
            break;
        }
    }
    let Some(found) = found else {
        if let Some(degrees) = face::find_turned(&luma) {
            return vec![PhotoProblem::FaceNotUpright { degrees }];
        }
        report.warnings.push(PhotoWarning::NoFaceFound);
        return Vec::new();
    };
    let factor = declared_width as f32 / luma.width as f32;
    let face = found.scaled(factor);
    report.face = Some(face);
    placement_problems(&face, luma.width as f32 * factor, luma.height as f32 * factor, rules, report)
}

/// The placement rules for a face in a `w × h` photo; records the measurements in `report`.
pub(crate) fn placement_problems(
    face: &FaceBox,
    w: f32,
    h: f32,
    rules: &PhotoRules,
    report: &mut PhotoReport,
) -> Vec<PhotoProblem> {
    let mut problems = Vec::new();
    let ratio = face.head_height() / h;
    let margin = face.crown() / h;
    let centre = face.centre_x() / w;
    report.head_ratio = Some(ratio);
    report.top_margin = Some(margin);
    report.face_centre = Some(centre);
    let cut = face.crown() < 0.0 || face.chin() > h || face.x < 0.0 || face.x + face.width > w;
    if cut {
        problems.push(PhotoProblem::FaceCut);
    }
    if ratio < rules.head_ratio - rules.head_ratio_tolerance {
        problems.push(PhotoProblem::HeadTooSmall { ratio, want: rules.head_ratio });
    } else if ratio > rules.head_ratio + rules.head_ratio_tolerance {
        problems.push(PhotoProblem::HeadTooLarge { ratio, want: rules.head_ratio });
    }
    if !cut && (margin - rules.top_margin).abs() > rules.top_margin_tolerance {
        problems.push(PhotoProblem::TopMargin { margin, want: rules.top_margin });
    }
    if (centre - 0.5).abs() > rules.centre_tolerance {
        problems.push(PhotoProblem::FaceOffCentre { position: centre });
    }
    problems
}
