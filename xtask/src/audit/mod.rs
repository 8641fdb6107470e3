//! The isolation audit of test code: find the test modules, parse each with
//! a real Python parser, and collect findings per file.
//!
//! `scan` audits one file's text (pure), `discover` picks the files, and
//! `audit` runs `scan` over them on every usable core. Rendering lives in
//! `render`, the task (config, flags, exit code) in `tasks::audit`.

mod checks;
pub mod render;
pub mod rules;
mod scan;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::UserError;
use crate::fsx::relative;

pub use rules::{Rule, Severity};

/// One rule matched at one place. Lines and columns are 1-based; columns
/// count characters (Unicode code points).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: Rule,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    /// A fix specific to this finding; the rule's own hint otherwise.
    pub hint: Option<String>,
}

impl Finding {
    pub fn at(
        rule: Rule,
        (line, column): (usize, usize),
        (end_line, end_column): (usize, usize),
        message: String,
        hint: Option<String>,
    ) -> Finding {
        Finding {
            rule,
            line,
            column,
            end_line,
            end_column,
            message,
            hint,
        }
    }

    pub fn severity(&self) -> Severity {
        self.rule.severity()
    }

    pub fn hint(&self) -> &str {
        self.hint.as_deref().unwrap_or(self.rule.hint())
    }
}

/// The findings of one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// As shown to the user: relative to the project root when inside it.
    pub path: PathBuf,
    pub findings: Vec<Finding>,
}

/// The audit of a set of files.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every audited file, in path order (most have no findings).
    pub files: Vec<FileReport>,
    /// Findings silenced by `# xtask: allow(<rule>)` comments.
    pub suppressed: usize,
    /// Findings dropped because `[audit] allow` lists their rule.
    pub allowed: usize,
}

impl Report {
    pub fn findings(&self) -> impl Iterator<Item = (&Path, &Finding)> {
        self.files
            .iter()
            .flat_map(|f| f.findings.iter().map(move |x| (f.path.as_path(), x)))
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings()
            .filter(|(_, f)| f.severity() == severity)
            .count()
    }

    /// Findings at or above `threshold`: any means the audit fails.
    pub fn failing(&self, threshold: Severity) -> usize {
        self.findings()
            .filter(|(_, f)| f.severity() >= threshold)
            .count()
    }
}

/// Whether a file name is one pytest collects or loads: `test_*.py`,
/// `*_test.py`, `conftest.py`.
pub fn is_test_file(name: &str) -> bool {
    name == "conftest.py"
        || (name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py")))
}

/// Directories never searched for tests.
fn skipped_dir(name: &str) -> bool {
    name.starts_with('.')
        || matches!(
            name,
            "__pycache__" | "node_modules" | "site-packages" | "venv" | "build" | "dist"
        )
}

/// The files to audit under `paths` (relative to `root` unless absolute):
/// explicit files as given, directories searched for test modules.
pub fn discover(root: &Path, paths: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for given in paths {
        let path = root.join(given);
        let meta = std::fs::metadata(&path).map_err(|_| {
            UserError::usage(
                format!("audit path `{given}` does not exist"),
                format!(
                    "pass files or directories of `{}` (relative to it), or fix `[audit] paths` / `project.test-paths` in testing.toml",
                    root.display()
                ),
            )
        })?;
        if meta.is_dir() {
            walk(&path, &mut files)?;
        } else if given.ends_with(".py") {
            files.push(path);
        } else {
            return Err(UserError::usage(
                format!("audit path `{given}` is not a Python file"),
                "pass `.py` files or directories that contain tests",
            )
            .into());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::format_err!("cannot list `{}`: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !skipped_dir(&name) {
                walk(&entry.path(), files)?;
            }
        } else if is_test_file(&name) {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// Audits `files` on every usable core. Rules in `allow` are dropped.
pub fn audit(root: &Path, files: &[PathBuf], allow: &HashSet<Rule>) -> Report {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().div_ceil(16))
        .max(1);
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, FileReport, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut parser = scan::parser();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        let scanned = scan_file(&mut parser, path);
                        out.push((
                            i,
                            FileReport {
                                path: shown(path, root),
                                findings: scanned.findings,
                            },
                            scanned.suppressed,
                        ));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("audit thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _, _)| *i);
    let mut report = Report::default();
    for (_, mut file, suppressed) in results {
        report.suppressed += suppressed;
        let before = file.findings.len();
        file.findings.retain(|f| !allow.contains(&f.rule));
        report.allowed += before - file.findings.len();
        report.files.push(file);
    }
    report
}

/// `path` relative to `root` when inside it, without `./` parts.
fn shown(path: &Path, root: &Path) -> PathBuf {
    relative(path, root)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Audits one file; a file that cannot be read or decoded is a finding too.
fn scan_file(parser: &mut tree_sitter::Parser, path: &Path) -> scan::Scanned {
    let problem = |message: String| scan::Scanned {
        findings: vec![Finding::at(
            Rule::SyntaxError,
            (1, 1),
            (1, 1),
            message,
            None,
        )],
        suppressed: 0,
    };
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => scan::scan(parser, &text),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let before = String::from_utf8_lossy(&bytes[..offset]);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                scan::Scanned {
                    findings: vec![Finding::at(
                        Rule::SyntaxError,
                        (line, column),
                        (line, column),
                        "the file is not valid UTF-8; it was not audited".into(),
                        Some("save it as UTF-8 (Python's default source encoding)".into()),
                    )],
                    suppressed: 0,
                }
            }
        },
        Err(e) => problem(format!("cannot read the file: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_file_names() {
        for yes in ["test_a.py", "a_test.py", "conftest.py"] {
            assert!(is_test_file(yes), "{yes}");
        }
        for no in ["a.py", "testa.py", "test_a.txt", "helpers.py"] {
            assert!(!is_test_file(no), "{no}");
        }
    }

    #[test]
    fn allow_drops_rules_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("test_a.py"),
            "import os\ndef test_a():\n    os.chdir('x')\n",
        )
        .unwrap();
        let files = discover(dir.path(), &[".".into()]).unwrap();
        let report = audit(dir.path(), &files, &HashSet::from([Rule::OsChdir]));
        assert_eq!(report.findings().count(), 0);
        assert_eq!(report.allowed, 1);
        let report = audit(dir.path(), &files, &HashSet::new());
        assert_eq!(report.failing(Severity::Error), 1);
    }
}
