//! Consumers of run events: the per-test aggregate ([`RunState`]), the
//! progress display, and the final summary. None of them runs pytest.

pub mod history;
pub mod progress;
pub mod summary;
pub mod timings;

use std::collections::HashMap;

use crate::python::reportlog::{Event, Phase, RawOutcome, TestReport};

/// A test's final outcome, combining its setup, call and teardown phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
    XFailed,
    XPassed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::XFailed => "xfailed",
            Outcome::XPassed => "xpassed",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }
}

/// Everything known about one test after the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub nodeid: String,
    pub outcome: Outcome,
    /// Setup + call + teardown seconds.
    pub duration: f64,
    pub worker: Option<String>,
    pub item_index: Option<u64>,
    pub start: Option<f64>,
    pub stop: Option<f64>,
    pub message: Option<String>,
    pub longrepr: Option<String>,
    /// Its process died while running it.
    pub crashed: bool,
    /// How many worker processes died running it (xdist may retry a crashed scope).
    pub crashes: usize,
    /// All its phases have been reported.
    pub done: bool,
}

/// Totals per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub xfailed: usize,
    pub xpassed: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.errors + self.skipped + self.xfailed + self.xpassed
    }

    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::XFailed => self.xfailed += 1,
            Outcome::XPassed => self.xpassed += 1,
        }
    }

    /// `12 passed, 1 failed, 2 skipped` (zero counts left out but passed/failed).
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("{} passed", self.passed),
            format!("{} failed", self.failed),
        ];
        for (n, label) in [
            (self.errors, "errors"),
            (self.skipped, "skipped"),
            (self.xfailed, "xfailed"),
            (self.xpassed, "xpassed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        }
        parts.join(", ")
    }
}

/// A collector that failed (import error, syntax error, …).
#[derive(Debug, Clone, PartialEq)]
pub struct CollectError {
    pub nodeid: String,
    pub message: String,
    pub longrepr: String,
}

/// The aggregate of a run's events.
#[derive(Debug, Default)]
pub struct RunState {
    pub tests: Vec<TestResult>,
    index: HashMap<String, usize>,
    pub collect_errors: Vec<CollectError>,
    /// Items pytest said it collected, when it said so.
    pub collected: Option<usize>,
    pub session_exit: Option<i64>,
    pub session_started: bool,
}

impl RunState {
    /// The aggregate of a whole report log's text (lines that are not JSON are skipped).
    pub fn from_log(text: &str) -> RunState {
        let mut state = RunState::default();
        for event in text
            .lines()
            .filter_map(crate::python::reportlog::parse_line)
        {
            state.apply(&event);
        }
        state
    }

    /// Applies one event; returns the test it finished, if any.
    pub fn apply(&mut self, event: &Event) -> Option<&TestResult> {
        match event {
            Event::SessionStart => self.session_started = true,
            Event::SessionFinish { exitstatus } => self.session_exit = Some(*exitstatus),
            Event::CollectError {
                nodeid,
                message,
                longrepr,
            } => {
                if !self.collect_errors.iter().any(|e| &e.nodeid == nodeid) {
                    self.collect_errors.push(CollectError {
                        nodeid: nodeid.clone(),
                        message: message.clone(),
                        longrepr: longrepr.clone(),
                    });
                }
            }
            Event::Test(report) => return self.apply_test(report),
            Event::Other => {}
        }
        None
    }

