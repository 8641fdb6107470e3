//! One run of the suite as data flows, in stages: prepare (coverage,
//! services, the processes to start) → launch (pytest's processes, their
//! events into the run state) → verdict (the count invariant and the exit
//! code) → record (reports, durations, history) → render (the summary).
//! Tasks (`pytest`, `pytest-parallel`, `verify`, …) are short compositions
//! of [`run_suite`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::config::{Config, Engine};
use crate::coverage::{self, CoveragePaths, CoverageResult};
use crate::ctx::Ctx;
use crate::durations::{self, Durations};
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::junit;
use crate::plan;
use crate::python::argv::{self, hash_seed, Invocation, ReportPaths, Spec};
use crate::python::child::{self, Feed, Finished};
use crate::python::collect;
use crate::python::env::PythonEnv;
use crate::python::plugin;
use crate::report::history::{self, RunRecord};
use crate::report::progress::Progress;
use crate::report::summary::{self, SummaryInput};
use crate::report::timings::{self};
use crate::report::{Counts, RunState};
use crate::signals;
use crate::verdict::{self, Verdict};

pub mod choose;
mod request;
mod shards;

pub use request::{Recording, RunRequest, RunResult, SummaryMode};

/// The files a single-process run hands to the plugin.
struct RunFiles {
    events: PathBuf,
    selection: Option<argv::SelectionFiles>,
    order: Option<PathBuf>,
}

/// The pytest command of a single-process run (also for `--dry-run`).
fn single_invocation(
    ctx: &Ctx,
    config: &Config,
    python: &Path,
    plugin_dir: &Path,
    req: &RunRequest,
    files: &RunFiles,
) -> Invocation {
    let (seed, _) = hash_seed(config);
    let cov = CoveragePaths::new(&req.reports.dir);
    argv::build(
        python,
        &ctx.root,
        &Spec {
            config,
            workers: &req.workers,
            dist: req.dist,
            hash_seed: seed,
            extra: &req.extra,
            coverage_rc: req.coverage.then_some(cov.rcfile.as_path()),
            plugin_dir,
            events: &files.events,
            selection: req.selection.as_ref().zip(files.selection.as_ref()),
            order: files.order.as_deref(),
            worker: None,
            collect_only: false,
            deps: req.deps.then_some(ctx.root.as_path()),
        },
    )
}

fn run_files(req: &RunRequest) -> RunFiles {
    let partial = &req.reports.partial;
    RunFiles {
        events: req.reports.in_progress(&req.reports.events),
        selection: req.selection.as_ref().map(|_| argv::SelectionFiles {
            ids: partial.join("select-ids.txt"),
            args: partial.join("select-args.txt"),
        }),
        order: req.order.as_ref().map(|_| partial.join("order.txt")),
    }
}

/// The pytest command a request would run (for `--dry-run` and the summary).
pub fn invocation(ctx: &Ctx, config: &Config, python: &Path, req: &RunRequest) -> Invocation {
    let plugin_dir = plugin::dir().unwrap_or_else(|_| fsx::cache_dir().join("pytest-plugin"));
    single_invocation(ctx, config, python, &plugin_dir, req, &run_files(req))
}

/// The processes a run starts, and what each was planned to run.
struct Launch {
    processes: Vec<child::Process>,
    /// The tests a selection or the shards engine assigned, per process.
    planned: Vec<Option<Vec<String>>>,
    /// All of them: what the count invariant holds the run to, instead of
    /// what its processes collected (`None`: what they collected).
    expected: Option<Vec<String>>,
    /// How the run is shown (`pytest-parallel ×2`).
    label: String,
    /// The shards engine ran it.
    shards: bool,
    notes: Vec<String>,
    /// Each test's recorded seconds (for the time left while it runs).
    recorded: std::collections::HashMap<String, f64>,
}

