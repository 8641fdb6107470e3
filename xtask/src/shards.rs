//! The shards engine: instead of xdist, K plain pytest processes run at once,
//! each given a disjoint, duration-balanced share of the node ids through an
//! `@file` list (the same planner as CI sharding). No controller round trips,
//! and heavy modules can be split; each process pays its own start-up.
//!
//! Every process gets `PYTEST_XDIST_WORKER=gw<i>` and
//! `PYTEST_XDIST_WORKER_COUNT=K`, so per-worker isolation written for xdist
//! keeps working.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::durations::Durations;
use crate::fsx;
use crate::junit;
use crate::plan;
use crate::python::argv::{self, Invocation, ReportPaths, Spec};
use crate::python::collect;
use crate::python::env::PythonEnv;
use crate::run::{durations_path, hash_seed, RunRequest};
use crate::workers::Workers;

/// One process of a sharded run.
pub struct ShardProcess {
    pub worker: String,
    pub tests: Vec<String>,
    pub invocation: Invocation,
    pub reportlog: PathBuf,
    pub junit: PathBuf,
    pub output_log: PathBuf,
}

pub struct ShardPlan {
    pub processes: Vec<ShardProcess>,
    pub notes: Vec<String>,
}

/// Collects (or reuses the cached collection), plans, and builds one pytest
/// command per non-empty shard.
pub fn prepare(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
) -> anyhow::Result<ShardPlan> {
    let mut notes = Vec::new();
    let (collected, errors, cached) = collected_ids(ctx, config, &env.python, &req.extra)?;
    let (store, warning) = Durations::load(&durations_path(ctx, config));
    match warning {
        Some(_) => notes.push(
            "no recorded durations yet: tests are balanced by count; this run records them".into(),
        ),
        None => notes.push(format!(
            "{} tests balanced over {} processes by recorded durations",
            collected.len(),
            req.workers.count()
        )),
    }
    if cached {
        notes.push("test list reused from the last collection (no test file changed)".into());
    }
    let k = req.workers.count() as usize;
    let planned = plan::balance(&collected, &store, config.parallel.granularity, req.dist, k);
    let (seed, _) = hash_seed(config);
    let serial = Workers::Serial {
        why: "shards engine".into(),
    };
    let mut processes = Vec::new();
    let mut shards = planned.shards.clone();
    if !errors.is_empty() {
        // Files that fail to collect go to the first shard, whose pytest reports them.
        shards[0].tests.extend(errors.iter().cloned());
        notes.push(format!(
            "{} file(s) failed to collect and are reported by gw0: {}",
            errors.len(),
            errors.join(", ")
        ));
    }
    for shard in shards.iter().filter(|s| !s.tests.is_empty()) {
        let worker = format!("gw{}", processes.len());
        let dir = req.reports.partial.join(&worker);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let list = req.reports.dir.join("shards").join(format!("{worker}.txt"));
        let paths = ReportPaths {
            dir: dir.clone(),
            partial: dir.clone(),
            junit: dir.join("junit.xml"),
            reportlog: dir.join("pytest-log.jsonl"),
            output: dir.join("pytest-output.log"),
        };
        let mut extra = vec![argv::arg_file(&ctx.root, &list, &shard.tests)?];
        if processes.is_empty() && !errors.is_empty() {
            // The broken files must not stop the rest of this shard.
            extra.push("--continue-on-collection-errors".into());
        }
        let cov = crate::coverage::CoveragePaths::new(&req.reports.dir);
        let spec = Spec {
            config,
            workers: &serial,
            dist: req.dist,
            paths: &paths,
            hash_seed: seed.clone(),
            extra: &extra,
            coverage_rc: req.coverage.then_some(cov.rcfile.as_path()),
        };
        let mut invocation = argv::build(&env.python, &ctx.root, &spec);
        argv::keep_xdist_loaded(&mut invocation);
        invocation
            .env
            .push(("PYTEST_XDIST_WORKER".into(), worker.clone()));
        invocation.env.push((
            "PYTEST_XDIST_WORKER_COUNT".into(),
            planned
                .shards
                .iter()
                .filter(|s| !s.tests.is_empty())
                .count()
                .to_string(),
        ));
        processes.push(ShardProcess {
            worker,
            tests: shard.tests.clone(),
            invocation,
            reportlog: paths.reportlog.clone(),
            junit: paths.junit.clone(),
            output_log: paths.output.clone(),
        });
    }
    let count = processes.len().to_string();
    let _ = &planned;
    for p in &mut processes {
        if let Some(v) = p
            .invocation
            .env
            .iter_mut()
            .find(|(k, _)| k == "PYTEST_XDIST_WORKER_COUNT")
        {
            v.1.clone_from(&count);
        }
    }
    if processes.len() < k {
        notes.push(format!(
            "only {} of {k} shards have tests; empty shards are not started",
            processes.len()
        ));
    }
    Ok(ShardPlan { processes, notes })
}