    fn apply_test(&mut self, r: &TestReport) -> Option<&TestResult> {
        let idx = *self.index.entry(r.nodeid.clone()).or_insert_with(|| {
            self.tests.push(TestResult {
                nodeid: r.nodeid.clone(),
                outcome: Outcome::Passed,
                duration: 0.0,
                worker: None,
                item_index: None,
                start: None,
                stop: None,
                message: None,
                longrepr: None,
                crashed: false,
                crashes: 0,
                done: false,
            });
            self.tests.len() - 1
        });
        let t = &mut self.tests[idx];
        t.duration += r.duration;
        t.worker = r.worker.clone().or(t.worker.take());
        t.item_index = r.item_index.or(t.item_index);
        t.start = match (t.start, r.start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        t.stop = match (t.stop, r.stop) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let set_failure = |t: &mut TestResult| {
            t.message = r.message.clone();
            t.longrepr = r.longrepr.clone();
        };
        match (r.phase, r.outcome) {
            (Phase::Setup, RawOutcome::Failed) => {
                t.outcome = Outcome::Error;
                set_failure(t);
            }
            (Phase::Setup | Phase::Call, RawOutcome::Skipped) => {
                t.outcome = if r.wasxfail {
                    Outcome::XFailed
                } else {
                    Outcome::Skipped
                };
                t.message = r.message.clone();
            }
            (Phase::Call, RawOutcome::Passed) => {
                t.outcome = if r.wasxfail {
                    Outcome::XPassed
                } else {
                    Outcome::Passed
                }
            }
            (Phase::Call, RawOutcome::Failed) => {
                t.outcome = Outcome::Failed;
                set_failure(t);
            }
            (Phase::Teardown, RawOutcome::Failed) if !t.outcome.is_failure() => {
                t.outcome = Outcome::Error;
                set_failure(t);
            }
            (Phase::Crash, _) => {
                t.outcome = Outcome::Failed;
                t.crashed = true;
                t.crashes += 1;
                set_failure(t);
            }
            _ => {}
        }
        let finished = matches!(r.phase, Phase::Teardown | Phase::Crash) && !t.done;
        if finished {
            t.done = true;
        }
        finished.then_some(&self.tests[idx])
    }

    /// Marks the tests that started but never finished as crashed: their
    /// process died under them.
    pub fn mark_unfinished_crashed(&mut self, why: &str) -> Vec<String> {
        let mut names = Vec::new();
        for t in self.tests.iter_mut().filter(|t| !t.done) {
            t.done = true;
            t.crashed = true;
            t.crashes += 1;
            t.outcome = Outcome::Failed;
            t.message = Some(why.to_string());
            names.push(t.nodeid.clone());
        }
        names
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for t in self.tests.iter().filter(|t| t.done) {
            counts.add(t.outcome);
        }
        counts
    }

    pub fn done(&self) -> usize {
        self.tests.iter().filter(|t| t.done).count()
    }

    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.tests
            .iter()
            .filter(|t| t.done && t.outcome.is_failure())
    }

    /// The `n` slowest finished tests, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<&TestResult> {
        let mut tests: Vec<&TestResult> = self.tests.iter().filter(|t| t.done).collect();
        tests.sort_by(|a, b| {
            b.duration
                .total_cmp(&a.duration)
                .then_with(|| a.nodeid.cmp(&b.nodeid))
        });
        tests.truncate(n);
        tests
    }
}

/// One process's finished tests in a run (an xdist worker, a shard, or
/// `main`), from the report log's start/stop stamps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub tests: usize,
    /// The tests' own seconds (setup + call + teardown).
    pub busy: f64,
    pub first_start: f64,
    pub last_stop: f64,
}

impl RunState {
    /// Per process, its finished, stamped tests; `crashed_too` counts the
    /// tests its process died running.
    pub fn spans(&self, crashed_too: bool) -> std::collections::BTreeMap<String, Span> {
        let mut per = std::collections::BTreeMap::new();
        for t in self
            .tests
            .iter()
            .filter(|t| t.done && (crashed_too || !t.crashed))
        {
            let (Some(start), Some(stop)) = (t.start, t.stop) else {
                continue;
            };
            let span = per
                .entry(t.worker.clone().unwrap_or_else(|| "main".into()))
                .or_insert(Span {
                    tests: 0,
                    busy: 0.0,
                    first_start: f64::INFINITY,
                    last_stop: f64::NEG_INFINITY,
                });
            span.tests += 1;
            span.busy += t.duration;
            span.first_start = span.first_start.min(start);
            span.last_stop = span.last_stop.max(stop);
        }
        per
    }

    /// What a finished run says of its own overheads: when its tests started
    /// (the first test, or with `latest_start` the latest first test of any
    /// process: with static shards the slowest start delays the whole run),
    /// and the time the processes spent between their tests, per test (only
    /// from 20 tests on).
    pub fn measured_overhead(&self, latest_start: bool) -> Option<(f64, Option<f64>)> {
        let spans = self.spans(false);
        let firsts = spans.values().map(|s| s.first_start);
        let startup = if latest_start {
            firsts.reduce(f64::max)?
        } else {
            firsts.reduce(f64::min)?
        };
        let tests: usize = spans.values().map(|s| s.tests).sum();
        let between: f64 = spans
            .values()
            .map(|s| (s.last_stop - s.first_start - s.busy).max(0.0))
            .sum();
        Some((startup, (tests >= 20).then(|| between / tests as f64)))
    }
}

