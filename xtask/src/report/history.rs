//! `reports/ci_timings.jsonl`: one JSON line per run, appended and never
//! rewritten, so the trend survives across runs (CI carries the file along).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::events::Outcome;

/// The schema this version writes. Lines of schema 1 (stringly typed, with
/// a free-form `extra`) are migrated when read.
pub const SCHEMA: u32 = 2;

/// Busy time of one worker process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerUse {
    pub id: String,
    pub tests: usize,
    /// Seconds spent inside tests.
    pub busy: f64,
    /// Seconds idle between its last test and the end of the run.
    pub idle_tail: f64,
}

/// What a history line records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A run of the suite.
    #[default]
    Run,
    /// A triage of the last run's failures.
    Triage,
}

/// How a run executed: a merged CI run is not the local shards engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Execution {
    #[default]
    Serial,
    Xdist,
    /// The local shards engine: concurrent pytest processes in one job.
    Shards,
    /// CI shards in separate jobs, merged by `cargo xtask merge`.
    CiShards,
}

impl Execution {
    pub fn as_str(self) -> &'static str {
        match self {
            Execution::Serial => "serial",
            Execution::Xdist => "xdist",
            Execution::Shards => "shards",
            Execution::CiShards => "ci-shards",
        }
    }

    pub fn is_parallel(self) -> bool {
        self != Execution::Serial
    }
}

/// Tests per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub xfailed: usize,
    pub xpassed: usize,
}

impl Counts {
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

    fn from_map(map: &BTreeMap<String, usize>) -> Counts {
        let get = |k: &str| map.get(k).copied().unwrap_or(0);
        Counts {
            passed: get("passed"),
            failed: get("failed"),
            errors: get("errors") + get("error"),
            skipped: get("skipped"),
            xfailed: get("xfailed"),
            xpassed: get("xpassed"),
        }
    }
}

/// Seconds per phase, in the order they ran (`setup`, `collection`,
/// `tests`, `coverage`, `reports`; a merge's `slowest shard`; a triage's
/// `re-runs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phases(pub Vec<(String, f64)>);

impl Phases {
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, s)| (n.as_str(), *s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What a triage found, per test and overall.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Triage {
    /// The alert when the flakiness rate passed the threshold.
    pub alert: Option<String>,
    pub rate: f64,
    pub threshold: f64,
    pub repeat: u32,
    /// Node id → class (`real`, `parallel-only`, `order-dependent`, `flaky`).
    pub classes: BTreeMap<String, String>,
    /// Node id → the worker it failed on (`serial` for a serial run).
    pub workers: BTreeMap<String, String>,
    /// Node id → how many of its re-runs failed.
    pub reruns_failed: BTreeMap<String, usize>,
    /// Node id → the test that pollutes it.
    pub polluters: BTreeMap<String, String>,
    /// Node id → the earlier test it needs to pass (it fails alone).
    pub setters: BTreeMap<String, String>,
    /// `[[flaky.known]]` node id → how it fared (`passed`, `not run`, a class).
    pub known: BTreeMap<String, String>,
}

/// One CI shard, as `merge` found it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShardRun {
    pub index: u16,
    pub tests: usize,
    pub predicted: f64,
    pub wall: f64,
    pub exit: i32,
}

/// The shards a merged CI run was made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Shards {
    pub shards: Vec<ShardRun>,
    /// Slowest shard ÷ mean shard.
    pub imbalance: f64,
}

/// The machine a run ran on: runs are compared only with runs of the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    /// The CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// CPUs this process could use (affinity and cgroup quota).
    pub cpus: u16,
    /// Total memory, MiB.
    pub memory_mib: u64,
}

impl Machine {
    /// This machine, as far as Linux tells.
    pub fn this() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        Machine {
            cpu,
            cpus: u16::try_from(crate::workers::usable_cpus().count).unwrap_or(u16::MAX),
            memory_mib: memory_kib / 1024,
        }
    }

    /// The same class of machine: the same CPU model and usable CPUs, and
    /// memory within 10%.
    pub fn same_class(&self, other: &Machine) -> bool {
        let (a, b) = (self.memory_mib as f64, other.memory_mib as f64);
        self.cpu == other.cpu && self.cpus == other.cpus && (a - b).abs() <= a.max(b) * 0.1
    }
}

