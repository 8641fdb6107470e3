//! `cargo xtask pytest` and `cargo xtask pytest-parallel`: one run of the
//! suite, from the config to the summary and the exit code.

use std::time::Instant;

use anyhow::Context;

use crate::config::{self, Config, Dist};
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::junit;
use crate::python::argv::{self, ReportPaths, Spec};
use crate::python::child::{self, Finished, PytestExit, Streams};
use crate::python::env;
use crate::report::progress::Progress;
use crate::report::summary::{self, SummaryInput};
use crate::report::RunState;
use crate::signals;
use crate::workers::{self, Task, Workers};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Worker count for this run: `auto` or 1..=512 (overrides PYTEST_WORKERS and testing.toml).
    #[arg(short = 'n', long, value_name = "N|auto")]
    pub workers: Option<String>,
    /// pytest-xdist distribution mode (overrides `parallel.dist`).
    #[arg(long, value_enum)]
    pub dist: Option<Dist>,
    /// Print the pytest command line and exit without running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Show pytest's own output as it runs.
    #[arg(short, long)]
    pub verbose: bool,
    /// Arguments passed to pytest unchanged (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

/// Everything one run produced, for the caller to summarise or compare.
pub struct RunOutcome {
    pub code: ExitCode,
}

pub fn run(args: &Args, ctx: &Ctx, task: Task) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    Ok(execute(args, ctx, &config, task)?.code)
}

/// Resolves the workers for `task` from the flag, `PYTEST_WORKERS` and the config.
pub fn resolve_workers(args: &Args, config: &Config, task: Task) -> anyhow::Result<Workers> {
    let env = std::env::var(workers::ENV_VAR).ok();
    Ok(workers::resolve(
        task,
        args.workers.as_deref(),
        env.as_deref(),
        &config.parallel,
        &workers::usable_cpus,
    )?)
}

/// The `PYTHONHASHSEED` the run sets (None when the environment sets it) and the note explaining it.
fn hash_seed(config: &Config) -> (Option<String>, String) {
    match std::env::var("PYTHONHASHSEED")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(v) => (None, format!("PYTHONHASHSEED={v} from the environment")),
        None => {
            let seed = config.pytest.hash_seed.value.unwrap_or(0).to_string();
            (
                Some(seed.clone()),
                format!("PYTHONHASHSEED={seed} fixed so every worker collects the same tests (set it in the environment to override)"),
            )
        }
    }
}

pub fn execute(args: &Args, ctx: &Ctx, config: &Config, task: Task) -> anyhow::Result<RunOutcome> {
    let wall = Instant::now();
    signals::install();
    let workers = resolve_workers(args, config, task)?;
    let dist = args.dist.unwrap_or(config.parallel.dist.value);
    let paths = ReportPaths::new(&ctx.root, config);
    let (seed, seed_note) = hash_seed(config);

    let venv_python = ctx.root.join(&config.project.venv.value).join("bin/python");
    if args.dry_run {
        let spec = Spec {
            config,
            workers: &workers,
            dist,
            paths: &paths,
            hash_seed: seed,
            extra: &args.pytest_args,
        };
        let inv = argv::build(&venv_python, &ctx.root, &spec);
        println!("{}", inv.display());
        return Ok(RunOutcome { code: ExitCode::Ok });
    }

    let env = env::ensure(ctx, config)?;
    if signals::interrupted() {
        return Ok(RunOutcome {
            code: ExitCode::Interrupted,
        });
    }
    crate::preflight::before_run(ctx, config, &workers)?;
    let spec = Spec {
        config,
        workers: &workers,
        dist,
        paths: &paths,
        hash_seed: seed,
        extra: &args.pytest_args,
    };
    let inv = argv::build(&env.python, &ctx.root, &spec);

    // A new run starts from a clean slate: nothing of an earlier run is mixed in.
    if paths.partial.exists() {
        std::fs::remove_dir_all(&paths.partial)
            .with_context(|| format!("cannot clean `{}`", paths.partial.display()))?;
    }
    std::fs::create_dir_all(&paths.partial)
        .with_context(|| format!("cannot create `{}`", paths.partial.display()))?;

    let label = if workers.is_parallel() {
        format!("pytest ×{}", workers.count())
    } else {
        "pytest".to_string()
    };
    let dist_note = if workers.is_parallel() {
        format!(", --dist={dist}")
    } else {
        String::new()
    };
    eprintln!("{label}: {workers}{dist_note}");
    let mut progress = Progress::new(ctx.progress, &label);
    let streams = Streams {
        reportlog: &paths.in_progress(&paths.reportlog),
        output_log: &paths.in_progress(&paths.output),
        echo: args.verbose,
    };
    let finished = child::run(&inv, &streams, &mut progress)?;
    progress.finish();

    let reports_started = Instant::now();
    let Finished {
        exit,
        mut state,
        interrupted,
        wall: pytest_wall,
        mismatch,
        spawned_at,
    } = finished;
    let mut notes = vec![seed_note];
    if env.installed {
        notes.push(format!("environment installed in {:.1}s", env.seconds));
    }
    let session_finished = state.session_exit.is_some();
    if !session_finished && !interrupted {
        let crashed = state.mark_unfinished_crashed(&format!(
            "pytest exited ({exit:?}) while this test was running"
        ));
        if !crashed.is_empty() {
            notes.push(format!("pytest died while running: {}", crashed.join(", ")));
        }
    }
    let rebuilt = finalize_reports(&paths, &state)?;
    if rebuilt {
        notes.push(
            "junit.xml was rebuilt from the report log: pytest did not finish its session".into(),
        );
    }
    for t in state.tests.iter().filter(|t| t.crashes > 1) {
        let not_run = state
            .collected
            .map(|c| c.saturating_sub(state.done()))
            .unwrap_or(0);
        notes.push(format!(
            "`{}` crashed {} worker processes: xdist's {dist} hands a crashed worker's whole scope to its replacement, \
             so the test ran again each time; {not_run} collected test(s) did not run (fix the crash, or use --dist=load)",
            t.nodeid, t.crashes
        ));
    }
    if !mismatch.is_empty() {
        notes.push(mismatch_note(&mismatch));
    }
    let (code, reason) = verdict(exit, interrupted, &state);
    let collection = state
        .tests
        .iter()
        .filter_map(|t| t.start)
        .reduce(f64::min)
        .and_then(|first| {
            let spawned = spawned_at
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            Some((first - spawned).clamp(0.0, pytest_wall.as_secs_f64()))
        })
        .unwrap_or(0.0);
    let phases = vec![
        ("setup", env.seconds),
        ("collection", collection),
        ("tests", pytest_wall.as_secs_f64() - collection),
        ("reports", reports_started.elapsed().as_secs_f64()),
    ];
    let rel = |p: &std::path::Path| relative(p, &ctx.root).display().to_string();
    let mut workers_line = workers.to_string();
    if workers.is_parallel() {
        workers_line.push_str(&format!(", --dist={dist}"));
    }
    let text = summary::render(&SummaryInput {
        title: if task == Task::Pytest {
            "pytest"
        } else {
            "pytest-parallel"
        },
        state: &state,
        workers: workers_line,
        notes,
        wall_seconds: wall.elapsed().as_secs_f64(),
        phases,
        reports: vec![rel(&paths.junit), rel(&paths.reportlog), rel(&paths.output)],
        reproduce: inv.display(),
        verdict: code,
        verdict_reason: reason,
    });
    print!("{text}");
    Ok(RunOutcome { code })
}