/// Stage 1: what to start. Writes the lists the plugin reads into the
/// run's partial directory.
fn prepare(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
) -> anyhow::Result<Launch> {
    let plugin_dir = plugin::dir()?;
    let recorded = Durations::load(&ctx.layout(config).durations())
        .0
        .tests
        .into_iter()
        .collect();
    if req.engine == Engine::Shards && req.workers.is_parallel() {
        let plan = shards::prepare(ctx, config, env, req, &plugin_dir)?;
        return Ok(Launch {
            recorded,
            label: format!("{} ×{} shards", req.title, plan.processes.len()),
            expected: Some(plan.tests.iter().flatten().cloned().collect()),
            planned: plan.tests.into_iter().map(Some).collect(),
            processes: plan.processes,
            shards: true,
            notes: plan.notes,
        });
    }
    let files = run_files(req);
    if let (Some(selection), Some(paths)) = (&req.selection, &files.selection) {
        let written = selection.write(&req.reports.partial)?;
        debug_assert_eq!(&written, paths);
    }
    if let (Some(order), Some(path)) = (&req.order, &files.order) {
        argv::write_lines(path, order)?;
    }
    let inv = single_invocation(ctx, config, &env.python, &plugin_dir, req, &files);
    Ok(Launch {
        label: if req.workers.is_parallel() {
            format!("{} ×{}", req.title, req.workers.count())
        } else {
            req.title.clone()
        },
        planned: vec![req.selection.as_ref().map(|s| s.ids.clone())],
        expected: req.selection.as_ref().map(|s| s.ids.clone()),
        processes: vec![child::Process {
            inv,
            events: files.events,
            output_log: req.reports.in_progress(&req.reports.output),
        }],
        shards: false,
        notes: Vec::new(),
        recorded,
    })
}

/// The last lines of each process's output, for errors that only pytest's
/// own text explains (a rejected command line).
struct OutputTail {
    lines: Vec<std::collections::VecDeque<String>>,
}

impl OutputTail {
    const KEEP: usize = 15;

