//! Ctrl-C and SIGTERM: the whole run stops, nothing is left behind, and the
//! partial reports are valid.

use std::time::{Duration, Instant};

use crate::support::{processes_mentioning, Test};

/// Whether an event stream in progress (one per process of the run, under
/// `dir`) has a test's outcome yet.
fn some_test_ended(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let path = entry.path();
            if path.is_dir() {
                some_test_ended(&path)
            } else {
                std::fs::read_to_string(&path).is_ok_and(|t| t.contains("\"e\":\"test\""))
            }
        })
}

fn interrupt_run(workers: &str, signal: i32) {
    let test = Test::fixture("slow").args(["pytest-parallel", "--workers", workers]);
    let mut child = test
        .command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some test has finished, so the interrupt lands mid-run.
    let partial = test.path().join("reports/.partial");
    let started = Instant::now();
    while !some_test_ended(&partial) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started a test"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{:?}",
        child.stdout.take().map(|mut s| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut s, &mut text).unwrap();
            text
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the interrupt took too long"
    );
    let needle = test.path().to_string_lossy().into_owned();
    let left = processes_mentioning(&needle);
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let junit = test.read("reports/junit.xml");
    assert!(junit.contains("<testsuite"), "{junit}");
    assert!(junit.contains("test_quick"), "{junit}");
    let log = test.read("reports/events.jsonl");
    assert!(!log.is_empty());
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("invalid line {line}: {e}"));
    }
}

#[test]
fn sigint_mid_parallel_run_exits_130_and_keeps_reports() {
    interrupt_run("2", libc::SIGINT);
}

#[test]
fn sigterm_mid_serial_run_exits_130_and_keeps_reports() {
    interrupt_run("1", libc::SIGTERM);
}

/// A closed terminal (SIGHUP) stops the run like Ctrl-C: no pytest left behind.
#[test]
fn sighup_mid_parallel_run_exits_130_and_leaves_nothing_behind() {
    interrupt_run("2", libc::SIGHUP);
}
