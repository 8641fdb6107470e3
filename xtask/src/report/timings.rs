//! Where the time went: per-phase timings, worker utilization, the slowest
//! tests and scopes, the trend across runs, and `reports/ci_timings.md`.
//!
//! Rendering is a pure function of the history and the last run's JUnit
//! cases, so `cargo xtask timings` can re-render it at any time.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::junit::TestCase;

use super::history::{Execution, RecordKind, RunRecord, WorkerUse};
use super::{RunState, Span};

/// The stable prefix of the one-line JSON log of each phase.
pub const PHASE_PREFIX: &str = "xtask-phase";

/// The run's phases as greppable JSON lines, one per phase, in order: its
/// name, seconds, start and end (Unix time; the phases follow each other
/// from `started`), workers and tests.
pub fn phase_lines(phases: &[(&str, f64)], started: f64, workers: u16, tests: usize) -> String {
    let mut out = String::new();
    let mut at = started;
    for (name, seconds) in phases {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        let line = serde_json::json!({
            "phase": name,
            "seconds": round(*seconds),
            "start": round(at),
            "end": round(at + seconds),
            "workers": workers,
            "tests": tests,
        });
        at += seconds;
        let _ = writeln!(out, "{PHASE_PREFIX} {line}");
    }
    out
}

/// Writes the phase lines to `phases.jsonl` in the reports directory, and
/// to stderr when that is not a terminal (a CI log, a redirected output):
/// on a terminal the summary's `wall time` line says the same for people.
pub fn log_phases(layout: &crate::layout::Layout, lines: &str) {
    use std::io::IsTerminal as _;
    if let Err(err) = crate::fsx::atomic_write(&layout.phases(), lines) {
        eprintln!(
            "warning: {} not written: {err:#}",
            layout.phases().display()
        );
    }
    if !std::io::stderr().is_terminal() {
        eprint!("{lines}");
    }
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

/// A finding about the last run that the report, the console and GitHub
/// (as an annotation) all show.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub title: &'static str,
    pub text: String,
}

impl Alert {
    /// Prints it as a console warning, and as a GitHub annotation in Actions.
    pub fn print(&self, github_actions: bool) {
        eprintln!("warning: {}: {}", self.title.to_lowercase(), self.text);
        if github_actions {
            eprintln!("::warning title={}::{}", self.title, self.text);
        }
    }
}

/// The report's alerts on the current run: a regression of its execution
/// phase against the median of comparable runs, and a coverage drop against
/// the last comparable run that measured coverage.
pub fn alerts(input: &TimingsInput, current: &RunRecord) -> Vec<Alert> {
    let mut alerts = Vec::new();
    if let Some((median, ratio)) = regression(input.records, current, input.trend, input.regression)
    {
        alerts.push(Alert {
            title: "Regression",
            text: format!(
                "the execution phase took {:.1} s, {:.0}% slower than the median {median:.1} s of the last comparable runs (alert above {:.0}%)",
                current.execution(),
                (ratio - 1.0) * 100.0,
                input.regression * 100.0
            ),
        });
    }
    if let Some((before, now, when)) = coverage_drop(input.records, current) {
        alerts.push(Alert {
            title: "Coverage drop",
            text: format!(
                "coverage fell from {before:.2}% to {now:.2}% since the last comparable run ({when})"
            ),
        });
    }
    alerts
}

/// `Some((before, now, when))` when the run covered less than the last
/// comparable run (same kind) that measured coverage.
pub fn coverage_drop(records: &[RunRecord], current: &RunRecord) -> Option<(f64, f64, String)> {
    let now = current.coverage?;
    let before = records
        .iter()
        .rev()
        .filter(|r| !std::ptr::eq(*r, current) && r.same_kind(current))
        .find_map(|r| Some((r.coverage?, r.timestamp.clone())))?;
    (now < before.0 - 0.005).then(|| {
        let when = if before.1.is_empty() {
            "—".to_string()
        } else {
            before.1
        };
        (before.0, now, when)
    })
}

/// What [`write_report`] wrote, and the alerts it found.
pub struct Written {
    pub markdown: String,
    pub alerts: Vec<Alert>,
}

