//! One run of the suite as data flows: pytest argv → child process → events
//! → reports → coverage → summary. Tasks (`pytest`, `pytest-parallel`,
//! `verify`, …) are short compositions of [`run_suite`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::config::{Config, Dist, Engine};
use crate::coverage::{self, CoveragePaths};
use crate::ctx::Ctx;
use crate::durations::{self, Durations};
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::junit;
use crate::plan;
use crate::python::argv::{self, Invocation, ReportPaths, Spec};
use crate::python::child::{self, Finished, PytestExit};
use crate::python::env::PythonEnv;
use crate::report::history::{self, RunRecord};
use crate::report::progress::Progress;
use crate::report::summary::{self, SummaryInput};
use crate::report::timings::{self, TimingsInput};
use crate::report::RunState;
use crate::shards;
use crate::signals;
use crate::workers::Workers;

/// How much a run prints when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    Full,
    /// One line (for tasks that run the suite several times).
    Brief,
}

/// What to run.
pub struct RunRequest {
    pub title: String,
    pub workers: Workers,
    pub dist: Dist,
    pub coverage: bool,
    /// Arguments for pytest after the xtask's own: the user's selection.
    pub extra: Vec<String>,
    /// Arguments that change the order, not the selection (e.g. the longest-first list).
    pub order: Vec<String>,
    pub echo: bool,
    pub summary: SummaryMode,
    pub reports: ReportPaths,
    /// Lines the summary adds (e.g. how the tests were ordered).
    pub notes: Vec<String>,
    /// Judge `coverage.fail-under` on this run's data (not for one shard of many).
    pub threshold: bool,
    /// How a parallel run is executed.
    pub engine: Engine,
}

impl RunRequest {
    /// One serial pytest process on `extra` alone, reporting into `dir`, with
    /// a brief summary: the re-runs of `triage` and `bisect`.
    pub fn probe(title: String, why: &str, extra: Vec<String>, dir: PathBuf) -> RunRequest {
        RunRequest {
            title,
            workers: Workers::Serial { why: why.into() },
            dist: Dist::Load,
            coverage: false,
            extra,
            order: Vec::new(),
            echo: false,
            summary: SummaryMode::Brief,
            reports: ReportPaths::in_dir(dir),
            notes: Vec::new(),
            threshold: false,
            engine: Engine::Xdist,
        }
    }
}

/// What a run produced.
pub struct RunResult {
    pub code: ExitCode,
    /// The history record of the run (phases, counts, coverage).
    pub record: RunRecord,
}

/// The `PYTHONHASHSEED` a run sets (None when the environment sets one) and
/// the note that explains it.
pub fn hash_seed(config: &Config) -> (Option<String>, String) {
    match std::env::var("PYTHONHASHSEED")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(v) => (None, format!("PYTHONHASHSEED={v} from the environment")),
        None => {
            let seed = config.pytest.hash_seed.value.unwrap_or(0).to_string();
            (
                Some(seed.clone()),
                format!("PYTHONHASHSEED={seed} fixed so every worker collects the same tests (set it in the environment to override)"),
            )
        }
    }
}

/// The pytest command a request would run (for `--dry-run` and the summary).
pub fn invocation(ctx: &Ctx, config: &Config, python: &Path, req: &RunRequest) -> Invocation {
    let (seed, _) = hash_seed(config);
    let cov = CoveragePaths::new(&req.reports.dir);
    let extra: Vec<String> = req.order.iter().chain(req.extra.iter()).cloned().collect();
    let spec = Spec {
        config,
        workers: &req.workers,
        dist: req.dist,
        paths: &req.reports,
        hash_seed: seed,
        extra: &extra,
        coverage_rc: req.coverage.then_some(cov.rcfile.as_path()),
    };
    argv::build(python, &ctx.root, &spec)
}

/// Runs the suite once, writes its reports, appends it to the timings
/// history, and prints its summary.
pub fn run_suite(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
) -> anyhow::Result<RunResult> {
    execute(ctx, config, env, req, true)
}

/// Runs like [`run_suite`], but leaves the timings history, `ci_timings.md`
/// and the job summary alone: for re-runs of a few tests (`triage`,
/// `bisect`), which are not runs of the suite.
pub fn run_suite_unrecorded(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
) -> anyhow::Result<RunResult> {
    execute(ctx, config, env, req, false)
}

