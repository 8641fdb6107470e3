//! `cargo xtask triage`: the last run's failures, re-run serially and
//! classified, with the flakiness rate that decides a rollback.
//!
//! Every failed test of the last run (from its event stream) is re-run alone,
//! serially, in a fresh process, `--repeat` times. A test that fails every
//! time is a real failure; one that passes every time failed only beside
//! other tests (parallel-only, or order-dependent after a serial run); one
//! with mixed results is flaky. The flakiness rate is the parallel-only and
//! flaky tests (less the `[[flaky.known]]` ones) over the tests the run ran;
//! above `flaky.threshold` the task exits 3 and prints the rollback
//! procedure. Each triage is appended to the timings history.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::config::{self, Config};
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::gen::{self, IssueFields};
use crate::python::argv::quote;
use crate::python::env::{self, PythonEnv};
use crate::report::history::{self, RecordKind, RunRecord};
use crate::report::RunState;
use crate::run::{self, RunRequest};
use crate::signals;

use crate::flaky::bisect::{self, Bisected};
use crate::flaky::rate::{self, Judged, Rate};
use crate::flaky::{last_run, plain_id, rootdir, slug, Class};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 no real failure and flakiness at or below flaky.threshold; \
    1 a real failure (or a collection error); 2 no event stream of a last run; \
    3 flakiness above flaky.threshold: rollback recommended."
)]
pub struct Args {
    /// Serial re-runs of each failed test, each alone in a fresh process.
    #[arg(long, value_name = "K", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Write a ready-to-file issue body per parallel-only or flaky test to reports/flaky/<test>.md.
    #[arg(long)]
    pub issue: bool,
    /// Also bisect each parallel-only or order-dependent test to name the test that pollutes it.
    #[arg(long)]
    pub bisect: bool,
    /// Suggest dropping a `[[flaky.known]]` test that passed in each of the last N triages.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub stale_after: u32,
}

/// What `triage` does; `ci` builds one without the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub repeat: u32,
    pub issue: bool,
    pub bisect: bool,
    pub stale_after: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            repeat: 2,
            issue: false,
            bisect: false,
            stale_after: 5,
        }
    }
}

impl From<&Args> for Options {
    fn from(args: &Args) -> Self {
        Options {
            repeat: args.repeat,
            issue: args.issue,
            bisect: args.bisect,
            stale_after: args.stale_after,
        }
    }
}

/// One failed test, triaged.
#[derive(Debug, Clone)]
pub struct Triaged {
    /// As pytest takes it on the command line.
    pub node_id: String,
    pub class: Class,
    /// The worker (xdist worker or shard process) it failed on.
    pub worker: Option<String>,
    /// Each serial re-run: did it fail?
    pub reruns: Vec<bool>,
    /// Listed under `[[flaky.known]]`: not counted in the rate.
    pub known: bool,
    /// It failed alone but passed after the tests before it in serial order:
    /// it needs one of them to set something up.
    pub needs_setup: bool,
    /// Earlier triages in the history that named it.
    pub earlier: usize,
    /// `PYTEST_WORKERS=1 cargo xtask pytest -- <id>`.
    pub serial_command: String,
    /// The plain pytest command of its re-run.
    pub pytest_command: String,
    /// Where and why it failed in the run.
    pub message: Option<String>,
    pub longrepr: Option<String>,
    /// The polluter, with `--bisect`.
    pub bisected: Option<Bisected>,
}

/// The result of a triage. `cargo xtask triage` only needs the exit code;
/// the rest is for tasks that triage as a step (`ci`).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// 3 above the threshold, else 1 with a real failure, else 0.
    pub code: ExitCode,
    /// The tests the run ran.
    pub tests_run: usize,
    pub triaged: Vec<Triaged>,
    /// (parallel-only + flaky, less known ones) / tests run.
    pub rate: f64,
    pub alert: Option<String>,
    /// Issue bodies written (`--issue`).
    pub issues: Vec<PathBuf>,
    /// `[[flaky.known]]` tests that passed in each of the last N triages.
    pub stale_known: Vec<String>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    signals::install();
    let env = env::ensure(ctx, &config)?;
    Ok(triage(ctx, &config, &env, &Options::from(args))?.code)
}

