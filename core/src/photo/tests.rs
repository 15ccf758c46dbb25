//! Tests of `check` and `prepare` together: a real photograph (NASA's public-domain astronaut
//! portrait, see `core/tests/photos/README.md`), synthetic pictures of many shapes and contents in
//! every EXIF orientation, and damaged or hostile files.

use std::io::Cursor;

use proptest::prelude::*;

use super::raster::{self, Rgb};
use super::*;

pub(super) static ASTRONAUT_PNG: &[u8] = include_bytes!("../../tests/photos/astronaut.png");

/// The astronaut portrait (512 × 512).
fn astronaut() -> Rgb {
    let img = image::load_from_memory_with_format(ASTRONAUT_PNG, image::ImageFormat::Png)
        .expect("astronaut decodes")
        .into_rgb8();
    Rgb { width: img.width(), height: img.height(), data: img.into_raw() }
}

/// The astronaut with room above her head (her portrait leaves only ~5 %): the top row of the
/// plain studio background repeated.
pub(super) fn astronaut_with_headroom() -> Rgb {
    let a = astronaut();
    let row = a.data[..(a.width * 3) as usize].to_vec();
    let mut data = Vec::with_capacity(a.data.len() + row.len() * 64);
    for _ in 0..64 {
        data.extend_from_slice(&row);
    }
    data.extend_from_slice(&a.data);
    Rgb { width: a.width, height: a.height + 64, data }
}

pub(super) fn resized(src: &Rgb, w: u32, h: u32) -> Rgb {
    raster::crop_resize(src, [0.0, 0.0, f64::from(src.width), f64::from(src.height)], w, h).expect("resize")
}

fn sub(src: &Rgb, x: u32, y: u32, w: u32, h: u32) -> Rgb {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        let at = ((row * src.width + x) * 3) as usize;
        data.extend_from_slice(&src.data[at..at + (w * 3) as usize]);
    }
    Rgb { width: w, height: h, data }
}

pub(super) fn jpeg(img: &Rgb, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&img.data, img.width as u16, img.height as u16, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    out
}

fn png(img: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(Cursor::new(&mut out)),
        &img.data,
        img.width,
        img.height,
        image::ExtendedColorType::Rgb8,
    )
    .expect("png");
    out
}

fn webp(img: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(Cursor::new(&mut out))
        .encode(&img.data, img.width, img.height, image::ExtendedColorType::Rgb8)
        .expect("webp");
    out
}

/// A phone-style JPEG: the upright picture stored turned so that EXIF `orientation` brings it
/// back, with the tag in an APP1 segment.
pub(super) fn phone_jpeg(upright: &Rgb, orientation: u16) -> Vec<u8> {
    let stored = raster::orient(upright.clone(), raster::inverse_orientation(orientation));
    insert_jpeg_app1(&jpeg(&stored, 92), &exif_app1_with_orientation(orientation))
}

pub(super) fn grey(img: &Rgb) -> Rgb {
    let data = img
        .data
        .chunks_exact(3)
        .flat_map(|p| {
            let l = ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8;
            [l, l, l]
        })
        .collect();
    Rgb { width: img.width, height: img.height, data }
}

fn turned(img: &Rgb, degrees: u16) -> Rgb {
    // orient 6 turns clockwise by 90, 3 by 180, 8 by 270.
    raster::orient(
        img.clone(),
        match degrees {
            90 => 6,
            180 => 3,
            _ => 8,
        },
    )
}

/// Markers present in a JPEG before its first scan.
fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let m = jpeg[at + 1];
        out.push(m);
        if m == 0xDA {
            break;
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    out
}

fn assert_compliant(p: &Prepared, rules: &PhotoRules) {
    let again = check(&p.jpeg, rules);
    assert!(again.passed(), "prepared photo fails its check: {:?}", again.problems);
    assert_eq!(again, p.report);
    let (w, h) = (again.width.unwrap_or(0), again.height.unwrap_or(0));
    assert!(rules.aspect_ok(w, h) && w >= rules.min_width && h >= rules.min_height, "{w}x{h}");
    let len = p.jpeg.len() as u64;
    assert!((u64::from(rules.min_bytes)..=u64::from(rules.max_bytes)).contains(&len), "{len} bytes");
    let m = markers(&p.jpeg);
    assert!(m.iter().all(|m| !matches!(m, 0xE1..=0xEF | 0xFE)), "metadata left in the file: {m:x?}");
    assert_eq!(again.orientation, None);
}

