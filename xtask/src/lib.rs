//! The project's test-execution control plane, as a library: the binary
//! (`cargo xtask`, the cargo-xtask pattern:
//! https://github.com/matklad/cargo-xtask) parses the flags and calls
//! [`run`]; integration tests and the benchmark binary call the stages and
//! their pure parts directly.

pub mod audit;
pub mod cli;
pub mod config;
pub mod coverage;
pub mod ctx;
pub mod deps;
pub mod durations;
pub mod error;
pub mod events;
pub mod exit;
pub mod flaky;
pub mod fsx;
pub mod gen;
pub mod hash;
pub mod junit;
pub mod layout;
pub mod lock;
pub mod plan;
pub mod preflight;
pub mod probe;
pub mod python;
pub mod report;
pub mod run;
pub mod services;
pub mod signals;
pub mod tasks;
pub mod verdict;
pub mod workers;

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

/// Resolves the [`ctx::Ctx`] once and runs one task.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    let ctx = ctx::Ctx::new(
        global.directory.as_deref(),
        global.no_progress,
        global.color,
    )?;
    // Services a run starts live as long as the task, and no longer.
    let _services = services::Scope::new();
    match cli.command {
        Command::Init(args) => tasks::init::run(&args, &ctx),
        Command::Setup(args) => tasks::setup::run(&args, &ctx),
        Command::Pytest(args) => tasks::pytest::run(&args, &ctx, workers::Task::Pytest),
        Command::PytestParallel(args) => {
            tasks::pytest::run(&args, &ctx, workers::Task::PytestParallel)
        }
        Command::Coverage(args) => tasks::coverage::run(&args, &ctx),
        Command::Timings(args) => tasks::timings::run(&args, &ctx),
        Command::Verify(args) => tasks::verify::run(&args, &ctx),
        Command::Plan(args) => tasks::plan::run(&args, &ctx),
        Command::Shard(args) => tasks::shard::run(&args, &ctx),
        Command::Merge(args) => tasks::merge::run(&args, &ctx),
        Command::Ci(args) => tasks::ci::run(&args, &ctx),
        Command::Triage(args) => tasks::triage::run(&args, &ctx),
        Command::Rollback(args) => tasks::rollback::run(&args, &ctx),
        Command::Bisect(args) => tasks::bisect::run(&args, &ctx),
        Command::Bench(args) => tasks::bench::run(&args, &ctx),
        Command::Gen(args) => tasks::gen::run(&args, &ctx),
        Command::Audit(args) => tasks::audit::run(&args, &ctx),
        Command::Preflight(args) => tasks::preflight::run(&args, &ctx),
        Command::Select(args) => tasks::select::run(&args, &ctx),
    }
}
