//! The scan walk on real files: JPEGs of every kind pass; re-headed, truncated and damaged ones
//! are refused with `photo_data_damaged` (through `check`, as the server runs it), and codings a
//! PDF viewer does not print with `photo_jpeg_unsupported`.

use crate::photo::raster::Rgb;
use crate::photo::tests::{ASTRONAUT_PNG, astronaut_with_headroom, grey, jpeg, phone_jpeg, resized};
use crate::photo::{PhotoProblem, PhotoReport, PhotoRules, PhotoWarning, check, prepare};

use super::{ScanFault, verify};

static SAMPLE_JPEG: &[u8] = include_bytes!("../../../assets/samples/photo.jpg");
static LIBJPEG_PROGRESSIVE: &[u8] = include_bytes!("../../../tests/photos/sample-progressive.jpg");
static LIBJPEG_420_RESTART: &[u8] = include_bytes!("../../../tests/photos/sample-420-restart.jpg");
static LIBJPEG_ARITHMETIC: &[u8] = include_bytes!("../../../tests/photos/sample-arithmetic.jpg");

/// The astronaut prepared into a compliant 330 × 480 photo (about 40 KB): a real photograph as
/// the server receives it.
fn prepared_astronaut() -> Vec<u8> {
    prepare(ASTRONAUT_PNG, &PhotoRules::default()).expect("the astronaut prepares").jpeg
}

