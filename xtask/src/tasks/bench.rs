//! `cargo xtask bench …`: runs the benchmark binary (`xtask-bench`, kept out
//! of this one) through cargo, with the same project and arguments.

use std::process::Command;

use anyhow::Context;

use crate::ctx::Ctx;
use crate::exit::ExitCode;

#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// The benchmark and its options (`cargo xtask bench --help` lists them).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "BENCH"
    )]
    pub args: Vec<String>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--package",
            "xtask",
            "--bin",
            "xtask-bench",
            "--",
        ])
        .arg("-C")
        .arg(&ctx.root)
        .args(&args.args)
        .status()
        .context("cannot run `cargo run --bin xtask-bench`")?;
    Ok(match status.code() {
        Some(0) => ExitCode::Ok,
        Some(130) | None => ExitCode::Interrupted,
        Some(2) => ExitCode::Usage,
        Some(_) => ExitCode::TestsFailed,
    })
}
