//! `cargo xtask select --prove N`: mutation trials that check the selection
//! misses nothing. Each trial makes one small change to one function of the
//! project's source, asks the selection which tests the change can affect,
//! runs the tests it would skip (every test with `--full`), and counts a
//! miss for every one of them that fails. The source is restored after each
//! trial, also when a run fails or is interrupted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::deps::mutate::{self, Mutation};
use crate::deps::record::Record;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::python::collect::Collection;
use crate::python::env::PythonEnv;
use crate::run::{self, RunRequest};
use crate::signals;
use crate::workers::{self, Task};

pub struct Options<'a> {
    pub trials: usize,
    pub seed: u64,
    /// Run every test in each trial, not only those the selection skips.
    pub full: bool,
    pub pytest_args: &'a [String],
}

/// One trial's outcome.
struct Trial {
    mutation: Mutation,
    file: String,
    selected: usize,
    selected_seconds: f64,
    everything: bool,
    /// Tests the selection skipped that failed.
    missed: Vec<String>,
    /// Tests that failed at all (with `--full`; otherwise among those run).
    failed: usize,
}

pub fn prove(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    collection: &Collection,
    record: Option<&Record>,
    options: &Options,
) -> anyhow::Result<ExitCode> {
    let Some(record) = record else {
        return Err(UserError::usage(
            "`select --prove` needs a dependency record",
            "record one with a full run: `cargo xtask pytest-parallel --record-deps`",
        )
        .into());
    };
    let (now, _) = crate::deps::choose_now(ctx, config, &env.python, collection, None)?;
    if now.everything.is_some() || !now.changed.is_empty() {
        return Err(UserError::usage(
            format!(
                "the project differs from its dependency record ({} changed file(s){})",
                now.changed.len(),
                now.everything
                    .as_deref()
                    .map(|w| format!("; {w}"))
                    .unwrap_or_default()
            ),
            "prove on the tree the record was made on: record again with `--record-deps`, or undo the changes",
        )
        .into());
    }
    let candidates = candidates(&ctx.root, record);
    anyhow::ensure!(
        !candidates.is_empty(),
        "no function of the project's imported modules offers a mutation"
    );
    let total_seconds: f64 = record.tests.values().map(|t| t.dur).sum();
    let workers = workers::for_task(Task::PytestParallel, None, &config.parallel)?;
    println!(
        "prove: {} trials (seed {}), mutating {} functions of {} modules; each trial runs {}",
        options.trials,
        options.seed,
        candidates.len(),
        record.imported.len(),
        if options.full {
            "every test"
        } else {
            "the tests the selection skips"
        }
    );
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let mut tried: BTreeSet<(String, usize, String)> = BTreeSet::new();
    let mut trials: Vec<Trial> = Vec::new();
    let mut attempts = 0;
    while trials.len() < options.trials && attempts < options.trials * 20 {
        attempts += 1;
        if signals::interrupted() {
            break;
        }
        let (file, sites) = &candidates[rng.usize(..candidates.len())];
        let mutation = sites[rng.usize(..sites.len())].clone();
        if !tried.insert((file.clone(), mutation.range.start, mutation.to.clone())) {
            continue;
        }
        let i = trials.len() + 1;
        let trial = trial(
            ctx,
            config,
            env,
            collection,
            &workers,
            options,
            file,
            mutation,
            &format!("prove {i}/{}", options.trials),
        )?;
        println!("{}", line(i, options.trials, &trial, collection.ids.len()));
        trials.push(trial);
    }
    if trials.len() < options.trials && !signals::interrupted() {
        println!(
            "prove: the project's functions offer only {} distinct mutations",
            trials.len()
        );
    }
    print!(
        "{}",
        summary(
            &trials,
            collection.ids.len(),
            total_seconds,
            record,
            options.full
        )
    );
    if signals::interrupted() {
        return Ok(ExitCode::Interrupted);
    }
    Ok(if trials.iter().any(|t| !t.missed.is_empty()) {
        ExitCode::TestsFailed
    } else {
        ExitCode::Ok
    })
}

/// Per imported project module, its functions' mutation sites.
fn candidates(root: &Path, record: &Record) -> Vec<(String, Vec<Mutation>)> {
    let mut out = Vec::new();
    for file in &record.imported {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        let mut by_function: std::collections::BTreeMap<String, Vec<Mutation>> = Default::default();
        for m in mutate::sites(&text) {
            by_function.entry(m.function.clone()).or_default().push(m);
        }
        out.extend(by_function.into_values().map(|sites| (file.clone(), sites)));
    }
    out
}