    fn push(&mut self, process: usize, line: &str) {
        if self.lines.len() <= process {
            self.lines.resize_with(process + 1, Default::default);
        }
        let tail = &mut self.lines[process];
        if tail.len() == Self::KEEP {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }

    fn text(&self) -> String {
        self.lines
            .iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Stage 2: runs the processes, turning their events into the run state
/// and the progress display.
fn launch(
    ctx: &Ctx,
    launch: &Launch,
    echo: bool,
) -> anyhow::Result<(Finished, RunState, OutputTail)> {
    let mut state = RunState::default();
    let mut progress = Progress::new(ctx.progress, &launch.label, launch.recorded.clone());
    let mut counts = Counts::default();
    let mut tail = OutputTail { lines: Vec::new() };
    let expected = launch.expected.is_some();
    if let Some(ids) = &launch.expected {
        progress.set_tests(ids);
    }
    timings::group_start(ctx.github_actions, &format!("{}: pytest", launch.label));
    let finished = child::run(&launch.processes, &mut |feed| match feed {
        Feed::Output(i, line) => {
            tail.push(i, line);
            if echo {
                progress.println(line);
            }
        }
        Feed::Event(i, event) => {
            if let crate::events::Event::Begin(begin) = &event {
                progress.begin(&begin.id);
            }
            let collected = matches!(event, crate::events::Event::Collected(_));
            if let Some(test) = state.apply(i, &event) {
                counts.add(test.outcome);
                let test = test.clone();
                progress.test_done(&test, state.done(), &counts);
            }
            if collected && !expected {
                if let Some(ids) = state.collected() {
                    let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
                    progress.set_tests(&ids);
                }
            }
        }
        Feed::Tick => progress.tick(),
    });
    progress.finish();
    timings::group_end(ctx.github_actions);
    let finished = finished?;
    Ok((finished, state, tail))
}

/// Runs the suite once, writes its reports, records it as the request says,
/// and prints its summary.
pub fn run_suite(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
) -> anyhow::Result<RunResult> {
    let wall = Instant::now();
    signals::install();
    let _lock = crate::lock::acquire(&ctx.layout(config), &req.title)?;
    let paths = &req.reports;
    let cov_paths = CoveragePaths::new(&paths.dir);
    let (_, seed_note) = hash_seed(config);
    let mut notes = vec![seed_note];
    notes.extend(req.notes.iter().cloned());
    if env.installed {
        notes.push(format!("environment installed in {:.1}s", env.seconds));
    }
    fsx::create_reports_dir(&paths.dir)?;
    if req.coverage {
        coverage::check_parallel_safe(config, req.workers.is_parallel())?;
        let removed = coverage::prepare(config, &ctx.root, &cov_paths)?;
        if removed > 0 {
            notes.push(format!(
                "removed {removed} coverage data file(s) left by an earlier run"
            ));
        }
    }
    // Services the xtask starts are up, and every shared service serves
    // every worker at once, before workers hit them (part of the setup phase).
    let services_started = Instant::now();
    let exports = crate::services::ensure(
        config,
        &crate::services::Needs {
            root: &ctx.root,
            python: &env.python,
            log_dir: &paths.dir,
            clients: usize::from(req.workers.count()),
        },
    )?;
    crate::preflight::before_run(ctx, config, &req.workers)?;
    let services_seconds = services_started.elapsed().as_secs_f64();

    // A new run starts from a clean slate: nothing of an earlier run is mixed in.
    if paths.partial.exists() {
        std::fs::remove_dir_all(&paths.partial)
            .with_context(|| format!("cannot clean `{}`", paths.partial.display()))?;
    }
    std::fs::create_dir_all(&paths.partial)
        .with_context(|| format!("cannot create `{}`", paths.partial.display()))?;

    // The shards engine collects (or reuses the collection) and plans here.
    let planning_started = Instant::now();
    let mut launched = prepare(ctx, config, env, req)?;
    for process in &mut launched.processes {
        process.inv.env.extend(exports.iter().cloned());
    }
    let planning = planning_started.elapsed().as_secs_f64();
    notes.extend(launched.notes.iter().cloned());
    let mode_note = match (launched.shards, req.workers.is_parallel()) {
        (true, _) => ", engine shards".to_string(),
        (false, true) => format!(", --dist={}", req.dist),
        (false, false) => String::new(),
    };
    let cov_note = if req.coverage { ", with coverage" } else { "" };
    eprintln!("{}: {}{mode_note}{cov_note}", launched.label, req.workers);
    let (finished, mut state, tail) = launch(ctx, &launched, req.echo)?;

    let reports_started = Instant::now();
    let interrupted = finished.interrupted;
    state.expected.clone_from(&launched.expected);
    notes.extend(account_for_dead_processes(&mut state, &launched, &finished));
    gather_reports(&launched, paths)?;
    record_services(paths)?;
    fsx::atomic_write(&paths.junit, junit::render(&state, "pytest")?)?;
    std::fs::remove_dir_all(&paths.partial).ok();

    // Stage 3: the verdict.
    let verdict = verdict::judge(&state, &finished.exits, interrupted);
    notes.extend(verdict_notes(ctx, config, req, &launched, &state, &verdict));
    let mut code = verdict.code;
    let mut reason = verdict.reason.clone();

    // Stage 4: record.
    let collection = collection_seconds(&state, &finished) + planning;
    let tests_seconds = finished.wall.as_secs_f64();
    let mut reports_seconds = reports_started.elapsed().as_secs_f64();
    if let Some(note) = record_durations(ctx, config, req, &launched, &state) {
        notes.push(note);
    }
    let mut coverage_result: Option<CoverageResult> = None;
    let mut coverage_seconds = 0.0;
    let incomplete = interrupted || !verdict.not_run.is_empty();
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
            Err(err) if incomplete || code != ExitCode::Ok => {
                notes.push(format!("coverage could not be combined: {err}"))
            }
            Err(err) => return Err(err),
        }
    }
    let deps_started = Instant::now();
    let shadow = req.shadow.as_ref().map(|s| s.judge(&state));
    if let Some(shadow) = &shadow {
        notes.push(shadow.line());
    }
    let deps_into = match &req.recording {
        Recording::Full => Some(None),
        Recording::Durations(file) => {
            Some(Some(file.with_file_name(crate::deps::record::FILE_NAME)))
        }
        Recording::Nothing => None,
    };
    if let (true, Some(into)) = (req.deps, deps_into) {
        match crate::deps::record_run(ctx, config, &paths.events, into.as_deref()) {
            Ok(written) => notes.push(written.line(&ctx.root)),
            Err(err) => notes.push(format!("dependency record not updated: {err:#}")),
        }
    }
    reports_seconds += deps_started.elapsed().as_secs_f64();
    let timings_started = Instant::now();
    let mut record = run_record(ctx, config, req, &state, code);
    record.shadow = shadow;
    record.coverage = coverage_result.as_ref().map(|c| c.total);
    let (efficiency, worker_use) = timings::utilization(&state, req.workers.count());
    record.efficiency = efficiency;
    record.worker_use = worker_use;
    reports_seconds += timings_started.elapsed().as_secs_f64();
    let phases = vec![
        ("setup", env.seconds + services_seconds),
        ("collection", collection),
        ("tests", tests_seconds - (collection - planning)),
        ("coverage", coverage_seconds),
        ("reports", reports_seconds),
    ];
    record.phases = history::Phases(phases.iter().map(|(n, s)| (n.to_string(), *s)).collect());
    record.wall = wall.elapsed().as_secs_f64() + env.seconds;
    if req.recording == Recording::Full {
        // The tests ran: no state file may fail the run now, only warn.
        let layout = ctx.layout(config);
        match history::append(&layout.history(), &record)
            .and_then(|()| timings::write_report(&layout, config, &paths.junit))
        {
            Ok(written) => {
                timings::append_step_summary(&written.markdown);
                for alert in &written.alerts {
                    alert.print(ctx.github_actions);
                }
            }
            Err(err) => eprintln!("warning: the timing history was not updated: {err:#}"),
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
            - record.wall;
        let lines = timings::phase_lines(&phases, started, req.workers.count(), state.done());
        timings::log_phases(&layout, &lines);
    }

    // Stage 5: render.
    render(RenderInput {
        ctx,
        config,
        req,
        launched: &launched,
        state: &state,
        verdict: &verdict,
        code,
        reason,
        notes,
        phases,
        wall: record.wall,
        coverage: coverage_result.as_ref(),
        output_tail: &tail,
    });
    Ok(RunResult {
        code,
        record,
        state,
    })
}

/// A process that ended without finishing its session died: the first of
/// its planned tests without an outcome is the one it died running (marked
/// crashed); the rest stay "not run". Returns what the summary says of it.
fn account_for_dead_processes(
    state: &mut RunState,
    launched: &Launch,
    finished: &Finished,
) -> Vec<String> {
    let mut notes = Vec::new();
    if finished.interrupted {
        return notes;
    }
    for (i, exit) in finished.exits.iter().enumerate() {
        let process = state.processes.get(i);
        if process.is_some_and(|p| p.finish.is_some()) {
            continue;
        }
        let label = if launched.processes.len() > 1 {
            format!("pytest (gw{i})")
        } else {
            "pytest".into()
        };
        // Under xdist the controller's order is not the run order: no guess.
        let xdist = process
            .and_then(|p| p.start.as_ref())
            .is_some_and(|s| s.xdist);
        let own: Vec<String> = match &launched.planned[i] {
            Some(planned) => planned.clone(),
            None if !xdist => process
                .and_then(|p| p.collected())
                .map(|c| c.ids.clone())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let ended: std::collections::HashSet<&str> =
            state.tests.iter().map(|t| t.nodeid.as_str()).collect();
        let missing: Vec<String> = own
            .iter()
            .filter(|id| !ended.contains(id.as_str()))
            .cloned()
            .collect();
        match missing.first() {
            Some(running) if process.is_some_and(|p| p.start.is_some()) => {
                let running = running.clone();
                state.mark_crashed(
                    i,
                    std::slice::from_ref(&running),
                    &format!("{label} died ({exit}) while running this test"),
                );
                notes.push(format!(
                    "{label} died ({exit}) while running `{running}`, after {} of its {} tests",
                    own.len() - missing.len(),
                    own.len()
                ));
            }
            _ => notes.push(format!(
                "{label} ended ({exit}) before it finished its session"
            )),
        }
    }
    notes
}

/// Moves the run's finished reports into place: the event stream (the
/// processes' streams one after another) and pytest's output.
fn gather_reports(launched: &Launch, paths: &ReportPaths) -> anyhow::Result<()> {
    if let [single] = launched.processes.as_slice() {
        for (from, to) in [
            (&single.events, &paths.events),
            (&single.output_log, &paths.output),
        ] {
            if from.exists() {
                fsx::atomic_rename(from, to)?;
            } else {
                fsx::atomic_write(to, "")?;
            }
        }
        return Ok(());
    }
    let mut events = Vec::new();
    let mut output = String::new();
    for (i, p) in launched.processes.iter().enumerate() {
        crate::events::append_stream(&mut events, &p.events);
        let planned = launched.planned[i].as_ref().map_or(0, Vec::len);
        output.push_str(&format!("==== gw{i} ({planned} tests) ====\n"));
        output.push_str(&String::from_utf8_lossy(
            &std::fs::read(&p.output_log).unwrap_or_default(),
        ));
    }
    fsx::atomic_write(&paths.events, events)?;
    fsx::atomic_write(&paths.output, output)
}

/// Appends a `service` event per service the run used to its stream.
fn record_services(paths: &ReportPaths) -> anyhow::Result<()> {
    let used = crate::services::used();
    if used.is_empty() {
        return Ok(());
    }
    let mut stream = Vec::new();
    crate::events::append_stream(&mut stream, &paths.events);
    for service in &used {
        stream.extend(service.line().into_bytes());
    }
    fsx::atomic_write(&paths.events, stream)
}

/// What the summary adds to the verdict: the tests that did not run, why
/// xdist's workers disagreed, dead workers, and what to do next.
fn verdict_notes(
    ctx: &Ctx,
    config: &Config,
    req: &RunRequest,
    launched: &Launch,
    state: &RunState,
    verdict: &Verdict,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mismatches = state.collection_mismatches();
    if !mismatches.is_empty() {
        let shown: Vec<String> = mismatches
            .iter()
            .map(|(worker, only_theirs, only_first)| {
                format!(
                    "{worker} has {} and lacks {}",
                    if only_theirs.is_empty() {
                        "nothing more".to_string()
                    } else {
                        only_theirs.join(", ")
                    },
                    if only_first.is_empty() {
                        "nothing".to_string()
                    } else {
                        only_first.join(", ")
                    }
                )
            })
            .collect();
        notes.push(format!(
            "xdist workers collected different tests ({}); likely cause: parametrization over a set or dict ordering, \
             or test ids built from random or time-dependent values at import time — make the ids deterministic \
             (sorted(...)), or keep PYTHONHASHSEED fixed",
            shown.join("; ")
        ));
    }
    for process in &state.processes {
        for (worker, error) in &process.workers_down {
            notes.push(format!("xdist worker {worker} died: {error}"));
        }
    }
    if !state.collect_errors.is_empty() {
        notes.push(
            "collection errors fail the run; the tests that did collect ran anyway \
             (`--continue-on-collection-errors`, as xdist does), so serial and parallel runs compare like with like"
                .into(),
        );
    }
    for t in state.tests.iter().filter(|t| t.crashes > 1) {
        notes.push(format!(
            "`{}` crashed {} worker processes: xdist's {} hands a crashed worker's whole scope to its replacement, \
             so the test ran again each time (fix the crash, or use --dist=load)",
            t.nodeid, t.crashes, req.dist
        ));
    }
    let selection_run = launched.expected.is_some();
    if verdict.code == ExitCode::Usage && launched.shards {
        collect::forget(ctx, config);
    }
    if selection_run && !verdict.not_run.is_empty() && state.sessions_finished() {
        // pytest finished and did not find some listed tests: they are gone.
        collect::forget(ctx, config);
        notes.push(
            "pytest no longer collects some tests it collected before (renamed or removed since): \
             the cached collection was dropped; run again"
                .into(),
        );
    }
    notes
}

/// From the start of pytest to its first test.
fn collection_seconds(state: &RunState, finished: &Finished) -> f64 {
    let tests_seconds = finished.wall.as_secs_f64();
    state
        .tests
        .iter()
        .filter_map(|t| t.start)
        .reduce(f64::min)
        .and_then(|first| {
            let spawned = finished
                .spawned_at
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            Some((first - spawned).clamp(0.0, tests_seconds))
        })
        .unwrap_or(0.0)
}

/// Folds the measured durations (and for a full run the measured overheads)
/// into the store the request names; returns the engine advice of a
/// parallel run.
fn record_durations(
    ctx: &Ctx,
    config: &Config,
    req: &RunRequest,
    launched: &Launch,
    state: &RunState,
) -> Option<String> {
    let path = match &req.recording {
        Recording::Full => ctx.layout(config).durations(),
        Recording::Durations(path) => path.clone(),
        Recording::Nothing => return None,
    };
    let (mut store, _) = Durations::load(&path);
    store.record(
        state
            .tests
            .iter()
            .filter(|t| !t.crashed)
            .map(|t| (t.nodeid.clone(), t.duration)),
    );
    if state.sessions_finished() {
        let kind = match (launched.shards, req.workers.is_parallel()) {
            (true, _) => durations::RunKind::Shards,
            (false, true) => durations::RunKind::Xdist,
            (false, false) => durations::RunKind::Serial,
        };
        let spawned = state
            .processes
            .iter()
            .filter_map(|p| p.start.as_ref())
            .map(|s| s.time)
            .reduce(f64::min);
        if let (Some((startup, per_test)), Some(spawned)) =
            (state.measured_overhead(launched.shards), spawned)
        {
            store.record_overhead(kind, req.coverage, (startup - spawned).max(0.0), per_test);
        }
    }
    let advice =
        (req.workers.is_parallel() && req.recording == Recording::Full && !req.auto_engine)
            .then(|| engine_note(&store, state, req, config))
            .flatten();
    if let Err(err) = store.save(&path) {
        eprintln!("warning: durations not saved: {err:#}");
    }
    advice
}

struct RenderInput<'a> {
    ctx: &'a Ctx,
    config: &'a Config,
    req: &'a RunRequest,
    launched: &'a Launch,
    state: &'a RunState,
    verdict: &'a Verdict,
    code: ExitCode,
    reason: String,
    notes: Vec<String>,
    phases: Vec<(&'static str, f64)>,
    wall: f64,
    coverage: Option<&'a CoverageResult>,
    output_tail: &'a OutputTail,
}

/// Stage 5: the summary (full or one line).
fn render(input: RenderInput) {
    let RenderInput {
        ctx,
        config,
        req,
        launched,
        state,
        verdict,
        code,
        reason,
        mut notes,
        phases,
        wall,
        coverage,
        output_tail,
    } = input;
    let paths = &req.reports;
    if ctx.github_actions && req.summary == SummaryMode::Full {
        crate::report::annotate_failures(state, &ctx.root);
    }
    let rel = |p: &Path| relative(p, &ctx.root).display().to_string();
    if req.summary == SummaryMode::Brief {
        let cov = coverage
            .map(|c| format!(", coverage {:.2}%", c.total))
            .unwrap_or_default();
        println!(
            "{}: {}; {}{cov} in {wall:.1}s (exit {})",
            launched.label,
            verdict.ran_line(),
            state.counts().describe(),
            code.code()
        );
        return;
    }
    let workers_line = if launched.shards {
        format!(
            "{} shard processes, engine shards ({})",
            launched.processes.len(),
            req.workers
        )
    } else if req.workers.is_parallel() {
        format!("{}, --dist={}", req.workers, req.dist)
    } else {
        req.workers.to_string()
    };
    let reproduce = launched
        .processes
        .iter()
        .map(|p| p.inv.display())
        .collect::<Vec<_>>()
        .join("\n           ");
    let cov_paths = CoveragePaths::new(&paths.dir);
    let mut report_files = vec![rel(&paths.junit), rel(&paths.events), rel(&paths.output)];
    if req.recording == Recording::Full {
        report_files.push(rel(&ctx.layout(config).timings_report()));
    }
    if let Some(cov) = coverage {
        report_files.extend([
            rel(&cov_paths.html),
            rel(&cov_paths.xml),
            rel(&cov_paths.json),
        ]);
        print!("\n── coverage ──\n{}", cov.report);
        notes.push(format!(
            "coverage {:.*}% merged from {} data file(s)",
            config.coverage.precision as usize, cov.total, cov.data_files
        ));
    }
    let pytest_said = (code == ExitCode::Usage
        || (verdict.collected.is_none() && code != ExitCode::NoTests))
        .then(|| output_tail.text())
        .filter(|t| !t.trim().is_empty());
    print!(
        "{}",
        summary::render(&SummaryInput {
            title: &req.title,
            state,
            verdict,
            workers: workers_line,
            notes,
            wall_seconds: wall,
            phases,
            reports: report_files,
            reproduce,
            pytest_said,
            verdict_code: code,
            verdict_reason: reason,
        })
    );
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
        Engine::Xdist if req.order.is_none() => plan::Way::XdistCollection,
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

/// The history record of a run, without its phases and coverage.
fn run_record(
    ctx: &Ctx,
    config: &Config,
    req: &RunRequest,
    state: &RunState,
    code: ExitCode,
) -> RunRecord {
    let (commit, branch) = history::git_info(&ctx.root);
    RunRecord {
        schema: history::SCHEMA,
        kind: history::RecordKind::Run,
        timestamp: history::now_utc(),
        commit,
        branch,
        task: req.title.clone(),
        engine: match (req.workers.is_parallel(), req.engine) {
            (false, _) => history::Execution::Serial,
            (true, Engine::Xdist) => history::Execution::Xdist,
            (true, Engine::Shards) => history::Execution::Shards,
        },
        workers: req.workers.count(),
        dist: (req.workers.is_parallel() && req.engine == Engine::Xdist)
            .then(|| req.dist.to_string()),
        selection: match &req.selection {
            // A selected run (`--changed`) compares only with the same selection.
            Some(s) => selection(config, &[&req.extra[..], &s.ids[..]].concat()),
            None => selection(config, &req.extra),
        },
        tests: state.done(),
        counts: state.counts(),
        cov: req.coverage,
        machine: Some(history::Machine::this()),
        exit: code.code(),
        ..RunRecord::default()
    }
}

/// A fingerprint of which tests a run asked for: the test paths and the
/// pytest arguments.
pub fn selection(config: &Config, extra: &[String]) -> String {
    let mut hasher = crate::hash::Fingerprint::new();
    for path in &config.project.test_paths.value {
        hasher.field(&path.value);
    }
    hasher.bytes([1]);
    for arg in extra {
        hasher.field(arg);
    }
    hasher.hex(6)
}

#[cfg(test)]
mod tests;
