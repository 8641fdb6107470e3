//! Longest-first ordering for local parallel runs: the test files, sorted by
//! their recorded total duration, handed to pytest through an `@file`
//! argument list (no plugin), with xdist's own reordering by test count off.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::durations::{module_of, Durations};
use crate::fsx::relative;
use crate::python::argv;
use crate::run::durations_path;

/// The pytest arguments that run the suite longest file first, or why the
/// collection order stays.
pub fn longest_first_args(
    ctx: &Ctx,
    config: &Config,
) -> anyhow::Result<Result<Vec<String>, String>> {
    let (store, warning) = Durations::load(&durations_path(ctx, config));
    if let Some(w) = warning {
        return Ok(Err(format!("{w}; this run records them")));
    }
    if let Some(file) = custom_python_files(&ctx.root) {
        return Ok(Err(format!(
            "`python_files` is customised in `{file}`, so test files cannot be listed safely"
        )));
    }
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for (id, secs) in &store.tests {
        *totals.entry(module_of(id).to_string()).or_default() += secs;
    }
    let discovered = discover(&ctx.root, config);
    if discovered.is_empty() {
        return Ok(Err("no test files found under the test paths".into()));
    }
    if let Some(new) = discovered.iter().find(|f| !totals.contains_key(*f)) {
        return Ok(Err(format!(
            "`{new}` has no recorded durations yet; this run records them"
        )));
    }
    let mut files: Vec<(&String, f64)> = totals
        .iter()
        .filter(|(f, _)| discovered.contains(*f))
        .map(|(f, s)| (f, *s))
        .collect();
    files.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let names: Vec<&String> = files.iter().map(|(f, _)| *f).collect();
    let path = ctx
        .root
        .join(&config.reports.dir.value)
        .join("pytest-order.txt");
    Ok(Ok(vec![
        argv::arg_file(&ctx.root, &path, &names)?,
        "--no-loadscope-reorder".into(),
    ]))
}

/// The config file that sets `python_files`, if any (then discovery could miss files).
fn custom_python_files(root: &Path) -> Option<String> {
    ["pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"]
        .into_iter()
        .find(|f| {
            std::fs::read_to_string(root.join(f)).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.trim_start().starts_with("python_files"))
            })
        })
        .map(str::to_string)
}

/// Test files under the test paths, by pytest's default `python_files`
/// patterns, relative to the root with `/` separators.
pub fn discover(root: &Path, config: &Config) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for test_path in &config.project.test_paths.value {
        walk(root, &root.join(&test_path.value), &mut found);
    }
    found
}

fn walk(root: &Path, path: &Path, found: &mut BTreeSet<String>) {
    if path.is_file() {
        if let Some(rel) = relative(path, root).to_str() {
            found.insert(rel.replace('\\', "/"));
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !name.starts_with('.')
                && name != "__pycache__"
                && name != "node_modules"
                && !p.join("pyvenv.cfg").exists()
            {
                walk(root, &p, found);
            }
        } else if name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
        {
            walk(root, &p, found);
        }
    }
}
