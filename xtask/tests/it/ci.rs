//! `cargo xtask ci`: the workflow's pipeline, locally.

use crate::support::Test;

#[test]
fn ci_checks_generated_files_then_runs_in_parallel_with_coverage() {
    let test = Test::fixture("covproj");
    let config = test
        .read("testing.toml")
        .replace("[project]\n", "[project]\nsource = [\"calc\"]\n");
    let test = test.write("testing.toml", &config).write(
        "README.md",
        "# calc\n\n<!-- BEGIN GENERATED: testing -->\n<!-- END GENERATED: testing -->\n",
    );
    // Stale (missing) generated files stop the pipeline before the tests.
    let run = test.run_args(&["ci"]);
    run.status(1);
    assert!(
        run.stderr().contains("generated files are stale"),
        "{}",
        run.stderr()
    );
    assert!(!test.path().join("reports/junit.xml").exists());

    test.run_args(&["gen"]).status(0);
    let test = test.env("PYTEST_WORKERS", "2");
    let run = test.run_args(&["ci"]);
    run.status(0);
    let out = run.stdout();
    assert!(
        out.contains("engine shards (2 workers (PYTEST_WORKERS=2))"),
        "{out}"
    );
    assert!(out.contains("── coverage ──"), "{out}");
    assert!(test.path().join("reports/coverage.xml").exists());
    assert!(test
        .read("reports/ci_timings.md")
        .contains("| phase | seconds | share |"));
}

#[test]
fn ci_triages_parallel_failures() {
    let test = Test::fixture("basic")
        .write(
            "README.md",
            "# basic\n\n<!-- BEGIN GENERATED: testing -->\n<!-- END GENERATED: testing -->\n",
        )
        .write(
            "tests/test_broken_logic.py",
            "def test_always_fails():\n    assert 2 + 2 == 5\n",
        );
    test.run_args(&["gen"]).status(0);
    let test = test.env("PYTEST_WORKERS", "2");
    let run = test.run_args(&["ci", "--no-cov"]);
    run.status(1);
    assert!(
        run.stderr()
            .contains("ci: triage of 1 failure(s) among 15 tests"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stdout().contains("real failure") || run.stdout().contains("real"),
        "{}",
        run.stdout()
    );
}
