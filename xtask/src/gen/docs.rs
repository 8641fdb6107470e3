//! `docs/testing.md`: every piece of guidance on running, reading and
//! fixing the tests, with isolation examples quoted from conftest.py.

use crate::config::Config;

use super::conftest::Fixture;
use super::header::{self, Comment};

pub const PATH: &str = "docs/testing.md";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Html;

/// `pytest_config`: the file holding the project's own pytest
/// configuration, when it has one (then `pytest.ini` is not generated).
pub fn render(config: &Config, fixtures: &[Fixture], pytest_config: Option<&str>) -> String {
    header::wrap(
        COMMENT,
        &super::render(
            "testing.md.j2",
            config,
            minijinja::context! {
                fixtures => minijinja::value::Serde(fixtures),
                pytest_config => pytest_config,
            },
        ),
    )
}
