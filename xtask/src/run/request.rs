//! What a run is asked to do ([`RunRequest`]) and what it produced
//! ([`RunResult`]): the hand-offs into and out of the run's stages.

use std::path::PathBuf;

use crate::config::{Dist, Engine};
use crate::exit::ExitCode;
use crate::python::argv::{ReportPaths, Selection};
use crate::report::history::RunRecord;
use crate::report::RunState;
use crate::workers::Workers;

/// How much a run prints when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryMode {
    Full,
    /// One line (for tasks that run the suite several times).
    Brief,
}

/// What a run leaves behind besides its reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recording {
    /// Durations, the timings history, `ci_timings.md` and the job summary.
    Full,
    /// Only the measured durations, into this file (one CI shard: its
    /// siblings plan from the durations the run started with; `merge` folds
    /// them in).
    Durations(PathBuf),
    /// Nothing (the re-runs of `triage` and `bisect`, which are not runs of
    /// the suite).
    Nothing,
}

/// What to run.
pub struct RunRequest {
    pub title: String,
    pub workers: Workers,
    pub dist: Dist,
    pub coverage: bool,
    /// Arguments for pytest after the xtask's own: the user's selection.
    pub extra: Vec<String>,
    /// Exactly these tests, in this order.
    pub selection: Option<Selection>,
    /// Modules in the order xdist gets them (longest first).
    pub order: Option<Vec<String>>,
    pub echo: bool,
    pub summary: SummaryMode,
    pub reports: ReportPaths,
    /// Lines the summary adds (e.g. how the tests were ordered).
    pub notes: Vec<String>,
    /// Judge `coverage.fail-under` on this run's data (not for one shard of many).
    pub threshold: bool,
    /// How a parallel run is executed.
    pub engine: Engine,
    /// `parallel.engine = "auto"` chose it (from the same predictions the
    /// summary's engine advice would give, so the advice is left out).
    pub auto_engine: bool,
    pub recording: Recording,
    /// Record what each test depended on (`--record-deps`).
    pub deps: bool,
    /// Run everything, and judge what `--changed` would have skipped.
    pub shadow: Option<crate::deps::Shadow>,
}

impl RunRequest {
    /// One serial pytest process on exactly `ids`, in that order (node ids
    /// relative to `rootdir`), reporting into `dir`, with a brief summary and
    /// nothing recorded: the re-runs of `triage` and `bisect`.
    pub fn probe(
        title: String,
        why: &str,
        ids: Vec<String>,
        rootdir: &std::path::Path,
        dir: PathBuf,
    ) -> RunRequest {
        let selection = Selection {
            ids,
            rootdir: rootdir.to_path_buf(),
            also: Vec::new(),
        };
        RunRequest {
            title,
            workers: Workers::Serial { why: why.into() },
            dist: Dist::Load,
            coverage: false,
            extra: Vec::new(),
            selection: Some(selection),
            order: None,
            echo: false,
            summary: SummaryMode::Brief,
            reports: ReportPaths::in_dir(dir),
            notes: Vec::new(),
            threshold: false,
            engine: Engine::Xdist,
            auto_engine: false,
            recording: Recording::Nothing,
            deps: false,
            shadow: None,
        }
    }
}

/// What a run produced.
pub struct RunResult {
    pub code: ExitCode,
    /// The history record of the run (phases, counts, coverage).
    pub record: RunRecord,
    /// Everything its events said.
    pub state: RunState,
}
