//! The layering test (issue 13): `ocuroot-core`'s modules form one-way layers, and no two
//! modules at any level (top-level modules, the files of `engine/`, the CLI's commands)
//! import each other in a cycle.
//!
//! The layers, lowest first (each may use only the ones before it; `docs/architecture.md`
//! draws them):
//!
//! ```text
//! clock, limits, redact          the bottom: no other module of core
//! git_subprocess                  every git process (uses redact)
//! refs                            the ref grammar
//! yaml, model                     documents and their types
//! store                           the Git-backed store
//! intent, plan                    intent validation and the intent pipeline
//! sdk, config, init               Starlark: the SDK, repo.ocu.star, starter files
//! workspace, find_deploys         a checkout, its configuration and its stores
//! engine                          orchestration
//! import                          stores of the original
//! ui                              the web UI (feature `ui`): view models, pages, servers
//! ```
//!
//! The scan is textual: every `crate::…`, `super::…` and `use crate::{…}` path in a source
//! file (comments excluded) is an import of the module it names. Tests inside a module are
//! held to the same rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Core's top-level modules, lowest layer first.
const CORE_LAYERS: &[&str] = &[
    "clock",
    "limits",
    "redact",
    "git_subprocess",
    "refs",
    "yaml",
    "model",
    "store",
    "intent",
    "plan",
    "sdk",
    "config",
    "init",
    "workspace",
    "find_deploys",
    "engine",
    "import",
    "ui",
];

/// A module path (`["engine", "release"]`) and the module paths its source names.
type Graph = BTreeMap<Vec<String>, BTreeSet<Vec<String>>>;

/// Returns the module path of a source file under `src/`: `engine/release.rs` is
/// `engine::release`, `engine/mod.rs` is `engine`, `lib.rs` and `main.rs` the root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Removes `//` comments (and doc comments) line by line.
fn strip_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Returns the paths (as segments) that `source` names through `crate::` or `super::`,
/// resolved against `module` (the file's module path). Grouped imports
/// (`use crate::{a::b, c}`) yield one path per item.
fn named_paths(module: &[String], source: &str) -> Vec<Vec<String>> {
    let text = strip_comments(source);
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let starts_word = i == 0 || !is_ident(bytes[i - 1]);
        let (base, skip) = if starts_word && rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if starts_word && rest.starts_with("super::") {
            let mut base = module.to_vec();
            let mut skip = 0;
            let mut r = rest;
            while let Some(after) = r.strip_prefix("super::") {
                base.pop();
                skip += "super::".len();
                r = after;
            }
            (base, skip)
        } else {
            i += 1;
            continue;
        };
        let tail = &rest[skip..];
        if let Some(group) = tail.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top_level(&group[..end]) {
                let mut path = base.clone();
                path.extend(segments(item.trim()));
                out.push(path);
            }
        } else {
            let mut path = base.clone();
            path.extend(segments(tail));
            out.push(path);
        }
        i += skip;
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The identifier segments of a path at the start of `text`: `a::b::{c}` gives `[a, b]`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let len = rest.bytes().take_while(|b| is_ident(*b)).count();
        if len == 0 {
            break;
        }
        out.push(rest[..len].to_string());
        match rest[len..].strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    out
}

/// The index of the `}` closing a group whose `{` came just before `text`.
fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// Splits a group's items at top-level commas.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Builds the module graph of the crate whose sources are `files` (module path, source):
/// each named path is resolved to the longest module path it starts with.
fn graph(files: &[(Vec<String>, String)]) -> Graph {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g = Graph::new();
    for (module, source) in files {
        let edges = g.entry(module.clone()).or_default();
        for path in named_paths(module, source) {
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(target) = target
                && &target != module
            {
                edges.insert(target);
            }
        }
    }
    g
}

/// Lifts an edge between two modules to the children of their lowest common ancestor:
/// `engine::apply -> engine::release::x` is `apply -> release` under `engine`. `None` when
/// one contains the other (a module using its parent's items, or a parent its child's).
fn lift(from: &[String], to: &[String]) -> Option<(Vec<String>, String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((
        from[..common].to_vec(),
        from[common].clone(),
        to[common].clone(),
    ))
}

