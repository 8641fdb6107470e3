//! Every file generated from testing.toml: pytest.ini, the Makefile, the
//! justfile, the CI workflow, the flaky-test issue template, docs/testing.md
//! and the README's Testing section.
//!
//! Each generator is a pure `render(&Config, …) -> String` over one embedded
//! minijinja template; [`write`] compares, writes or checks them all.

mod conftest;
mod docs;
mod header;
mod issue_template;
mod justfile;
mod makefile;
mod pytest_ini;
mod readme;
mod workflow;
pub mod write;

pub use workflow::orphans;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::config::{Config, MAX_WORKERS};
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::python::argv::{self, Spec};
use crate::workers::Workers;

pub use conftest::Fixture;
pub use header::Comment;
pub use issue_template::{render_issue, IssueFields};

/// One generated output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Relative to the project root, with `/` separators.
    pub path: String,
    /// The whole file, or for a section the text between its markers.
    pub contents: String,
    pub kind: Kind,
}

/// How an output lands on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The whole file is generated and carries the header.
    File(Comment),
    /// Only the text between two marker lines of a hand-written file
    /// (`<!-- BEGIN GENERATED: {name} -->`); the text carries the header.
    Section { name: String, comment: Comment },
}

/// What the generators read from the project besides testing.toml.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The fixtures named in `docs.isolation-fixtures`, in that order.
    pub fixtures: Vec<Fixture>,
    /// The file with the project's own pytest configuration, if any: then
    /// no `pytest.ini` is generated.
    pub pytest_config: Option<String>,
}

impl Inputs {
    /// Reads the inputs of the project at `root`.
    pub fn read(root: &Path, config: &Config) -> anyhow::Result<Inputs> {
        let pytest_config = pytest_ini::project_config(root);
        let names = &config.docs.isolation_fixtures.value;
        if names.is_empty() {
            return Ok(Inputs {
                fixtures: Vec::new(),
                pytest_config,
            });
        }
        // Every conftest.py of the project, the root's first.
        let mut files: Vec<String> = crate::fsx::project_files(root, &[])
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "conftest.py"))
            .map(|p| {
                crate::fsx::relative(p, root)
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        files.sort_by_key(|f| f.matches('/').count());
        let mut sources = Vec::new();
        for file in &files {
            match std::fs::read_to_string(root.join(file)) {
                Ok(text) => sources.push((file.clone(), text.replace("\r\n", "\n"))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot read `{file}`")),
            }
        }
        let mut fixtures = Vec::new();
        for name in names {
            let found = sources
                .iter()
                .find_map(|(file, text)| conftest::find(text, file, &name.value));
            match found {
                Some(fixture) => fixtures.push(fixture),
                None => {
                    let searched: Vec<String> = files.iter().map(|f| format!("`{f}`")).collect();
                    return Err(UserError::usage(
                        format!(
                            "fixture `{}` (listed in `docs.isolation-fixtures`) was not found in {}",
                            name.value,
                            if searched.is_empty() {
                                "any conftest.py (the project has none)".to_string()
                            } else {
                                searched.join(" or ")
                            }
                        ),
                        "define it as a top-level `@pytest.fixture` there, or remove it from `docs.isolation-fixtures` in testing.toml",
                    )
                    .into());
                }
            }
        }
        Ok(Inputs {
            fixtures,
            pytest_config,
        })
    }
}

/// Every output for `config`, in a stable order.
pub fn all(config: &Config, inputs: &Inputs) -> Vec<Generated> {
    let file = |path: String, comment, contents| Generated {
        path,
        contents,
        kind: Kind::File(comment),
    };
    let pytest_ini = inputs.pytest_config.is_none().then(|| {
        file(
            pytest_ini::PATH.into(),
            pytest_ini::COMMENT,
            pytest_ini::render(config),
        )
    });
    pytest_ini
        .into_iter()
        .chain([
            file(
                makefile::PATH.into(),
                makefile::COMMENT,
                makefile::render(config),
            ),
            file(
                justfile::PATH.into(),
                justfile::COMMENT,
                justfile::render(config),
            ),
            file(
                config.ci.workflow_path(),
                workflow::COMMENT,
                workflow::render(config),
            ),
            file(
                issue_template::PATH.into(),
                issue_template::COMMENT,
                issue_template::render(config),
            ),
            file(
                docs::PATH.into(),
                docs::COMMENT,
                docs::render(config, &inputs.fixtures, inputs.pytest_config.as_deref()),
            ),
            Generated {
                path: readme::PATH.into(),
                contents: readme::render(config),
                kind: Kind::Section {
                    name: readme::SECTION.into(),
                    comment: readme::COMMENT,
                },
            },
        ])
        .collect()
}

/// A `make` target and `just` recipe, both running one `cargo xtask` task.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Recipe {
    pub make: &'static str,
    pub just: &'static str,
    /// The task it runs; `None` for `help`.
    pub task: Option<&'static str>,
    /// Extra arguments go to pytest (after `--`) rather than to the task.
    pub pytest_args: bool,
    /// One line for `make help` and `just --list` (no quotes or `$`).
    pub about: &'static str,
}

