//! The server's layout, checked against its source: the folders depend on each other in one
//! direction only (the layers of ARCHITECTURE.md), and only the HTTP layer (`api/`) knows warp,
//! hyper and HTTP status codes.
//!
//! A module is a top-level folder or file of `server/src` (`store`, `identity`, `api`, `app`,
//! …). A dependency is a `crate::<module>` path in code (comments are not code). Each module has
//! a layer; a module may only use modules of a lower layer. That forbids cycles, keeps every
//! domain below the HTTP layer, and keeps the composition root (`app`) above everything but the
//! entry points that run it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom up. Modules on one layer may not use each other.
const LAYERS: &[&[&str]] = &[
    &["admission", "clock", "config", "refusal"],
    &["store"],
    &["identity"],
    &["catalog"],
    &["registration"],
    &["payments"],
    &["desk", "examday"],
    &["state"],
    &["api"],
    &["app"],
    &["serve", "admin"],
];

/// Words that belong to the HTTP layer only.
const HTTP_WORDS: &[&str] =
    &["warp::", "hyper::", "hyper_util::", "StatusCode", "http::", "tokio_tungstenite::"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to (`store/kv.rs` → `store`), or `None` for the crate's entry
/// points (`lib.rs`, `main.rs`, `bin/`).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?.to_owned();
    if first == "bin" || first == "lib.rs" || first == "main.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_owned())
}

/// The code of a line: without a trailing `//` comment, empty for comment lines.
fn code(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find("//") {
        // A `//` inside a string (a URL) is rare enough here to accept cutting the line.
        Some(i) => &line[..i],
        None => line,
    }
}

/// Every module named by a `crate::` path in `text`, including grouped `crate::{a, b::c}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String =
                    item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

struct Source {
    module: String,
    file: PathBuf,
    code: String,
}

fn sources() -> Vec<Source> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .filter_map(|file| {
            let module = module_of(file.strip_prefix(&root).ok()?)?;
            let text = std::fs::read_to_string(&file).expect("read a source file");
            let code = text.lines().map(code).collect::<Vec<_>>().join("\n");
            Some(Source { module, file, code })
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn modules_depend_on_lower_layers_only() {
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in sources() {
        let used = crate_paths(&s.code).into_iter().filter(|m| *m != s.module);
        uses.entry(s.module.clone()).or_default().extend(used);
    }
    let mut wrong = Vec::new();
    for (module, used) in &uses {
        let Some(layer) = layer_of(module) else {
            wrong.push(format!("`{module}` has no layer: add it to LAYERS and ARCHITECTURE.md"));
            continue;
        };
        for u in used {
            match layer_of(u) {
                Some(l) if l < layer => {}
                Some(_) => wrong.push(format!("`{module}` uses `{u}`, which is not below it")),
                None => wrong.push(format!("`{module}` uses `{u}`, which has no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n  {}", wrong.join("\n  "));
    // The layers are the real ones: every module is used or uses something.
    assert!(uses.len() >= LAYERS.iter().map(|l| l.len()).sum::<usize>() - 1, "modules found: {uses:?}");
}

#[test]
fn only_the_http_layer_knows_http() {
    let mut wrong = Vec::new();
    for s in sources().iter().filter(|s| s.module != "api") {
        for (n, line) in s.code.lines().enumerate() {
            if let Some(word) = HTTP_WORDS.iter().find(|w| line.contains(*w)) {
                wrong.push(format!("{}:{}: `{word}` outside api/", s.file.display(), n + 1));
            }
        }
    }
    assert!(wrong.is_empty(), "HTTP outside the HTTP layer:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert_eq!(
        crate_paths("use crate::store::{Tree, Txn};\nuse crate::{api, identity::operators};"),
        ["api", "identity", "store"].into_iter().map(String::from).collect()
    );
    assert_eq!(code("    // crate::app in a comment"), "");
    assert_eq!(code("let x = 1; // warp::reply"), "let x = 1; ");
    assert_eq!(module_of(Path::new("store/kv.rs")).as_deref(), Some("store"));
    assert_eq!(module_of(Path::new("clock.rs")).as_deref(), Some("clock"));
    assert_eq!(module_of(Path::new("bin/baoming-paysandbox.rs")), None);
    assert!(layer_of("store") < layer_of("identity") && layer_of("api") < layer_of("app"));
}