/// Triages the last run's failures; prints the table, the alert and the
/// rollback procedure, appends a `triage` record to the history.
pub fn triage(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    options: &Options,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let layout = ctx.layout(config);
    let _lock = crate::lock::acquire(&layout, "triage")?;
    let (state, log) = last_run(ctx, config)?;
    let last = LastRun::of(&state);
    let tests_run = state.done();
    let earlier: Vec<RunRecord> = history::read(&layout.history())?
        .records
        .into_iter()
        .filter(|r| r.kind == RecordKind::Triage)
        .collect();
    let known_ids: Vec<&str> = config
        .flaky
        .known
        .iter()
        .map(|k| k.node_id.value.trim())
        .collect();

    println!(
        "triage: {} of {tests_run} tests failed in the last run (`{}`, {}); re-running each alone, serially, {} time(s)",
        state.failures().count(),
        relative(&log, &ctx.root).display(),
        if last.parallel {
            format!("{} workers", last.workers)
        } else {
            "serial".to_string()
        },
        options.repeat
    );
    for error in &state.collect_errors {
        println!(
            "triage: `{}` failed to collect ({}): not re-run, fix it first",
            error.id, error.msg
        );
    }

    let Some(mut triaged) = rerun_failures(ctx, config, env, options, &state, last.parallel)?
    else {
        return Ok(interrupted(tests_run));
    };
    for t in &mut triaged {
        t.known = known_ids.contains(&t.node_id.as_str());
        t.earlier = earlier
            .iter()
            .filter_map(|r| r.triage.as_ref())
            .filter(|d| d.classes.contains_key(&t.node_id))
            .count();
    }
    if options.bisect && !bisect_each(ctx, config, env, &state, &mut triaged)? {
        return Ok(interrupted(tests_run));
    }

    let judged: Vec<Judged> = triaged
        .iter()
        .map(|t| Judged {
            node_id: &t.node_id,
            class: t.class,
            known: t.known,
        })
        .collect();
    let rate = Rate::of(
        &judged,
        tests_run,
        config.flaky.threshold.value,
        last.parallel,
    );
    let alert = rate.alert();
    let known = rate::known_status(&known_ids, &judged, |id| {
        state.tests.iter().any(|t| plain_id(&t.nodeid) == id)
    });
    let empty = BTreeMap::new();
    let earlier_known: Vec<&BTreeMap<String, String>> = earlier
        .iter()
        .map(|r| r.triage.as_ref().map_or(&empty, |t| &t.known))
        .collect();
    let window = options.stale_after as usize;
    let stale_known = rate::stale_known(&known, &earlier_known, window);

    let table = render_table(&triaged);
    print!("{table}");
    print!("{}", render_reproduce(&triaged));
    println!("triage: {}", rate.line());
    for id in &stale_known {
        println!(
            "triage: `{id}` is listed under `[[flaky.known]]` but passed in each of the last {window} triage(s): \
             consider removing it from the list"
        );
    }
    let issues = if options.issue {
        write_issues(ctx, config, &triaged, options.repeat, &earlier)?
    } else {
        Vec::new()
    };

    let real = triaged.iter().any(|t| t.class == Class::Real) || !state.collect_errors.is_empty();
    let code = if alert.is_some() {
        ExitCode::Flaky
    } else if real {
        ExitCode::TestsFailed
    } else {
        ExitCode::Ok
    };
    if let Some(alert) = &alert {
        eprintln!("alert: {alert}");
        if ctx.github_actions {
            eprintln!("::error title=Flaky tests above the threshold::{alert}");
        }
        print!("{}", rollback_procedure());
    }

    // The history keeps every triage, so repeated offenders show over time.
    let data = history_data(&triaged, &rate, options.repeat, known);
    let record = record(ctx, &last, code, started.elapsed().as_secs_f64(), data);
    history::append(&layout.history(), &record)?;
    crate::report::timings::write_report(&layout, config, &layout.run().junit)?;
    crate::report::timings::append_step_summary(&format!("## Triage\n\n{table}"));

    Ok(Outcome {
        code,
        tests_run,
        triaged,
        rate: rate.rate,
        alert,
        issues,
        stale_known,
    })
}

