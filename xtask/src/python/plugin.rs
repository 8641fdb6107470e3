//! The xtask's own pytest plugin (`plugin/xtask_events.py`): embedded in
//! the binary, written on first use into a directory of the xtask's cache
//! named after its content, and loaded with `-p xtask_events` from
//! `PYTHONPATH`; it is not installed into the project's environment.
//!
//! Runs that record dependencies keep the project's instrumented code in
//! that directory's `deps-code`, by content. Whatever no run has used for
//! [`KEEP_UNUSED`] (the plugin directories of other xtask versions, code
//! of sources that changed since) is removed when the directory is next
//! asked for.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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

/// The directory of instrumented code, inside the plugin's directory.
const CODE_DIR: &str = "deps-code";

/// How long cached plugin directories and instrumented code stay unused
/// before they are removed.
const KEEP_UNUSED: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a partly written file of instrumented code (`<key>.bin.<pid>`,
/// left by a process that was killed while writing it) is kept.
const KEEP_PARTIAL: Duration = Duration::from_secs(24 * 3600);

/// The directory holding the plugin's modules, written if they are not there
/// yet, and marked as used now.
pub fn dir() -> anyhow::Result<PathBuf> {
    let hash = crate::hash::of(format!("{SOURCE}\0{DEPS_SOURCE}"), 6);
    let base = fsx::cache_dir().join("pytest-plugin");
    let dir = base.join(&hash);
    for (module, source) in [(MODULE, SOURCE), (DEPS_MODULE, DEPS_SOURCE)] {
        let file = dir.join(format!("{module}.py"));
        // Marked as used before it is read, so a concurrent prune by another
        // xtask sees it in use (a cache it cannot write to is only read).
        let _ = touch(&file);
        if std::fs::read_to_string(&file).ok().as_deref() != Some(source) {
            fsx::atomic_write(&file, source)?;
        }
    }
    prune(&base, &hash);
    Ok(dir)
}

/// Sets `file`'s modification time to now.
fn touch(file: &Path) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(file)?
        .set_modified(SystemTime::now())
}

/// Removes, under `base` (the cache's `pytest-plugin`), the plugin
/// directories other than `current` whose modules no run has used for
/// [`KEEP_UNUSED`], and, in every directory kept, the instrumented code not
/// used for as long (the plugin marks a file used each time it loads it)
/// and partly written files older than [`KEEP_PARTIAL`]. A cache: what
/// cannot be read or removed now is left to a later run.
fn prune(base: &Path, current: &str) {
    let now = SystemTime::now();
    let unused = |path: &Path, keep: Duration| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|age| age > keep))
    };
    let Ok(dirs) = std::fs::read_dir(base) else {
        return;
    };
    for dir in dirs.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        if dir.file_name().is_some_and(|name| name != current)
            && unused(&dir.join(format!("{MODULE}.py")), KEEP_UNUSED)
        {
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        }
        let Ok(code) = std::fs::read_dir(dir.join(CODE_DIR)) else {
            continue;
        };
        for path in code.flatten().map(|e| e.path()) {
            let keep = match path.extension().and_then(|e| e.to_str()) {
                Some("bin") => KEEP_UNUSED,
                _ => KEEP_PARTIAL,
            };
            if unused(&path, keep) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
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
