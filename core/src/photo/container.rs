//! Reading what an image file *declares* — its format, dimensions, colour model and EXIF
//! orientation — from the container headers alone, before any pixel is decoded.
//!
//! Every read is bounds-checked and every loop is bounded by the input length, so a truncated or
//! hostile file costs at most one pass over its bytes and never a large allocation.

use serde::{Deserialize, Serialize};

/// An image container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// JPEG (JFIF / EXIF).
    Jpeg,
    /// PNG.
    Png,
    /// WebP (lossy, lossless or extended).
    Webp,
}

impl ImageFormat {
    /// The format's usual name.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Webp => "WebP",
        }
    }

    /// Recognises the format from the first bytes of a file.
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }
}

/// What a file's headers declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) format: ImageFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Whether the container declares a single-channel (grey) image.
    pub(crate) grey: bool,
    /// The EXIF orientation tag, if the file has one.
    pub(crate) orientation: Option<u16>,
}

/// Why a header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Not a format we read.
    Unknown,
    /// The headers are cut short or inconsistent.
    Malformed(&'static str),
}

/// Reads the header of a JPEG, PNG or WebP file.
pub(crate) fn read_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    match ImageFormat::sniff(bytes) {
        Some(ImageFormat::Jpeg) => jpeg_header(bytes),
        Some(ImageFormat::Png) => png_header(bytes),
        Some(ImageFormat::Webp) => webp_header(bytes),
        None => Err(HeaderError::Unknown),
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, 0]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([*b.get(at)?, *b.get(at + 1)?, *b.get(at + 2)?, *b.get(at + 3)?]))
}

/// Walks the JPEG marker segments up to the first scan.
fn jpeg_header(b: &[u8]) -> Result<Header, HeaderError> {
    const CUT: HeaderError = HeaderError::Malformed("JPEG headers are cut short");
    let mut at = 2;
    let mut orientation = None;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if b.get(at) != Some(&0xFF) {
            return Err(if at >= b.len() { CUT } else { HeaderError::Malformed("JPEG marker expected") });
        }
        let marker = *b.get(at + 1).ok_or(CUT)?;
        at += 2;
        match marker {
            // Stand-alone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 => return Err(HeaderError::Malformed("JPEG has a second start-of-image marker")),
            0xD9 | 0xDA => return Err(HeaderError::Malformed("JPEG has no frame header before its data")),
            _ => {}
        }
        let len = usize::from(be16(b, at).ok_or(CUT)?);
        if len < 2 {
            return Err(HeaderError::Malformed("JPEG segment length is invalid"));
        }
        let body = b.get(at + 2..at + len).ok_or(CUT)?;
        match marker {
            // Start of frame: baseline, extended, progressive, lossless, arithmetic, hierarchical.
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let height = u32::from(be16(body, 1).ok_or(CUT)?);
                let width = u32::from(be16(body, 3).ok_or(CUT)?);
                let components = *body.get(5).ok_or(CUT)?;
                if components == 0 || body.len() < 6 + 3 * usize::from(components) {
                    return Err(HeaderError::Malformed("JPEG frame header is invalid"));
                }
                if width == 0 || height == 0 {
                    return Err(HeaderError::Malformed("JPEG declares a zero dimension"));
                }
                return Ok(Header {
                    format: ImageFormat::Jpeg,
                    width,
                    height,
                    grey: components == 1,
                    orientation,
                });
            }
            0xE1 if orientation.is_none() && body.starts_with(b"Exif\0\0") => {
                orientation = exif_orientation(&body[6..]);
            }
            _ => {}
        }
        at += len;
    }
}

/// Reads IHDR, then looks for an `eXIf` chunk before the image data.
fn png_header(b: &[u8]) -> Result<Header, HeaderError> {
    const CUT: HeaderError = HeaderError::Malformed("PNG headers are cut short");
    if b.get(12..16) != Some(b"IHDR") || be32(b, 8) != Some(13) {
        return Err(HeaderError::Malformed("PNG does not start with its header chunk"));
    }
    let width = be32(b, 16).ok_or(CUT)?;
    let height = be32(b, 20).ok_or(CUT)?;
    let colour_type = *b.get(25).ok_or(CUT)?;
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(HeaderError::Malformed("PNG declares an invalid dimension"));
    }
    if !matches!(colour_type, 0 | 2 | 3 | 4 | 6) {
        return Err(HeaderError::Malformed("PNG declares an unknown colour type"));
    }
    let mut orientation = None;
    let mut at = 33;
    while let (Some(len), Some(kind)) = (be32(b, at), b.get(at + 4..at + 8)) {
        let Some(data) = b.get(at + 8..at + 8 + len as usize) else { break };
        match kind {
            b"IDAT" | b"IEND" => break,
            b"eXIf" => {
                orientation = exif_orientation(data);
                break;
            }
            _ => at += 12 + len as usize,
        }
    }
    Ok(Header { format: ImageFormat::Png, width, height, grey: matches!(colour_type, 0 | 4), orientation })
}

