//! The project's virtual environment: created with uv (installed into the
//! xtask tools directory when absent) or `venv` + pip as the fallback, and
//! re-installed only when its inputs change.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::hash::Fingerprint;
use anyhow::Context;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::fsx;

/// The Python modules every run needs, with the packages that provide them.
pub const TOOLING: &[(&str, &str)] = &[
    ("pytest", "pytest>=8.2"),
    ("xdist", "pytest-xdist>=3.5"),
    ("pytest_cov", "pytest-cov>=6"),
    ("coverage", "coverage>=7.10"),
];

const STAMP_FILE: &str = ".xtask-setup";
/// v2: installed packages are compiled to bytecode.
const STAMP_VERSION: &str = "xtask-setup v2";

/// A ready environment.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    /// The environment's interpreter.
    pub python: PathBuf,
    /// Whether this call installed anything.
    pub installed: bool,
    pub seconds: f64,
}

/// Makes sure the environment is set up, doing no work when nothing changed.
pub fn ensure(ctx: &Ctx, config: &Config) -> anyhow::Result<PythonEnv> {
    ensure_with(ctx, config, false)
}

/// Like [`ensure`]; `force` re-installs even when the stamp matches. An
/// environment the xtask manages (`setup.enabled`) also gets the hook that
/// makes plain `pytest` honour `PYTEST_WORKERS`.
pub fn ensure_with(ctx: &Ctx, config: &Config, force: bool) -> anyhow::Result<PythonEnv> {
    let env = prepare(ctx, config, force)?;
    if config.setup.enabled {
        // Only plain pytest needs it: a failure here never stops a task.
        if let Err(err) = super::workers_plugin::install(&ctx.root.join(&config.project.venv.value))
        {
            eprintln!("warning: plain pytest will not honour PYTEST_WORKERS here: {err:#}");
        }
    }
    Ok(env)
}