#[test]
fn the_astronaut_becomes_a_compliant_photo() {
    let rules = PhotoRules::default();
    let p = prepare(ASTRONAUT_PNG, &rules).expect("astronaut prepares");
    assert_compliant(&p, &rules);
    let face = p.source_face.expect("the astronaut's face is found");
    // Her face is at about x 175–275, y 65–170 in the 512 × 512 original.
    assert!((150.0..200.0).contains(&face.x) && (50.0..90.0).contains(&face.y), "{face:?}");
    assert!(p.report.face.is_some(), "the checker finds the face again");
    let ratio = p.report.head_ratio.unwrap_or(0.0);
    assert!((ratio - rules.head_ratio).abs() < 0.06, "head ratio {ratio}");
    assert!(!p.warnings.contains(&PhotoWarning::NoFaceFound));
    assert_eq!(p.report.colour, Some(true));
}

#[test]
fn every_exif_orientation_is_applied() {
    let rules = PhotoRules::default();
    let upright = resized(&astronaut_with_headroom(), 800, 900);
    let reference = prepare(&phone_jpeg(&upright, 1), &rules).expect("upright");
    let want = reference.source_face.expect("face");
    for o in 1..=8 {
        let file = phone_jpeg(&upright, o);
        let stored = check(&file, &rules);
        assert_eq!(stored.orientation, Some(o));
        if o != 1 {
            assert!(stored.codes().contains(&"photo_orientation_tag"), "{o}: {:?}", stored.codes());
        }
        let p = prepare(&file, &rules).unwrap_or_else(|e| panic!("orientation {o}: {e}"));
        assert_compliant(&p, &rules);
        let got = p.source_face.expect("face found in every orientation");
        // Found at the same place of the upright picture (mirroring moves it a little).
        assert!((got.centre_x() - want.centre_x()).abs() < 25.0, "{o}: {got:?} vs {want:?}");
        assert!((got.y - want.y).abs() < 25.0, "{o}: {got:?} vs {want:?}");
    }
}

#[test]
fn png_and_webp_sources_are_accepted() {
    let rules = PhotoRules::default();
    let src = resized(&astronaut_with_headroom(), 640, 720);
    for file in [png(&src), webp(&src)] {
        let p = prepare(&file, &rules).expect("prepares");
        assert_compliant(&p, &rules);
        assert!(p.source_face.is_some());
    }
}

#[test]
fn a_compliant_photo_passes_and_each_fault_is_named() {
    let rules = PhotoRules::default();
    let good = prepare(ASTRONAUT_PNG, &rules).expect("prepares");
    assert!(check(&good.jpeg, &rules).passed());
    let img = {
        let d = image::load_from_memory(&good.jpeg).ok();
        assert!(d.is_none(), "the image crate is built without JPEG: the core's decoder is the one used");
        let header = super::container::read_header(&good.jpeg).expect("header");
        raster::decode(&good.jpeg, &header, None).expect("decodes").rgb
    };
    let codes = |bytes: &[u8]| check(bytes, &rules).codes();

    assert!(codes(&jpeg(&grey(&img), 95)).contains(&"photo_grayscale"));
    assert!(codes(&png(&img)).contains(&"photo_not_jpeg"));
    assert!(codes(&jpeg(&resized(&img, img.width, img.width), 95)).contains(&"photo_wrong_aspect"));
    let tiny = codes(&jpeg(&resized(&img, 110, 160), 90));
    assert!(
        tiny.contains(&"photo_dimensions_too_small") && tiny.contains(&"photo_file_too_small"),
        "{tiny:?}"
    );
    let tagged = codes(&insert_jpeg_app1(&good.jpeg, &exif_app1_with_orientation(6)));
    assert!(tagged.contains(&"photo_orientation_tag"), "{tagged:?}");
    // Stored sideways without a tag: the face is found only turned.
    let sideways = codes(&jpeg(&turned(&img, 90), 95));
    assert!(sideways.contains(&"photo_face_not_upright"), "{sideways:?}");
    // Head too small: the frame shrunk into a larger canvas.
    let mut canvas = Rgb { width: img.width * 2, height: img.height * 2, data: Vec::new() };
    canvas.data = vec![200; (canvas.width * canvas.height * 3) as usize];
    for y in 0..img.height {
        let dst = (((y + img.height / 2) * canvas.width + img.width / 2) * 3) as usize;
        let src = (y * img.width * 3) as usize;
        canvas.data[dst..dst + (img.width * 3) as usize]
            .copy_from_slice(&img.data[src..src + (img.width * 3) as usize]);
    }
    let small_head = check(&jpeg(&canvas, 90), &rules);
    assert!(
        small_head.codes().contains(&"photo_head_too_small")
            || small_head.warnings.contains(&PhotoWarning::NoFaceFound),
        "{:?}",
        small_head.codes()
    );
    // Head too large: the top half of the photo blown up.
    let big = resized(
        &sub(&img, img.width / 6, img.height / 8, img.width * 2 / 3, img.height * 2 / 3),
        img.width,
        img.height,
    );
    let big_codes = codes(&jpeg(&big, 95));
    assert!(
        big_codes
            .iter()
            .any(|c| matches!(*c, "photo_head_too_large" | "photo_face_cut" | "photo_top_margin")),
        "{big_codes:?}"
    );
    for p in check(&jpeg(&grey(&img), 30), &rules).problems {
        assert!(!p.code().is_empty() && !p.message_zh().is_empty() && !p.message_en().is_empty());
    }
}

