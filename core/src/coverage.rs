//! Which characters the registration form and the admission ticket can print.
//!
//! The documents (feature `documents`) draw all text with the CJK fonts shipped in
//! `core/assets/fonts`, and a character neither font has is refused at rendering rather than
//! printed as a box. So that such a character is refused where it is entered — by
//! [`crate::validate()`] on the device and on the server, and by the server's profile endpoint,
//! long before payment — this module carries the fonts' coverage as a table of code-point
//! ranges compiled without the fonts (a device builds the core without them).
//!
//! The table (`coverage/ranges.rs`) is generated from the fonts' `cmap` tables by the
//! `font_coverage` example; a test under the `documents` feature checks that it equals what the
//! fonts cover, so the two cannot drift apart.
//!
//! What the fonts cover, by Unicode block: Latin, Greek and Cyrillic letters, common punctuation
//! (including the middle dot `·` of transcribed minority names), kana and hangul; CJK Unified
//! Ideographs up to U+9FEF; Extension A up to U+4DB5; Extensions B–F except their last few
//! code points; four characters of Extension G (U+30729, U+30EDD, U+30EDE, U+3106C); nothing of
//! Extensions H and I.

use std::cmp::Ordering;

mod ranges;

/// The code points the shipped fonts draw: sorted, disjoint, non-adjacent inclusive ranges.
pub fn ranges() -> &'static [(u32, u32)] {
    &ranges::RANGES
}

/// Whether the shipped fonts can draw `ch`.
pub fn covers(ch: char) -> bool {
    let cp = u32::from(ch);
    ranges::RANGES
        .binary_search_by(|&(start, end)| {
            if end < cp {
                Ordering::Less
            } else if start > cp {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// The distinct characters of `text` that the shipped fonts cannot draw, in order of first
/// appearance. Empty means the documents can print the text.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let mut missing = Vec::new();
    for ch in text.chars() {
        if !covers(ch) && !missing.contains(&ch) {
            missing.push(ch);
        }
    }
    missing
}

/// `Ok` when the documents can print every character of `text`; otherwise the characters they
/// cannot, distinct and in order of first appearance. The check a name or any other printed
/// answer goes through where it is entered.
pub fn printable(text: &str) -> Result<(), Vec<char>> {
    let missing = missing_glyphs(text);
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

/// `“𱍐” (U+31350)`, `“ก” (U+0E01), “ข” (U+0E02)`: characters as a message names them.
pub(crate) fn describe(chars: &[char]) -> String {
    chars.iter().map(|c| format!("“{c}” (U+{:04X})", u32::from(*c))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_disjoint_and_merged() {
        let r = ranges();
        assert!(r.len() > 100, "{} ranges", r.len());
        assert!(r.iter().all(|(a, b)| a <= b));
        assert!(r.windows(2).all(|w| w[0].1 + 1 < w[1].0), "ranges overlap or touch");
    }

    /// One character of the basic block and of each extension block, where the fonts have one,
    /// and the first code point of the blocks (or parts) they lack.
    #[test]
    fn each_extension_block_the_fonts_cover_passes_and_the_rest_is_refused() {
        let covered = [
            ('张', "basic block U+4E00–9FFF"),
            ('䶮', "Extension A U+3400–4DBF"),
            ('𠮷', "Extension B U+20000–2A6DF"),
            ('𪚥', "Extension B (HanaMinB only)"),
            ('𫖯', "Extension C U+2A700–2B73F"),
            ('\u{2B740}', "Extension D U+2B740–2B81F"),
            ('𬌗', "Extension E U+2B820–2CEAF"),
            ('𬺰', "Extension F U+2CEB0–2EBEF"),
            ('𰻝', "Extension G U+30000–3134F (one of the four the fonts have)"),
            ('\u{F900}', "CJK Compatibility Ideographs"),
        ];
        for (ch, block) in covered {
            assert_eq!(printable(&format!("李{ch}")), Ok(()), "{block}: U+{:04X}", u32::from(ch));
        }
        let refused = [
            ('\u{31350}', "Extension H U+31350–323AF"),
            ('\u{2EBF0}', "Extension I U+2EBF0–2EE5F"),
            ('\u{30000}', "Extension G, first code point"),
            ('\u{9FF0}', "basic block after U+9FEF (Unicode 13)"),
            ('\u{4DB6}', "Extension A after U+4DB5 (Unicode 13)"),
            ('\u{2A6D7}', "Extension B after U+2A6D6 (Unicode 13)"),
        ];
        for (ch, block) in refused {
            assert_eq!(printable(&format!("李{ch}")), Err(vec![ch]), "{block}: U+{:04X}", u32::from(ch));
        }
    }

    #[test]
    fn names_with_separators_latin_letters_and_punctuation_print() {
        for name in [
            "买买提·艾力",
            "阿依古丽•买买提",
            "ジョン・スミス",
            "ZHANG San",
            "O'Brien-Smith",
            "Ле Ван",
            "北京市海淀区中关村南大街5号（3号楼）",
            "zhangsan@例子.中国",
        ] {
            assert_eq!(printable(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn missing_characters_are_listed_once_in_order() {
        assert_eq!(printable("李𱍐ก𱍐"), Err(vec!['\u{31350}', 'ก']));
        assert_eq!(missing_glyphs("王กกข"), vec!['ก', 'ข']);
        assert!(covers('王') && !covers('ก') && !covers('\u{1F600}'));
        assert_eq!(describe(&['\u{31350}', 'ก']), "“\u{31350}” (U+31350), “ก” (U+0E01)");
    }
}
