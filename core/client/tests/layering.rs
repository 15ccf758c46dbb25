//! The client's modules form layers without an import cycle.
//!
//! Every path into the crate that a module's library code names — `use crate::…` and inline
//! `crate::…` paths, and `super::…` (the crate root, from a top-level module); comments, string
//! literals and `#[cfg(test)]` items do not count — is an edge from that module to the module it
//! names, or to the crate root (`lib`) for an item re-exported there. `lib.rs` declares every
//! module, so it has an edge to each. The test fails on any cycle in that graph, and on any edge
//! that does not go down the layer chart in `src/lib.rs`'s documentation (so the chart stays
//! true).

#[path = "../../tests/support/rust_source.rs"]
mod rust_source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_source::{library_code, segments_after};

/// One import: the module it points to and where it was written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    to: String,
    line: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module files of the crate: name (`lib` for the root) → source text.
fn modules() -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src_dir()).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().expect("a file name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("source is readable");
            modules.insert(name, text);
        }
    }
    modules
}

/// Module → the modules its library code uses (no self-edges).
fn import_graph(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<Edge>> {
    let mut graph = BTreeMap::new();
    for (name, text) in modules {
        let mut edges = BTreeSet::new();
        if name == "lib" {
            // The root declares every module.
            edges.extend(modules.keys().filter(|m| *m != "lib").map(|m| Edge { to: m.clone(), line: 0 }));
        } else {
            let code = library_code(text);
            let named = segments_after(&code, "crate::").into_iter().chain(segments_after(&code, "super::"));
            for (segment, line) in named {
                let to =
                    if modules.contains_key(&segment) && segment != "lib" { segment } else { "lib".into() };
                if to != *name {
                    edges.insert(Edge { to, line });
                }
            }
        }
        graph.insert(name.clone(), edges);
    }
    graph
}

/// A cycle in `graph`, as the list of modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<Edge>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<Edge>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for edge in graph.get(node).into_iter().flatten() {
            match marks.get(&edge.to) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|n| *n == edge.to).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(edge.to.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(cycle) = visit(&edge.to, graph, marks, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node)
            && let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// The layer chart of `lib.rs`'s documentation: module → row, 0 the top row.
fn chart(lib: &str) -> BTreeMap<String, usize> {
    let doc: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("//!")).collect();
    let heading = doc.iter().position(|l| l.trim() == "# Layers").expect("lib.rs documents its layers");
    let open = heading + doc[heading..].iter().position(|l| l.trim() == "```text").expect("a chart");
    let block: Vec<&str> = doc[open + 1..]
        .iter()
        .copied()
        .take_while(|l| l.trim() != "```")
        .filter(|l| !l.trim().is_empty())
        .collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let margin = block.iter().map(|l| indent(l)).min().unwrap_or(0);
    let mut rows = BTreeMap::new();
    let mut row = 0;
    for line in block {
        // A row starts with its modules; a line indented further continues the description.
        if indent(line) > margin {
            continue;
        }
        let names = line.trim_start().split("  ").next().unwrap_or_default();
        for name in names.split('·') {
            rows.insert(name.trim().to_owned(), row);
        }
        row += 1;
    }
    rows
}

#[test]
fn the_client_modules_have_no_import_cycle() {
    let modules = modules();
    let graph = import_graph(&modules);
    // The parser sees the imports (this test must not pass on an empty graph).
    for (from, to) in
        [("ws", "state"), ("sync_client", "ws"), ("session", "persist"), ("after_submit", "account")]
    {
        assert!(
            graph[from].iter().any(|e| e.to == to),
            "{from} is expected to import {to}; found {:?}",
            graph[from]
        );
    }
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let line = graph[&w[0]].iter().find(|e| e.to == w[1]).map_or(0, |e| e.line);
                format!("{}.rs:{line} uses {}", w[0], w[1])
            })
            .collect();
        panic!("import cycle {}: {}", cycle.join(" → "), steps.join(", "));
    }
}

#[test]
fn every_import_goes_down_the_documented_layers() {
    let modules = modules();
    let graph = import_graph(&modules);
    let rows = chart(&modules["lib"]);
    let files: BTreeSet<&String> = modules.keys().filter(|m| *m != "lib").collect();
    let charted: BTreeSet<&String> = rows.keys().collect();
    assert_eq!(files, charted, "the chart in lib.rs names every module file, and only those");
    let mut wrong = Vec::new();
    for (from, edges) in graph.iter().filter(|(from, _)| *from != "lib") {
        for edge in edges {
            match rows.get(&edge.to) {
                Some(&to_row) if to_row > rows[from] => {}
                Some(_) => {
                    wrong.push(format!("{from}.rs:{} uses {}, which is not below it", edge.line, edge.to))
                }
                None => wrong.push(format!("{from}.rs:{} uses the crate root", edge.line)),
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layer chart of lib.rs:\n{}", wrong.join("\n"));
}