#[test]
fn pictures_that_cannot_become_compliant_are_refused_with_a_reason() {
    let rules = PhotoRules::default();
    let a = astronaut();
    let refused = |bytes: &[u8]| match prepare(bytes, &rules) {
        Err(PrepareError::Refused(p)) => p.code(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(&jpeg(&grey(&a), 92)), "photo_grayscale");
    assert_eq!(refused(&png(&grey(&a))), "photo_grayscale");
    assert_eq!(refused(&jpeg(&resized(&a, 200, 200), 92)), "photo_source_too_small");
    // The top of the head cut off by the picture's edge.
    assert_eq!(refused(&jpeg(&sub(&a, 0, 60, 512, 452), 92)), "photo_face_cut");
    // Stored sideways with no EXIF tag: reported, not silently turned.
    for d in [90, 180, 270] {
        let code = refused(&jpeg(&turned(&a, d), 92));
        assert_eq!(code, "photo_face_not_upright", "turned {d}");
    }
    assert_eq!(refused(b"GIF89a not a photo"), "photo_unknown_format");
    let e = prepare(&jpeg(&grey(&a), 92), &rules).expect_err("grey");
    assert!(!e.message_zh().is_empty() && e.message_en().contains("colour"));
}

/// A JPEG header declaring `w × h` and nothing else.
fn declared_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8];
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
    v.extend_from_slice(&[0u8; 64]);
    v
}

fn declared_png(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(b"\0\0\0\x10IDAT");
    v.extend_from_slice(&[
        0x78, 0x9c, 0xED, 0xC1, 0x01, 0x0D, 0, 0, 0, 0xC2, 0xA0, 0xF7, 0x4F, 0x6D, 0x0E, 0x37,
    ]);
    v
}

fn declared_webp(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    v.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    v.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    v.extend_from_slice(b"VP8L\x05\0\0\0\x2f\0\0\0\0\0");
    v
}

#[test]
fn huge_declared_dimensions_are_refused_from_the_header() {
    // 100 000 × 100 000 (10 gigapixels, 30 GB as RGB): any attempt to allocate it would abort the
    // test process; the refusal must come from the header alone.
    let rules = PhotoRules::default();
    let files = [declared_png(100_000, 100_000), declared_webp(100_000, 100_000)];
    for file in files.iter().map(Vec::as_slice).chain([declared_jpeg(50_000, 50_000).as_slice()]) {
        let r = check(file, &rules);
        assert_eq!(r.codes(), ["photo_too_many_pixels"], "{r:?}");
        assert_eq!(r.colour, None, "nothing was decoded");
        assert!(matches!(
            prepare(file, &rules),
            Err(PrepareError::Refused(PhotoProblem::TooManyPixels { .. }))
        ));
    }
    // The JPEG header cannot declare more than 65 535 per side; the same gate applies.
    let j = check(&declared_jpeg(65_535, 65_535), &rules);
    assert_eq!(j.width, Some(65_535));
    assert_eq!(j.codes(), ["photo_too_many_pixels"]);
    // Oversized input is not even parsed.
    let small_limit = PhotoRules { max_input_bytes: 1_000, ..PhotoRules::default() };
    assert_eq!(check(&[0xFF; 2_000], &small_limit).codes(), ["photo_input_too_large"]);
}

