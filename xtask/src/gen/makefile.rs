//! `Makefile`: one target per task, each running `cargo xtask <task>`.

use crate::config::Config;

use super::header::{self, Comment};

pub const PATH: &str = "Makefile";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Hash;

pub fn render(config: &Config) -> String {
    let width = super::RECIPES
        .iter()
        .map(|r| r.make.len())
        .max()
        .unwrap_or(0);
    header::wrap(
        COMMENT,
        &super::render(
            "Makefile.j2",
            config,
            minijinja::context! { width => width + 2 },
        ),
    )
}
