//! `justfile`: the Makefile's targets as just recipes, documented for
//! `just --list`.

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = "justfile";

pub fn render(config: &Config) -> String {
    header::wrap(
        Comment::Hash,
        &super::render("justfile.j2", config, Value::UNDEFINED),
    )
}
