//! `[ci]`: the generated CI workflow (its name, runner, Python and shards).

use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::UserError;

use super::setting::Setting;
use super::span::config_error;

/// The most shards a workflow may fan out to.
pub const MAX_SHARDS: i64 = 256;

/// `[ci]`: how `.github/workflows/<name>.yml` runs the suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Ci {
    /// The workflow's name, also its file name (`.github/workflows/<name>.yml`).
    pub name: Setting<String>,
    /// The Python version `actions/setup-python` installs.
    pub python_version: Setting<PythonVersion>,
    /// Parallel CI jobs the suite is split across (1 = one job).
    pub shards: Setting<i64>,
    /// The runner label every job runs on.
    pub runs_on: Setting<String>,
    /// The default branch: pushes to it run the workflow (pull requests run
    /// it too, once, not again for their branch's pushes).
    pub branch: Setting<String>,
    /// When a serial run with coverage refreshes the baseline parallel runs
    /// are compared with (a cron schedule, UTC); empty: never on a schedule.
    pub serial_baseline: Setting<String>,
    /// Python versions the tests job runs on, one job each (a matrix);
    /// empty: `python-version` alone.
    pub python_matrix: Setting<Vec<String>>,
    /// What pull requests run: every test, every test judging the
    /// change-aware selection (`shadow`), or only the selected tests.
    pub pull_requests: Setting<PullRequests>,
}

/// `ci.pull-requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequests {
    All,
    Shadow,
    Changed,
}

impl PullRequests {
    pub fn as_str(self) -> &'static str {
        match self {
            PullRequests::All => "all",
            PullRequests::Shadow => "shadow",
            PullRequests::Changed => "changed",
        }
    }
}

impl<'de> Deserialize<'de> for PullRequests {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::model::choice(
            d,
            &[
                ("all", PullRequests::All),
                ("shadow", PullRequests::Shadow),
                ("changed", PullRequests::Changed),
            ],
        )
    }
}

impl Default for Ci {
    fn default() -> Self {
        Ci {
            name: Setting::new("tests".into()),
            python_version: Setting::new(PythonVersion("3.11".into())),
            shards: Setting::new(1),
            runs_on: Setting::new("ubuntu-latest".into()),
            branch: Setting::new("main".into()),
            serial_baseline: Setting::new("0 4 * * 1".into()),
            python_matrix: Setting::new(Vec::new()),
            pull_requests: Setting::new(PullRequests::All),
        }
    }
}

/// The start of the error for an unquoted version; loading rewrites it with
/// the version as written (TOML reads `3.10` as the number 3.1).
pub const UNQUOTED_VERSION: &str = "unquoted python-version: ";

/// A Python version as a string: TOML reads a bare `3.10` as the number 3.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonVersion(pub String);

impl<'de> Deserialize<'de> for PythonVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionVisitor;
        impl Visitor<'_> for VersionVisitor {
            type Value = PythonVersion;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a version in quotes, e.g. \"3.12\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PythonVersion(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format!("{UNQUOTED_VERSION}{v}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_f64(v as f64)
            }
        }
        deserializer.deserialize_any(VersionVisitor)
    }
}

impl Ci {
    /// The workflow file, relative to the project root.
    pub fn workflow_path(&self) -> String {
        format!(".github/workflows/{}.yml", self.name.value)
    }

    /// Checks ranges and names; errors point at the value in `source`.
    pub fn validate(&self, path: &Path, source: &str) -> Result<(), UserError> {
        let err = |setting_span, message: String, hint: &str| {
            config_error(path, source, setting_span, message, Some(hint.into()))
        };
        let name = &self.name.value;
        let name_ok = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !name.ends_with(".yml")
            && !name.ends_with(".yaml");
        if !name_ok {
            return Err(err(
                self.name.span.clone(),
                format!("`ci.name = \"{name}\"` is not a usable workflow name"),
                "use letters, digits, `-`, `_` or `.`, without the `.yml` extension (default \"tests\")",
            ));
        }
        if !(1..=MAX_SHARDS).contains(&self.shards.value) {
            return Err(err(
                self.shards.span.clone(),
                format!("`ci.shards = {}` is out of range", self.shards.value),
                &format!("use a whole number from 1 (one job) to {MAX_SHARDS}"),
            ));
        }
        if !self.python_matrix.value.is_empty() && self.shards.value > 1 {
            return Err(err(
                self.python_matrix.span.clone(),
                "`ci.python-matrix` cannot be combined with `ci.shards` above 1".to_string(),
                "run the matrix in one job per version (ci.shards = 1), or shard one version (remove ci.python-matrix)",
            ));
        }
        if let Some(bad) = self
            .python_matrix
            .value
            .iter()
            .find(|v| v.trim().is_empty() || v.contains(char::is_whitespace))
        {
            return Err(err(
                self.python_matrix.span.clone(),
                format!("`ci.python-matrix` has an unusable version `{bad}`"),
                "list versions in quotes, e.g. [\"3.11\", \"3.12\"]",
            ));
        }
        let cron = self.serial_baseline.value.trim();
        if !cron.is_empty() && cron.split_whitespace().count() != 5 {
            return Err(err(
                self.serial_baseline.span.clone(),
                format!("`ci.serial-baseline = \"{cron}\"` is not a cron schedule"),
                "give five fields, minute hour day month weekday (UTC), e.g. \"0 4 * * 1\" for Mondays at 04:00, or \"\" for none",
            ));
        }
        for (key, value, span) in [
            (
                "ci.python-version",
                &self.python_version.value.0,
                &self.python_version.span,
            ),
            ("ci.runs-on", &self.runs_on.value, &self.runs_on.span),
            ("ci.branch", &self.branch.value, &self.branch.span),
        ] {
            if value.trim().is_empty() || value.contains(char::is_whitespace) {
                return Err(err(
                    span.clone(),
                    format!("`{key} = \"{value}\"` is not a usable value"),
                    "give one word, e.g. \"3.11\", \"ubuntu-latest\" or \"main\", or remove the key to use the default",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str, DEFAULTS_TOML};

    #[test]
    fn defaults_file_matches_default_impl() {
        let parsed = parse_str(DEFAULTS_TOML).unwrap().ci;
        let default = super::Ci::default();
        assert_eq!(parsed.name.value, default.name.value);
        assert_eq!(parsed.python_version.value, default.python_version.value);
        assert_eq!(parsed.shards.value, default.shards.value);
        assert_eq!(parsed.runs_on.value, default.runs_on.value);
        assert_eq!(parsed.branch.value, default.branch.value);
        assert_eq!(parsed.serial_baseline.value, default.serial_baseline.value);
        assert_eq!(parsed.python_matrix.value, default.python_matrix.value);
    }
}
