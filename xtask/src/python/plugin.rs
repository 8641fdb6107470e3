//! The xtask's own pytest plugin (`plugin/xtask_events.py`): embedded in
//! the binary, written on first use into a directory of the xtask's cache
//! named after its content, and loaded with `-p xtask_events` from
//! `PYTHONPATH`; it is not installed into the project's environment.

use std::path::{Path, PathBuf};

use crate::fsx;

/// The module name pytest loads (`-p xtask_events`).
pub const MODULE: &str = "xtask_events";

/// The plugin's source.
pub const SOURCE: &str = include_str!("plugin/xtask_events.py");

/// Environment variables the plugin reads.
pub const EVENTS_VAR: &str = "XTASK_EVENTS";
pub const SELECT_VAR: &str = "XTASK_SELECT";
pub const ORDER_VAR: &str = "XTASK_ORDER";
pub const WORKER_VAR: &str = "XTASK_WORKER";

/// The module that records what each test depended on (`-p xtask_deps`,
/// only in runs that record it).
pub const DEPS_MODULE: &str = "xtask_deps";

/// Its source.
pub const DEPS_SOURCE: &str = include_str!("plugin/xtask_deps.py");

/// Set to the project's root in runs that record dependencies.
pub const DEPS_VAR: &str = "XTASK_DEPS";

/// The directory holding the plugin's modules, written if they are not there yet.
pub fn dir() -> anyhow::Result<PathBuf> {
    let hash = crate::hash::of(format!("{SOURCE}\0{DEPS_SOURCE}"), 6);
    let dir = fsx::cache_dir().join("pytest-plugin").join(hash);
    for (module, source) in [(MODULE, SOURCE), (DEPS_MODULE, DEPS_SOURCE)] {
        let file = dir.join(format!("{module}.py"));
        if std::fs::read_to_string(&file).ok().as_deref() != Some(source) {
            fsx::atomic_write(&file, source)?;
        }
    }
    Ok(dir)
}

/// `PYTHONPATH` with the plugin's directory first and the user's own after it.
pub fn python_path(dir: &Path) -> String {
    match std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
        Some(existing) => format!("{}:{}", dir.display(), existing.to_string_lossy()),
        None => dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plugin_writes_the_schema_the_reader_knows() {
        assert!(super::SOURCE.contains(&format!("\nSCHEMA = {}\n", crate::events::SCHEMA)));
    }
}
