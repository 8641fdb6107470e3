//! The `Test` builder: runs the real xtask binary on a fixture project copied
//! into a fresh temporary directory, then asserts status, output and files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The repository root (parent of the xtask crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn xtask_bin() -> &'static str {
    env!("CARGO_BIN_EXE_xtask")
}

/// The repository's own environment, set up once per test binary; fixture
/// projects reuse it (`setup.enabled = false`) so tests do not install.
pub fn shared_venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = Command::new(xtask_bin())
            .args(["--no-progress", "setup"])
            .arg("-C")
            .arg(repo_root())
            .output()
            .expect("run xtask setup");
        assert!(
            out.status.success(),
            "xtask setup failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        repo_root().join(".venv")
    })
}

/// Runs of the bundled suite (a whole CPU each) go one at a time.
pub fn heavy() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "__pycache__" {
                continue;
            }
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A testing.toml that points at the shared environment, with the reports
/// in `reports/` (unless `extra` sets them).
pub fn shared_config(test_paths: &str, extra: &str) -> String {
    let reports = if extra.contains("[reports]") {
        ""
    } else {
        "\n[reports]\ndir = \"reports\"\n"
    };
    format!(
        "[project]\nvenv = \"{}\"\ntest-paths = {test_paths}\n\n[setup]\nenabled = false\n{reports}{extra}",
        shared_venv().display()
    )
}

/// A copy of the bundled project (its package, suite and configuration) in
/// a temporary directory, using the shared environment: runs of the bundled
/// suite never touch the checkout's `reports/`.
pub fn bundled_copy() -> Test {
    let test = Test::empty();
    let root = repo_root();
    for dir in ["src", "tests"] {
        copy_dir(&root.join(dir), &test.path().join(dir));
    }
    for file in ["pyproject.toml", "pytest.ini", "requirements-dev.lock"] {
        std::fs::copy(root.join(file), test.path().join(file)).unwrap();
    }
    let config = std::fs::read_to_string(root.join("testing.toml"))
        .unwrap()
        .replace(
            "venv = \".venv\"",
            &format!("venv = \"{}\"", shared_venv().display()),
        )
        .replace("[setup]\n", "[setup]\nenabled = false\n");
    assert!(config.contains("enabled = false"), "{config}");
    test.write("testing.toml", &config)
}

#[must_use]
pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
}

impl Test {
    /// An empty project directory.
    pub fn empty() -> Test {
        Test {
            dir: tempfile::Builder::new()
                .prefix("xtask-it-")
                .tempdir()
                .unwrap(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: vec![
                "PYTEST_WORKERS".into(),
                "PYTHONHASHSEED".into(),
                "GITHUB_ACTIONS".into(),
                "CI".into(),
            ],
        }
    }

    /// A copy of `tests/fixtures/<name>` with a testing.toml using the shared environment.
    pub fn fixture(name: &str) -> Test {
        let test = Test::empty();
        copy_dir(&fixture_dir(name), test.path());
        test.write("testing.toml", &shared_config("[\"tests\"]", ""))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fixes `parallel.engine = "xdist"`: for tests of what xdist itself does
    /// (its workers, their ids, `--max-worker-restart`, its retries).
    pub fn xdist(self) -> Test {
        let config = self.read("testing.toml");
        assert!(!config.contains("[parallel]"), "{config}");
        self.write(
            "testing.toml",
            &format!("{config}\n[parallel]\nengine = \"xdist\"\n"),
        )
    }

    pub fn write(self, rel: &str, contents: &str) -> Test {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Test {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(xtask_bin());
        cmd.arg("-C").arg(self.path()).arg("--no-progress");
        cmd.args(&self.args);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the xtask and returns its output (the temp dir lives on in `self`).
    pub fn run(&self) -> Run {
        let output = self.command().output().unwrap();
        Run { output }
    }

    /// Runs the xtask with `args` and extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(xtask_bin());
        cmd.arg("-C")
            .arg(self.path())
            .arg("--no-progress")
            .args(args);
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(env.iter().copied())
        {
            cmd.env(k, v);
        }
        Run {
            output: cmd.output().unwrap(),
        }
    }

    /// Runs the xtask with `args` instead of the builder's, in the same directory.
    pub fn run_args(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel))
            .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts the exit code, showing all output when it differs.
    #[track_caller]
    pub fn status(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// `(classname::name, outcome)` of every test case in a JUnit file, sorted:
/// what two runs are compared by.
pub fn junit_outcomes(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: Vec<(String, String)> = text
        .split("<testcase")
        .skip(1)
        .map(|case| {
            let attr = |name: &str| {
                let start = case.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                case[start..].split('"').next().unwrap().to_string()
            };
            let body = case.split("</testcase>").next().unwrap();
            let outcome = if body.contains("<failure") {
                "failed"
            } else if body.contains("<error") {
                "error"
            } else if body.contains("<skipped") {
                "skipped"
            } else {
                "passed"
            };
            (
                format!("{}::{}", attr("classname"), attr("name")),
                outcome.to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Processes whose command line or working directory mentions `needle`
/// (other than this test): what a run must not leave behind.
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if (cmdline.contains(needle) || cwd.to_string_lossy().contains(needle))
            && pid != std::process::id()
        {
            pids.push(pid);
        }
    }
    pids
}

/// Executed lines and branches per file of a coverage.json.
pub fn executed(json: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let files = v["files"].as_object().unwrap();
    files
        .iter()
        .map(|(k, f)| {
            (
                k.clone(),
                serde_json::json!([f["executed_lines"], f["executed_branches"]]),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