fn execute(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
    recorded: bool,
) -> anyhow::Result<RunResult> {
    let wall = Instant::now();
    signals::install();
    let paths = &req.reports;
    let cov_paths = CoveragePaths::new(&paths.dir);
    let (_, seed_note) = hash_seed(config);
    let mut notes = vec![seed_note];
    notes.extend(req.notes.iter().cloned());
    if env.installed {
        notes.push(format!("environment installed in {:.1}s", env.seconds));
    }
    if req.coverage {
        coverage::check_parallel_safe(config, req.workers.is_parallel())?;
        let removed = coverage::prepare(config, &ctx.root, &cov_paths)?;
        if removed > 0 {
            notes.push(format!(
                "removed {removed} coverage data file(s) left by an earlier run"
            ));
        }
    }
    // Shared services must serve every worker at once before workers hit them.
    crate::preflight::before_run(ctx, config, &req.workers)?;
    let inv = invocation(ctx, config, &env.python, req);

    // A new run starts from a clean slate: nothing of an earlier run is mixed in.
    if paths.partial.exists() {
        std::fs::remove_dir_all(&paths.partial)
            .with_context(|| format!("cannot clean `{}`", paths.partial.display()))?;
    }
    std::fs::create_dir_all(&paths.partial)
        .with_context(|| format!("cannot create `{}`", paths.partial.display()))?;

    let shards = req.engine == Engine::Shards && req.workers.is_parallel();
    let shard_plan = if shards {
        Some(shards::prepare(ctx, config, env, req)?)
    } else {
        None
    };
    let label = match (&shard_plan, req.workers.is_parallel()) {
        (Some(plan), _) => format!("{} ×{} shards", req.title, plan.processes.len()),
        (None, true) => format!("{} ×{}", req.title, req.workers.count()),
        (None, false) => req.title.clone(),
    };
    let mode_note = match (&shard_plan, req.workers.is_parallel()) {
        (Some(_), _) => ", engine shards".to_string(),
        (None, true) => format!(", --dist={}", req.dist),
        (None, false) => String::new(),
    };
    let cov_note = if req.coverage { ", with coverage" } else { "" };
    eprintln!("{label}: {}{mode_note}{cov_note}", req.workers);
    if let Some(plan) = &shard_plan {
        notes.extend(plan.notes.iter().cloned());
    }
    let mut progress = Progress::new(ctx.progress, &label);
    timings::group_start(ctx.github_actions, &format!("{label}: pytest"));
    let finished = match &shard_plan {
        Some(plan) => {
            let processes: Vec<child::Process> = plan
                .processes
                .iter()
                .map(|p| child::Process {
                    inv: &p.invocation,
                    reportlog: &p.reportlog,
                    output_log: &p.output_log,
                    worker: Some(p.worker.clone()),
                })
                .collect();
            child::run_many(&processes, req.echo, &mut progress)
        }
        None => child::run(
            &inv,
            &paths.in_progress(&paths.reportlog),
            &paths.in_progress(&paths.output),
            req.echo,
            &mut progress,
        ),
    };
    progress.finish();
    timings::group_end(ctx.github_actions);
    let finished = finished?;

    let reports_started = Instant::now();
    let Finished {
        exit,
        exits,
        finished: process_finished,
        mut state,
        interrupted,
        wall: pytest_wall,
        mismatch,
        spawned_at,
    } = finished;
    let session_finished = state.session_exit.is_some();
    let mut incomplete = interrupted || !session_finished;
    if let Some(plan) = &shard_plan {
        for (i, p) in plan.processes.iter().enumerate() {
            if process_finished[i] || interrupted {
                continue;
            }
            let reported: std::collections::HashSet<&str> =
                state.tests.iter().map(|t| t.nodeid.as_str()).collect();
            let not_run: Vec<&String> = p
                .tests
                .iter()
                .filter(|t| !reported.contains(t.as_str()))
                .collect();
            let shown: Vec<&str> = not_run.iter().take(10).map(|s| s.as_str()).collect();
            notes.push(format!(
                "shard {} died ({:?}) after {} of its {} tests; not run: {}{}",
                p.worker,
                exits[i],
                p.tests.len() - not_run.len(),
                p.tests.len(),
                if shown.is_empty() {
                    "none".to_string()
                } else {
                    shown.join(", ")
                },
                if not_run.len() > 10 {
                    format!(" (+{} more)", not_run.len() - 10)
                } else {
                    String::new()
                }
            ));
        }
    }
    if !session_finished && !interrupted {
        let crashed = state.mark_unfinished_crashed(&format!(
            "pytest exited ({exit:?}) while this test was running"
        ));
        if !crashed.is_empty() {
            notes.push(format!("pytest died while running: {}", crashed.join(", ")));
        }
    }
    if state.tests.iter().any(|t| t.crashed) {
        incomplete = true;
    }
    if let Some(plan) = &shard_plan {
        shards::gather_reports(plan, paths)?;
    }
    let rebuilt = finalize_reports(paths, &state)?;
    let durations_file = durations_path(ctx, config);
    let (mut store, _) = Durations::load(&durations_file);
    store.record(
        state
            .tests
            .iter()
            .filter(|t| t.done && !t.crashed)
            .map(|t| (t.nodeid.clone(), t.duration)),
    );
    if session_finished {
        let kind = match (&shard_plan, req.workers.is_parallel()) {
            (Some(_), _) => durations::RunKind::Shards,
            (None, true) => durations::RunKind::Xdist,
            (None, false) => durations::RunKind::Serial,
        };
        if let (Some((startup, per_test)), Ok(spawned)) = (
            state.measured_overhead(kind == durations::RunKind::Shards),
            spawned_at.duration_since(std::time::UNIX_EPOCH),
        ) {
            store.record_overhead(
                kind,
                req.coverage,
                (startup - spawned.as_secs_f64()).max(0.0),
                per_test,
            );
        }
    }
    if req.workers.is_parallel() {
        if let Some(note) = engine_note(&store, &state, req, config) {
            notes.push(note);
        }
    }
    store.save(&durations_file)?;
    if rebuilt {
        notes.push(
            "junit.xml was rebuilt from the report log: pytest did not finish its session".into(),
        );
    }
    for t in state.tests.iter().filter(|t| t.crashes > 1) {
        let not_run = state
            .collected
            .map(|c| c.saturating_sub(state.done()))
            .unwrap_or(0);
        notes.push(format!(
            "`{}` crashed {} worker processes: xdist's {} hands a crashed worker's whole scope to its replacement, \
             so the test ran again each time; {not_run} collected test(s) did not run (fix the crash, or use --dist=load)",
            t.nodeid, t.crashes, req.dist
        ));
    }
    if !mismatch.is_empty() {
        notes.push(mismatch_note(&mismatch));
    }
    let (mut code, mut reason) = match &shard_plan {
        Some(_) => exits
            .iter()
            .map(|e| verdict(*e, interrupted, &state))
            .max_by_key(|(c, _)| match c {
                ExitCode::Ok => 0,
                ExitCode::NoTests => 1,
                ExitCode::TestsFailed => 2,
                ExitCode::Usage => 3,
                _ => 4,
            })
            .unwrap_or((ExitCode::Ok, "passed".into())),
        None => verdict(exit, interrupted, &state),
    };
    if shard_plan.is_some() && code == ExitCode::Usage {
        shards::forget_collection(ctx, config);
        notes.push("a shard's pytest rejected its test list (a listed test may be gone): the cached collection was dropped; run again".into());
    }
    let tests_seconds = pytest_wall.as_secs_f64();
    let collection = state
        .tests
        .iter()
        .filter_map(|t| t.start)
        .reduce(f64::min)
        .and_then(|first| {
            let spawned = spawned_at
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            Some((first - spawned).clamp(0.0, tests_seconds))
        })
        .unwrap_or(0.0);
    let mut reports_seconds = reports_started.elapsed().as_secs_f64();

    let mut coverage_result = None;
    let mut coverage_seconds = 0.0;
    if req.coverage && !(interrupted && signals::count() > 1) {
        timings::group_start(ctx.github_actions, "coverage combine and reports");
        let combined = coverage::combine_and_report(&env.python, &ctx.root, &cov_paths);
        timings::group_end(ctx.github_actions);
        match combined {
            Ok(result) => {
                coverage_seconds = result.seconds;
                if incomplete {
                    notes.push(format!(
                        "coverage combined from an incomplete run ({} data file(s)): it covers only the tests that ran",
                        result.data_files
                    ));
                }
                if let Some(message) =
                    coverage::below_threshold(config, &result).filter(|_| req.threshold)
                {
                    if code == ExitCode::Ok {
                        code = ExitCode::Coverage;
                        reason = message;
                    } else {
                        notes.push(message);
                    }
                }
                coverage_result = Some(result);
            }
            Err(err) if incomplete => notes.push(format!("coverage could not be combined: {err}")),
            Err(err) => return Err(err),
        }
    }

    // Timings: the history line, then the report rendered from the history.
    let timings_started = Instant::now();
    let history_path = timings_history_path(ctx, config);
    let mut record = run_record(ctx, config, req, &state, code);
    record.coverage = coverage_result.as_ref().map(|c| c.total);
    let (efficiency, worker_use) = timings::utilization(&state, req.workers.count());
    record.efficiency = efficiency;
    record.worker_use = worker_use;
    reports_seconds += timings_started.elapsed().as_secs_f64();
    let phases = vec![
        ("setup", env.seconds),
        ("collection", collection),
        ("tests", tests_seconds - collection),
        ("coverage", coverage_seconds),
        ("reports", reports_seconds),
    ];
    record.phases = phases.iter().map(|(n, s)| (n.to_string(), *s)).collect();
    record.wall = wall.elapsed().as_secs_f64() + env.seconds;
    if recorded {
        history::append(&history_path, &record)?;
        let markdown = write_timings_report(ctx, config, &paths.junit)?;
        for (name, seconds) in &phases {
            timings::log_phase(name, *seconds, req.workers.count(), state.done());
        }
        append_step_summary(&markdown);
    }
    let rel = |p: &Path| relative(p, &ctx.root).display().to_string();
    let mut workers_line = req.workers.to_string();
    if let Some(plan) = &shard_plan {
        workers_line = format!(
            "{} shard processes, engine shards ({})",
            plan.processes.len(),
            req.workers
        );
    } else if req.workers.is_parallel() {
        workers_line.push_str(&format!(", --dist={}", req.dist));
    }
    let reproduce = match &shard_plan {
        Some(plan) => plan
            .processes
            .iter()
            .map(|p| p.invocation.display())
            .collect::<Vec<_>>()
            .join("\n           "),
        None => inv.display(),
    };
    let mut report_files = vec![
        rel(&paths.junit),
        rel(&paths.reportlog),
        rel(&paths.output),
        rel(&timings_report_path(ctx, config)),
    ];
    if coverage_result.is_some() {
        report_files.extend([
            rel(&cov_paths.html),
            rel(&cov_paths.xml),
            rel(&cov_paths.json),
        ]);
    }
    let wall_seconds = record.wall;
    match req.summary {
        SummaryMode::Full => {
            if let Some(cov) = &coverage_result {
                print!("\n── coverage ──\n{}", cov.report);
                notes.push(format!(
                    "coverage {:.*}% merged from {} data file(s)",
                    config.coverage.precision as usize, cov.total, cov.data_files
                ));
            }
            print!(
                "{}",
                summary::render(&SummaryInput {
                    title: &req.title,
                    state: &state,
                    workers: workers_line,
                    notes,
                    wall_seconds,
                    phases: phases.clone(),
                    reports: report_files,
                    reproduce,
                    verdict: code,
                    verdict_reason: reason.clone(),
                })
            );
        }
        SummaryMode::Brief => {
            let cov = coverage_result
                .as_ref()
                .map(|c| format!(", coverage {:.2}%", c.total))
                .unwrap_or_default();
            println!(
                "{label}: {}{cov} in {wall_seconds:.1}s (exit {})",
                state.counts().describe(),
                code.code()
            );
        }
    }
    Ok(RunResult { code, record })
}