#[test]
fn damaged_files_are_refused_and_never_panic() {
    let rules = PhotoRules::default();
    let src = resized(&astronaut(), 300, 300);
    for file in [jpeg(&src, 90), png(&src), webp(&src), declared_jpeg(400, 400)] {
        let len = file.len();
        for cut in (0..len).step_by((len / 40).max(1)) {
            let r = check(&file[..cut], &rules);
            assert!(!r.passed(), "a truncated file passed");
            if let Ok(p) = prepare(&file[..cut], &rules) {
                assert_compliant(&p, &rules);
            }
        }
        let mut state = 0x2545_F491_u32;
        for _ in 0..40 {
            let mut bad = file.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let at = state as usize % len;
                bad[at] ^= (state >> 24) as u8 | 1;
            }
            let _ = check(&bad, &rules);
            if let Ok(p) = prepare(&bad, &rules) {
                assert_compliant(&p, &rules);
            }
        }
    }
    let garbage = check(&[0xFF, 0xD8, 0xFF], &rules);
    assert_eq!(garbage.codes(), ["photo_corrupt"]);
    assert!(!garbage.problems[0].message_zh().is_empty());
}

/// What a generated picture shows.
#[derive(Debug, Clone, Copy)]
enum Content {
    /// One flat colour.
    Plain([u8; 3]),
    /// Smooth colour gradient.
    Gradient,
    /// Coloured noise and stripes (hard to compress).
    Busy(u32),
    /// The astronaut scaled into a coloured background at a position.
    Portrait { scale: f32, x: f32, y: f32 },
}

fn generate(content: Content, w: u32, h: u32) -> Rgb {
    let mut data = vec![0u8; (w * h * 3) as usize];
    match content {
        Content::Plain(c) => data.chunks_exact_mut(3).for_each(|p| p.copy_from_slice(&c)),
        Content::Gradient => {
            for (i, p) in data.chunks_exact_mut(3).enumerate() {
                let (x, y) = (i as u32 % w, i as u32 / w);
                p.copy_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 160]);
            }
        }
        Content::Busy(seed) => {
            let mut s = seed | 1;
            for (i, p) in data.chunks_exact_mut(3).enumerate() {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let stripe = if (i as u32 % w / 7).is_multiple_of(2) { 90 } else { 0 };
                p.copy_from_slice(&[
                    (s as u8) / 2 + stripe,
                    (s >> 8) as u8 / 2 + 40,
                    (s >> 16) as u8 / 2 + 60,
                ]);
            }
        }
        Content::Portrait { scale, x, y } => {
            data.chunks_exact_mut(3).for_each(|p| p.copy_from_slice(&[96, 150, 210]));
            let a = astronaut();
            let side = ((w.min(h) as f32 * scale) as u32).clamp(16, 4096);
            let face = resized(&a, side, side);
            let (ox, oy) =
                (((w.saturating_sub(side)) as f32 * x) as u32, ((h.saturating_sub(side)) as f32 * y) as u32);
            for row in 0..side.min(h - oy) {
                let cols = side.min(w - ox) as usize * 3;
                let dst = (((oy + row) * w + ox) * 3) as usize;
                let src = (row * side * 3) as usize;
                data[dst..dst + cols].copy_from_slice(&face.data[src..src + cols]);
            }
        }
    }
    Rgb { width: w, height: h, data }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        prop::array::uniform3(0u8..=255)
            .prop_filter("colour", |c| { c.iter().max().unwrap_or(&0) - c.iter().min().unwrap_or(&0) > 40 })
            .prop_map(Content::Plain),
        Just(Content::Gradient),
        any::<u32>().prop_map(Content::Busy),
        (0.3f32..1.0, 0.0f32..1.0, 0.0f32..1.0).prop_map(|(scale, x, y)| Content::Portrait { scale, x, y }),
    ]
}

