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
    /// `cargo xtask audit` on generated test files (default 2,000) in a temp dir.
    Audit {
        /// Test files to generate.
        #[arg(long, default_value_t = 2000)]
        files: usize,
        /// Timed runs (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match &args.which {
        Bench::Overhead { runs, workers } => overhead(ctx, *runs, *workers),
        Bench::Audit { files, runs } => audit(*files, *runs),
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

/// A generated test module: fixtures, tests, and a few violations, about the
/// size and shape of a real one (~80 lines).
fn generated_test_module(i: usize) -> String {
    let mut text = format!(
        "\"\"\"Generated module {i} for the audit benchmark.\"\"\"\n\n\
         import os\nimport sqlite3\nfrom pathlib import Path\n\nimport pytest\n\n\
         ROWS = [(\"a\", 1), (\"b\", 2)]\nSEEN = []\n\n\n\
         @pytest.fixture\ndef db(tmp_path):\n    conn = sqlite3.connect(tmp_path / \"db{i}.sqlite\")\n    yield conn\n    conn.close()\n\n\n"
    );
    for t in 0..8 {
        text.push_str(&format!(
            "def test_case_{i}_{t}(db, tmp_path, monkeypatch):\n\
             \x20   \"\"\"Case {t}: insert, read back and compare.\"\"\"\n\
             \x20   monkeypatch.setenv(\"CASE\", \"{t}\")\n\
             \x20   db.execute(\"create table t{t} (k text, v int)\")\n\
             \x20   db.executemany(\"insert into t{t} values (?, ?)\", ROWS)\n\
             \x20   out = tmp_path / \"out{t}.csv\"\n\
             \x20   out.write_text(\",\".join(str(v) for _, v in ROWS))\n\
             \x20   assert db.execute(\"select count(*) from t{t}\").fetchone() == (2,)\n\n\n"
        ));
    }
    if i.is_multiple_of(10) {
        text.push_str("def test_violations():\n    os.environ[\"X\"] = \"1\"\n    SEEN.append(1)\n    Path(\"/tmp/shared.txt\").write_text(\"x\")\n");
    }
    text
}

fn audit(files: usize, runs: usize) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("xtask-bench-audit-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let mut bytes = 0;
    let mut lines = 0;
    for i in 0..files {
        let sub = dir.path().join(format!("pkg{}", i / 100));
        std::fs::create_dir_all(&sub)
            .with_context(|| format!("cannot create `{}`", sub.display()))?;
        let text = generated_test_module(i);
        bytes += text.len();
        lines += text.lines().count();
        std::fs::write(sub.join(format!("test_gen_{i}.py")), text)
            .context("cannot write a generated test file")?;
    }
    println!(
        "audit: {files} generated test files ({lines} lines, {} KiB), {runs} runs",
        bytes / 1024
    );
    let mut times = Vec::new();
    let mut cpu_times = Vec::new();
    for run in 0..runs.max(1) {
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let found = crate::audit::discover(dir.path(), &[".".to_string()])?;
        let report = crate::audit::audit(dir.path(), &found, &Default::default());
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_started;
        println!(
            "  run {}: {secs:.3}s wall, {cpu:.3}s CPU, for {} files, {} findings",
            run + 1,
            found.len(),
            report.findings().count()
        );
        times.push(secs);
        cpu_times.push(cpu);
    }
    let m = median(&times);
    println!(
        "median: {m:.3}s wall ({:.0} files/s), {:.3}s CPU on {} thread(s); target < 2s for 2,000 files",
        files as f64 / m,
        median(&cpu_times),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    Ok(ExitCode::Ok)
}

/// CPU time (user + system) of this process so far, all threads included.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct owned by this frame.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