/// What triage needs to know of the last run besides its failures.
struct LastRun {
    /// Its tests ran on workers (xdist or shard processes).
    parallel: bool,
    /// How many distinct workers ran tests.
    workers: usize,
    engine: history::Execution,
    tests_run: usize,
}

impl LastRun {
    fn of(state: &RunState) -> LastRun {
        let xdist = state
            .processes
            .iter()
            .any(|p| p.start.as_ref().is_some_and(|s| s.xdist));
        let engine = if xdist {
            history::Execution::Xdist
        } else if state.processes.len() > 1 {
            history::Execution::Shards
        } else {
            history::Execution::Serial
        };
        let workers: BTreeSet<&str> = state
            .tests
            .iter()
            .filter_map(|t| t.worker.as_deref())
            .collect();
        LastRun {
            parallel: !workers.is_empty(),
            workers: workers.len(),
            engine,
            tests_run: state.done(),
        }
    }
}

/// Re-runs each failure alone, `options.repeat` times, and classifies it;
/// `None` when interrupted.
fn rerun_failures(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    options: &Options,
    state: &RunState,
    parallel: bool,
) -> anyhow::Result<Option<Vec<Triaged>>> {
    let rootdir = rootdir(ctx, state);
    let base = ctx.layout(config).dir.join("triage");
    if base.exists() {
        std::fs::remove_dir_all(&base).ok();
    }
    let mut triaged = Vec::new();
    for test in state.failures() {
        let node_id = plain_id(&test.nodeid).to_string();
        let dir = base.join(slug(&node_id));
        let mut reruns = Vec::new();
        let mut pytest_command = String::new();
        for k in 1..=options.repeat {
            let req = RunRequest::probe(
                format!("triage re-run {k}/{} of {node_id}", options.repeat),
                "triage: alone, in a fresh process",
                vec![node_id.clone()],
                &rootdir,
                dir.join(k.to_string()),
            );
            if k == 1 {
                pytest_command = run::invocation(ctx, config, &env.python, &req).display();
            }
            let rerun = run::run_suite(ctx, config, env, &req)?.state;
            if signals::interrupted() {
                return Ok(None);
            }
            // A test pytest no longer finds (renamed, deleted) counts as failing.
            let failed = rerun
                .tests
                .iter()
                .find(|t| plain_id(&t.nodeid) == node_id)
                .is_none_or(|t| t.outcome.is_failure());
            reruns.push(failed);
        }
        let mut class = Class::of(&reruns, parallel);
        // Failing alone is not yet real: after the tests before it in serial
        // order it may pass, needing one of them to set something up.
        let mut needs_setup = false;
        if class == Class::Real && parallel {
            let before = bisect::serial_predecessors(state, &node_id);
            if !before.is_empty() {
                let mut ids = before;
                ids.push(node_id.clone());
                let req = RunRequest::probe(
                    format!("triage re-run of {node_id} after the tests before it in serial order"),
                    "triage: in serial order, in a fresh process",
                    ids,
                    &rootdir,
                    dir.join("serial-order"),
                );
                let rerun = run::run_suite(ctx, config, env, &req)?.state;
                if signals::interrupted() {
                    return Ok(None);
                }
                if rerun
                    .tests
                    .iter()
                    .find(|t| plain_id(&t.nodeid) == node_id)
                    .is_some_and(|t| !t.outcome.is_failure())
                {
                    class = Class::ParallelOnly;
                    needs_setup = true;
                }
            }
        }
        triaged.push(Triaged {
            serial_command: format!("PYTEST_WORKERS=1 cargo xtask pytest -- {}", quote(&node_id)),
            class,
            node_id,
            worker: test.worker.clone(),
            reruns,
            known: false,
            needs_setup,
            earlier: 0,
            pytest_command,
            message: test.message.clone(),
            longrepr: test.longrepr.clone(),
            bisected: None,
        });
    }
    Ok(Some(triaged))
}

