//! `cargo xtask shard --index I --total K`: run only shard I (1 to K, as
//! pytest-split's `--group` and nextest's `--partition` count) of a plan that
//! every CI job computes identically from the same durations file and the
//! same collected tests.
//!
//! A shard's plan depends only on the collected tests and the durations it
//! started from: a shard writes what it measured into its own directory
//! (`reports/shard-<I>/`), never into the durations its siblings plan from,
//! so shards run one after another in one checkout, or one shard re-run,
//! give the same partition. `merge` folds the shards' measurements in.

use crate::config::{self, Dist};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx;
use crate::plan::Granularity;
use crate::python::argv::{ReportPaths, Selection};
use crate::python::env;
use crate::report::merge::{digest, ShardInfo, SHARD_FILE};
use crate::run::{self, Recording, RunRequest, SummaryMode};
use crate::signals;
use crate::tasks::plan::plan_collection;
use crate::workers::{self, Task};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which shard to run, from 1 to `--total`.
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
    #[command(flatten)]
    pub change: crate::tasks::select::ChangeArgs,
    /// pytest arguments that select the tests, the same in every shard (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if args.index == 0 || args.index > args.total {
        return Err(UserError::usage(
            format!(
                "`--index {}` is out of range for `--total {}`",
                args.index, args.total
            ),
            format!(
                "shards count from 1: `--index 1` to `--index {}` (as pytest-split's `--group` and nextest's `--partition`)",
                args.total
            ),
        )
        .into());
    }
    let config = config::load(&ctx.root)?;
    signals::install();
    let workers = workers::for_task(
        Task::PytestParallel,
        args.workers.as_deref(),
        &config.parallel,
    )?;
    let env = env::ensure(ctx, &config)?;
    let (mut collection, _) =
        crate::python::collect::collect_cached(ctx, &config, &env.python, &args.pytest_args)?;
    // Every shard selects the same tests (`--changed`) before the plan splits them.
    let narrowed = args
        .change
        .narrow(ctx, &config, &env.python, &mut collection)?;
    let planned = plan_collection(
        ctx,
        &config,
        collection,
        args.total as usize,
        args.granularity,
    );
    if let Some(w) = &planned.warning {
        eprintln!("warning: {w}");
    }
    let shard = &planned.plan.shards[usize::from(args.index - 1)];
    let layout = ctx.layout(&config);
    let reports_dir = layout.shard(args.index);
    if reports_dir.exists() {
        std::fs::remove_dir_all(&reports_dir).ok();
    }
    fsx::create_reports_dir(&layout.dir)?;
    std::fs::create_dir_all(&reports_dir)?;
    let reports = ReportPaths::in_dir(reports_dir.clone());
    let info = |wall: f64, exit: ExitCode| ShardInfo {
        index: args.index,
        total: args.total,
        fingerprint: planned.fingerprint.clone(),
        collected: planned.collection.ids.len(),
        collected_digest: digest(&planned.collection.ids),
        planned: shard.tests.clone(),
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
        planned.collection.ids.len(),
        shard.predicted,
        planned.fingerprint
    );
    let errors: Vec<String> = planned
        .collection
        .errors
        .iter()
        .map(|e| e.id.clone())
        .collect();
    if shard.tests.is_empty() && (args.index != 1 || errors.is_empty()) {
        // Fewer units than shards: this job has nothing to do, and says so.
        println!(
            "shard {} of {} has no tests (the suite has fewer units than shards)",
            args.index, args.total
        );
        fsx::atomic_write(&reports.events, "")?;
        fsx::atomic_write(
            &reports.dir.join(SHARD_FILE),
            serde_json::to_string_pretty(&info(0.0, ExitCode::Ok))?,
        )?;
        return Ok(ExitCode::Ok);
    }
    let dist = args.dist.unwrap_or(config.parallel.dist.value);
    let coverage = args.cov || config.coverage.enabled;
    let asked = run::choose::Asked {
        engine: None,
        dist,
        order: config.parallel.order,
        coverage,
        workers: args.workers.is_some(),
    };
    let chosen = run::choose::for_run(&layout, &config, asked, workers);
    let mut notes = vec![format!(
        "plan fingerprint {}; coverage is judged after `cargo xtask merge`",
        planned.fingerprint
    )];
    notes.extend(chosen.note);
    notes.extend(narrowed.notes);
    let req = RunRequest {
        title: format!("shard {}/{}", args.index, args.total),
        workers: chosen.workers,
        dist,
        coverage,
        extra: args.pytest_args.clone(),
        selection: Some(Selection {
            ids: shard.tests.clone(),
            rootdir: planned.collection.rootdir.clone(),
            // The first shard reports the files that failed to collect.
            also: if args.index == 1 { errors } else { Vec::new() },
        }),
        order: None,
        echo: false,
        summary: SummaryMode::Full,
        reports: reports.clone(),
        notes,
        threshold: false,
        engine: chosen.engine,
        auto_engine: chosen.auto,
        recording: Recording::Durations(reports_dir.join(crate::durations::FILE_NAME)),
        deps: args.change.record_deps,
        shadow: narrowed.shadow,
    };
    let result = run::run_suite(ctx, &config, &env, &req)?;
    fsx::atomic_write(
        &reports.dir.join(SHARD_FILE),
        serde_json::to_string_pretty(&info(result.record.wall, result.code))?,
    )?;
    Ok(result.code)
}
