//! Change-aware selection: a record of what each test depended on (the
//! plugin's `xtask_deps` reports it in the event stream; [`record`] keeps it
//! with the project's files as they were), and the choice of the tests a
//! change can affect ([`select`]), compared function by function
//! ([`source`]).

pub mod mutate;
pub mod record;
pub mod select;
pub mod source;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::python::collect::Collection;
pub use crate::report::history::ShadowResult;
use record::Record;
use select::{Choice, Inputs};

/// Where the record lives (`reports/deps.json`).
pub fn path(ctx: &Ctx, config: &Config) -> PathBuf {
    ctx.layout(config).dir.join(record::FILE_NAME)
}

/// The project's files now, leaving out the reports and the environment.
pub fn files_now(ctx: &Ctx, config: &Config) -> BTreeMap<String, String> {
    let reports = ctx.layout(config).dir;
    let venv = ctx.root.join(&config.project.venv.value);
    record::snapshot(&ctx.root, &[&reports, &venv])
}

/// `major.minor.micro` of `python`.
pub fn python_version(python: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new(python)
        .args(["-c", "import platform; print(platform.python_version())"])
        .output()
        .with_context(|| format!("cannot run `{}`", python.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "`{}` could not report its version",
        python.display()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What recording a run produced.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    /// Tests on record after this run (including kept ones).
    pub tests: usize,
    /// Tests this run recorded.
    pub recorded: usize,
    /// Tests of this run left off the record (failed, erred, crashed).
    pub unrecorded: usize,
    pub functions: usize,
}

/// The project's modules that keep state from one test to the next, and
/// why, read from every Python file among `files` (path → content hash,
/// from `root`; what `previous` read of a file unchanged since is reused);
/// and what each file says about state.
pub fn keeping_state(
    root: &Path,
    files: &BTreeMap<String, String>,
    previous: Option<&Record>,
) -> (BTreeMap<String, String>, BTreeMap<String, state::Shape>) {
    let shapes: BTreeMap<String, state::Shape> = files
        .iter()
        .filter(|(p, _)| p.ends_with(".py"))
        .filter_map(|(p, hash)| {
            let known = previous
                .and_then(|r| r.files.get(p))
                .filter(|e| &e.hash == hash)
                .and_then(|e| e.st.clone())
                .filter(|st| st.rules == state::RULES && st.imports.is_some());
            let shape = match known {
                Some(shape) => shape,
                None => state::shape(&std::fs::read_to_string(root.join(p)).ok()?),
            };
            Some((p.clone(), shape))
        })
        .collect();
    (state::keeping_state(&shapes, shapes.keys()), shapes)
}

/// Records what the tests of the run whose events are at `stream`
/// depended on, over the files as they are now, into the project's record,
/// which keeps the tests this run did not run; or, for a CI shard, into
/// `shard` (its own tests only: `merge` combines the shards').
pub fn record_run(
    ctx: &Ctx,
    config: &Config,
    stream: &Path,
    shard: Option<&Path>,
) -> anyhow::Result<Written> {
    let path = shard.map_or_else(|| path(ctx, config), Path::to_path_buf);
    let previous = match shard {
        Some(_) => None,
        None => Record::load(&path)
            .unwrap_or(None)
            .filter(Record::is_current),
    };
    let now = files_now(ctx, config);
    let (keeping, mut shapes) = keeping_state(&ctx.root, &now, previous.as_ref());
    let mut seen = record::observe(stream, &|module| keeping.contains_key(module))?;
    seen.attribute_collection(&ctx.root, |module, keys| {
        state::imported_elsewhere(&shapes, module)
            || keys
                .iter()
                .any(|k| keeping.contains_key(record::module_of_key(k)))
    });
    anyhow::ensure!(
        !seen.ran.is_empty(),
        "the run ended no test, so there is nothing to record"
    );
    let imported: BTreeSet<String> = seen
        .imported
        .iter()
        .chain(previous.iter().flat_map(|p| p.imported.iter()))
        .cloned()
        .collect();
    let mut files = record::with_facts(
        &ctx.root,
        now,
        |path| imported.contains(path),
        previous.as_ref(),
    );
    for (path, entry) in files.iter_mut() {
        entry.st = shapes.remove(path);
    }
    let (commit, _) = crate::report::history::git_info(&ctx.root);
    let recorded = seen.tests.len();
    let unrecorded = seen.unrecorded;
    let mut record = record::build(&ctx.root, seen, files, previous, commit);
    record.state = keeping;
    // Why the modules tests ran keep state (others do not carry anyway).
    let imported = &record.imported;
    record.state.retain(|module, _| imported.contains(module));
    record.save(&path)?;
    Ok(Written {
        path,
        tests: record.tests.len(),
        recorded,
        unrecorded,
        functions: record.function_count(),
    })
}

/// Merges the records CI shards wrote (`paths` that exist) with the
/// project's record, into the project's record. `None`: no shard recorded.
pub fn merge_shards(
    ctx: &Ctx,
    config: &Config,
    paths: &[PathBuf],
) -> anyhow::Result<Option<Written>> {
    let mut shards = Vec::new();
    for p in paths {
        if let Some(record) = Record::load(p)?.filter(Record::is_current) {
            shards.push(record);
        }
    }
    let recorded: usize = shards.iter().map(|r| r.tests.len()).sum();
    let unrecorded: usize = shards.iter().map(|r| r.failed.len()).sum();
    let target = path(ctx, config);
    let previous = Record::load(&target)
        .unwrap_or(None)
        .filter(Record::is_current);
    let Some(merged) = record::merge(shards, previous) else {
        return Ok(None);
    };
    merged.save(&target)?;
    Ok(Some(Written {
        path: target,
        tests: merged.tests.len(),
        recorded,
        unrecorded,
        functions: merged.function_count(),
    }))
}

/// The project files the services' `start` commands run: a module after
/// `-m` (as `pkg/mod.py`, `pkg/mod/__main__.py` or `pkg/mod/__init__.py`,
/// under any source directory) or a `.py` path.
pub fn service_files(
    config: &Config,
    files: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, service) in &config.services {
        let Some(start) = &service.value.start else {
            continue;
        };
        let argv = &start.value;
        let mut wanted: Vec<String> = Vec::new();
        for (i, arg) in argv.iter().enumerate() {
            if arg == "-m" {
                if let Some(module) = argv.get(i + 1) {
                    let base = module.replace('.', "/");
                    wanted.push(format!("{base}.py"));
                    wanted.push(format!("{base}/__main__.py"));
                    wanted.push(format!("{base}/__init__.py"));
                }
            } else if arg.ends_with(".py") {
                wanted.push(arg.trim_start_matches("{root}/").to_string());
            }
        }
        for path in files.keys() {
            if wanted
                .iter()
                .any(|w| path == w || path.ends_with(&format!("/{w}")))
            {
                out.insert(path.clone(), name.clone());
            }
        }
    }
    out
}

/// Files changed between `rev` and the working tree (committed or not).
pub fn changed_since(root: &Path, rev: &str) -> anyhow::Result<Vec<String>> {
    let out = std::process::Command::new("git")
        .args(["diff", "--name-only", "--no-renames", rev, "--"])
        .current_dir(root)
        .output()
        .context("cannot run git")?;
    anyhow::ensure!(
        out.status.success(),
        "`git diff {rev}` failed: {}; give `--changed` a revision git knows (a commit, branch or tag)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The selection for the tests collected now (`collection`), against the
/// record, plus the files changed since `rev`.
pub fn choose_now(
    ctx: &Ctx,
    config: &Config,
    python: &Path,
    collection: &Collection,
    rev: Option<&str>,
) -> anyhow::Result<(Choice, Option<Record>)> {
    let record = Record::load(&path(ctx, config))?;
    let since = match rev {
        Some(rev) => changed_since(&ctx.root, rev)?,
        None => Vec::new(),
    };
    let version = python_version(python)?;
    let files = files_now(ctx, config);
    let rootdir = crate::fsx::relative(&collection.rootdir, &ctx.root)
        .to_string_lossy()
        .replace('\\', "/");
    let rootdir = if rootdir == "." {
        String::new()
    } else {
        rootdir
    };
    let read = |p: &str| std::fs::read_to_string(ctx.root.join(p)).ok();
    let services = service_files(config, &files);
    let choice = select::choose(&Inputs {
        record: record.as_ref(),
        python: &version,
        files: &files,
        read: &read,
        collected: &collection.ids,
        rootdir: &rootdir,
        since: &since,
        services: &services,
    });
    Ok((choice, record))
}

impl Written {
    /// The summary's line.
    pub fn line(&self, root: &Path) -> String {
        let kept = self.tests.saturating_sub(self.recorded);
        let mut line = format!(
            "dependency record: {} tests ({} from this run{}), {} project functions → {}",
            self.tests,
            self.recorded,
            if kept > 0 {
                format!(", {kept} kept from the record")
            } else {
                String::new()
            },
            self.functions,
            crate::fsx::relative(&self.path, root).display()
        );
        if self.unrecorded > 0 {
            line.push_str(&format!(
                "; {} failed or crashed and stay selected until they pass",
                self.unrecorded
            ));
        }
        line
    }
}

/// What a shadow run (`--changed --shadow`) would have selected.
#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    pub selected: std::collections::BTreeSet<String>,
    /// Why the selection would have run everything.
    pub everything: Option<String>,
}

impl Shadow {
    pub fn of(choice: &Choice) -> Shadow {
        Shadow {
            selected: choice.selected.iter().map(|(id, _)| id.clone()).collect(),
            everything: choice.everything.clone(),
        }
    }

    /// The selection judged by the full run's outcomes: a skipped test that
    /// failed is a miss.
    pub fn judge(&self, state: &crate::report::RunState) -> ShadowResult {
        let mut result = ShadowResult {
            everything: self.everything.clone(),
            ..ShadowResult::default()
        };
        for test in &state.tests {
            if self.selected.contains(&test.nodeid) {
                result.selected += 1;
                result.selected_seconds += test.duration;
            } else {
                result.skipped += 1;
                result.skipped_seconds += test.duration;
                if test.outcome.is_failure() {
                    result.missed.push(test.nodeid.clone());
                }
            }
        }
        result
    }
}