/// Bisects each parallel-only or order-dependent test among the tests that
/// ran before it in its process; `false` when interrupted.
fn bisect_each(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    state: &RunState,
    triaged: &mut [Triaged],
) -> anyhow::Result<bool> {
    let rootdir = rootdir(ctx, state);
    for t in triaged
        .iter_mut()
        .filter(|t| matches!(t.class, Class::ParallelOnly | Class::OrderDependent))
    {
        let Some(test) = crate::flaky::find(state, &t.node_id) else {
            continue;
        };
        let result = if t.needs_setup {
            let suspects = bisect::serial_predecessors(state, &t.node_id);
            println!(
                "triage: bisecting the {} test(s) before `{}` in serial order for the one it needs first",
                suspects.len(),
                t.node_id
            );
            bisect::search(
                ctx,
                config,
                env,
                (&t.node_id, bisect::Culprit::Setter),
                &suspects,
                &rootdir,
            )?
        } else {
            let suspects = bisect::predecessors(state, test);
            println!(
                "triage: bisecting the {} test(s) that ran before `{}` in its process",
                suspects.len(),
                t.node_id
            );
            bisect::bisect(ctx, config, env, &t.node_id, &suspects, &rootdir)?
        };
        if signals::interrupted() {
            return Ok(false);
        }
        t.bisected = Some(result);
    }
    Ok(true)
}

/// Writes a ready-to-file issue body per flaky-class test and prints the
/// `gh` command that files it.
fn write_issues(
    ctx: &Ctx,
    config: &Config,
    triaged: &[Triaged],
    repeat: u32,
    earlier: &[RunRecord],
) -> anyhow::Result<Vec<PathBuf>> {
    let first_seen = first_seen(earlier);
    let mut written = Vec::new();
    for t in triaged.iter().filter(|t| t.class.is_flaky()) {
        let path = ctx
            .layout(config)
            .dir
            .join("flaky")
            .join(format!("{}.md", slug(&t.node_id)));
        let body = gen::render_issue(config, &issue_fields(t, repeat, &first_seen));
        fsx::atomic_write(&path, body)?;
        println!(
            "triage: issue body written: {}\n  gh issue create --title {} --label flaky-test --body-file {}",
            relative(&path, &ctx.root).display(),
            quote(&format!("Flaky: {}", t.node_id)),
            quote(&relative(&path, &ctx.root).to_string_lossy())
        );
        written.push(path);
    }
    Ok(written)
}

/// The triage as the history keeps it.
fn history_data(
    triaged: &[Triaged],
    rate: &Rate,
    repeat: u32,
    known: BTreeMap<String, String>,
) -> history::Triage {
    let by_test = |f: &dyn Fn(&Triaged) -> String| -> BTreeMap<String, String> {
        triaged.iter().map(|t| (t.node_id.clone(), f(t))).collect()
    };
    history::Triage {
        alert: rate.alert(),
        rate: rate.rate,
        threshold: rate.threshold,
        repeat,
        classes: by_test(&|t| t.class.as_str().to_string()),
        workers: by_test(&|t| t.worker.clone().unwrap_or_else(|| "serial".into())),
        reruns_failed: triaged
            .iter()
            .map(|t| (t.node_id.clone(), t.reruns.iter().filter(|f| **f).count()))
            .collect(),
        polluters: triaged
            .iter()
            .filter_map(|t| match &t.bisected {
                Some(Bisected::Found(f)) if !f.setter => {
                    Some((t.node_id.clone(), f.polluter.clone()))
                }
                _ => None,
            })
            .collect(),
        setters: triaged
            .iter()
            .filter_map(|t| match &t.bisected {
                Some(Bisected::Found(f)) if f.setter => {
                    Some((t.node_id.clone(), f.polluter.clone()))
                }
                _ => None,
            })
            .collect(),
        known,
    }
}