/// Decides the exit code from pytest's status and what was reported.
fn verdict(exit: PytestExit, interrupted: bool, state: &RunState) -> (ExitCode, String) {
    if interrupted {
        return (
            ExitCode::Interrupted,
            "interrupted; partial reports kept".into(),
        );
    }
    let failures = state.failures().count();
    match exit {
        PytestExit::Passed if failures == 0 => (ExitCode::Ok, "passed".into()),
        PytestExit::Passed | PytestExit::Failed => {
            (ExitCode::TestsFailed, format!("{failures} test(s) failed"))
        }
        PytestExit::Interrupted if !state.collect_errors.is_empty() => (
            ExitCode::TestsFailed,
            format!("{} collection error(s)", state.collect_errors.len()),
        ),
        PytestExit::Interrupted => (
            ExitCode::TestsFailed,
            "pytest stopped the session early (see the output log)".into(),
        ),
        PytestExit::Internal => (
            ExitCode::TestsFailed,
            "pytest hit an internal error (see the output log)".into(),
        ),
        PytestExit::Usage => (
            ExitCode::Usage,
            "pytest rejected its command line (see the output log)".into(),
        ),
        PytestExit::NoTests => (ExitCode::NoTests, "no tests collected".into()),
        PytestExit::MaxWarnings => (
            ExitCode::TestsFailed,
            "too many warnings (--max-warnings)".into(),
        ),
        PytestExit::Other(code) => (
            ExitCode::TestsFailed,
            format!("pytest exited with status {code}"),
        ),
        PytestExit::Signal(sig) => (
            ExitCode::TestsFailed,
            format!("pytest was killed by signal {sig}"),
        ),
    }
}

/// Moves the finished reports into place; rebuilds junit.xml from the
/// report log when pytest did not write a valid one. Returns whether it did.
fn finalize_reports(paths: &ReportPaths, state: &RunState) -> anyhow::Result<bool> {
    let partial_log = paths.in_progress(&paths.reportlog);
    let text = std::fs::read_to_string(&partial_log).unwrap_or_default();
    let valid: String = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && serde_json::from_str::<serde_json::Value>(l).is_ok())
        .collect();
    fsx::atomic_write(&paths.reportlog, valid)?;

    let partial_junit = paths.in_progress(&paths.junit);
    let rebuilt = match junit::read(&partial_junit) {
        Ok(_) => {
            fsx::atomic_rename(&partial_junit, &paths.junit)?;
            false
        }
        Err(_) => {
            fsx::atomic_write(&paths.junit, junit::render(state, "pytest")?)?;
            true
        }
    };
    let partial_output = paths.in_progress(&paths.output);
    if partial_output.exists() {
        fsx::atomic_rename(&partial_output, &paths.output)?;
    }
    std::fs::remove_dir_all(&paths.partial).ok();
    Ok(rebuilt)
}

fn mismatch_note(lines: &[String]) -> String {
    let differing: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .filter(|l| !l.starts_with("---") && !l.starts_with("+++"))
        .map(|l| l.as_str())
        .take(10)
        .collect();
    format!(
        "xdist workers collected different tests{}; likely cause: parametrization over a set or dict ordering, \
         or test ids built from random or time-dependent values at import time — make the ids deterministic \
         (sorted(...)), or keep PYTHONHASHSEED fixed",
        if differing.is_empty() { String::new() } else { format!(" ({})", differing.join(" ")) }
    )
}
