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
use super::reportlog::{parse_line, Event, Tail};

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

/// Finished pytest processes and what they reported, as one run.
pub struct Finished {
    /// The first process's status (the only one for xdist and serial runs).
    pub exit: PytestExit,
    /// Every process's status, in order.
    pub exits: Vec<PytestExit>,
    /// Whether each process finished its session (wrote SessionFinish).
    pub finished: Vec<bool>,
    pub state: RunState,
    /// We forwarded a Ctrl-C or SIGTERM.
    pub interrupted: bool,
    pub spawned_at: SystemTime,
    pub wall: Duration,
    /// Lines of pytest's output that explain an xdist collection mismatch.
    pub mismatch: Vec<String>,
}

/// One pytest process of a run and where its streams go.
pub struct Process<'a> {
    pub inv: &'a Invocation,
    pub reportlog: &'a Path,
    pub output_log: &'a Path,
    /// The worker id its results are filed under (`gw0`, …) when the report log has none.
    pub worker: Option<String>,
}

/// Runs `inv` to completion, feeding events to `progress`.
pub fn run(
    inv: &Invocation,
    reportlog: &Path,
    output_log: &Path,
    echo: bool,
    progress: &mut Progress,
) -> anyhow::Result<Finished> {
    run_many(
        &[Process {
            inv,
            reportlog,
            output_log,
            worker: None,
        }],
        echo,
        progress,
    )
}

struct Running {
    child: std::process::Child,
    pgid: u32,
    log: std::fs::File,
    tail: Tail,
    status: Option<ExitStatus>,
    session_finished: bool,
    collected: Option<usize>,
}

/// Runs several pytest processes at once as one run: one progress display,
/// one aggregate of events, every process stopped on Ctrl-C.
pub fn run_many(
    processes: &[Process],
    echo: bool,
    progress: &mut Progress,
) -> anyhow::Result<Finished> {
    signals::install();
    let spawned_at = SystemTime::now();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut running = Vec::new();
    for (i, p) in processes.iter().enumerate() {
        let log = std::fs::File::create(p.output_log)
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
                    let r: &Running = r;
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
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((i, line)).is_err() {
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
            session_finished: false,
            collected: None,
        });
    }
    drop(tx);

    let mut state = RunState::default();
    let mut counts = Counts::default();
    let mut mismatch = Vec::new();
    let mut in_mismatch = false;
    let mut forwarded = 0;
    let mut deadline: Option<Instant> = None;

    let mut pump = |state: &mut RunState,
                    counts: &mut Counts,
                    progress: &mut Progress,
                    running: &mut [Running]| {
        while let Ok((i, line)) = rx.try_recv() {
            let _ = writeln!(running[i].log, "{line}");
            if echo {
                progress.println(&line);
            }
            if let Some(n) = collected_from_output(&line) {
                running[i].collected = Some(n);
                let total: usize = running.iter().filter_map(|r| r.collected).sum();
                state.collected = Some(total);
                progress.set_total(total);
            }
            if line.contains("Different tests were collected between") {
                in_mismatch = true;
            }
            if in_mismatch && mismatch.len() < 40 {
                mismatch.push(line.clone());
            }
        }
        for (i, r) in running.iter_mut().enumerate() {
            for line in r.tail.read_new(processes[i].reportlog) {
                let Some(mut event) = parse_line(&line) else {
                    continue;
                };
                match &mut event {
                    Event::Test(report) if report.worker.is_none() => {
                        report.worker.clone_from(&processes[i].worker)
                    }
                    Event::SessionFinish { .. } => {
                        r.session_finished = true;
                        // One process's session ending is not the run's.
                        if processes.len() > 1 {
                            continue;
                        }
                    }
                    _ => {}
                }
                if let Some(test) = state.apply(&event).cloned() {
                    counts.add(test.outcome);
                    let done = state.done();
                    progress.test_done(&test, done, counts);
                }
            }
        }
    };

    loop {
        pump(&mut state, &mut counts, progress, &mut running);
        let received = signals::count();
        if received > forwarded {
            if forwarded == 0 {
                progress.println("interrupted: stopping pytest and its workers (press Ctrl-C again to kill them)");
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
    std::thread::sleep(Duration::from_millis(20));
    pump(&mut state, &mut counts, progress, &mut running);
    if processes.len() > 1 && running.iter().all(|r| r.session_finished) {
        state.session_exit = Some(0);
    }
    let exits: Vec<PytestExit> = running
        .iter()
        .map(|r| PytestExit::from_status(r.status.expect("every process was waited for")))
        .collect();
    for r in &mut running {
        r.log.flush().ok();
    }
    Ok(Finished {
        exit: exits[0],
        exits,
        finished: running.iter().map(|r| r.session_finished).collect(),
        state,
        interrupted: forwarded > 0,
        spawned_at,
        wall,
        mismatch,
    })
}
