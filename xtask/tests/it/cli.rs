//! The command line itself: help, exit-code table, unknown flags.

use crate::support::{xtask_bin, Test};

#[test]
fn help_lists_every_task_and_the_exit_codes() {
    let out = std::process::Command::new(xtask_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for task in ["init", "setup", "pytest", "pytest-parallel", "bench"] {
        assert!(
            help.contains(&format!("\n  {task} ")),
            "task `{task}` missing from:\n{help}"
        );
    }
    for code in [
        "  0  everything passed",
        "  2  usage or configuration error",
        "130  interrupted",
    ] {
        assert!(help.contains(code), "`{code}` missing from:\n{help}");
    }
}

#[test]
fn no_arguments_prints_help_and_exits_2() {
    let out = std::process::Command::new(xtask_bin()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pytest-parallel"));
}

#[test]
fn unknown_flag_exits_2() {
    Test::fixture("basic")
        .args(["pytest", "--frobnicate"])
        .run()
        .status(2);
}

#[test]
fn missing_directory_is_a_usage_error() {
    let out = std::process::Command::new(xtask_bin())
        .args(["-C", "/nonexistent/project", "pytest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: `-C /nonexistent/project`: no such directory"),
        "{err}"
    );
}

#[test]
fn missing_config_points_at_init() {
    let run = Test::empty().args(["pytest"]).run();
    run.status(2);
    assert!(
        run.stderr().contains("no `testing.toml`"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("init"));
}

#[test]
fn dry_run_prints_the_command_and_runs_nothing() {
    let test = Test::fixture("basic").args([
        "pytest-parallel",
        "--workers",
        "2",
        "--dry-run",
        "--",
        "-k",
        "upper",
    ]);
    let run = test.run();
    run.status(0);
    let line = run.stdout();
    assert!(
        line.contains("-m pytest --numprocesses=2 --dist=loadscope"),
        "{line}"
    );
    assert!(line.trim_end().ends_with("-k upper"));
    assert!(!test.path().join("reports").exists());
}