/// Appends Markdown to the GitHub Actions job summary, when there is one.
pub fn append_step_summary(markdown: &str) {
    if let Some(summary_file) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary_file)
        {
            let _ = writeln!(file, "{markdown}");
        }
    }
}

/// `reports/durations.json`: recorded durations every run updates.
pub fn durations_path(ctx: &Ctx, config: &Config) -> std::path::PathBuf {
    ctx.root
        .join(&config.reports.dir.value)
        .join(durations::FILE_NAME)
}

/// After a parallel run: the way of running this suite that the recorded
/// durations and the measured overheads predict to be more than 10% faster
/// than the one just used, if any ([`plan::recommend`]).
fn engine_note(
    store: &Durations,
    state: &RunState,
    req: &RunRequest,
    config: &Config,
) -> Option<String> {
    let ids: Vec<String> = state.tests.iter().map(|t| t.nodeid.clone()).collect();
    let k = req.workers.count() as usize;
    let used = match req.engine {
        // A longest-first run hands xdist an ordered list; a collection-order run none.
        Engine::Xdist if req.order.is_empty() => plan::Way::XdistCollection,
        Engine::Xdist => plan::Way::XdistLongest,
        Engine::Shards => plan::Way::Shards,
    };
    let run = plan::Scenario {
        collected: &ids,
        k,
        dist: req.dist,
        granularity: config.parallel.granularity,
        coverage: req.coverage,
    };
    let (best, predicted, current) = plan::recommend(store, &run, used)?;
    // The simulation shows the same mode's predictions as this run's.
    let mode = match (req.coverage, config.coverage.enabled) {
        (true, false) => " --cov",
        (false, true) => " --no-cov",
        _ => "",
    };
    Some(match best {
        plan::Way::Serial => format!(
            "parallel does not pay for this suite: predicted {predicted:.1}s serial vs {current:.1}s with {k} workers \
             (start-up and per-process collection outweigh the gain); consider PYTEST_WORKERS=1"
        ),
        other => {
            let name = if other == plan::Way::Shards { "shards" } else { "xdist" };
            format!(
                "the {name} engine is predicted faster for this suite: {predicted:.1}s vs {current:.1}s with {} on {k} workers; \
                 try `--engine {name}`, or set parallel.engine = \"{name}\" in testing.toml \
                 (`cargo xtask plan --workers {k} --simulate{mode}` shows every prediction)",
                req.engine
            )
        }
    })
}

