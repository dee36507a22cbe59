//! A crate's top-level modules must not import each other in a circle: reads every
//! `crate::…` path in the crate's `src/` and fails with the circle it finds.
//!
//! ```no_run
//! let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
//! sidefx_testkit::module_graph::assert_no_circle(&src, "sidefx-cli");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it names through `crate::`.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Asserts that the top-level modules of the crate whose sources are in `src_dir` import
/// each other in no circle, and returns their graph (for further checks, e.g. its size).
///
/// # Panics
///
/// With the circle (`a -> b -> a`) and `crate_name`, or when `src_dir` holds no module
/// besides `lib.rs` / `main.rs`.
#[track_caller]
pub fn assert_no_circle(src_dir: &Path, crate_name: &str) -> Graph {
    let graph = module_graph(src_dir);
    assert!(
        !graph.is_empty(),
        "no module of {crate_name} found in {}",
        src_dir.display()
    );
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "the modules of {crate_name} import each other in a circle: {}",
            circle.join(" -> ")
        );
    }
    graph
}

/// The graph of the top-level modules of the crate whose sources are in `src_dir` (every
/// `.rs` file below a top-level module counts as that module; `lib.rs` and `main.rs` are
/// left out, and comment lines are skipped).
///
/// # Panics
///
/// When a file or directory cannot be read.
pub fn module_graph(src_dir: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src_dir) {
        let relative = file.strip_prefix(src_dir).expect("a file below src_dir");
        let first = relative.components().next().expect("a file name");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|err| panic!("reading {}: {err}", file.display()));
        let uses = graph.entry(module.clone()).or_default();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            uses.extend(
                referenced_modules(line)
                    .into_iter()
                    .filter(|m| *m != module),
            );
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()));
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The first segment after each `crate::` in `line`, including every item of a
/// `crate::{a, b::{C}}` group.
pub fn referenced_modules(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => found.extend(group_heads(group)),
            None => found.extend(ident(rest)),
        }
    }
    found
}

/// The leading identifier of each item of a `{…}` group (its text after the `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut item_start) = (0_usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && !c.is_whitespace() => {
                heads.extend(ident(&group[i..]));
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// A circle of imports (its first module repeated at the end), if there is one.
pub fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(graph, next, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(graph, start, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(graph: &mut Graph, from: &str, to: &str) {
        graph.entry(from.into()).or_default().insert(to.into());
    }

    #[test]
    fn a_circle_is_found() {
        let mut graph = Graph::new();
        edge(&mut graph, "cli", "demo");
        edge(&mut graph, "demo", "stack");
        edge(&mut graph, "stack", "ui");
        assert_eq!(find_circle(&graph), None);
        edge(&mut graph, "stack", "cli");
        assert_eq!(
            find_circle(&graph),
            Some(["cli", "demo", "stack", "cli"].map(String::from).to_vec())
        );
    }

    #[test]
    fn grouped_and_nested_paths_are_read() {
        let line = "use crate::{bench, stack::{DataDir, Mode}}; let x = crate::ui::Style::plain();";
        assert_eq!(
            referenced_modules(line),
            ["bench", "stack", "ui"].map(String::from).to_vec()
        );
    }

    /// A crate on disk whose `a` and `b` import each other (one through a nested file).
    fn crate_with_a_circle() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("lib.rs", "pub mod a;\npub mod b;\n");
        write(
            "a.rs",
            "use crate::b::B;\n// crate::c in a comment does not count\n",
        );
        write("b/mod.rs", "mod inner;\n");
        write("b/inner.rs", "pub struct B(crate::a::A);\n");
        dir
    }

    #[test]
    #[should_panic(expected = "the modules of demo import each other in a circle: a -> b -> a")]
    fn a_circle_on_disk_fails_naming_it() {
        let dir = crate_with_a_circle();
        assert_no_circle(dir.path(), "demo");
    }

    #[test]
    fn the_graph_is_read_from_every_file_of_a_module() {
        let dir = crate_with_a_circle();
        let graph = module_graph(dir.path());
        let names = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
        assert_eq!(graph.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(names("a"), ["b"]);
        assert_eq!(names("b"), ["a"]);
    }

    #[test]
    fn the_kits_own_modules_form_no_circle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        assert_no_circle(&src, "sidefx-testkit");
    }
}