/// The `triage` record appended to the history.
fn record(
    ctx: &Ctx,
    last: &LastRun,
    code: ExitCode,
    seconds: f64,
    data: history::Triage,
) -> RunRecord {
    let (commit, branch) = history::git_info(&ctx.root);
    RunRecord {
        schema: history::SCHEMA,
        kind: RecordKind::Triage,
        timestamp: history::now_utc(),
        commit,
        branch,
        task: "triage".into(),
        engine: last.engine,
        workers: u16::try_from(last.workers.max(1)).unwrap_or(u16::MAX),
        tests: last.tests_run,
        phases: history::Phases(vec![("re-runs".into(), seconds)]),
        wall: seconds,
        exit: code.code(),
        triage: Some(data),
        ..RunRecord::default()
    }
}

fn interrupted(tests_run: usize) -> Outcome {
    Outcome {
        code: ExitCode::Interrupted,
        tests_run,
        triaged: Vec::new(),
        rate: 0.0,
        alert: None,
        issues: Vec::new(),
        stale_known: Vec::new(),
    }
}

fn reruns_text(reruns: &[bool]) -> String {
    let failed = reruns.iter().filter(|f| **f).count();
    let passed = reruns.len() - failed;
    match (passed, failed) {
        (_, 0) => format!("{passed} passed"),
        (0, _) => format!("{failed} failed"),
        _ => format!("{passed} passed, {failed} failed"),
    }
}

/// The table of classes, as Markdown (it reads well in a terminal too).
pub fn render_table(triaged: &[Triaged]) -> String {
    if triaged.is_empty() {
        return "\nNo failed tests: nothing to triage.\n\n".into();
    }
    let mut out = String::from(
        "\n| test | class | worker | serial re-runs | earlier triages |\n|---|---|---|---|---:|\n",
    );
    for t in triaged {
        let polluter = match &t.bisected {
            Some(Bisected::Found(f)) if f.setter => format!("; needs `{}` first", f.polluter),
            Some(Bisected::Found(f)) => format!("; polluter `{}`", f.polluter),
            _ if t.needs_setup => "; fails alone, passes after the tests before it".to_string(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {}{}{polluter} | {} | {} | {} |",
            t.node_id,
            t.class.describe(),
            if t.known { " (known)" } else { "" },
            t.worker.as_deref().unwrap_or("serial"),
            reruns_text(&t.reruns),
            t.earlier
        );
    }
    out.push('\n');
    out
}

/// The commands that reproduce each failure.
fn render_reproduce(triaged: &[Triaged]) -> String {
    let mut out = String::new();
    if !triaged.is_empty() {
        out.push_str("Reproduce:\n");
    }
    for t in triaged {
        let _ = writeln!(out, "  {} ({})", t.node_id, t.class.describe());
        let _ = writeln!(out, "    {}", t.serial_command);
        let _ = writeln!(out, "    {}", t.pytest_command);
        match &t.bisected {
            Some(Bisected::Found(f)) => {
                let _ = writeln!(out, "    {}", f.reproduce);
            }
            Some(other) => {
                let _ = write!(
                    out,
                    "    {}",
                    bisect::describe(&t.node_id, "in its process", 0, other)
                );
            }
            None if matches!(t.class, Class::ParallelOnly | Class::OrderDependent) => {
                let _ = writeln!(out, "    cargo xtask bisect {}", quote(&t.node_id));
            }
            None => {}
        }
    }
    out
}

/// The rollback procedure printed with the alert.
fn rollback_procedure() -> &'static str {
    "Rollback procedure:\n\
     \x20 1. cargo xtask rollback          # parallel.workers = 1 in testing.toml, workflow regenerated; commit both\n\
     \x20    (or, without a commit: gh variable set PYTEST_WORKERS --body 1)\n\
     \x20 2. cargo xtask triage --issue    # an issue body per flaky test in reports/flaky/\n\
     \x20 3. cargo xtask bisect '<node id>' # the test that pollutes a parallel-only one\n\
     \x20 4. once fixed: cargo xtask rollback --undo\n"
}

