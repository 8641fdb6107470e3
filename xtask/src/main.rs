//! The project's test-execution control plane, run as `cargo xtask <task>`
//! (the cargo-xtask pattern: https://github.com/matklad/cargo-xtask).
//!
//! `main` parses the flags, resolves the [`ctx::Ctx`] once, dispatches to one
//! task, prints any error, and is the only place that exits.

mod audit;
mod cli;
mod config;
mod coverage;
mod ctx;
mod durations;
mod error;
mod events;
mod exit;
mod fsx;
mod gen;
mod junit;
mod plan;
mod preflight;
mod python;
mod report;
mod run;
mod shards;
mod signals;
mod tasks;
mod verdict;
mod workers;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        // A step that failed because it was interrupted is an interruption, not an error.
        Err(_) if signals::interrupted() => {
            eprintln!("interrupted");
            ExitCode::Interrupted
        }
        Err(err) => {
            eprint!("{}", error::render(&err));
            ExitCode::Usage
        }
    };
    std::process::ExitCode::from(code.code() as u8)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = ctx::Ctx::new(&cli.global)?;
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
    }
}
