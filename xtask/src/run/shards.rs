//! The shards engine: instead of xdist, K plain pytest processes run at once,
//! each given a disjoint, duration-balanced share of the collected tests
//! (the same planner as CI sharding). No controller round trips, and heavy
//! modules can be split; each process pays its own start-up.
//!
//! Each process is given the files of its tests and selects its tests
//! through the xtask's plugin, so any node id works. Every process gets
//! `PYTEST_XDIST_WORKER=gw<i>` and `PYTEST_XDIST_WORKER_COUNT=K`, so
//! per-worker isolation written for xdist keeps working.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::request::RunRequest;
use crate::config::Config;
use crate::ctx::Ctx;
use crate::durations::Durations;
use crate::plan;
use crate::python::argv::hash_seed;
use crate::python::argv::{self, Selection, Spec};
use crate::python::child;
use crate::python::collect;
use crate::python::env::PythonEnv;
use crate::workers::Workers;

/// The processes of a sharded run.
pub struct ShardPlan {
    pub processes: Vec<child::Process>,
    /// The tests each process runs, in order.
    pub tests: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

/// Collects (or reuses the cached collection), plans, and builds one pytest
/// command per non-empty shard.
pub fn prepare(
    ctx: &Ctx,
    config: &Config,
    env: &PythonEnv,
    req: &RunRequest,
    plugin_dir: &Path,
) -> anyhow::Result<ShardPlan> {
    let mut notes = Vec::new();
    // A selected run (`--changed`, a CI shard) is planned over its selection.
    let (collection, cached) = match &req.selection {
        Some(selection) => (
            collect::Collection {
                ids: selection.ids.clone(),
                errors: selection
                    .also
                    .iter()
                    .map(|id| collect::CollectedError {
                        id: id.clone(),
                        msg: String::new(),
                    })
                    .collect(),
                rootdir: selection.rootdir.clone(),
                ..Default::default()
            },
            false,
        ),
        None => collect::collect_cached(ctx, config, &env.python, &req.extra)?,
    };
    let (store, warning) = Durations::load(&ctx.layout(config).durations());
    let k = req.workers.count() as usize;
    if store.tests.is_empty() {
        notes.push(
            "no recorded durations yet: tests are balanced by count; this run records them".into(),
        );
    } else {
        notes.extend(warning);
        notes.push(format!(
            "{} tests balanced over {k} processes by recorded durations",
            collection.ids.len(),
        ));
    }
    if cached {
        notes.push("test list reused from the last collection (no project file changed)".into());
    }
    let planned = plan::balance(
        &collection.ids,
        &store,
        config.parallel.granularity,
        req.dist,
        k,
    );
    let mut shards: Vec<Vec<String>> = planned
        .shards
        .into_iter()
        .map(|s| s.tests)
        .filter(|t| !t.is_empty())
        .collect();
    let errors: Vec<String> = collection.errors.iter().map(|e| e.id.clone()).collect();
    if shards.is_empty() && !errors.is_empty() {
        // No tests, only broken files: one process reports their errors.
        shards.push(Vec::new());
    }
    if !errors.is_empty() {
        notes.push(format!(
            "{} file(s) failed to collect and are reported by gw0: {}",
            errors.len(),
            errors.join(", ")
        ));
    }
    if !shards.is_empty() && shards.len() < k {
        notes.push(format!(
            "only {} of {k} shards have tests; empty shards are not started",
            shards.len()
        ));
    }
    let (seed, _) = hash_seed(config);
    let serial = Workers::Serial {
        why: "shards engine".into(),
    };
    let cov = crate::coverage::CoveragePaths::new(&req.reports.dir);
    let count = shards.len().to_string();
    let mut processes = Vec::new();
    for (i, tests) in shards.iter().enumerate() {
        let worker = format!("gw{i}");
        let dir = req.reports.partial.join(&worker);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let selection = Selection {
            ids: tests.clone(),
            rootdir: collection.rootdir.clone(),
            also: if i == 0 { errors.clone() } else { Vec::new() },
        };
        // Kept after the run, so it can be reproduced (and benchmarked) as it was.
        let files = selection.write(&ctx.layout(config).shard_lists().join(&worker))?;
        let events: PathBuf = dir.join("events.jsonl");
        let mut inv = argv::build(
            &env.python,
            &ctx.root,
            &Spec {
                config,
                workers: &serial,
                dist: req.dist,
                hash_seed: seed.clone(),
                extra: &req.extra,
                coverage_rc: req.coverage.then_some(cov.rcfile.as_path()),
                plugin_dir,
                events: &events,
                selection: Some((&selection, &files)),
                order: None,
                worker: Some(&worker),
                collect_only: false,
                deps: req.deps.then_some(ctx.root.as_path()),
            },
        );
        for var in [
            ("PYTEST_XDIST_WORKER".to_string(), worker.clone()),
            ("PYTEST_XDIST_WORKER_COUNT".to_string(), count.clone()),
        ] {
            inv.env.push(var.clone());
            inv.shown_env.push(var);
        }
        processes.push(child::Process {
            inv,
            events,
            output_log: dir.join("pytest-output.log"),
        });
    }
    Ok(ShardPlan {
        processes,
        tests: shards,
        notes,
    })
}
