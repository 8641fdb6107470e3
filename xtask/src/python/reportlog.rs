//! pytest-reportlog's JSON lines → [`Event`]s.
//!
//! The report log is tailed while pytest runs (progress) and read again at
//! the end (summary, timings); both go through [`parse_line`].

use serde_json::Value;

/// The phase a test report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Setup,
    Call,
    Teardown,
    /// xdist's report for a test whose worker crashed (`when = "???"`).
    Crash,
}

/// A phase's outcome as pytest reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawOutcome {
    Passed,
    Failed,
    Skipped,
}

/// One phase of one test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestReport {
    pub nodeid: String,
    pub phase: Phase,
    pub outcome: RawOutcome,
    pub duration: f64,
    /// Epoch seconds when the phase started and stopped (pytest ≥ 7).
    pub start: Option<f64>,
    pub stop: Option<f64>,
    /// `expected failure` marker text when the test was xfail.
    pub wasxfail: bool,
    /// The xdist worker (`gw0`, …) that ran it; `None` when serial.
    pub worker: Option<String>,
    /// The test's position in its worker's run order (xdist).
    pub item_index: Option<u64>,
    /// One line: where and why it failed or was skipped.
    pub message: Option<String>,
    /// The full failure text as pytest would print it.
    pub longrepr: Option<String>,
}

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    SessionStart,
    Test(TestReport),
    /// A collector (module, class, …) failed to collect.
    CollectError {
        nodeid: String,
        message: String,
        longrepr: String,
    },
    SessionFinish {
        exitstatus: i64,
    },
    Other,
}

