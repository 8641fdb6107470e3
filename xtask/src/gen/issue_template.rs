//! `.github/ISSUE_TEMPLATE/flaky-test.md`: what a maintainer needs to triage
//! a flaky or parallel-only failure.

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = ".github/ISSUE_TEMPLATE/flaky-test.md";

pub fn render(config: &Config) -> String {
    header::wrap(
        Comment::FrontMatter,
        &super::render("flaky-test.md.j2", config, Value::UNDEFINED),
    )
}
