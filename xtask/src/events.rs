//! The event stream the xtask's pytest plugin writes (`python/plugin/`):
//! one JSON object per line, typed here once. The runner reads it, the
//! reporters consume the typed values; neither imports the other, and
//! nothing parses pytest's terminal text.
//!
//! Schema version [`SCHEMA`]; docs/testing.md documents every field. Event
//! kinds this version does not know are read as [`Event::Unknown`] and
//! ignored, so a newer plugin's extra events never break an older reader.

use std::path::Path;

use serde::Deserialize;

/// The schema version this xtask writes and reads.
pub const SCHEMA: u32 = 1;

/// A test's final outcome, combining its setup, call and teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Event {
    /// A pytest session began (one per process that owns a session).
    Start(Start),
    /// The tests a session (or one xdist worker of it) collected, in order.
    Collected(Collected),
    /// A collector (module, class, …) failed.
    CollectError(CollectError),
    /// A test began (its setup is about to run): what is running now.
    Begin(Begin),
    /// A test ended: setup, call and teardown combined.
    Test(TestEvent),
    /// A subtest that did not pass (`subtests` fixture, unittest `subTest`).
    Subtest(Subtest),
    /// An xdist worker process died.
    WorkerDown(WorkerDown),
    /// pytest itself failed.
    InternalError { text: String },
    /// The session ended with pytest's exit status.
    Finish(Finish),
    /// A service the run used (written by the xtask, not the plugin).
    Service(ServiceUsed),
    /// An event kind this version does not know.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Start {
    /// The plugin's schema version.
    pub v: u32,
    pub pid: u32,
    pub time: f64,
    pub pytest: String,
    pub python: String,
    /// The rootdir pytest chose: node ids are relative to it.
    pub rootdir: String,
    pub inifile: Option<String>,
    /// The `testpaths` in effect.
    pub testpaths: Vec<String>,
    /// The paths and node ids pytest was given (or took from `testpaths`).
    pub args: Vec<String>,
    pub collect_only: bool,
    /// This process is xdist's controller: its workers collect and run.
    pub xdist: bool,
    /// xdist workers (0 when serial).
    pub workers: u32,
    /// The label the xtask gave this process (a shard process's `gw<i>`).
    pub worker: Option<String>,
}

/// A `[services.<name>]` the run used: where it was, whether the xtask
/// started it, and for how many simultaneous sessions it was proven ready.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ServiceUsed {
    pub name: String,
    pub address: String,
    pub protocol: String,
    /// `false`: a server already answering there was used as it was.
    pub started: bool,
    pub sessions: usize,
    /// Seconds from the start command to the first passing check.
    pub ready: f64,
}