/// How a shadow run judged the selection (kept in the timing history).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShadowResult {
    pub selected: usize,
    pub skipped: usize,
    pub selected_seconds: f64,
    pub skipped_seconds: f64,
    /// Tests the selection would have skipped that failed.
    pub missed: Vec<String>,
    pub everything: Option<String>,
}

impl ShadowResult {
    /// The summary's line.
    pub fn line(&self) -> String {
        if let Some(why) = &self.everything {
            return format!("shadow selection: everything would have run ({why})");
        }
        let total = self.selected + self.skipped;
        let head = format!(
            "shadow selection: {} of {total} tests would have run ({:.1}s of {:.1}s), {} skipped",
            self.selected,
            self.selected_seconds,
            self.selected_seconds + self.skipped_seconds,
            self.skipped
        );
        match self.missed.len() {
            0 => format!("{head}; none of the skipped failed"),
            n => format!(
                "{head}; {n} skipped test(s) FAILED, the selection would have missed them: {}",
                self.missed.join(", ")
            ),
        }
    }
}

/// One run, as the history keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, from = "RawRecord")]
pub struct RunRecord {
    pub schema: u32,
    pub kind: RecordKind,
    /// UTC, RFC 3339.
    pub timestamp: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub task: String,
    /// How the run executed (for a triage: how the triaged run did).
    pub engine: Execution,
    pub workers: u16,
    pub dist: Option<String>,
    /// A fingerprint of which tests were asked for (test paths and pytest arguments).
    pub selection: String,
    pub tests: usize,
    pub counts: Counts,
    pub phases: Phases,
    pub wall: f64,
    pub coverage: Option<f64>,
    /// The run measured coverage (whether or not its data combined).
    pub cov: bool,
    /// Where it ran (`None` in records written before it was kept).
    pub machine: Option<Machine>,
    pub efficiency: Option<f64>,
    pub worker_use: Vec<WorkerUse>,
    pub exit: i32,
    pub triage: Option<Triage>,
    pub shards: Option<Shards>,
    /// A shadow run's judgement of the change-aware selection.
    pub shadow: Option<ShadowResult>,
}

impl RunRecord {
    /// Whether two runs may be compared at all: both runs of the suite, with
    /// the same selection and coverage mode, on the same class of machine (a
    /// record without a machine matches only another without).
    pub fn comparable(&self, other: &RunRecord) -> bool {
        self.kind == RecordKind::Run
            && other.kind == RecordKind::Run
            && self.selection == other.selection
            && self.cov == other.cov
            && match (&self.machine, &other.machine) {
                (Some(a), Some(b)) => a.same_class(b),
                (None, None) => true,
                _ => false,
            }
    }

    /// Comparable, and run the same way (engine and workers): the runs a
    /// trend shows and a regression is measured against.
    pub fn same_kind(&self, other: &RunRecord) -> bool {
        self.comparable(other) && self.engine == other.engine && self.workers == other.workers
    }

    pub fn phase(&self, name: &str) -> Option<f64> {
        self.phases.get(name)
    }

    /// The execution phase (tests running), the figure trends compare.
    pub fn execution(&self) -> f64 {
        self.phase("tests").unwrap_or(self.wall)
    }
}

/// A line as any schema wrote it; [`RunRecord`] is made from it, which is
/// the migration of schema 1 lines.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRecord {
    schema: u32,
    kind: Option<String>,
    timestamp: String,
    commit: Option<String>,
    branch: Option<String>,
    task: String,
    engine: String,
    workers: u16,
    dist: Option<String>,
    selection: String,
    tests: usize,
    counts: Option<Counts>,
    /// Schema 1: outcome → count (a triage's: class → count).
    outcomes: BTreeMap<String, usize>,
    phases: Phases,
    wall: f64,
    coverage: Option<f64>,
    cov: Option<bool>,
    machine: Option<Machine>,
    efficiency: Option<f64>,
    worker_use: Vec<WorkerUse>,
    exit: i32,
    triage: Option<Triage>,
    shards: Option<Shards>,
    shadow: Option<ShadowResult>,
    /// Schema 1: triage and merge facts.
    extra: BTreeMap<String, serde_json::Value>,
}

