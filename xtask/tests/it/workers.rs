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
