//! `cargo xtask preflight`: check the shared services in testing.toml the
//! way a parallel run would before it starts (exit 2 naming a service that
//! is down, refuses concurrent clients, or times out). Services with a
//! `start` command are started, checked and stopped again.

use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::preflight;
use crate::workers::{self, Task};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check for this many workers: `auto` or 1..=512 (default: as `pytest-parallel`
    /// resolves it from PYTEST_WORKERS and `parallel.workers`).
    #[arg(short = 'n', long, value_name = "N|auto")]
    pub workers: Option<String>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    if config.services.is_empty() {
        eprintln!("preflight: no services in testing.toml; nothing to check");
        return Ok(ExitCode::Ok);
    }
    let workers = workers::for_task(
        Task::PytestParallel,
        args.workers.as_deref(),
        &config.parallel,
    )?;
    let clients = usize::from(workers.count());
    if config.services.values().any(|s| s.value.start.is_some()) {
        // Started, proven ready for `clients` sessions, and stopped again
        // when the task ends.
        let env = crate::python::env::ensure(ctx, &config)?;
        let layout = ctx.layout(&config);
        crate::services::ensure(
            &config,
            &crate::services::Needs {
                root: &ctx.root,
                python: &env.python,
                log_dir: &layout.dir,
                clients,
            },
        )?;
    }
    preflight::check(&ctx.root, &config, clients)?;
    Ok(ExitCode::Ok)
}
