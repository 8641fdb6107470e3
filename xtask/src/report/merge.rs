//! The reports of a plan's CI shards, brought back together.
//!
//! Each shard job writes its own reports directory with a [`ShardInfo`]
//! (`shard.json`). Merging checks that the directories come from one plan
//! and that their plans cover the collected suite exactly once, then joins
//! their event streams (so the count invariant is judged over every shard),
//! their measured durations and their coverage data files, and describes the
//! shards for the history.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::durations::{self, Durations};
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::python::argv::ReportPaths;
use crate::report::history;
use crate::report::RunState;

/// `reports/shard-<I>/shard.json`: what a shard job planned and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u16,
    pub total: u16,
    pub fingerprint: String,
    /// How many tests the whole suite collected, and a digest of their ids:
    /// merging checks that the shards cover exactly that suite, once.
    #[serde(default)]
    pub collected: usize,
    #[serde(default)]
    pub collected_digest: String,
    /// The tests of this shard, in order.
    #[serde(default)]
    pub planned: Vec<String>,
    pub tests: usize,
    pub predicted: f64,
    pub wall: f64,
    pub exit: i32,
}

pub const SHARD_FILE: &str = "shard.json";

/// A digest of a list of node ids (order included).
pub fn digest(ids: &[String]) -> String {
    let mut hasher = crate::hash::Fingerprint::new();
    for id in ids {
        hasher.field(id);
    }
    hasher.hex(8)
}

/// One shard's reports directory and what it says about itself.
#[derive(Debug, Clone)]
pub struct ShardReports {
    pub dir: PathBuf,
    pub info: ShardInfo,
}

/// Reads each directory's `shard.json` (relative paths from `cwd`), checks
/// that they form one whole plan, and returns them in shard order.
pub fn load(dirs: &[PathBuf], cwd: &Path) -> anyhow::Result<Vec<ShardReports>> {
    let mut shards = Vec::new();
    for dir in dirs {
        let dir = cwd.join(dir);
        let file = dir.join(SHARD_FILE);
        let text = std::fs::read_to_string(&file).map_err(|_| {
            UserError::usage(
                format!("`{}` has no {SHARD_FILE}: it is not the reports directory of `cargo xtask shard`", dir.display()),
                "pass the directories the shard jobs uploaded (their `reports/`)",
            )
        })?;
        let info: ShardInfo = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a valid shard description", file.display()))?;
        shards.push(ShardReports { dir, info });
    }
    check_plan(&shards)?;
    shards.sort_by_key(|s| s.info.index);
    Ok(shards)
}

