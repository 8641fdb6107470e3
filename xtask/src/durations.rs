//! `reports/durations.json`: how long each test takes, smoothed across runs,
//! plus the measured per-process start-up cost. Plans and simulations read
//! it; every run updates it; CI carries it along with the timing history.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsx;

pub const FILE_NAME: &str = "durations.json";
const VERSION: u32 = 1;
/// No figure of a test or a start-up is longer than a day.
const MAX_SECONDS: f64 = 86_400.0;
/// Weight of the newest measurement in the smoothed value.
const ALPHA: f64 = 0.5;

/// Measured fixed costs, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overhead {
    /// One plain pytest process: start-up and collection before the first test.
    pub process: Option<f64>,
    /// An xdist run: controller and workers started, tests collected in every worker.
    pub xdist: Option<f64>,
    /// The shards engine: K plain pytest processes started at once, until
    /// the last of them starts its first test.
    pub shards: Option<f64>,
    /// A plain pytest process's own time per test, between tests (hooks,
    /// reports), from serial and shards runs.
    pub per_test: Option<f64>,
    /// An xdist worker's time per test between tests (its own hooks and
    /// reports, plus the round trips to the controller).
    pub xdist_per_test: Option<f64>,
}

/// How a run measured its overheads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Serial,
    Xdist,
    Shards,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Durations {
    pub version: u32,
    /// Runs folded into these figures.
    pub runs: u32,
    /// Node id (relative to the project root) → smoothed seconds.
    pub tests: BTreeMap<String, f64>,
    /// Module → total seconds of its tests (derived, for people and plans).
    pub scopes: BTreeMap<String, f64>,
    /// Overheads measured by runs without coverage.
    pub overhead: Overhead,
    /// Overheads measured by runs with coverage: tracing slows start-up and
    /// every test, so the two are kept apart and an engine's prediction is
    /// only compared with another's measured in the same mode.
    pub coverage_overhead: Overhead,
}

/// Node ids as recorded anywhere, made relative to the project root.
pub fn normalize(nodeid: &str) -> String {
    // Only the file part: test names may contain escaped characters like `\t`.
    let (path, rest) = match nodeid.find("::") {
        Some(i) => nodeid.split_at(i),
        None => (nodeid, ""),
    };
    let path = path.replace('\\', "/");
    format!("{}{rest}", path.strip_prefix("./").unwrap_or(&path))
}

/// The module part of a node id (`tests/test_a.py::TestX::t` → `tests/test_a.py`).
pub fn module_of(nodeid: &str) -> &str {
    nodeid.split("::").next().unwrap_or(nodeid)
}

fn smooth(old: Option<f64>, new: f64) -> f64 {
    match old {
        Some(old) => old * (1.0 - ALPHA) + new * ALPHA,
        None => new,
    }
}

impl Durations {
    /// Reads the store; a missing or unreadable file gives an empty store and a warning.
    pub fn load(path: &Path) -> (Durations, Option<String>) {
        match std::fs::read_to_string(path) {
            Err(_) => (
                Durations::default(),
                Some(format!(
                    "no durations recorded in `{}` yet: test counts stand in",
                    path.display()
                )),
            ),
            Ok(text) => match serde_json::from_str::<Durations>(&text) {
                Ok(mut d) => {
                    let dropped = d.drop_impossible();
                    let warning = (!dropped.is_empty()).then(|| {
                        format!(
                            "`{}`: ignored {} impossible figure(s) (not a number of seconds from 0 to a day): {}",
                            path.display(),
                            dropped.len(),
                            dropped.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                        )
                    });
                    (d, warning)
                }
                Err(e) => (
                    Durations::default(),
                    Some(format!(
                        "`{}` is corrupt ({e}): test counts stand in; the next run rewrites it",
                        path.display()
                    )),
                ),
            },
        }
    }

    /// Removes figures no run can have measured (negative, not finite, or
    /// over a day), so plans and predictions stay finite; returns what went.
    pub fn drop_impossible(&mut self) -> Vec<String> {
        let possible = |s: f64| s.is_finite() && (0.0..=MAX_SECONDS).contains(&s);
        let show = |s: f64| {
            if s.abs() >= 1e6 {
                format!("{s:e}")
            } else {
                format!("{s}")
            }
        };
        let mut dropped = Vec::new();
        self.tests.retain(|id, s| {
            let keep = possible(*s);
            if !keep {
                dropped.push(format!("`{id}` = {}", show(*s)));
            }
            keep
        });
        for (kind, o) in [
            ("overhead", &mut self.overhead),
            ("coverage_overhead", &mut self.coverage_overhead),
        ] {
            for (name, slot) in [
                ("process", &mut o.process),
                ("xdist", &mut o.xdist),
                ("shards", &mut o.shards),
                ("per_test", &mut o.per_test),
                ("xdist_per_test", &mut o.xdist_per_test),
            ] {
                if let Some(s) = slot.filter(|s| !possible(*s)) {
                    dropped.push(format!("`{kind}.{name}` = {}", show(s)));
                    *slot = None;
                }
            }
        }
        dropped
    }

