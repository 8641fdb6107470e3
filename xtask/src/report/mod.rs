//! Consumers of run events: the per-test aggregate ([`RunState`]), the
//! progress display, and the final summary. None of them runs pytest.

pub mod eta;
pub mod history;
pub mod merge;
pub mod progress;
pub mod summary;
pub mod timings;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::events::{self, CollectError, Collected, Event, Finish, Start, Subtest, SubtestCounts};

pub use crate::events::Outcome;
pub use history::Counts;

/// Everything known about one test after the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub nodeid: String,
    pub outcome: Outcome,
    /// Setup + call + teardown seconds.
    pub duration: f64,
    pub worker: Option<String>,
    /// The process of the run that reported it (0 for one pytest process).
    pub process: usize,
    pub start: Option<f64>,
    pub stop: Option<f64>,
    pub message: Option<String>,
    pub longrepr: Option<String>,
    /// Its process died while running it.
    pub crashed: bool,
    /// How many worker processes died running it (xdist may retry a crashed scope).
    pub crashes: usize,
    /// Its subtests that did not pass, each with its own report.
    pub subtests: Vec<Subtest>,
    pub subtest_counts: SubtestCounts,
}

/// What one pytest process of a run said about its session.
#[derive(Debug, Clone, Default)]
pub struct Process {
    pub start: Option<Start>,
    /// Its collection, or each xdist worker's.
    pub collections: Vec<Collected>,
    pub finish: Option<Finish>,
    /// xdist workers that died: (worker, error).
    pub workers_down: Vec<(String, String)>,
    pub internal_errors: Vec<String>,
}

impl Process {
    /// What this process's session collected: its own list, or (under
    /// xdist, where every worker collects the whole suite) the first worker's.
    pub fn collected(&self) -> Option<&Collected> {
        self.collections.first()
    }
}

/// The aggregate of a run's events, from one pytest process or several.
#[derive(Debug, Default)]
pub struct RunState {
    /// Every test that ended, in the order its event arrived.
    pub tests: Vec<TestResult>,
    index: HashMap<String, usize>,
    pub collect_errors: Vec<CollectError>,
    pub processes: Vec<Process>,
    /// Subtest reports wait here for their test's own event.
    pending_subtests: HashMap<String, Vec<Subtest>>,
    /// The tests a selection asked for (collected by the xtask beforehand):
    /// what the count invariant holds such a run to, instead of what its
    /// processes found.
    pub expected: Option<Vec<String>>,
}

impl RunState {
    /// The aggregate of a whole stream, which may hold several processes'
    /// sessions one after another (a merged shards run): each `start` opens
    /// the next process.
    pub fn from_events(events: impl IntoIterator<Item = Event>) -> RunState {
        let mut state = RunState::default();
        let mut process = None::<usize>;
        for event in events {
            if matches!(event, Event::Start(_)) {
                process = Some(process.map_or(0, |p| p + 1));
            }
            state.apply(process.unwrap_or(0), &event);
        }
        state
    }

    /// The aggregate of a stream file (missing: empty).
    pub fn read(path: &std::path::Path) -> RunState {
        RunState::from_events(events::read(path))
    }

    fn process_mut(&mut self, process: usize) -> &mut Process {
        if self.processes.len() <= process {
            self.processes.resize_with(process + 1, Process::default);
        }
        &mut self.processes[process]
    }

    /// Applies one event of process `process`; returns the test it ended, if any.
    pub fn apply(&mut self, process: usize, event: &Event) -> Option<&TestResult> {
        match event {
            Event::Start(start) => self.process_mut(process).start = Some(start.clone()),
            Event::Collected(collected) => self
                .process_mut(process)
                .collections
                .push(collected.clone()),
            Event::CollectError(error) => {
                if !self.collect_errors.iter().any(|e| e.id == error.id) {
                    self.collect_errors.push(error.clone());
                }
            }
            Event::Subtest(subtest) => self
                .pending_subtests
                .entry(subtest.id.clone())
                .or_default()
                .push(subtest.clone()),
            Event::WorkerDown(down) => self
                .process_mut(process)
                .workers_down
                .push((down.worker.clone(), down.error.clone())),
            Event::InternalError { text } => {
                self.process_mut(process).internal_errors.push(text.clone())
            }
            Event::Finish(finish) => self.process_mut(process).finish = Some(finish.clone()),
            Event::Test(test) => return Some(self.apply_test(process, test)),
            Event::Begin(_) | Event::Service(_) | Event::Unknown => {}
        }
        None
    }

