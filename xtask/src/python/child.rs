//! The pytest child processes of a run: each started in its own process
//! group, its output drained on threads into its log, its event stream
//! tailed, and Ctrl-C, SIGTERM or SIGHUP forwarded to every group (pytest and
//! all its xdist workers).
//!
//! The runner knows nothing of what the events mean: it hands each one, with
//! the index of the process that wrote it, to the caller's sink.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::events::{Event, Tail};
use crate::signals;

use super::argv::Invocation;

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

impl std::fmt::Display for PytestExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PytestExit::Passed => f.write_str("exit 0"),
            PytestExit::Failed => f.write_str("exit 1"),
            PytestExit::Interrupted => f.write_str("exit 2"),
            PytestExit::Internal => f.write_str("exit 3"),
            PytestExit::Usage => f.write_str("exit 4"),
            PytestExit::NoTests => f.write_str("exit 5"),
            PytestExit::MaxWarnings => f.write_str("exit 6"),
            PytestExit::Other(code) => write!(f, "exit {code}"),
            PytestExit::Signal(sig) => write!(f, "killed by signal {sig}"),
        }
    }
}

/// One pytest process of a run and where its streams go.
#[derive(Debug, Clone)]
pub struct Process {
    pub inv: Invocation,
    /// The event stream its plugin writes.
    pub events: PathBuf,
    /// Its stdout and stderr.
    pub output_log: PathBuf,
}

/// What the runner hands to its caller while processes run.
pub enum Feed<'a> {
    /// An event written by process `usize`.
    Event(usize, Event),
    /// A line of its output (stdout or stderr).
    Output(usize, &'a str),
    /// About every 50 ms while the processes run: time passes (for displays
    /// that move while no test ends).
    Tick,
}

/// How the processes ended.
#[derive(Debug)]
pub struct Finished {
    /// Every process's status, in order.
    pub exits: Vec<PytestExit>,
    /// We forwarded a Ctrl-C, SIGTERM or SIGHUP.
    pub interrupted: bool,
    pub spawned_at: SystemTime,
    pub wall: Duration,
}

struct Running {
    child: std::process::Child,
    pgid: u32,
    log: std::fs::File,
    tail: Tail,
    status: Option<ExitStatus>,
}

/// Runs the processes at once as one run, feeding their events and output
/// to `sink`; every process is stopped on Ctrl-C, and nothing outlives the run.
pub fn run(processes: &[Process], sink: &mut dyn FnMut(Feed)) -> anyhow::Result<Finished> {
    signals::install();
    let spawned_at = SystemTime::now();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut running: Vec<Running> = Vec::new();
    for (i, p) in processes.iter().enumerate() {
        let log = std::fs::File::create(&p.output_log)
            .with_context(|| format!("cannot create `{}`", p.output_log.display()))?;
        let mut cmd = p.inv.command();
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                for r in &running {
                    signals::kill_group(r.pgid, libc::SIGKILL);
                }
                return Err(e)
                    .with_context(|| format!("cannot start `{}`", p.inv.python.display()));
            }
        };
        let pgid = child.id();
        let streams: [Option<Box<dyn std::io::Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    let text = String::from_utf8_lossy(&line).trim_end().to_string();
                    line.clear();
                    if tx.send((i, text)).is_err() {
                        break;
                    }
                }
            });
        }
        running.push(Running {
            child,
            pgid,
            log,
            tail: Tail::default(),
            status: None,
        });
    }
    drop(tx);

    let pump = |sink: &mut dyn FnMut(Feed), running: &mut [Running]| {
        while let Ok((i, line)) = rx.try_recv() {
            let _ = writeln!(running[i].log, "{line}");
            sink(Feed::Output(i, &line));
        }
        for (i, r) in running.iter_mut().enumerate() {
            for event in r.tail.read_new(&processes[i].events) {
                sink(Feed::Event(i, event));
            }
        }
    };

    let mut forwarded = 0;
    let mut deadline: Option<Instant> = None;
    loop {
        pump(sink, &mut running);
        sink(Feed::Tick);
        let received = signals::count();
        if received > forwarded {
            if forwarded == 0 {
                for r in running.iter().filter(|r| r.status.is_none()) {
                    signals::kill_group(r.pgid, libc::SIGINT);
                }
                deadline = Some(Instant::now() + GRACE);
            } else {
                for r in &running {
                    signals::kill_group(r.pgid, libc::SIGKILL);
                }
            }
            forwarded = received;
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            for r in &running {
                signals::kill_group(r.pgid, libc::SIGKILL);
            }
        }
        for r in running.iter_mut().filter(|r| r.status.is_none()) {
            r.status = r.child.try_wait().context("cannot wait for pytest")?;
        }
        if running.iter().all(|r| r.status.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = started.elapsed();

    // Nothing of this run may outlive it.
    for r in &running {
        if signals::group_alive(r.pgid) {
            signals::kill_group(r.pgid, libc::SIGTERM);
            std::thread::sleep(Duration::from_millis(200));
            signals::kill_group(r.pgid, libc::SIGKILL);
        }
    }
    // The output threads end when the pipes close; take every last line.
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((i, line)) => {
                let _ = writeln!(running[i].log, "{line}");
                sink(Feed::Output(i, &line));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < until => {}
            Err(_) => break,
        }
    }
    pump(sink, &mut running);
    for r in &mut running {
        r.log.flush().ok();
    }
    Ok(Finished {
        exits: running
            .iter()
            .map(|r| PytestExit::from_status(r.status.expect("every process was waited for")))
            .collect(),
        interrupted: forwarded > 0,
        spawned_at,
        wall,
    })
}
