//! `testing.toml`: the single source of truth for how tests run.

mod audit;
mod ci;
mod docs;
mod flaky;
mod load;
mod model;
pub mod services;
pub mod setting;
mod span;
mod timings;
mod validate;

use std::path::Path;

use anyhow::Context;

pub use ci::PullRequests;
pub use model::{
    Config, Dist, Engine, EngineSetting, Granularity, Order, Parallel, WorkersSetting,
};
pub use services::{Port, Protocol, Service, StopSetting};
pub use timings::Timings;
pub use validate::MAX_WORKERS;

use crate::error::UserError;

/// The file name every project keeps its config in.
pub const FILE_NAME: &str = "testing.toml";

/// The documented defaults; also the body `cargo xtask init` starts from.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// Reads and validates `<root>/testing.toml`.
pub fn load(root: &Path) -> anyhow::Result<Config> {
    let path = root.join(FILE_NAME);
    let source = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(UserError::usage(
                format!("no `{FILE_NAME}` in `{}`", root.display()),
                format!(
                    "run `cargo xtask -C {} init` to write a starter one",
                    root.display()
                ),
            )
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    Ok(load_str(&source, root)?)
}

/// Parses and validates config text as if it were `<root>/testing.toml`
/// (the fuzzer's entry point).
pub fn load_str(source: &str, root: &Path) -> Result<Config, UserError> {
    let display = Path::new(FILE_NAME);
    let config = load::parse(display, source)?;
    validate::validate(&config, root, display, source)?;
    Ok(config)
}

/// Parses config text without touching the file system (for `init` and tests).
pub fn parse_str(source: &str) -> Result<Config, UserError> {
    load::parse(Path::new(FILE_NAME), source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_matches_default_impls() {
        let parsed = parse_str(DEFAULTS_TOML).unwrap();
        let default = Config::default();
        assert_eq!(parsed.project.python.value, default.project.python.value);
        assert_eq!(parsed.project.venv.value, default.project.venv.value);
        let paths = |c: &Config| {
            c.project
                .test_paths
                .value
                .iter()
                .map(|s| s.value.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(&parsed), paths(&default));
        assert_eq!(
            parsed.parallel.workers.value,
            default.parallel.workers.value
        );
        assert_eq!(parsed.parallel.dist.value, default.parallel.dist.value);
        assert_eq!(parsed.coverage.enabled, default.coverage.enabled);
        assert_eq!(parsed.coverage.branch, default.coverage.branch);
        assert_eq!(parsed.reports.dir.value, default.reports.dir.value);
        assert_eq!(parsed.setup.enabled, default.setup.enabled);
        assert_eq!(parsed.setup.install_project, default.setup.install_project);
    }
}
