//! The command line: global options and one subcommand per task.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ctx::Color;
use crate::exit::ExitCode;
use crate::tasks;

/// Test execution for Python projects: serial and parallel pytest runs,
/// merged coverage, timings, and the files generated from testing.toml.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    arg_required_else_help = true,
    after_help = after_help(),
    disable_help_subcommand = true,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

fn after_help() -> String {
    format!(
        "{}\nPYTEST_WORKERS: unset or empty = the task's default; 1 = serial (xdist not loaded); \
         auto = one worker per usable CPU; 2..=512 = exactly that many workers.",
        ExitCode::help_table()
    )
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Act on the Python project in this directory (default: the nearest one
    /// with a testing.toml from the working directory up).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Never show a progress bar (also: XTASK_NO_PROGRESS=1; CI and non-terminals get plain lines).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter testing.toml by inspecting the project.
    Init(tasks::init::Args),
    /// Create the virtual environment and install the locked dependencies.
    Setup(tasks::setup::Args),
    /// Run the tests; serial unless PYTEST_WORKERS or --workers says otherwise.
    Pytest(tasks::pytest::Args),
    /// Run the tests in parallel with pytest-xdist (parallel.workers, default auto).
    PytestParallel(tasks::pytest::Args),
    /// Run the tests with coverage combined across workers, and report it (`--report-only`: report the data already there).
    Coverage(tasks::coverage::Args),
    /// Re-render reports/ci_timings.md from the run history (or print it as JSON).
    Timings(tasks::timings::Args),
    /// Run serially and in parallel, and prove both give identical outcomes and coverage.
    Verify(tasks::verify::Args),
    /// Print the shard plan for K CI jobs, or simulate K local workers, from recorded durations.
    Plan(tasks::plan::Args),
    /// Run only shard I of K (balanced by recorded durations; every job computes the same plan).
    Shard(tasks::shard::Args),
    /// Merge shards' reports: one JUnit, one coverage report and threshold, one timing entry.
    Merge(tasks::merge::Args),
    /// The CI pipeline, runnable locally: setup, gen --check, the parallel run with coverage and timings.
    Ci(tasks::ci::Args),
    /// Re-run the last run's failures alone and serially, classify them, and judge the flakiness rate.
    Triage(tasks::triage::Args),
    /// Switch CI back to serial runs (`parallel.workers = 1`) and regenerate; `--undo` restores.
    Rollback(tasks::rollback::Args),
    /// Find the test that, run earlier in the same process, makes a test fail.
    Bisect(tasks::bisect::Args),
    /// Measure the xtask's overhead against bare pytest, side by side.
    Bench(tasks::bench::Args),
    /// Write pytest.ini, Makefile, justfile, the CI workflow and the docs from testing.toml.
    Gen(tasks::gen::Args),
    /// Audit the test code for isolation problems (shared paths, state, ports, fixtures).
    Audit(tasks::audit::Args),
    /// Check the services in testing.toml serve as many clients at once as there are workers.
    Preflight(tasks::preflight::Args),
    /// Print the tests a change can affect, each with its reason (from the dependency record).
    Select(tasks::select::Args),
}
