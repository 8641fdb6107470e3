//! The README's Testing section, spliced between its markers.

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = "README.md";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Html;

/// The marker name: `<!-- BEGIN GENERATED: testing -->`.
pub const SECTION: &str = "testing";

/// The text between the markers.
pub fn render(config: &Config) -> String {
    header::wrap(
        COMMENT,
        &super::render("readme.md.j2", config, Value::UNDEFINED),
    )
}
