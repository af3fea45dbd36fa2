//! The tree's layout rule, checked: within each crate, imports point one way. A module (a file
//! or a directory under `src/`, and the crate root itself) never imports a module that imports
//! it back, directly or through others (docs/architecture.md, "Imports"). Parent modules may
//! re-export their children; a child reaches a sibling's items through that sibling's own
//! path, never back through the crate root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 9] = [
    "src",
    "gateway/src",
    "controller/src",
    "crates/model/src",
    "crates/routing/src",
    "crates/translate/src",
    "crates/channel/src",
    "crates/testkit/src",
    "benches/micro/src",
];

/// The root module's name in the graph.
const ROOT: &str = "(crate root)";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and without its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `::` segment of a path.
fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Module -> the modules it imports, for one crate's `src/`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module_of = |path: &Path| -> String {
        let rel = path.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        match first.trim_end_matches(".rs") {
            "lib" | "main" => ROOT.to_string(),
            name => name.to_string(),
        }
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let text = code(&std::fs::read_to_string(file).unwrap());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            // `crate::name...` or `crate::{a, b::c, ...}`: the first segment of each path.
            let names: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(|p| first_segment(p.trim()))
                    .collect(),
                None => vec![first_segment(rest)],
            };
            for name in names.into_iter().filter(|n| !n.is_empty()) {
                // `crate::item` of an item defined (or re-exported) by the root is the root.
                let to = if modules.contains(&name) {
                    name
                } else {
                    ROOT.to_string()
                };
                if to != from {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        if from == ROOT {
            // The root reaches its children by name (`use config::X`, `pub use proxy::Y`).
            for line in text.lines() {
                let line = line.trim();
                let Some(path) = line
                    .strip_prefix("pub use ")
                    .or_else(|| line.strip_prefix("use "))
                else {
                    continue;
                };
                let name = first_segment(path);
                if modules.contains(&name) && name != ROOT {
                    edges.entry(ROOT.to_string()).or_default().insert(name);
                }
            }
        }
    }
    edges
}

/// Every cycle found by a depth-first walk, as `a -> b -> a`.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn walk(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        found: &mut Vec<String>,
    ) {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    found.push(cycle.join(" -> "));
                }
                Some(_) => {}
                None => walk(next, graph, state, stack, found),
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for node in graph.keys() {
        if !state.contains_key(node) {
            walk(node, graph, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for src in CRATES {
        for cycle in cycles(&graph(&repo.join(src))) {
            problems.push(format!("{src}: {cycle}"));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_a_cycle_through_the_crate_root() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        (ROOT.to_string(), ["backend".to_string()].into()),
        ("backend".to_string(), [ROOT.to_string()].into()),
        ("leaf".to_string(), ["backend".to_string()].into()),
    ]
    .into();
    assert_eq!(cycles(&graph), vec![format!("{ROOT} -> backend -> {ROOT}")]);
}
