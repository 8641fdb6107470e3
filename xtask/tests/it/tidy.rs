//! House rules checked as tests: every Rust file opens with a `//!` module
//! doc saying what it is for.

use std::path::Path;

use crate::support::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("fixtures") && !path.ends_with("snapshots") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_has_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("xtask/src"), &mut files);
    rust_files(&repo_root().join("xtask/tests/it"), &mut files);
    assert!(files.len() > 20);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` module doc: {missing:?}"
    );
}

/// What the xtask learns of a run comes from its plugin's events, never from
/// pytest's terminal text or pytest-reportlog's JSON: none of the old
/// parsers, and none of the flags that fed them, may come back.
#[test]
fn nothing_parses_pytest_terminal_text() {
    let mut files = Vec::new();
    rust_files(&repo_root().join("xtask/src"), &mut files);
    let forbidden = [
        "--collect-only\", \"-q\"",
        "collect-only -q",
        "\"$report_type\"",
        "--report-log",
        "--junitxml",
        "collected_from_output",
        "Different tests were collected",
        "\"collected \"",
        "strip_prefix(\"ERROR \")",
        "workers [",
    ];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for needle in forbidden {
            if text.contains(needle) {
                found.push(format!("{}: `{needle}`", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "pytest output parsing is back: {found:#?}"
    );
}

/// The module path of a source file (`src/report/mod.rs` → `report`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The full paths a `use` tree names, `{a, b::{c}}` expanded.
fn expand_use(prefix: &[String], tree: &str, out: &mut Vec<(String, Vec<String>)>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let (mut depth, mut start) = (0, 0);
        let mut items = Vec::new();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&body[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&body[start..]);
        let base: Vec<String> = prefix.iter().cloned().chain(head).collect();
        for item in items.into_iter().filter(|i| !i.trim().is_empty()) {
            expand_use(&base, item, out);
        }
        return;
    }
    let path = tree.split(" as ").next().unwrap_or(tree);
    let alias = tree
        .rsplit(" as ")
        .next()
        .unwrap_or(tree)
        .rsplit("::")
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let mut full: Vec<String> = prefix.to_vec();
    for part in path.split("::").filter(|s| !s.is_empty()) {
        if part != "self" {
            full.push(part.to_string());
        }
    }
    let alias = if alias == "self" {
        full.last().cloned().unwrap_or_default()
    } else {
        alias
    };
    out.push((alias, full));
}

/// No module imports another that imports it back: the import graph of
/// `xtask/src` (by `use` and by `crate::` paths, test modules aside) has no
/// cycle.
#[test]
fn no_module_imports_one_that_imports_it_back() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = repo_root().join("xtask/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.starts_with(src.join("bin")));
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| {
            (
                module_of(&src, f),
                f.strip_prefix(&src).unwrap().display().to_string(),
            )
        })
        .collect();
    let resolve = |parts: &[String]| -> Option<String> {
        (1..=parts.len())
            .rev()
            .find_map(|n| modules.get(&parts[..n]).cloned())
    };
    let ident = |s: &str| {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect::<String>()
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let me = module_of(&src, file);
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        let mut text = std::fs::read_to_string(file).unwrap();
        if let Some(at) = text.find("#[cfg(test)]\nmod tests") {
            text.truncate(at);
        }
        let mut uses = Vec::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("use ") {
            let stmt_end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
            let stmt = rest[at + 4..stmt_end].replace('\n', " ");
            if let Some(tail) = stmt.trim().strip_prefix("crate::") {
                expand_use(&[], tail, &mut uses);
            } else if let Some(tail) = stmt.trim().strip_prefix("super::") {
                expand_use(&me[..me.len().saturating_sub(1)], tail, &mut uses);
            }
            rest = &rest[stmt_end.min(rest.len())..];
            if rest.is_empty() {
                break;
            }
            rest = &rest[1..];
        }
        let targets = edges.entry(name.clone()).or_default();
        for (alias, full) in &uses {
            if let Some(t) = resolve(full) {
                targets.insert(t);
            }
            // `alias::deeper::item` later in the file reaches deeper modules.
            let needle = format!("{alias}::");
            for (i, _) in text.match_indices(&needle) {
                let before = text[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let tail = ident(&text[i + needle.len()..]);
                let path: Vec<String> = full
                    .iter()
                    .cloned()
                    .chain(
                        tail.split("::")
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    )
                    .collect();
                if let Some(t) = resolve(&path) {
                    targets.insert(t);
                }
            }
        }
        for (i, _) in text.match_indices("crate::") {
            let tail = ident(&text[i + 7..]);
            let path: Vec<String> = tail
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(t) = resolve(&path) {
                targets.insert(t);
            }
        }
        targets.remove(&name);
    }
    // A cycle: some module reaches itself.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    cycles.push(path.join(" → ") + &format!(" → {start}"));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