    fn apply_test(&mut self, process: usize, e: &events::TestEvent) -> &TestResult {
        let subtests = self.pending_subtests.remove(&e.id).unwrap_or_default();
        let result = TestResult {
            nodeid: e.id.clone(),
            outcome: e.outcome,
            duration: e.dur,
            worker: e.worker.clone(),
            process,
            start: e.start,
            stop: e.stop,
            message: e.msg.clone(),
            longrepr: e.text.clone(),
            crashed: e.crashed,
            crashes: usize::from(e.crashed),
            subtests,
            subtest_counts: e.sub.unwrap_or_default(),
        };
        let idx = match self.index.get(&e.id) {
            // xdist re-runs a crashed worker's scope: the last report counts.
            Some(&idx) => {
                let crashes = self.tests[idx].crashes;
                self.tests[idx] = TestResult {
                    crashes: crashes + result.crashes,
                    ..result
                };
                idx
            }
            None => {
                self.index.insert(e.id.clone(), self.tests.len());
                self.tests.push(result);
                self.tests.len() - 1
            }
        };
        &self.tests[idx]
    }

    /// The collected node ids of the whole run, in order: each process's
    /// own collection, one after another (the shards engine's processes
    /// collect disjoint shares). `None` when no process reported one.
    pub fn collected(&self) -> Option<Vec<&str>> {
        if let Some(expected) = &self.expected {
            return Some(expected.iter().map(String::as_str).collect());
        }
        let lists: Vec<&Collected> = self
            .processes
            .iter()
            .filter_map(Process::collected)
            .collect();
        if lists.is_empty() {
            return None;
        }
        Some(
            lists
                .iter()
                .flat_map(|c| c.ids.iter().map(String::as_str))
                .collect(),
        )
    }

    /// How many tests the run collected, when known.
    pub fn collected_count(&self) -> Option<usize> {
        if let Some(expected) = &self.expected {
            return Some(expected.len());
        }
        self.processes
            .iter()
            .filter_map(Process::collected)
            .map(|c| c.ids.len())
            .reduce(|a, b| a + b)
    }

    /// Items deselected by the selection, over every process.
    pub fn deselected(&self) -> usize {
        self.processes
            .iter()
            .filter_map(Process::collected)
            .map(|c| c.deselected)
            .sum()
    }

    /// Collected tests that never ended, in collection order.
    pub fn not_run(&self) -> Vec<&str> {
        self.collected()
            .unwrap_or_default()
            .into_iter()
            .filter(|id| !self.index.contains_key(*id))
            .collect()
    }

    /// xdist workers that collected other tests than the first worker:
    /// (worker, first ids only it has, first ids only the first has).
    pub fn collection_mismatches(&self) -> Vec<(String, Vec<String>, Vec<String>)> {
        let mut out = Vec::new();
        for process in &self.processes {
            let Some((first, rest)) = process.collections.split_first() else {
                continue;
            };
            let base: HashSet<&str> = first.ids.iter().map(String::as_str).collect();
            for other in rest {
                if other.ids == first.ids {
                    continue;
                }
                let theirs: HashSet<&str> = other.ids.iter().map(String::as_str).collect();
                let only = |a: &[String], b: &HashSet<&str>| -> Vec<String> {
                    a.iter()
                        .filter(|id| !b.contains(id.as_str()))
                        .take(5)
                        .cloned()
                        .collect()
                };
                out.push((
                    other.worker.clone().unwrap_or_default(),
                    only(&other.ids, &base),
                    only(&first.ids, &theirs),
                ));
            }
        }
        out
    }

    /// Every process reported the end of its session.
    pub fn sessions_finished(&self) -> bool {
        !self.processes.is_empty() && self.processes.iter().all(|p| p.finish.is_some())
    }

    /// The rootdir pytest chose (node ids are relative to it).
    pub fn rootdir(&self) -> Option<&str> {
        self.processes
            .iter()
            .find_map(|p| p.start.as_ref())
            .map(|s| s.rootdir.as_str())
    }

