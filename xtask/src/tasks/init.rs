//! `cargo xtask init`: write a starter testing.toml for an existing Python
//! project by inspecting it (the package, where its test dependencies are
//! declared) and by asking pytest: the environment is set up, pytest
//! collects the project as plain `pytest` at its root would, and the test
//! paths `init` writes are kept only if they collect exactly those tests.
//! The project's own pytest configuration is used as it is: `testpaths` it
//! sets are never overridden.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use toml_edit::{value, Array, DocumentMut};

use crate::config::{self, Config, DEFAULTS_TOML, FILE_NAME};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx;
use crate::python::{collect, env};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing testing.toml.
    #[arg(long)]
    pub force: bool,
    /// Print the config instead of writing it.
    #[arg(long)]
    pub stdout: bool,
    /// The test paths to write (`project.test-paths`); refused when they
    /// collect fewer tests than plain pytest, or when the project's pytest
    /// configuration sets `testpaths` itself.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub test_paths: Vec<String>,
    /// Use this existing virtual environment as it is (`setup.enabled = false`)
    /// instead of creating `.venv`.
    #[arg(long, value_name = "DIR")]
    pub use_venv: Option<PathBuf>,
}

/// What inspection found.
#[derive(Debug, Default, PartialEq)]
pub struct Detected {
    pub test_paths: Vec<String>,
    pub source: Vec<String>,
    pub extras: Vec<String>,
    pub requirements: Vec<String>,
    pub packages: Vec<String>,
    pub notes: Vec<String>,
    /// An existing environment to use as it is.
    pub venv: Option<String>,
}

const DEP_NAMES: [&str; 4] = ["test", "tests", "testing", "dev"];

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let target = ctx.root.join(FILE_NAME);
    if target.exists() && !args.force && !args.stdout {
        return Err(UserError::usage(
            format!("`{}` already exists", target.display()),
            "pass `--force` to overwrite it, or `--stdout` to print the detected config",
        )
        .into());
    }
    let mut detected = detect(&ctx.root)?;
    if let Some(venv) = &args.use_venv {
        let python = venv.join("bin").join("python");
        if !python.exists() {
            return Err(UserError::usage(
                format!("`--use-venv {}` has no `bin/python`", venv.display()),
                "pass the directory of an existing virtual environment",
            )
            .into());
        }
        let venv = venv.canonicalize().unwrap_or_else(|_| venv.clone());
        detected.venv = Some(venv.display().to_string());
    }
    // Ask pytest what a plain run at the root collects, in the environment
    // the config describes.
    let config = config::parse_str(&render(&detected)?)
        .map_err(|e| anyhow::format_err!("internal error: init produced an invalid config: {e}"))?;
    let python = env::ensure(ctx, &config)
        .context("setting up the environment to ask pytest what it collects")?
        .python;
    let plain = collect::collect(&ctx.root, &config, &python, &[])?;
    eprintln!(
        "init: plain `pytest` collects {} tests (rootdir {}{}{})",
        plain.ids.len(),
        plain.rootdir.display(),
        plain
            .inifile
            .as_deref()
            .map(|f| format!(", configuration {f}"))
            .unwrap_or_default(),
        match plain.errors.len() {
            0 => String::new(),
            n => format!(", {n} collection error(s)"),
        }
    );
    detected.test_paths = choose_test_paths(ctx, &config, &python, &plain, &args.test_paths)?;
    let text = render(&detected)?;
    // The starter config must itself be valid.
    config::parse_str(&text)
        .map_err(|e| anyhow::format_err!("internal error: init produced an invalid config: {e}"))?;
    for note in &detected.notes {
        eprintln!("  {note}");
    }
    if args.stdout {
        print!("{text}");
        return Ok(ExitCode::Ok);
    }
    fsx::atomic_write(&target, &text)?;
    eprintln!("wrote {}", target.display());
    eprintln!(
        "next: cargo xtask -C {} pytest-parallel",
        ctx.root.display()
    );
    Ok(ExitCode::Ok)
}

/// The test paths to write: the user's, the project's own `testpaths`, or
/// a `tests` directory, each kept only when it collects every test plain
/// pytest collects; otherwise none (pytest's own discovery stays).
fn choose_test_paths(
    ctx: &Ctx,
    config: &Config,
    python: &Path,
    plain: &collect::Collection,
    asked: &[String],
) -> anyhow::Result<Vec<String>> {
    if !plain.testpaths.is_empty() {
        let file = plain.inifile.as_deref().unwrap_or("its configuration");
        if !asked.is_empty() && asked != plain.testpaths.as_slice() {
            return Err(UserError::usage(
                format!(
                    "the project's pytest configuration ({file}) sets `testpaths = {}`; init never overrides it",
                    plain.testpaths.join(" ")
                ),
                "drop `--test-paths`, or change `testpaths` in the project's own configuration",
            )
            .into());
        }
        eprintln!(
            "init: test paths {} from the project's `testpaths` ({file})",
            plain.testpaths.join(", ")
        );
        return Ok(plain.testpaths.clone());
    }
    let candidates: Vec<String> = if asked.is_empty() {
        ["tests", "test"]
            .iter()
            .filter(|d| ctx.root.join(d).is_dir())
            .take(1)
            .map(|d| d.to_string())
            .collect()
    } else {
        asked.to_vec()
    };
    if candidates.is_empty() {
        eprintln!("init: no test paths: pytest discovers the tests from the rootdir, as plain `pytest` does");
        return Ok(Vec::new());
    }
    for path in &candidates {
        if !ctx.root.join(path).exists() {
            return Err(UserError::usage(
                format!("test path `{path}` does not exist in the project"),
                "pass directories or files relative to the project root",
            )
            .into());
        }
    }
    let mut args: Vec<String> = candidates.clone();
    args.push(format!("--rootdir={}", plain.rootdir.display()));
    let chosen = collect::collect(&ctx.root, config, python, &args)?;
    let theirs: HashSet<&str> = chosen.ids.iter().map(String::as_str).collect();
    let missing: Vec<&str> = plain
        .ids
        .iter()
        .map(String::as_str)
        .filter(|id| !theirs.contains(id))
        .collect();
    if missing.is_empty() {
        eprintln!(
            "init: test paths {} collect all {} tests",
            candidates.join(", "),
            plain.ids.len()
        );
        return Ok(candidates);
    }
    let message = format!(
        "test paths {} collect {} of the {} tests plain `pytest` collects (not e.g. `{}`)",
        candidates.join(", "),
        plain.ids.len() - missing.len(),
        plain.ids.len(),
        missing[0]
    );
    if !asked.is_empty() {
        return Err(UserError::usage(
            message,
            "pass test paths that hold every test, or none: pytest then discovers them from the rootdir",
        )
        .into());
    }
    eprintln!(
        "init: {message}: writing no test paths, so pytest discovers the tests from the rootdir"
    );
    Ok(Vec::new())
}

