//! `cargo xtask init`: write a starter testing.toml for an existing Python
//! project by inspecting it: test paths, the package, and where its test
//! dependencies are declared.

use std::path::{Path, PathBuf};

use anyhow::Context;
use toml_edit::{value, Array, DocumentMut};

use crate::config::{self, DEFAULTS_TOML, FILE_NAME};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Overwrite an existing testing.toml.
    #[arg(long)]
    pub force: bool,
    /// Print the config instead of writing it.
    #[arg(long)]
    pub stdout: bool,
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
    let detected = detect(&ctx.root)?;
    let text = render(&detected)?;
    // The starter config must itself be valid.
    config::parse_str(&text)
        .map_err(|e| anyhow::anyhow!("internal error: init produced an invalid config: {e}"))?;
    if args.stdout {
        print!("{text}");
        return Ok(ExitCode::Ok);
    }
    fsx::atomic_write(&target, &text)?;
    eprintln!("wrote {}", target.display());
    for note in &detected.notes {
        eprintln!("  {note}");
    }
    eprintln!(
        "next: cargo xtask -C {} pytest-parallel",
        ctx.root.display()
    );
    Ok(ExitCode::Ok)
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

    // Test paths: the pytest config's testpaths, then the usual directories.
    if let Some(paths) = pyproject.as_ref().and_then(|p| {
        p.get("tool")?
            .get("pytest")?
            .get("ini_options")?
            .get("testpaths")?
            .as_array()
            .cloned()
    }) {
        d.test_paths = paths
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .filter(|p| root.join(p).exists())
            .collect();
    }
    if d.test_paths.is_empty() {
        d.test_paths = ["tests", "test", "testing"]
            .iter()
            .filter(|t| root.join(t).is_dir())
            .map(|t| t.to_string())
            .collect();
    }
    if d.test_paths.is_empty() {
        let base = if src.is_empty() {
            PathBuf::new()
        } else {
            PathBuf::from("src")
        };
        for pkg in &d.source {
            for t in ["tests", "test"] {
                let p = base.join(pkg).join(t);
                if root.join(&p).is_dir() {
                    d.test_paths.push(p.to_string_lossy().into_owned());
                }
            }
        }
    }
    if d.test_paths.is_empty() && !d.source.is_empty() {
        // Tests living inside the package itself.
        d.test_paths = d
            .source
            .iter()
            .map(|p| {
                if src.is_empty() {
                    p.clone()
                } else {
                    format!("src/{p}")
                }
            })
            .collect();
    }
    if d.test_paths.is_empty() {
        return Err(UserError::usage(
            format!("no tests found in `{}`", root.display()),
            "expected a `tests/` directory or tests inside the package; write testing.toml by hand with `project.test-paths`",
        )
        .into());
    }
    d.notes.push(format!("tests: {}", d.test_paths.join(", ")));

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
    Ok(doc.to_string())
}
