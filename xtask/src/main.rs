//! The project's test-execution control plane, run as `cargo xtask <task>`
//! (the cargo-xtask pattern: https://github.com/matklad/cargo-xtask).
//!
//! `main` parses the flags, resolves the [`ctx::Ctx`] once, dispatches to one
//! task, prints any error, and is the only place that exits.

mod audit;
mod cli;
mod config;
mod ctx;
mod error;
mod exit;
mod fsx;
mod junit;
mod preflight;
mod python;
mod report;
mod signals;
mod tasks;
mod workers;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
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
        Command::Bench(args) => tasks::bench::run(&args, &ctx),
        Command::Audit(args) => tasks::audit::run(&args, &ctx),
        Command::Preflight(args) => tasks::preflight::run(&args, &ctx),
    }
}
