//! `cargo xtask shard --index I --total K`: run only shard I of a plan that
//! every CI job computes identically from the same durations file and the
//! same collected tests.

use serde::{Deserialize, Serialize};

use crate::config::{self, Dist};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx;
use crate::junit;
use crate::plan::Granularity;
use crate::python::argv::{self, ReportPaths};
use crate::python::env;
use crate::report::RunState;
use crate::run::{self, RunRequest, SummaryMode};
use crate::signals;
use crate::tasks::plan::make_plan;
use crate::workers::{self, Task};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which shard to run, from 0.
    #[arg(long)]
    pub index: u16,
    /// How many shards the suite is split into.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub total: u16,
    /// Split by test (default) or keep each scope (module or class) whole.
    #[arg(long, value_enum, default_value_t = Granularity::Test)]
    pub granularity: Granularity,
    /// Workers inside this shard's job (default: PYTEST_WORKERS, then `parallel.workers`).
    #[arg(short = 'n', long, value_name = "N|auto")]
    pub workers: Option<String>,
    /// pytest-xdist distribution mode inside the shard.
    #[arg(long, value_enum)]
    pub dist: Option<Dist>,
    /// Measure coverage (default: `coverage.enabled`).
    #[arg(long)]
    pub cov: bool,
    /// pytest arguments that select the tests, the same in every shard (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

/// `reports/shard.json`: what `merge` checks and reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u16,
    pub total: u16,
    pub fingerprint: String,
    pub tests: usize,
    pub predicted: f64,
    pub wall: f64,
    pub exit: i32,
}

pub const SHARD_FILE: &str = "shard.json";

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if args.index >= args.total {
        return Err(UserError::usage(
            format!(
                "`--index {}` is out of range for `--total {}`",
                args.index, args.total
            ),
            format!("shards are numbered 0 to {}", args.total - 1),
        )
        .into());
    }
    let config = config::load(&ctx.root)?;
    signals::install();
    let env_var = std::env::var(workers::ENV_VAR).ok();
    let workers = workers::resolve(
        Task::PytestParallel,
        args.workers.as_deref(),
        env_var.as_deref(),
        &config.parallel,
        &workers::usable_cpus,
    )?;
    let env = env::ensure(ctx, &config)?;
    let planned = make_plan(
        ctx,
        &config,
        &env.python,
        args.total as usize,
        args.granularity,
        &args.pytest_args,
    )?;
    if let Some(w) = &planned.warning {
        eprintln!("warning: {w}");
    }
    let shard = &planned.plan.shards[args.index as usize];
    let reports = ReportPaths::new(&ctx.root, &config);
    let info = |wall: f64, exit: ExitCode| ShardInfo {
        index: args.index,
        total: args.total,
        fingerprint: planned.fingerprint.clone(),
        tests: shard.tests.len(),
        predicted: shard.predicted,
        wall,
        exit: exit.code(),
    };
    eprintln!(
        "shard {} of {}: {} of {} tests, predicted {:.1}s (plan {})",
        args.index,
        args.total,
        shard.tests.len(),
        planned.collected.len(),
        shard.predicted,
        planned.fingerprint
    );
    if shard.tests.is_empty() {
        // Fewer units than shards: this job has nothing to do, and says so.
        println!(
            "shard {} of {} has no tests (the suite has fewer units than shards)",
            args.index, args.total
        );
        fsx::atomic_write(
            &reports.junit,
            junit::render(&RunState::default(), "pytest")?,
        )?;
        fsx::atomic_write(
            &reports.dir.join(SHARD_FILE),
            serde_json::to_string_pretty(&info(0.0, ExitCode::Ok))?,
        )?;
        return Ok(ExitCode::Ok);
    }
    let list = reports.dir.join("shard-tests.txt");
    let mut extra = vec![argv::arg_file(&ctx.root, &list, &shard.tests)?];
    extra.extend(args.pytest_args.iter().cloned());
    let req = RunRequest {
        title: format!("shard {}/{}", args.index, args.total),
        workers,
        dist: args.dist.unwrap_or(config.parallel.dist.value),
        coverage: args.cov || config.coverage.enabled,
        extra,
        order: Vec::new(),
        echo: false,
        summary: SummaryMode::Full,
        reports: reports.clone(),
        notes: vec![format!(
            "plan fingerprint {}; coverage is judged after `cargo xtask merge`",
            planned.fingerprint
        )],
        threshold: false,
        engine: config.parallel.engine,
    };
    let result = run::run_suite(ctx, &config, &env, &req)?;
    fsx::atomic_write(
        &reports.dir.join(SHARD_FILE),
        serde_json::to_string_pretty(&info(result.record.wall, result.code))?,
    )?;
    Ok(result.code)
}
