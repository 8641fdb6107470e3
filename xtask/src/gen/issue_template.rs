//! `.github/ISSUE_TEMPLATE/flaky-test.md`: what a maintainer needs to triage
//! a flaky or parallel-only failure.

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = ".github/ISSUE_TEMPLATE/flaky-test.md";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::FrontMatter;

pub fn render(config: &Config) -> String {
    header::wrap(
        COMMENT,
        &super::render("flaky-test.md.j2", config, Value::UNDEFINED),
    )
}