    pub fn save(&mut self, path: &Path) -> anyhow::Result<()> {
        self.version = VERSION;
        self.scopes.clear();
        for (id, secs) in &self.tests {
            *self.scopes.entry(module_of(id).to_string()).or_default() += secs;
        }
        fsx::atomic_write(path, serde_json::to_string_pretty(self)? + "\n")
    }

    /// Folds one run's measured durations in.
    pub fn record(&mut self, measured: impl IntoIterator<Item = (String, f64)>) {
        for (id, secs) in measured {
            let id = normalize(&id);
            let old = self.tests.get(&id).copied();
            self.tests.insert(id, smooth(old, secs.max(0.0)));
        }
        self.runs += 1;
    }

    /// The overheads measured by runs with coverage, or by runs without.
    pub fn overheads(&self, coverage: bool) -> &Overhead {
        if coverage {
            &self.coverage_overhead
        } else {
            &self.overhead
        }
    }

    /// Folds one run's start-up (until its first test, or for shards until
    /// the last process's first test) and its time per test between tests in,
    /// among the overheads of runs with or without coverage.
    pub fn record_overhead(
        &mut self,
        kind: RunKind,
        coverage: bool,
        startup: f64,
        per_test: Option<f64>,
    ) {
        let o = if coverage {
            &mut self.coverage_overhead
        } else {
            &mut self.overhead
        };
        let (start_slot, per_test_slot) = match kind {
            RunKind::Serial => (&mut o.process, &mut o.per_test),
            RunKind::Xdist => (&mut o.xdist, &mut o.xdist_per_test),
            RunKind::Shards => (&mut o.shards, &mut o.per_test),
        };
        *start_slot = Some(smooth(*start_slot, startup));
        if let Some(p) = per_test {
            *per_test_slot = Some(smooth(*per_test_slot, p));
        }
    }

    /// The median recorded duration (what unknown tests are assumed to take).
    pub fn median(&self) -> Option<f64> {
        if self.tests.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = self.tests.values().copied().collect();
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }

    /// The expected seconds of a test: recorded, else the median, else 1
    /// (so that with no history, test counts stand in).
    pub fn estimate(&self, nodeid: &str, median: Option<f64>) -> (f64, bool) {
        match self.tests.get(&normalize(nodeid)) {
            Some(s) => (*s, true),
            None => (median.unwrap_or(1.0), false),
        }
    }

    /// Merges another store (e.g. from a shard): its figures win for the tests it ran.
    pub fn merge(&mut self, other: &Durations) {
        for (id, secs) in &other.tests {
            self.tests.insert(id.clone(), *secs);
        }
        self.runs = self.runs.max(other.runs);
        self.overhead.merge(&other.overhead);
        self.coverage_overhead.merge(&other.coverage_overhead);
    }
}

impl Overhead {
    /// Takes every figure `other` measured.
    fn merge(&mut self, other: &Overhead) {
        for (mine, theirs) in [
            (&mut self.process, other.process),
            (&mut self.xdist, other.xdist),
            (&mut self.shards, other.shards),
            (&mut self.per_test, other.per_test),
            (&mut self.xdist_per_test, other.xdist_per_test),
        ] {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_and_estimates() {
        let mut d = Durations::default();
        d.record([
            ("./tests/a.py::t1".to_string(), 2.0),
            ("tests/a.py::t2".into(), 4.0),
            ("tests\\b.py::t3".into(), 6.0),
        ]);
        d.record([("tests/a.py::t1".to_string(), 4.0)]);
        assert_eq!(d.tests["tests/a.py::t1"], 3.0);
        assert!(d.tests.contains_key("tests/b.py::t3"));
        assert_eq!(
            normalize("tests\\c.py::test_x[a\\tb]"),
            "tests/c.py::test_x[a\\tb]"
        );
        let median = d.median();
        assert_eq!(median, Some(4.0));
        assert_eq!(d.estimate("tests/new.py::t", median), (4.0, false));
        assert_eq!(Durations::default().estimate("x", None), (1.0, false));
    }

    #[test]
    fn missing_and_corrupt_files_warn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(Durations::load(&path)
            .1
            .unwrap()
            .contains("no durations recorded"));
        std::fs::write(&path, "{ not json").unwrap();
        let (d, warning) = Durations::load(&path);
        assert!(d.tests.is_empty());
        assert!(warning.unwrap().contains("is corrupt"));
        let mut d = Durations::default();
        d.record([("tests/a.py::t".to_string(), 1.5)]);
        d.save(&path).unwrap();
        let (back, warning) = Durations::load(&path);
        assert!(warning.is_none());
        assert_eq!(back.scopes["tests/a.py"], 1.5);
        // Figures no run can measure are dropped, with a warning naming them.
        std::fs::write(
            &path,
            r#"{"tests": {"t.py::huge": 1e308, "t.py::negative": -2.0, "t.py::fine": 0.5}, "overhead": {"xdist": -1.0, "process": 0.4}}"#,
        )
        .unwrap();
        let (d, warning) = Durations::load(&path);
        let warning = warning.unwrap();
        assert!(
            warning.contains("ignored 3 impossible figure(s)"),
            "{warning}"
        );
        assert!(warning.contains("`t.py::huge` = 1e308"), "{warning}");
        assert_eq!(d.tests.len(), 1);
        assert_eq!((d.overhead.xdist, d.overhead.process), (None, Some(0.4)));
    }
}