/// Reads pytest's "collected N items" / "N workers [M items]" lines.
pub fn collected_from_output(line: &str) -> Option<usize> {
    let line = line.trim();
    let number_before = |text: &str, marker: &str| -> Option<usize> {
        let pos = text.find(marker)?;
        text[..pos]
            .split(|c: char| !c.is_ascii_digit())
            .rfind(|s| !s.is_empty())?
            .parse()
            .ok()
    };
    if line.starts_with("collected ") || line.starts_with("collecting ...") {
        return number_before(line, " item");
    }
    if line.contains(" workers [") || line.contains(" worker [") {
        return number_before(line, " item");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::reportlog::parse_line;

    #[test]
    fn overheads_come_from_first_starts_and_gaps_between_tests() {
        let mut state = RunState::default();
        for (i, worker) in ["gw0", "gw1"].iter().enumerate() {
            for t in 0..20 {
                // Tests of 0.1 s with 0.01 s between them; gw1 starts 0.5 s later.
                let start = 100.0 + 0.5 * i as f64 + 0.11 * t as f64;
                for (when, from, to) in [
                    ("setup", start, start),
                    ("call", start, start + 0.1),
                    ("teardown", start + 0.1, start + 0.1),
                ] {
                    let line = format!(
                        r#"{{"nodeid":"t.py::{worker}_{t}","when":"{when}","outcome":"passed","duration":{},"start":{from},"stop":{to},"worker_id":"{worker}","$report_type":"TestReport"}}"#,
                        to - from
                    );
                    state.apply(&parse_line(&line).expect("a test report"));
                }
            }
        }
        let (first, per_test) = state.measured_overhead(false).expect("measured");
        assert!((first - 100.0).abs() < 1e-9);
        let (latest, _) = state.measured_overhead(true).expect("measured");
        assert!((latest - 100.5).abs() < 1e-9);
        let per_test = per_test.expect("40 tests are enough");
        assert!((per_test - 0.0095).abs() < 1e-6, "{per_test}");
    }

    #[test]
    fn collected_lines() {
        assert_eq!(collected_from_output("collected 185 items"), Some(185));
        assert_eq!(collected_from_output("collected 1 item"), Some(1));
        assert_eq!(
            collected_from_output("collected 20 items / 2 errors"),
            Some(20)
        );
        assert_eq!(collected_from_output("2 workers [185 items]"), Some(185));
        assert_eq!(collected_from_output("tests/test_a.py ..."), None);
    }

    #[test]
    fn phases_combine_into_outcomes() {
        let mut state = RunState::default();
        let lines = [
            r#"{"nodeid":"a::ok","when":"setup","outcome":"passed","duration":0.1,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::ok","when":"call","outcome":"passed","duration":0.2,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::ok","when":"teardown","outcome":"passed","duration":0.1,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::bad","when":"setup","outcome":"passed","duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::bad","when":"call","outcome":"failed","duration":0,"longrepr":"boom","$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::bad","when":"teardown","outcome":"passed","duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::xf","when":"setup","outcome":"passed","duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::xf","when":"call","outcome":"skipped","wasxfail":"","longrepr":["a",1,"x"],"duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::xf","when":"teardown","outcome":"passed","duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::err","when":"setup","outcome":"failed","longrepr":"fixture","duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::err","when":"teardown","outcome":"passed","duration":0,"$report_type":"TestReport"}"#,
            r#"{"nodeid":"a::hang","when":"setup","outcome":"passed","duration":0,"$report_type":"TestReport"}"#,
        ];
        for line in lines {
            state.apply(&parse_line(line).unwrap());
        }
        assert_eq!(state.done(), 4);
        let crashed = state.mark_unfinished_crashed("pytest exited");
        assert_eq!(crashed, vec!["a::hang".to_string()]);
        let counts = state.counts();
        assert_eq!(
            (counts.passed, counts.failed, counts.errors, counts.xfailed),
            (1, 2, 1, 1)
        );
        assert!((state.tests[0].duration - 0.4).abs() < 1e-9);
        assert_eq!(state.slowest(1)[0].nodeid, "a::ok");
    }
}