/// Refusals a generated picture may legitimately get.
const ACCEPTABLE_REFUSALS: &[&str] = &[
    "photo_source_too_small",
    "photo_bytes_unreachable",
    "photo_face_cut",
    "photo_top_margin",
    "photo_face_off_centre",
    "photo_face_too_close",
    "photo_face_not_upright",
    "photo_head_too_small",
    "photo_head_too_large",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every output of `prepare` passes `check`; every refusal is one of the named reasons.
    #[test]
    fn every_prepared_photo_passes_check(
        w in 120u32..1400,
        h in 120u32..1400,
        orientation in 1u16..=8,
        content in content(),
        as_png in any::<bool>(),
    ) {
        let rules = PhotoRules::default();
        let upright = generate(content, w, h);
        let file = if as_png {
            png(&raster::orient(upright, raster::inverse_orientation(orientation)))
        } else {
            phone_jpeg(&upright, orientation)
        };
        match prepare(&file, &rules) {
            Ok(p) => assert_compliant(&p, &rules),
            Err(PrepareError::Refused(p)) => {
                prop_assert!(ACCEPTABLE_REFUSALS.contains(&p.code()), "{p:?} for {content:?} {w}x{h}");
            }
            Err(e) => prop_assert!(false, "{e} for {content:?} {w}x{h} o{orientation}"),
        }
    }
}

#[test]
fn plain_pictures_grow_to_reach_the_minimum_size() {
    let rules = PhotoRules::default();
    let p = prepare(&jpeg(&generate(Content::Plain([200, 60, 40]), 1600, 2200), 95), &rules)
        .expect("a large plain picture can be made big enough");
    assert_compliant(&p, &rules);
    assert!(p.report.height.unwrap_or(0) > rules.target_height, "grew: {:?}", p.report.height);
    assert!(p.warnings.contains(&PhotoWarning::NoFaceFound));
    // A small plain picture cannot grow enough without enlarging more than allowed.
    let small = prepare(&jpeg(&generate(Content::Plain([200, 60, 40]), 300, 420), 95), &rules);
    assert!(matches!(small, Err(PrepareError::Refused(PhotoProblem::BytesUnreachable { .. }))), "{small:?}");
}

#[test]
fn busy_pictures_are_compressed_into_the_maximum() {
    let rules = PhotoRules { max_bytes: 60 * 1024, ..PhotoRules::default() };
    let p = prepare(&jpeg(&generate(Content::Busy(7), 1200, 1600), 95), &rules).expect("busy");
    assert_compliant(&p, &rules);
    assert!(p.quality < 90, "quality lowered to {}", p.quality);
}

/// A fixed corpus beside the property test: portraits, gradients and busy pictures in three
/// shapes and all eight orientations. Every output passes `check`, and nearly all of them are
/// prepared (the property test alone could pass by refusing everything).
#[test]
fn a_corpus_in_every_orientation_is_prepared() {
    let rules = PhotoRules::default();
    let mut prepared = 0;
    let mut total = 0;
    let mut with_face = 0;
    for o in 1..=8u16 {
        for (w, h) in [(720, 960), (1000, 800), (800, 1300)] {
            for content in [
                Content::Portrait { scale: 0.7, x: 0.5, y: 0.5 },
                Content::Gradient,
                Content::Busy(u32::from(o) * 7919),
            ] {
                total += 1;
                match prepare(&phone_jpeg(&generate(content, w, h), o), &rules) {
                    Ok(p) => {
                        assert_compliant(&p, &rules);
                        prepared += 1;
                        if matches!(content, Content::Portrait { .. }) && p.source_face.is_some() {
                            with_face += 1;
                        }
                    }
                    Err(e) => {
                        eprintln!("refused: {e} for {content:?} {w}x{h} o{o}");
                        assert!(ACCEPTABLE_REFUSALS.contains(&e.code()), "{e} for {content:?} {w}x{h} o{o}");
                    }
                }
            }
        }
    }
    assert!(prepared * 10 >= total * 9, "only {prepared} of {total} prepared");
    assert_eq!(with_face, 24, "the portrait's face is found in every shape and orientation");
}
