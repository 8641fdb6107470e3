//! Finding the test that pollutes another. For a test that failed in the
//! last run but passes alone, the tests that ran before it *in the same
//! process* (its xdist worker, or its shard process, from the event stream)
//! are the suspects. Bisecting them takes at most ⌈log₂ n⌉ + 2 pytest runs
//! for n suspects: one with all of them (the failure must reproduce), one
//! with the test alone (it must pass), then one per halving. Each run is
//! serial, in a fresh process, and runs exactly the given node ids in the
//! given order (the xtask's plugin selects them).
//!
//! The other direction: a test that fails alone but passes after the tests
//! that precede it in serial (collection) order needs one of them to set
//! something up. [`search`] for a [`Culprit::Setter`] names that test in the same bound: one run
//! after all of them (it must pass), one alone (it must fail), then one per
//! halving.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::fsx::{self, relative};
use crate::python::argv::quote;
use crate::python::env::PythonEnv;
use crate::report::{RunState, TestResult};
use crate::run::{self, RunRequest};
use crate::signals;

use super::{plain_id, slug};

/// What bisecting one test found.
#[derive(Debug, Clone)]
pub enum Bisected {
    /// The polluter.
    Found(Found),
    /// The test fails when run alone: not pollution.
    FailsAlone { runs: usize },
    /// The test passed after all its predecessors, run serially in one process.
    NotReproduced { runs: usize },
    /// Nothing ran before it in its process.
    RanFirst,
}

/// The polluter (or setter) of a test, and how it was established.
#[derive(Debug, Clone)]
pub struct Found {
    /// The test must run after it to pass (a setter), rather than not after
    /// it (a polluter).
    pub setter: bool,
    pub polluter: String,
    /// The pair (polluter, test) was run and failed; otherwise it was
    /// deduced from a passing half.
    pub confirmed: bool,
    /// The shell line that reproduces the failure with the two tests.
    pub reproduce: String,
    pub runs: usize,
}

/// The process a test ran in and the tests that ran before it there, in
/// order (node ids as pytest takes them on the command line).
pub fn predecessors(state: &RunState, target: &TestResult) -> Vec<String> {
    state
        .tests
        .iter()
        .take_while(|t| t.nodeid != target.nodeid)
        .filter(|t| t.process == target.process && t.worker == target.worker)
        .map(|t| plain_id(&t.nodeid).to_string())
        .collect()
}

/// The tests before `target` in serial order: the order the run collected
/// them in (what one plain pytest process runs).
pub fn serial_predecessors(state: &RunState, target: &str) -> Vec<String> {
    state
        .collected()
        .unwrap_or_default()
        .into_iter()
        .map(plain_id)
        .take_while(|id| *id != target)
        .map(str::to_string)
        .collect()
}

/// The most pytest runs a bisection of `n` suspects takes: ⌈log₂ n⌉ + 2.
pub fn run_bound(n: usize) -> usize {
    let mut steps = 0;
    while (1usize << steps) < n.max(1) {
        steps += 1;
    }
    steps + 2
}

/// The directory bisect writes its test lists and runs into.
pub fn dir(ctx: &Ctx, config: &Config) -> PathBuf {
    ctx.root.join(&config.reports.dir.value).join("bisect")
}

/// What a bisection looks for among the tests before the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    /// The test that makes it fail when it runs earlier in the same process.
    Polluter,
    /// The test it needs to run earlier to pass (it fails alone).
    Setter,
}

/// Finds the polluter among `suspects` (the tests before `target` in its
/// process).
pub fn bisect(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    target: &str,
    suspects: &[String],
    rootdir: &Path,
) -> anyhow::Result<Bisected> {
    search(
        ctx,
        config,
        env,
        (target, Culprit::Polluter),
        suspects,
        rootdir,
    )
}

/// Finds the `culprit` of `target` among `suspects`: for a setter, the test
/// whose presence makes `target` pass; for a polluter, fail.
pub fn search(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    (target, culprit): (&str, Culprit),
    suspects: &[String],
    rootdir: &Path,
) -> anyhow::Result<Bisected> {
    let setter = culprit == Culprit::Setter;
    if suspects.is_empty() {
        return Ok(Bisected::RanFirst);
    }
    let base = dir(ctx, config).join(slug_dir(target));
    if base.exists() {
        std::fs::remove_dir_all(&base).ok();
    }
    fsx::atomic_write(
        &base.join("suspects.txt"),
        suspects
            .iter()
            .map(|s| format!("{s}\n"))
            .collect::<String>(),
    )?;
    let mut runs = 0;
    let mut fails_after = |tests: &[String]| -> anyhow::Result<bool> {
        runs += 1;
        let run_dir = base.join(format!("run-{runs}"));
        let mut ids: Vec<String> = tests.to_vec();
        ids.push(target.to_string());
        let req = request(
            format!(
                "bisect run {runs}: {} test(s), then the target",
                tests.len()
            ),
            ids,
            rootdir,
            run_dir,
        );
        let result = run::run_suite(ctx, config, env, &req)?;
        if signals::interrupted() {
            anyhow::bail!("interrupted");
        }
        match result
            .state
            .tests
            .iter()
            .find(|t| plain_id(&t.nodeid) == target)
        {
            Some(t) => Ok(t.outcome.is_failure()),
            None => Err(UserError::usage(
                format!("pytest did not run `{target}` in bisect run {runs}"),
                format!(
                    "see `{}`; the test may have been renamed since the run that failed",
                    relative(&req.reports.output, &ctx.root).display()
                ),
            )
            .into()),
        }
    };
    // The outcome the culprit brings about: a failure after a polluter, a
    // pass after a setter.
    let mut culprit_shows =
        |tests: &[String]| -> anyhow::Result<bool> { Ok(fails_after(tests)? != setter) };
    if !culprit_shows(suspects)? {
        return Ok(Bisected::NotReproduced { runs: 1 });
    }
    if culprit_shows(&[])? {
        return Ok(if setter {
            Bisected::NotReproduced { runs: 2 }
        } else {
            Bisected::FailsAlone { runs: 2 }
        });
    }
    let mut candidates: Vec<String> = suspects.to_vec();
    let mut confirmed = true;
    while candidates.len() > 1 {
        let half = candidates.len() / 2;
        if culprit_shows(&candidates[..half])? {
            candidates.truncate(half);
            confirmed = true;
        } else {
            candidates.drain(..half);
            confirmed = false;
        }
    }
    let polluter = candidates.remove(0);
    let reproduce = run::invocation(
        ctx,
        config,
        &env.python,
        &request(
            "reproduce".into(),
            vec![polluter.clone(), target.to_string()],
            rootdir,
            base.join("reproduce"),
        ),
    )
    .display();
    Ok(Bisected::Found(Found {
        setter,
        polluter,
        confirmed,
        reproduce,
        runs,
    }))
}

