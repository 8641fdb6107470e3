//! `cargo xtask pytest` and `cargo xtask pytest-parallel`: one run of the
//! suite, from the config to the summary and the exit code.

use crate::config::{self, Config, Dist, Engine, EngineSetting, Order};
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::python::env;
use crate::run::{self, Recording, RunRequest, SummaryMode};
use crate::signals;
use crate::tasks::order;
use crate::workers::{self, Task, Workers};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Worker count for this run: `auto` or 1..=512 (overrides PYTEST_WORKERS and testing.toml).
    #[arg(short = 'n', long, value_name = "N|auto")]
    pub workers: Option<String>,
    /// pytest-xdist distribution mode (overrides `parallel.dist`).
    #[arg(long, value_enum)]
    pub dist: Option<Dist>,
    /// Measure coverage for this run (default: `coverage.enabled`).
    #[arg(long, overrides_with = "no_cov")]
    pub cov: bool,
    /// Do not measure coverage for this run.
    #[arg(long, overrides_with = "cov")]
    pub no_cov: bool,
    /// How a parallel run is executed (default: `parallel.engine`; `auto` chooses from the recorded runs).
    #[arg(long, value_enum)]
    pub engine: Option<EngineSetting>,
    /// The order test files are handed to xdist (default: `parallel.order`).
    #[arg(long, value_enum)]
    pub order: Option<Order>,
    /// Print the pytest command line and exit without running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Show pytest's own output as it runs.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub change: crate::tasks::select::ChangeArgs,
    /// Arguments passed to pytest unchanged (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

impl Args {
    /// Whether this run measures coverage.
    pub fn coverage(&self, config: &Config) -> bool {
        (config.coverage.enabled || self.cov) && !self.no_cov
    }
}

pub fn run(args: &Args, ctx: &Ctx, task: Task) -> anyhow::Result<ExitCode> {
    let title = if task == Task::Pytest {
        "pytest"
    } else {
        "pytest-parallel"
    };
    run_titled(args, ctx, task, title)
}

/// Like [`run`], with the name the summary and the history give the run.
pub fn run_titled(args: &Args, ctx: &Ctx, task: Task, title: &str) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    signals::install();
    let workers = resolve_workers(args, &config, task)?;
    let dist = args.dist.unwrap_or(config.parallel.dist.value);
    let order = args.order.unwrap_or(config.parallel.order);
    let asked = run::choose::Asked {
        engine: args.engine,
        dist,
        order,
        coverage: args.coverage(&config),
        workers: args.workers.is_some(),
    };
    let chosen = run::choose::for_run(&ctx.layout(&config), &config, asked, workers.clone());
    let mut req = RunRequest {
        title: title.into(),
        workers: chosen.workers,
        dist,
        coverage: args.coverage(&config),
        extra: args.pytest_args.clone(),
        selection: None,
        order: None,
        echo: args.verbose,
        summary: SummaryMode::Full,
        reports: ctx.layout(&config).run(),
        notes: chosen.note.clone().into_iter().collect(),
        threshold: true,
        engine: chosen.engine,
        auto_engine: chosen.auto,
        recording: Recording::Full,
        deps: false,
        shadow: None,
    };
    if req.workers.is_parallel()
        && req.engine == Engine::Xdist
        && order == Order::LongestFirst
        && matches!(req.dist, Dist::Loadscope | Dist::Loadfile)
    {
        match order::longest_first(ctx, &config) {
            Ok(modules) => {
                req.notes.push("modules handed to xdist longest first (recorded durations; `--order collection` turns it off)".to_string());
                req.order = Some(modules);
            }
            Err(why) => req.notes.push(format!("collection order: {why}")),
        }
    }
    if args.dry_run {
        let python = ctx.root.join(&config.project.venv.value).join("bin/python");
        println!("{}", run::invocation(ctx, &config, &python, &req).display());
        return Ok(ExitCode::Ok);
    }
    let env = env::ensure(ctx, &config)?;
    if signals::interrupted() {
        return Ok(ExitCode::Interrupted);
    }
    if let Some(code) = args.change.apply(ctx, &config, &env, &mut req)? {
        return Ok(code);
    }
    if let (Some(selection), true) = (&req.selection, req.auto_engine) {
        // The engine (or serial) is chosen again for the tests selected.
        let again = run::choose::for_tests(
            &ctx.layout(&config),
            &config,
            asked,
            workers,
            Some(&selection.ids),
        );
        req.notes.retain(|n| Some(n) != chosen.note.as_ref());
        req.notes.extend(again.note);
        req.engine = again.engine;
        req.workers = again.workers;
    }
    Ok(run::run_suite(ctx, &config, &env, &req)?.code)
}

/// Resolves the workers for `task` from the flag, `PYTEST_WORKERS` and the config.
pub fn resolve_workers(args: &Args, config: &Config, task: Task) -> anyhow::Result<Workers> {
    Ok(workers::for_task(
        task,
        args.workers.as_deref(),
        &config.parallel,
    )?)
}