/// Reads the first image chunk (`VP8 `, `VP8L` or `VP8X`) and an `EXIF` chunk if there is one.
fn webp_header(b: &[u8]) -> Result<Header, HeaderError> {
    const CUT: HeaderError = HeaderError::Malformed("WebP headers are cut short");
    let kind = b.get(12..16).ok_or(CUT)?;
    let body = 20;
    let (width, height) = match kind {
        b"VP8 " => {
            if b.get(body + 3..body + 6) != Some(&[0x9D, 0x01, 0x2A]) {
                return Err(HeaderError::Malformed("WebP key frame signature missing"));
            }
            let w = u32::from(le16(b, body + 6).ok_or(CUT)? & 0x3FFF);
            let h = u32::from(le16(b, body + 8).ok_or(CUT)? & 0x3FFF);
            (w, h)
        }
        b"VP8L" => {
            if b.get(body) != Some(&0x2F) {
                return Err(HeaderError::Malformed("WebP lossless signature missing"));
            }
            let bits = le32(b, body + 1).ok_or(CUT)?;
            ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => {
            let w = le24(b, body + 4).ok_or(CUT)? + 1;
            let h = le24(b, body + 7).ok_or(CUT)? + 1;
            (w, h)
        }
        _ => return Err(HeaderError::Malformed("WebP has no image chunk")),
    };
    if width == 0 || height == 0 {
        return Err(HeaderError::Malformed("WebP declares a zero dimension"));
    }
    let mut orientation = None;
    if kind == b"VP8X" {
        let mut at = 12;
        while let (Some(k), Some(len)) = (b.get(at..at + 4), le32(b, at + 4)) {
            let len = len as usize;
            let Some(data) = b.get(at + 8..at + 8 + len) else { break };
            if k == b"EXIF" {
                let data = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
                orientation = exif_orientation(data);
                break;
            }
            at += 8 + len + (len & 1);
        }
    }
    Ok(Header { format: ImageFormat::Webp, width, height, grey: false, orientation })
}

/// Finds the orientation tag (0x0112) in IFD0 of a TIFF-structured EXIF block.
pub(crate) fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let little = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |at: usize| if little { le16(tiff, at) } else { be16(tiff, at) };
    let u32_at = |at: usize| if little { le32(tiff, at) } else { be32(tiff, at) };
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?);
    for i in 0..count {
        let entry = ifd.checked_add(2 + 12 * i)?;
        if u16_at(entry)? == 0x0112 {
            // Type SHORT (3), count 1, value in the first two bytes of the value field.
            if u16_at(entry + 2)? != 3 {
                return None;
            }
            return u16_at(entry + 8);
        }
    }
    None
}

/// Builds a minimal EXIF APP1 payload (`Exif\0\0` + big-endian TIFF) carrying only an orientation
/// tag. Used by tests and the benchmark to make phone-like files.
pub fn exif_app1_with_orientation(orientation: u16) -> Vec<u8> {
    let mut v = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    v.extend_from_slice(&1u16.to_be_bytes()); // one entry
    v.extend_from_slice(&0x0112u16.to_be_bytes());
    v.extend_from_slice(&3u16.to_be_bytes());
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&orientation.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    v
}

/// Inserts an APP1 segment right after a JPEG's start-of-image marker.
pub fn insert_jpeg_app1(jpeg: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(jpeg.get(..2).unwrap_or_default());
    out.extend_from_slice(&[0xFF, 0xE1]);
    let len = u16::try_from(payload.len() + 2).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload.get(..usize::from(len) - 2).unwrap_or(payload));
    out.extend_from_slice(jpeg.get(2..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG header declaring `w × h` with `components`, and no data after it.
    pub(crate) fn sof_only(w: u16, h: u16, components: u8) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0];
        let len = 8 + 3 * u16::from(components);
        v.extend_from_slice(&len.to_be_bytes());
        v.push(8);
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&w.to_be_bytes());
        v.push(components);
        for c in 0..components {
            v.extend_from_slice(&[c + 1, 0x11, 0]);
        }
        v
    }

    #[test]
    fn jpeg_dimensions_and_orientation() {
        let jpeg = sof_only(4032, 3024, 3);
        let h = read_header(&jpeg).expect("header");
        assert_eq!(
            (h.format, h.width, h.height, h.grey, h.orientation),
            (ImageFormat::Jpeg, 4032, 3024, false, None)
        );
        let tagged = insert_jpeg_app1(&jpeg, &exif_app1_with_orientation(6));
        assert_eq!(read_header(&tagged).expect("header").orientation, Some(6));
        assert!(read_header(&sof_only(10, 10, 1)).expect("header").grey);
    }

    #[test]
    fn truncated_and_hostile_headers_are_refused() {
        let jpeg = sof_only(100, 100, 3);
        for cut in 0..jpeg.len() {
            assert!(read_header(&jpeg[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(read_header(b"GIF89a"), Err(HeaderError::Unknown));
        assert!(read_header(&sof_only(0, 10, 3)).is_err());
        // A segment length of zero must not loop.
        assert!(read_header(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).is_err());
    }

    #[test]
    fn exif_in_both_byte_orders() {
        let be = exif_app1_with_orientation(8);
        assert_eq!(exif_orientation(&be[6..]), Some(8));
        let le = [b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(exif_orientation(&le), Some(3));
        assert_eq!(exif_orientation(&le[..17]), None);
        // An IFD offset pointing far away is simply not found.
        assert_eq!(exif_orientation(&[b'M', b'M', 0, 42, 0xFF, 0xFF, 0xFF, 0xFF]), None);
    }
}