impl ServiceUsed {
    /// Its line in the stream.
    pub fn line(&self) -> String {
        let mut value = serde_json::to_value(self).expect("plain fields serialize");
        value["e"] = serde_json::Value::from("service");
        format!("{value}\n")
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Begin {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Collected {
    /// The xdist worker that collected (every worker collects the whole suite).
    pub worker: Option<String>,
    pub ids: Vec<String>,
    /// Items the selection (`-k`, `-m`, the xtask's own) left out.
    pub deselected: usize,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct CollectError {
    pub id: String,
    pub msg: String,
    pub text: String,
}

/// Subtests of one test, by how they ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct SubtestCounts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub xfailed: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TestEvent {
    pub id: String,
    pub outcome: Outcome,
    /// Setup + call + teardown, seconds.
    #[serde(default)]
    pub dur: f64,
    /// Epoch seconds.
    #[serde(default)]
    pub start: Option<f64>,
    #[serde(default)]
    pub stop: Option<f64>,
    #[serde(default)]
    pub worker: Option<String>,
    /// Where and why it failed or was skipped, in one line.
    #[serde(default)]
    pub msg: Option<String>,
    /// The failure as pytest prints it, with captured output.
    #[serde(default)]
    pub text: Option<String>,
    /// Its worker process died running it.
    #[serde(default)]
    pub crashed: bool,
    #[serde(default)]
    pub sub: Option<SubtestCounts>,
    // What it depended on (`deps`, in a run that records it) is read by
    // the dependency record alone (`deps::record`).
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Subtest {
    /// The test it belongs to.
    pub id: String,
    /// `[msg] (key=value, …)`, as pytest names it.
    #[serde(default)]
    pub desc: String,
    pub outcome: Outcome,
    #[serde(default)]
    pub dur: f64,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct WorkerDown {
    pub worker: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Finish {
    pub exit: i32,
    pub time: f64,
}

/// Appends the event stream at `path` (missing: nothing) to `stream`, one
/// process after another: a torn last line of a process that died
/// mid-write ends where it was torn, so the next process starts a new line.
pub fn append_stream(stream: &mut Vec<u8>, path: &Path) {
    let mut text = std::fs::read(path).unwrap_or_default();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    stream.extend(text);
}

/// Parses one line; `None` for a line that is not a complete event (a torn
/// last line of a process that died mid-write).
pub fn parse_line(line: &str) -> Option<Event> {
    serde_json::from_str(line).ok()
}

/// Every event of a stream's text, in order.
pub fn parse_all(text: &str) -> Vec<Event> {
    text.lines().filter_map(parse_line).collect()
}

/// Reads a whole stream file; a missing file is an empty stream.
pub fn read(path: &Path) -> Vec<Event> {
    std::fs::read(path)
        .map(|bytes| parse_all(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default()
}

/// Incremental reader of a stream another process is appending to.
#[derive(Debug, Default)]
pub struct Tail {
    offset: u64,
    pending: Vec<u8>,
}

impl Tail {
    /// The complete events appended since the last call.
    pub fn read_new(&mut self, path: &Path) -> Vec<Event> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(path) else {
            return Vec::new();
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let Ok(n) = file.read_to_end(&mut self.pending) else {
            return Vec::new();
        };
        self.offset += n as u64;
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let complete: Vec<u8> = self.pending.drain(..=end).collect();
        parse_all(&String::from_utf8_lossy(&complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_ignores_unknown_ones() {
        let text = concat!(
            r#"{"e":"start","v":1,"pid":7,"time":1.5,"pytest":"9.2.0","python":"3.11.7","rootdir":"/p","inifile":null,"testpaths":["tests"],"args":["tests"],"collect_only":false,"xdist":true,"workers":2}"#,
            "\n",
            r#"{"e":"collected","worker":"gw0","ids":["t.py::a","t.py::b[x::y]"]}"#,
            "\n",
            r#"{"e":"collect_error","id":"t2.py","msg":"ImportError","text":"E   ImportError"}"#,
            "\n",
            r#"{"e":"subtest","id":"t.py::a","desc":"(i=2)","outcome":"failed","dur":0.0,"msg":"t.py:3: assert 2 != 2"}"#,
            "\n",
            r#"{"e":"test","id":"t.py::a","outcome":"failed","dur":0.25,"start":1.0,"stop":1.25,"worker":"gw1","sub":{"passed":3,"failed":1},"msg":"1 subtest(s) failed"}"#,
            "\n",
            r#"{"e":"deps","id":"t.py::a","functions":[]}"#,
            "\n",
            r#"{"e":"worker_down","worker":"gw1","error":"Not properly terminated"}"#,
            "\n",
            r#"{"e":"finish","exit":1,"time":2.0}"#,
            "\n",
            r#"{"e":"test","id":"t.py::b","outc"#,
        );
        let events = parse_all(text);
        assert_eq!(events.len(), 8, "the torn last line is skipped");
        let Event::Start(start) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(start.xdist && start.workers == 2 && start.inifile.is_none());
        let Event::Collected(collected) = &events[1] else {
            panic!()
        };
        assert_eq!(collected.ids[1], "t.py::b[x::y]");
        let Event::Test(test) = &events[4] else {
            panic!()
        };
        assert_eq!(test.outcome, Outcome::Failed);
        assert_eq!(test.sub.map(|s| s.failed), Some(1));
        assert_eq!(events[5], Event::Unknown);
        assert!(matches!(&events[7], Event::Finish(f) if f.exit == 1));
    }

    #[test]
    fn service_events_read_back() {
        let used = ServiceUsed {
            name: "graph".into(),
            address: "127.0.0.1:6390".into(),
            protocol: "resp".into(),
            started: true,
            sessions: 2,
            ready: 0.25,
        };
        assert_eq!(parse_all(&used.line()), vec![Event::Service(used)]);
    }

    #[test]
    fn tail_returns_only_complete_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"e\":\"finish\",\"exit\":0}\n{\"e\":\"fin").unwrap();
        let mut tail = Tail::default();
        assert_eq!(tail.read_new(&path).len(), 1);
        assert!(tail.read_new(&path).is_empty());
        std::fs::write(
            &path,
            "{\"e\":\"finish\",\"exit\":0}\n{\"e\":\"finish\",\"exit\":5}\n",
        )
        .unwrap();
        assert_eq!(
            tail.read_new(&path),
            vec![Event::Finish(Finish { exit: 5, time: 0.0 })]
        );
    }
}