/// Inspects the project at `root`.
pub fn detect(root: &Path) -> anyhow::Result<Detected> {
    let mut d = Detected::default();
    let pyproject: Option<toml::Table> = match std::fs::read_to_string(root.join("pyproject.toml"))
    {
        Ok(text) => Some(text.parse().with_context(|| {
            format!("cannot parse `{}`", root.join("pyproject.toml").display())
        })?),
        Err(_) => None,
    };

    // The package: src layout first, then packages at the root.
    let packages_in = |dir: &Path| -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("__init__.py").is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| {
                !matches!(
                    n.as_str(),
                    "tests" | "test" | "testing" | "docs" | "examples" | "benchmarks"
                )
            })
            .collect();
        found.sort();
        found
    };
    let src = packages_in(&root.join("src"));
    let root_pkgs = packages_in(root);
    d.source = if !src.is_empty() {
        src.clone()
    } else {
        root_pkgs.clone()
    };
    if !src.is_empty() {
        d.notes
            .push(format!("package: src/{} (src layout)", src.join(", src/")));
    } else if !root_pkgs.is_empty() {
        d.notes.push(format!(
            "package: {} (at the project root)",
            root_pkgs.join(", ")
        ));
    }

    // Test dependencies: extras, dependency groups, requirements files.
    if let Some(pyproject) = &pyproject {
        if let Some(extras) = pyproject
            .get("project")
            .and_then(|p| p.get("optional-dependencies"))
            .and_then(|e| e.as_table())
        {
            d.extras = DEP_NAMES
                .iter()
                .filter(|n| extras.contains_key(**n))
                .map(|n| n.to_string())
                .collect();
            if !d.extras.is_empty() {
                d.notes
                    .push(format!("test dependencies: extras {}", d.extras.join(", ")));
            }
        }
        if let Some(groups) = pyproject
            .get("dependency-groups")
            .and_then(|g| g.as_table())
        {
            if let Some(name) = DEP_NAMES.iter().find(|n| groups.contains_key(**n)) {
                let mut seen = Vec::new();
                collect_group(groups, name, &mut d.packages, &mut seen);
                d.notes
                    .push(format!("test dependencies: dependency group `{name}`"));
            }
        }
    }
    for candidate in [
        "requirements/tests.txt",
        "requirements/test.txt",
        "requirements/testing.txt",
        "requirements/dev.txt",
        "requirements-tests.txt",
        "requirements-test.txt",
        "requirements-dev.txt",
        "test-requirements.txt",
        "tests/requirements.txt",
        "dev-requirements.txt",
    ] {
        if root.join(candidate).is_file() && d.extras.is_empty() && d.packages.is_empty() {
            d.requirements.push(candidate.to_string());
            d.notes.push(format!("test dependencies: {candidate}"));
            break;
        }
    }
    if d.extras.is_empty() && d.packages.is_empty() && d.requirements.is_empty() {
        d.notes
            .push("no declared test dependencies found: add them to `setup.packages`".into());
    }
    d.packages.dedup();
    Ok(d)
}

/// The requirement strings of a dependency group, following `include-group`.
fn collect_group(groups: &toml::Table, name: &str, out: &mut Vec<String>, seen: &mut Vec<String>) {
    if seen.iter().any(|s| s == name) {
        return;
    }
    seen.push(name.to_string());
    let Some(items) = groups.get(name).and_then(|g| g.as_array()) else {
        return;
    };
    for item in items {
        match item {
            toml::Value::String(req) => out.push(req.clone()),
            toml::Value::Table(t) => {
                if let Some(inner) = t.get("include-group").and_then(|v| v.as_str()) {
                    collect_group(groups, inner, out, seen);
                }
            }
            _ => {}
        }
    }
}

/// The defaults file with the detected values filled in (comments kept).
pub fn render(d: &Detected) -> anyhow::Result<String> {
    let mut doc: DocumentMut = DEFAULTS_TOML
        .parse()
        .context("the embedded defaults are not valid TOML")?;
    let array = |items: &[String]| value(items.iter().map(String::as_str).collect::<Array>());
    doc["project"]["test-paths"] = array(&d.test_paths);
    doc["project"]["source"] = array(&d.source);
    doc["setup"]["extras"] = array(&d.extras);
    doc["setup"]["requirements"] = array(&d.requirements);
    doc["setup"]["packages"] = array(&d.packages);
    if let Some(venv) = &d.venv {
        doc["project"]["venv"] = value(venv.as_str());
        doc["setup"]["enabled"] = value(false);
    }
    Ok(doc.to_string())
}
