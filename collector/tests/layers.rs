//! The collector's layering, checked from its own source (issue 16): every `crate::` path in
//! `collector/src` (tests and the binary aside) must point to a layer below the importing module's
//! layer, never sideways to a peer, and no two modules may import each other in a loop. A failure
//! lists the edges at fault, e.g. `decide::engine -> state (upward: decide is below state)`.
//!
//! The layers, top down (docs/design.md draws the same picture):

// cfg(test) on the whole file lets clippy's allow-{unwrap,panic,indexing}-in-tests cover the helpers.
#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules of `collector/src`, by layer, top first. Modules of one layer are peers: they
/// may not import each other.
const LAYERS: &[&[&str]] = &[
    &["app"],
    &["ingest", "deliver", "probe", "observe", "proxycheck", "operate"],
    &["state"],
    &["error"],
    &["store"],
    &["message"],
    &["decide"],
    &["config"],
    &["clock", "secret", "http"],
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// The module path of a source file relative to `src/` (`decide/engine.rs` -> `decide::engine`,
/// `state/mod.rs` -> `state`, `lib.rs` -> ``).
fn module_of(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs");
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    if rel == "lib" { String::new() } else { rel.replace('/', "::") }
}

/// The source a module's imports are read from: everything before its first `#[cfg(test)]`.
fn non_test(src: &str) -> &str {
    src.find("#[cfg(test)]").map_or(src, |i| src.get(..i).unwrap_or(src))
}

/// Paths a module names: `crate::a::b` (also inside `use crate::{a, b::c}` groups) and `super::x`
/// (resolved against the module's parent), as segment lists.
fn named_paths(module: &str, src: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let parent: Vec<String> = {
        let mut p: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        p.pop();
        p
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let bytes: Vec<char> = src.chars().collect();
    let text: String = bytes.iter().collect();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        let mut from = 0;
        while let Some(at) = text.get(from..).and_then(|t| t.find(prefix)).map(|i| i + from) {
            from = at + prefix.len();
            // `foo_crate::x` or `a.super::x` are not paths of this crate.
            if at > 0 && text.get(at - 1..at).is_some_and(|c| c.chars().all(ident)) {
                continue;
            }
            let rest = text.get(from..).unwrap_or("");
            if let Some(group) = rest.strip_prefix('{') {
                let body = group.split('}').next().unwrap_or("");
                for item in body.split(',') {
                    let segs: Vec<String> =
                        item.trim().split("::").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                    if segs.first().is_some_and(|s| s.chars().all(ident)) {
                        out.push(base.iter().cloned().chain(segs).collect());
                    }
                }
                continue;
            }
            let path: String = rest.chars().take_while(|c| ident(*c) || *c == ':').collect();
            let segs: Vec<String> = path.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
            if !segs.is_empty() {
                out.push(base.iter().cloned().chain(segs).collect());
            }
        }
    }
    out
}

/// Checks a set of `(path under src/, source)` files; returns every edge at fault, empty if none.
fn check(files: &[(String, String)]) -> Vec<String> {
    let modules: BTreeSet<String> = files.iter().map(|(p, _)| module_of(p)).collect();
    // Resolves a named path to the longest prefix that is a module (file) of the crate.
    let resolve = |segs: &[String]| -> Option<String> {
        (1..=segs.len()).rev().map(|n| segs.get(..n).unwrap_or_default().join("::")).find(|m| modules.contains(m))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut faults = Vec::new();
    for (path, src) in files {
        let from = module_of(path);
        if from.is_empty() {
            continue; // lib.rs only declares the modules.
        }
        for segs in named_paths(&from, non_test(src)) {
            let Some(to) = resolve(&segs) else { continue };
            if to == from || to.is_empty() {
                continue;
            }
            edges.entry(from.clone()).or_default().insert(to);
        }
    }
    let top = |m: &str| m.split("::").next().unwrap_or("").to_string();
    for (from, tos) in &edges {
        for to in tos {
            let (a, b) = (top(from), top(to));
            if a == b {
                continue;
            }
            match (layer_of(&a), layer_of(&b)) {
                (None, _) => faults.push(format!("{from}: module {a} is in no layer (add it to LAYERS)")),
                (_, None) => faults.push(format!("{from} -> {to}: module {b} is in no layer (add it to LAYERS)")),
                (Some(la), Some(lb)) if la > lb => {
                    faults.push(format!("{from} -> {to} (upward: {a} is below {b})"));
                }
                (Some(la), Some(lb)) if la == lb => {
                    faults.push(format!("{from} -> {to} (sideways: {a} and {b} are peers)"));
                }
                _ => {}
            }
        }
    }
    faults.extend(cycles(&edges).into_iter().map(|c| format!("import loop: {}", c.join(" -> "))));
    faults.sort();
    faults.dedup();
    faults
}

/// Every loop of the module graph: for each edge `a -> b` from which `a` can be reached again, the
/// shortest way back, written as a closed path starting at its first module by name (each loop once).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut out: BTreeSet<Vec<String>> = BTreeSet::new();
    for (a, tos) in edges {
        for b in tos {
            // Breadth first from b back to a.
            let mut prev: BTreeMap<&String, &String> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([b]);
            let mut seen = BTreeSet::from([b]);
            while let Some(m) = queue.pop_front() {
                if m == a {
                    break;
                }
                for n in edges.get(m).into_iter().flatten() {
                    if seen.insert(n) {
                        prev.insert(n, m);
                        queue.push_back(n);
                    }
                }
            }
            if !seen.contains(a) {
                continue;
            }
            let mut back = vec![a.clone()];
            let mut at = a;
            while let Some(p) = prev.get(at) {
                back.push((*p).clone());
                at = p;
            }
            // back = [a, ..., b]; the loop is a -> b -> ... -> a.
            back.reverse();
            let mut ring: Vec<String> =
                std::iter::once(a.clone()).chain(back.into_iter().take_while(|m| m != a)).collect();
            let first = ring.iter().enumerate().min_by(|x, y| x.1.cmp(y.1)).map_or(0, |(i, _)| i);
            ring.rotate_left(first);
            if let Some(f) = ring.first().cloned() {
                ring.push(f);
            }
            out.insert(ring);
        }
    }
    out.into_iter().collect()
}

fn read_tree(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if p.is_dir() {
            if rel != "bin" {
                read_tree(&p, root, out);
            }
        } else if rel.ends_with(".rs") && !rel.ends_with("tests.rs") {
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn collector_modules_import_only_downward_and_never_in_a_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files);
    assert!(files.len() > 20, "read the collector's sources: {}", files.len());
    let tops: BTreeSet<String> = files
        .iter()
        .map(|(p, _)| module_of(p))
        .filter_map(|m| {
            let t = m.split("::").next().unwrap_or("").to_string();
            (!t.is_empty()).then_some(t)
        })
        .collect();
    for t in &tops {
        assert!(layer_of(t).is_some(), "collector/src/{t} is in no layer: add it to LAYERS in this test");
    }
    let faults = check(&files);
    assert!(faults.is_empty(), "layering broken:\n{}", faults.join("\n"));
}

fn file(path: &str, src: &str) -> (String, String) {
    (path.to_string(), src.to_string())
}

#[test]
fn the_check_names_an_upward_import_a_sideways_one_and_a_loop() {
    let files = vec![
        file("lib.rs", "pub mod decide; pub mod state; pub mod deliver; pub mod observe;"),
        file("decide/mod.rs", "pub mod engine; pub mod alert;"),
        file("decide/engine.rs", "use crate::decide::alert::Level;\nuse crate::state::Shared;\n"),
        file("decide/alert.rs", "fn f() { let _ = super::engine::Engine::new(); }\n#[cfg(test)]\nuse crate::state::X;"),
        file("state/mod.rs", "use crate::{decide::engine::Engine, clock};"),
        file("deliver/mod.rs", "use crate::observe::status;"),
        file("observe/mod.rs", "pub mod status;"),
        file("observe/status.rs", "use crate::state::Shared; // fine: state is below observe"),
    ];
    let faults = check(&files);
    assert_eq!(
        faults,
        [
            "decide::engine -> state (upward: decide is below state)",
            "deliver -> observe::status (sideways: deliver and observe are peers)",
            "import loop: decide::alert -> decide::engine -> decide::alert",
            "import loop: decide::engine -> state -> decide::engine",
        ],
        "{faults:#?}"
    );
}

#[test]
fn a_clean_tree_passes_and_a_module_outside_the_layers_is_named() {
    let clean = vec![
        file("decide/mod.rs", "pub mod engine;"),
        file("decide/engine.rs", "use crate::config::Config;"),
        file("config/mod.rs", "use crate::secret::ct_eq;"),
        file("secret.rs", ""),
    ];
    assert_eq!(check(&clean), Vec::<String>::new());
    let stray = vec![file("decide/mod.rs", "use crate::gadget::X;"), file("gadget.rs", "")];
    assert_eq!(check(&stray), ["decide -> gadget: module gadget is in no layer (add it to LAYERS)"]);
}
