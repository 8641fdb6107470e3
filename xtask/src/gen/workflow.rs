//! `.github/workflows/<ci.name>.yml`: the CI workflow, one job or a matrix
//! of shards plus a merge job.

use crate::config::Config;

use super::header::{self, Comment};

pub fn render(config: &Config) -> String {
    let indexes: Vec<i64> = (1..=config.ci.shards.value).collect();
    header::wrap(
        Comment::Hash,
        &super::render(
            "workflow.yml.j2",
            config,
            minijinja::context! { shard_indexes => indexes },
        ),
    )
}
