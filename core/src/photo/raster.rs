//! Pixels: decoding with limits (JPEG with DCT-domain downscaling), EXIF orientation, colour
//! measurement and the small grey images the face detector looks at.

use std::io::Cursor;

use fast_image_resize as fr;

use super::container::{Header, ImageFormat};
use super::problem::PhotoProblem;

/// An 8-bit RGB raster, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rgb {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
}

/// A decoded picture and how it relates to the file's declared size.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) rgb: Rgb,
    /// Declared pixels per decoded pixel (1 unless the JPEG was decoded downscaled).
    pub(crate) scale: f64,
    /// The decoder delivered a grey image.
    pub(crate) grey: bool,
}

fn corrupt(detail: impl std::fmt::Display) -> PhotoProblem {
    PhotoProblem::Corrupt { detail: detail.to_string() }
}

/// Decodes `bytes` (whose header is `header`). For JPEG, `min_short_side` lets the decoder
/// downscale in the DCT domain by 1/2, 1/4 or 1/8 as long as the shorter side stays at least
/// that long; other formats are decoded at full size.
pub(crate) fn decode(
    bytes: &[u8],
    header: &Header,
    min_short_side: Option<u32>,
) -> Result<Decoded, PhotoProblem> {
    // The decoders are fuzzed upstream and here; the unwind guard keeps a decoder bug from
    // taking the caller down (with panic = "abort" it cannot help, and the fuzz target is what
    // keeps that path empty).
    std::panic::catch_unwind(|| match header.format {
        ImageFormat::Jpeg => decode_jpeg(bytes, header, min_short_side),
        ImageFormat::Png => decode_with_image(bytes, header, image::ImageFormat::Png),
        ImageFormat::Webp => decode_with_image(bytes, header, image::ImageFormat::WebP),
    })
    .unwrap_or_else(|_| Err(corrupt("the decoder failed")))
}

fn decode_jpeg(bytes: &[u8], header: &Header, min_short_side: Option<u32>) -> Result<Decoded, PhotoProblem> {
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    // Room for the declared size at 4 bytes per pixel (CMYK) and no more.
    let limit = u64::from(header.width) * u64::from(header.height) * 4;
    dec.set_max_decoding_buffer_size(usize::try_from(limit).unwrap_or(usize::MAX));
    dec.read_info().map_err(corrupt)?;
    let info = dec.info().ok_or_else(|| corrupt("no frame header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if (w, h) != (header.width, header.height) {
        return Err(corrupt("inconsistent frame headers"));
    }
    let (mut out_w, mut out_h) = (w, h);
    if let Some(min) = min_short_side {
        let short = w.min(h);
        if short > min {
            let f = f64::from(min) / f64::from(short);
            let rw = (f64::from(w) * f).ceil() as u16;
            let rh = (f64::from(h) * f).ceil() as u16;
            (out_w, out_h) = dec.scale(rw, rh).map(|(a, b)| (u32::from(a), u32::from(b))).map_err(corrupt)?;
        }
    }
    let pixels = dec.decode().map_err(corrupt)?;
    let n = out_w as usize * out_h as usize;
    let (data, grey) = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => (pixels, false),
        jpeg_decoder::PixelFormat::L8 => (pixels.iter().flat_map(|&l| [l, l, l]).collect(), true),
        jpeg_decoder::PixelFormat::L16 => {
            (pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(), true)
        }
        jpeg_decoder::PixelFormat::CMYK32 => (
            pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u32::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| (u32::from(c) * k / 255) as u8)
                })
                .collect(),
            false,
        ),
    };
    if data.len() != n * 3 {
        return Err(corrupt("the decoder returned a short image"));
    }
    Ok(Decoded {
        rgb: Rgb { width: out_w, height: out_h, data },
        scale: f64::from(w) / f64::from(out_w),
        grey,
    })
}

fn decode_with_image(
    bytes: &[u8],
    header: &Header,
    format: image::ImageFormat,
) -> Result<Decoded, PhotoProblem> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(header.width);
    limits.max_image_height = Some(header.height);
    // RGBA16 of the declared size, plus the decoder's own working memory.
    limits.max_alloc = Some(u64::from(header.width) * u64::from(header.height) * 8 + (16 << 20));
    reader.limits(limits);
    let img = reader.decode().map_err(corrupt)?;
    if (img.width(), img.height()) != (header.width, header.height) {
        return Err(corrupt("inconsistent image headers"));
    }
    let grey = !img.color().has_color();
    let rgb = if img.color().has_alpha() {
        // Transparent parts become white, as on a print.
        let rgba = img.into_rgba8();
        let data = rgba
            .as_raw()
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                [p[0], p[1], p[2]].map(|c| ((u32::from(c) * a + 255 * (255 - a)) / 255) as u8)
            })
            .collect();
        Rgb { width: rgba.width(), height: rgba.height(), data }
    } else {
        let rgb = img.into_rgb8();
        Rgb { width: rgb.width(), height: rgb.height(), data: rgb.into_raw() }
    };
    Ok(Decoded { rgb, scale: 1.0, grey })
}