/// Where the frame header's height field is (width follows it).
fn frame_size_at(jpeg: &[u8]) -> usize {
    let mut at = 2;
    loop {
        let marker = jpeg[at + 1];
        if matches!(marker, 0xC0..=0xC2) {
            return at + 5;
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
}

/// The first scan's entropy-coded data: from after its header to the end-of-image marker.
fn scan_data(jpeg: &[u8]) -> std::ops::Range<usize> {
    let mut at = 2;
    loop {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] == 0xDA {
            return at + 2 + len..jpeg.len() - 2;
        }
        at += 2 + len;
    }
}

/// `jpeg` with its frame header claiming `w × h`.
fn re_headed(jpeg: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let at = frame_size_at(jpeg);
    out[at..at + 2].copy_from_slice(&h.to_be_bytes());
    out[at + 2..at + 4].copy_from_slice(&w.to_be_bytes());
    out
}

fn data_damaged(report: &PhotoReport) -> bool {
    report.problems.iter().any(|p| matches!(p, PhotoProblem::DataDamaged { .. }))
}

fn encoded(img: &Rgb, edit: impl FnOnce(&mut jpeg_encoder::Encoder<&mut Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 88);
    edit(&mut enc);
    enc.encode(&img.data, img.width as u16, img.height as u16, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

/// JPEGs as encoders write them — two libraries, baseline and progressive (with refinement
/// scans), every subsampling, restart intervals, optimised tables, grey — pass the walk, and
/// `check` reports no damage on them.
#[test]
fn untouched_jpegs_of_every_kind_pass_the_scan_walk() {
    use jpeg_encoder::SamplingFactor;
    let img = resized(&astronaut_with_headroom(), 330, 480);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("prepared astronaut", prepared_astronaut()),
        ("sample photo", SAMPLE_JPEG.to_vec()),
        ("libjpeg progressive", LIBJPEG_PROGRESSIVE.to_vec()),
        ("libjpeg 4:2:0 restart", LIBJPEG_420_RESTART.to_vec()),
        ("phone JPEG, orientation 6", phone_jpeg(&img, 6)),
        ("grey", jpeg(&grey(&img), 90)),
        ("quality 100", jpeg(&img, 100)),
        ("progressive", encoded(&img, |e| e.set_progressive(true))),
        ("progressive, 4:2:0, restart 5", {
            encoded(&img, |e| {
                e.set_progressive(true);
                e.set_sampling_factor(SamplingFactor::R_4_2_0);
                e.set_restart_interval(5);
            })
        }),
        ("optimised tables", encoded(&img, |e| e.set_optimized_huffman_tables(true))),
        ("restart every MCU", encoded(&img, |e| e.set_restart_interval(1))),
    ];
    for (name, factor) in [
        ("4:2:0", SamplingFactor::R_4_2_0),
        ("4:2:2", SamplingFactor::R_4_2_2),
        ("4:4:0", SamplingFactor::R_4_4_0),
        ("4:1:1", SamplingFactor::R_4_1_1),
    ] {
        files.push((name, encoded(&img, |e| e.set_sampling_factor(factor))));
        files.push((name, encoded(&resized(&img, 331, 479), |e| e.set_sampling_factor(factor))));
    }
    for (name, file) in &files {
        assert_eq!(verify(file), Ok(()), "{name}");
        let report = check(file, &PhotoRules::default());
        assert!(!data_damaged(&report), "{name}: {:?}", report.codes());
    }
}

/// A real photo whose frame header was edited to claim a larger (or smaller) size: the scan
/// data covers a fraction of the claimed frame, which the decoder would fill with flat grey.
/// Before the walk, `check` passed such a file with only the "no face found" warning.
#[test]
fn re_headed_photos_are_refused() {
    let rules = PhotoRules::default();
    let astronaut = prepared_astronaut();
    assert!(check(&astronaut, &rules).passed());
    for (name, file) in [("prepared astronaut", astronaut.as_slice()), ("sample photo", SAMPLE_JPEG)] {
        for (w, h) in [(660, 960), (990, 1440), (1320, 1920), (1650, 2400), (330, 496), (330, 240)] {
            let report = check(&re_headed(file, w, h), &rules);
            assert_eq!(
                report.problems.last().map(PhotoProblem::code),
                Some("photo_data_damaged"),
                "{name} {w}×{h}"
            );
            assert_eq!(report.colour, None, "{name} {w}×{h}: nothing was decoded");
            assert!(!report.warnings.contains(&PhotoWarning::NoFaceFound));
        }
    }
    // The defect's exact case: every other rule holds, so the damage is the only problem.
    for (w, h) in [(660, 960), (1650, 2400)] {
        assert_eq!(check(&re_headed(&astronaut, w, h), &rules).codes(), ["photo_data_damaged"], "{w}×{h}");
    }
    // A file over `max_bytes` is refused for its size; its data is not walked.
    let small_max = PhotoRules { max_bytes: 30 * 1024, ..PhotoRules::default() };
    let oversize = check(&re_headed(&astronaut, 660, 960), &small_max);
    assert_eq!(oversize.problems.first().map(PhotoProblem::code), Some("photo_file_too_large"));
    assert!(!data_damaged(&oversize), "{:?}", oversize.codes());
}

/// Cut inside the scan data, with or without the end-of-image marker put back, and with only
/// the end-of-image marker missing.
#[test]
fn truncated_photos_are_refused() {
    let rules = PhotoRules::default();
    for (name, file) in [
        ("prepared astronaut", prepared_astronaut()),
        ("sample photo", SAMPLE_JPEG.to_vec()),
        ("libjpeg progressive", LIBJPEG_PROGRESSIVE.to_vec()),
        ("libjpeg 4:2:0 restart", LIBJPEG_420_RESTART.to_vec()),
    ] {
        let data = scan_data(&file);
        let cuts: Vec<usize> = [1, 100, 250, 500, 750, 900, 990, 999]
            .iter()
            .map(|p| data.start + data.len() * p / 1000)
            .collect();
        // Every cut inside the data, bare or with the end-of-image marker put back; and the whole
        // data without its end-of-image marker.
        let cases = cuts.iter().flat_map(|&c| [(c, false), (c, true)]).chain([(file.len() - 2, false)]);
        for (cut, with_eoi) in cases {
            {
                let mut bad = file[..cut].to_vec();
                if with_eoi {
                    bad.extend_from_slice(&[0xFF, 0xD9]);
                }
                let report = check(&bad, &rules);
                assert!(data_damaged(&report), "{name} cut at {cut} (EOI {with_eoi}): {:?}", report.codes());
                assert!(
                    !report.codes().contains(&"photo_corrupt"),
                    "{name} cut at {cut}: {:?}",
                    report.codes()
                );
            }
        }
    }
    // A progressive file cut between scans, with the end-of-image marker put back, decodes into a
    // blurred picture; it is refused because a coefficient's last bits never came.
    let mut starts = Vec::new();
    let mut at = 2;
    while at + 4 <= LIBJPEG_PROGRESSIVE.len() {
        if LIBJPEG_PROGRESSIVE[at] == 0xFF && LIBJPEG_PROGRESSIVE[at + 1] == 0xDA {
            starts.push(at);
        }
        at += 1;
    }
    assert!(starts.len() >= 6, "libjpeg's script has many scans");
    for &start in &starts[1..] {
        let mut cut = LIBJPEG_PROGRESSIVE[..start].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        assert_eq!(
            verify(&cut),
            Err(ScanFault::Damaged("the image ends before all its data (330×480 frame)".into()))
        );
    }
}

/// Restart markers are counted: one missing, or out of order, is damage.
#[test]
fn restart_markers_must_be_present_and_in_order() {
    let img = resized(&astronaut_with_headroom(), 330, 480);
    let file = encoded(&img, |e| e.set_restart_interval(4));
    assert_eq!(verify(&file), Ok(()));
    let data = scan_data(&file);
    let rst: Vec<usize> = (data.start..data.end - 1)
        .filter(|&i| file[i] == 0xFF && (0xD0..=0xD7).contains(&file[i + 1]))
        .collect();
    assert!(rst.len() > 20, "{} restart markers", rst.len());
    let mut missing = file.clone();
    missing.drain(rst[7]..rst[7] + 2);
    assert!(matches!(verify(&missing), Err(ScanFault::Damaged(_))));
    let mut swapped = file.clone();
    swapped.swap(rst[3] + 1, rst[4] + 1);
    assert!(matches!(verify(&swapped), Err(ScanFault::Damaged(d)) if d.contains("RST")));
}

/// Changed bytes in the scan. A change that breaks the code structure — a code not in its table,
/// a run past a block's end, a coefficient out of range, a block count that no longer adds up —
/// is found; a change confined to a coefficient's magnitude bits leaves a valid JPEG that differs
/// in one coefficient, which no format-level check can tell from the original (JPEG carries no
/// checksum). So a single changed byte is found most of the time and a damaged stretch nearly
/// always. The rates asserted are below the measured ones (about 3/4 of single bytes, all of
/// 64-byte stretches on these files); every change found is the typed problem, and nothing
/// panics.
#[test]
fn changed_bytes_in_the_scan_are_refused_when_they_break_its_structure() {
    let rules = PhotoRules::default();
    for (name, file) in [("prepared astronaut", prepared_astronaut()), ("sample photo", SAMPLE_JPEG.to_vec())]
    {
        let data = scan_data(&file);
        let mut state = 0x9E37_79B9_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for (stretch, trials, min_found) in [(1usize, 120, 60), (64, 40, 38)] {
            let mut found = 0;
            for _ in 0..trials {
                let at = data.start + next() as usize % (data.len() - stretch);
                let mut bad = file.clone();
                for b in &mut bad[at..at + stretch] {
                    *b ^= (next() >> 24) as u8 | 1;
                }
                let report = check(&bad, &rules);
                if data_damaged(&report) {
                    found += 1;
                } else {
                    assert!(
                        !report.codes().contains(&"photo_corrupt"),
                        "{name}: the decoder saw damage the walk missed: {:?}",
                        report.problems
                    );
                }
            }
            assert!(found >= min_found, "{name}: {found} of {trials} changes of {stretch} byte(s) found");
        }
    }
}

/// Codings a PDF viewer does not print are refused with their own problem.
#[test]
fn jpeg_codings_that_cannot_be_printed_are_refused() {
    let rules = PhotoRules::default();
    let arithmetic = check(LIBJPEG_ARITHMETIC, &rules);
    assert!(arithmetic.codes().contains(&"photo_jpeg_unsupported"), "{:?}", arithmetic.codes());
    let astronaut = prepared_astronaut();
    let sof = frame_size_at(&astronaut) - 5;
    let mut lossless = astronaut.clone();
    lossless[sof + 1] = 0xC3;
    let mut twelve_bit = astronaut.clone();
    twelve_bit[sof + 4] = 12;
    for (bad, coding) in [(lossless, "lossless coding"), (twelve_bit, "samples of other than 8 bits")] {
        let report = check(&bad, &rules);
        assert_eq!(report.problems, vec![PhotoProblem::UnsupportedJpeg { coding: coding.to_owned() }]);
        let p = &report.problems[0];
        assert!(p.message_en().contains(coding) && p.message_zh().contains("JPEG"), "{p:?}");
    }
    let damaged = PhotoProblem::DataDamaged { detail: "x".into() };
    assert_eq!(damaged.code(), "photo_data_damaged");
    assert!(damaged.message_zh().contains("不完整") && damaged.message_en().contains("incomplete"));
}
