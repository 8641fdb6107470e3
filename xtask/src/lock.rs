//! The per-project run lock: one run of a project at a time. Runs share the
//! reports directory (the partial reports, the history, the durations, the
//! collection), so a second run waits for the first, saying for which, and
//! never corrupts it. The lock is re-entrant within one process, so a task
//! that runs the suite several times (`verify`, `triage`) holds it
//! throughout. Ctrl-C while waiting ends the wait (exit 130).

use std::io::{Seek, Write};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;

use crate::fsx::{self, FileLock};
use crate::layout::Layout;
use crate::signals;

/// The lock this process holds, and how many guards share it.
static HELD: Mutex<Option<(FileLock, usize)>> = Mutex::new(None);

/// Held until dropped.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RunLock(());

impl Drop for RunLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, count)) = held.as_mut() {
            *count -= 1;
            if *count == 0 {
                *held = None;
            }
        }
    }
}

/// Takes the project's run lock for `what` (e.g. `pytest-parallel`),
/// waiting while another run holds it.
pub fn acquire(layout: &Layout, what: &str) -> anyhow::Result<RunLock> {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, count)) = held.as_mut() {
        *count += 1;
        return Ok(RunLock(()));
    }
    signals::install();
    fsx::create_reports_dir(&layout.dir)?;
    let path = layout.lock();
    let mut waited = false;
    let mut lock = loop {
        if let Some(lock) = FileLock::try_acquire(&path)? {
            break lock;
        }
        if !waited {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            eprintln!(
                "waiting for another run of this project to finish ({}); Ctrl-C to stop waiting",
                match holder.trim() {
                    "" => "its lock is held".to_string(),
                    who => who.to_string(),
                }
            );
            waited = true;
        }
        if signals::interrupted() {
            anyhow::bail!("interrupted while waiting for another run of this project");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let file = lock.file();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| {
            writeln!(
                file,
                "pid {}: `cargo xtask {what}` since {}",
                std::process::id(),
                crate::report::history::now_utc()
            )
        })
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    *held = Some((lock, 1));
    Ok(RunLock(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_reentrant_and_released_with_its_last_guard() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            dir: dir.path().join("reports"),
        };
        let outer = acquire(&layout, "verify").unwrap();
        let inner = acquire(&layout, "pytest").unwrap();
        let holder = std::fs::read_to_string(layout.lock()).unwrap();
        assert!(holder.contains("`cargo xtask verify`"), "{holder}");
        drop(inner);
        // Still held: another open file description cannot take it.
        assert!(FileLock::try_acquire(&layout.lock()).unwrap().is_none());
        drop(outer);
        assert!(FileLock::try_acquire(&layout.lock()).unwrap().is_some());
    }
}
