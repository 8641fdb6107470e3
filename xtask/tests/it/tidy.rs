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