/// Applies an EXIF orientation (1–8; anything else is treated as 1) so the result is upright.
pub(crate) fn orient(src: Rgb, orientation: u16) -> Rgb {
    let (data, width, height) = orient_pixels(src.data, src.width, src.height, 3, orientation);
    Rgb { width, height, data }
}

/// [`orient`] for a grey raster.
pub(crate) fn orient_luma(src: Luma, orientation: u16) -> Luma {
    let (data, width, height) = orient_pixels(src.data, src.width, src.height, 1, orientation);
    Luma { width, height, data }
}

/// The size of a `w × h` stored picture once `orientation` is applied.
pub(crate) fn oriented_size(w: u32, h: u32, orientation: u16) -> (u32, u32) {
    if (5..=8).contains(&orientation) { (h, w) } else { (w, h) }
}

fn orient_pixels(data: Vec<u8>, w: u32, h: u32, channels: usize, orientation: u16) -> (Vec<u8>, u32, u32) {
    if !(2..=8).contains(&orientation) || data.len() != w as usize * h as usize * channels {
        return (data, w, h);
    }
    let (ow, oh) = oriented_size(w, h, orientation);
    let (w, h, ow_u) = (w as usize, h as usize, ow as usize);
    let mut out = vec![0u8; data.len()];
    for (y, row) in out.chunks_exact_mut(ow_u * channels).enumerate() {
        for (x, px) in row.chunks_exact_mut(channels).enumerate() {
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let at = (sy * w + sx) * channels;
            px.copy_from_slice(&data[at..at + channels]);
        }
    }
    (out, ow, oh)
}

/// Maps a rectangle `[left, top, width, height]` of the upright picture to the stored picture
/// (`stored_w × stored_h`) that `orientation` turns upright.
pub(crate) fn rect_to_stored(rect: [f64; 4], orientation: u16, stored_w: u32, stored_h: u32) -> [f64; 4] {
    let (sw, sh) = (f64::from(stored_w), f64::from(stored_h));
    let map = |u: f64, v: f64| match orientation {
        2 => (sw - u, v),
        3 => (sw - u, sh - v),
        4 => (u, sh - v),
        5 => (v, u),
        6 => (v, sh - u),
        7 => (sw - v, sh - u),
        8 => (sw - v, u),
        _ => (u, v),
    };
    let (ax, ay) = map(rect[0], rect[1]);
    let (bx, by) = map(rect[0] + rect[2], rect[1] + rect[3]);
    [ax.min(bx), ay.min(by), (ax - bx).abs(), (ay - by).abs()]
}

/// The inverse of an orientation: storing an upright picture with `inverse(o)` applied makes a
/// file that orientation `o` turns upright again.
#[cfg(test)]
pub(crate) fn inverse_orientation(orientation: u16) -> u16 {
    match orientation {
        6 => 8,
        8 => 6,
        o => o,
    }
}

/// Chroma (max − min channel) above which a pixel counts as coloured.
const COLOUR_CHROMA: u8 = 16;
/// Share of coloured pixels below which a picture counts as black and white.
const COLOUR_SHARE: f64 = 0.01;

/// Whether the picture is black and white (or a single grey tone): fewer than 1 % of its pixels
/// (sampled on a grid of at most ~64 k points) have a visible colour.
pub(crate) fn is_grayscale(rgb: &Rgb) -> bool {
    let n = rgb.width as usize * rgb.height as usize;
    if n == 0 {
        return true;
    }
    let step = (n / 65_536).max(1);
    let mut sampled = 0usize;
    let mut coloured = 0usize;
    for px in rgb.data.chunks_exact(3).step_by(step) {
        sampled += 1;
        let max = px[0].max(px[1]).max(px[2]);
        let min = px[0].min(px[1]).min(px[2]);
        if max - min > COLOUR_CHROMA {
            coloured += 1;
        }
    }
    (coloured as f64) < COLOUR_SHARE * sampled as f64
}

/// A grey (luma) raster.
#[derive(Debug, Clone)]
pub(crate) struct Luma {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
}

