//! `cargo xtask gen`: write every file generated from testing.toml;
//! `--check` verifies them (CI), `--dry-run` shows what would change.

use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::gen::{self, write::Mode};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write nothing; exit 1, with a diff, when a generated file is missing or stale.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Write nothing; show what would change.
    #[arg(long)]
    pub dry_run: bool,
    /// Also overwrite files that were not generated, or were edited by hand.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mode = if args.check {
        Mode::Check
    } else if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let config = config::load(&ctx.root)?;
    let inputs = gen::Inputs::read(&ctx.root, &config)?;
    let outputs = gen::all(&config, &inputs);
    let planned = gen::write::plan(&ctx.root, &outputs)?;
    gen::write::apply(&planned, &ctx.root, mode, args.force)
}
