//! THE pytest command line. Serial and parallel runs, collection, the shards
//! engine, `--dry-run`, the reproduction line in the summary and the tests
//! all use [`build`]; no other file adds pytest flags.
//!
//! Every run loads the xtask's plugin (`-p xtask_events`), which reports
//! what pytest collected and how each test ended as typed events, so the
//! user's `addopts` (`-q`, `-v`, `-ra`, `-n`) cannot change what the xtask
//! sees. The project's own configuration (testpaths, markers, addopts) is
//! used as it is. Option values are always passed as `--opt=value`: pytest
//! treats a separate value that names an existing path as a command-line
//! path when it chooses the rootdir, which changes every node id.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Config, Dist};
use crate::fsx::relative;
use crate::workers::Workers;

use super::plugin;

/// Where one run's reports go: pytest writes into `partial/`, and finished
/// files are moved into `dir` atomically.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    pub dir: PathBuf,
    pub partial: PathBuf,
    pub junit: PathBuf,
    /// The plugin's event stream.
    pub events: PathBuf,
    /// pytest's own output (stdout and stderr), for people.
    pub output: PathBuf,
}

impl ReportPaths {
    /// Report paths inside `dir` (e.g. one per run of `verify`).
    pub fn in_dir(dir: PathBuf) -> ReportPaths {
        ReportPaths {
            partial: dir.join(".partial"),
            junit: dir.join("junit.xml"),
            events: dir.join("events.jsonl"),
            output: dir.join("pytest-output.log"),
            dir,
        }
    }

    /// The file pytest writes while it runs, for a final report path.
    pub fn in_progress(&self, final_path: &Path) -> PathBuf {
        self.partial
            .join(final_path.file_name().unwrap_or_default())
    }
}

/// Exactly these tests, in this order: what triage and bisect re-run, a CI
/// shard runs, and each process of the shards engine runs. The plugin
/// selects them after collection, so node ids pytest cannot take on its
/// command line (`::` or escapes inside parameter ids) work too; pytest is
/// given only the files that hold them, which keeps collection small.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub ids: Vec<String>,
    /// The rootdir pytest chose when it collected them: node ids are
    /// relative to it, and it is pinned so the files given do not move it.
    pub rootdir: PathBuf,
    /// Collectors (files) given to pytest besides the tests' own: files that
    /// failed to collect, so that their error is reported.
    pub also: Vec<String>,
}

/// The files a [`Selection`] is handed to pytest in.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionFiles {
    /// The node ids, one per line (`XTASK_SELECT`).
    pub ids: PathBuf,
    /// The files holding them, as an `@file` argument list.
    pub args: PathBuf,
}

impl Selection {
    /// The files the selected tests live in, in first-seen order, as paths
    /// from the rootdir.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut seen = std::collections::HashSet::new();
        self.ids
            .iter()
            .chain(&self.also)
            .map(|id| crate::durations::module_of(id))
            .filter(|m| seen.insert(*m))
            .map(|m| self.rootdir.join(m))
            .collect()
    }

    /// Writes the two lists into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<SelectionFiles> {
        let files = SelectionFiles {
            ids: dir.join("select-ids.txt"),
            args: dir.join("select-args.txt"),
        };
        write_lines(&files.ids, &self.ids)?;
        let paths: Vec<String> = self
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        write_lines(&files.args, &paths)?;
        Ok(files)
    }

    /// Whether pytest resolves every id given as a command-line argument
    /// (then the reproduction line shows them plainly).
    fn fits_command_line(&self) -> bool {
        self.ids.len() <= 20
            && self.ids.iter().all(|id| {
                let params = id.find('[').map_or("", |i| &id[i..]);
                !params.contains("::") && !id.contains('\\') && !id.chars().any(char::is_control)
            })
    }
}

/// What a run asks of pytest.
pub struct Spec<'a> {
    pub config: &'a Config,
    pub workers: &'a Workers,
    pub dist: Dist,
    /// `PYTHONHASHSEED` to set, when the environment does not set one.
    pub hash_seed: Option<String>,
    /// Arguments after `--`, passed through unchanged, last.
    pub extra: &'a [String],
    /// Run under coverage.py with this generated rcfile.
    pub coverage_rc: Option<&'a Path>,
    /// The directory the plugin was written to ([`plugin::dir`]).
    pub plugin_dir: &'a Path,
    /// Where the plugin writes its events.
    pub events: &'a Path,
    /// Run exactly these tests.
    pub selection: Option<(&'a Selection, &'a SelectionFiles)>,
    /// Run the modules in this order (a file of module paths).
    pub order: Option<&'a Path>,
    /// The label of one process among several (the shards engine's `gw<i>`).
    pub worker: Option<&'a str>,
    /// Only collect (`--collect-only`).
    pub collect_only: bool,
    /// Record what each test depended on, with keys relative to this root
    /// (`-p xtask_deps`).
    pub deps: Option<&'a Path>,
}

