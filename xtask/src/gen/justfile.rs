//! `justfile`: the Makefile's targets as just recipes, documented for
//! `just --list`.

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = "justfile";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Hash;

pub fn render(config: &Config) -> String {
    header::wrap(
        COMMENT,
        &super::render("justfile.j2", config, Value::UNDEFINED),
    )
}
