//! A file declaring 100 000 × 100 000 pixels is refused without a large allocation: this test runs
//! alone in its own process and compares the peak resident memory (Linux `VmHWM`) before and
//! after checking and preparing such files.

use baoming_core::photo::{PhotoProblem, PhotoRules, PrepareError, check, prepare};

fn peak_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()
}

fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(b"\0\0\0\x08IDAT\x78\x9c\x63\x60\x00\x00\x00\x02\0\0\0\0");
    v
}

fn webp_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    v.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    v.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    v
}

fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8];
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    v.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0, 0, 0, 0, 0]);
    v
}

#[test]
fn a_file_declaring_ten_gigapixels_is_refused_from_its_header() {
    let rules = PhotoRules::default();
    let files =
        [png_declaring(100_000, 100_000), webp_declaring(100_000, 100_000), jpeg_declaring(65_535, 65_535)];
    let before = peak_kb();
    for file in &files {
        let report = check(file, &rules);
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(matches!(report.problems[0], PhotoProblem::TooManyPixels { .. }), "{report:?}");
        assert_eq!(report.colour, None, "nothing was decoded");
        let refused = prepare(file, &rules);
        assert!(
            matches!(refused, Err(PrepareError::Refused(PhotoProblem::TooManyPixels { .. }))),
            "{refused:?}"
        );
    }
    if let (Some(before), Some(after)) = (before, peak_kb()) {
        // 100 000² RGB would be 30 GB; allow 8 MB of ordinary growth.
        assert!(after - before < 8 * 1024, "peak memory grew by {} kB", after - before);
    }
}
