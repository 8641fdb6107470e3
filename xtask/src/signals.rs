//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal): recorded here, acted on by whoever runs a child process.
//!
//! The handler only counts; the run loop forwards the signal to pytest's
//! process group, so pytest can write its partial reports, and escalates to
//! SIGKILL if it does not stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

static COUNT: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();

/// Starts listening for SIGINT, SIGTERM and SIGHUP (idempotent).
pub fn install() {
    INSTALL.call_once(|| {
        let Ok(mut signals) =
            signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        else {
            return;
        };
        std::thread::spawn(move || {
            for _signal in signals.forever() {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
        });
    });
}

/// How many interrupting signals arrived so far.
pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

/// Whether the run was asked to stop.
pub fn interrupted() -> bool {
    count() > 0
}

/// Sends `signal` to every process in the group `pgid`.
pub fn kill_group(pgid: u32, signal: i32) -> bool {
    // SAFETY: kill(2) with a negative pid addresses a process group; no memory is involved.
    unsafe { libc::kill(-(pgid as i32), signal) == 0 }
}

/// Whether any process of the group `pgid` is still alive.
pub fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}