impl From<RawRecord> for RunRecord {
    fn from(raw: RawRecord) -> RunRecord {
        let kind = match raw.kind.as_deref() {
            Some("triage") => RecordKind::Triage,
            _ => RecordKind::Run,
        };
        let engine = match (raw.engine.as_str(), raw.task.as_str()) {
            ("ci-shards", _) | ("shards", "merge") => Execution::CiShards,
            ("shards", _) => Execution::Shards,
            ("xdist" | "parallel", _) => Execution::Xdist,
            _ => Execution::Serial,
        };
        let extra = &raw.extra;
        let map = |key: &str| -> BTreeMap<String, String> {
            extra
                .get(key)
                .and_then(|v| v.as_object())
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let triage = raw.triage.or_else(|| {
            (kind == RecordKind::Triage).then(|| Triage {
                alert: extra
                    .get("flaky_alert")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                rate: extra.get("rate").and_then(|v| v.as_f64()).unwrap_or(0.0),
                threshold: extra
                    .get("threshold")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                repeat: extra.get("repeat").and_then(|v| v.as_u64()).unwrap_or(0) as u32,
                classes: map("classes"),
                workers: map("workers"),
                reruns_failed: map("reruns_failed")
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                    .collect(),
                polluters: map("polluters"),
                setters: BTreeMap::new(),
                known: map("known"),
            })
        });
        let shards = raw.shards.or_else(|| {
            extra.get("shards").map(|list| Shards {
                shards: serde_json::from_value(list.clone()).unwrap_or_default(),
                imbalance: extra
                    .get("imbalance")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(1.0),
            })
        });
        RunRecord {
            schema: raw.schema,
            kind,
            timestamp: raw.timestamp,
            commit: raw.commit,
            branch: raw.branch,
            task: raw.task,
            engine,
            workers: raw.workers,
            dist: raw.dist,
            selection: raw.selection,
            tests: raw.tests,
            counts: raw.counts.unwrap_or_else(|| match kind {
                RecordKind::Run => Counts::from_map(&raw.outcomes),
                RecordKind::Triage => Counts::default(),
            }),
            phases: raw.phases,
            wall: raw.wall,
            // Earlier records said coverage was measured only by its figure.
            cov: raw.cov.unwrap_or(raw.coverage.is_some()),
            coverage: raw.coverage,
            machine: raw.machine,
            efficiency: raw.efficiency,
            worker_use: raw.worker_use,
            exit: raw.exit,
            triage,
            shards,
            shadow: raw.shadow,
        }
    }
}

/// A history file read leniently: bad lines are skipped with a warning.
#[derive(Debug, Default)]
pub struct History {
    pub records: Vec<RunRecord>,
    pub warnings: Vec<String>,
}

/// Reads the history; a missing file is an empty history, and a file that
/// cannot be read is one with a warning: the history never fails a run.
pub fn read(path: &Path) -> anyhow::Result<History> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => {
            return Ok(History {
                records: Vec::new(),
                warnings: vec![format!(
                    "{}: cannot be read ({e}); the trend starts afresh",
                    path.display()
                )],
            })
        }
    };
    Ok(parse_bytes(&bytes, &path.display().to_string()))
}

/// Parses history text (lines that are not UTF-8, or not a record, are
/// skipped, each with a warning naming its line).
pub fn parse(text: &str, name: &str) -> History {
    parse_bytes(text.as_bytes(), name)
}