/// The targets of the Makefile and the recipes of the justfile, in order.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        make: "help",
        just: "help",
        task: None,
        pytest_args: false,
        about: "List the targets, one line each",
    },
    Recipe {
        make: "pytest",
        just: "test",
        task: Some("pytest"),
        pytest_args: true,
        about: "Run the tests serially; with PYTEST_WORKERS=auto (or N) in parallel",
    },
    Recipe {
        make: "pytest-parallel",
        just: "test-parallel",
        task: Some("pytest-parallel"),
        pytest_args: true,
        about: "Run the tests in parallel with pytest-xdist (parallel.workers, default auto)",
    },
    Recipe {
        make: "coverage",
        just: "coverage",
        task: Some("coverage"),
        pytest_args: true,
        about: "Run the tests with coverage combined across workers (html, xml and json reports)",
    },
    Recipe {
        make: "timings",
        just: "timings",
        task: Some("timings"),
        pytest_args: false,
        about: "Write the timing report and its trend (ci_timings.md)",
    },
    Recipe {
        make: "verify",
        just: "verify",
        task: Some("verify"),
        pytest_args: false,
        about: "Check that the suite gives the same results serially and in parallel",
    },
    Recipe {
        make: "triage",
        just: "triage",
        task: Some("triage"),
        pytest_args: false,
        about: "Re-run failing tests serially and repeatedly to classify them",
    },
    Recipe {
        make: "rollback",
        just: "rollback",
        task: Some("rollback"),
        pytest_args: false,
        about: "Switch CI back to serial runs (PYTEST_WORKERS=1)",
    },
    Recipe {
        make: "gen",
        just: "gen",
        task: Some("gen"),
        pytest_args: false,
        about: "Regenerate the files generated from testing.toml",
    },
];

/// A `[[flaky.known]]` entry with its reproduction commands.
#[derive(Debug, Serialize)]
struct KnownView {
    node_id: String,
    reason: String,
    link: Option<String>,
    serial: String,
    bisect: String,
}