    /// Marks `ids` as crashed: their process died before they ended.
    pub fn mark_crashed(&mut self, process: usize, ids: &[String], why: &str) {
        for id in ids {
            let event = events::TestEvent {
                id: id.clone(),
                outcome: Outcome::Failed,
                dur: 0.0,
                start: None,
                stop: None,
                worker: None,
                msg: Some(why.to_string()),
                text: None,
                crashed: true,
                sub: None,
            };
            self.apply_test(process, &event);
        }
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for t in &self.tests {
            counts.add(t.outcome);
        }
        counts
    }

    /// How many tests ended.
    pub fn done(&self) -> usize {
        self.tests.len()
    }

    pub fn failures(&self) -> impl Iterator<Item = &TestResult> {
        self.tests.iter().filter(|t| t.outcome.is_failure())
    }

    /// The `n` slowest finished tests, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<&TestResult> {
        let mut tests: Vec<&TestResult> = self.tests.iter().collect();
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
/// `main`), from the events' start/stop stamps.
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
    pub fn spans(&self, crashed_too: bool) -> BTreeMap<String, Span> {
        let mut per = BTreeMap::new();
        for t in self.tests.iter().filter(|t| crashed_too || !t.crashed) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_all;

    fn test_line(id: &str, outcome: &str, extra: &str) -> String {
        format!(r#"{{"e":"test","id":"{id}","outcome":"{outcome}","dur":0.1{extra}}}"#)
    }

    #[test]
    fn overheads_come_from_first_starts_and_gaps_between_tests() {
        let mut lines = String::new();
        for (i, worker) in ["gw0", "gw1"].iter().enumerate() {
            for t in 0..20 {
                // Tests of 0.1 s with 0.01 s between them; gw1 starts 0.5 s later.
                let start = 100.0 + 0.5 * i as f64 + 0.11 * t as f64;
                lines.push_str(&test_line(
                    &format!("t.py::{worker}_{t}"),
                    "passed",
                    &format!(
                        r#","start":{start},"stop":{},"worker":"{worker}""#,
                        start + 0.1
                    ),
                ));
                lines.push('\n');
            }
        }
        let state = RunState::from_events(parse_all(&lines));
        let (first, per_test) = state.measured_overhead(false).expect("measured");
        assert!((first - 100.0).abs() < 1e-9);
        let (latest, _) = state.measured_overhead(true).expect("measured");
        assert!((latest - 100.5).abs() < 1e-9);
        let per_test = per_test.expect("40 tests are enough");
        assert!((per_test - 0.0095).abs() < 1e-6, "{per_test}");
    }

    #[test]
    fn collection_outcomes_and_the_tests_that_never_ended() {
        let text = [
            r#"{"e":"start","v":1,"rootdir":"/p"}"#.to_string(),
            r#"{"e":"collected","ids":["a::ok","a::bad","a::sub","a::hang"]}"#.to_string(),
            test_line("a::ok", "passed", ""),
            test_line("a::bad", "failed", r#","msg":"a.py:3: boom""#),
            r#"{"e":"subtest","id":"a::sub","desc":"(i=1)","outcome":"failed"}"#.to_string(),
            test_line("a::sub", "failed", r#","sub":{"passed":2,"failed":1}"#),
        ]
        .join("\n");
        let mut state = RunState::from_events(parse_all(&text));
        assert_eq!(state.collected_count(), Some(4));
        assert_eq!(state.not_run(), vec!["a::hang"]);
        assert_eq!(state.rootdir(), Some("/p"));
        assert!(!state.sessions_finished());
        let sub = &state.tests[2];
        assert_eq!((sub.subtests.len(), sub.subtest_counts.passed), (1, 2));
        state.mark_crashed(0, &["a::hang".to_string()], "pytest died");
        assert!(state.not_run().is_empty());
        let counts = state.counts();
        assert_eq!((counts.passed, counts.failed), (1, 3));
        assert_eq!(state.failures().filter(|t| t.crashed).count(), 1);
    }

    #[test]
    fn processes_collect_shares_and_xdist_workers_collect_copies() {
        // Two shard processes, one after another in a merged stream.
        let shards = [
            r#"{"e":"start","worker":"gw0"}"#,
            r#"{"e":"collected","worker":"gw0","ids":["a::1","a::2"]}"#,
            r#"{"e":"finish","exit":0}"#,
            r#"{"e":"start","worker":"gw1"}"#,
            r#"{"e":"collected","worker":"gw1","ids":["b::1"]}"#,
            r#"{"e":"finish","exit":0}"#,
        ]
        .join("\n");
        let state = RunState::from_events(parse_all(&shards));
        assert_eq!(state.collected(), Some(vec!["a::1", "a::2", "b::1"]));
        assert!(state.sessions_finished());
        // One xdist controller whose workers disagree.
        let xdist = [
            r#"{"e":"start","xdist":true,"workers":2}"#,
            r#"{"e":"collected","worker":"gw0","ids":["a::1","a::2"]}"#,
            r#"{"e":"collected","worker":"gw1","ids":["a::2","a::3"]}"#,
        ]
        .join("\n");
        let state = RunState::from_events(parse_all(&xdist));
        assert_eq!(state.collected_count(), Some(2));
        assert_eq!(
            state.collection_mismatches(),
            vec![(
                "gw1".to_string(),
                vec!["a::3".to_string()],
                vec!["a::1".to_string()]
            )]
        );
    }
}

/// Prints an annotation for each of the run's first 50 failures (GitHub
/// shows no more per step).
pub fn annotate_failures(state: &RunState, root: &std::path::Path) {
    let rootdir = state
        .rootdir()
        .map_or_else(|| root.to_path_buf(), std::path::PathBuf::from);
    for test in state.failures().take(50) {
        eprintln!("{}", annotation(test, root, &rootdir));
    }
}

/// A GitHub Actions annotation for a failed test: on the file and line where
/// it failed (from its event's one-line message, `path:line: text`, else its
/// node id's file), relative to the project root.
pub fn annotation(test: &TestResult, root: &std::path::Path, rootdir: &std::path::Path) -> String {
    let escape_data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let escape_property = |s: &str| escape_data(s).replace(':', "%3A").replace(',', "%2C");
    let located = test.message.as_deref().and_then(|m| {
        let mut search = 0;
        while let Some(i) = m[search..].find(':').map(|i| i + search) {
            let rest = &m[i + 1..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 && rest[digits..].starts_with(':') {
                return Some((&m[..i], &rest[..digits], rest[digits + 1..].trim()));
            }
            search = i + 1;
        }
        None
    });
    let (file, line, text) = match located {
        Some((file, line, text)) => (file.to_string(), Some(line), text.to_string()),
        None => (
            test.nodeid
                .split("::")
                .next()
                .unwrap_or_default()
                .to_string(),
            None,
            test.message.clone().unwrap_or_default(),
        ),
    };
    let absolute = rootdir.join(&file);
    let file = absolute
        .strip_prefix(root)
        .map_or(file.clone(), |p| p.display().to_string());
    let what = if test.crashed { "CRASHED" } else { "FAILED" };
    format!(
        "::error file={},{}title={}::{}",
        escape_property(&file),
        line.map(|l| format!("line={l},")).unwrap_or_default(),
        escape_property(&format!("{what} {}", test.nodeid)),
        escape_data(if text.is_empty() { what } else { &text })
    )
}

#[cfg(test)]
mod annotation_tests {
    use super::*;
    use std::path::Path;

    fn failed(id: &str, message: Option<&str>) -> TestResult {
        TestResult {
            nodeid: id.into(),
            outcome: Outcome::Failed,
            duration: 0.0,
            worker: None,
            process: 0,
            start: None,
            stop: None,
            message: message.map(str::to_string),
            longrepr: None,
            crashed: false,
            crashes: 0,
            subtests: Vec::new(),
            subtest_counts: Default::default(),
        }
    }

    #[test]
    fn annotations_point_at_the_failing_line() {
        let root = Path::new("/repo");
        let test = failed(
            "tests/test_a.py::test_x[a,b]",
            Some("/repo/tests/test_a.py:12: AssertionError: 1 != 2\nmore"),
        );
        assert_eq!(
            annotation(&test, root, root),
            "::error file=tests/test_a.py,line=12,title=FAILED tests/test_a.py%3A%3Atest_x[a%2Cb]::AssertionError: 1 != 2%0Amore"
        );
        let bare = failed("pkg/tests/test_b.py::test_y", None);
        assert_eq!(
            annotation(&bare, root, &root.join("pkg")),
            "::error file=pkg/pkg/tests/test_b.py,title=FAILED pkg/tests/test_b.py%3A%3Atest_y::FAILED"
        );
    }
}
