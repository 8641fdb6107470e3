//! Flakiness as data: how a failed test is classified from its re-runs,
//! the names pytest and file systems take a node id by, and the last run's
//! events that triage and bisect start from. `bisect` finds the test that
//! pollutes another.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::fsx::relative;
use crate::report::{RunState, TestResult};

pub mod bisect;
pub mod rate;

/// What a failed test turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Fails alone, serially, every time.
    Real,
    /// Passes alone every time; failed in a parallel run.
    ParallelOnly,
    /// Passes alone every time; failed in a serial run of the suite.
    OrderDependent,
    /// Passes and fails alone.
    Flaky,
}

impl Class {
    /// The name the history and the issue use.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Real => "real",
            Class::ParallelOnly => "parallel-only",
            Class::OrderDependent => "order-dependent",
            Class::Flaky => "flaky",
        }
    }

    /// The name in the table.
    pub fn describe(self) -> &'static str {
        match self {
            Class::Real => "real failure",
            Class::ParallelOnly => "parallel-only",
            Class::OrderDependent => "order-dependent",
            Class::Flaky => "flaky",
        }
    }

    /// Counts towards the flakiness rate.
    pub fn is_flaky(self) -> bool {
        !matches!(self, Class::Real)
    }

    /// Classifies from the serial re-runs (`true` = failed).
    pub fn of(reruns: &[bool], parallel: bool) -> Class {
        if reruns.iter().all(|failed| *failed) {
            Class::Real
        } else if reruns.iter().any(|failed| *failed) {
            Class::Flaky
        } else if parallel {
            Class::ParallelOnly
        } else {
            Class::OrderDependent
        }
    }
}

/// A node id as pytest takes it on the command line: without the `@group`
/// suffix xdist's `--dist loadgroup` adds to the ids it reports.
pub fn plain_id(id: &str) -> &str {
    let last = id.rfind("::").map_or(0, |i| i + 2);
    let tail = &id[last..];
    let after_params = tail.rfind(']').map_or(0, |i| i + 1);
    match tail[after_params..].find('@') {
        Some(at) => &id[..last + after_params + at],
        None => id,
    }
}

/// A file name for a node id: lowercase letters, digits and dashes.
pub fn slug(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.len() <= 96 {
        return out;
    }
    let hash = crate::hash::of(id, 4);
    format!("{}-{hash}", out[..87].trim_end_matches('-'))
}

/// Reads the last run's event stream.
pub fn last_run(ctx: &Ctx, config: &Config) -> anyhow::Result<(RunState, PathBuf)> {
    let path = ctx.layout(config).run().events;
    match std::fs::metadata(&path) {
        Ok(_) => Ok((RunState::read(&path), path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(UserError::usage(
            format!(
                "no event stream at `{}`: there is no last run to look at",
                relative(&path, &ctx.root).display()
            ),
            "run the suite first, e.g. `cargo xtask pytest-parallel`",
        )
        .into()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read `{}`", path.display()))),
    }
}

/// The rootdir of the last run, which node ids are relative to.
pub fn rootdir(ctx: &Ctx, state: &RunState) -> PathBuf {
    state
        .rootdir()
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.root.clone())
}

/// Finds `id` in the run, by its id in the log or without xdist's `@group`.
pub fn find<'a>(state: &'a RunState, id: &str) -> Option<&'a TestResult> {
    state
        .tests
        .iter()
        .find(|t| t.nodeid == id)
        .or_else(|| state.tests.iter().find(|t| plain_id(&t.nodeid) == id))
}

pub fn not_found(state: &RunState, id: &str, log: &Path, root: &Path) -> UserError {
    let close = state
        .tests
        .iter()
        .map(|t| (strsim::damerau_levenshtein(id, plain_id(&t.nodeid)), t))
        .filter(|(d, _)| *d <= id.len() / 3 + 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, t)| plain_id(&t.nodeid).to_string());
    UserError::usage(
        format!(
            "`{id}` is not in the last run's events (`{}`, {} tests)",
            relative(log, root).display(),
            state.tests.len()
        ),
        match close {
            Some(c) => format!("did you mean `{c}`?"),
            None => "give the node id as pytest reports it, e.g. `tests/test_x.py::test_y`; `cargo xtask triage` lists the failures".into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_drop_the_xdist_group() {
        assert_eq!(plain_id("t.py::test_a@db"), "t.py::test_a");
        assert_eq!(plain_id("t.py::C::test_a[x@y]@db"), "t.py::C::test_a[x@y]");
        assert_eq!(plain_id("t.py::test_a[x@y]"), "t.py::test_a[x@y]");
        assert_eq!(plain_id("t.py::test_a"), "t.py::test_a");
    }

    #[test]
    fn classes_from_reruns() {
        assert_eq!(Class::of(&[true, true], true), Class::Real);
        assert_eq!(Class::of(&[false, false], true), Class::ParallelOnly);
        assert_eq!(Class::of(&[false, false], false), Class::OrderDependent);
        assert_eq!(Class::of(&[false, true], true), Class::Flaky);
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("tests/test_a.py::TestX::test_y[1-a b]"),
            "tests-test-a-py-testx-test-y-1-a-b"
        );
        let long = format!("tests/test_a.py::test_{}", "x".repeat(200));
        assert!(slug(&long).len() <= 96);
        assert_ne!(slug(&long), slug(&format!("{long}y")));
    }
}