/// Renders `ci_timings.md` from the history and the JUnit file of the last
/// run, writes it atomically, and returns it with its alerts.
pub fn write_report(
    layout: &crate::layout::Layout,
    config: &crate::config::Config,
    junit_path: &std::path::Path,
) -> anyhow::Result<Written> {
    let history = super::history::read(&layout.history())?;
    for warning in &history.warnings {
        eprintln!("warning: {warning}");
    }
    let cases = crate::junit::read(junit_path).unwrap_or_default();
    let input = TimingsInput {
        records: &history.records,
        cases: &cases,
        trend: config.timings.trend.value as usize,
        regression: config.timings.regression.value,
        warnings: &history.warnings,
    };
    let markdown = render(&input);
    let alerts = current(&history.records)
        .map(|c| alerts(&input, c))
        .unwrap_or_default();
    crate::fsx::atomic_write(&layout.timings_report(), &markdown)?;
    Ok(Written { markdown, alerts })
}

/// Opens a foldable log group under GitHub Actions.
pub fn group_start(github_actions: bool, name: &str) {
    if github_actions {
        eprintln!("::group::{name}");
    }
}

pub fn group_end(github_actions: bool) {
    if github_actions {
        eprintln!("::endgroup::");
    }
}

/// Per-worker busy time and the run's efficiency, from the events'
/// start/stop stamps: efficiency = test time / (workers × execution wall).
pub fn utilization(state: &RunState, workers: u16) -> (Option<f64>, Vec<WorkerUse>) {
    let mut per = state.spans(true);
    let first = per
        .values()
        .map(|s| s.first_start)
        .fold(f64::INFINITY, f64::min);
    let last = per
        .values()
        .map(|s| s.last_stop)
        .fold(f64::NEG_INFINITY, f64::max);
    if per.is_empty() || last <= first {
        return (None, Vec::new());
    }
    // Workers that ran nothing are the most telling rows.
    if workers > 1 {
        for i in 0..workers {
            per.entry(format!("gw{i}")).or_insert(Span {
                tests: 0,
                busy: 0.0,
                first_start: last,
                last_stop: last,
            });
        }
    }
    let wall = last - first;
    let busy: f64 = per.values().map(|s| s.busy).sum();
    let uses = per
        .into_iter()
        .map(|(id, s)| WorkerUse {
            id,
            tests: s.tests,
            busy: s.busy,
            idle_tail: (last - s.last_stop).max(0.0),
        })
        .collect();
    (
        Some((busy / (f64::from(workers.max(1)) * wall)).min(1.0)),
        uses,
    )
}

/// Everything the report shows.
pub struct TimingsInput<'a> {
    /// The history, oldest first; the last record is the run reported on.
    pub records: &'a [RunRecord],
    /// The last run's test cases (for the slowest tests and scopes).
    pub cases: &'a [TestCase],
    pub trend: usize,
    pub regression: f64,
    pub warnings: &'a [String],
}

/// The serial run a parallel one is compared with: the latest passing
/// serial run with the same selection and coverage mode, on the same class
/// of machine.
pub fn baseline<'a>(records: &'a [RunRecord], current: &RunRecord) -> Option<&'a RunRecord> {
    records
        .iter()
        .rev()
        .filter(|r| !std::ptr::eq(*r, current))
        .find(|r| r.workers <= 1 && r.exit == 0 && r.comparable(current))
}

/// `Some((median, ratio))` when the run's execution phase is more than
/// `regression` slower than the median of the comparable runs before it.
pub fn regression(
    records: &[RunRecord],
    current: &RunRecord,
    trend: usize,
    limit: f64,
) -> Option<(f64, f64)> {
    let mut previous: Vec<f64> = records
        .iter()
        .filter(|r| !std::ptr::eq(*r, current) && r.exit == 0 && r.same_kind(current))
        .rev()
        .take(trend)
        .map(RunRecord::execution)
        .collect();
    if previous.len() < 3 {
        return None;
    }
    previous.sort_by(f64::total_cmp);
    let median = previous[previous.len() / 2];
    let ratio = current.execution() / median;
    (median > 0.0 && ratio > 1.0 + limit).then_some((median, ratio))
}

