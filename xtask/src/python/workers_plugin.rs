//! The hook that makes plain `pytest` honour `PYTEST_WORKERS`
//! (`plugin/xtask_workers.py`): installed by setup into the environment the
//! xtask manages, as a module with a `pytest11` entry point, so any pytest
//! run there loads it without a change to the project's files or its pytest
//! configuration. Rewritten only when its content changed.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::fsx;

/// The module (and distribution) name.
pub const MODULE: &str = "xtask_workers";

/// The plugin's source.
pub const SOURCE: &str = include_str!("plugin/xtask_workers.py");

/// The files it takes in `site-packages`: the module and its dist-info.
fn files() -> Vec<(PathBuf, String)> {
    let dist_info = PathBuf::from(format!("{MODULE}-1.0.dist-info"));
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {MODULE}\nVersion: 1.0\nSummary: plain pytest honours PYTEST_WORKERS (installed by cargo xtask setup)\n"
    );
    let entry_points = format!("[pytest11]\n{MODULE} = {MODULE}\n");
    let record = format!(
        "{MODULE}.py,,\n{d}/METADATA,,\n{d}/entry_points.txt,,\n{d}/INSTALLER,,\n{d}/RECORD,,\n",
        d = dist_info.display()
    );
    vec![
        (PathBuf::from(format!("{MODULE}.py")), SOURCE.to_string()),
        (dist_info.join("METADATA"), metadata),
        (dist_info.join("entry_points.txt"), entry_points),
        (dist_info.join("INSTALLER"), "cargo-xtask\n".to_string()),
        (dist_info.join("RECORD"), record),
    ]
}

/// The environment's `site-packages` (`lib/python3.X/site-packages`).
fn site_packages(venv: &Path) -> anyhow::Result<PathBuf> {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .with_context(|| format!("cannot read `{}`", lib.display()))?
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .with_context(|| format!("no site-packages under `{}`", lib.display()))
}

/// Installs (or refreshes) the plugin in `venv`; does nothing when it is
/// already there as this xtask ships it.
pub fn install(venv: &Path) -> anyhow::Result<()> {
    let site = site_packages(venv)?;
    for (rel, text) in files() {
        let path = site.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            fsx::atomic_write(&path, text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_into_site_packages() {
        let venv = tempfile::tempdir().unwrap();
        let site = venv.path().join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&site).unwrap();
        install(venv.path()).unwrap();
        let module = site.join("xtask_workers.py");
        assert_eq!(std::fs::read_to_string(&module).unwrap(), SOURCE);
        assert_eq!(
            std::fs::read_to_string(site.join("xtask_workers-1.0.dist-info/entry_points.txt"))
                .unwrap(),
            "[pytest11]\nxtask_workers = xtask_workers\n"
        );
        let before = module.metadata().unwrap().modified().unwrap();
        install(venv.path()).unwrap();
        assert_eq!(module.metadata().unwrap().modified().unwrap(), before);
        assert!(install(&venv.path().join("missing")).is_err());
    }
}