/// Everything the templates may use, derived from the config once.
#[derive(Debug, Serialize)]
struct Facts {
    test_paths: Vec<String>,
    markers: Vec<String>,
    addopts: String,
    pytest_args: String,
    venv: String,
    python: String,
    reports: String,
    workers: String,
    dist: String,
    engine: String,
    granularity: String,
    hash_seed: i64,
    max_workers: i64,
    coverage_enabled: bool,
    coverage_branch: bool,
    coverage_source: Vec<String>,
    fail_under: Option<String>,
    cache_dependency_paths: Vec<String>,
    workflow_name: String,
    workflow_path: String,
    python_version: String,
    runs_on: String,
    branch: String,
    serial_baseline: String,
    python_matrix: Vec<String>,
    /// `ci.pull-requests`, and what it adds to the test command.
    pull_requests: &'static str,
    pr_flags: String,
    shards: i64,
    flaky_threshold: String,
    known_flaky: Vec<KnownView>,
    issue_template: &'static str,
    recipes: &'static [Recipe],
    exit_codes: Vec<(i32, &'static str)>,
    serial_command: String,
    parallel_command: String,
    event_schema: u32,
}

/// The command `cargo xtask pytest` runs with `workers`, as a shell line.
fn pytest_command(config: &Config, workers: Workers) -> String {
    let root = Path::new("/project");
    let python = root.join(&config.project.venv.value).join("bin/python");
    let paths = crate::layout::Layout::new(root, config).run();
    let rcfile = crate::coverage::CoveragePaths::new(&paths.dir).rcfile;
    let spec = Spec {
        config,
        workers: &workers,
        dist: config.parallel.dist.value,
        hash_seed: Some(config.pytest.hash_seed.value.unwrap_or(0).to_string()),
        extra: &[],
        coverage_rc: config.coverage.enabled.then_some(rcfile.as_path()),
        plugin_dir: Path::new("/plugin"),
        events: &paths.events,
        selection: None,
        order: None,
        worker: None,
        collect_only: false,
        deps: None,
    };
    argv::build(&python, root, &spec).display()
}

/// A number without a needless `.0`.
/// What the workflow's test command adds on pull requests for
/// `ci.pull-requests` (a GitHub expression that is empty on other events).
fn pr_flags(setting: crate::config::PullRequests) -> String {
    use crate::config::PullRequests;
    let flags = match setting {
        PullRequests::All => return String::new(),
        PullRequests::Shadow => "--changed --shadow",
        PullRequests::Changed => "--changed",
    };
    format!(" ${{{{ github.event_name == 'pull_request' && '{flags}' || '' }}}}")
}

fn number(value: f64) -> String {
    let text = format!("{value}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

fn facts(config: &Config) -> Facts {
    let venv = config.project.venv.value.trim_end_matches('/').to_string();
    let hash_seed = config.pytest.hash_seed.value.unwrap_or(0);
    let mut cache_dependency_paths: Vec<String> = config
        .setup
        .lock
        .iter()
        .chain(&config.setup.requirements)
        .cloned()
        .collect();
    if cache_dependency_paths.is_empty() {
        cache_dependency_paths.push("pyproject.toml".into());
    }
    let known_flaky = config
        .flaky
        .known
        .iter()
        .map(|k| {
            let id = argv::quote(k.node_id.value.trim());
            KnownView {
                node_id: k.node_id.value.trim().to_string(),
                reason: k.reason.value.trim().to_string(),
                link: k.link.as_ref().map(|l| l.value.trim().to_string()),
                serial: format!("PYTEST_WORKERS=1 cargo xtask pytest -- {id}"),
                bisect: format!("cargo xtask bisect {id}"),
            }
        })
        .collect();
    Facts {
        test_paths: config
            .project
            .test_paths
            .value
            .iter()
            .map(|s| s.value.clone())
            .collect(),
        markers: config.pytest.markers.clone(),
        addopts: config
            .pytest
            .addopts
            .iter()
            .map(|a| argv::quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        pytest_args: config
            .pytest
            .args
            .iter()
            .map(|a| argv::quote(a))
            .collect::<Vec<_>>()
            .join(" "),
        python: format!("{venv}/bin/python"),
        venv: venv.clone(),
        reports: config.reports.dir.value.trim_end_matches('/').to_string(),
        workers: config.parallel.workers.value.to_string(),
        dist: config.parallel.dist.value.to_string(),
        engine: config.parallel.engine.to_string(),
        granularity: config.parallel.granularity.to_string(),
        hash_seed,
        max_workers: MAX_WORKERS,
        coverage_enabled: config.coverage.enabled,
        coverage_branch: config.coverage.branch,
        coverage_source: config
            .project
            .source
            .value
            .iter()
            .map(|s| s.value.clone())
            .collect(),
        fail_under: config.coverage.fail_under.value.map(number),
        cache_dependency_paths,
        workflow_name: config.ci.name.value.clone(),
        workflow_path: config.ci.workflow_path(),
        python_version: config.ci.python_version.value.0.clone(),
        runs_on: config.ci.runs_on.value.clone(),
        branch: config.ci.branch.value.clone(),
        serial_baseline: config.ci.serial_baseline.value.trim().to_string(),
        python_matrix: config.ci.python_matrix.value.clone(),
        pull_requests: config.ci.pull_requests.value.as_str(),
        pr_flags: pr_flags(config.ci.pull_requests.value),
        shards: config.ci.shards.value,
        flaky_threshold: number(config.flaky.threshold.value * 100.0),
        known_flaky,
        issue_template: issue_template::PATH,
        recipes: RECIPES,
        exit_codes: ExitCode::ALL
            .iter()
            .map(|c| (c.code(), c.meaning()))
            .collect(),
        serial_command: pytest_command(config, Workers::Serial { why: String::new() }),
        parallel_command: pytest_command(
            config,
            Workers::Parallel {
                n: 2,
                why: String::new(),
            },
        ),
        event_schema: crate::events::SCHEMA,
    }
}

/// The embedded templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("pytest.ini.j2", include_str!("templates/pytest.ini.j2")),
    ("Makefile.j2", include_str!("templates/Makefile.j2")),
    ("justfile.j2", include_str!("templates/justfile.j2")),
    ("workflow.yml.j2", include_str!("templates/workflow.yml.j2")),
    (
        "flaky-test.md.j2",
        include_str!("templates/flaky-test.md.j2"),
    ),
    ("testing.md.j2", include_str!("templates/testing.md.j2")),
    ("readme.md.j2", include_str!("templates/readme.md.j2")),
];

/// The template environment: no auto-escaping (the outputs are not HTML,
/// and `.yml` would get JSON escaping), strict undefined values, block
/// tags on their own lines, trailing newlines kept.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("valid template syntax"),
        );
        // A word quoted for a POSIX shell when it needs it.
        env.add_filter("sh", |s: String| argv::quote(&s));
        // A value after a label's colon: a space and the value, or nothing.
        env.add_filter(
            "field",
            |s: String| {
                if s.is_empty() {
                    s
                } else {
                    format!(" {s}")
                }
            },
        );
        // A YAML double-quoted scalar (JSON strings are valid YAML).
        env.add_filter("yaml", |s: String| {
            serde_json::to_string(&s).expect("strings serialize")
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template `{name}` does not parse: {e:#}"));
        }
        env
    })
}

/// Renders template `name` with the facts of `config` plus `extra`.
fn render(name: &str, config: &Config, extra: Value) -> String {
    let ctx =
        minijinja::context! { ..extra, ..Value::from(minijinja::value::Serde(facts(config))) };
    let text = environment()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("template `{name}` failed to render: {e:#}"));
    // Every file ends with exactly one newline, whatever the last tag did.
    format!("{}\n", text.trim_end())
}

#[cfg(test)]
mod tests;
