//! `.github/workflows/<ci.name>.yml`: the CI workflow, one job or a matrix
//! of shards plus a merge job.

use crate::config::Config;

use super::header::{self, Comment};

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Hash;

pub fn render(config: &Config) -> String {
    let indexes: Vec<i64> = (0..config.ci.shards.value).collect();
    header::wrap(
        COMMENT,
        &super::render(
            "workflow.yml.j2",
            config,
            minijinja::context! { shard_indexes => indexes },
        ),
    )
}
