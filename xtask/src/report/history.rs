//! `reports/ci_timings.jsonl`: one JSON line per run, appended and never
//! rewritten, so the trend survives across runs (CI carries the file along).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The schema this version writes; older lines are read with defaults.
pub const SCHEMA: u32 = 1;

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

/// One run, as the history keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    pub schema: u32,
    /// `run` for a test run; later tasks add their own kinds.
    #[serde(default = "run_kind")]
    pub kind: String,
    /// UTC, RFC 3339.
    pub timestamp: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub task: String,
    pub engine: String,
    pub workers: u16,
    pub dist: Option<String>,
    /// A fingerprint of which tests were asked for (test paths and pytest arguments).
    pub selection: String,
    pub tests: usize,
    pub outcomes: BTreeMap<String, usize>,
    /// Seconds per phase, in the order they ran.
    pub phases: Vec<(String, f64)>,
    pub wall: f64,
    pub coverage: Option<f64>,
    pub efficiency: Option<f64>,
    pub worker_use: Vec<WorkerUse>,
    pub exit: i32,
    /// Free-form facts later tasks add (triage classes, shard index, …).
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn run_kind() -> String {
    "run".into()
}

impl RunRecord {
    pub fn phase(&self, name: &str) -> Option<f64> {
        self.phases.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }

    /// The execution phase (tests running), the figure trends compare.
    pub fn execution(&self) -> f64 {
        self.phase("tests").unwrap_or(self.wall)
    }
}

/// A history file read leniently: bad lines are skipped with a warning.
#[derive(Debug, Default)]
pub struct History {
    pub records: Vec<RunRecord>,
    pub warnings: Vec<String>,
}

/// Reads the history; a missing file is an empty history.
pub fn read(path: &Path) -> anyhow::Result<History> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    Ok(parse(&text, &path.display().to_string()))
}

pub fn parse(text: &str, name: &str) -> History {
    let mut history = History::default();
    let mut older = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunRecord>(line) {
            Ok(record) => {
                if record.schema < SCHEMA {
                    older += 1;
                }
                history.records.push(record);
            }
            Err(e) => history.warnings.push(format!(
                "{name}:{}: skipped a corrupt or truncated line ({e})",
                i + 1
            )),
        }
    }
    if older > 0 {
        history.warnings.push(format!(
            "{name}: {older} line(s) use an older schema; fields they lack are shown as —"
        ));
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
        assert_eq!(history.warnings.len(), 3, "{:?}", history.warnings);
        assert!(history.warnings[0].starts_with("h.jsonl:2: skipped a corrupt or truncated line"));
        assert!(history.warnings[1].starts_with("h.jsonl:4:"));
        assert!(history.warnings[2].contains("older schema"));
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
