//! Rules that need more than a type: ranges, existing paths, cross-field checks.
//! Each error points at the offending value.

use std::path::Path;

use crate::error::UserError;

use super::model::{Config, WorkersSetting};
use super::span::config_error;

pub const MAX_WORKERS: i64 = 512;

/// The largest `PYTHONHASHSEED` Python accepts.
pub const MAX_HASH_SEED: i64 = 4_294_967_295;

/// Checks `config` (read from `path`, whose text is `source`) against the
/// project at `root`.
pub fn validate(config: &Config, root: &Path, path: &Path, source: &str) -> Result<(), UserError> {
    let err = |span, message: String, hint: Option<String>| {
        config_error(path, source, span, message, hint)
    };

    if let WorkersSetting::Count(n) = config.parallel.workers.value {
        if !(1..=MAX_WORKERS).contains(&n) {
            return Err(err(
                config.parallel.workers.span.clone(),
                format!("`parallel.workers = {n}` is out of range"),
                Some(format!(
                    "use \"auto\" or a whole number from 1 to {MAX_WORKERS}"
                )),
            ));
        }
    }

    if let Some(seed) = config.pytest.hash_seed.value {
        if !(0..=MAX_HASH_SEED).contains(&seed) {
            return Err(err(
                config.pytest.hash_seed.span.clone(),
                format!("`pytest.hash-seed = {seed}` is out of range"),
                Some(format!(
                    "PYTHONHASHSEED takes a whole number from 0 to {MAX_HASH_SEED}"
                )),
            ));
        }
    }

    if let Some(fail_under) = config.coverage.fail_under.value {
        if !(0.0..=100.0).contains(&fail_under) || fail_under.is_nan() {
            return Err(err(
                config.coverage.fail_under.span.clone(),
                format!("`coverage.fail-under = {fail_under}` is out of range"),
                Some("use a percentage from 0 to 100".into()),
            ));
        }
    }

    if config.coverage.precision > 6 {
        return Err(config_error(
            path,
            source,
            find_key(source, "precision"),
            format!(
                "`coverage.precision = {}` is out of range",
                config.coverage.precision
            ),
            Some("use 0 to 6 decimal places".into()),
        ));
    }
    if let Some(context) = config.coverage.dynamic_context.value.as_deref() {
        if context != "test_function" && context != "none" {
            return Err(err(
                config.coverage.dynamic_context.span.clone(),
                format!("unknown `coverage.dynamic-context = \"{context}\"`"),
                Some("accepted: \"test_function\" (serial runs only) or \"none\"".into()),
            ));
        }
    }

    let regression = &config.timings.regression;
    if !(regression.value > 0.0 && regression.value <= 10.0) {
        return Err(err(
            regression.span.clone(),
            format!(
                "`timings.regression = {}` is out of range",
                regression.value
            ),
            Some("use a fraction above 0, e.g. 0.25 for 25% slower".into()),
        ));
    }
    let trend = &config.timings.trend;
    if !(2..=1000).contains(&trend.value) {
        return Err(err(
            trend.span.clone(),
            format!("`timings.trend = {}` is out of range", trend.value),
            Some("use a number of runs from 2 to 1000".into()),
        ));
    }

    for test_path in &config.project.test_paths.value {
        if test_path.value.trim().is_empty() || !root.join(&test_path.value).exists() {
            return Err(err(
                test_path.span.clone(),
                format!(
                    "test path `{}` does not exist in the project",
                    test_path.value
                ),
                Some("fix `project.test-paths`, or run `cargo xtask init` to detect them".into()),
            ));
        }
    }

    for (name, setting) in [
        ("project.python", &config.project.python),
        ("project.venv", &config.project.venv),
        ("reports.dir", &config.reports.dir),
    ] {
        if setting.value.trim().is_empty() {
            return Err(err(
                setting.span.clone(),
                format!("`{name}` is empty"),
                Some("give a non-empty value or remove the key to use the default".into()),
            ));
        }
    }

    if let Some(lock) = &config.setup.lock {
        if !root.join(lock).is_file() {
            return Err(config_error(
                path,
                source,
                find_key(source, "lock"),
                format!("lock file `{lock}` does not exist"),
                Some("create it (e.g. `uv pip compile pyproject.toml --extra dev -o requirements-dev.lock`) or remove `setup.lock`".into()),
            ));
        }
    }
    for req in &config.setup.requirements {
        if !root.join(req).is_file() {
            return Err(config_error(
                path,
                source,
                find_key(source, "requirements"),
                format!("requirements file `{req}` does not exist"),
                Some("fix `setup.requirements`".into()),
            ));
        }
    }
    config.ci.validate(path, source)?;
    config.flaky.validate(path, source)?;
    config.docs.validate(path, source)?;
    super::audit::validate(&config.audit, root, path, source)?;
    super::services::validate(&config.services, path, source)?;
    Ok(())
}

/// The span of the first `key =` in the file: for plain fields that carry no span.
fn find_key(source: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                let start = offset + (line.len() - trimmed.len());
                return Some(start..start + key.len());
            }
        }
        offset += line.len();
    }
    None
}
