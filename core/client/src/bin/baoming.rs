//! `baoming` — the command-line tool for candidates and operators.
//!
//! ```text
//! baoming photo check FILE…      check each photo against the rules; exit 1 if any fails
//! baoming photo prepare IN OUT   make a compliant photo from a camera picture
//! ```
//!
//! Options: `--rules FILE` reads the rules from a TOML file (the keys of a catalog's
//! `[exam.photo]` table); `--lang zh|en|both` chooses the language of the explanations (both by
//! default). Exit codes: 0 passed / prepared, 1 a photo failed or could not be prepared, 2 usage
//! or file errors.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use baoming_core::photo::{self, PhotoReport, PhotoRules, PhotoWarning, PrepareError};

const USAGE: &str = "usage:
  baoming photo check [--rules FILE] [--lang zh|en|both] FILE...
  baoming photo prepare [--rules FILE] [--lang zh|en|both] IN OUT";

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Zh,
    En,
    Both,
}

struct Options {
    rules: PhotoRules,
    lang: Lang,
    files: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut rules = PhotoRules::default();
    let mut lang = Lang::Both;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rules" => {
                let path = it.next().ok_or("--rules needs a file")?;
                let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                rules = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            }
            "--lang" => {
                lang = match it.next().map(String::as_str) {
                    Some("zh") => Lang::Zh,
                    Some("en") => Lang::En,
                    Some("both") => Lang::Both,
                    _ => return Err("--lang takes zh, en or both".into()),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            _ => files.push(a.clone()),
        }
    }
    Ok(Options { rules, lang, files })
}

fn say(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => en.to_owned(),
        Lang::Both => format!("{zh} / {en}"),
    }
}

fn print_report(r: &PhotoReport, lang: Lang) {
    let format = r.format.map_or("?", |f| f.name());
    let dims = match (r.width, r.height) {
        (Some(w), Some(h)) => format!("{w}×{h}"),
        _ => "?".into(),
    };
    let colour = match r.colour {
        Some(true) => "colour",
        Some(false) => "grey",
        None => "?",
    };
    println!("  format {format}, {} bytes, {dims} px, {colour}", r.bytes);
    if let Some(o) = r.orientation {
        println!("  EXIF orientation tag {o}");
    }
    if let Some(f) = r.face {
        println!(
            "  face at x {:.0} y {:.0}, {:.0}×{:.0} px (score {:.1})",
            f.x, f.y, f.width, f.height, f.score
        );
    }
    if let (Some(h), Some(t), Some(c)) = (r.head_ratio, r.top_margin, r.face_centre) {
        println!(
            "  head {:.0}% of height, {:.0}% free above, centre at {:.0}% of width",
            h * 100.0,
            t * 100.0,
            c * 100.0
        );
    }
    for p in &r.problems {
        println!("  FAIL {}: {}", p.code(), say(lang, &p.message_zh(), &p.message_en()));
    }
    print_warnings(&r.warnings, lang);
}

fn print_warnings(warnings: &[PhotoWarning], lang: Lang) {
    for w in warnings {
        println!("  warning {}: {}", w.code(), say(lang, &w.message_zh(), &w.message_en()));
    }
}

fn check(opts: &Options) -> ExitCode {
    if opts.files.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut failed = false;
    let mut unreadable = false;
    for path in &opts.files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                unreadable = true;
                continue;
            }
        };
        let report = photo::check(&bytes, &opts.rules);
        println!("{path}: {}", if report.passed() { "PASS" } else { "FAIL" });
        print_report(&report, opts.lang);
        failed |= !report.passed();
    }
    if unreadable {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn prepare(opts: &Options) -> ExitCode {
    let [input, output] = opts.files.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::from(2);
        }
    };
    match photo::prepare(&bytes, &opts.rules) {
        Ok(p) => {
            if let Err(e) = std::fs::write(output, &p.jpeg) {
                eprintln!("{output}: {e}");
                return ExitCode::from(2);
            }
            println!("{input} → {output}: prepared (JPEG quality {})", p.quality);
            if let Some(f) = p.source_face {
                println!(
                    "  face in the source at x {:.0} y {:.0}, {:.0}×{:.0} px",
                    f.x, f.y, f.width, f.height
                );
            }
            println!(
                "  frame from the source: x {:.0} y {:.0}, {:.0}×{:.0} px",
                p.frame.x, p.frame.y, p.frame.width, p.frame.height
            );
            print_report(&p.report, opts.lang);
            print_warnings(
                &p.warnings.iter().filter(|w| !p.report.warnings.contains(w)).copied().collect::<Vec<_>>(),
                opts.lang,
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let detail = match &e {
                PrepareError::Refused(p) => p.code(),
                PrepareError::SelfCheck(_) => e.code(),
            };
            println!("{input}: cannot prepare a compliant photo");
            println!("  FAIL {detail}: {}", say(opts.lang, &e.message_zh(), &e.message_en()));
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("photo"), Some(cmd)) = (args.first().map(String::as_str), args.get(1).map(String::as_str))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let opts = match parse(&args[2..]) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        "check" => check(&opts),
        "prepare" => prepare(&opts),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
