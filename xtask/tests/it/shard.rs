//! Sharding: plans, shard runs, merge, and the checks that keep them honest.

use std::path::Path;

use crate::support::{copy_dir, junit_outcomes, xtask_bin, Test};

fn merge(root: &Path, dirs: &[std::path::PathBuf]) -> std::process::Output {
    std::process::Command::new(xtask_bin())
        .arg("-C")
        .arg(root)
        .args(["--no-progress", "merge"])
        .args(dirs)
        .output()
        .unwrap()
}

#[test]
fn shards_run_one_after_another_in_one_checkout_cover_the_suite_once() {
    let test = Test::fixture("basic");
    test.run_args(&["pytest"]).status(0);
    let planned = |index: &str| -> serde_json::Value {
        let info: serde_json::Value =
            serde_json::from_str(&test.read(&format!("reports/shard-{index}/shard.json"))).unwrap();
        info["planned"].clone()
    };
    // Shard 1's run does not move the plan shard 2 computes.
    for index in ["1", "2"] {
        test.run_args(&["shard", "--index", index, "--total", "2"])
            .status(0);
    }
    // Re-running one shard (before the merge folds the shards' durations in)
    // gives the same partition.
    let first = planned("1");
    test.run_args(&["shard", "--index", "1", "--total", "2"])
        .status(0);
    assert_eq!(planned("1"), first);
    let dirs = [
        test.path().join("reports/shard-1"),
        test.path().join("reports/shard-2"),
    ];
    let output = merge(test.path(), &dirs);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("14 of 14 collected tests ran"), "{stdout}");
    assert_eq!(
        junit_outcomes(&test.path().join("reports/junit.xml")).len(),
        14
    );

    // A shard planned from other durations (another cache) is refused.
    let out = tempfile::tempdir().unwrap();
    let kept = out.path().join("s0");
    copy_dir(&dirs[0], &kept);
    let mut durations: serde_json::Value =
        serde_json::from_str(&test.read("reports/durations.json")).unwrap();
    durations["tests"]["tests/test_more.py::test_gone"] = serde_json::json!(99.0);
    let durations = durations.to_string();
    let test = test.write("reports/durations.json", &durations);
    test.run_args(&["shard", "--index", "2", "--total", "2"])
        .status(0);
    let output = merge(test.path(), &[kept.clone(), dirs[1].clone()]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.starts_with("error: the shards were planned differently"),
        "{err}"
    );
    assert!(
        err.contains("restore the same reports/durations.json"),
        "{err}"
    );
    // A missing shard is refused too.
    let output = merge(test.path(), &[kept]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("shard(s) 2 of 2 are missing"));
}

#[test]
fn a_shard_whose_plan_lost_a_test_is_refused() {
    let test = Test::fixture("basic");
    for index in ["1", "2"] {
        test.run_args(&["shard", "--index", index, "--total", "2"])
            .status(0);
    }
    // Drop one planned test from shard 1's description: the union no longer covers the suite.
    let path = "reports/shard-2/shard.json";
    let mut info: serde_json::Value = serde_json::from_str(&test.read(path)).unwrap();
    info["planned"].as_array_mut().unwrap().pop();
    let test = test.write(path, &info.to_string());
    let dirs = [
        test.path().join("reports/shard-1"),
        test.path().join("reports/shard-2"),
    ];
    let output = merge(test.path(), &dirs);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("the shards' plans do not cover the suite exactly once: 13 of 14 collected tests planned"),
        "{err}"
    );
}

#[test]
fn index_out_of_range_exits_2() {
    let run = Test::fixture("basic").run_args(&["shard", "--index", "4", "--total", "3"]);
    run.status(2);
    assert!(
        run.stderr()
            .starts_with("error: `--index 4` is out of range for `--total 3`"),
        "{}",
        run.stderr()
    );
    // Shards count from 1, as pytest-split and nextest count theirs.
    let zero = Test::fixture("basic").run_args(&["shard", "--index", "0", "--total", "3"]);
    zero.status(2);
    assert!(
        zero.stderr()
            .contains("shards count from 1: `--index 1` to `--index 3`"),
        "{}",
        zero.stderr()
    );
}

#[test]
fn missing_or_corrupt_durations_fall_back_to_counts() {
    let test = Test::fixture("basic");
    let run = test.run_args(&["plan", "--shards", "3"]);
    run.status(0);
    assert!(
        run.stderr().contains("no durations recorded"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stdout().contains("plan: 14 tests in 3 shards"),
        "{}",
        run.stdout()
    );
    std::fs::create_dir_all(test.path().join("reports")).unwrap();
    std::fs::write(test.path().join("reports/durations.json"), "{ truncated").unwrap();
    let run = test.run_args(&["plan", "--shards", "3", "--granularity", "scope"]);
    run.status(0);
    assert!(run.stderr().contains("is corrupt"), "{}", run.stderr());
}

#[test]
fn more_shards_than_scopes_leaves_a_shard_with_nothing_to_do() {
    let test = Test::fixture("basic");
    let run = test.run_args(&[
        "shard",
        "--index",
        "5",
        "--total",
        "6",
        "--granularity",
        "scope",
    ]);
    run.status(0);
    assert!(
        run.stdout().contains("shard 5 of 6 has no tests"),
        "{}",
        run.stdout()
    );
}

#[test]
fn simulate_predicts_every_engine() {
    let test = Test::fixture("basic");
    test.run_args(&["pytest"]).status(0);
    let run = test.run_args(&["plan", "--workers", "2", "--simulate"]);
    run.status(0);
    for line in [
        "serial: one pytest process",
        "xdist --dist=loadscope, collection order",
        "longest first",
        "shards: 2 pytest processes",
        "fastest predicted",
    ] {
        assert!(run.stdout().contains(line), "{line}: {}", run.stdout());
    }
    // The serial run above did not measure coverage (the default): its
    // start-up counts for predictions without coverage, not for those with it.
    let serial_line = |stdout: &str| {
        stdout
            .lines()
            .find(|l| l.contains("serial: one pytest process"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        serial_line(&run.stdout()).contains("start-up measured"),
        "{}",
        run.stdout()
    );
    let run = test.run_args(&["plan", "--workers", "2", "--simulate", "--cov"]);
    run.status(0);
    assert!(run.stdout().contains("with coverage"), "{}", run.stdout());
    assert!(
        serial_line(&run.stdout()).contains("start-up assumed"),
        "{}",
        run.stdout()
    );
}
