//! `cargo xtask setup`: create the virtual environment and install the
//! locked development dependencies; no work when nothing changed.

use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::python::env;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Re-install even when nothing changed.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let env = env::ensure_with(ctx, &config, args.force)?;
    if env.installed {
        eprintln!(
            "setup: `{}` installed in {:.1}s",
            config.project.venv.value, env.seconds
        );
    } else {
        eprintln!(
            "setup: `{}` is up to date ({:.2}s)",
            config.project.venv.value, env.seconds
        );
    }
    Ok(ExitCode::Ok)
}
