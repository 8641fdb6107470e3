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
    /// Time to render ci_timings.md from a generated history of RUNS runs and a JUnit file of TESTS tests.
    Timings {
        #[arg(long, default_value_t = 10_000)]
        runs: usize,
        #[arg(long, default_value_t = 100_000)]
        tests: usize,
    },
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match &args.which {
        Bench::Overhead { runs, workers } => overhead(ctx, *runs, *workers),
        Bench::Timings { runs, tests } => timings_render(*runs, *tests),
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

/// Generates a history and a JUnit file, then times reading both and
/// rendering the report (what `cargo xtask timings` does).
fn timings_render(runs: usize, tests: usize) -> anyhow::Result<ExitCode> {
    use crate::report::history::{self, RunRecord, WorkerUse};
    use crate::report::timings::{self, TimingsInput};
    use std::fmt::Write as _;

    let dir = tempfile::tempdir()?;
    let history_path = dir.path().join("ci_timings.jsonl");
    let junit_path = dir.path().join("junit.xml");
    let mut lines = String::new();
    for i in 0..runs {
        let record = RunRecord {
            schema: history::SCHEMA,
            kind: "run".into(),
            timestamp: format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            commit: Some(format!("{i:012x}")),
            branch: Some("main".into()),
            task: "pytest-parallel".into(),
            engine: "xdist".into(),
            workers: if i % 10 == 0 { 1 } else { 2 },
            dist: Some("loadscope".into()),
            selection: "bench".into(),
            tests,
            outcomes: [("passed".to_string(), tests)].into_iter().collect(),
            phases: vec![
                ("setup".into(), 0.1),
                ("collection".into(), 2.0),
                ("tests".into(), 30.0 + (i % 7) as f64),
                ("coverage".into(), 1.0),
                ("reports".into(), 0.2),
            ],
            wall: 34.0 + (i % 7) as f64,
            coverage: Some(90.0 + (i % 5) as f64),
            efficiency: Some(0.8),
            worker_use: vec![
                WorkerUse {
                    id: "gw0".into(),
                    tests: tests / 2,
                    busy: 14.0,
                    idle_tail: 0.5,
                },
                WorkerUse {
                    id: "gw1".into(),
                    tests: tests / 2,
                    busy: 13.0,
                    idle_tail: 1.0,
                },
            ],
            exit: 0,
            extra: Default::default(),
        };
        lines.push_str(&serde_json::to_string(&record)?);
        lines.push('\n');
    }
    std::fs::write(&history_path, lines)?;
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites><testsuite name=\"pytest\" tests=\"0\">\n");
    for i in 0..tests {
        let _ = writeln!(xml, "<testcase classname=\"tests.test_mod{}\" name=\"test_case_{i}[param-{}]\" time=\"{:.3}\" />", i % 500, i % 13, (i % 997) as f64 / 100.0);
    }
    xml.push_str("</testsuite></testsuites>\n");
    std::fs::write(&junit_path, xml)?;

    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let history = history::read(&history_path)?;
        let cases = crate::junit::read(&junit_path)?;
        let text = timings::render(&TimingsInput {
            records: &history.records,
            cases: &cases,
            trend: 20,
            regression: 0.25,
            warnings: &history.warnings,
        });
        size = text.len();
        samples.push(started.elapsed().as_secs_f64());
    }
    println!(
        "timings: history of {runs} runs, JUnit file of {tests} tests, report of {size} bytes"
    );
    println!(
        "render time: median {:.3}s of 3 (target < 1 s)",
        median(&samples)
    );
    Ok(ExitCode::Ok)
}
