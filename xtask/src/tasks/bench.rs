//! `cargo xtask bench`: benchmarks that print ratios measured side by side
//! in one run (never asserted in tests: this machine is shared and noisy).

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::python::env;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub which: Bench,
}

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// `cargo xtask pytest-parallel` vs bare `python -m pytest -n 2 --dist=loadscope` (median wall time).
    Overhead {
        /// Runs of each command (interleaved).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Workers for both commands.
        #[arg(long, default_value_t = 2)]
        workers: u16,
    },
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match &args.which {
        Bench::Overhead { runs, workers } => overhead(ctx, *runs, *workers),
    }
}

/// Times one command to completion, its output discarded.
pub fn time(cmd: &mut Command) -> anyhow::Result<(f64, i32)> {
    let started = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot start benchmark command")?;
    Ok((started.elapsed().as_secs_f64(), status.code().unwrap_or(-1)))
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn overhead(ctx: &Ctx, runs: usize, workers: u16) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let env = env::ensure(ctx, &config)?;
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let dist = config.parallel.dist.value;
    let test_paths: Vec<String> = config
        .project
        .test_paths
        .value
        .iter()
        .map(|s| s.value.clone())
        .collect();
    let xtask = || {
        let mut cmd = Command::new(&exe);
        cmd.arg("-C")
            .arg(&ctx.root)
            .args(["--no-progress", "pytest-parallel", "--workers"])
            .arg(workers.to_string());
        cmd.env_remove("PYTEST_WORKERS");
        cmd
    };
    let bare = || {
        let mut cmd = Command::new(&env.python);
        cmd.args([
            "-m",
            "pytest",
            &format!("--numprocesses={workers}"),
            &format!("--dist={dist}"),
        ])
        .args(&test_paths);
        cmd.current_dir(&ctx.root).env("PYTHONHASHSEED", "0");
        cmd
    };
    println!(
        "overhead: {runs} interleaved runs each, {workers} workers, --dist={dist}, on {}",
        ctx.root.display()
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // Alternate which goes first so drift on a shared machine hits both.
        let order: [bool; 2] = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_ours in order {
            let (secs, code) = if is_ours {
                time(&mut xtask())?
            } else {
                time(&mut bare())?
            };
            let name = if is_ours {
                "cargo xtask pytest-parallel"
            } else {
                "python -m pytest"
            };
            println!("  run {}: {name:<28} {secs:>7.2}s (exit {code})", i + 1);
            if is_ours {
                ours.push(secs)
            } else {
                theirs.push(secs)
            }
        }
    }
    let (m_ours, m_theirs) = (median(&ours), median(&theirs));
    println!("median: xtask {m_ours:.2}s, bare pytest {m_theirs:.2}s");
    println!(
        "ratio xtask/bare: {:.3} (target <= 1.03)",
        m_ours / m_theirs
    );
    Ok(ExitCode::Ok)
}