fn prepare(ctx: &Ctx, config: &Config, force: bool) -> anyhow::Result<PythonEnv> {
    let started = Instant::now();
    let venv = ctx.root.join(&config.project.venv.value);
    let python = venv.join("bin").join("python");

    if !config.setup.enabled {
        if !python.exists() {
            return Err(UserError::setup(
                format!("the virtual environment `{}` has no Python and `setup.enabled = false`", config.project.venv.value),
                "create it yourself, or set `setup.enabled = true` in testing.toml so `cargo xtask setup` builds it",
            )
            .into());
        }
        check_tooling(&python, config)?;
        return Ok(PythonEnv {
            python,
            installed: false,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let interpreter = find_interpreter(&ctx.root, &config.project.python.value)?;
    let stamp = stamp(&ctx.root, config, &interpreter)?;
    let stamp_path = venv.join(STAMP_FILE);
    let fresh = |stamp_path: &Path| {
        python.exists() && std::fs::read_to_string(stamp_path).is_ok_and(|s| s == stamp)
    };
    if !force && fresh(&stamp_path) {
        return Ok(PythonEnv {
            python,
            installed: false,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    // One setup at a time per environment: concurrent runs wait, then see the stamp.
    let lock_name = format!(
        "{}.lock",
        crate::hash::of(venv.to_string_lossy().as_bytes(), usize::MAX)
    );
    let _lock = fsx::FileLock::acquire(&fsx::cache_dir().join("locks").join(lock_name))?;
    if !force && fresh(&stamp_path) {
        return Ok(PythonEnv {
            python,
            installed: false,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let installer = Installer::find(&interpreter);
    eprintln!(
        "setup: installing `{}` with {} (inputs changed or environment missing)",
        config.project.venv.value,
        installer.name()
    );
    let previous = std::fs::read_to_string(&stamp_path).unwrap_or_default();
    let same_interpreter = previous.lines().nth(1) == stamp.lines().nth(1);
    if venv.exists() && !venv.join("pyvenv.cfg").exists() {
        return Err(UserError::setup(
            format!(
                "`{}` exists but is not a virtual environment",
                venv.display()
            ),
            "move it away, or set `project.venv` in testing.toml to another path",
        )
        .into());
    }
    let (staging, retired) = (sibling(&venv, "xtask-new"), sibling(&venv, "xtask-old"));
    // What an interrupted earlier rebuild left beside the environment.
    for leftover in [&staging, &retired] {
        if leftover.exists() {
            std::fs::remove_dir_all(leftover)
                .with_context(|| format!("cannot remove `{}`", leftover.display()))?;
        }
    }
    let rebuild = !python.exists() || !same_interpreter || !runs(&python);
    if rebuild && matches!(installer, Installer::Uv(_)) {
        // Built beside the old environment and swapped in at the end: an
        // interrupted rebuild leaves the old one (and a staging directory
        // the next run removes). uv makes it relocatable, so the rename
        // leaves its scripts working.
        let staged_python = staging.join("bin").join("python");
        installer.create_venv(&interpreter, &staging)?;
        install(&installer, &interpreter, &ctx.root, config, &staged_python)?;
        check_tooling(&staged_python, config)?;
        fsx::atomic_write(&staging.join(STAMP_FILE), &stamp)?;
        if venv.exists() {
            std::fs::rename(&venv, &retired)
                .with_context(|| format!("cannot move `{}` aside", venv.display()))?;
        }
        std::fs::rename(&staging, &venv)
            .with_context(|| format!("cannot move the new environment to `{}`", venv.display()))?;
        std::fs::remove_dir_all(&retired).ok();
    } else {
        if rebuild {
            // venv + pip cannot relocate an environment: rebuilt in place.
            if venv.exists() {
                std::fs::remove_dir_all(&venv).with_context(|| {
                    format!("cannot remove the broken environment `{}`", venv.display())
                })?;
            }
            installer.create_venv(&interpreter, &venv)?;
        }
        // The stamp goes first and comes back last: an interrupted install
        // is repeated by the next run.
        std::fs::remove_file(&stamp_path).ok();
        install(&installer, &interpreter, &ctx.root, config, &python)?;
        check_tooling(&python, config)?;
        fsx::atomic_write(&stamp_path, &stamp)?;
    }
    Ok(PythonEnv {
        python,
        installed: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `<venv>.<suffix>`, beside the environment.
fn sibling(venv: &Path, suffix: &str) -> PathBuf {
    let name = venv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "venv".into());
    venv.with_file_name(format!("{name}.{suffix}"))
}

fn runs(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "pass"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Finds `project.python` on PATH (or as a path relative to the project).
fn find_interpreter(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let missing = |why: String| {
        UserError::MissingTool {
        tool: name.to_string(),
        why,
        hint: "install that Python, or set `project.python` in testing.toml to an interpreter you have (e.g. \"python3\")".into(),
    }
    };
    if name.contains('/') {
        let path = root.join(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(missing(format!(
                "`project.python` points at `{}`, which does not exist",
                path.display()
            ))
            .into())
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(missing("it is `project.python` in testing.toml and is not on PATH".into()).into())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What decides whether the environment is current: the interpreter, the
/// dependency files and the `[setup]` section.
fn stamp(root: &Path, config: &Config, interpreter: &Path) -> anyhow::Result<String> {
    let real = interpreter
        .canonicalize()
        .unwrap_or_else(|_| interpreter.to_path_buf());
    let meta = real.metadata().ok();
    let mtime = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
    let mut hasher = Fingerprint::new();
    hasher.bytes(serde_json::to_string(&config.setup)?);
    let mut files: Vec<PathBuf> = vec![
        root.join("pyproject.toml"),
        root.join("setup.py"),
        root.join("setup.cfg"),
    ];
    files.extend(config.setup.lock.iter().map(|l| root.join(l)));
    files.extend(config.setup.requirements.iter().map(|r| root.join(r)));
    for file in files {
        hasher.bytes(file.to_string_lossy().as_bytes());
        match std::fs::read(&file) {
            Ok(bytes) => hasher.bytes(&bytes),
            Err(_) => hasher.bytes(b"<absent>"),
        };
    }
    Ok(format!(
        "{STAMP_VERSION}\ninterpreter {} {} {}\ninputs {}\n",
        real.display(),
        meta.map_or(0, |m| m.len()),
        mtime.map_or(0, |d| d.as_secs()),
        hasher.hex(usize::MAX)
    ))
}

/// uv, or the interpreter's own venv + pip.
enum Installer {
    Uv(PathBuf),
    Pip,
}

impl Installer {
    fn name(&self) -> &'static str {
        match self {
            Installer::Uv(_) => "uv",
            Installer::Pip => "venv + pip (uv unavailable)",
        }
    }

    /// uv from PATH, from the tools directory, or installed there with pip.
    fn find(interpreter: &Path) -> Installer {
        if std::env::var_os("XTASK_NO_UV").is_some_and(|v| !v.is_empty()) {
            return Installer::Pip;
        }
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        if let Some(uv) = std::env::split_paths(&path_var)
            .map(|d| d.join("uv"))
            .find(|p| is_executable(p))
        {
            return Installer::Uv(uv);
        }
        let tools = fsx::cache_dir().join("tools");
        let uv = tools.join("bin").join("uv");
        if is_executable(&uv) {
            return Installer::Uv(uv);
        }
        eprintln!("setup: installing uv into `{}`", tools.display());
        let ok = Command::new(interpreter)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--root-user-action=ignore",
                "--upgrade",
                "--target",
            ])
            .arg(&tools)
            .arg("uv")
            .status()
            .is_ok_and(|s| s.success());
        if ok && is_executable(&uv) {
            Installer::Uv(uv)
        } else {
            eprintln!("warning: could not install uv; falling back to venv + pip");
            Installer::Pip
        }
    }

    fn command(&self, python: &Path) -> Command {
        match self {
            Installer::Uv(uv) => {
                let mut cmd = Command::new(uv);
                // Bytecode compiled once at install, as pip does: otherwise
                // every pytest process (each worker, each shard) compiles
                // pytest and the dependencies again when bytecode cannot be
                // written (a read-only tree, PYTHONDONTWRITEBYTECODE).
                cmd.env("UV_PYTHON_DOWNLOADS", "never")
                    .env("UV_NO_PROGRESS", "1")
                    .env("UV_COMPILE_BYTECODE", "1");
                cmd.env_remove("VIRTUAL_ENV");
                cmd.arg("pip");
                cmd.arg("--quiet");
                let _ = python;
                cmd
            }
            Installer::Pip => {
                let mut cmd = Command::new(python);
                cmd.args(["-m", "pip", "--disable-pip-version-check", "--quiet"]);
                cmd
            }
        }
    }

    fn create_venv(&self, interpreter: &Path, venv: &Path) -> anyhow::Result<()> {
        let mut cmd = match self {
            Installer::Uv(uv) => {
                let mut cmd = Command::new(uv);
                cmd.env("UV_PYTHON_DOWNLOADS", "never")
                    .env_remove("VIRTUAL_ENV");
                cmd.args(["venv", "--quiet", "--relocatable", "--python"])
                    .arg(interpreter)
                    .arg(venv);
                cmd
            }
            Installer::Pip => {
                let mut cmd = Command::new(interpreter);
                cmd.args(["-m", "venv"]).arg(venv);
                cmd
            }
        };
        run_step(
            &mut cmd,
            &format!("creating the virtual environment `{}`", venv.display()),
            "check that `project.python` is a working Python 3 with the venv module",
        )
    }

    /// `pip install` (or `uv pip install`) into the environment of `python`.
    fn install(
        &self,
        python: &Path,
        args: &[String],
        what: &str,
        hint: &str,
    ) -> anyhow::Result<()> {
        self.install_with(python, args, &[], what)?
            .map_err(|failed| step_error(failed, what, hint))
    }

    fn install_with(
        &self,
        python: &Path,
        args: &[String],
        options: &[&str],
        what: &str,
    ) -> anyhow::Result<Result<(), StepFailed>> {
        let mut cmd = self.command(python);
        cmd.arg("install");
        if matches!(self, Installer::Uv(_)) {
            cmd.arg("--python").arg(python);
        }
        cmd.args(options).args(args);
        try_step(&mut cmd, what)
    }

    /// Installs the project the way pip would: when uv cannot resolve the
    /// project's own metadata (a source distribution that declares
    /// `tool.uv.sources` it does not ship, a source kind uv does not know),
    /// once more without the sources, then with pip (the base interpreter's,
    /// aimed at the environment). Says which way worked and why.
    fn install_project(
        &self,
        interpreter: &Path,
        python: &Path,
        args: &[String],
        what: &str,
        hint: &str,
    ) -> anyhow::Result<()> {
        let first = match self.install_with(python, args, &[], what)? {
            Ok(()) => return Ok(()),
            Err(failed) => failed,
        };
        if !matches!(self, Installer::Uv(_)) || is_network_error(&first.output) {
            return Err(step_error(first, what, hint));
        }
        let why = first
            .output
            .lines()
            .find(|l| l.contains("error"))
            .unwrap_or("uv failed")
            .trim()
            .to_string();
        eprintln!("setup: uv could not install the project ({why}); trying again without `tool.uv.sources`");
        let second = match self.install_with(python, args, &["--no-sources"], what)? {
            Ok(()) => {
                eprintln!("setup: installed without `tool.uv.sources` (uv --no-sources)");
                return Ok(());
            }
            Err(failed) => failed,
        };
        if is_network_error(&second.output) {
            return Err(step_error(second, what, hint));
        }
        eprintln!("setup: uv failed again; trying pip, as `pip install` of the project would");
        let mut pip = Command::new(interpreter);
        pip.args([
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--quiet",
            "--python",
        ])
        .arg(python)
        .args(["install", "--root-user-action=ignore"])
        .args(args);
        match try_step(&mut pip, what)? {
            Ok(()) => {
                eprintln!("setup: installed with pip (uv could not resolve the project)");
                Ok(())
            }
            Err(failed) => Err(step_error(failed, what, hint)),
        }
    }

    /// Installs exactly the lock (uv removes anything else).
    fn sync(&self, python: &Path, lock: &Path) -> anyhow::Result<()> {
        let what = format!(
            "installing the locked dependencies from `{}`",
            lock.display()
        );
        let hint = "check the lock file (regenerate it with `uv pip compile pyproject.toml --extra dev -o <lock>`) and run `cargo xtask setup` again";
        match self {
            Installer::Uv(_) => {
                let mut cmd = self.command(python);
                cmd.arg("sync").arg("--python").arg(python).arg(lock);
                run_step(&mut cmd, &what, hint)
            }
            Installer::Pip => self.install(
                python,
                &["-r".into(), lock.to_string_lossy().into_owned()],
                &what,
                hint,
            ),
        }
    }
}

fn install(
    installer: &Installer,
    interpreter: &Path,
    root: &Path,
    config: &Config,
    python: &Path,
) -> anyhow::Result<()> {
    let setup = &config.setup;
    if let Some(lock) = &setup.lock {
        installer.sync(python, &root.join(lock))?;
    }
    let mut args: Vec<String> = Vec::new();
    for req in &setup.requirements {
        args.push("-r".into());
        args.push(root.join(req).to_string_lossy().into_owned());
    }
    let has_project = root.join("pyproject.toml").exists() || root.join("setup.py").exists();
    if setup.install_project && has_project {
        let target = if setup.extras.is_empty() || setup.lock.is_some() {
            root.to_string_lossy().into_owned()
        } else {
            format!("{}[{}]", root.display(), setup.extras.join(","))
        };
        if setup.lock.is_some() {
            // The lock pins the project's dependencies already.
            let what = "installing the project (editable)";
            installer.install_project(
                interpreter,
                python,
                &["--no-deps".into(), "-e".into(), target],
                what,
                "check that the project builds: `pip install -e .` must work",
            )?;
        } else {
            args.push("-e".into());
            args.push(target);
        }
    }
    if setup.lock.is_none() {
        args.extend(TOOLING.iter().map(|(_, pkg)| pkg.to_string()));
    }
    args.extend(setup.packages.iter().cloned());
    if !args.is_empty() {
        installer.install_project(
            interpreter,
            python,
            &args,
            "installing the project and its test dependencies",
            "check `[setup]` in testing.toml (requirements, extras, packages) and that the project installs with pip",
        )?;
    }
    Ok(())
}

/// Fails with a hint when a module every run needs is missing.
pub fn check_tooling(python: &Path, config: &Config) -> anyhow::Result<()> {
    let modules: Vec<&str> = TOOLING.iter().map(|(m, _)| *m).collect();
    let script = format!(
        "import importlib.util, sys\nmissing = [m for m in {modules:?} if importlib.util.find_spec(m) is None]\nprint(' '.join(missing))\n"
    );
    let out = Command::new(python)
        .args(["-c", &script])
        .output()
        .with_context(|| format!("cannot run `{}`", python.display()))?;
    if !out.status.success() {
        return Err(UserError::setup(
            format!(
                "the environment's Python `{}` does not run",
                python.display()
            ),
            "run `cargo xtask setup --force` to rebuild it",
        )
        .into());
    }
    let missing = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing
        .split_whitespace()
        .filter_map(|m| {
            TOOLING
                .iter()
                .find(|(module, _)| *module == m)
                .map(|(_, p)| *p)
        })
        .collect();
    let hint = if config.setup.lock.is_some() {
        format!(
            "add {} to the dependencies the lock is compiled from, and re-lock",
            packages.join(", ")
        )
    } else {
        format!(
            "add {} to `setup.packages` in testing.toml, or install them into the environment",
            packages.join(", ")
        )
    };
    Err(UserError::setup(
        format!("the environment lacks Python modules the xtask needs: {missing}"),
        hint,
    )
    .into())
}

/// A setup command that failed, with what it printed.
struct StepFailed {
    status: std::process::ExitStatus,
    output: String,
}

/// Runs one command quietly, in its own process group so that Ctrl-C,
/// SIGTERM or SIGHUP stop it through the xtask (which then stops too);
/// its output is returned when it fails.
fn try_step(cmd: &mut Command, what: &str) -> anyhow::Result<Result<(), StepFailed>> {
    use std::os::unix::process::CommandExt;
    crate::signals::install();
    let output = tempfile::tempfile().context("cannot create a temporary file")?;
    let mut child = cmd
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output.try_clone()?)
        .spawn()
        .with_context(|| format!("cannot start the command for {what}"))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if crate::signals::interrupted() {
            crate::signals::kill_group(child.id(), libc::SIGTERM);
            std::thread::sleep(std::time::Duration::from_millis(300));
            crate::signals::kill_group(child.id(), libc::SIGKILL);
            child.wait().ok();
            anyhow::bail!("interrupted while {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if status.success() {
        return Ok(Ok(()));
    }
    let mut text = String::new();
    let mut output = output;
    use std::io::{Read, Seek};
    output.rewind().ok();
    output.read_to_string(&mut text).ok();
    Ok(Err(StepFailed {
        status,
        output: text,
    }))
}

/// Words of installers' messages that mean the package index could not be reached.
const NETWORK_ERRORS: [&str; 9] = [
    "error sending request",
    "dns error",
    "failed to lookup address",
    "temporary failure in name resolution",
    "connection refused",
    "network is unreachable",
    "could not connect",
    "connecterror",
    "failed to establish a new connection",
];

/// Whether an installer's output says the network failed.
fn is_network_error(output: &str) -> bool {
    let lower = output.to_lowercase();
    NETWORK_ERRORS.iter().any(|e| lower.contains(e))
}

/// Shows the end of a failed step's output and turns it into the error the
/// user sees; a network failure gets a hint of its own.
fn step_error(failed: StepFailed, what: &str, hint: &str) -> anyhow::Error {
    let lines: Vec<&str> = failed.output.lines().collect();
    eprintln!("---- output ----");
    for line in &lines[lines.len().saturating_sub(30)..] {
        eprintln!("{line}");
    }
    eprintln!("----------------");
    let hint = if is_network_error(&failed.output) {
        "the package index could not be reached: check the network or proxy (HTTPS_PROXY), or set UV_OFFLINE=1 to install only from uv's cache".to_string()
    } else {
        hint.to_string()
    };
    UserError::setup(format!("{what} failed ({})", failed.status), hint).into()
}

/// Runs one setup command, showing its output only when it fails.
fn run_step(cmd: &mut Command, what: &str, hint: &str) -> anyhow::Result<()> {
    try_step(cmd, what)?.map_err(|failed| step_error(failed, what, hint))
}
