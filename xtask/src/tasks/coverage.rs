//! `cargo xtask coverage`: run the tests with coverage, serially or in
//! parallel as `PYTEST_WORKERS` and `parallel.workers` say (like
//! `pytest-parallel`), combined across processes and reported with the
//! threshold. `--report-only` combines and reports the data files already in
//! the reports directory (after shards, or from CI artifacts) instead.

use crate::config;
use crate::coverage::{self, CoveragePaths};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::python::env;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 the tests passed and coverage meets coverage.fail-under; 1 a test failed; \
    2 a usage or configuration error (with --report-only: no data to report); \
    4 coverage below coverage.fail-under; 5 no tests collected."
)]
pub struct Args {
    /// Do not run the tests: combine and report the data files already in the reports directory.
    #[arg(long, conflicts_with_all = ["workers", "engine", "pytest_args"])]
    pub report_only: bool,
    /// Worker count for this run: `auto` or 1..=512 (overrides PYTEST_WORKERS and testing.toml).
    #[arg(short = 'n', long, value_name = "N|auto")]
    pub workers: Option<String>,
    /// How a parallel run is executed (default: `parallel.engine`).
    #[arg(long, value_enum)]
    pub engine: Option<crate::config::EngineSetting>,
    /// Arguments passed to pytest unchanged (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if args.report_only {
        return report_only(ctx);
    }
    let run = crate::tasks::pytest::Args {
        workers: args.workers.clone(),
        dist: None,
        cov: true,
        no_cov: false,
        engine: args.engine,
        order: None,
        dry_run: false,
        verbose: false,
        change: Default::default(),
        pytest_args: args.pytest_args.clone(),
    };
    crate::tasks::pytest::run_titled(&run, ctx, crate::workers::Task::PytestParallel, "coverage")
}

/// Combines and reports the data already there, with the threshold.
fn report_only(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let paths = CoveragePaths::new(&ctx.root.join(&config.reports.dir.value));
    if paths.data_files().is_empty() {
        return Err(UserError::usage(
            format!(
                "no coverage data in `{}`",
                relative(&paths.dir, &ctx.root).display()
            ),
            "run the tests with coverage first: `cargo xtask coverage` (without `--report-only`)",
        )
        .into());
    }
    let env = env::ensure(ctx, &config)?;
    fsx::atomic_write(
        &paths.rcfile,
        coverage::rcfile_text(&config, &ctx.root, &paths),
    )?;
    let result = coverage::combine_and_report(&env.python, &ctx.root, &paths)?;
    print!("{}", result.report);
    println!(
        "coverage {:.*}% of {} file(s) from {} data file(s); reports: {}, {}, {}",
        config.coverage.precision as usize,
        result.total,
        result.files,
        result.data_files.max(1),
        relative(&paths.html, &ctx.root).display(),
        relative(&paths.xml, &ctx.root).display(),
        relative(&paths.json, &ctx.root).display(),
    );
    if let Some(message) = coverage::below_threshold(&config, &result) {
        eprintln!("error: {message}");
        return Ok(ExitCode::Coverage);
    }
    Ok(ExitCode::Ok)
}
