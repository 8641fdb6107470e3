//! Coverage merged across workers and subprocesses, `cargo xtask coverage`,
//! and `cargo xtask verify`.

use std::collections::BTreeSet;

use crate::support::{executed, shared_config, Test};

fn covproj(extra_config: &str) -> Test {
    Test::fixture("covproj").write(
        "testing.toml",
        &format!(
            "{}\n[coverage]\nbranch = true\n{extra_config}",
            shared_config("[\"tests\"]", "")
                .replace("[project]\n", "[project]\nsource = [\"calc\"]\n")
        ),
    )
}

/// Executed line numbers of `file` in the run's coverage.json.
fn executed_lines(test: &Test, file: &str) -> BTreeSet<u64> {
    let json: serde_json::Value =
        serde_json::from_str(&test.read("reports/coverage.json")).unwrap();
    json["files"][file]["executed_lines"]
        .as_array()
        .unwrap_or_else(|| panic!("{file} not in coverage.json: {}", json["files"]))
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn subprocess_lines_are_covered_serially_and_in_parallel() {
    for args in [
        vec!["pytest", "--cov"],
        vec!["pytest-parallel", "--cov", "--workers", "2"],
    ] {
        let test = covproj("");
        let run = test.run_args(&args);
        run.status(0);
        let main = executed_lines(&test, "calc/__main__.py");
        assert!(
            main.contains(&9) && main.contains(&10),
            "{args:?}: {main:?}"
        );
        assert!(run.stdout().contains("coverage "), "{}", run.stdout());
        for report in ["reports/coverage.xml", "reports/htmlcov/index.html"] {
            assert!(test.path().join(report).exists(), "{report}");
        }
    }
}

#[test]
fn a_killed_worker_keeps_the_lines_of_its_earlier_tests() {
    let test = covproj("");
    std::fs::copy(
        test.path().join("extra/test_killed.py"),
        test.path().join("tests/test_killed.py"),
    )
    .unwrap();
    let run = test.run_args(&[
        "pytest-parallel",
        "--engine",
        "xdist",
        "--cov",
        "--workers",
        "2",
        "--dist",
        "loadfile",
        "--",
        "--max-worker-restart=0",
    ]);
    run.status(1);
    // mul's body ran only in the worker that died right after.
    let lines = executed_lines(&test, "calc/__init__.py");
    assert!(lines.contains(&9) && lines.contains(&10), "{lines:?}");
    assert!(
        run.stdout()
            .contains("coverage combined from an incomplete run"),
        "{}",
        run.stdout()
    );
}

#[test]
fn threshold_is_judged_on_merged_data() {
    let below = covproj("fail-under = 99\n");
    let run = below.run_args(&["pytest-parallel", "--cov", "--workers", "2"]);
    run.status(4);
    assert!(
        run.stdout().contains(
            "is below the threshold 99% (`coverage.fail-under` in testing.toml) (exit 4)"
        ),
        "{}",
        run.stdout()
    );
    let above = covproj("fail-under = 50\n");
    above
        .run_args(&["pytest-parallel", "--cov", "--workers", "2"])
        .status(0);
    // `cargo xtask coverage` re-judges the same data with the same threshold.
    let again = below.run_args(&["coverage", "--report-only"]);
    again.status(4);
    assert!(
        again.stderr().contains("is below the threshold 99%"),
        "{}",
        again.stderr()
    );
}

/// Two CI shards (two xdist workers each, one test spawning a measured
/// subprocess) merge into the very lines and branches one xdist run covers.
#[test]
fn ci_shards_merge_into_the_coverage_of_one_run() {
    let test = covproj("");
    let reports = test.path().join("reports");
    test.run_args(&["pytest-parallel", "--cov", "--workers", "2"])
        .status(0);
    let whole = executed(&reports.join("coverage.json"));
    assert!(whole.as_object().is_some_and(|f| f.len() >= 2), "{whole}");
    for index in ["1", "2"] {
        test.run_args(&[
            "shard",
            "--index",
            index,
            "--total",
            "2",
            "--cov",
            "--workers",
            "2",
        ])
        .status(0);
    }
    let dirs: Vec<String> = ["shard-1", "shard-2"]
        .iter()
        .map(|d| reports.join(d).display().to_string())
        .collect();
    test.run_args(&["merge", &dirs[0], &dirs[1]]).status(0);
    assert_eq!(
        executed(&reports.join("coverage.json")),
        whole,
        "merged shards cover other lines or branches than one run"
    );
}

/// `cargo xtask coverage` runs the tests (in parallel, as `parallel.workers`
/// says) with coverage, and judges the threshold on the combined data.
#[test]
fn coverage_task_runs_the_tests_with_coverage() {
    let test = covproj("fail-under = 50\n");
    let run = test.run_args(&["coverage", "--workers", "2"]);
    run.status(0);
    let out = run.stdout();
    assert!(
        out.contains("── coverage summary ──") || out.contains("── coverage ──"),
        "{out}"
    );
    assert!(
        out.contains("tests:     2 of 2 collected tests ran"),
        "{out}"
    );
    assert!(out.contains("2 workers (--workers=2)"), "{out}");
    assert!(executed_lines(&test, "calc/__main__.py").contains(&9));
    // A selection after `--` reaches pytest; the threshold still applies.
    let strict = covproj("fail-under = 99\n");
    let run = strict.run_args(&["coverage", "--", "-k", "subprocess"]);
    run.status(4);
    assert!(
        run.stdout().contains("is below the threshold 99%"),
        "{}",
        run.stdout()
    );
}

#[test]
fn coverage_report_only_without_data_is_a_usage_error() {
    let run = covproj("").run_args(&["coverage", "--report-only"]);
    run.status(2);
    assert!(
        run.stderr()
            .starts_with("error: no coverage data in `reports`"),
        "{}",
        run.stderr()
    );
}

#[test]
fn corrupt_data_file_is_named() {
    let test = covproj("");
    test.run_args(&["pytest", "--cov"]).status(0);
    std::fs::write(
        test.path()
            .join("reports/.coverage.broken-host.1234.abcdef"),
        "this is not sqlite",
    )
    .unwrap();
    let run = test.run_args(&["coverage", "--report-only"]);
    run.status(2);
    assert!(
        run.stderr().contains(
            "coverage data file `reports/.coverage.broken-host.1234.abcdef` is unreadable"
        ),
        "{}",
        run.stderr()
    );
    // The good data is still there and re-reports once the bad file is gone.
    std::fs::remove_file(
        test.path()
            .join("reports/.coverage.broken-host.1234.abcdef"),
    )
    .unwrap();
    test.run_args(&["coverage", "--report-only"]).status(0);
}

#[test]
fn stale_data_from_an_earlier_run_is_removed() {
    let test = covproj("");
    std::fs::create_dir_all(test.path().join("reports")).unwrap();
    std::fs::write(
        test.path().join("reports/.coverage.old-host.99.stale"),
        "left by a killed run",
    )
    .unwrap();
    let run = test.run_args(&["pytest", "--cov"]);
    run.status(0);
    assert!(
        run.stdout()
            .contains("removed 1 coverage data file(s) left by an earlier run"),
        "{}",
        run.stdout()
    );
    assert!(!test
        .path()
        .join("reports/.coverage.old-host.99.stale")
        .exists());
}

#[test]
fn per_test_contexts_are_refused_in_parallel() {
    let test = covproj("dynamic-context = \"test_function\"\n");
    let run = test.run_args(&["pytest-parallel", "--cov", "--workers", "2"]);
    run.status(2);
    assert!(
        run.stderr().contains("cannot be used in a parallel run"),
        "{}",
        run.stderr()
    );
    test.run_args(&["pytest", "--cov"]).status(0);
}

#[test]
fn verify_names_an_order_dependent_test() {
    let test = Test::fixture("orderdep");
    let run = test.run_args(&["verify", "--workers", "2"]);
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("tests/test_2_dependent.py::test_needs_flag: serial passed, parallel failed"),
        "{out}"
    );
    assert!(
        out.contains("verify: parallel differs from serial"),
        "{out}"
    );
}

#[test]
fn verify_passes_on_a_clean_project() {
    let test = covproj("");
    let run = test.run_args(&["verify", "--workers", "2", "--repeat", "2"]);
    run.status(0);
    assert!(run.stdout().contains("parallel #2"), "{}", run.stdout());
}