/// Merges the processes' JUnit files, report logs and outputs into the run's
/// partial files, where the single-process path expects them.
pub fn gather_reports(plan: &ShardPlan, paths: &ReportPaths) -> anyhow::Result<()> {
    let mut junits = Vec::new();
    let mut all_valid = true;
    for p in &plan.processes {
        match std::fs::read_to_string(&p.junit) {
            Ok(text) if junit::parse(&text).is_ok() => junits.push(text),
            _ => all_valid = false,
        }
    }
    let partial_junit = paths.in_progress(&paths.junit);
    if all_valid && !junits.is_empty() {
        fsx::atomic_write(&partial_junit, junit::merge(&junits)?)?;
    } else {
        // The run rebuilds junit.xml from the merged report log.
        std::fs::remove_file(&partial_junit).ok();
    }
    let mut log = String::new();
    let mut output = String::new();
    for p in &plan.processes {
        let text = std::fs::read_to_string(&p.reportlog).unwrap_or_default();
        log.push_str(&label_worker(&text, &p.worker));
        if !log.is_empty() && !log.ends_with('\n') {
            log.push('\n');
        }
        output.push_str(&format!(
            "==== {} ({} tests) ====\n",
            p.worker,
            p.tests.len()
        ));
        output.push_str(&std::fs::read_to_string(&p.output_log).unwrap_or_default());
    }
    fsx::atomic_write(&paths.in_progress(&paths.reportlog), log)?;
    fsx::atomic_write(&paths.in_progress(&paths.output), output)?;
    Ok(())
}

/// Files one process's report log under its worker, as xdist files its
/// workers' reports: `worker_id` on every test report, and `item_index`, the
/// test's place in that process's run order. So the merged log still says
/// which tests ran, in which order, in which process (`triage`, `bisect`).
fn label_worker(text: &str, worker: &str) -> String {
    let mut order: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let labelled = serde_json::from_str::<serde_json::Value>(line.trim_end())
            .ok()
            .filter(|v| v["$report_type"] == "TestReport" && v.get("worker_id").is_none())
            .and_then(|mut value| {
                let nodeid = value["nodeid"].as_str()?.to_string();
                let next = order.len();
                let index = *order.entry(nodeid).or_insert(next);
                let object = value.as_object_mut()?;
                object.insert("worker_id".into(), worker.into());
                object.insert("item_index".into(), index.into());
                Some(value.to_string())
            });
        match labelled {
            Some(json) => {
                out.push_str(&json);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The collected node ids, reused from the last collection while no test
/// file, conftest or configuration changed.
fn collected_ids(
    ctx: &Ctx,
    config: &Config,
    python: &Path,
    extra: &[String],
) -> anyhow::Result<(Vec<String>, Vec<String>, bool)> {
    let key = collection_key(ctx, config, extra);
    let cache = ctx
        .root
        .join(&config.reports.dir.value)
        .join(".collected.json");
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            if value["key"] == key.as_str() {
                let strings = |v: &serde_json::Value| -> Vec<String> {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                };
                if value["ids"].is_array() {
                    return Ok((strings(&value["ids"]), strings(&value["errors"]), true));
                }
            }
        }
    }
    let (ids, errors) = collect::collect_with_errors(&ctx.root, config, python, extra)?;
    fsx::atomic_write(
        &cache,
        serde_json::json!({"key": key, "ids": ids, "errors": errors}).to_string(),
    )?;
    Ok((ids, errors, false))
}

/// Forgets the cached collection (when pytest says a listed test is gone).
pub fn forget_collection(ctx: &Ctx, config: &Config) {
    std::fs::remove_file(
        ctx.root
            .join(&config.reports.dir.value)
            .join(".collected.json"),
    )
    .ok();
}

/// What the collected ids depend on: every Python file under the test paths
/// (name, size, mtime), the project's config files, and the selection.
fn collection_key(ctx: &Ctx, config: &Config, extra: &[String]) -> String {
    let mut hasher = Sha256::new();
    for arg in extra.iter().chain(config.pytest.args.iter()) {
        hasher.update(arg.as_bytes());
        hasher.update([0]);
    }
    let mut files: Vec<PathBuf> = [
        "pytest.ini",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "conftest.py",
        "testing.toml",
    ]
    .iter()
    .map(|f| ctx.root.join(f))
    .collect();
    for test_path in &config.project.test_paths.value {
        python_files(&ctx.root.join(&test_path.value), &mut files);
    }
    files.sort();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        if let Ok(meta) = file.metadata() {
            hasher.update(meta.len().to_le_bytes());
            if let Ok(modified) = meta.modified() {
                if let Ok(d) = modified.duration_since(std::time::UNIX_EPOCH) {
                    hasher.update(d.as_nanos().to_le_bytes());
                }
            }
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn python_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if !name.starts_with('.') && name != "__pycache__" && !p.join("pyvenv.cfg").exists() {
                python_files(&p, out);
            }
        } else if name.ends_with(".py") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunState;

    #[test]
    fn merged_logs_say_which_process_ran_each_test_and_when() {
        let log = concat!(
            "{\"$report_type\": \"SessionStart\"}\n",
            "{\"nodeid\": \"t.py::b\", \"when\": \"setup\", \"outcome\": \"passed\", \"$report_type\": \"TestReport\"}\n",
            "{\"nodeid\": \"t.py::b\", \"when\": \"teardown\", \"outcome\": \"passed\", \"$report_type\": \"TestReport\"}\n",
            "{\"nodeid\": \"t.py::a\", \"when\": \"setup\", \"outcome\": \"passed\", \"$report_type\": \"TestReport\"}\n",
            "{\"nodeid\": \"t.py::a\", \"when\": \"teardown\", \"outcome\": \"pass",
        );
        let labelled = label_worker(log, "gw1");
        assert!(
            labelled.ends_with("\"outcome\": \"pass"),
            "a torn last line is kept as it was"
        );
        let mut state = RunState::default();
        for event in labelled
            .lines()
            .filter_map(crate::python::reportlog::parse_line)
        {
            state.apply(&event);
        }
        let seen: Vec<(&str, Option<&str>, Option<u64>)> = state
            .tests
            .iter()
            .map(|t| (t.nodeid.as_str(), t.worker.as_deref(), t.item_index))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("t.py::b", Some("gw1"), Some(0)),
                ("t.py::a", Some("gw1"), Some(1))
            ]
        );
    }
}