/// A ready-to-run pytest command.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub python: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// The command as shown to users: plain pytest, without the plugin
    /// unless a selection needs it.
    pub shown: Vec<String>,
    pub shown_env: Vec<(String, String)>,
}

/// Builds the pytest command for `spec`, run from `root` with `python`.
pub fn build(python: &Path, root: &Path, spec: &Spec) -> Invocation {
    let rel = |p: &Path| relative(p, root).to_string_lossy().into_owned();
    let mut head: Vec<String> = Vec::new();
    if let Some(rc) = spec.coverage_rc {
        head.extend([
            "-m".into(),
            "coverage".into(),
            "run".into(),
            format!("--rcfile={}", rel(rc)),
        ]);
    }
    head.extend(["-m".into(), "pytest".into()]);
    // The options every command has, shown or not.
    let mut common: Vec<String> = Vec::new();
    match spec.workers {
        // `-n 0` rather than `-p no:xdist`: a project's own `-n auto` in
        // addopts is neutralised instead of rejected.
        Workers::Serial { .. } => common.push("--numprocesses=0".into()),
        Workers::Parallel { n, .. } => {
            common.push(format!("--numprocesses={n}"));
            common.push(format!("--dist={}", spec.dist));
            if spec.order.is_some() {
                common.push("--no-loadscope-reorder".into());
            }
        }
    }
    if spec.collect_only {
        common.push("--collect-only".into());
    }
    // Serial pytest stops at a collection error, xdist runs the rest: every
    // engine runs the rest, so serial and parallel compare like with like
    // (the collection error still fails the run).
    common.push("--continue-on-collection-errors".into());

    let mut env = vec![
        ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        (
            "PYTHONPATH".to_string(),
            plugin::python_path(spec.plugin_dir),
        ),
        (
            plugin::EVENTS_VAR.to_string(),
            spec.events.display().to_string(),
        ),
    ];
    let mut shown_env = Vec::new();
    if let Some(seed) = &spec.hash_seed {
        env.push(("PYTHONHASHSEED".into(), seed.clone()));
        shown_env.push(("PYTHONHASHSEED".into(), seed.clone()));
    }
    if let Some(order) = spec.order {
        env.push((plugin::ORDER_VAR.into(), order.display().to_string()));
    }
    if let Some(worker) = spec.worker {
        env.push((plugin::WORKER_VAR.into(), worker.to_string()));
    }

    let mut args = head.clone();
    args.extend(["-p".into(), plugin::MODULE.into()]);
    if let Some(root) = spec.deps {
        env.push((plugin::DEPS_VAR.into(), root.display().to_string()));
        args.extend(["-p".into(), plugin::DEPS_MODULE.into()]);
    }
    args.extend(common.iter().cloned());
    let mut shown = head;
    shown.extend(common);
    if let Some((selection, files)) = spec.selection {
        env.push((plugin::SELECT_VAR.into(), files.ids.display().to_string()));
        let rootdir = format!("--rootdir={}", selection.rootdir.display());
        args.push(rootdir.clone());
        args.push(format!("@{}", rel(&files.args)));
        if selection.rootdir != root {
            shown.push(rootdir);
        }
        if selection.fits_command_line() {
            shown.extend(selection.ids.iter().cloned());
        } else {
            shown_env.push(("PYTHONPATH".into(), spec.plugin_dir.display().to_string()));
            shown_env.push((plugin::SELECT_VAR.into(), rel(&files.ids)));
            shown.extend(["-p".into(), plugin::MODULE.into()]);
            shown.push(format!("@{}", rel(&files.args)));
        }
    }
    for tail in [&spec.config.pytest.args[..], spec.extra] {
        args.extend(tail.iter().cloned());
        shown.extend(tail.iter().cloned());
    }
    Invocation {
        python: python.to_path_buf(),
        args,
        env,
        cwd: root.to_path_buf(),
        shown,
        shown_env,
    }
}

/// The `PYTHONHASHSEED` a run sets (None when the environment sets one) and
/// the note that explains it.
pub fn hash_seed(config: &Config) -> (Option<String>, String) {
    match std::env::var("PYTHONHASHSEED")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(v) => (None, format!("PYTHONHASHSEED={v} from the environment")),
        None => {
            let seed = config.pytest.hash_seed.value.unwrap_or(0).to_string();
            (
                Some(seed.clone()),
                format!("PYTHONHASHSEED={seed} fixed so every worker collects the same tests (set it in the environment to override)"),
            )
        }
    }
}

/// Writes `items` one per line to `path` (atomically).
pub fn write_lines(path: &Path, items: &[impl AsRef<str>]) -> anyhow::Result<()> {
    let text: String = items.iter().map(|i| format!("{}\n", i.as_ref())).collect();
    crate::fsx::atomic_write(path, text)
}