/// Parses one line of the report log; `None` for a line that is not JSON.
pub fn parse_line(line: &str) -> Option<Event> {
    let value: Value = serde_json::from_str(line).ok()?;
    let kind = value.get("$report_type")?.as_str()?;
    Some(match kind {
        "SessionStart" => Event::SessionStart,
        "SessionFinish" => Event::SessionFinish {
            exitstatus: value
                .get("exitstatus")
                .and_then(Value::as_i64)
                .unwrap_or(-1),
        },
        "TestReport" => Event::Test(test_report(&value)?),
        "CollectReport" => {
            if value.get("outcome").and_then(Value::as_str) != Some("failed") {
                return Some(Event::Other);
            }
            let (message, longrepr) = describe(value.get("longrepr"));
            Event::CollectError {
                nodeid: value
                    .get("nodeid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                message: message.unwrap_or_else(|| "collection failed".into()),
                longrepr: longrepr.unwrap_or_default(),
            }
        }
        _ => Event::Other,
    })
}

fn test_report(value: &Value) -> Option<TestReport> {
    let phase = match value.get("when").and_then(Value::as_str)? {
        "setup" => Phase::Setup,
        "call" => Phase::Call,
        "teardown" => Phase::Teardown,
        _ => Phase::Crash,
    };
    let outcome = match value.get("outcome").and_then(Value::as_str)? {
        "passed" => RawOutcome::Passed,
        "skipped" => RawOutcome::Skipped,
        _ => RawOutcome::Failed,
    };
    let (message, longrepr) = describe(value.get("longrepr"));
    Some(TestReport {
        nodeid: value.get("nodeid")?.as_str()?.to_string(),
        phase,
        outcome,
        duration: value.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
        start: value.get("start").and_then(Value::as_f64),
        stop: value.get("stop").and_then(Value::as_f64),
        wasxfail: value.get("wasxfail").is_some(),
        worker: value
            .get("worker_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        item_index: value.get("item_index").and_then(Value::as_u64),
        message,
        longrepr,
    })
}

/// A one-line message and the full text of a serialized `longrepr`.
fn describe(longrepr: Option<&Value>) -> (Option<String>, Option<String>) {
    match longrepr {
        None | Some(Value::Null) => (None, None),
        Some(Value::String(s)) => (
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string()),
            Some(s.clone()),
        ),
        // Skips: [path, lineno, reason].
        Some(Value::Array(items)) => {
            let reason = items
                .get(2)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (Some(reason.clone()), Some(reason))
        }
        Some(obj @ Value::Object(_)) => {
            let crash = obj.get("reprcrash");
            let message = crash.map(|c| {
                let path = c.get("path").and_then(Value::as_str).unwrap_or("?");
                let line = c.get("lineno").and_then(Value::as_i64).unwrap_or(0);
                let msg = c
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("");
                format!("{path}:{line}: {msg}")
            });
            (message, Some(full_text(obj)))
        }
        Some(other) => (Some(other.to_string()), Some(other.to_string())),
    }
}

/// Rebuilds the traceback text pytest prints from the serialized entries.
fn full_text(obj: &Value) -> String {
    let mut out = String::new();
    if let Some(entries) = obj
        .pointer("/reprtraceback/reprentries")
        .and_then(Value::as_array)
    {
        for entry in entries {
            let data = entry.get("data").unwrap_or(entry);
            if let Some(lines) = data.pointer("/lines").and_then(Value::as_array) {
                for line in lines.iter().filter_map(Value::as_str) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            if let Some(loc) = data.get("reprfileloc") {
                let path = loc.get("path").and_then(Value::as_str).unwrap_or("?");
                let line = loc.get("lineno").and_then(Value::as_i64).unwrap_or(0);
                let msg = loc.get("message").and_then(Value::as_str).unwrap_or("");
                out.push_str(&format!("{path}:{line}: {msg}\n"));
            }
        }
    }
    if let Some(sections) = obj.get("sections").and_then(Value::as_array) {
        for section in sections {
            if let Some([title, body]) = section.as_array().map(Vec::as_slice) {
                out.push_str(&format!(
                    "---- {} ----\n{}\n",
                    title.as_str().unwrap_or(""),
                    body.as_str().unwrap_or("")
                ));
            }
        }
    }
    out
}

/// Incremental reader of a file another process is appending to.
#[derive(Debug, Default)]
pub struct Tail {
    offset: u64,
    pending: String,
}

impl Tail {
    /// The complete lines appended since the last call.
    pub fn read_new(&mut self, path: &std::path::Path) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let Ok(n) = file.read_to_end(&mut buf) else {
            return Vec::new();
        };
        self.offset += n as u64;
        self.pending.push_str(&String::from_utf8_lossy(&buf));
        let mut lines = Vec::new();
        while let Some(pos) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=pos).collect();
            lines.push(line.trim_end().to_string());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_failed_call_with_worker() {
        let line = r#"{"nodeid": "tests/test_a.py::test_x", "location": ["tests/test_a.py", 3, "test_x"], "keywords": {}, "outcome": "failed", "longrepr": {"reprcrash": {"path": "/p/tests/test_a.py", "lineno": 5, "message": "assert 1 == 2\nmore"}, "reprtraceback": {"reprentries": [{"type": "ReprEntry", "data": {"lines": ["    def test_x():", ">       assert 1 == 2", "E       assert 1 == 2"], "reprfileloc": {"path": "tests/test_a.py", "lineno": 5, "message": "AssertionError"}}}]}, "sections": []}, "when": "call", "user_properties": [], "sections": [], "duration": 0.25, "start": 1700000000.5, "stop": 1700000000.75, "worker_id": "gw1", "item_index": 7, "$report_type": "TestReport"}"#;
        let Some(Event::Test(report)) = parse_line(line) else {
            panic!("not a test report")
        };
        assert_eq!(report.nodeid, "tests/test_a.py::test_x");
        assert_eq!(report.phase, Phase::Call);
        assert_eq!(report.outcome, RawOutcome::Failed);
        assert_eq!(report.worker.as_deref(), Some("gw1"));
        assert_eq!(report.item_index, Some(7));
        assert_eq!(
            report.message.as_deref(),
            Some("/p/tests/test_a.py:5: assert 1 == 2")
        );
        assert!(report.longrepr.unwrap().contains(">       assert 1 == 2"));
    }

    #[test]
    fn parses_skip_and_crash_and_collect_error() {
        let skip = r#"{"nodeid": "t.py::s", "outcome": "skipped", "longrepr": ["t.py", 1, "Skipped: no db"], "when": "setup", "duration": 0.0, "$report_type": "TestReport"}"#;
        let Some(Event::Test(r)) = parse_line(skip) else {
            panic!()
        };
        assert_eq!(r.outcome, RawOutcome::Skipped);
        assert_eq!(r.message.as_deref(), Some("Skipped: no db"));
        let crash = r#"{"nodeid": "t.py::c", "outcome": "failed", "longrepr": "worker 'gw0' crashed while running 't.py::c'", "when": "???", "duration": 0, "$report_type": "TestReport"}"#;
        let Some(Event::Test(r)) = parse_line(crash) else {
            panic!()
        };
        assert_eq!(r.phase, Phase::Crash);
        let collect = r#"{"nodeid": "t.py", "outcome": "failed", "longrepr": "ImportError: nope", "result": [], "$report_type": "CollectReport"}"#;
        assert!(matches!(
            parse_line(collect),
            Some(Event::CollectError { .. })
        ));
        assert_eq!(parse_line("{\"nodeid\": \"trunc"), None);
    }

    #[test]
    fn tail_returns_only_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "a\nb").unwrap();
        let mut tail = Tail::default();
        assert_eq!(tail.read_new(&path), vec!["a"]);
        std::fs::write(&path, "a\nbc\n").unwrap();
        assert_eq!(tail.read_new(&path), vec!["bc"]);
    }
}
