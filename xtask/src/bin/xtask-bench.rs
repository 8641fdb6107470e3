//! The benchmarks behind `cargo xtask bench`: a developer tool of this
//! repository, kept out of the xtask binary. Each prints ratios measured
//! side by side in one run (never asserted in tests: machines are shared
//! and noisy). It runs the `xtask` binary built beside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

use clap::Parser;

use xtask::config;
use xtask::ctx::{Color, Ctx};
use xtask::exit::ExitCode;
use xtask::python::env;

/// Benchmarks of the xtask: ratios measured side by side in one run.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask bench")]
pub struct Args {
    /// The project to benchmark on (default: the nearest with a testing.toml).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    #[command(subcommand)]
    pub which: Bench,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let code = Ctx::new(args.directory.as_deref(), true, Color::Auto)
        .and_then(|ctx| run(&args, &ctx))
        .unwrap_or_else(|err| {
            eprint!("{}", xtask::error::render(&err));
            ExitCode::Usage
        });
    std::process::ExitCode::from(code.code() as u8)
}

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// The xtask's own cost: each engine against the bare pytest command it runs (median wall and CPU).
    Overhead {
        /// Runs of each command (interleaved).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Workers for both commands.
        #[arg(long, default_value_t = 2)]
        workers: u16,
    },
    /// Makespan / lower bound of our shard plans beside pytest-split's, on recorded and generated durations.
    Plan,
    /// `pytest-parallel` with longest-first ordering vs plain loadscope order (median wall time).
    Order {
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Plain serial, bare xdist, bare processes and the xtask with each engine and its default, side by side: median wall and CPU and their ratios.
    Engines {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 2)]
        workers: u16,
    },
    /// What recording dependencies costs (`--record-deps` ÷ without), serial and with the default engine: median wall and CPU.
    Deps {
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The selection itself (hashing the files, the diff, the lookup) on a generated record of TESTS tests.
    Select {
        #[arg(long, default_value_t = 10_000)]
        tests: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// A parallel run with coverage vs without (median ratio), and combine + report as a share of the run.
    Coverage {
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// `cargo xtask bisect` vs detect-test-pollution on the pollution fixture: pytest runs and wall time of each.
    Bisect {
        /// Runs of each tool (interleaved); the wall time shown is the median.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Time to render ci_timings.md from a generated history of RUNS runs and a JUnit file of TESTS tests.
    Timings {
        #[arg(long, default_value_t = 10_000)]
        runs: usize,
        #[arg(long, default_value_t = 100_000)]
        tests: usize,
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

fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match &args.which {
        Bench::Overhead { runs, workers } => overhead(ctx, *runs, *workers),
        Bench::Timings { runs, tests } => timings_render(*runs, *tests),
        Bench::Plan => plan_quality(ctx),
        Bench::Coverage { runs } => coverage_cost(ctx, *runs),
        Bench::Deps { runs } => deps_cost(ctx, *runs),
        Bench::Select { tests, runs } => select_speed(*tests, *runs),
        Bench::Engines { runs, workers } => engines(ctx, *runs, *workers),
        Bench::Order { runs } => order(ctx, *runs),
        Bench::Audit { files, runs } => audit(*files, *runs),
        Bench::Bisect { runs } => bisect_tools(ctx, *runs),
    }
}

/// The xtask binary built beside this one, as every benchmark runs it on a project.
struct Xtask(PathBuf);

impl Xtask {
    fn find() -> anyhow::Result<Xtask> {
        let me = std::env::current_exe().context("cannot find the benchmark binary")?;
        let xtask = me.with_file_name("xtask");
        anyhow::ensure!(
            xtask.exists(),
            "`{}` is not built: run `cargo build -p xtask` (or use `cargo xtask bench`)",
            xtask.display()
        );
        Ok(Xtask(xtask))
    }

    /// `args` on `project`: no progress bar, and no `PYTEST_WORKERS` from
    /// the caller (each variant says its own workers).
    fn on(&self, project: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.0);
        cmd.arg("-C").arg(project).arg("--no-progress").args(args);
        cmd.env_remove("PYTEST_WORKERS");
        cmd
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
    let commands = Commands::new(ctx, workers)?;
    let variants: Vec<(&str, Variant)> = vec![
        ("bare xdist", Box::new(|| commands.bare_xdist())),
        ("xtask xdist", Box::new(|| commands.xtask_engine("xdist"))),
        ("bare processes", Box::new(|| commands.bare_processes())),
        ("xtask shards", Box::new(|| commands.xtask_engine("shards"))),
    ];
    commands.warm_up()?;
    println!(
        "overhead on {}: {runs} rounds, {workers} workers, --dist={} (rotating order)",
        ctx.root.display(),
        commands.dist
    );
    let samples = measure(&variants, runs)?;
    print_table(&variants, &samples, 0);
    for (ours, bare) in [(1, 0), (3, 2)] {
        println!(
            "{} ÷ {}: wall {:.3}, CPU {:.3} (target <= 1.03)",
            variants[ours].0,
            variants[bare].0,
            samples[ours].wall() / samples[bare].wall(),
            samples[ours].cpu() / samples[bare].cpu()
        );
    }
    Ok(ExitCode::Ok)
}

/// Generates a history and a JUnit file, then times reading both and
/// rendering the report (what `cargo xtask timings` does).
fn timings_render(runs: usize, tests: usize) -> anyhow::Result<ExitCode> {
    use std::fmt::Write as _;
    use xtask::report::history::{self, RunRecord, WorkerUse};
    use xtask::report::timings::{self, TimingsInput};

    let dir = tempfile::tempdir()?;
    let history_path = dir.path().join("ci_timings.jsonl");
    let junit_path = dir.path().join("junit.xml");
    let mut lines = String::new();
    for i in 0..runs {
        let record = RunRecord {
            schema: history::SCHEMA,
            kind: history::RecordKind::Run,
            timestamp: format!("2026-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            commit: Some(format!("{i:012x}")),
            branch: Some("main".into()),
            task: "pytest-parallel".into(),
            engine: history::Execution::Xdist,
            workers: if i % 10 == 0 { 1 } else { 2 },
            dist: Some("loadscope".into()),
            selection: "bench".into(),
            tests,
            counts: xtask::report::Counts {
                passed: tests,
                ..Default::default()
            },
            phases: history::Phases(vec![
                ("setup".into(), 0.1),
                ("collection".into(), 2.0),
                ("tests".into(), 30.0 + (i % 7) as f64),
                ("coverage".into(), 1.0),
                ("reports".into(), 0.2),
            ]),
            wall: 34.0 + (i % 7) as f64,
            coverage: Some(90.0 + (i % 5) as f64),
            cov: true,
            machine: None,
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
            triage: None,
            shards: None,
            shadow: None,
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
        let cases = xtask::junit::read(&junit_path)?;
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
        let cpu_started = cpu_seconds(libc::RUSAGE_SELF);
        let found = xtask::audit::discover(dir.path(), &[".".to_string()])?;
        let report = xtask::audit::audit(dir.path(), &found, &Default::default());
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(libc::RUSAGE_SELF) - cpu_started;
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

/// A seeded, skewed duration set: most tests fast, a few very slow.
fn generated_durations(n: usize) -> Vec<(String, f64)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let r = next();
            let secs = if r < 0.90 {
                0.002 + next() * 0.1
            } else if r < 0.99 {
                0.3 + next() * 2.0
            } else {
                5.0 + next() * 25.0
            };
            (format!("tests/test_mod{:03}.py::test_{i}", i % 240), secs)
        })
        .collect()
}

fn plan_quality(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    use xtask::durations::Durations;
    use xtask::plan::{self, Granularity};

    let config = config::load(&ctx.root)?;
    let env = env::ensure(ctx, &config)?;
    let (recorded, warning) = Durations::load(&ctx.layout(&config).durations());
    if let Some(w) = warning {
        return Err(xtask::error::UserError::usage(
            format!("bench plan needs recorded durations: {w}"),
            "run `cargo xtask pytest` once first",
        )
        .into());
    }
    let sets: Vec<(String, Vec<(String, f64)>)> = vec![
        (
            format!("recorded ({} tests)", recorded.tests.len()),
            recorded.tests.clone().into_iter().collect(),
        ),
        (
            "generated skewed (6000 tests)".to_string(),
            generated_durations(6000),
        ),
    ];
    let ks = [2usize, 4, 8, 16];
    println!("plan quality: makespan / lower bound (lower is better; 1.000 is optimal)");
    println!(
        "{:<32} {:>4} {:>10} {:>10} {:>16} {:>22}",
        "durations", "K", "bound s", "ours", "least_duration", "duration_based_chunks"
    );
    let mut worst_ours: f64 = 0.0;
    let mut never_worse = true;
    for (name, tests) in sets {
        let ids: Vec<String> = tests.iter().map(|(id, _)| id.clone()).collect();
        let store = Durations {
            tests: tests.iter().cloned().collect(),
            ..Durations::default()
        };
        let input = serde_json::json!({"ids": ids, "durations": store.tests, "ks": ks});
        let script = tempfile::Builder::new().suffix(".py").tempfile()?;
        std::fs::write(
            script.path(),
            include_str!("../python/scripts/pytest_split_plans.py"),
        )?;
        let mut child = Command::new(&env.python)
            .arg(script.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .context("no stdin")?
                .write_all(input.to_string().as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout)
            .context("pytest-split did not answer (is it installed in the environment?)")?;
        for k in ks {
            let ours = plan::balance(
                &ids,
                &store,
                Granularity::Test,
                config.parallel.dist.value,
                k,
            );
            let bound = ours.lower_bound;
            let ratio_of = |algo: &str| -> f64 {
                theirs[algo][k.to_string()]
                    .as_array()
                    .map(|g| g.iter().filter_map(|v| v.as_f64()).fold(0.0, f64::max) / bound)
                    .unwrap_or(f64::NAN)
            };
            let (ld, dbc) = (
                ratio_of("least_duration"),
                ratio_of("duration_based_chunks"),
            );
            worst_ours = worst_ours.max(ours.ratio());
            never_worse &= ours.ratio() <= ld + 1e-9 && ours.ratio() <= dbc + 1e-9;
            println!(
                "{name:<32} {k:>4} {bound:>10.2} {:>10.3} {ld:>16.3} {dbc:>22.3}",
                ours.ratio()
            );
        }
    }
    println!("worst ratio of ours: {worst_ours:.3} (target <= 1.02); never worse than pytest-split: {never_worse}");
    Ok(ExitCode::Ok)
}

fn order(ctx: &Ctx, runs: usize) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    env::ensure(ctx, &config)?;
    let me = Xtask::find()?;
    let run = |order: &str| {
        me.on(
            &ctx.root,
            &["pytest-parallel", "--workers", "2", "--order", order],
        )
    };
    // One warm-up run records durations for the longest-first order.
    time(&mut run("collection"))?;
    let (mut longest, mut plain) = (Vec::new(), Vec::new());
    println!(
        "order: {runs} interleaved runs each of pytest-parallel -n 2 --dist={}",
        config.parallel.dist.value
    );
    for i in 0..runs {
        for first in if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        } {
            let (secs, code) = time(&mut run(if first { "longest-first" } else { "collection" }))?;
            println!(
                "  run {}: {:<14} {secs:>7.2}s (exit {code})",
                i + 1,
                if first { "longest-first" } else { "collection" }
            );
            if first {
                longest.push(secs)
            } else {
                plain.push(secs)
            }
        }
    }
    let (l, p) = (median(&longest), median(&plain));
    println!(
        "median: longest-first {l:.2}s, collection order {p:.2}s, ratio {:.3}",
        l / p
    );
    Ok(ExitCode::Ok)
}

fn engines(ctx: &Ctx, runs: usize, workers: u16) -> anyhow::Result<ExitCode> {
    let commands = Commands::new(ctx, workers)?;
    let variants: Vec<(&str, Variant)> = vec![
        ("serial (plain)", Box::new(|| commands.bare_serial())),
        ("bare xdist", Box::new(|| commands.bare_xdist())),
        ("bare processes", Box::new(|| commands.bare_processes())),
        (
            "xtask serial",
            Box::new(|| commands.xtask(&["pytest", "--workers", "1"])),
        ),
        ("xtask xdist", Box::new(|| commands.xtask_engine("xdist"))),
        ("xtask shards", Box::new(|| commands.xtask_engine("shards"))),
        (
            "xtask default",
            Box::new(|| commands.xtask(&["pytest-parallel"])),
        ),
    ];
    commands.warm_up()?;
    println!(
        "engines on {}: {runs} rounds, {workers} workers, each round runs every variant (rotating order)",
        ctx.root.display()
    );
    println!("  serial (plain): `python -m pytest -p no:xdist`; bare xdist: `python -m pytest -n {workers} --dist={}`;", commands.dist);
    println!("  bare processes: plain `python -m pytest` on the shards engine's lists, all at once, no reports");
    println!("  xtask default: `cargo xtask pytest-parallel` as configured (parallel.engine = auto chooses)");
    let samples = measure(&variants, runs)?;
    print_table(&variants, &samples, 0);
    let ratio = |a: usize, b: usize| {
        format!(
            "wall {:.3}, CPU {:.3}",
            samples[a].wall() / samples[b].wall(),
            samples[a].cpu() / samples[b].cpu()
        )
    };
    println!("xtask xdist ÷ bare xdist: {}", ratio(4, 1));
    println!("xtask shards ÷ bare processes: {}", ratio(5, 2));
    let serial = samples[0].wall();
    let default = samples[6].wall();
    let target = if serial >= 10.0 { 1.8 } else { 1.3 };
    println!(
        "default speedup over plain serial: ×{:.2} (target ×{target} for a suite of {serial:.1}s serial)",
        serial / default
    );
    Ok(ExitCode::Ok)
}

/// The commands the engine benchmarks compare, on one project.
struct Commands<'a> {
    ctx: &'a Ctx,
    me: Xtask,
    python: PathBuf,
    workers: u16,
    dist: config::Dist,
    seed: Option<String>,
    lists_dir: PathBuf,
    plugin_dir: PathBuf,
}

impl<'a> Commands<'a> {
    fn new(ctx: &'a Ctx, workers: u16) -> anyhow::Result<Commands<'a>> {
        let config = config::load(&ctx.root)?;
        let env = env::ensure(ctx, &config)?;
        let (seed, _) = xtask::python::argv::hash_seed(&config);
        Ok(Commands {
            ctx,
            me: Xtask::find()?,
            python: env.python,
            workers,
            dist: config.parallel.dist.value,
            seed,
            lists_dir: ctx.layout(&config).shard_lists(),
            plugin_dir: xtask::python::plugin::dir()?,
        })
    }

    /// Records durations, the collected test list and the shard lists.
    fn warm_up(&self) -> anyhow::Result<()> {
        time_all(self.xtask(&["pytest", "--workers", "1"]))?;
        time_all(self.xtask_engine("shards"))?;
        Ok(())
    }

    fn xtask(&self, args: &[&str]) -> Vec<Command> {
        let mut cmd = self.me.on(&self.ctx.root, args);
        cmd.arg("--no-cov");
        vec![cmd]
    }

    fn xtask_engine(&self, engine: &str) -> Vec<Command> {
        let n = self.workers.to_string();
        self.xtask(&["pytest-parallel", "--engine", engine, "--workers", &n])
    }

    fn pytest(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.current_dir(&self.ctx.root).args(["-m", "pytest"]);
        if let Some(seed) = &self.seed {
            cmd.env("PYTHONHASHSEED", seed);
        }
        cmd.env_remove("PYTEST_WORKERS");
        cmd
    }

    fn bare_serial(&self) -> Vec<Command> {
        let mut cmd = self.pytest();
        cmd.args(["-p", "no:xdist"]);
        vec![cmd]
    }

    fn bare_xdist(&self) -> Vec<Command> {
        let mut cmd = self.pytest();
        cmd.arg(format!("--numprocesses={}", self.workers))
            .arg(format!("--dist={}", self.dist));
        vec![cmd]
    }

    /// Plain pytest processes on the lists the shards engine wrote, started
    /// at once, with no reports and no xtask around them (the plugin only
    /// selects each list's tests: it writes no events).
    fn bare_processes(&self) -> Vec<Command> {
        (0..self.workers)
            .map(|i| self.lists_dir.join(format!("gw{i}")))
            .filter(|dir| dir.join("select-ids.txt").exists())
            .map(|dir| {
                let mut cmd = self.pytest();
                cmd.args(["-n", "0", "-p", xtask::python::plugin::MODULE])
                    .arg(format!("@{}", dir.join("select-args.txt").display()))
                    .env(
                        "PYTHONPATH",
                        xtask::python::plugin::python_path(&self.plugin_dir),
                    )
                    .env(
                        xtask::python::plugin::SELECT_VAR,
                        dir.join("select-ids.txt"),
                    );
                cmd
            })
            .collect()
    }
}

/// Wall and CPU seconds (user + system, of every process the variant
/// started) of each run of one variant.
#[derive(Debug, Default, Clone)]
struct Samples {
    walls: Vec<f64>,
    cpus: Vec<f64>,
}

impl Samples {
    fn wall(&self) -> f64 {
        median(&self.walls)
    }
    fn cpu(&self) -> f64 {
        median(&self.cpus)
    }
}

/// Runs every variant once per round, in an order that rotates each round
/// so that drift on a shared machine hits every variant alike.
fn measure(variants: &[(&str, Variant)], runs: usize) -> anyhow::Result<Vec<Samples>> {
    let mut samples = vec![Samples::default(); variants.len()];
    for round in 0..runs {
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let cpu_before = cpu_seconds(libc::RUSAGE_CHILDREN);
            let (secs, code) = time_all(variants[i].1())?;
            let cpu = cpu_seconds(libc::RUSAGE_CHILDREN) - cpu_before;
            println!(
                "  round {}: {:<16} {secs:>7.2}s wall {cpu:>7.2}s CPU (exit {code})",
                round + 1,
                variants[i].0
            );
            samples[i].walls.push(secs);
            samples[i].cpus.push(cpu);
        }
    }
    Ok(samples)
}

/// Medians, and each as a ratio to variant `base`.
fn print_table(variants: &[(&str, Variant)], samples: &[Samples], base: usize) {
    let name = variants[base].0;
    println!(
        "{:<16} {:>8} {:>10} {:>8} {:>10}",
        "variant", "wall s", "÷ base", "CPU s", "÷ base"
    );
    for (i, (variant, _)) in variants.iter().enumerate() {
        let s = &samples[i];
        println!(
            "{variant:<16} {:>8.2} {:>10.3} {:>8.2} {:>10.3}",
            s.wall(),
            s.wall() / samples[base].wall(),
            s.cpu(),
            s.cpu() / samples[base].cpu()
        );
    }
    println!("(base: {name})");
}

/// The commands of one benchmark variant, built afresh for each run.
type Variant<'a> = Box<dyn Fn() -> Vec<Command> + 'a>;

/// Starts the commands at once and times them until the last ends; the exit
/// code is the first non-zero one.
fn time_all(mut cmds: Vec<Command>) -> anyhow::Result<(f64, i32)> {
    let started = Instant::now();
    let children = cmds
        .iter_mut()
        .map(|cmd| {
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start benchmark command")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut code = 0;
    for mut child in children {
        let status = child.wait().context("cannot wait for benchmark command")?;
        if code == 0 {
            code = status.code().unwrap_or(-1);
        }
    }
    Ok((started.elapsed().as_secs_f64(), code))
}

fn deps_cost(ctx: &Ctx, runs: usize) -> anyhow::Result<ExitCode> {
    let commands = Commands::new(ctx, 2)?;
    let variants: Vec<(&str, Variant)> = vec![
        (
            "serial",
            Box::new(|| commands.xtask(&["pytest", "--workers", "1"])),
        ),
        (
            "serial, record",
            Box::new(|| commands.xtask(&["pytest", "--workers", "1", "--record-deps"])),
        ),
        ("default", Box::new(|| commands.xtask(&["pytest-parallel"]))),
        (
            "default, record",
            Box::new(|| commands.xtask(&["pytest-parallel", "--record-deps"])),
        ),
    ];
    commands.warm_up()?;
    println!(
        "deps on {}: {runs} rounds, each runs every variant (rotating order); `record` adds --record-deps",
        ctx.root.display()
    );
    let samples = measure(&variants, runs)?;
    print_table(&variants, &samples, 0);
    for (name, with, without) in [("serial", 1, 0), ("default", 3, 2)] {
        println!(
            "recording ÷ not, {name}: wall {:.3}, CPU {:.3} (target ≤ 1.3)",
            samples[with].wall() / samples[without].wall(),
            samples[with].cpu() / samples[without].cpu()
        );
    }
    Ok(ExitCode::Ok)
}

/// The selection on a generated project: `tests` tests over 200 modules of
/// 10 functions each, each test having run 40 functions; one function changed.
fn select_speed(tests: usize, runs: usize) -> anyhow::Result<ExitCode> {
    use xtask::deps::{record, select};
    let dir = tempfile::tempdir()?;
    let (modules, per_module, per_test) = (200usize, 10usize, 40usize);
    let module_text = |m: usize, changed: bool| {
        (0..per_module)
            .map(|f| {
                let value = if changed && f == 0 { 1 } else { 0 };
                format!("def f{f}(x):\n    # module {m}\n    return x + {f} + {value}\n\n\n")
            })
            .collect::<String>()
    };
    for m in 0..modules {
        let path = dir.path().join(format!("pkg/m{m}.py"));
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(path, module_text(m, false))?;
    }
    let files = record::with_facts(
        dir.path(),
        record::snapshot(dir.path(), &[]),
        |_| true,
        None,
    );
    let keys: Vec<String> = (0..modules)
        .flat_map(|m| (0..per_module).map(move |f| format!("pkg/m{m}.py::f{f}")))
        .collect();
    let mut rng = fastrand::Rng::with_seed(7);
    let record = record::Record {
        version: record::VERSION,
        python: "3.11.0".into(),
        imported: (0..modules).map(|m| format!("pkg/m{m}.py")).collect(),
        tests: (0..tests)
            .map(|t| {
                let f = (0..per_test)
                    .map(|_| rng.u32(..keys.len() as u32))
                    .collect();
                (
                    format!("tests/test_{}.py::test_{t}", t % 500),
                    record::TestDeps {
                        f,
                        dur: 0.01,
                        ..Default::default()
                    },
                )
            })
            .collect(),
        keys,
        files,
        ..record::Record::default()
    };
    let saved = dir.path().join("deps.json");
    record.save(&saved)?;
    std::fs::write(dir.path().join("pkg/m7.py"), module_text(7, true))?;
    let collected: Vec<String> = record.tests.keys().cloned().collect();
    println!(
        "select: a record of {tests} tests ({} KiB), {modules} modules, one function changed; {runs} runs",
        std::fs::metadata(&saved)?.len() / 1024
    );
    let mut times = Vec::new();
    let mut selected = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let record = record::Record::load(&saved)?.expect("just written");
        let now = record::snapshot(dir.path(), &[]);
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).ok();
        let choice = select::choose(&select::Inputs {
            record: Some(&record),
            python: "3.11.0",
            files: &now,
            read: &read,
            collected: &collected,
            rootdir: "",
            since: &[],
            services: &Default::default(),
        });
        times.push(started.elapsed().as_secs_f64());
        selected = choice.selected.len();
    }
    println!(
        "select: {selected} of {tests} tests selected; median {:.3}s (load the record, hash the files, diff, look up; target < 1 s)",
        median(&times)
    );
    Ok(ExitCode::Ok)
}

fn coverage_cost(ctx: &Ctx, runs: usize) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    env::ensure(ctx, &config)?;
    let history = ctx.layout(&config).history();
    let me = Xtask::find()?;
    let command = |cov: bool| {
        me.on(
            &ctx.root,
            &[
                "pytest-parallel",
                "--workers",
                "2",
                if cov { "--cov" } else { "--no-cov" },
            ],
        )
    };
    let (mut with, mut without, mut shares) = (Vec::new(), Vec::new(), Vec::new());
    println!(
        "coverage: {runs} interleaved runs each of pytest-parallel -n 2, with and without coverage"
    );
    for i in 0..runs {
        for cov in if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        } {
            let (secs, code) = time(&mut command(cov))?;
            println!(
                "  run {}: {:<17} {secs:>7.2}s (exit {code})",
                i + 1,
                if cov {
                    "with coverage"
                } else {
                    "without coverage"
                }
            );
            if cov {
                with.push(secs);
                let last = xtask::report::history::read(&history)?.records.pop();
                if let Some(r) = last {
                    shares.push(r.phase("coverage").unwrap_or(0.0) / r.wall.max(1e-9));
                }
            } else {
                without.push(secs);
            }
        }
    }
    println!(
        "median: with {:.2}s, without {:.2}s, ratio {:.3}; combine + report {:.1}% of the run with coverage",
        median(&with),
        median(&without),
        median(&with) / median(&without),
        median(&shares) * 100.0
    );
    Ok(ExitCode::Ok)
}

/// CPU time (user + system) so far of this process (`RUSAGE_SELF`, all
/// threads) or of every child process waited for (`RUSAGE_CHILDREN`).
fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes into the zeroed struct owned by this frame.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The fixture `bench bisect` runs on: a test polluted by module state an
/// earlier test on the same xdist worker leaves behind.
const POLLUTION_FIXTURE: &str = "xtask/tests/fixtures/pollution";
const VICTIM: &str = "tests/test_c_plugins.py::test_no_plugins_registered_by_default";

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if name == "__pycache__" || name == ".flaky-attempts" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to.join(&name))?;
        } else {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// One bisecting tool's command on the fixture copy, and how to read its answer.
struct Tool {
    name: String,
    command: Command,
    /// The line prefix its answer follows.
    answer: &'static str,
}

/// Runs our `bisect` and `detect-test-pollution` on the same parallel-only
/// failure, counting pytest sessions through the fixture's conftest.
fn bisect_tools(ctx: &Ctx, runs: usize) -> anyhow::Result<ExitCode> {
    // This repository's own fixture: the benchmark is a developer tool of it.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let config = config::load(&workspace)?;
    let workspace_ctx = Ctx {
        root: workspace.clone(),
        ..ctx.clone()
    };
    let env = env::ensure(&workspace_ctx, &config)?;
    let dtp = env.python.with_file_name("detect-test-pollution");
    if !dtp.exists() {
        return Err(xtask::error::UserError::usage(
            "`detect-test-pollution` is not installed in the environment",
            "it is in the dev lock: run `cargo xtask setup`",
        )
        .into());
    }
    let dir = tempfile::Builder::new()
        .prefix("xtask-bench-bisect-")
        .tempdir()?;
    let project = dir.path().join("project");
    copy_tree(&workspace.join(POLLUTION_FIXTURE), &project)?;
    let venv = env
        .python
        .parent()
        .and_then(std::path::Path::parent)
        .context("the environment's interpreter is not in a venv")?;
    std::fs::write(
        project.join("testing.toml"),
        format!(
            "[project]\nvenv = {}\ntest-paths = [\"tests\"]\n\n[setup]\nenabled = false\n",
            serde_json::to_string(&venv.to_string_lossy())?
        ),
    )?;
    let me = Xtask::find()?;
    let xtask = |args: &[&str]| {
        let mut cmd = me.on(&project, args);
        cmd.env_remove("CI");
        cmd
    };
    // The parallel run that fails: the polluter and the victim share gw0.
    let (secs, code) = time(&mut xtask(&[
        "pytest-parallel",
        "--workers",
        "2",
        "--dist",
        "loadfile",
        "--",
        "--no-loadscope-reorder",
    ]))?;
    println!(
        "bisect: parallel run of the pollution fixture in {secs:.2}s (exit {code}); the victim is `{VICTIM}`"
    );
    // Our bisect's suspects (the victim's worker, before it), for the fair variant.
    let out = xtask(&["bisect", VICTIM]).output()?;
    let suspects_file = project
        .join("reports/bisect")
        .join(xtask::flaky::slug(VICTIM))
        .join("suspects.txt");
    let suspects = std::fs::read_to_string(&suspects_file).with_context(|| {
        format!(
            "bisect wrote no suspects; its output:\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let ids_file = dir.path().join("worker-order.txt");
    std::fs::write(&ids_file, format!("{suspects}{VICTIM}\n"))?;
    let n = suspects.lines().count();
    let mut tools = [
        Tool {
            name: "cargo xtask bisect".into(),
            command: xtask(&["bisect", VICTIM]),
            answer: "bisect: polluter: ",
        },
        Tool {
            name: "detect-test-pollution --tests tests".into(),
            command: {
                let mut cmd = Command::new(&dtp);
                cmd.args(["--failing-test", VICTIM, "--tests", "tests"]);
                cmd
            },
            answer: "-> the polluting test is: ",
        },
        Tool {
            name: format!("detect-test-pollution --testids-file (the same {n} suspects)"),
            command: {
                let mut cmd = Command::new(&dtp);
                cmd.args(["--failing-test", VICTIM, "--testids-file"])
                    .arg(&ids_file);
                cmd
            },
            answer: "-> the polluting test is: ",
        },
    ];
    let sessions = dir.path().join("sessions");
    let mut results: Vec<(Vec<f64>, usize, String, i32)> =
        vec![(Vec::new(), 0, String::new(), 0); tools.len()];
    for round in 0..runs {
        for k in 0..tools.len() {
            let i = (k + round) % tools.len();
            std::fs::write(&sessions, "")?;
            let tool = &mut tools[i];
            tool.command
                .current_dir(&project)
                .env("XTASK_PYTEST_SESSIONS", &sessions)
                .env("PYTHONHASHSEED", "0");
            let started = Instant::now();
            let out = tool
                .command
                .output()
                .with_context(|| format!("cannot run {}", tool.name))?;
            let secs = started.elapsed().as_secs_f64();
            let count = std::fs::read_to_string(&sessions)?.lines().count();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let found = stdout
                .lines()
                .find_map(|l| l.strip_prefix(tool.answer))
                .map(|s| s.trim().trim_matches('`').to_string())
                .unwrap_or_else(|| {
                    stdout.lines().rfind(|l| l.starts_with("->")).map_or_else(
                        || "none".to_string(),
                        |l| format!("none ({})", l.trim_start_matches("-> ")),
                    )
                });
            println!(
                "  round {}: {:<58} {secs:>6.2}s {count:>3} pytest runs (exit {})",
                round + 1,
                tool.name,
                out.status.code().unwrap_or(-1)
            );
            results[i].0.push(secs);
            results[i].1 = count;
            results[i].2 = found;
            results[i].3 = out.status.code().unwrap_or(-1);
        }
    }
    println!(
        "{:<58} {:>11} {:>10}  polluter found",
        "tool", "pytest runs", "median s"
    );
    for (tool, (secs, count, found, _)) in tools.iter().zip(&results) {
        println!(
            "{:<58} {count:>11} {:>10.2}  {found}",
            tool.name,
            median(secs)
        );
    }
    println!(
        "bound of cargo xtask bisect for {n} suspects: ⌈log₂ {n}⌉ + 2 = {} pytest runs",
        xtask::flaky::bisect::run_bound(n)
    );
    Ok(ExitCode::Ok)
}