/// When the first triage in the history ran (else now), and at which commit.
fn first_seen(earlier: &[RunRecord]) -> impl Fn(&str) -> String + '_ {
    move |id: &str| {
        let record = earlier.iter().find(|r| {
            r.triage
                .as_ref()
                .is_some_and(|t| t.classes.contains_key(id))
        });
        let (when, commit) = match record {
            Some(r) => (r.timestamp.clone(), r.commit.clone()),
            None => (crate::report::history::now_utc(), None),
        };
        match commit {
            Some(c) => format!("{when} (commit {c})"),
            None => when,
        }
    }
}

/// The issue's fields for one triaged test.
fn issue_fields(t: &Triaged, repeat: u32, first_seen: &dyn Fn(&str) -> String) -> IssueFields {
    let ci_run = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        (Ok(server), Ok(repo), Ok(id)) if !id.is_empty() => {
            format!("{server}/{repo}/actions/runs/{id}")
        }
        _ => String::new(),
    };
    let failed = t.reruns.iter().filter(|f| **f).count();
    let passed = t.reruns.len() - failed;
    let worker = t.worker.clone().unwrap_or_else(|| "serial".into());
    let classification = match t.class {
        Class::ParallelOnly => format!(
            "parallel-only: failed on {worker} in a parallel run, passed alone {passed} of {} times",
            t.reruns.len()
        ),
        Class::OrderDependent => format!(
            "order-dependent: failed in a serial run of the suite, passed alone {passed} of {} times",
            t.reruns.len()
        ),
        Class::Flaky => format!(
            "flaky: alone, it passed {passed} and failed {failed} of {} times",
            t.reruns.len()
        ),
        Class::Real => "always failing".to_string(),
    };
    let polluter = match &t.bisected {
        Some(Bisected::Found(f)) if f.setter => format!(
            "none; it fails alone and needs `{}` to run first (it depends on state that test sets up; `{}`)",
            f.polluter, f.reproduce
        ),
        Some(Bisected::Found(f)) => format!(
            "`{}` ({}; `{}`)",
            f.polluter,
            if f.confirmed { "confirmed" } else { "deduced" },
            f.reproduce
        ),
        Some(Bisected::RanFirst) => "none found: it ran first in its process".into(),
        Some(Bisected::FailsAlone { .. }) => "none: it fails alone".into(),
        Some(Bisected::NotReproduced { .. }) => {
            "none found: it passed after its predecessors run serially".into()
        }
        None if t.class == Class::Flaky => String::new(),
        None => format!(
            "not bisected yet: `cargo xtask bisect {}`",
            quote(&t.node_id)
        ),
    };
    let mut notes = String::new();
    if let Some(message) = &t.message {
        let _ = writeln!(notes, "Failure in the run: `{}`", message.replace('`', "'"));
    }
    if let Some(longrepr) = t.longrepr.as_deref().filter(|l| !l.trim().is_empty()) {
        let lines: Vec<&str> = longrepr.lines().collect();
        let shown = &lines[lines.len().saturating_sub(40)..];
        let _ = write!(
            notes,
            "\n<details><summary>Traceback</summary>\n\n```\n{}\n```\n\n</details>",
            shown.join("\n").replace("```", "'''")
        );
    }
    IssueFields {
        node_id: t.node_id.clone(),
        node_arg: quote(&t.node_id),
        classification,
        worker,
        ci_run,
        first_seen: first_seen(&t.node_id),
        serial: if failed == 0 {
            "pass".into()
        } else if passed == 0 {
            "fail".into()
        } else {
            "pass / fail (mixed)".into()
        },
        parallel: match &t.worker {
            Some(w) => format!("fail (whole suite, on {w})"),
            None => "not run (the failure was in a serial run)".into(),
        },
        repeats: format!("{repeat} runs"),
        repeated: format!("{passed} passed, {failed} failed"),
        whole_serial: if t.worker.is_none() {
            "fail".into()
        } else {
            "not run".into()
        },
        pytest_command: t.pytest_command.clone(),
        polluter,
        notes,
    }
}