impl Invocation {
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.args(&self.args).current_dir(&self.cwd);
        // The xtask has already turned PYTEST_WORKERS into `--numprocesses`:
        // a pytest the tests start themselves must not take it up again.
        cmd.env_remove(crate::workers::ENV_VAR);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The command as a shell line a user can paste, from the project root.
    pub fn display(&self) -> String {
        let mut words: Vec<String> = self
            .shown_env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        words.push(quote(&relative(&self.python, &self.cwd).to_string_lossy()));
        words.extend(self.shown.iter().map(|a| quote(a)));
        words.join(" ")
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_for<'a>(
        config: &'a Config,
        workers: &'a Workers,
        extra: &'a [String],
        events: &'a Path,
    ) -> Spec<'a> {
        Spec {
            config,
            workers,
            dist: Dist::Loadscope,
            hash_seed: Some("0".into()),
            extra,
            coverage_rc: None,
            plugin_dir: Path::new("/cache/plugin"),
            events,
            selection: None,
            order: None,
            worker: None,
            collect_only: false,
            deps: None,
        }
    }

    #[test]
    fn serial_neutralises_xdist_and_parallel_passes_numbers() {
        let config = Config::default();
        let root = Path::new("/p");
        let events = Path::new("/p/reports/.partial/events.jsonl");
        let serial = Workers::Serial { why: "x".into() };
        let inv = build(
            Path::new("/p/.venv/bin/python"),
            root,
            &spec_for(&config, &serial, &[], events),
        );
        assert_eq!(
            inv.display(),
            "PYTHONHASHSEED=0 .venv/bin/python -m pytest --numprocesses=0 --continue-on-collection-errors"
        );
        assert_eq!(
            &inv.args[..4],
            ["-m", "pytest", "-p", "xtask_events"].map(String::from)
        );
        assert!(inv
            .env
            .contains(&("XTASK_EVENTS".into(), events.display().to_string())));
        let parallel = Workers::Parallel {
            n: 3,
            why: "x".into(),
        };
        let extra = vec!["-k".to_string(), "name with space".to_string()];
        let inv = build(
            Path::new("/p/.venv/bin/python"),
            root,
            &spec_for(&config, &parallel, &extra, events),
        );
        assert!(inv.args.contains(&"--numprocesses=3".to_string()));
        assert!(inv.args.contains(&"--dist=loadscope".to_string()));
        assert!(inv.display().ends_with("-k 'name with space'"));
        let rc = Path::new("/p/reports/coveragerc");
        let spec = Spec {
            coverage_rc: Some(rc),
            ..spec_for(&config, &parallel, &extra, events)
        };
        let inv = build(Path::new("/p/.venv/bin/python"), root, &spec);
        assert!(inv.display().contains(".venv/bin/python -m coverage run --rcfile=reports/coveragerc -m pytest --numprocesses=3"));
    }

    #[test]
    fn selections_go_through_the_plugin_and_show_plainly_when_they_can() {
        let config = Config::default();
        let root = Path::new("/p");
        let events = Path::new("/p/reports/events.jsonl");
        let serial = Workers::Serial { why: "x".into() };
        let files = SelectionFiles {
            ids: PathBuf::from("/p/reports/select-ids.txt"),
            args: PathBuf::from("/p/reports/select-args.txt"),
        };
        let plain = Selection {
            ids: vec!["tests/a.py::t[x y]".into(), "tests/b.py::u".into()],
            rootdir: PathBuf::from("/p"),
            also: vec!["tests/c.py".into()],
        };
        assert_eq!(
            plain.files(),
            vec![
                PathBuf::from("/p/tests/a.py"),
                PathBuf::from("/p/tests/b.py"),
                PathBuf::from("/p/tests/c.py")
            ]
        );
        let spec = Spec {
            selection: Some((&plain, &files)),
            ..spec_for(&config, &serial, &[], events)
        };
        let inv = build(Path::new("/p/.venv/bin/python"), root, &spec);
        assert!(inv.args.contains(&"@reports/select-args.txt".to_string()));
        assert!(inv.args.contains(&"--rootdir=/p".to_string()));
        assert!(inv
            .display()
            .ends_with("--continue-on-collection-errors 'tests/a.py::t[x y]' tests/b.py::u"));
        let odd = Selection {
            ids: vec!["tests/a.py::t[a::b]".into()],
            rootdir: PathBuf::from("/p"),
            also: Vec::new(),
        };
        let spec = Spec {
            selection: Some((&odd, &files)),
            ..spec_for(&config, &serial, &[], events)
        };
        let shown = build(Path::new("/p/.venv/bin/python"), root, &spec).display();
        assert!(
            shown.starts_with(
                "PYTHONHASHSEED=0 PYTHONPATH=/cache/plugin XTASK_SELECT=reports/select-ids.txt"
            ),
            "{shown}"
        );
        assert!(
            shown.ends_with("-p xtask_events @reports/select-args.txt"),
            "{shown}"
        );
    }
}
