//! File-system helpers: atomic writes and cache locations.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Writes `contents` to `path` through a temporary file in the same directory
/// and a rename, so readers never see a half-written file.
pub fn atomic_write(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    stage(path, contents)?.commit()
}

/// A file written next to its destination but not yet in place: several
/// files can be staged first and committed only when all were written.
/// Dropping it removes the temporary file.
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes `contents` to a temporary file beside `path`.
pub fn stage(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<Staged> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".xtask-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    tmp.write_all(contents.as_ref())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    // Keep the mode of the file being replaced; a new file gets the usual
    // 0644 rather than the temporary file's 0600.
    let permissions = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::os::unix::fs::PermissionsExt::from_mode(0o644));
    tmp.as_file()
        .set_permissions(permissions)
        .with_context(|| format!("cannot set the mode of `{}`", path.display()))?;
    tmp.as_file().sync_all().ok();
    Ok(Staged {
        tmp,
        path: path.to_path_buf(),
    })
}

impl Staged {
    /// Renames the staged file over its destination.
    pub fn commit(self) -> anyhow::Result<()> {
        let Staged { tmp, path } = self;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot replace `{}`", path.display()))?;
        Ok(())
    }
}

/// Moves a finished file into place atomically (same file system).
pub fn atomic_rename(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::rename(from, to)
        .with_context(|| format!("cannot move `{}` to `{}`", from.display(), to.display()))
}

/// The per-user cache directory for xtask's tools and locks.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XTASK_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("xtask");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("xtask"),
        None => std::env::temp_dir().join("xtask-cache"),
    }
}

/// `path` relative to `base` when it is inside it, for shorter messages.
pub fn relative(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// An exclusive advisory lock held until dropped (`flock` on a file).
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn open(path: &Path) -> anyhow::Result<std::fs::File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open lock file `{}`", path.display()))
    }

    /// Waits for the lock.
    pub fn acquire(path: &Path) -> anyhow::Result<FileLock> {
        let file = Self::open(path)?;
        file.lock()
            .with_context(|| format!("cannot lock `{}`", path.display()))?;
        Ok(FileLock { _file: file })
    }

    /// Takes the lock if no one holds it; `None` when someone does.
    pub fn try_acquire(path: &Path) -> anyhow::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock `{}`", path.display()))
            }
        }
    }

    /// The file behind the lock (to say who holds it).
    pub fn file(&mut self) -> &mut std::fs::File {
        &mut self._file
    }
}

/// Creates a reports directory; a new one gets a `.gitignore` of `*`, as
/// pytest's own cache does, so no run output is ever committed by accident.
pub fn create_reports_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    atomic_write(
        &dir.join(".gitignore"),
        "# Run outputs of cargo xtask: never committed.\n*\n",
    )
}

/// The project's configuration files at its root.
const CONFIG_FILES: [&str; 7] = [
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "setup.cfg",
    "tox.ini",
    "testing.toml",
    "setup.py",
];

/// Every Python file of the project under `root` and its configuration
/// files, sorted (collection cache keys, the audit's default paths).
pub fn project_files(root: &Path, skip: &[&Path]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = CONFIG_FILES
        .iter()
        .map(|f| root.join(f))
        .filter(|p| p.is_file())
        .collect();
    files.extend(project_tree(root, skip, |name| name.ends_with(".py")));
    files.sort();
    files.dedup();
    files
}

/// The files under `root` whose name `keep` accepts: hidden directories,
/// `__pycache__`, `node_modules`, virtual environments and `skip` are left
/// out. The one walk of a project's tree.
pub fn project_tree(root: &Path, skip: &[&Path], keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, skip: &[&Path], keep: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let skipped = name.starts_with('.')
                    || name == "__pycache__"
                    || name == "node_modules"
                    || name == "site-packages"
                    || path.join("pyvenv.cfg").exists()
                    || skip.iter().any(|s| *s == path);
                if !skipped {
                    walk(&path, skip, keep, out);
                }
            } else if keep(&name) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, skip, &keep, &mut files);
    files
}

/// The last non-empty line a failed command (or service) wrote.
pub fn last_line(file: &mut std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.rewind().ok();
    file.take(64 * 1024).read_to_string(&mut text).ok();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let line: String = line.trim().chars().take(200).collect();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        atomic_write(&path, "one").unwrap();
        atomic_write(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn project_files_skip_environments_caches_and_hidden_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "pyproject.toml",
            "pkg/mod.py",
            "pkg/tests/test_a.py",
            ".venv/lib/x.py",
            "env2/pyvenv.cfg",
            "env2/lib/y.py",
            "pkg/__pycache__/mod.py",
            "reports/z.py",
            "README.md",
        ] {
            atomic_write(&root.join(file), "").unwrap();
        }
        let reports = root.join("reports");
        let found: Vec<String> = project_files(root, &[&reports])
            .iter()
            .map(|p| relative(p, root).display().to_string())
            .collect();
        assert_eq!(
            found,
            ["pkg/mod.py", "pkg/tests/test_a.py", "pyproject.toml"]
        );
    }
}
