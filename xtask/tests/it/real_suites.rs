//! Real projects from PyPI source distributions, of different shapes, taken
//! through `init` → `pytest-parallel` → `verify`: the tests run must be
//! exactly the tests plain pytest collects. Opt-in (they download from PyPI
//! and take minutes): `XTASK_REAL_SUITES=1 cargo test -p xtask --test it real_suites -- --nocapture`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{heavy, xtask_bin};

fn enabled() -> bool {
    std::env::var("XTASK_REAL_SUITES").is_ok_and(|v| v == "1")
}

/// Downloads and unpacks `name==version`'s source distribution; returns its root.
fn sdist(dir: &Path, name: &str, version: &str) -> PathBuf {
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-binary",
            ":all:",
            "--no-deps",
        ])
        .arg(format!("{name}=={version}"))
        .arg("-d")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "pip download {name}=={version}");
    let archive = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .unwrap()
}

fn xtask(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(xtask_bin())
        .arg("-C")
        .arg(root)
        .arg("--no-progress")
        .args(args)
        .env_remove("PYTEST_WORKERS")
        .env_remove("CI")
        .output()
        .unwrap()
}

/// What plain `pytest` at the root collects, in the project's environment.
fn plain_collection(root: &Path) -> BTreeSet<String> {
    let out = root.join("plain-collection.json");
    let script = format!(
        "import json, pytest\n\
         class Collect:\n    ids = []\n    def pytest_collection_finish(self, session):\n        self.ids = [i.nodeid for i in session.items]\n\
         c = Collect()\n\
         pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider'], plugins=[c])\n\
         open({out:?}, 'w').write(json.dumps(c.ids))\n",
        out = out.display().to_string()
    );
    Command::new(root.join(".venv/bin/python"))
        .args(["-c", &script])
        .current_dir(root)
        .env("PYTHONHASHSEED", "0")
        .output()
        .unwrap();
    let ids: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    ids.into_iter().collect()
}

fn ran(root: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(root.join(".xtask/reports/events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["e"] == "test")
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn check(name: &str, version: &str) {
    if !enabled() {
        eprintln!("real suite {name}: skipped (set XTASK_REAL_SUITES=1 to run it)");
        return;
    }
    let _guard = heavy();
    let work = tempfile::tempdir().unwrap();
    let root = sdist(work.path(), name, version);
    let init = xtask(&root, &["init"]);
    assert_eq!(
        init.status.code(),
        Some(0),
        "{name} init:\n{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let plain = plain_collection(&root);
    assert!(!plain.is_empty(), "{name}: plain pytest collects nothing");
    // Each engine, then the default (`parallel.engine = auto`, no flags),
    // which chooses from the runs recorded before it.
    for engine in ["xdist", "shards", "default"] {
        let args: &[&str] = if engine == "default" {
            &["pytest-parallel"]
        } else {
            &["pytest-parallel", "--engine", engine, "--workers", "2"]
        };
        let run = xtask(&root, args);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{name} {engine}:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let ran = ran(&root);
        eprintln!(
            "real suite {name} {version} {engine}: {} / {} tests run / collected by plain pytest (exit {:?})",
            ran.len(),
            plain.len(),
            run.status.code()
        );
        assert_eq!(
            ran, plain,
            "{name} {engine}: tests run differ from plain pytest's collection"
        );
    }
    let verify = xtask(&root, &["verify", "--workers", "2"]);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{name} verify:\n{stdout}");
    assert!(
        stdout.contains("parallel runs match serial exactly"),
        "{stdout}"
    );
}

/// Tests in `tests/`, dependencies in `requirements/tests.txt`.
#[test]
fn jinja2() {
    check("jinja2", "3.1.6");
}

/// hypothesis-heavy, dependency groups.
#[test]
fn attrs() {
    check("attrs", "26.1.0");
}

/// A package at the root, unittest-style tests with `subTest`.
#[test]
fn more_itertools() {
    check("more-itertools", "11.2.1");
}

/// Tests inside the package (`toolz/tests`), `testpaths` and `--strict-config` in pyproject.
#[test]
fn toolz() {
    check("toolz", "1.2.0");
}

/// src layout, tests in `testing/`, a dependency group.
#[test]
fn pluggy() {
    check("pluggy", "1.7.0");
}