/// The luma of `rgb`, resized (area-averaged) so that it fits in `max_w × max_h`. Never enlarges.
pub(crate) fn luma_fit(rgb: &Rgb, max_w: u32, max_h: u32) -> Luma {
    let full: Vec<u8> = rgb
        .data
        .chunks_exact(3)
        .map(|p| ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8)
        .collect();
    let f = (f64::from(max_w) / f64::from(rgb.width)).min(f64::from(max_h) / f64::from(rgb.height));
    if f >= 1.0 {
        return Luma { width: rgb.width, height: rgb.height, data: full };
    }
    let w = ((f64::from(rgb.width) * f).round() as u32).max(1);
    let h = ((f64::from(rgb.height) * f).round() as u32).max(1);
    match resize_plane(full, rgb.width, rgb.height, w, h) {
        Some(data) => Luma { width: w, height: h, data },
        None => Luma { width: 0, height: 0, data: Vec::new() },
    }
}

fn resize_plane(src: Vec<u8>, sw: u32, sh: u32, dw: u32, dh: u32) -> Option<Vec<u8>> {
    let src = fr::images::Image::from_vec_u8(sw, sh, src, fr::PixelType::U8).ok()?;
    let mut dst = fr::images::Image::new(dw, dh, fr::PixelType::U8);
    let opts = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Box));
    fr::Resizer::new().resize(&src, &mut dst, &opts).ok()?;
    Some(dst.into_vec())
}

/// Crops `rect` (left, top, width, height in `src` pixels, fractional) out of `src` and resizes it
/// to `out_w × out_h` with a Lanczos3 filter.
pub(crate) fn crop_resize(src: &Rgb, rect: [f64; 4], out_w: u32, out_h: u32) -> Option<Rgb> {
    let view = fr::images::ImageRef::new(src.width, src.height, &src.data, fr::PixelType::U8x3).ok()?;
    let mut dst = fr::images::Image::new(out_w, out_h, fr::PixelType::U8x3);
    let opts = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(rect[0], rect[1], rect[2], rect[3]);
    fr::Resizer::new().resize(&view, &mut dst, &opts).ok()?;
    Some(Rgb { width: out_w, height: out_h, data: dst.into_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 × 2 picture whose pixels are all different.
    fn sample() -> Rgb {
        Rgb { width: 3, height: 2, data: (0..18).collect() }
    }

    fn px(r: &Rgb, x: u32, y: u32) -> [u8; 3] {
        let at = ((y * r.width + x) * 3) as usize;
        [r.data[at], r.data[at + 1], r.data[at + 2]]
    }

    #[test]
    fn every_orientation_is_undone_by_its_inverse() {
        for o in 1..=8 {
            let stored = orient(sample(), inverse_orientation(o));
            assert_eq!(orient(stored, o), sample(), "orientation {o}");
        }
    }

    #[test]
    fn orientation_six_turns_clockwise() {
        // Stored landscape 3 × 2; displayed it is 2 × 3 with the stored bottom-left at top-left.
        let up = orient(sample(), 6);
        assert_eq!((up.width, up.height), (2, 3));
        assert_eq!(px(&up, 0, 0), px(&sample(), 0, 1));
        assert_eq!(px(&up, 1, 0), px(&sample(), 0, 0));
        let left = orient(sample(), 8);
        assert_eq!(px(&left, 0, 0), px(&sample(), 2, 0));
    }

    #[test]
    fn cropping_the_stored_picture_then_orienting_equals_orienting_then_cropping() {
        let stored = Rgb { width: 5, height: 4, data: (0..60).collect() };
        for o in 1..=8 {
            let upright = orient(stored.clone(), o);
            let rect = [1.0, 0.0, 2.0, 3.0];
            let direct = crop_resize(&upright, rect, 2, 3).expect("crop");
            let s = rect_to_stored(rect, o, stored.width, stored.height);
            let (cw, ch) = oriented_size(2, 3, o);
            let via = orient(crop_resize(&stored, s, cw, ch).expect("crop"), o);
            assert_eq!(direct, via, "orientation {o}");
        }
    }

    #[test]
    fn grey_and_colour() {
        let grey = Rgb { width: 10, height: 10, data: (0..300).map(|i| (i / 3) as u8).collect() };
        assert!(is_grayscale(&grey));
        let mut colour = grey.clone();
        for p in colour.data.chunks_exact_mut(3).take(5) {
            p.copy_from_slice(&[200, 40, 40]);
        }
        assert!(!is_grayscale(&colour));
    }
}