/// `reports/ci_timings.jsonl`: the history every run appends to.
pub fn timings_history_path(ctx: &Ctx, config: &Config) -> std::path::PathBuf {
    ctx.root
        .join(&config.reports.dir.value)
        .join("ci_timings.jsonl")
}

/// `reports/ci_timings.md`.
pub fn timings_report_path(ctx: &Ctx, config: &Config) -> std::path::PathBuf {
    ctx.root
        .join(&config.reports.dir.value)
        .join("ci_timings.md")
}

/// Renders `ci_timings.md` from the history and the JUnit file of the last
/// run, writes it atomically, and returns it.
pub fn write_timings_report(
    ctx: &Ctx,
    config: &Config,
    junit_path: &Path,
) -> anyhow::Result<String> {
    let history = history::read(&timings_history_path(ctx, config))?;
    for warning in &history.warnings {
        eprintln!("warning: {warning}");
    }
    let cases = junit::read(junit_path).unwrap_or_default();
    let markdown = timings::render(&TimingsInput {
        records: &history.records,
        cases: &cases,
        trend: config.timings.trend.value as usize,
        regression: config.timings.regression.value,
        warnings: &history.warnings,
    });
    fsx::atomic_write(&timings_report_path(ctx, config), &markdown)?;
    Ok(markdown)
}

