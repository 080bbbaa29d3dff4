//! The folders of `xtask/src` are promises about what may import what (see `main.rs`);
//! this test keeps them, from the `crate::` and `super::` paths of every source file:
//!
//! - no import circle between modules;
//! - `base/` imports nothing above it;
//! - no module outside `tasks/` imports a task, and no task imports another;
//! - the tool adapters never import the display (`engine::steps`, `base::console`) or the
//!   scheduler (`engine::graph`): what they make is `engine::events`'s.
//!
//! A module is a file (`a/b.rs` or `a/b/mod.rs` is `a::b`); a path names the longest
//! module it starts with. The macros at the crate's root (`crate::traceln`) name no module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

#[test]
fn no_circles_and_every_layer_imports_only_below_it() {
    // Named at run time: nextest runs an archive (`cargo xtask ci --from`) in another
    // checkout than the one that compiled it.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let src = manifest_dir
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .join("src");
    let graph = imports(&src);
    assert!(
        graph.len() > 30,
        "too few modules found: {:?}",
        graph.keys()
    );
    let mut problems = Vec::new();
    if let Some(circle) = find_circle(&graph) {
        problems.push(format!("import circle: {}", circle.join(" -> ")));
    }
    for (from, targets) in &graph {
        for to in targets {
            if let Some(broken) = broken_rule(from, to) {
                problems.push(format!(
                    "{} imports {}: {broken}",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The other crates of the workspace (and the bindings' crate, which maturin builds) keep
/// no layer rules of their own, but no import circle either: a circle is where a module
/// cannot be read, or changed, without the one it imports reading it back.
#[test]
fn no_crate_of_the_workspace_has_an_import_circle() {
    let xtask = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let root = xtask.parent().unwrap();
    for krate in [
        "experiments/simd-r-drive-ws-server",
        "experiments/bindings/ws-transport",
        "experiments/bindings/python-ws-client",
    ] {
        let graph = imports(&root.join(krate).join("src"));
        let linked = graph.values().filter(|targets| !targets.is_empty()).count();
        assert!(linked > 1, "{krate}: too few imports found: {graph:?}");
        if let Some(circle) = find_circle(&graph) {
            panic!("{krate}: import circle: {}", circle.join(" -> "));
        }
    }
}

/// The rule that `from` importing `to` breaks, if any.
fn broken_rule(from: &Module, to: &Module) -> Option<&'static str> {
    let top = |m: &Module| m.first().cloned().unwrap_or_default();
    let task = |m: &Module| (top(m) == "tasks").then(|| m.get(1).cloned()).flatten();
    if top(from) == "base" && top(to) != "base" {
        return Some("base imports nothing above it");
    }
    match (task(from), task(to)) {
        (None, Some(_)) => return Some("only a task's own modules import a task"),
        (Some(a), Some(b)) if a != b => return Some("a task never imports another task"),
        _ => {}
    }
    let display = [
        ["engine", "steps"],
        ["engine", "graph"],
        ["base", "console"],
    ];
    let display = display.map(|path| path.map(str::to_owned).to_vec());
    if top(from) == "adapters" && display.contains(to) {
        return Some("an adapter tells events; it never imports the display");
    }
    None
}

/// Every module of `src` and the modules it imports.
fn imports(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = rust_files(src);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let path = regex::Regex::new(r"\b(crate|super)((?:::\w+)+)").unwrap();
    let group = regex::Regex::new(r"use (crate|super)::((?:\w+::)*)\{([^;]*)\};").unwrap();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        // In a file's `mod tests`, `super` is the file's own module.
        let tests_at = text.find("mod tests {").unwrap_or(text.len());
        let root = |found: &regex::Captures<'_>| {
            let at = found.get(0).unwrap().start();
            match &found[1] {
                "super" if at > tests_at => "self".to_owned(),
                root => root.to_owned(),
            }
        };
        let mut named: Vec<(String, String)> = Vec::new();
        for found in path.captures_iter(&text) {
            named.push((root(&found), found[2].trim_start_matches("::").to_owned()));
        }
        // `use crate::a::{b, c::d};`: each item of the group, after its prefix.
        for found in group.captures_iter(&text) {
            for item in found[3].split(',') {
                let item = item
                    .trim()
                    .trim_start_matches('{')
                    .split(' ')
                    .next()
                    .unwrap_or("");
                if !item.is_empty() && item != "self" {
                    named.push((root(&found), format!("{}{item}", &found[2])));
                }
            }
        }
        let parent = module[..module.len().saturating_sub(1)].to_vec();
        let targets = named
            .iter()
            .filter_map(|(root, rest)| {
                let mut full = match root.as_str() {
                    "crate" => Vec::new(),
                    "self" => module.clone(),
                    _ => parent.clone(),
                };
                full.extend(
                    rest.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
                longest_module(&modules, &full)
            })
            .filter(|target| *target != module && !target.is_empty())
            .collect();
        graph.insert(module, targets);
    }
    graph
}

fn longest_module(modules: &BTreeSet<Module>, path: &[String]) -> Option<Module> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
}

fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "main" | "lib")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// A circle of imports, as the modules along it, if there is one.
fn find_circle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        marks: &mut BTreeMap<Module, Mark>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|m| m == node).unwrap();
                let mut circle: Vec<String> = stack[start..].iter().map(|m| m.join("::")).collect();
                circle.push(node.join("::"));
                return Some(circle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, marks, stack) {
                return Some(circle);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

#[test]
fn a_circle_and_a_broken_rule_are_found() {
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Module>();
    let mut graph = BTreeMap::new();
    graph.insert(
        m("readme::markdown"),
        BTreeSet::from([m("readme::directive")]),
    );
    graph.insert(
        m("readme::directive"),
        BTreeSet::from([m("readme::markdown")]),
    );
    let circle = find_circle(&graph).unwrap();
    assert_eq!(circle.len(), 3, "{circle:?}");
    assert!(broken_rule(&m("adapters::nextest"), &m("engine::steps")).is_some());
    assert!(broken_rule(&m("adapters::nextest"), &m("engine::events")).is_none());
    assert!(broken_rule(&m("adapters::compiler"), &m("base::console")).is_some());
    assert!(broken_rule(&m("adapters::compiler"), &m("base::tail")).is_none());
    assert!(broken_rule(&m("tasks::ci"), &m("tasks::lint")).is_some());
    assert!(broken_rule(&m("tasks::ci"), &m("tasks::ci::rust_tests")).is_none());
    assert!(broken_rule(&m("base::process"), &m("engine::steps")).is_some());
}