fn fmt_opt(v: Option<f64>, digits: usize, suffix: &str) -> String {
    v.map_or("—".to_string(), |v| format!("{v:.digits$}{suffix}"))
}

/// The run the report is about: the latest record of a test run. Records
/// other tasks append after it (e.g. `triage`) are about that run, not runs.
pub fn current(records: &[RunRecord]) -> Option<&RunRecord> {
    records.iter().rev().find(|r| r.kind == RecordKind::Run)
}

/// The latest `triage` record appended after the current run: the triage of
/// that run, if it had one.
pub fn triage_of_current(records: &[RunRecord]) -> Option<&RunRecord> {
    let start = records
        .iter()
        .rposition(|r| r.kind == RecordKind::Run)
        .map_or(0, |i| i + 1);
    records[start..]
        .iter()
        .rev()
        .find(|r| r.kind == RecordKind::Triage)
}

/// Renders `reports/ci_timings.md`.
pub fn render(input: &TimingsInput) -> String {
    let mut out = String::from("# Test timings\n\n");
    let Some(current) = current(input.records) else {
        out.push_str(
            "No runs recorded yet: run `cargo xtask pytest` or `cargo xtask pytest-parallel`.\n",
        );
        for w in input.warnings {
            let _ = writeln!(out, "\n> warning: {w}");
        }
        return out;
    };
    render_header(&mut out, current);
    render_alerts(&mut out, input, current);
    render_phases(&mut out, current);
    render_speedup(&mut out, input.records, current, input.cases);
    render_shards(&mut out, current);
    render_utilization(&mut out, current);
    render_slowest(&mut out, input.cases);
    render_trend(&mut out, input.records, current, input.trend);
    out
}

