//! Per-phase timings, the history, ci_timings.md, and CI integration.

use crate::support::{xtask_bin, Test};

fn last_record(test: &Test) -> serde_json::Value {
    let history = test.read("reports/ci_timings.jsonl");
    serde_json::from_str(history.lines().last().unwrap()).unwrap()
}

#[test]
fn phases_add_up_to_the_wall_time() {
    let test = Test::fixture("covproj").write(
        "testing.toml",
        &crate::support::shared_config("[\"tests\"]", "")
            .replace("[project]\n", "[project]\nsource = [\"calc\"]\n"),
    );
    for args in [
        vec!["pytest", "--cov"],
        vec!["pytest-parallel", "--workers", "2", "--cov"],
    ] {
        test.run_args(&args).status(0);
        let record = last_record(&test);
        let wall = record["wall"].as_f64().unwrap();
        let sum: f64 = record["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .sum();
        assert!(
            (sum - wall).abs() <= wall * 0.05,
            "{args:?}: phases {sum} vs wall {wall}: {record}"
        );
        let names: Vec<&str> = record["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["setup", "collection", "tests", "coverage", "reports"]
        );
        assert!(record["coverage"].as_f64().unwrap() > 50.0);
    }
    let md = test.read("reports/ci_timings.md");
    assert!(md.contains("The last 2 of 2 runs in the history."), "{md}");
    assert!(
        md.contains("**Speedup** against the serial baseline"),
        "{md}"
    );
    assert!(md.contains("| gw0 |") && md.contains("| gw1 |"), "{md}");
}

#[test]
fn github_actions_gets_groups_phase_lines_and_a_job_summary() {
    let test = Test::fixture("basic");
    let summary = test.path().join("step-summary.md");
    let test = test
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
    let run = test.run_args(&["pytest"]);
    run.status(0);
    let err = run.stderr();
    assert!(
        err.contains("::group::pytest: pytest") && err.contains("::endgroup::"),
        "{err}"
    );
    let phase_lines: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| l.strip_prefix("xtask-phase "))
        .map(|json| serde_json::from_str(json).unwrap())
        .collect();
    assert_eq!(phase_lines.len(), 5, "{err}");
    assert_eq!(phase_lines[2]["phase"], "tests");
    assert_eq!(phase_lines[2]["workers"], 1);
    assert_eq!(phase_lines[2]["tests"], 14);
    assert!(phase_lines[2]["end"].as_f64() > phase_lines[2]["start"].as_f64());
    // The same lines are kept with the run's reports.
    let kept = test.read("reports/phases.jsonl");
    assert_eq!(kept.lines().count(), 5, "{kept}");
    assert!(err.contains(kept.lines().next().unwrap()), "{err}");
    assert!(std::fs::read_to_string(summary)
        .unwrap()
        .contains("# Test timings"));
}

#[test]
fn timings_task_rerenders_and_survives_a_damaged_history() {
    let test = Test::fixture("basic");
    test.run_args(&["pytest"]).status(0);
    // A truncated line, an empty line, and a line from an older schema.
    let mut history = test.read("reports/ci_timings.jsonl");
    history.push_str(
        "{\"schema\":1,\"task\":\"pyt\n\n{\"task\":\"pytest\",\"workers\":1,\"wall\":2.5}\n",
    );
    std::fs::write(test.path().join("reports/ci_timings.jsonl"), &history).unwrap();
    let run = test.run_args(&["timings", "--last", "5"]);
    run.status(0);
    assert!(
        run.stderr()
            .contains("reports/ci_timings.jsonl:2: skipped a corrupt or truncated line"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stdout()
            .contains("The last 2 of 2 runs in the history."),
        "{}",
        run.stdout()
    );
    let json = test.run_args(&["timings", "--json"]);
    json.status(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(value["runs_in_history"], 2);
    // Nothing was lost: the damaged file is kept as it was.
    assert_eq!(test.read("reports/ci_timings.jsonl"), history);
}

#[test]
fn timings_with_no_history_says_so() {
    let run = Test::fixture("basic").run_args(&["timings"]);
    run.status(0);
    assert!(
        run.stdout().contains("No runs recorded yet"),
        "{}",
        run.stdout()
    );
}

/// On a terminal the phases are not printed as JSON: the summary says them
/// for people, and `phases.jsonl` keeps them for machines.
#[test]
fn no_phase_json_on_a_terminal() {
    let test = Test::fixture("basic");
    let command = format!(
        "{} -C {} --no-progress pytest",
        xtask_bin(),
        test.path().display()
    );
    // `script` runs the command with a pseudo-terminal as its stdout and stderr.
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("14 of 14 collected tests ran"), "{text}");
    assert!(!text.contains("xtask-phase {"), "{text}");
    assert_eq!(test.read("reports/phases.jsonl").lines().count(), 5);
}

/// A regression is a console line and a GitHub annotation, not only a line
/// in the report.
#[test]
fn a_regression_is_said_on_the_console_and_annotated() {
    let test = Test::fixture("basic");
    for _ in 0..3 {
        test.run_args(&["pytest"]).status(0);
    }
    // The three recorded runs become implausibly fast: the next one regresses.
    let history: Vec<String> = test
        .read("reports/ci_timings.jsonl")
        .lines()
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            for phase in record["phases"].as_array_mut().unwrap() {
                if phase[0] == "tests" {
                    phase[1] = serde_json::json!(0.001);
                }
            }
            record.to_string()
        })
        .collect();
    let test = test
        .write("reports/ci_timings.jsonl", &(history.join("\n") + "\n"))
        .env("GITHUB_ACTIONS", "true");
    let run = test.run_args(&["pytest"]);
    run.status(0);
    let err = run.stderr();
    assert!(
        err.contains("warning: regression: the execution phase took"),
        "{err}"
    );
    assert!(
        err.contains("::warning title=Regression::the execution phase took"),
        "{err}"
    );
    assert!(test
        .read("reports/ci_timings.md")
        .contains("> **Regression:**"));
}

/// Under GitHub Actions a failing test is an annotation on its file and line.
#[test]
fn failing_tests_are_annotations_on_their_lines() {
    let test = Test::fixture("basic")
        .write(
            "tests/test_fail.py",
            "def test_fails():\n    assert 1 == 2, 'one is not two'\n",
        )
        .env("GITHUB_ACTIONS", "true");
    let run = test.run_args(&["pytest"]);
    run.status(1);
    assert!(
        run.stderr().contains(
            "::error file=tests/test_fail.py,line=2,title=FAILED tests/test_fail.py%3A%3Atest_fails::AssertionError: one is not two"
        ),
        "{}",
        run.stderr()
    );
}
