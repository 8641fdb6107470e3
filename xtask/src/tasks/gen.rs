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
    let orphans = gen::orphans(&ctx.root, &config);
    match mode {
        Mode::Check if !orphans.is_empty() => {
            // Report the rest too, then fail on the orphans.
            gen::write::apply(&planned, &ctx.root, mode, args.force)?;
            for path in &orphans {
                eprintln!(
                    "error: `{path}` was generated for another `ci.name` (now `{}`): it would still run",
                    config.ci.name.value
                );
            }
            eprintln!("hint: run `cargo xtask gen` to remove it, and commit the result");
            Ok(ExitCode::TestsFailed)
        }
        Mode::DryRun => {
            for path in &orphans {
                println!("would remove: {path} (generated for another `ci.name`)");
            }
            gen::write::apply(&planned, &ctx.root, mode, args.force)
        }
        Mode::Write => {
            let code = gen::write::apply(&planned, &ctx.root, mode, args.force)?;
            if code == ExitCode::Ok {
                for path in &orphans {
                    std::fs::remove_file(ctx.root.join(path))?;
                    println!("removed: {path} (generated for another `ci.name`)");
                }
            }
            Ok(code)
        }
        Mode::Check => gen::write::apply(&planned, &ctx.root, mode, args.force),
    }
}
