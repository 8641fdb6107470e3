//! What pytest collects, asked of pytest: a `--collect-only` session with
//! the xtask's plugin, whose events list the node ids, the collection errors
//! and the rootdir. Plans, shards and `init` use it; the user's `-q` or `-v`
//! cannot change it. A collection is reused while no Python file, conftest
//! or configuration file of the project changed.

use std::path::{Path, PathBuf};

use crate::hash::Fingerprint;
use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::events::CollectError;
use crate::fsx;
use crate::layout::Layout;
use crate::report::RunState;
use crate::workers::Workers;

use super::argv::{self, hash_seed, Spec};
use super::child::{self, Feed, PytestExit};
use super::plugin;

/// The tests pytest collects, in its order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Collection {
    pub ids: Vec<String>,
    /// Files (or other collectors) that failed to collect.
    pub errors: Vec<CollectedError>,
    /// The rootdir pytest chose: node ids are relative to it.
    pub rootdir: PathBuf,
    /// The `testpaths` in effect, and the configuration file they came from.
    pub testpaths: Vec<String>,
    pub inifile: Option<String>,
    /// Items left out by the selection (`-k`, `-m`).
    pub deselected: usize,
}

/// A collection error, as kept with a collection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CollectedError {
    pub id: String,
    pub msg: String,
}

impl From<&CollectError> for CollectedError {
    fn from(e: &CollectError) -> Self {
        CollectedError {
            id: e.id.clone(),
            msg: e.msg.clone(),
        }
    }
}

/// Runs a `--collect-only` session with `extra` arguments (the selection).
pub fn collect(
    root: &Path,
    config: &Config,
    python: &Path,
    extra: &[String],
) -> anyhow::Result<Collection> {
    let dir = tempfile::Builder::new()
        .prefix(".collect-")
        .tempdir_in(scratch_dir(root, config)?)
        .context("cannot create a directory for the collection")?;
    let events = dir.path().join("events.jsonl");
    let plugin_dir = plugin::dir()?;
    let (seed, _) = hash_seed(config);
    let serial = Workers::Serial {
        why: "collection".into(),
    };
    let inv = argv::build(
        python,
        root,
        &Spec {
            config,
            workers: &serial,
            dist: config.parallel.dist.value,
            hash_seed: seed,
            extra,
            coverage_rc: None,
            plugin_dir: &plugin_dir,
            events: &events,
            selection: None,
            order: None,
            worker: None,
            collect_only: true,
            deps: None,
        },
    );
    let process = child::Process {
        inv: inv.clone(),
        events: events.clone(),
        output_log: dir.path().join("output.log"),
    };
    let mut state = RunState::default();
    let mut output: Vec<String> = Vec::new();
    let finished = child::run(&[process], &mut |feed| match feed {
        Feed::Event(i, event) => {
            state.apply(i, &event);
        }
        Feed::Output(_, line) => output.push(line.to_string()),
        Feed::Tick => {}
    })?;
    if finished.interrupted {
        anyhow::bail!("interrupted while collecting the tests");
    }
    let exit = finished.exits[0];
    let tail = || {
        let lines = &output[output.len().saturating_sub(20)..];
        lines.join("\n")
    };
    let (Some(ids), Some(start)) = (
        state.collected(),
        state.processes.first().and_then(|p| p.start.as_ref()),
    ) else {
        return Err(UserError::usage(
            format!(
                "collecting the tests failed: pytest ended ({exit}) before it reported a collection{}",
                if output.is_empty() { String::new() } else { format!(":\n{}", tail()) }
            ),
            format!("run `{}` to see why", inv.display()),
        )
        .into());
    };
    if exit == PytestExit::Usage {
        return Err(UserError::usage(
            format!("pytest rejected the collection command:\n{}", tail()),
            format!("run `{}` to see why", inv.display()),
        )
        .into());
    }
    Ok(Collection {
        ids: ids.into_iter().map(str::to_string).collect(),
        errors: state
            .collect_errors
            .iter()
            .map(CollectedError::from)
            .collect(),
        rootdir: PathBuf::from(&start.rootdir),
        testpaths: start.testpaths.clone(),
        inifile: start.inifile.clone(),
        deselected: state.deselected(),
    })
}

/// The directory collections and other scratch files go into.
fn scratch_dir(root: &Path, config: &Config) -> anyhow::Result<PathBuf> {
    let dir = Layout::new(root, config).dir;
    fsx::create_reports_dir(&dir)?;
    Ok(dir)
}

#[derive(Serialize, Deserialize)]
struct Cached {
    key: String,
    collection: Collection,
}

/// [`collect`], or the last collection with the same arguments while no
/// file it depends on changed; the flag says which.
pub fn collect_cached(
    ctx: &Ctx,
    config: &Config,
    python: &Path,
    extra: &[String],
) -> anyhow::Result<(Collection, bool)> {
    let key = key(ctx, config, python, extra);
    let path = ctx.layout(config).collection_cache();
    if let Some(cached) = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Cached>(&bytes).ok())
        .filter(|c| c.key == key)
    {
        return Ok((cached.collection, true));
    }
    let collection = collect(&ctx.root, config, python, extra)?;
    fsx::atomic_write(
        &path,
        serde_json::to_vec(&Cached {
            key,
            collection: collection.clone(),
        })?,
    )?;
    Ok((collection, false))
}

/// Forgets the cached collection (when pytest says a listed test is gone).
pub fn forget(ctx: &Ctx, config: &Config) {
    std::fs::remove_file(ctx.layout(config).collection_cache()).ok();
}

/// What a collection depends on: the arguments, the interpreter, the
/// environment's seed, and every Python and configuration file of the
/// project (path, size, modification time).
fn key(ctx: &Ctx, config: &Config, python: &Path, extra: &[String]) -> String {
    let mut hasher = Fingerprint::new();
    for arg in extra.iter().chain(config.pytest.args.iter()) {
        hasher.field(arg);
    }
    hasher.field(python.to_string_lossy().as_bytes());
    hasher.field(hash_seed(config).0.unwrap_or_default());
    hasher.field(plugin::SOURCE);
    let reports = ctx.layout(config).dir;
    for file in fsx::project_files(&ctx.root, &[&reports]) {
        hasher.field(file.to_string_lossy().as_bytes());
        if let Ok(meta) = file.metadata() {
            hasher.bytes(meta.len().to_le_bytes());
            if let Ok(d) = meta
                .modified()
                .map(|m| m.duration_since(std::time::UNIX_EPOCH))
            {
                hasher.bytes(d.unwrap_or_default().as_nanos().to_le_bytes());
            }
        }
    }
    hasher.hex(usize::MAX)
}