/// All shards must come from one plan, every shard must be there once, and
/// their plans must partition the suite they all collected.
pub fn check_plan(shards: &[ShardReports]) -> Result<(), UserError> {
    let Some(first) = shards.first() else {
        return Err(UserError::usage(
            "no shard reports to merge",
            "pass the reports directory of every shard job",
        ));
    };
    let (first_dir, first) = (&first.dir, &first.info);
    if let Some(other) = shards
        .iter()
        .find(|s| s.info.fingerprint != first.fingerprint || s.info.total != first.total)
    {
        return Err(UserError::usage(
            format!(
                "the shards were planned differently: `{}` has plan {} of {}, `{}` has plan {} of {}",
                first_dir.display(),
                first.fingerprint,
                first.total,
                other.dir.display(),
                other.info.fingerprint,
                other.info.total
            ),
            "every shard job must restore the same reports/durations.json and collect the same tests before `cargo xtask shard`",
        ));
    }
    check_each_once(shards, first.total)?;
    if let Some(other) = shards.iter().find(|s| {
        s.info.collected != first.collected || s.info.collected_digest != first.collected_digest
    }) {
        return Err(UserError::usage(
            format!(
                "the shards collected different suites: `{}` has {} tests ({}), `{}` has {} ({})",
                first_dir.display(),
                first.collected,
                first.collected_digest,
                other.dir.display(),
                other.info.collected,
                other.info.collected_digest
            ),
            "every shard job must check out the same commit and run `cargo xtask shard` with the same arguments",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<&String> = shards
        .iter()
        .flat_map(|s| &s.info.planned)
        .filter(|id| !seen.insert(id.as_str()))
        .collect();
    if !twice.is_empty() || seen.len() != first.collected {
        return Err(UserError::usage(
            format!(
                "the shards' plans do not cover the suite exactly once: {} of {} collected tests planned{}",
                seen.len(),
                first.collected,
                if twice.is_empty() {
                    String::new()
                } else {
                    format!(", {} planned twice (e.g. `{}`)", twice.len(), twice[0])
                }
            ),
            "re-run every shard from the same commit, durations and arguments",
        ));
    }
    Ok(())
}

/// Every index of `1..=total` exactly once.
fn check_each_once(shards: &[ShardReports], total: u16) -> Result<(), UserError> {
    let mut seen = vec![false; total as usize];
    for s in shards {
        let slot = usize::from(s.info.index)
            .checked_sub(1)
            .and_then(|i| seen.get_mut(i))
            .ok_or_else(|| {
                UserError::usage(
                    format!(
                        "`{}`: shard index {} is out of range",
                        s.dir.display(),
                        s.info.index
                    ),
                    "pass each shard's reports once",
                )
            })?;
        if *slot {
            return Err(UserError::usage(
                format!(
                    "shard {} is given twice (again in `{}`)",
                    s.info.index,
                    s.dir.display()
                ),
                "pass each shard's reports once",
            ));
        }
        *slot = true;
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(UserError::usage(
            format!("shard(s) {} of {total} are missing", missing.join(", ")),
            "pass the reports of every shard job",
        ));
    }
    Ok(())
}

/// The shards' event streams joined into one, and the run they describe:
/// every planned test is expected, so a test a shard never ran is counted.
pub fn events(shards: &[ShardReports]) -> (Vec<u8>, RunState) {
    let mut stream = Vec::new();
    for s in shards {
        crate::events::append_stream(&mut stream, &ReportPaths::in_dir(s.dir.clone()).events);
    }
    let mut state =
        RunState::from_events(crate::events::parse_all(&String::from_utf8_lossy(&stream)));
    state.expected = Some(
        shards
            .iter()
            .flat_map(|s| s.info.planned.iter().cloned())
            .collect(),
    );
    (stream, state)
}

/// Folds each shard's measured durations into `store`; a shard whose file
/// is damaged is left out.
pub fn durations(shards: &[ShardReports], store: &mut Durations) {
    for s in shards {
        let (theirs, warning) = Durations::load(&s.dir.join(durations::FILE_NAME));
        match warning {
            None => store.merge(&theirs),
            Some(w) => eprintln!("warning: shard {}: {w}", s.info.index),
        }
    }
}

/// The first shard that failed for a reason other than coverage (which is
/// judged on the merged data): why the merged run fails.
pub fn failed_shard(shards: &[ShardReports]) -> Option<String> {
    shards
        .iter()
        .find(|s| s.info.exit != 0 && s.info.exit != ExitCode::Coverage.code())
        .map(|s| format!("shard {} exited {}", s.info.index, s.info.exit))
}

/// Per shard, its per-process coverage data files, or its combined file
/// when that is all it kept; each with the name it gets in `reports_dir`
/// (`.coverage.shard<I>[.<suffix>]`), so no two collide.
pub fn coverage_files(shards: &[ShardReports], reports_dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for s in shards {
        let files = crate::coverage::CoveragePaths::new(&s.dir).data_files();
        let parts: Vec<PathBuf> = files
            .iter()
            .filter(|f| f.file_name().is_some_and(|n| n != ".coverage"))
            .cloned()
            .collect();
        let chosen = if parts.is_empty() { files } else { parts };
        for file in chosen {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".coverage");
            let suffix = name
                .strip_prefix(".coverage")
                .unwrap_or("")
                .trim_start_matches('.');
            let target = reports_dir.join(format!(
                ".coverage.shard{}{}{suffix}",
                s.info.index,
                if suffix.is_empty() { "" } else { "." }
            ));
            out.push((file, target));
        }
    }
    out
}

/// The shards as the history keeps them, with the slowest shard's wall
/// time; imbalance = slowest ÷ mean of the shards that had tests.
pub fn describe(shards: &[ShardReports]) -> (history::Shards, f64) {
    let slowest = shards.iter().map(|s| s.info.wall).fold(0.0, f64::max);
    let nonempty: Vec<f64> = shards
        .iter()
        .filter(|s| s.info.tests > 0)
        .map(|s| s.info.wall)
        .collect();
    let mean = nonempty.iter().sum::<f64>() / nonempty.len().max(1) as f64;
    let imbalance = if mean > 0.0 { slowest / mean } else { 1.0 };
    let runs = shards
        .iter()
        .map(|s| history::ShardRun {
            index: s.info.index,
            tests: s.info.tests,
            predicted: s.info.predicted,
            wall: s.info.wall,
            exit: s.info.exit,
        })
        .collect();
    (
        history::Shards {
            shards: runs,
            imbalance,
        },
        slowest,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: u16, planned: &[&str], wall: f64, exit: i32) -> ShardReports {
        let all: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        ShardReports {
            dir: PathBuf::from(format!("shard-{index}")),
            info: ShardInfo {
                index,
                total: 2,
                fingerprint: "plan".into(),
                collected: all.len(),
                collected_digest: digest(&all),
                planned: planned.iter().map(|s| s.to_string()).collect(),
                tests: planned.len(),
                predicted: wall,
                wall,
                exit,
            },
        }
    }

    #[test]
    fn a_whole_plan_passes_the_check() {
        check_plan(&[shard(1, &["a", "c"], 1.0, 0), shard(2, &["b"], 1.0, 0)]).unwrap();
    }

    #[test]
    fn missing_repeated_and_overlapping_shards_are_refused() {
        let missing = check_plan(&[shard(1, &["a", "b", "c"], 1.0, 0)]).unwrap_err();
        assert!(
            missing.to_string().contains("shard(s) 2 of 2 are missing"),
            "{missing}"
        );
        let twice =
            check_plan(&[shard(1, &["a"], 1.0, 0), shard(1, &["b", "c"], 1.0, 0)]).unwrap_err();
        assert!(
            twice.to_string().contains("shard 1 is given twice"),
            "{twice}"
        );
        let overlap =
            check_plan(&[shard(1, &["a", "b"], 1.0, 0), shard(2, &["b"], 1.0, 0)]).unwrap_err();
        assert!(
            overlap
                .to_string()
                .contains("2 of 3 collected tests planned, 1 planned twice (e.g. `b`)"),
            "{overlap}"
        );
        let mut other = shard(2, &["b"], 1.0, 0);
        other.info.fingerprint = "other".into();
        let replanned = check_plan(&[shard(1, &["a", "c"], 1.0, 0), other]).unwrap_err();
        assert!(
            replanned.to_string().contains("planned differently"),
            "{replanned}"
        );
        assert!(check_plan(&[]).is_err());
    }

    #[test]
    fn a_failed_shard_fails_the_merge_unless_only_coverage_failed() {
        let coverage = ExitCode::Coverage.code();
        assert_eq!(
            failed_shard(&[shard(1, &["a"], 1.0, coverage), shard(2, &["b"], 1.0, 0)]),
            None
        );
        assert_eq!(
            failed_shard(&[shard(1, &["a"], 1.0, 0), shard(2, &["b"], 1.0, 1)]).as_deref(),
            Some("shard 2 exited 1")
        );
    }

    #[test]
    fn imbalance_ignores_empty_shards() {
        let mut empty = shard(3, &[], 0.0, 0);
        empty.info.total = 3;
        let (shards, slowest) = describe(&[
            shard(1, &["a", "c"], 3.0, 0),
            shard(2, &["b"], 1.0, 0),
            empty,
        ]);
        assert_eq!(slowest, 3.0);
        assert!((shards.imbalance - 1.5).abs() < 1e-9);
        assert_eq!(shards.shards.len(), 3);
    }

    #[test]
    fn coverage_files_get_names_that_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let mut shards = Vec::new();
        for (i, files) in [
            (0u16, &[".coverage"][..]),
            (1, &[".coverage", ".coverage.gw0.1", ".coverage.gw1.2"][..]),
        ] {
            let d = dir.path().join(format!("s{i}"));
            std::fs::create_dir_all(&d).unwrap();
            for f in files {
                std::fs::write(d.join(f), "").unwrap();
            }
            let mut s = shard(i, &["a"], 1.0, 0);
            s.dir = d;
            shards.push(s);
        }
        let mut names: Vec<String> = coverage_files(&shards, Path::new("/r"))
            .into_iter()
            .map(|(_, to)| to.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".coverage.shard0",
                ".coverage.shard1.gw0.1",
                ".coverage.shard1.gw1.2"
            ]
        );
    }
}
