//! `.github/ISSUE_TEMPLATE/flaky-test.md`: what a maintainer needs to triage
//! a flaky or parallel-only failure, and the filled-in issue bodies
//! `cargo xtask triage --issue` writes from the same template.

use minijinja::Value;
use serde::Serialize;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = ".github/ISSUE_TEMPLATE/flaky-test.md";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::FrontMatter;

/// The fields of the issue: placeholders in the template, facts in a body.
#[derive(Debug, Clone, Serialize)]
pub struct IssueFields {
    /// The node id as shown in backticks.
    pub node_id: String,
    /// The node id as a shell word in the commands.
    pub node_arg: String,
    pub classification: String,
    /// Empty fields leave the line ending at its colon, for the reader to fill.
    pub worker: String,
    pub ci_run: String,
    pub first_seen: String,
    pub serial: String,
    pub parallel: String,
    /// How many repeated runs, e.g. `2 runs`.
    pub repeats: String,
    pub repeated: String,
    pub whole_serial: String,
    /// The plain pytest command that runs the test alone.
    pub pytest_command: String,
    pub polluter: String,
    /// Markdown added under "Logs and notes".
    pub notes: String,
}

impl IssueFields {
    /// The placeholders of the issue template.
    pub fn placeholders(config: &Config) -> IssueFields {
        let pass_fail = "pass / fail".to_string();
        let venv = config.project.venv.value.trim_end_matches('/');
        IssueFields {
            node_id: "tests/…::test_…".into(),
            node_arg: "'<node id>'".into(),
            classification: "flaky / order-dependent / parallel-only / always failing".into(),
            worker: String::new(),
            ci_run: String::new(),
            first_seen: String::new(),
            serial: pass_fail.clone(),
            parallel: pass_fail.clone(),
            repeats: "N runs".into(),
            repeated: "N passed, M failed".into(),
            whole_serial: pass_fail,
            pytest_command: format!(
                "PYTHONHASHSEED={} {venv}/bin/python -m pytest -p no:xdist '<node id>'",
                config.pytest.hash_seed.value.unwrap_or(0)
            ),
            polluter: String::new(),
            notes: String::new(),
        }
    }
}

pub fn render(config: &Config) -> String {
    header::wrap(
        COMMENT,
        &super::render(
            "flaky-test.md.j2",
            config,
            minijinja::context! {
                front_matter => true,
                issue => Value::from(minijinja::value::Serde(IssueFields::placeholders(config))),
            },
        ),
    )
}

/// A ready-to-file issue body (no front matter, no generated-file header).
pub fn render_issue(config: &Config, fields: &IssueFields) -> String {
    super::render(
        "flaky-test.md.j2",
        config,
        minijinja::context! {
            front_matter => false,
            issue => Value::from(minijinja::value::Serde(fields)),
        },
    )
}
