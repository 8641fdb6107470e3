//! Real runs: reports, summaries, crashed workers, and the bundled suite.

use crate::support::{junit_outcomes, Test};

#[test]
fn a_run_writes_reports_and_a_summary() {
    let test = Test::fixture("basic").args(["pytest"]);
    let run = test.run();
    run.status(0);
    let out = run.stdout();
    assert!(
        out.contains("tests:     14 of 14 collected tests ran: 13 passed, 0 failed, 1 skipped"),
        "{out}"
    );
    assert!(out.contains("slowest:"));
    assert!(
        out.contains("reproduce: PYTHONHASHSEED=0 ") && out.contains("reports/events.jsonl"),
        "{out}"
    );
    let outcomes = junit_outcomes(&test.path().join("reports/junit.xml"));
    assert_eq!(outcomes.len(), 14);
    let events: Vec<serde_json::Value> = test
        .read("reports/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.iter().filter(|e| e["e"] == "test").count(), 14);
    assert_eq!(events.first().unwrap()["e"], "start");
    assert_eq!(events.last().unwrap()["e"], "finish");
    assert!(!test.path().join("reports/.partial").exists());
}

#[test]
fn a_worker_killed_mid_test_fails_that_test_and_the_run_continues() {
    let test = Test::fixture("crash").xdist().args([
        "pytest-parallel",
        "--workers",
        "2",
        "--dist",
        "load",
    ]);
    let run = test.run();
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("CRASHED tests/test_crash.py::test_kills_its_process"),
        "{out}"
    );
    let outcomes = junit_outcomes(&test.path().join("reports/junit.xml"));
    let find = |name: &str| {
        outcomes
            .iter()
            .find(|(id, _)| id.ends_with(name))
            .map(|(_, o)| o.as_str())
    };
    // pytest's junit plugin files a crash (xdist's `???` phase) as an <error>.
    assert!(
        matches!(find("test_kills_its_process"), Some("failed" | "error")),
        "{outcomes:?}"
    );
    assert_eq!(find("test_after"), Some("passed"), "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|(_, o)| o == "passed").count(), 6);
}

#[test]
fn a_crash_under_loadscope_explains_the_retries() {
    let test = Test::fixture("crash").xdist().args([
        "pytest-parallel",
        "--workers",
        "2",
        "--dist",
        "loadscope",
    ]);
    let run = test.run();
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("`tests/test_crash.py::test_kills_its_process` crashed"),
        "{out}"
    );
    assert!(
        out.contains("hands a crashed worker's whole scope to its replacement"),
        "{out}"
    );
    // One test, counted once, however often xdist retried it.
    assert!(out.contains("1 failed"), "{out}");
}

#[test]
fn a_serial_run_killed_mid_test_names_the_test() {
    let test = Test::fixture("crash").args(["pytest"]);
    let run = test.run();
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("pytest died (exit 1) while running `tests/test_crash.py::test_kills_its_process`, after 1 of its 7 tests"),
        "{out}"
    );
    // The test after it never ran, and says so: no green on a partial run.
    assert!(
        out.contains(
            "not run:   tests/test_crash.py::test_after, tests/test_other.py::test_fine[0]"
        ),
        "{out}"
    );
    assert!(out.contains("2 of 7 collected tests ran"), "{out}");
    let outcomes = junit_outcomes(&test.path().join("reports/junit.xml"));
    assert!(
        outcomes
            .iter()
            .any(|(id, o)| id.ends_with("test_kills_its_process") && o == "failed"),
        "{outcomes:?}"
    );
}

#[test]
fn failing_tests_exit_1_and_are_listed() {
    let test = Test::fixture("basic")
        .write(
            "tests/test_fail.py",
            "def test_fails():\n    assert 1 == 2, 'one is not two'\n",
        )
        .args(["pytest"]);
    let run = test.run();
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("FAILED tests/test_fail.py::test_fails"),
        "{out}"
    );
    assert!(out.contains("one is not two"), "{out}");
    assert!(out.contains("1 test(s) failed (exit 1)"), "{out}");
}

#[test]
fn no_tests_exits_5() {
    let test = Test::fixture("basic").args(["pytest", "--", "-k", "no_such_test_name"]);
    test.run().status(5);
}

#[test]
fn a_project_whose_addopts_say_n_auto_runs_serially() {
    let test = Test::fixture("basic")
        .write("pytest.ini", "[pytest]\naddopts = -n auto -q\n")
        .args(["pytest"]);
    let run = test.run();
    run.status(0);
    assert!(
        run.stdout().contains("14 of 14 collected tests ran"),
        "{}",
        run.stdout()
    );
    // Serial: no xdist worker ran anything.
    assert!(!test
        .read("reports/events.jsonl")
        .contains("\"worker\":\"gw"));
}

#[test]
fn import_error_is_a_collection_error() {
    let test = Test::fixture("basic")
        .write("tests/test_broken.py", "import no_such_module_here\n")
        .args(["pytest"]);
    let run = test.run();
    run.status(1);
    assert!(
        run.stdout()
            .contains("COLLECTION ERROR tests/test_broken.py"),
        "{}",
        run.stdout()
    );
}

#[test]
fn bad_pytest_arguments_are_a_usage_error_that_shows_what_pytest_said() {
    let test = Test::fixture("basic").args(["pytest", "--", "--no-such-pytest-option"]);
    let run = test.run();
    run.status(2);
    assert!(
        run.stdout().contains("pytest said:")
            && run
                .stdout()
                .contains("unrecognized arguments: --no-such-pytest-option"),
        "{}",
        run.stdout()
    );
}