/// A serial run of exactly `ids`, in order, alone in its own reports directory.
fn request(title: String, ids: Vec<String>, rootdir: &Path, dir: PathBuf) -> RunRequest {
    RunRequest::probe(
        title,
        "bisect: one process, tests in the given order",
        ids,
        rootdir,
        dir,
    )
}

/// A directory name for a node id.
fn slug_dir(id: &str) -> String {
    slug(id)
}

/// The report of a bisection, as printed.
pub fn describe(target: &str, place: &str, suspects: usize, result: &Bisected) -> String {
    let mut out = String::new();
    let bound = run_bound(suspects);
    match result {
        Bisected::Found(found) if found.setter => {
            let _ = writeln!(
                out,
                "bisect: setter: `{}`: `{target}` fails alone and passes when it runs first (it depends on state that test sets up)",
                found.polluter
            );
            let _ = writeln!(out, "bisect: {} pytest runs (bound {bound})", found.runs);
            let _ = writeln!(
                out,
                "reproduce (passes in this order, fails alone):\n  PYTEST_WORKERS=1 cargo xtask pytest -- {} {}\n  PYTEST_WORKERS=1 cargo xtask pytest -- {}",
                quote(&found.polluter),
                quote(target),
                quote(target)
            );
        }
        Bisected::Found(found) => {
            let _ = writeln!(out, "bisect: polluter: `{}`", found.polluter);
            if found.confirmed {
                let _ = writeln!(
                    out,
                    "bisect: confirmed: `{target}` failed when run right after it"
                );
            } else {
                let _ = writeln!(
                    out,
                    "bisect: deduced: the tests before it did not make `{target}` fail, all {suspects} did; run the pair below to confirm"
                );
            }
            let _ = writeln!(out, "bisect: {} pytest runs (bound {bound})", found.runs);
            let _ = writeln!(
                out,
                "reproduce (the two tests, in this order, in one process):\n  PYTEST_WORKERS=1 cargo xtask pytest -- {} {}\n  {}",
                quote(&found.polluter),
                quote(target),
                found.reproduce
            );
        }
        Bisected::FailsAlone { runs } => {
            let _ = writeln!(
                out,
                "bisect: `{target}` fails when run alone too: a real failure, not pollution by an earlier test ({runs} pytest runs)"
            );
        }
        Bisected::NotReproduced { runs } => {
            let _ = writeln!(
                out,
                "bisect: `{target}` passed after its {suspects} predecessors from {place}, run serially in one process: \
                 it may be flaky, or depend on timing or on what other processes did at the same time ({runs} pytest run); \
                 `cargo xtask triage` re-runs it repeatedly"
            );
        }
        Bisected::RanFirst => {
            let _ = writeln!(
                out,
                "bisect: `{target}` ran first {place}: no earlier test in its process can have polluted it; \
                 look at what processes share (files, databases, ports, environment), or run `cargo xtask triage`"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bound_is_ceil_log2_plus_two() {
        let bounds: Vec<usize> = [1, 2, 3, 4, 5, 8, 9, 1000].map(run_bound).to_vec();
        assert_eq!(bounds, vec![2, 3, 4, 4, 5, 5, 6, 12]);
    }

    #[test]
    fn predecessors_are_the_earlier_tests_of_the_same_worker() {
        let mut log = String::new();
        for (id, worker) in [
            ("a.py::one", "gw0"),
            ("a.py::two", "gw1"),
            ("b.py::three@grp", "gw0"),
            ("c.py::victim", "gw0"),
            ("c.py::after", "gw0"),
        ] {
            let _ = writeln!(
                log,
                r#"{{"e": "test", "id": "{id}", "outcome": "passed", "worker": "{worker}"}}"#
            );
        }
        let state = RunState::from_events(crate::events::parse_all(&log));
        let victim = super::super::find(&state, "c.py::victim").unwrap();
        assert_eq!(
            predecessors(&state, victim),
            vec!["a.py::one", "b.py::three"]
        );
        assert!(super::super::find(&state, "b.py::three").is_some());
    }
}
