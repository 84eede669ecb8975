//! The shape of the workspace, checked (rust-analyzer's "tidy" idea): the invariants that
//! ARCHITECTURE.md states must hold here, so that they cannot silently stop being true.
//!
//! * which crate may depend on which (candle, polars, plotters, clap, serde_yaml, csv, ...);
//! * the search crate does no I/O and libraries print nothing;
//! * no import cycles between the modules of a crate;
//! * every library's `lib.rs` opens with documentation that has a runnable example;
//! * every YAML type rejects unknown keys unless it says why not;
//! * every link to a file in the documentation and in source comments resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` (recursively) whose name ends with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    stack.push(path);
                }
            } else if name.ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The library crates: (directory name, package name).
fn crates() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if manifest.is_file() {
            let text = read(&manifest);
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = \""))
                .and_then(|l| l.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{}: no package name", manifest.display()));
            out.push((entry.file_name().to_string_lossy().into_owned(), name.to_string()));
        }
    }
    out.sort();
    out
}

/// The names under `[dependencies]` of a manifest (not dev- or build-dependencies).
fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut inside = false;
    for line in read(manifest).lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            deps.insert(name.to_string());
        }
    }
    deps
}

/// The source of a file without its `#[cfg(test)]` module (tests sit at the bottom of a file).
fn non_test_source(path: &Path) -> String {
    let text = read(path);
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[test]
fn crates_depend_only_on_what_their_role_allows() {
    // Which package may use each external crate; every other crate must not.
    let exclusive: [(&str, &[&str]); 12] = [
        ("candle-core", &["sculpt-model", "sculpt-compress", "sculpt-eval", "sculpt-pipeline"]),
        ("candle-nn", &["sculpt-model", "sculpt-compress", "sculpt-eval", "sculpt-pipeline"]),
        ("polars", &["sculpt-report"]),
        ("plotters", &["sculpt-report"]),
        ("clap", &["sculpt"]),
        ("anyhow", &["sculpt"]),
        ("indicatif", &["sculpt"]),
        ("ctrlc", &["sculpt"]),
        ("serde_yaml", &["sculpt-yaml"]),
        ("tokenizers", &["sculpt-model"]),
        // The ONNX protobuf has one owner, which every ONNX reader and writer goes through.
        ("prost", &["sculpt-onnx"]),
        // Imported graphs are plain IR past sculpt-model.
        ("sculpt-onnx", &["sculpt-model"]),
    ];
    let mut manifests: Vec<(String, PathBuf)> = crates()
        .into_iter()
        .map(|(dir, name)| (name, root().join("crates").join(dir).join("Cargo.toml")))
        .collect();
    manifests.push(("sculpt".into(), root().join("Cargo.toml")));
    let mut problems = Vec::new();
    for (package, manifest) in &manifests {
        let deps = dependencies(manifest);
        for (dep, allowed) in &exclusive {
            if deps.contains(*dep) && !allowed.contains(&package.as_str()) {
                problems.push(format!("{package} depends on {dep} (only {allowed:?} may)"));
            }
        }
    }
    // The foundation crates depend on no other sculpt crate beyond the ones named.
    let layering: [(&str, &[&str]); 7] = [
        ("sculpt-stdx", &[]),
        ("sculpt-onnx", &["sculpt-stdx"]),
        ("sculpt-yaml", &[]),
        ("sculpt-search", &[]),
        ("sculpt-run", &["sculpt-search", "sculpt-stdx", "sculpt-yaml"]),
        ("sculpt-hw", &["sculpt-stdx", "sculpt-yaml"]),
        ("sculpt-report", &["sculpt-run", "sculpt-search", "sculpt-stdx"]),
    ];
    for (package, allowed) in layering {
        let (_, manifest) = manifests.iter().find(|(p, _)| p == package).unwrap();
        for dep in dependencies(manifest).iter().filter(|d| d.starts_with("sculpt-")) {
            if !allowed.contains(&dep.as_str()) {
                problems.push(format!("{package} depends on {dep} (allowed: {allowed:?})"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn search_does_no_io_and_libraries_print_nothing() {
    let mut problems = Vec::new();
    for file in files(&root().join("crates/search/src"), ".rs") {
        let text = non_test_source(&file);
        for needle in ["std::fs", "std::path", "File::", "std::io::Write", "std::env::"] {
            if text.contains(needle) {
                problems.push(format!("{} uses {needle}", file.display()));
            }
        }
    }
    for file in files(&root().join("crates"), ".rs") {
        if !file.components().any(|c| c.as_os_str() == "src") {
            continue;
        }
        let text = non_test_source(&file);
        for needle in ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("] {
            if text.contains(needle) {
                problems.push(format!("{} uses {needle}: only the binary prints", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The top-level module a source file belongs to (`src/a.rs` and `src/a/b.rs` → `a`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Strongly connected components of more than one node (Tarjan), as sorted name lists.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn cycle_finder_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    edges.entry("c".into()).or_default().insert("d".into());
    assert_eq!(cycles(&edges), vec![vec!["a".to_string(), "b".into(), "c".into()]]);
    edges.get_mut("c").unwrap().remove("a");
    assert!(cycles(&edges).is_empty());
}

#[test]
fn no_import_cycles_between_modules() {
    let mut problems = Vec::new();
    let mut sources: Vec<PathBuf> =
        crates().into_iter().map(|(dir, _)| root().join("crates").join(dir).join("src")).collect();
    sources.push(root().join("src"));
    for src in sources {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in files(&src, ".rs") {
            let Some(from) = module_of(&src, &file) else { continue };
            // Doc links (`[fit](crate::fit)`) are not imports.
            let text: String = non_test_source(&file)
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let mut rest = text.as_str();
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let target: String =
                    rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                // `use crate::{a, b}` names several modules at once.
                let targets: Vec<String> = if target.is_empty() && rest.starts_with('{') {
                    let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                    group
                        .split(',')
                        .map(|t| t.trim().split("::").next().unwrap_or("").to_string())
                        .collect()
                } else {
                    vec![target]
                };
                for t in targets {
                    let is_module = src.join(format!("{t}.rs")).is_file() || src.join(&t).is_dir();
                    if is_module && t != from {
                        edges.entry(from.clone()).or_default().insert(t);
                    }
                }
            }
        }
        for cycle in cycles(&edges) {
            problems.push(format!(
                "{}: modules import each other: {}",
                src.display(),
                cycle.join(" ↔ ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_library_opens_with_documentation_and_an_example() {
    let mut problems = Vec::new();
    for (dir, name) in crates() {
        let lib = root().join("crates").join(&dir).join("src/lib.rs");
        let text = read(&lib);
        if !text.starts_with("//!") {
            problems.push(format!("{name}: lib.rs does not open with a //! doc comment"));
        }
        if !text.contains("#![deny(missing_docs)]") {
            problems.push(format!("{name}: lib.rs lacks #![deny(missing_docs)]"));
        }
        let docs: Vec<&str> = text.lines().take_while(|l| l.starts_with("//!")).collect();
        let runnable = docs.iter().any(|l| {
            let l = l.trim_start_matches("//!").trim();
            l == "```" || l == "```rust"
        });
        if !runnable {
            problems.push(format!("{name}: lib.rs documentation has no runnable example"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn yaml_types_reject_unknown_keys() {
    // A type read from YAML rejects unknown keys, unless the line above its derive says why it
    // may not (`// tidy: unknown keys allowed: <reason>`).
    let mut problems = Vec::new();
    for file in files(&root().join("crates"), ".rs") {
        let text = non_test_source(&file);
        if !text.contains("sculpt_yaml::from_") && !file.ends_with("run/src/meta.rs") {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.contains("#[derive(") && line.contains("Deserialize")) {
                continue;
            }
            // The attributes and the item that follow the derive.
            let item: Vec<&str> = lines[i..].iter().take(6).copied().collect();
            let Some(kind) = item.iter().find(|l| l.contains("struct ") || l.contains("enum "))
            else {
                continue;
            };
            if kind.contains("enum ") {
                continue;
            }
            let denies = item.iter().any(|l| l.contains("deny_unknown_fields"));
            // The comments and attributes right above the derive.
            let excused = lines[..i]
                .iter()
                .rev()
                .take_while(|l| {
                    l.trim_start().starts_with("//") || l.trim_start().starts_with("#[")
                })
                .any(|l| l.contains("tidy: unknown keys allowed"));
            if !denies && !excused {
                problems.push(format!("{}:{}: {}", file.display(), i + 1, kind.trim()));
            }
        }
    }
    assert!(problems.is_empty(), "YAML types that accept unknown keys:\n{}", problems.join("\n"));
}

/// Relative link targets in a markdown text: `](target)`, without anchors and web links.
fn markdown_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_string());
        }
    }
    out
}

/// Markdown files of the repository that a Rust comment names: a path (`docs/run-format.md`) or
/// an upper-case document name (`ARCHITECTURE.md`); lower-case bare names (`report.md`) are the
/// names of files sculpt writes.
fn md_mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with("//")) {
        for word in line.split(|c: char| c.is_whitespace() || "`()[],;:'\"".contains(c)) {
            let word = word.trim_end_matches('.');
            let Some(stem) = word.strip_suffix(".md") else { continue };
            let document = !stem.is_empty() && stem.chars().all(|c| !c.is_lowercase());
            if word.contains('/') || document {
                out.push(word.to_string());
            }
        }
    }
    out
}

#[test]
fn documentation_links_resolve() {
    let repo = root();
    let mut problems = Vec::new();
    for file in files(&repo, ".md") {
        if file.starts_with(repo.join("reports")) {
            continue;
        }
        for link in markdown_links(&read(&file)) {
            let base = file.parent().unwrap();
            if !base.join(&link).exists() {
                problems.push(format!("{}: link to {link} does not resolve", file.display()));
            }
        }
    }
    for file in files(&repo, ".rs") {
        let dir = file.parent().unwrap();
        for mention in md_mentions(&read(&file)) {
            // A name is resolved against the repository root, the file's crate and its folder.
            let crate_dir =
                file.ancestors().find(|a| a.join("Cargo.toml").is_file()).unwrap_or(&repo);
            let found = [repo.as_path(), crate_dir, dir].iter().any(|b| b.join(&mention).exists());
            if !found {
                problems.push(format!("{}: names {mention}, which does not exist", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
