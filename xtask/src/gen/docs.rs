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
                services => minijinja::value::Serde(services(config)),
            },
        ),
    )
}

/// One `[services.<name>]` as the Services section shows it.
#[derive(serde::Serialize)]
struct ServiceView {
    name: String,
    tcp: String,
    protocol: &'static str,
    start: Option<String>,
    stop: String,
    exports: Vec<String>,
    command: Option<String>,
    image: Option<String>,
}

fn services(config: &Config) -> Vec<ServiceView> {
    use crate::config::StopSetting;
    let words = |argv: &[String]| argv.join(" ");
    config
        .services
        .iter()
        .map(|(name, service)| {
            let s = &service.value;
            ServiceView {
                name: name.clone(),
                tcp: s.tcp.as_ref().map_or_else(String::new, |t| t.value.clone()),
                protocol: s.protocol().name(),
                start: s.start.as_ref().map(|a| words(&a.value)),
                stop: match s.stop.as_ref().map(|s| &s.value) {
                    None => "SIGTERM".to_string(),
                    Some(StopSetting::Signal(sig)) => sig.clone(),
                    Some(StopSetting::Command(argv)) => format!("`{}`", words(argv)),
                },
                exports: s.export.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                command: s.command.as_ref().map(|c| words(&c.value)),
                image: s.image.as_ref().map(|i| i.value.clone()),
            }
        })
        .collect()
}