/// The run's line: when, where, which engine, what came out.
fn render_header(out: &mut String, current: &RunRecord) {
    let c = &current.counts;
    let outcomes: Vec<String> = [
        ("errors", c.errors),
        ("failed", c.failed),
        ("passed", c.passed),
        ("skipped", c.skipped),
        ("xfailed", c.xfailed),
        ("xpassed", c.xpassed),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{n} {k}"))
    .collect();
    let workers = if matches!(current.engine, Execution::Shards | Execution::CiShards) {
        format!("{} shards", current.workers)
    } else if current.workers <= 1 {
        "serial".to_string()
    } else {
        format!(
            "{} workers (`{}`)",
            current.workers,
            current.dist.as_deref().unwrap_or("?")
        )
    };
    let _ = writeln!(
        out,
        "Run {} · commit `{}` on `{}` · `{}` · engine `{}` · {workers} · {} tests: {}\n",
        if current.timestamp.is_empty() {
            "—"
        } else {
            &current.timestamp
        },
        current.commit.as_deref().unwrap_or("—"),
        current.branch.as_deref().unwrap_or("—"),
        if current.task.is_empty() {
            "—"
        } else {
            &current.task
        },
        current.engine.as_str(),
        current.tests,
        if outcomes.is_empty() {
            "—".to_string()
        } else {
            outcomes.join(", ")
        },
    );
}

/// Warnings, a regression, a flakiness alert, and the triage of the run.
fn render_alerts(out: &mut String, input: &TimingsInput, current: &RunRecord) {
    for w in input.warnings {
        let _ = writeln!(out, "> warning: {w}\n");
    }
    for alert in alerts(input, current) {
        let _ = writeln!(out, "> **{}:** {}\n", alert.title, alert.text);
    }
    let triage = triage_of_current(input.records);
    for record in [Some(current), triage].into_iter().flatten() {
        if let Some(alert) = record.triage.as_ref().and_then(|t| t.alert.as_deref()) {
            let _ = writeln!(out, "> **Flakiness:** {alert}\n");
        }
    }
    if let Some(triage) = triage {
        render_triage(out, triage);
    }
}

/// Each phase, its seconds and its share of the wall time.
fn render_phases(out: &mut String, current: &RunRecord) {
    out.push_str("## Phases\n\n| phase | seconds | share |\n|---|---:|---:|\n");
    let total: f64 = current.phases.iter().fold(0.0, |acc, (_, s)| acc + s);
    for (name, seconds) in current.phases.iter() {
        let share = if current.wall > 0.0 {
            seconds / current.wall * 100.0
        } else {
            0.0
        };
        let _ = writeln!(out, "| {name} | {seconds:.2} | {share:.0}% |");
    }
    let _ = writeln!(
        out,
        "| **wall time** | **{:.2}** | phases add up to {:.2} |\n",
        current.wall, total
    );
}

/// The speedup against the serial baseline: measured when a comparable
/// serial run is in the history, else estimated (and labelled so).
fn render_speedup(
    out: &mut String,
    records: &[RunRecord],
    current: &RunRecord,
    cases: &[TestCase],
) {
    if current.workers <= 1 {
        out.push_str(
            "This is a serial run: later parallel runs of the same selection and coverage mode on this class of machine are compared with it.\n\n",
        );
        return;
    }
    if let Some(base) = baseline(records, current) {
        let _ = writeln!(
            out,
            "**Speedup** against the serial baseline ({}, {:.1} s; same selection, {}, same class of machine): ×{:.2} wall time, ×{:.2} execution.\n",
            if base.timestamp.is_empty() { "—" } else { &base.timestamp },
            base.wall,
            if current.cov { "with coverage" } else { "without coverage" },
            base.wall / current.wall.max(1e-9),
            base.execution() / current.execution().max(1e-9)
        );
        return;
    }
    let cov = if current.cov { " --cov" } else { "" };
    let missing = format!(
        "no comparable serial run (same selection and coverage mode, same class of machine) is in the history to measure it against; `PYTEST_WORKERS=1 cargo xtask pytest{cov}` records one"
    );
    if cases.is_empty() {
        let _ = writeln!(out, "No speedup figure: {missing}.\n");
        return;
    }
    let sum: f64 = cases.iter().map(|c| c.duration).sum();
    let startup = current.phase("collection").unwrap_or(0.0);
    let estimate = sum + startup;
    let _ = writeln!(
        out,
        "**Speedup** against an *estimated* serial run: ×{:.2} wall time (estimate {estimate:.1} s: the sum of this run's {} test durations, {sum:.1} s, plus one start-up, {startup:.1} s). It is an estimate: {missing}.\n",
        estimate / current.wall.max(1e-9),
        cases.len()
    );
}

/// Per-shard tests and times of a merged CI run.
fn render_shards(out: &mut String, current: &RunRecord) {
    if let Some(shards) = &current.shards {
        let imbalance = shards.imbalance;
        let _ = writeln!(
            out,
            "## Shards\n\nImbalance ×{imbalance:.2} (slowest shard ÷ mean shard).\n"
        );
        out.push_str(
            "| shard | tests | predicted s | wall s | exit |\n|---:|---:|---:|---:|---:|\n",
        );
        for s in &shards.shards {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {} |",
                s.index, s.tests, s.predicted, s.wall, s.exit
            );
        }
        out.push('\n');
    }
}

/// Busy and idle time per worker.
fn render_utilization(out: &mut String, current: &RunRecord) {
    out.push_str("## Worker utilization\n\n");
    if current.worker_use.is_empty() {
        out.push_str("No per-test timestamps in this run's events.\n\n");
    } else {
        let _ = writeln!(
            out,
            "Efficiency {} (test time ÷ workers × execution wall time).\n",
            fmt_opt(current.efficiency.map(|e| e * 100.0), 0, "%")
        );
        out.push_str("| worker | tests | busy s | idle tail s |\n|---|---:|---:|---:|\n");
        for w in &current.worker_use {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} |",
                w.id, w.tests, w.busy, w.idle_tail
            );
        }
        out.push('\n');
    }
}