/// Returns every cycle among sibling modules, as `parent: a -> b -> … -> a`.
fn sibling_cycles(g: &Graph) -> Vec<String> {
    let mut siblings: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, tos) in g {
        for to in tos {
            if let Some((parent, a, b)) = lift(from, to) {
                siblings
                    .entry(parent)
                    .or_default()
                    .entry(a)
                    .or_default()
                    .insert(b);
            }
        }
    }
    let mut cycles = Vec::new();
    for (parent, edges) in &siblings {
        let mut reported = BTreeSet::new();
        for start in edges.keys() {
            if let Some(cycle) = find_cycle(edges, start)
                && reported.insert(canonical(&cycle))
            {
                let name = if parent.is_empty() {
                    "crate".to_string()
                } else {
                    parent.join("::")
                };
                cycles.push(format!("{name}: {}", cycle.join(" -> ")));
            }
        }
    }
    cycles
}

/// The cycle through `start`, if any, as a path from `start` back to `start`.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in edges.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

/// The set of a cycle's nodes, so each cycle is reported once whatever node it starts at.
fn canonical(cycle: &[String]) -> BTreeSet<String> {
    cycle.iter().cloned().collect()
}

/// Returns the imports of top-level modules that go up (or sideways within a layer line)
/// in `layers`.
fn layer_violations(g: &Graph, layers: &[&str]) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| *l == m);
    let mut out = BTreeSet::new();
    for (from, tos) in g {
        let Some(a) = from.first() else { continue };
        for to in tos {
            let Some(b) = to.first() else { continue };
            if a == b {
                continue;
            }
            match (rank(a), rank(b)) {
                (Some(x), Some(y)) if x > y => {}
                (Some(_), Some(_)) => {
                    out.insert(format!(
                        "{} uses {}: `{a}` may only use the layers below it",
                        from.join("::"),
                        to.join("::")
                    ));
                }
                _ => {
                    out.insert(format!(
                        "{} or {} is not in the layer list of tests/test_layers.rs",
                        a, b
                    ));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Reads every `.rs` file under `src` as (module path, source).
fn sources(src: &Path) -> Vec<(Vec<String>, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path: PathBuf = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src");
                let source = std::fs::read_to_string(&path).expect("read source");
                files.push((module_of(rel), source));
            }
        }
    }
    files
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

#[test]
fn core_modules_form_one_way_layers() {
    let g = graph(&sources(&crate_src("ocuroot-core")));
    let mut top: BTreeSet<String> = g.keys().filter_map(|m| m.first().cloned()).collect();
    // Every module must have a layer (a listed layer without a module is fine).
    top.retain(|m| !CORE_LAYERS.contains(&m.as_str()));
    assert!(
        top.is_empty(),
        "modules missing from CORE_LAYERS in tests/test_layers.rs: {top:?}"
    );
    let violations = layer_violations(&g, CORE_LAYERS);
    assert!(
        violations.is_empty(),
        "imports against the layers:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn no_module_cycles_in_core_or_cli() {
    for name in ["ocuroot-core", "ocuroot-cli"] {
        let g = graph(&sources(&crate_src(name)));
        let cycles = sibling_cycles(&g);
        assert!(
            cycles.is_empty(),
            "{name} has import cycles:\n  {}",
            cycles.join("\n  ")
        );
    }
}

/// The checker itself finds what it is meant to find.
#[test]
fn the_checker_finds_cycles_and_upward_imports() {
    let files = vec![
        (vec![], "mod a; mod b;".to_string()),
        (vec!["a".to_string()], "use crate::b::X;".to_string()),
        (
            vec!["b".to_string()],
            "use crate::{a::{self, Y}, c};\n// crate::z is a comment".to_string(),
        ),
        (
            vec!["b".to_string(), "x".to_string()],
            "use super::super::a;".to_string(),
        ),
        (vec!["c".to_string()], String::new()),
    ];
    let g = graph(&files);
    assert_eq!(
        g[&vec!["b".to_string()]],
        BTreeSet::from([vec!["a".to_string()], vec!["c".to_string()]])
    );
    assert_eq!(sibling_cycles(&g), vec!["crate: a -> b -> a".to_string()]);
    let violations = layer_violations(&g, &["c", "a", "b"]);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with("a uses b"), "{violations:?}");
    // A child using its parent is not a cycle.
    let nested = vec![
        (vec!["e".to_string()], "mod r; use self::r::Z;".to_string()),
        (
            vec!["e".to_string(), "r".to_string()],
            "use super::Err;".to_string(),
        ),
    ];
    assert!(sibling_cycles(&graph(&nested)).is_empty());
}
