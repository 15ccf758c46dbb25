//! The core is pure domain logic: no async runtime, no network, no files. The device client
//! (`baoming-client`) and the server bring those; the core must not grow them back.
//!
//! * Its normal dependency closure — every optional dependency included (all features on), as
//!   `Cargo.lock` resolves it — holds none of the crates that bring a runtime or the network.
//! * Its library code (test items and test-only module files left out) names none of
//!   `std::fs`, `std::net`, `std::process` and `File::`.

#[path = "support/rust_source.rs"]
mod rust_source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_source::{library_code, segments_after, test_only_module_files};

/// Crates that would mean a runtime or network access in the core.
const FORBIDDEN: [&str; 7] =
    ["tokio", "ureq", "tungstenite", "tokio-tungstenite", "mio", "hyper", "futures-util"];

/// The JavaScript bindings of wasm32, which every crate depends on only for that target (as
/// `getrandom` does, under `cfg(target_arch = "wasm32")`). The lock file does not say for which
/// targets a dependency exists, and lists a crate's dependencies for the union of the features
/// the whole workspace turns on (a test-only dependency of the server turns on js-sys's futures
/// support, for instance); the core is never built for wasm32, so the walk does not enter them.
const WASM32_ONLY: [&str; 3] = ["js-sys", "wasm-bindgen", "web-sys"];

fn core_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A package of the lock file: its name and version.
type Package = (String, String);

/// The lock file's packages and, for each, the packages it depends on (normal and build
/// dependencies of every feature the workspace turns on; dev-dependencies only for members).
fn lock_graph(lock: &toml::Table) -> BTreeMap<Package, Vec<Package>> {
    let packages = lock["package"].as_array().expect("[[package]] entries");
    let text =
        |p: &toml::Value, key: &str| p.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let versions: BTreeMap<String, Vec<String>> = packages.iter().fold(BTreeMap::new(), |mut m, p| {
        m.entry(text(p, "name")).or_default().push(text(p, "version"));
        m
    });
    // An entry is `name`, `name version` or `name version (source)`; the name alone is unique.
    let resolve = |entry: &str| -> Package {
        let mut words = entry.split_whitespace();
        let name = words.next().unwrap_or_default().to_owned();
        let version = match words.next() {
            Some(v) => v.to_owned(),
            None => versions.get(&name).and_then(|v| v.first()).cloned().unwrap_or_default(),
        };
        (name, version)
    };
    packages
        .iter()
        .map(|p| {
            let deps = p.get("dependencies").and_then(|d| d.as_array()).cloned().unwrap_or_default();
            let deps = deps.iter().filter_map(|d| d.as_str()).map(resolve).collect();
            ((text(p, "name"), text(p, "version")), deps)
        })
        .collect()
}

/// The names of the core's normal dependencies, optional ones included (all features on).
fn normal_dependencies() -> BTreeSet<String> {
    let manifest = read_toml(&core_dir().join("Cargo.toml"));
    let deps = manifest["dependencies"].as_table().expect("[dependencies]");
    deps.iter()
        .map(|(key, spec)| spec.get("package").and_then(|p| p.as_str()).unwrap_or(key).to_owned())
        .collect()
}

#[test]
fn the_dependency_closure_has_no_runtime_and_no_network() {
    let lock = read_toml(&core_dir().join("../Cargo.lock"));
    let graph = lock_graph(&lock);
    let core = graph.keys().find(|(name, _)| name == "baoming-core").expect("baoming-core is locked").clone();
    let direct = normal_dependencies();
    let mut todo: Vec<Package> =
        graph[&core].iter().filter(|(name, _)| direct.contains(name)).cloned().collect();
    assert_eq!(todo.len(), direct.len(), "every dependency of core/Cargo.toml is in Cargo.lock");
    // Who pulled each package in, to name the path to a forbidden one.
    let mut via: BTreeMap<Package, Package> = todo.iter().map(|p| (p.clone(), core.clone())).collect();
    let mut closure = BTreeSet::new();
    while let Some(package) = todo.pop() {
        if !closure.insert(package.clone()) {
            continue;
        }
        for dep in graph
            .get(&package)
            .into_iter()
            .flatten()
            .filter(|(name, _)| !WASM32_ONLY.contains(&name.as_str()))
        {
            via.entry(dep.clone()).or_insert_with(|| package.clone());
            todo.push(dep.clone());
        }
    }
    let names: BTreeSet<&str> = closure.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["automerge", "ring", "minicbor"] {
        assert!(names.contains(expected), "the walk reaches {expected}: {names:?}");
    }
    let mut found = Vec::new();
    for package in closure.iter().filter(|(name, _)| FORBIDDEN.contains(&name.as_str())) {
        let mut chain = vec![format!("{} {}", package.0, package.1)];
        let mut at = package;
        while let Some(parent) = via.get(at).filter(|p| **p != *at) {
            chain.push(parent.0.clone());
            if *parent == core {
                break;
            }
            at = parent;
        }
        chain.reverse();
        found.push(chain.join(" → "));
    }
    assert!(
        found.is_empty(),
        "the core's dependencies bring a runtime or the network:\n{}",
        found.join("\n")
    );
}

/// Every `.rs` file under `dir`, except the files of modules declared `#[cfg(test)] mod x;`.
fn library_files(dir: &Path, test_only: &BTreeSet<PathBuf>, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    let mut test_only = test_only.clone();
    // A module's test-only children live beside `lib.rs`/`mod.rs`, or in the folder named
    // after the module's own file.
    for file in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
        let text = std::fs::read_to_string(file).expect("source is readable");
        let stem = file.file_stem().expect("a file name").to_string_lossy().into_owned();
        let children = if stem == "lib" || stem == "mod" { dir.to_owned() } else { dir.join(&stem) };
        for name in test_only_module_files(&text) {
            test_only.insert(children.join(format!("{name}.rs")));
            test_only.insert(children.join(name));
        }
    }
    for path in entries {
        if test_only.contains(&path) {
            continue;
        }
        if path.is_dir() {
            library_files(&path, &test_only, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_library_code_touches_no_files_network_or_processes() {
    let src = core_dir().join("src");
    let mut files = Vec::new();
    library_files(&src, &BTreeSet::new(), &mut files);
    assert!(files.len() > 10, "the walk finds the core's sources: {files:?}");
    assert!(!files.iter().any(|f| f.ends_with("sync/tests.rs")), "test-only module files are left out");
    let mut found = Vec::new();
    for file in &files {
        let code = library_code(&std::fs::read_to_string(file).expect("source is readable"));
        let shown = file.strip_prefix(core_dir()).unwrap_or(file).display().to_string();
        for (module, line) in segments_after(&code, "std::") {
            if ["fs", "net", "process"].contains(&module.as_str()) {
                found.push(format!("{shown}:{line}: std::{module}"));
            }
        }
        for (at, _) in code.match_indices("File::") {
            let before = code[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                let line = code[..at].matches('\n').count() + 1;
                found.push(format!("{shown}:{line}: File::"));
            }
        }
    }
    assert!(found.is_empty(), "the core's library code does I/O:\n{}", found.join("\n"));
}