/// The slowest tests and scopes of the last run.
fn render_slowest(out: &mut String, cases: &[TestCase]) {
    let mut sorted: Vec<&TestCase> = cases.iter().collect();
    if !sorted.is_empty() {
        sorted.sort_by(|a, b| b.duration.total_cmp(&a.duration));
        out.push_str("## Slowest tests\n\n| seconds | test |\n|---:|---|\n");
        for c in sorted.iter().take(10) {
            let _ = writeln!(out, "| {:.2} | `{}::{}` |", c.duration, c.classname, c.name);
        }
        let mut scopes: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for c in cases {
            let e = scopes.entry(c.classname.as_str()).or_default();
            e.0 += c.duration;
            e.1 += 1;
        }
        let mut scopes: Vec<_> = scopes.into_iter().collect();
        scopes.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
        out.push_str("\n## Slowest scopes\n\n| seconds | tests | scope |\n|---:|---:|---|\n");
        for (scope, (seconds, n)) in scopes.iter().take(5) {
            let _ = writeln!(out, "| {seconds:.2} | {n} | `{scope}` |");
        }
        out.push('\n');
    }
}

/// The last runs of the history as a table (every kind, numbered by their
/// place in the history), and charts of the runs of the current run's kind
/// only (same engine, workers, selection, coverage mode and machine class),
/// labelled by those numbers.
fn render_trend(out: &mut String, records: &[RunRecord], current: &RunRecord, trend: usize) {
    let runs: Vec<(usize, &RunRecord)> = records
        .iter()
        .filter(|r| r.kind == RecordKind::Run)
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect();
    let shown = &runs[runs.len().saturating_sub(trend)..];
    let _ = writeln!(
        out,
        "## Trend\n\nThe last {} of {} runs in the history.\n",
        shown.len(),
        runs.len()
    );
    out.push_str("| # | when | commit | task | engine | workers | tests | failed | wall s | execution s | coverage |\n|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (n, r) in shown {
        let failed = r.counts.failed + r.counts.errors;
        let _ = writeln!(
            out,
            "| {n} | {} | {} | {} | {} | {} | {} | {failed} | {:.1} | {:.1} | {} |",
            if r.timestamp.is_empty() {
                "—"
            } else {
                &r.timestamp
            },
            r.commit.as_deref().unwrap_or("—"),
            if r.task.is_empty() { "—" } else { &r.task },
            r.engine.as_str(),
            r.workers,
            r.tests,
            r.wall,
            r.execution(),
            if r.cov {
                fmt_opt(r.coverage, 2, "%")
            } else {
                "off".to_string()
            },
        );
    }
    let same: Vec<&(usize, &RunRecord)> = runs
        .iter()
        .filter(|(_, r)| std::ptr::eq(*r, current) || r.same_kind(current))
        .collect();
    let same = &same[same.len().saturating_sub(trend)..];
    if same.len() < 2 {
        return;
    }
    let label = |n: &usize| format!("\"#{n}\"");
    let labels: Vec<String> = same.iter().map(|(n, _)| label(n)).collect();
    let walls: Vec<String> = same.iter().map(|(_, r)| format!("{:.1}", r.wall)).collect();
    let execs: Vec<String> = same
        .iter()
        .map(|(_, r)| format!("{:.1}", r.execution()))
        .collect();
    let max = same
        .iter()
        .map(|(_, r)| r.wall)
        .fold(0.0, f64::max)
        .ceil()
        .max(1.0);
    let kind = format!(
        "{} runs, {} worker(s){}",
        current.engine.as_str(),
        current.workers,
        if current.cov { ", with coverage" } else { "" }
    );
    let _ = writeln!(
        out,
        "\nThe charts show the runs of this run's kind ({kind}, the same selection and machine class), numbered as in the table.\n\n```mermaid\nxychart-beta\n    title \"Wall time (bars) and execution phase (line), seconds: {kind}\"\n    x-axis [{}]\n    y-axis \"seconds\" 0 --> {max}\n    bar [{}]\n    line [{}]\n```",
        labels.join(", "),
        walls.join(", "),
        execs.join(", ")
    );
    let covs: Vec<(String, f64)> = same
        .iter()
        .filter_map(|(n, r)| Some((label(n), r.coverage?)))
        .collect();
    if covs.len() >= 2 {
        let min = covs.iter().map(|(_, c)| *c).fold(100.0, f64::min).floor();
        let _ = writeln!(
            out,
            "\n```mermaid\nxychart-beta\n    title \"Merged coverage, percent: {kind}\"\n    x-axis [{}]\n    y-axis \"percent\" {min} --> 100\n    line [{}]\n```",
            covs.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join(", "),
            covs.iter().map(|(_, c)| format!("{c:.2}")).collect::<Vec<_>>().join(", ")
        );
    }
}

