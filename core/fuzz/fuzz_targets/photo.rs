//! Fuzzes the photo checker and preparer with arbitrary bytes: neither may panic, and whatever
//! `prepare` returns must pass `check`.
//!
//! Run from `core`: `RUSTC_BOOTSTRAP=1 cargo fuzz run photo fuzz/seeds -- -max_total_time=60`.
#![no_main]

use baoming_core::photo::{PhotoRules, check, prepare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A lower pixel limit than the default keeps each run fast; the header gate that enforces it
    // is the same code either way (and is tested with 100 000 × 100 000 in the unit tests).
    let rules = PhotoRules { max_input_pixels: 2_000_000, ..PhotoRules::default() };
    let report = check(data, &rules);
    for p in &report.problems {
        assert!(!p.code().is_empty() && !p.message_zh().is_empty());
    }
    if let Ok(prepared) = prepare(data, &rules) {
        assert!(check(&prepared.jpeg, &rules).passed(), "prepare produced a photo that fails check");
    }
});
