//! The typed model of `testing.toml`.
//!
//! Each section is its own struct with `deny_unknown_fields`, so adding a
//! section is a new struct plus one field on [`Config`]. Defaults live in
//! `Default` impls and are mirrored, comment by comment, in `defaults.toml`
//! (a test keeps the two equal).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::ci::Ci;
use super::docs::Docs;
use super::flaky::Flaky;
use super::setting::Setting;

/// The whole of `testing.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    pub project: Project,
    pub setup: Setup,
    pub parallel: Parallel,
    pub coverage: Coverage,
    pub reports: Reports,
    pub pytest: Pytest,
    pub timings: super::Timings,
    pub ci: Ci,
    pub flaky: Flaky,
    pub docs: Docs,
    pub audit: super::audit::Audit,
    pub services: super::services::Services,
}

/// `[project]`: where the code and its tests are, and which Python runs them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Project {
    /// The interpreter the virtual environment is created from.
    pub python: Setting<String>,
    /// The virtual environment, relative to the project root.
    pub venv: Setting<String>,
    /// Directories or files pytest collects from, written as `testpaths` into
    /// the generated `pytest.ini`. Empty: pytest's own choice (the project's
    /// `testpaths`, or the whole tree from the rootdir). Runs never override
    /// what the project's pytest configuration says.
    pub test_paths: Setting<Vec<Setting<String>>>,
    /// Packages (import names or directories) whose coverage is measured.
    pub source: Setting<Vec<Setting<String>>>,
}

impl Default for Project {
    fn default() -> Self {
        Project {
            python: Setting::new("python3".into()),
            venv: Setting::new(".venv".into()),
            test_paths: Setting::new(Vec::new()),
            source: Setting::new(Vec::new()),
        }
    }
}

/// `[setup]`: how `cargo xtask setup` builds the environment.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Setup {
    /// When false, the virtual environment is used as it is and never installed into.
    pub enabled: bool,
    /// A pinned requirements file (the lock); installed exactly when set.
    pub lock: Option<String>,
    /// Further requirements files installed after the lock.
    pub requirements: Vec<String>,
    /// Install the project itself (editable) into the environment.
    pub install_project: bool,
    /// Extras of the project to install with it (ignored when a lock is set:
    /// the lock already pins them).
    pub extras: Vec<String>,
    /// Further packages to install (requirement specifiers).
    pub packages: Vec<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            enabled: true,
            lock: None,
            requirements: Vec::new(),
            install_project: true,
            extras: Vec::new(),
            packages: Vec::new(),
        }
    }
}

/// `[parallel]`: how `pytest-parallel` spreads the tests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Parallel {
    pub workers: Setting<WorkersSetting>,
    pub dist: Setting<Dist>,
    /// The order test files are handed to xdist.
    pub order: Order,
    /// How parallel runs are executed: pytest-xdist, concurrent plain pytest
    /// processes on balanced shards, or `auto` (chosen from the recorded runs).
    pub engine: EngineSetting,
    /// What the shards engine may split: single tests, or whole scopes (module or class).
    pub granularity: Granularity,
}

impl Default for Parallel {
    fn default() -> Self {
        Parallel {
            workers: Setting::new(WorkersSetting::Auto),
            dist: Setting::new(Dist::Loadscope),
            order: Order::LongestFirst,
            engine: EngineSetting::Auto,
            granularity: Granularity::Test,
        }
    }
}

/// Deserializes one of a fixed set of names; anything else is an error
/// that lists them (a number gets the list too, not "wanted string or table").
pub(super) fn choice<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    choices: &'static [(&'static str, T)],
) -> Result<T, D::Error> {
    struct ChoiceVisitor<T: 'static>(&'static [(&'static str, T)]);
    impl<T> ChoiceVisitor<T> {
        fn describe(&self) -> String {
            let names: Vec<String> = self.0.iter().map(|(n, _)| format!("`{n}`")).collect();
            format!("one of {}", names.join(", "))
        }
    }
    impl<T: Copy> Visitor<'_> for ChoiceVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.describe())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            self.0
                .iter()
                .find(|(name, _)| *name == v)
                .map(|(_, value)| *value)
                .ok_or_else(|| {
                    E::custom(format!(
                        "unknown variant `{v}`, expected {}",
                        Self(self.0).describe()
                    ))
                })
        }
    }
    deserializer.deserialize_any(ChoiceVisitor(choices))
}

/// `parallel.engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Xdist,
    Shards,
}

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(d, &[("xdist", Engine::Xdist), ("shards", Engine::Shards)])
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Xdist => "xdist",
            Engine::Shards => "shards",
        })
    }
}