/// The original of a mutated file, written back (with its modification
/// time, so no stale bytecode of the mutant is taken for it) when dropped.
struct Restore {
    path: PathBuf,
    bytes: Vec<u8>,
    modified: Option<std::time::SystemTime>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if std::fs::write(&self.path, &self.bytes).is_err() {
            eprintln!(
                "error: could not restore `{}`; restore it from version control",
                self.path.display()
            );
            return;
        }
        if let (Some(time), Ok(file)) = (
            self.modified,
            std::fs::File::options().write(true).open(&self.path),
        ) {
            file.set_modified(time).ok();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn trial(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    collection: &Collection,
    workers: &workers::Workers,
    options: &Options,
    file: &str,
    mutation: Mutation,
    title: &str,
) -> anyhow::Result<Trial> {
    let path = ctx.root.join(file);
    let bytes = std::fs::read(&path)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let _restore = Restore {
        modified: std::fs::metadata(&path).and_then(|m| m.modified()).ok(),
        path: path.clone(),
        bytes,
    };
    std::fs::write(&path, mutation.apply(&text))?;
    let (choice, record) = crate::deps::choose_now(ctx, config, &env.python, collection, None)?;
    let selected: BTreeSet<String> = choice.selected.iter().map(|(id, _)| id.clone()).collect();
    let everything = choice.everything.is_some();
    let selected_seconds = record.as_ref().map_or(0.0, |r| r.seconds(&selected));
    let run_ids: Vec<String> = collection
        .ids
        .iter()
        .filter(|id| options.full || !selected.contains(*id))
        .cloned()
        .collect();
    let mut failing = Vec::new();
    if !run_ids.is_empty() {
        let chosen = run::choose::for_tests(
            &ctx.layout(config),
            config,
            run::choose::Asked {
                engine: None,
                dist: config.parallel.dist.value,
                order: config.parallel.order,
                coverage: false,
                workers: false,
            },
            workers.clone(),
            Some(&run_ids),
        );
        // A re-run like triage's and bisect's, on the parallel engine chosen for these tests.
        let mut req = RunRequest::probe(
            title.to_string(),
            "",
            run_ids.clone(),
            &collection.rootdir,
            ctx.layout(config).dir.join("prove"),
        );
        req.workers = chosen.workers;
        req.dist = config.parallel.dist.value;
        req.engine = chosen.engine;
        req.auto_engine = chosen.auto;
        req.extra = options.pytest_args.to_vec();
        let result = run::run_suite(ctx, config, env, &req)?;
        let ended: BTreeSet<&str> = result
            .state
            .tests
            .iter()
            .map(|t| t.nodeid.as_str())
            .collect();
        failing.extend(
            result
                .state
                .tests
                .iter()
                .filter(|t| t.outcome.is_failure())
                .map(|t| t.nodeid.clone()),
        );
        // A test the mutant kept from running (a crash, a collection error) failed too.
        if !signals::interrupted() {
            failing.extend(
                run_ids
                    .iter()
                    .filter(|id| !ended.contains(id.as_str()))
                    .cloned(),
            );
        }
    }
    let missed = failing
        .iter()
        .filter(|id| !selected.contains(*id))
        .cloned()
        .collect();
    Ok(Trial {
        mutation,
        file: file.to_string(),
        selected: selected.len(),
        selected_seconds,
        everything,
        missed,
        failed: failing.len(),
    })
}

fn line(i: usize, n: usize, trial: &Trial, collected: usize) -> String {
    let what = format!(
        "{}::{} {}",
        trial.file,
        trial.mutation.function,
        trial.mutation.describe()
    );
    let selection = if trial.everything {
        "everything selected".to_string()
    } else {
        format!("{} of {collected} selected", trial.selected)
    };
    let verdict = match trial.missed.len() {
        0 => "no miss".to_string(),
        k => format!("MISSED {k}: {}", trial.missed.join(", ")),
    };
    format!("trial {i}/{n}: {what}: {selection}; {verdict}")
}

fn summary(
    trials: &[Trial],
    collected: usize,
    total_seconds: f64,
    record: &Record,
    full: bool,
) -> String {
    let misses: Vec<&Trial> = trials.iter().filter(|t| !t.missed.is_empty()).collect();
    let share = |t: &Trial| {
        if t.everything {
            1.0
        } else {
            t.selected as f64 / collected.max(1) as f64
        }
    };
    let time_share = |t: &Trial| {
        if t.everything || total_seconds <= 0.0 {
            1.0
        } else {
            t.selected_seconds / total_seconds
        }
    };
    let median = |mut v: Vec<f64>| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "prove: {} trials, {} miss(es); {} trial(s) selected everything; median selected share {:.1}% of tests, {:.1}% of recorded test time ({} tests, {:.1}s on record)",
        trials.len(),
        misses.len(),
        trials.iter().filter(|t| t.everything).count(),
        median(trials.iter().map(share).collect()) * 100.0,
        median(trials.iter().map(time_share).collect()) * 100.0,
        record.tests.len(),
        total_seconds
    );
    if full {
        let failing = trials.iter().filter(|t| t.failed > 0).count();
        let _ = writeln!(
            out,
            "prove: {failing} of {} mutation(s) made a test fail, each caught by the selected tests unless listed below",
            trials.len()
        );
    }
    for t in misses {
        let _ = writeln!(
            out,
            "  MISS {}::{} {}: {}",
            t.file,
            t.mutation.function,
            t.mutation.describe(),
            t.missed.join(", ")
        );
    }
    out
}
