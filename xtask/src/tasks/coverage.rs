//! `cargo xtask coverage`: combine and report the coverage data files already
//! in the reports directory (after shards, or from CI artifacts), with the
//! same outputs and threshold as a run.

use crate::config;
use crate::coverage::{self, CoveragePaths};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::python::env;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let paths = CoveragePaths::new(&ctx.root.join(&config.reports.dir.value));
    if paths.data_files().is_empty() {
        return Err(UserError::usage(
            format!("no coverage data in `{}`", relative(&paths.dir, &ctx.root).display()),
            "run the tests with coverage first: `cargo xtask pytest-parallel --cov` (or set `coverage.enabled = true`)",
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