fn parse_bytes(bytes: &[u8], name: &str) -> History {
    let mut history = History::default();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(raw) else {
            history.warnings.push(format!(
                "{name}:{}: skipped a line that is not UTF-8 text",
                i + 1
            ));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunRecord>(line) {
            Ok(record) => {
                history.records.push(record);
            }
            Err(e) => history.warnings.push(format!(
                "{name}:{}: skipped a corrupt or truncated line ({e})",
                i + 1
            )),
        }
    }
    history
}

/// Appends one record as a single line (one `write` call, so a crash never
/// leaves half a line after a complete one).
pub fn append(path: &Path, record: &RunRecord) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let mut line = serde_json::to_string(record)?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    // A previous writer killed mid-line leaves no newline: start on a fresh line.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > 0 {
        let last = std::fs::read(path).ok().and_then(|b| b.last().copied());
        if last != Some(b'\n') {
            line.insert(0, '\n');
        }
    }
    file.write_all(line.as_bytes())
        .with_context(|| format!("cannot append to `{}`", path.display()))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_and_older_lines_are_reported_not_fatal() {
        let text = concat!(
            "{\"schema\":1,\"task\":\"pytest\",\"workers\":1,\"wall\":10.0}\n",
            "{\"schema\":1,\"task\":\"pyt\n",
            "{\"task\":\"pytest-parallel\",\"workers\":2,\"wall\":7.5}\n",
            "not json at all\n",
        );
        let history = parse(text, "h.jsonl");
        assert_eq!(history.records.len(), 2);
        assert_eq!(history.warnings.len(), 2, "{:?}", history.warnings);
        assert!(history.warnings[0].starts_with("h.jsonl:2: skipped a corrupt or truncated line"));
        assert!(history.warnings[1].starts_with("h.jsonl:4:"));
    }

    #[test]
    fn schema_1_lines_are_migrated_to_typed_records() {
        let text = concat!(
            r#"{"schema":1,"kind":"run","task":"merge","engine":"shards","workers":3,"outcomes":{"passed":5,"errors":1},"phases":[["slowest shard",4.0]],"extra":{"shards":[{"index":0,"tests":3,"predicted":1.5,"wall":2.0,"exit":0}],"imbalance":1.2}}"#,
            "
",
            r#"{"schema":1,"kind":"run","task":"pytest-parallel","engine":"shards","workers":2}"#,
            "
",
            r#"{"schema":1,"kind":"triage","task":"triage","engine":"parallel","outcomes":{"flaky":1},"extra":{"rate":0.1,"threshold":0.05,"flaky_alert":"above","classes":{"t.py::a":"flaky"},"reruns_failed":{"t.py::a":1},"polluters":{}}}"#,
        );
        let history = parse(text, "h.jsonl");
        assert!(history.warnings.is_empty(), "{:?}", history.warnings);
        let [merged, local, triage] = &history.records[..] else {
            panic!("{:?}", history.records)
        };
        assert_eq!(merged.engine, Execution::CiShards);
        assert_eq!((merged.counts.passed, merged.counts.errors), (5, 1));
        assert_eq!(merged.phase("slowest shard"), Some(4.0));
        let shards = merged.shards.as_ref().unwrap();
        assert_eq!((shards.shards.len(), shards.imbalance), (1, 1.2));
        assert_eq!(local.engine, Execution::Shards);
        assert_eq!(triage.kind, RecordKind::Triage);
        assert_eq!(triage.engine, Execution::Xdist);
        let data = triage.triage.as_ref().unwrap();
        assert_eq!(data.alert.as_deref(), Some("above"));
        assert_eq!(data.classes["t.py::a"], "flaky");
        assert_eq!(data.reruns_failed["t.py::a"], 1);
        // A migrated record writes and reads back as itself.
        let line = serde_json::to_string(triage).unwrap();
        assert_eq!(&parse(&line, "again").records[0], triage);
    }

    #[test]
    fn append_after_a_truncated_line_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, "{\"schema\":1,\"task\":\"trunc").unwrap();
        append(
            &path,
            &RunRecord {
                schema: SCHEMA,
                task: "pytest".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let history = read(&path).unwrap();
        assert_eq!(history.records.len(), 1);
        assert_eq!(history.warnings.len(), 1);
    }
}