/// The triage of the current run: each failed test's class and worker.
fn render_triage(out: &mut String, triage: &RunRecord) {
    let data = triage.triage.clone().unwrap_or_default();
    let classes = Some(&data.classes);
    let rate = triage.triage.as_ref().map(|t| t.rate);
    let _ = writeln!(
        out,
        "## Triage\n\n`cargo xtask triage` ({}) re-ran this run's failures serially: flakiness {}.\n",
        if triage.timestamp.is_empty() {
            "—"
        } else {
            &triage.timestamp
        },
        fmt_opt(rate.map(|r| r * 100.0), 1, "%"),
    );
    match classes.filter(|c| !c.is_empty()) {
        None => out.push_str("No failed tests.\n\n"),
        Some(classes) => {
            out.push_str("| test | class | worker |\n|---|---|---|\n");
            for (test, class) in classes {
                let worker = data.workers.get(test).map_or("—", String::as_str);
                let _ = writeln!(out, "| `{test}` | {class} | {worker} |");
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    fn record(
        task: &str,
        workers: u16,
        wall: f64,
        execution: f64,
        coverage: Option<f64>,
        when: &str,
    ) -> RunRecord {
        RunRecord {
            schema: 1,
            kind: RecordKind::Run,
            timestamp: when.into(),
            commit: Some("0123456789ab".into()),
            branch: Some("main".into()),
            task: task.into(),
            engine: if workers > 1 {
                Execution::Xdist
            } else {
                Execution::Serial
            },
            workers,
            dist: (workers > 1).then(|| "loadscope".into()),
            selection: "sel".into(),
            tests: 3,
            counts: crate::report::Counts {
                passed: 3,
                ..Default::default()
            },
            phases: crate::report::history::Phases(vec![
                ("setup".into(), 0.1),
                ("collection".into(), 1.0),
                ("tests".into(), execution),
                ("coverage".into(), 0.5),
                ("reports".into(), 0.05),
            ]),
            wall,
            cov: coverage.is_some(),
            coverage,
            machine: None,
            efficiency: (workers > 1).then_some(0.8),
            worker_use: if workers > 1 {
                vec![
                    WorkerUse {
                        id: "gw0".into(),
                        tests: 2,
                        busy: 5.0,
                        idle_tail: 0.5,
                    },
                    WorkerUse {
                        id: "gw1".into(),
                        tests: 1,
                        busy: 4.0,
                        idle_tail: 1.5,
                    },
                ]
            } else {
                Vec::new()
            },
            exit: 0,
            triage: None,
            shards: None,
            shadow: None,
        }
    }

    fn cases() -> Vec<TestCase> {
        [
            ("tests.test_a", "test_slow", 4.0),
            ("tests.test_a", "test_fast", 0.1),
            ("tests.test_b.TestX", "test_mid", 2.0),
        ]
        .into_iter()
        .map(|(c, n, d)| TestCase {
            classname: c.into(),
            name: n.into(),
            outcome: Outcome::Passed,
            duration: d,
        })
        .collect()
    }

    #[test]
    fn report_with_baseline_trend_and_utilization() {
        let records = vec![
            record("pytest", 1, 12.0, 10.0, Some(91.5), "2026-01-01T10:00:00Z"),
            record(
                "pytest-parallel",
                2,
                8.0,
                6.5,
                Some(91.5),
                "2026-01-01T10:05:00Z",
            ),
            record(
                "pytest-parallel",
                2,
                7.8,
                6.4,
                Some(92.0),
                "2026-01-01T10:10:00Z",
            ),
        ];
        let text = render(&TimingsInput {
            records: &records,
            cases: &cases(),
            trend: 20,
            regression: 0.25,
            warnings: &[],
        });
        insta::assert_snapshot!(text);
    }

    /// A serial run without coverage is no baseline for a parallel run with
    /// it: the report estimates instead, and says so.
    #[test]
    fn speedups_compare_like_with_like_or_are_labelled_estimates() {
        let serial_plain = record("pytest", 1, 5.0, 4.0, None, "2026-01-01T10:00:00Z");
        let parallel_cov = record("ci", 2, 8.0, 6.5, Some(91.5), "2026-01-01T10:05:00Z");
        let records = vec![serial_plain.clone(), parallel_cov];
        let input = |records| TimingsInput {
            records,
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        };
        let text = render(&input(&records));
        assert!(!text.contains("×0.6"), "{text}");
        assert!(
            text.contains("No speedup figure: no comparable serial run"),
            "{text}"
        );
        assert!(
            text.contains("`PYTEST_WORKERS=1 cargo xtask pytest --cov` records one"),
            "{text}"
        );
        let with_cases = render(&TimingsInput {
            cases: &cases(),
            ..input(&records)
        });
        assert!(
            with_cases.contains("**Speedup** against an *estimated* serial run: ×0.89 wall time (estimate 7.1 s: the sum of this run's 3 test durations, 6.1 s, plus one start-up, 1.0 s)"),
            "{with_cases}"
        );
        // Another machine's serial run is no baseline either.
        let mut elsewhere = record("pytest", 1, 12.0, 10.0, Some(90.0), "t");
        elsewhere.machine = Some(crate::report::history::Machine {
            cpu: "other".into(),
            cpus: 64,
            memory_mib: 1 << 20,
        });
        let records = vec![elsewhere, record("ci", 2, 8.0, 6.5, Some(91.5), "t")];
        assert!(render(&input(&records)).contains("No speedup figure"));
        // The charts show one kind of run, numbered as in the history.
        let records = vec![
            serial_plain,
            record("ci", 2, 8.0, 6.5, Some(91.5), "t"),
            record("ci", 2, 7.0, 6.0, Some(92.0), "t"),
        ];
        let text = render(&input(&records));
        assert!(text.contains("x-axis [\"#2\", \"#3\"]"), "{text}");
        assert!(!text.contains("\"#1\""), "{text}");
    }

    #[test]
    fn a_coverage_drop_is_an_alert_against_the_last_run_of_the_same_kind() {
        let records = vec![
            record("ci", 2, 8.0, 6.5, Some(92.0), "2026-01-01T10:00:00Z"),
            record("pytest", 1, 8.0, 6.5, Some(99.0), "2026-01-01T10:01:00Z"),
            record("ci", 2, 8.0, 6.5, Some(90.5), "2026-01-01T10:02:00Z"),
        ];
        let input = TimingsInput {
            records: &records,
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        };
        let found = alerts(&input, &records[2]);
        assert_eq!(
            found,
            vec![Alert {
                title: "Coverage drop",
                text: "coverage fell from 92.00% to 90.50% since the last comparable run (2026-01-01T10:00:00Z)".into()
            }],
            "the serial run is another kind"
        );
        assert!(render(&input).contains("> **Coverage drop:** coverage fell from 92.00% to 90.50%"));
        assert!(alerts(&input, &records[0]).is_empty());
    }

    #[test]
    fn regression_alert_against_the_median() {
        let mut records: Vec<RunRecord> = (0..5)
            .map(|i| {
                record(
                    "pytest-parallel",
                    2,
                    8.0,
                    6.0 + f64::from(i) * 0.1,
                    None,
                    "t",
                )
            })
            .collect();
        records.push(record(
            "pytest-parallel",
            2,
            12.0,
            9.0,
            None,
            "2026-01-02T00:00:00Z",
        ));
        let text = render(&TimingsInput {
            records: &records,
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        });
        assert!(text.contains("> **Regression:** the execution phase took 9.0 s, 45% slower than the median 6.2 s"), "{text}");
        let calm = render(&TimingsInput {
            records: &records[..5],
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        });
        assert!(!calm.contains("Regression"));
    }

    #[test]
    fn empty_and_damaged_histories_render_with_warnings() {
        let empty = render(&TimingsInput {
            records: &[],
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        });
        assert!(empty.contains("No runs recorded yet"));
        let history = crate::report::history::parse(
            "{\"task\":\"pytest\",\"workers\":1,\"wall\":3.0}\n{broken\n",
            "reports/ci_timings.jsonl",
        );
        let text = render(&TimingsInput {
            records: &history.records,
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &history.warnings,
        });
        insta::assert_snapshot!(text);
    }

    #[test]
    fn a_triage_after_the_run_adds_its_alert_without_becoming_the_run() {
        let mut records = vec![
            record("pytest", 1, 12.0, 10.0, None, "2026-01-01T10:00:00Z"),
            record("pytest-parallel", 2, 8.0, 6.5, None, "2026-01-01T10:05:00Z"),
        ];
        let triage = RunRecord {
            kind: RecordKind::Triage,
            task: "triage".into(),
            timestamp: "2026-01-01T10:06:00Z".into(),
            triage: Some(crate::report::history::Triage {
                alert: Some("flakiness 9.5% is above `flaky.threshold` 5%".into()),
                rate: 0.095,
                classes: [(
                    "tests/test_c.py::test_v".to_string(),
                    "parallel-only".to_string(),
                )]
                .into_iter()
                .collect(),
                workers: [("tests/test_c.py::test_v".to_string(), "gw0".to_string())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            }),
            ..RunRecord::default()
        };
        records.push(triage.clone());
        let text = render(&TimingsInput {
            records: &records,
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        });
        assert!(
            text.contains("`pytest-parallel` · engine `xdist` · 2 workers"),
            "{text}"
        );
        assert!(
            text.contains("> **Flakiness:** flakiness 9.5% is above"),
            "{text}"
        );
        assert!(
            text.contains("| `tests/test_c.py::test_v` | parallel-only | gw0 |"),
            "{text}"
        );
        assert!(text.contains("The last 2 of 2 runs"), "{text}");
        // A later run is not covered by the older triage.
        records.push(record(
            "pytest-parallel",
            2,
            8.0,
            6.5,
            None,
            "2026-01-01T11:00:00Z",
        ));
        let text = render(&TimingsInput {
            records: &records,
            cases: &[],
            trend: 20,
            regression: 0.25,
            warnings: &[],
        });
        assert!(
            !text.contains("Flakiness") && !text.contains("## Triage"),
            "{text}"
        );
    }

    #[test]
    fn phase_lines_follow_each_other_from_the_start() {
        let text = phase_lines(&[("setup", 1.0), ("tests", 2.5)], 100.0, 2, 7);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l.strip_prefix("xtask-phase ").unwrap()).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[1]["phase"].as_str(),
                lines[1]["start"].as_f64(),
                lines[1]["end"].as_f64()
            ),
            (Some("tests"), Some(101.0), Some(103.5))
        );
        assert_eq!(
            (lines[0]["workers"].as_u64(), lines[0]["tests"].as_u64()),
            (Some(2), Some(7))
        );
    }

    #[test]
    fn utilization_counts_idle_workers() {
        let mut state = RunState::default();
        for (id, worker, start, stop) in [("a", "gw0", 100.0, 101.0), ("b", "gw0", 101.0, 103.0)] {
            let line = format!(
                "{{\"e\":\"test\",\"id\":\"{id}\",\"outcome\":\"passed\",\"dur\":{},\"start\":{start},\"stop\":{stop},\"worker\":\"{worker}\"}}",
                stop - start
            );
            state.apply(0, &crate::events::parse_line(&line).unwrap());
        }
        let (efficiency, uses) = utilization(&state, 2);
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[1].id, "gw1");
        assert_eq!(uses[1].tests, 0);
        assert!((efficiency.unwrap() - 0.5).abs() < 1e-9, "{efficiency:?}");
    }
}
