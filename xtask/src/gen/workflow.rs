//! `.github/workflows/<ci.name>.yml`: the CI workflow, one job or a matrix
//! of shards plus a merge job.

use crate::config::Config;

use super::header::{self, Comment};

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Hash;

/// One `[services.<name>]` with an image, as a GitHub Actions service container.
#[derive(serde::Serialize)]
struct ServiceView {
    name: String,
    image: String,
    ports: Vec<String>,
    env: Vec<(String, String)>,
    options: Option<String>,
}

/// Quotes a health command for `docker create` options the way workflows
/// usually write it: in double quotes when that is safe.
fn docker_quote(cmd: &str) -> String {
    if cmd.contains(['"', '$', '`', '\\']) {
        crate::python::argv::quote(cmd)
    } else {
        format!("\"{cmd}\"")
    }
}

fn services(config: &Config) -> Vec<ServiceView> {
    config
        .services
        .iter()
        .filter_map(|(name, service)| {
            let s = &service.value;
            let image = s.image.as_ref()?.value.clone();
            let options = s.health_cmd.as_ref().map(|cmd| {
                format!(
                    "--health-cmd {} --health-interval 5s --health-timeout {}s --health-retries 20",
                    docker_quote(&cmd.value),
                    s.timeout.value.ceil().max(1.0)
                )
            });
            Some(ServiceView {
                name: name.clone(),
                image,
                ports: s.ports.iter().map(|p| p.value.clone()).collect(),
                env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                options,
            })
        })
        .collect()
}

pub fn render(config: &Config) -> String {
    let indexes: Vec<i64> = (1..=config.ci.shards.value).collect();
    header::wrap(
        COMMENT,
        &super::render(
            "workflow.yml.j2",
            config,
            minijinja::context! { shard_indexes => indexes, containers => minijinja::Value::from(minijinja::value::Serde(services(config))) },
        ),
    )
}

/// Workflows `gen` wrote under another `ci.name`: files in
/// `.github/workflows/` with the generated header (untouched since) that are
/// not the current workflow. Renaming `ci.name` must not leave the old one
/// running beside the new.
pub fn orphans(root: &std::path::Path, config: &Config) -> Vec<String> {
    let current = config.ci.workflow_path();
    let dir = root.join(".github/workflows");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!(".github/workflows/{name}");
            let is_yaml = name.ends_with(".yml") || name.ends_with(".yaml");
            let text = std::fs::read_to_string(entry.path()).ok()?;
            (is_yaml
                && rel != current
                && super::header::ownership(COMMENT, &text) == super::header::Ownership::Generated)
                .then_some(rel)
        })
        .collect();
    found.sort();
    found
}
