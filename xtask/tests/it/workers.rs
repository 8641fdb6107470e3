//! `PYTEST_WORKERS` semantics, checked on the pytest command actually run.

use crate::support::Test;

struct Record {
    /// xdist distributes the tests (`-n` above 0).
    distributed: bool,
    numprocesses: Option<u64>,
    argv: Vec<String>,
    hashseed: Option<String>,
}

/// Runs `task` on the basic fixture with PYTEST_WORKERS=`value` and returns
/// what pytest recorded about its own start.
fn run_with(task: &str, value: Option<&str>) -> Record {
    let mut test = Test::fixture("basic").xdist().args([task]);
    let record = test.path().join("record.json");
    test = test.env("XTASK_TEST_RECORD", record.to_str().unwrap());
    if let Some(v) = value {
        test = test.env("PYTEST_WORKERS", v);
    }
    test.run().status(0);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record).unwrap()).unwrap();
    Record {
        distributed: json["distributed"].as_bool().unwrap(),
        numprocesses: json["numprocesses"].as_u64(),
        argv: json["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect(),
        hashseed: json["hashseed"].as_str().map(str::to_string),
    }
}

#[test]
fn pytest_unset_is_serial() {
    let r = run_with("pytest", None);
    assert!(!r.distributed, "{:?}", r.argv);
    assert!(r.argv.iter().any(|a| a == "--numprocesses=0"));
    assert_eq!(r.hashseed.as_deref(), Some("0"));
}

#[test]
fn empty_value_counts_as_unset() {
    let r = run_with("pytest", Some(""));
    assert!(!r.distributed);
    let r = run_with("pytest-parallel", Some(""));
    assert_eq!(r.distributed, usable() >= 2);
}

#[test]
fn parallel_with_one_is_serial() {
    let r = run_with("pytest-parallel", Some("1"));
    assert!(!r.distributed);
}

#[test]
fn three_means_exactly_three_workers() {
    let r = run_with("pytest-parallel", Some("3"));
    assert!(r.distributed);
    assert_eq!(r.numprocesses, Some(3));
    assert!(
        r.argv.iter().any(|a| a == "--numprocesses=3"),
        "{:?}",
        r.argv
    );
    assert!(r.argv.iter().any(|a| a == "--dist=loadscope"));
}

#[test]
fn auto_runs_pytest_in_parallel() {
    let r = run_with("pytest", Some("auto"));
    if usable() >= 2 {
        assert!(r.distributed);
        assert_eq!(r.numprocesses, Some(usable() as u64));
    } else {
        assert!(!r.distributed);
    }
}

/// CPUs this test process may use (the xtask computes the same from affinity and cgroups).
fn usable() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[test]
fn invalid_values_exit_2_with_one_line() {
    for bad in ["abc", "0", "-2", "99999", "2x"] {
        let run = Test::fixture("basic")
            .args(["pytest"])
            .env("PYTEST_WORKERS", bad)
            .run();
        run.status(2);
        let first = run.stderr().lines().next().unwrap_or_default().to_string();
        assert_eq!(
            first,
            format!("error: PYTEST_WORKERS=`{bad}` is not a valid worker count: expected `auto` or a whole number from 1 to 512"),
        );
        assert!(run.stdout().is_empty(), "nothing runs: {}", run.stdout());
    }
}

#[test]
fn invalid_flag_value_exits_2() {
    let run = Test::fixture("basic")
        .args(["pytest-parallel", "--workers", "lots"])
        .run();
    run.status(2);
    assert!(
        run.stderr()
            .starts_with("error: --workers=`lots` is not a valid worker count"),
        "{}",
        run.stderr()
    );
}

#[test]
fn explicit_hash_seed_is_respected() {
    let mut test = Test::fixture("basic")
        .args(["pytest"])
        .env("PYTHONHASHSEED", "123");
    let record = test.path().join("record.json");
    test = test.env("XTASK_TEST_RECORD", record.to_str().unwrap());
    let run = test.run();
    run.status(0);
    assert!(run
        .stdout()
        .contains("PYTHONHASHSEED=123 from the environment"));
    assert!(std::fs::read_to_string(record)
        .unwrap()
        .contains("\"hashseed\": \"123\""));
}

#[test]
fn set_parametrization_collects_identically_in_every_worker() {
    // Without a fixed PYTHONHASHSEED, xdist aborts with "Different tests were collected".
    let run = Test::fixture("hashseed")
        .args(["pytest-parallel", "--workers", "2"])
        .run();
    run.status(0);
    assert!(run.stdout().contains("8 passed"), "{}", run.stdout());
}

/// Plain pytest (the console script, and `python -m pytest`) in the
/// environment the xtask set up: what it records with `PYTEST_WORKERS` set.
fn plain_pytest(
    value: Option<&str>,
    module: bool,
    args: &[&str],
) -> (i32, Option<serde_json::Value>, String) {
    let test = Test::fixture("basic");
    let record = test.path().join("record.json");
    let venv = crate::support::shared_venv();
    let mut cmd = if module {
        let mut cmd = std::process::Command::new(venv.join("bin/python"));
        cmd.args(["-m", "pytest"]);
        cmd
    } else {
        std::process::Command::new(venv.join("bin/pytest"))
    };
    cmd.args(["-p", "no:cacheprovider", "-q"])
        .args(args)
        .current_dir(test.path())
        .env("XTASK_TEST_RECORD", &record)
        .env_remove("PYTEST_WORKERS");
    if let Some(v) = value {
        cmd.env("PYTEST_WORKERS", v);
    }
    let out = cmd.output().unwrap();
    let recorded = std::fs::read_to_string(&record)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), recorded, text)
}

#[test]
fn plain_pytest_honours_pytest_workers_like_the_tasks() {
    for module in [false, true] {
        let (code, r, out) = plain_pytest(Some("2"), module, &[]);
        assert_eq!(code, 0, "{out}");
        let r = r.unwrap();
        assert_eq!(
            (r["numprocesses"].as_u64(), r["dist"].as_str()),
            (Some(2), Some("loadscope")),
            "{out}"
        );
        assert!(out.contains("13 passed, 1 skipped"), "{out}");
    }
    let (_, r, _) = plain_pytest(Some("auto"), false, &[]);
    assert_eq!(r.unwrap()["distributed"], usable() >= 2);
    for serial in [None, Some("1"), Some("")] {
        let (code, r, out) = plain_pytest(serial, false, &[]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(
            r.unwrap()["distributed"],
            false,
            "PYTEST_WORKERS={serial:?}"
        );
    }
    // The command line wins over the variable.
    let (_, r, _) = plain_pytest(Some("2"), false, &["-n", "0"]);
    assert_eq!(r.unwrap()["distributed"], false);
    // The same validation as the tasks, as a pytest usage error.
    let (code, _, out) = plain_pytest(Some("lots"), false, &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("PYTEST_WORKERS=`lots` is not a valid worker count: expected `auto` or a whole number from 1 to 512"),
        "{out}"
    );
}
