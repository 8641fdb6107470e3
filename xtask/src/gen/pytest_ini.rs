//! `pytest.ini`: what plain `pytest` reads, so a bare run collects the same
//! tests as `cargo xtask pytest` and stays serial.

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = "pytest.ini";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Hash;

pub fn render(config: &Config) -> String {
    header::wrap(
        COMMENT,
        &super::render("pytest.ini.j2", config, Value::UNDEFINED),
    )
}
