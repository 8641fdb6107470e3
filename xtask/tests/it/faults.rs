//! Faults a user's machine produces: two runs at once, an interrupted
//! environment rebuild, damaged state files, a run started from inside the
//! project without `-C`. Each ends with a clear message and loses nothing.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::{copy_dir, fixture_dir, processes_mentioning, xtask_bin, Test};

/// A second run of the same project waits for the first, says for which,
/// and neither is corrupted.
#[test]
fn a_second_run_waits_for_the_first_and_both_are_complete() {
    let test = Test::fixture("basic").write(
        "tests/test_wait.py",
        "import time\n\ndef test_takes_a_moment():\n    time.sleep(3)\n",
    );
    let first = test
        .command()
        .args(["pytest"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = test.path().join("reports/.lock");
    let started = Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid ")) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first run never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = test.run_args(&["pytest"]);
    second.status(0);
    assert!(
        second
            .stderr()
            .contains("waiting for another run of this project to finish (pid "),
        "{}",
        second.stderr()
    );
    assert!(
        second.stdout().contains("15 of 15 collected tests ran"),
        "{}",
        second.stdout()
    );
    let first = first.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("15 of 15 collected tests ran"), "{stdout}");
    assert!(!stdout.contains("CRASHED"), "{stdout}");
}

/// A damaged history (a byte that is not UTF-8, a torn line) is skipped
/// with a warning naming the line; the run still passes and appends.
#[test]
fn a_history_with_bytes_that_are_not_text_never_fails_a_run() {
    let test = Test::fixture("basic");
    std::fs::create_dir_all(test.path().join("reports")).unwrap();
    std::fs::write(
        test.path().join("reports/ci_timings.jsonl"),
        b"{\"schema\": 1, \"task\": \"pytest\"}\n\xff\xfe broken\n{\"schema\": 1, \"tas",
    )
    .unwrap();
    let run = test.run_args(&["pytest"]);
    run.status(0);
    assert!(
        run.stderr()
            .contains("ci_timings.jsonl:2: skipped a line that is not UTF-8 text"),
        "{}",
        run.stderr()
    );
    assert!(run
        .stderr()
        .contains("ci_timings.jsonl:3: skipped a corrupt or truncated line"));
    let history = std::fs::read(test.path().join("reports/ci_timings.jsonl")).unwrap();
    assert!(String::from_utf8_lossy(&history).lines().count() >= 4);
}

/// Without `-C`, the project is the nearest directory with a testing.toml
/// above the working directory: never a path compiled into the binary.
#[test]
fn the_project_is_found_from_the_working_directory() {
    let test = Test::fixture("basic");
    let sub = test.path().join("tests");
    let out = std::process::Command::new(xtask_bin())
        .args(["--no-progress", "pytest"])
        .current_dir(&sub)
        .env_remove("PYTEST_WORKERS")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(test.path().join("reports/junit.xml").exists());
    // Outside any project, tasks that need testing.toml say so.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(xtask_bin())
        .args(["--no-progress", "pytest"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `testing.toml`"));
}

/// An environment rebuild (here: `project.python` now names another
/// interpreter) interrupted halfway leaves the old environment working, and
/// the next run finishes the job.
#[test]
fn an_interrupted_rebuild_keeps_the_old_environment() {
    let test = Test::empty();
    copy_dir(&fixture_dir("layout_src"), test.path());
    let test = test.write(
        "testing.toml",
        "[project]\ntest-paths = [\"tests\"]\n\n[setup]\nextras = [\"test\"]\n",
    );
    test.run_args(&["setup"]).status(0);
    let python = test.path().join(".venv/bin/python");
    assert!(python.exists());
    // Another interpreter: a wrapper around the same Python.
    let wrapper = test.path().join("python-wrapper");
    std::fs::write(&wrapper, "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let test = test.write(
        "testing.toml",
        "[project]\npython = \"./python-wrapper\"\ntest-paths = [\"tests\"]\n\n[setup]\nextras = [\"test\"]\n",
    );
    let mut child = test
        .command()
        .args(["setup"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let staging = test.path().join(".venv.xtask-new");
    let started = Instant::now();
    while !staging.join("bin/python").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the rebuild never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    // The old environment is untouched and works.
    let ok = std::process::Command::new(&python)
        .args(["-c", "import pytest"])
        .status()
        .unwrap();
    assert!(ok.success());
    let needle = test.path().to_string_lossy().into_owned();
    assert!(processes_mentioning(&needle).is_empty());
    // The next run removes what was left and finishes the rebuild.
    let run = test.run_args(&["pytest"]);
    run.status(0);
    assert!(!staging.exists());
    assert!(!test.path().join(".venv.xtask-old").exists());
    assert!(
        run.stdout().contains("5 of 5 collected tests ran"),
        "{}",
        run.stdout()
    );
}

/// The reports directory never breaks the project's packaging: by default it
/// is hidden, so setuptools' flat-layout discovery (one package at the root,
/// no explicit list) still finds a single package after a run wrote reports.
#[test]
fn the_default_reports_directory_leaves_packaging_alone() {
    let test = Test::empty();
    copy_dir(&fixture_dir("shapes/flat_extra"), test.path());
    let test = test.write("testing.toml", "[project]\nsource = [\"flatpkg\"]\n");
    test.run_args(&["pytest"]).status(0);
    assert!(test.path().join(".xtask/reports/events.jsonl").exists());
    let again = test.run_args(&["setup", "--force"]);
    again.status(0);
    assert!(
        !again.stderr().contains("Multiple top-level packages"),
        "{}",
        again.stderr()
    );
}