/// `parallel.engine` and `--engine`: an engine, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineSetting {
    /// The engine (or serial) predicted fastest from the recorded durations
    /// and measured overheads; the shards engine before any run is recorded.
    Auto,
    Xdist,
    Shards,
}

impl EngineSetting {
    /// The engine this setting fixes, if it fixes one.
    pub fn fixed(self) -> Option<Engine> {
        match self {
            EngineSetting::Auto => None,
            EngineSetting::Xdist => Some(Engine::Xdist),
            EngineSetting::Shards => Some(Engine::Shards),
        }
    }
}

impl<'de> Deserialize<'de> for EngineSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(
            d,
            &[
                ("auto", EngineSetting::Auto),
                ("xdist", EngineSetting::Xdist),
                ("shards", EngineSetting::Shards),
            ],
        )
    }
}

impl fmt::Display for EngineSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fixed() {
            Some(engine) => engine.fmt(f),
            None => f.write_str("auto"),
        }
    }
}

/// What may not be split across shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Test,
    Scope,
}

impl<'de> Deserialize<'de> for Granularity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(
            d,
            &[("test", Granularity::Test), ("scope", Granularity::Scope)],
        )
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Granularity::Test => "test",
            Granularity::Scope => "scope",
        })
    }
}

/// `parallel.order`: longest recorded scopes first, or pytest's collection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    LongestFirst,
    Collection,
}

impl<'de> Deserialize<'de> for Order {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(
            d,
            &[
                ("longest-first", Order::LongestFirst),
                ("collection", Order::Collection),
            ],
        )
    }
}

/// `workers = "auto"` or a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkersSetting {
    Auto,
    Count(i64),
}

impl fmt::Display for WorkersSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkersSetting::Auto => f.write_str("auto"),
            WorkersSetting::Count(n) => write!(f, "{n}"),
        }
    }
}

impl<'de> Deserialize<'de> for WorkersSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WorkersVisitor;
        impl Visitor<'_> for WorkersVisitor {
            type Value = WorkersSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a whole number from 1 to 512")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(WorkersSetting::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(WorkersSetting::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "auto" {
                    Ok(WorkersSetting::Auto)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_any(WorkersVisitor)
    }
}

/// pytest-xdist's `--dist` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dist {
    Load,
    Loadscope,
    Loadfile,
    Loadgroup,
    Worksteal,
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(
            d,
            &[
                ("load", Dist::Load),
                ("loadscope", Dist::Loadscope),
                ("loadfile", Dist::Loadfile),
                ("loadgroup", Dist::Loadgroup),
                ("worksteal", Dist::Worksteal),
            ],
        )
    }
}

impl Dist {
    pub fn as_str(self) -> &'static str {
        match self {
            Dist::Load => "load",
            Dist::Loadscope => "loadscope",
            Dist::Loadfile => "loadfile",
            Dist::Loadgroup => "loadgroup",
            Dist::Worksteal => "worksteal",
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[coverage]`: coverage.py settings, passed to it through a generated rcfile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Coverage {
    /// Measure every run (also: `--cov` for one run).
    pub enabled: bool,
    /// Minimum total coverage in percent, evaluated on the merged data.
    pub fail_under: Setting<Option<f64>>,
    /// Measure branch coverage too.
    pub branch: bool,
    /// Decimal places in reports and in the threshold check.
    pub precision: u8,
    /// File patterns left out of measurement.
    pub omit: Vec<String>,
    /// Extra regexes for lines to exclude (coverage.py `exclude_also`).
    pub exclude_also: Vec<String>,
    /// coverage.py `dynamic_context`; refused in parallel runs.
    pub dynamic_context: Setting<Option<String>>,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            enabled: false,
            fail_under: Setting::new(None),
            branch: false,
            precision: 2,
            omit: Vec::new(),
            exclude_also: Vec::new(),
            dynamic_context: Setting::new(None),
        }
    }
}

/// `[reports]`: where run outputs go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Reports {
    pub dir: Setting<String>,
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            // Hidden, so setuptools' automatic discovery never takes it for a package.
            dir: Setting::new(".xtask/reports".into()),
        }
    }
}

/// `[pytest]`: options every run passes to pytest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Pytest {
    /// Markers registered in the generated pytest.ini (`name: description`).
    pub markers: Vec<String>,
    /// `addopts` of the generated pytest.ini.
    pub addopts: Vec<String>,
    /// Extra arguments added to every pytest command line.
    pub args: Vec<String>,
    /// Fixed `PYTHONHASHSEED` for every run unless the environment sets one.
    pub hash_seed: Setting<Option<i64>>,
}

impl Default for Pytest {
    fn default() -> Self {
        Pytest {
            markers: Vec::new(),
            addopts: vec!["-ra".into()],
            args: Vec::new(),
            hash_seed: Setting::new(None),
        }
    }
}
