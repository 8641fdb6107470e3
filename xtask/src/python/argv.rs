//! THE pytest command line. Serial and parallel runs, `--dry-run`, the
//! reproduction line in the summary and the tests all use [`build`]; no other
//! file adds pytest flags.
//!
//! Option values are always passed as `--opt=value`: pytest treats a separate
//! value that names an existing path as a command-line path when it chooses
//! the rootdir, which changes every node id.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Config, Dist};
use crate::fsx::relative;
use crate::workers::Workers;

/// Where one run's reports go: pytest writes into `partial/`, and finished
/// files are moved into `dir` atomically.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    pub dir: PathBuf,
    pub partial: PathBuf,
    pub junit: PathBuf,
    pub reportlog: PathBuf,
    pub output: PathBuf,
}

impl ReportPaths {
    pub fn new(root: &Path, config: &Config) -> ReportPaths {
        ReportPaths::in_dir(root.join(&config.reports.dir.value))
    }

    /// Report paths inside `dir` (e.g. one per run of `verify`).
    pub fn in_dir(dir: PathBuf) -> ReportPaths {
        ReportPaths {
            partial: dir.join(".partial"),
            junit: dir.join("junit.xml"),
            reportlog: dir.join("pytest-log.jsonl"),
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

/// What a run asks of pytest.
pub struct Spec<'a> {
    pub config: &'a Config,
    pub workers: &'a Workers,
    pub dist: Dist,
    pub paths: &'a ReportPaths,
    /// `PYTHONHASHSEED` to set, when the environment does not set one.
    pub hash_seed: Option<String>,
    /// Arguments after `--`, passed through unchanged, last.
    pub extra: &'a [String],
    /// Run under coverage.py with this generated rcfile.
    pub coverage_rc: Option<&'a Path>,
}

/// A ready-to-run pytest command.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub python: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// The arguments as shown to users: report paths point at the final files.
    pub shown: Vec<String>,
}

/// Builds the pytest command for `spec`, run from `root` with `python`.
pub fn build(python: &Path, root: &Path, spec: &Spec) -> Invocation {
    let rel = |p: &Path| relative(p, root).to_string_lossy().into_owned();
    let mut args: Vec<String> = Vec::new();
    if let Some(rc) = spec.coverage_rc {
        args.extend([
            "-m".into(),
            "coverage".into(),
            "run".into(),
            format!("--rcfile={}", rel(rc)),
        ]);
    }
    args.extend(["-m".into(), "pytest".into()]);
    match spec.workers {
        Workers::Serial { .. } => args.extend(["-p".into(), "no:xdist".into()]),
        Workers::Parallel { n, .. } => {
            args.push(format!("--numprocesses={n}"));
            args.push(format!("--dist={}", spec.dist));
        }
    }
    args.push("--rootdir=.".into());
    let test_paths: Vec<&str> = spec
        .config
        .project
        .test_paths
        .value
        .iter()
        .map(|s| s.value.as_str())
        .collect();
    args.push(format!("--override-ini=testpaths={}", test_paths.join(" ")));
    args.push(format!(
        "--junitxml={}",
        rel(&spec.paths.in_progress(&spec.paths.junit))
    ));
    args.push(format!(
        "--report-log={}",
        rel(&spec.paths.in_progress(&spec.paths.reportlog))
    ));
    args.extend(spec.config.pytest.args.iter().cloned());
    args.extend(spec.extra.iter().cloned());

    let mut env = vec![("PYTHONUNBUFFERED".to_string(), "1".to_string())];
    if let Some(seed) = &spec.hash_seed {
        env.push(("PYTHONHASHSEED".into(), seed.clone()));
    }
    let partial = format!("{}/", rel(&spec.paths.partial));
    let final_dir = format!("{}/", rel(&spec.paths.dir));
    let shown = args
        .iter()
        .map(|a| {
            if a.starts_with("--") {
                a.replacen(&partial, &final_dir, 1)
            } else {
                a.clone()
            }
        })
        .collect();
    Invocation {
        python: python.to_path_buf(),
        args,
        env,
        cwd: root.to_path_buf(),
        shown,
    }
}

/// The command that lists the collected node ids (`--collect-only -q`),
/// serial, with the same test paths and selection as a run.
pub fn build_collect(
    python: &Path,
    root: &Path,
    config: &Config,
    extra: &[String],
    hash_seed: Option<String>,
) -> Invocation {
    let test_paths: Vec<&str> = config
        .project
        .test_paths
        .value
        .iter()
        .map(|s| s.value.as_str())
        .collect();
    let mut args: Vec<String> = vec![
        "-m".into(),
        "pytest".into(),
        "--collect-only".into(),
        "-q".into(),
        "-p".into(),
        "no:xdist".into(),
    ];
    args.push("--rootdir=.".into());
    args.push(format!("--override-ini=testpaths={}", test_paths.join(" ")));
    args.extend(config.pytest.args.iter().cloned());
    args.extend(extra.iter().cloned());
    let mut env = vec![("PYTHONUNBUFFERED".to_string(), "1".to_string())];
    if let Some(seed) = hash_seed {
        env.push(("PYTHONHASHSEED".into(), seed));
    }
    Invocation {
        python: python.to_path_buf(),
        shown: args.clone(),
        args,
        env,
        cwd: root.to_path_buf(),
    }
}

/// Writes `items` one per line to `path` and returns the `@file` argument
/// (relative to `root`) that hands them to pytest (pytest ≥ 8.2).
pub fn arg_file(root: &Path, path: &Path, items: &[impl AsRef<str>]) -> anyhow::Result<String> {
    let text: String = items.iter().map(|i| format!("{}\n", i.as_ref())).collect();
    crate::fsx::atomic_write(path, text)?;
    Ok(format!("@{}", relative(path, root).display()))
}

/// Drops `-p no:xdist` from a serial command, so xdist's fixtures (e.g.
/// `worker_id`) stay available to the shards engine's processes.
pub fn keep_xdist_loaded(inv: &mut Invocation) {
    for args in [&mut inv.args, &mut inv.shown] {
        if let Some(pos) = args
            .windows(2)
            .position(|w| w[0] == "-p" && w[1] == "no:xdist")
        {
            args.drain(pos..pos + 2);
        }
    }
}

impl Invocation {
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.args(&self.args).current_dir(&self.cwd);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The command as a shell line a user can paste, from the project root.
    pub fn display(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .filter(|(k, _)| k != "PYTHONUNBUFFERED")
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
        paths: &'a ReportPaths,
        extra: &'a [String],
    ) -> Spec<'a> {
        Spec {
            config,
            workers,
            dist: Dist::Loadscope,
            paths,
            hash_seed: Some("0".into()),
            extra,
            coverage_rc: None,
        }
    }

