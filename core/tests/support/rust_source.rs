//! Reading Rust source as the architecture tests need it: the code that is compiled into the
//! library, with comments, string and character literals blanked out and `#[cfg(test)]` items
//! removed, and the paths it names after a prefix such as `crate::` or `std::`.
//!
//! Shared by `core/tests/purity.rs` and `core/client/tests/layering.rs` (through `#[path]`).
//! A small lexer rather than a parser: it knows exactly enough of Rust's literal and comment
//! syntax that braces and paths inside them do not count.

#![allow(dead_code)]

/// `text` with every comment and every string, byte-string and character literal replaced by
/// spaces (line breaks kept), so that only code remains.
pub(crate) fn blank_literals_and_comments(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        match literal_end(&c, i) {
            Some(end) => {
                out.extend(c[i..end].iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
                i = end;
            }
            None => {
                out.push(c[i]);
                i += 1;
            }
        }
    }
    out
}

/// The end (exclusive) of the comment or literal that starts at `i`, if one does.
fn literal_end(c: &[char], i: usize) -> Option<usize> {
    let next = c.get(i + 1).copied();
    if c[i] == '/' && next == Some('/') {
        return Some(c[i..].iter().position(|&ch| ch == '\n').map_or(c.len(), |p| i + p));
    }
    if c[i] == '/' && next == Some('*') {
        let (mut depth, mut j) = (0usize, i);
        while j < c.len() {
            if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                depth += 1;
                j += 2;
            } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            } else {
                j += 1;
            }
        }
        return Some(c.len());
    }
    if let Some(len) = raw_string_start(c, i) {
        // r"…", r#"…"#, br#"…"#: ends at a quote followed by as many hashes.
        let hashes = c[i..i + len].iter().filter(|&&ch| ch == '#').count();
        let closes = |j: usize| {
            c[j] == '"' && c[j + 1..].iter().take(hashes).filter(|&&ch| ch == '#').count() == hashes
        };
        return Some((i + len..c.len()).find(|&j| closes(j)).map_or(c.len(), |j| j + 1 + hashes));
    }
    if c[i] == 'b' && next == Some('"') && !ident_before(c, i) {
        return Some(quoted_end(c, i + 1));
    }
    if c[i] == '"' || (c[i] == '\'' && is_char_literal(c, i)) {
        return Some(quoted_end(c, i));
    }
    None
}

/// The end (exclusive) of the string or character literal whose opening quote is at `open`.
fn quoted_end(c: &[char], open: usize) -> usize {
    let quote = c[open];
    let mut j = open + 1;
    while j < c.len() && c[j] != quote {
        j += if c[j] == '\\' { 2 } else { 1 };
    }
    (j + 1).min(c.len())
}

fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// The length of `r"`, `r#"`, `br##"` … starting at `i`, if a raw string starts there.
fn raw_string_start(c: &[char], i: usize) -> Option<usize> {
    if ident_before(c, i) {
        return None;
    }
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    while c.get(j) == Some(&'#') {
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some(j + 1 - i)
}

/// Whether the quote at `i` opens a character literal (`'x'`, `'\n'`, `'\u{…}'`) rather than a
/// lifetime or a label (`'a`, `'static`).
fn is_char_literal(c: &[char], i: usize) -> bool {
    match c.get(i + 1) {
        Some('\\') => true,
        Some(_) => c.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// `code` (already blanked) without the items marked `#[cfg(test)]`: an inline module or
/// function is cut to its closing brace, a `mod name;` declaration to its semicolon.
pub(crate) fn without_test_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = item_end(item);
        // Keep the line structure.
        out.extend(item[..end].chars().filter(|&ch| ch == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The byte length of the attribute and the item after it: to the first `;` outside braces, or
/// to the brace that closes the first opened one.
fn item_end(item: &str) -> usize {
    let mut depth = 0usize;
    for (i, ch) in item.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            ';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    item.len()
}

/// The code of a source file that is compiled outside tests.
pub(crate) fn library_code(text: &str) -> String {
    without_test_items(&blank_literals_and_comments(text))
}

/// The names of the modules declared `#[cfg(test)] mod name;` in `text`: their files hold test
/// code only.
pub(crate) fn test_only_module_files(text: &str) -> Vec<String> {
    let code = blank_literals_and_comments(text);
    let mut names = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        rest = &rest[at + "#[cfg(test)]".len()..];
        let words: Vec<&str> = rest.split_whitespace().take(3).collect();
        if let ["mod", name, ..] = words[..]
            && let Some(name) = name.strip_suffix(';')
        {
            names.push(name.to_owned());
        }
    }
    names
}

/// The first path segment after every occurrence of `prefix` (which must end in `::`) at the
/// start of a path in `code`, with one level of braces expanded: `crate::{a, b::c}` names `a`
/// and `b`. Each entry is (segment, line number from 1).
pub(crate) fn segments_after(code: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(pos) = code[from..].find(prefix) {
        let at = from + pos;
        from = at + prefix.len();
        let before = at.checked_sub(1).map(|b| bytes[b]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1usize;
            let mut part = String::new();
            let mut parts = Vec::new();
            for ch in group.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        parts.push(std::mem::take(&mut part));
                        continue;
                    }
                    _ => {}
                }
                part.push(ch);
            }
            parts.push(part);
            found.extend(parts.iter().filter_map(|p| first_ident(p)).map(|s| (s, line)));
        } else if let Some(s) = first_ident(rest) {
            found.push((s, line));
        }
    }
    found
}

fn first_ident(text: &str) -> Option<String> {
    let ident: String =
        text.trim_start().chars().take_while(|ch| ch.is_alphanumeric() || *ch == '_').collect();
    (!ident.is_empty()).then_some(ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_comments_and_test_items_do_not_count() {
        let text = r##"
use crate::{a, b::c, d::{e, f}};
// use crate::commented;
/// [link](crate::doc_link)
const S: &str = "crate::in_string { ";
const R: &str = r#"crate::in_raw "{"#;
const C: char = '{';
const Q: (char, &[u8]) = ('\'', b"crate::in_bytes }");
/* a /* nested */ crate::in_block_comment { */
fn f<'a>(x: &'a str) -> &'a str { crate::inline::call(x) }
#[cfg(test)]
mod tests {
    use crate::only_in_tests;
    fn g() { let _ = "}"; }
}
#[cfg(test)]
mod more_tests;
use std::{fs, io::Write};
"##;
        let code = library_code(text);
        let names: Vec<String> = segments_after(&code, "crate::").into_iter().map(|(s, _)| s).collect();
        assert_eq!(names, ["a", "b", "d", "inline"]);
        let std: Vec<String> = segments_after(&code, "std::").into_iter().map(|(s, _)| s).collect();
        assert_eq!(std, ["fs", "io"]);
        assert_eq!(test_only_module_files(text), ["more_tests"]);
        assert_eq!(code.lines().count(), text.lines().count(), "lines are kept");
    }
}
