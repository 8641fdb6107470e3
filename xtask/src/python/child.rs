//! The pytest child process: started in its own process group, its output
//! drained on threads, its report log tailed into events, and Ctrl-C or
//! SIGTERM forwarded to the whole group (pytest and every xdist worker).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::report::progress::Progress;
use crate::report::{collected_from_output, Counts, RunState};
use crate::signals;

use super::argv::Invocation;
use super::reportlog::{parse_line, Tail};

/// How long pytest may take to stop after it was interrupted, before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// pytest's exit status, classified before anything is decided on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PytestExit {
    Passed,
    Failed,
    Interrupted,
    Internal,
    Usage,
    NoTests,
    MaxWarnings,
    Other(i32),
    Signal(i32),
}

impl PytestExit {
    pub fn from_status(status: ExitStatus) -> PytestExit {
        match (status.code(), status.signal()) {
            (Some(0), _) => PytestExit::Passed,
            (Some(1), _) => PytestExit::Failed,
            (Some(2), _) => PytestExit::Interrupted,
            (Some(3), _) => PytestExit::Internal,
            (Some(4), _) => PytestExit::Usage,
            (Some(5), _) => PytestExit::NoTests,
            (Some(6), _) => PytestExit::MaxWarnings,
            (Some(code), _) => PytestExit::Other(code),
            (None, Some(sig)) => PytestExit::Signal(sig),
            (None, None) => PytestExit::Other(-1),
        }
    }
}

/// A finished pytest process and what it reported.
pub struct Finished {
    pub exit: PytestExit,
    pub state: RunState,
    /// We forwarded a Ctrl-C or SIGTERM to it.
    pub interrupted: bool,
    pub spawned_at: SystemTime,
    pub wall: Duration,
    /// Lines of pytest's output that explain an xdist collection mismatch.
    pub mismatch: Vec<String>,
}

/// Where the child's streams and reports go.
pub struct Streams<'a> {
    pub reportlog: &'a Path,
    pub output_log: &'a Path,
    /// Echo pytest's own output (verbose).
    pub echo: bool,
}

/// Runs `inv` to completion, feeding events to `progress`.
pub fn run(
    inv: &Invocation,
    streams: &Streams,
    progress: &mut Progress,
) -> anyhow::Result<Finished> {
    signals::install();
    let mut log = std::fs::File::create(streams.output_log)
        .with_context(|| format!("cannot create `{}`", streams.output_log.display()))?;
    let mut cmd = inv.command();
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawned_at = SystemTime::now();
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", inv.python.display()))?;
    let pgid = child.id();

    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let mut state = RunState::default();
    let mut counts = Counts::default();
    let mut tail = Tail::default();
    let mut mismatch = Vec::new();
    let mut in_mismatch = false;
    let mut forwarded = 0;
    let mut deadline: Option<Instant> = None;

    let mut pump = |state: &mut RunState,
                    counts: &mut Counts,
                    progress: &mut Progress,
                    log: &mut std::fs::File| {
        while let Ok(line) = rx.try_recv() {
            let _ = writeln!(log, "{line}");
            if streams.echo {
                progress.println(&line);
            }
            if let Some(n) = collected_from_output(&line) {
                state.collected = Some(n);
                progress.set_total(n);
            }
            if line.contains("Different tests were collected between") {
                in_mismatch = true;
            }
            if in_mismatch && mismatch.len() < 40 {
                mismatch.push(line.clone());
            }
        }
        for line in tail.read_new(streams.reportlog) {
            let Some(event) = parse_line(&line) else {
                continue;
            };
            if let Some(test) = state.apply(&event).cloned() {
                counts.add(test.outcome);
                let done = state.done();
                progress.test_done(&test, done, counts);
            }
        }
    };

    let status = loop {
        pump(&mut state, &mut counts, progress, &mut log);
        let received = signals::count();
        if received > forwarded {
            if forwarded == 0 {
                progress.println("interrupted: stopping pytest and its workers (press Ctrl-C again to kill them)");
                signals::kill_group(pgid, libc::SIGINT);
                deadline = Some(Instant::now() + GRACE);
            } else {
                signals::kill_group(pgid, libc::SIGKILL);
            }
            forwarded = received;
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            signals::kill_group(pgid, libc::SIGKILL);
        }
        if let Some(status) = child.try_wait().context("cannot wait for pytest")? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = started.elapsed();

    // Nothing of this run may outlive it.
    if signals::group_alive(pgid) {
        signals::kill_group(pgid, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        signals::kill_group(pgid, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(20));
    pump(&mut state, &mut counts, progress, &mut log);
    log.flush().ok();
    Ok(Finished {
        exit: PytestExit::from_status(status),
        state,
        interrupted: forwarded > 0,
        spawned_at,
        wall,
        mismatch,
    })
}
