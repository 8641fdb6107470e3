//! The shards engine: concurrent plain pytest processes as one run.

use std::time::{Duration, Instant};

use crate::support::{processes_mentioning, Test};

#[test]
fn shards_engine_runs_every_test_once_with_xdist_style_worker_ids() {
    let test = Test::fixture("basic").write(
        "tests/test_workers.py",
        "import os\n\ndef test_worker_id_is_set():\n    assert os.environ['PYTEST_XDIST_WORKER'].startswith('gw')\n    assert os.environ['PYTEST_XDIST_WORKER_COUNT'] == '2'\n",
    );
    let run = test.run_args(&["pytest-parallel", "--engine", "shards", "--workers", "2"]);
    run.status(0);
    let out = run.stdout();
    assert!(
        out.contains("tests:     15 of 15 collected tests ran: 14 passed, 0 failed, 1 skipped"),
        "{out}"
    );
    assert!(out.contains("2 shard processes, engine shards"), "{out}");
    let record: serde_json::Value = serde_json::from_str(
        test.read("reports/ci_timings.jsonl")
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["engine"], "shards");
    let workers: Vec<&str> = record["worker_use"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(workers, ["gw0", "gw1"]);
}

#[test]
fn serial_whatever_the_engine() {
    let run = Test::fixture("basic")
        .env("PYTEST_WORKERS", "1")
        .run_args(&["pytest-parallel", "--engine", "shards"]);
    run.status(0);
    assert!(
        run.stdout().contains("workers:   serial"),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_shard_given_no_tests_is_never_started() {
    let test = Test::fixture("covproj");
    let run = test.run_args(&["pytest-parallel", "--engine", "shards", "--workers", "3"]);
    run.status(0);
    assert!(
        run.stdout()
            .contains("only 2 of 3 shards have tests; empty shards are not started"),
        "{}",
        run.stdout()
    );
    assert!(!test.path().join("reports/.partial").exists());
    let events = test.read("reports/events.jsonl");
    assert_eq!(events.matches("\"e\":\"start\"").count(), 2, "{events}");
}

#[test]
fn a_crashed_shard_names_its_unfinished_tests_and_keeps_the_others() {
    let test = Test::fixture("crash");
    let run = test.run_args(&["pytest-parallel", "--engine", "shards", "--workers", "2"]);
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("CRASHED tests/test_crash.py::test_kills_its_process"),
        "{out}"
    );
    assert!(out.contains("died (exit 1) while running"), "{out}");
    assert!(
        out.contains("not run:   tests/test_crash.py::test_after"),
        "{out}"
    );
    // The other shard's results are kept.
    let junit = test.read("reports/junit.xml");
    assert!(junit.matches("<testcase").count() >= 4, "{junit}");
}

#[test]
fn an_import_error_in_one_shard_is_a_collection_error() {
    let test =
        Test::fixture("basic").write("tests/test_broken.py", "import no_such_module_anywhere\n");
    let run = test.run_args(&["pytest-parallel", "--engine", "shards", "--workers", "2"]);
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("COLLECTION ERROR tests/test_broken.py"),
        "{out}"
    );
    assert!(out.contains("14 of 14 collected tests ran"), "{out}");
    assert!(
        out.contains("1 collection error(s): tests/test_broken.py (exit 1)"),
        "{out}"
    );
}

#[test]
fn ctrl_c_ends_every_shard_process() {
    let test =
        Test::fixture("slow").args(["pytest-parallel", "--engine", "shards", "--workers", "2"]);
    let mut child = test
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let partial = test.path().join("reports/.partial");
    // Wait until both processes have started a test.
    loop {
        let started_both = ["gw0", "gw1"].iter().all(|w| {
            std::fs::read_to_string(partial.join(w).join("events.jsonl"))
                .is_ok_and(|t| t.contains("\"e\":\"collected\""))
        });
        if started_both {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the shards never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let needle = test.path().to_string_lossy().into_owned();
    let left = processes_mentioning(&needle);
    assert!(
        left.is_empty(),
        "processes of the run left behind: {left:?}"
    );
    assert!(test.read("reports/junit.xml").contains("<testsuite"));
}

#[test]
fn an_xdist_run_says_when_shards_are_predicted_faster() {
    // A shards run measures its own start-up; an xdist run then compares.
    // Neither measures coverage (the default), so their figures are filed
    // apart from those of runs with it.
    let test = Test::fixture("basic");
    test.run_args(&["pytest-parallel", "--engine", "shards", "--workers", "2"])
        .status(0);
    let durations: serde_json::Value =
        serde_json::from_str(&test.read("reports/durations.json")).unwrap();
    assert!(durations["overhead"]["shards"].as_f64().is_some());
    assert!(
        durations["coverage_overhead"]["shards"].is_null(),
        "a run without coverage files nothing among runs with it"
    );
    assert!(
        durations["overhead"]["per_test"].is_null(),
        "15 tests are too few to measure"
    );
    // Start-ups as a loaded machine might never measure them, so that the
    // advice does not hang on timing: the xdist run below folds its own
    // start-up in (half weight) and still predicts far slower than shards.
    let mut durations = durations;
    durations["overhead"]["shards"] = serde_json::json!(0.2);
    durations["overhead"]["xdist"] = serde_json::json!(60.0);
    let test = test.write(
        "reports/durations.json",
        &serde_json::to_string_pretty(&durations).unwrap(),
    );
    let run = test.run_args(&["pytest-parallel", "--engine", "xdist", "--workers", "2"]);
    run.status(0);
    let out = run.stdout();
    assert!(
        out.contains("the shards engine is predicted faster for this suite")
            && out.contains("try `--engine shards`"),
        "{out}"
    );
}

/// `parallel.engine = "auto"` (the default) takes shards before anything is
/// recorded, then the engine its predictions favour, and says which and why.
#[test]
fn the_default_engine_is_chosen_from_the_recorded_runs_and_explained() {
    let test = Test::fixture("basic");
    let first = test.run_args(&["pytest-parallel", "--workers", "2"]);
    first.status(0);
    assert!(
        first.stdout().contains(
            "engine shards (parallel.engine = auto: no recorded durations to predict from yet"
        ),
        "{}",
        first.stdout()
    );
    let second = test.run_args(&["pytest-parallel", "--workers", "2"]);
    second.status(0);
    let out = second.stdout();
    assert!(
        out.contains("(parallel.engine = auto): predicted")
            && out.contains("from the recorded durations of 14 tests"),
        "{out}"
    );
    assert!(
        !out.contains("is predicted faster for this suite"),
        "no advice beside the choice: {out}"
    );
}