/// The history record of a run, without its phases and coverage.
fn run_record(
    ctx: &Ctx,
    config: &Config,
    req: &RunRequest,
    state: &RunState,
    code: ExitCode,
) -> RunRecord {
    let counts = state.counts();
    let outcomes = [
        ("passed", counts.passed),
        ("failed", counts.failed),
        ("errors", counts.errors),
        ("skipped", counts.skipped),
        ("xfailed", counts.xfailed),
        ("xpassed", counts.xpassed),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (commit, branch) = git_info(&ctx.root);
    RunRecord {
        schema: history::SCHEMA,
        kind: "run".into(),
        timestamp: now_utc(),
        commit,
        branch,
        task: req.title.clone(),
        engine: match (req.workers.is_parallel(), req.engine) {
            (false, _) => "serial".into(),
            (true, engine) => engine.to_string(),
        },
        workers: req.workers.count(),
        dist: (req.workers.is_parallel() && req.engine == Engine::Xdist)
            .then(|| req.dist.to_string()),
        selection: selection(config, &req.extra),
        tests: state.done(),
        outcomes,
        exit: code.code(),
        ..RunRecord::default()
    }
}

/// A fingerprint of which tests a run asked for: the test paths and the
/// pytest arguments.
pub fn selection(config: &Config, extra: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for path in &config.project.test_paths.value {
        hasher.update(path.value.as_bytes());
        hasher.update([0]);
    }
    hasher.update([1]);
    for arg in extra {
        hasher.update(arg.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The current time, UTC, to the second (RFC 3339).
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The commit and branch, from GitHub Actions' variables or git.
pub fn git_info(root: &Path) -> (Option<String>, Option<String>) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = env("GITHUB_SHA")
        .map(|s| s.chars().take(12).collect())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    let branch = env("GITHUB_HEAD_REF")
        .or_else(|| env("GITHUB_REF_NAME"))
        .or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"]));
    (commit, branch)
}

/// Decides the exit code from pytest's status and what was reported.
fn verdict(exit: PytestExit, interrupted: bool, state: &RunState) -> (ExitCode, String) {
    if interrupted {
        return (
            ExitCode::Interrupted,
            "interrupted; partial reports kept".into(),
        );
    }
    let failures = state.failures().count();
    match exit {
        PytestExit::Passed if failures == 0 => (ExitCode::Ok, "passed".into()),
        PytestExit::Passed | PytestExit::Failed
            if failures == 0 && !state.collect_errors.is_empty() =>
        {
            (
                ExitCode::TestsFailed,
                format!("{} collection error(s)", state.collect_errors.len()),
            )
        }
        PytestExit::Passed | PytestExit::Failed => {
            (ExitCode::TestsFailed, format!("{failures} test(s) failed"))
        }
        PytestExit::Interrupted if !state.collect_errors.is_empty() => (
            ExitCode::TestsFailed,
            format!("{} collection error(s)", state.collect_errors.len()),
        ),
        PytestExit::Interrupted => (
            ExitCode::TestsFailed,
            "pytest stopped the session early (see the output log)".into(),
        ),
        PytestExit::Internal => (
            ExitCode::TestsFailed,
            "pytest hit an internal error (see the output log)".into(),
        ),
        PytestExit::Usage => (
            ExitCode::Usage,
            "pytest rejected its command line (see the output log)".into(),
        ),
        PytestExit::NoTests => (ExitCode::NoTests, "no tests collected".into()),
        PytestExit::MaxWarnings => (
            ExitCode::TestsFailed,
            "too many warnings (--max-warnings)".into(),
        ),
        PytestExit::Other(code) => (
            ExitCode::TestsFailed,
            format!("pytest exited with status {code}"),
        ),
        PytestExit::Signal(sig) => (
            ExitCode::TestsFailed,
            format!("pytest was killed by signal {sig}"),
        ),
    }
}

/// Moves the finished reports into place; rebuilds junit.xml from the
/// report log when pytest did not write a valid one. Returns whether it did.
fn finalize_reports(paths: &ReportPaths, state: &RunState) -> anyhow::Result<bool> {
    let partial_log = paths.in_progress(&paths.reportlog);
    let text = std::fs::read_to_string(&partial_log).unwrap_or_default();
    let valid: String = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && serde_json::from_str::<serde_json::Value>(l).is_ok())
        .collect();
    fsx::atomic_write(&paths.reportlog, valid)?;

    let partial_junit = paths.in_progress(&paths.junit);
    let rebuilt = match junit::read(&partial_junit) {
        Ok(_) => {
            fsx::atomic_rename(&partial_junit, &paths.junit)?;
            false
        }
        Err(_) => {
            fsx::atomic_write(&paths.junit, junit::render(state, "pytest")?)?;
            true
        }
    };
    let partial_output = paths.in_progress(&paths.output);
    if partial_output.exists() {
        fsx::atomic_rename(&partial_output, &paths.output)?;
    }
    std::fs::remove_dir_all(&paths.partial).ok();
    Ok(rebuilt)
}

fn mismatch_note(lines: &[String]) -> String {
    let differing: Vec<&str> = lines
        .iter()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .map(|l| l.as_str())
        .take(10)
        .collect();
    format!(
        "xdist workers collected different tests{}; likely cause: parametrization over a set or dict ordering, \
         or test ids built from random or time-dependent values at import time — make the ids deterministic \
         (sorted(...)), or keep PYTHONHASHSEED fixed",
        if differing.is_empty() { String::new() } else { format!(" ({})", differing.join(" ")) }
    )
}
