//! Where a project's run outputs live: the one description of the reports
//! directory (`reports.dir` in testing.toml) that every task reads and
//! writes through.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::durations;
use crate::python::argv::ReportPaths;

/// The reports directory of one project.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(root: &Path, config: &Config) -> Layout {
        Layout {
            dir: root.join(&config.reports.dir.value),
        }
    }

    /// The reports of the last run (events, JUnit, pytest's output).
    pub fn run(&self) -> ReportPaths {
        ReportPaths::in_dir(self.dir.clone())
    }

    /// The last run's phases as JSON lines (`phases.jsonl`).
    pub fn phases(&self) -> PathBuf {
        self.dir.join("phases.jsonl")
    }

    /// Recorded durations every run updates (`durations.json`).
    pub fn durations(&self) -> PathBuf {
        self.dir.join(durations::FILE_NAME)
    }

    /// The history every run appends to (`ci_timings.jsonl`).
    pub fn history(&self) -> PathBuf {
        self.dir.join("ci_timings.jsonl")
    }

    /// The timings report rendered from the history (`ci_timings.md`).
    pub fn timings_report(&self) -> PathBuf {
        self.dir.join("ci_timings.md")
    }

    /// The last collection, reused while nothing it depends on changed.
    pub fn collection_cache(&self) -> PathBuf {
        self.dir.join(".collected.json")
    }

    /// Where CI shard `index` reports.
    pub fn shard(&self, index: u16) -> PathBuf {
        self.dir.join(format!("shard-{index}"))
    }

    /// The shards engine's per-process selection lists.
    pub fn shard_lists(&self) -> PathBuf {
        self.dir.join("shards")
    }

    /// The per-project run lock.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(".lock")
    }
}