    #[test]
    fn serial_disables_xdist_and_parallel_passes_numbers() {
        let config = Config::default();
        let root = Path::new("/p");
        let paths = ReportPaths::new(root, &config);
        let serial = Workers::Serial { why: "x".into() };
        let inv = build(
            Path::new("/p/.venv/bin/python"),
            root,
            &spec_for(&config, &serial, &paths, &[]),
        );
        assert_eq!(
            inv.display(),
            "PYTHONHASHSEED=0 .venv/bin/python -m pytest -p no:xdist --rootdir=. --override-ini=testpaths=tests \
             --junitxml=reports/junit.xml --report-log=reports/pytest-log.jsonl"
        );
        let parallel = Workers::Parallel {
            n: 3,
            why: "x".into(),
        };
        let extra = vec!["-k".to_string(), "name with space".to_string()];
        let inv = build(
            Path::new("/p/.venv/bin/python"),
            root,
            &spec_for(&config, &parallel, &paths, &extra),
        );
        assert!(inv.args.contains(&"--numprocesses=3".to_string()));
        assert!(inv.args.contains(&"--dist=loadscope".to_string()));
        assert!(inv.display().ends_with("-k 'name with space'"));
        let rc = Path::new("/p/reports/coveragerc");
        let spec = Spec {
            coverage_rc: Some(rc),
            ..spec_for(&config, &parallel, &paths, &extra)
        };
        let inv = build(Path::new("/p/.venv/bin/python"), root, &spec);
        assert!(inv.display().contains(".venv/bin/python -m coverage run --rcfile=reports/coveragerc -m pytest --numprocesses=3"));
    }
}
