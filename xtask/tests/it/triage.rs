//! `cargo xtask triage`, `bisect` and `rollback` on the `pollution` fixture:
//! a real failure, a test polluted by module state another test leaves
//! behind on the same xdist worker, and a flaky test that fails on odd
//! attempts (an attempt counter in the project).
//!
//! The parallel run is made deterministic: `--dist loadfile` with
//! `--no-loadscope-reorder` hands out the test files in collection order,
//! one per worker, then at once a second one to each worker that has at most
//! two tests pending. So the worker that registers first (gw0 or gw1) runs
//! `test_a_cache.py` (two tests, the polluter among them), then
//! `test_c_plugins.py` (the victim last of seven), and the other one gets
//! `test_b_reset.py`, which would clean the state in between when the suite
//! runs serially: serially the victim passes.

use std::path::Path;
use std::process::Command;

use crate::support::{shared_config, Run, Test};

const REAL: &str = "tests/test_d_amounts.py::test_parse_amount_with_thousands_separator";
const VICTIM: &str = "tests/test_c_plugins.py::test_no_plugins_registered_by_default";
const POLLUTER: &str = "tests/test_a_cache.py::test_cache_registers_its_loader";
const FLAKY: &str = "tests/test_e_flaky.py::test_flaky_every_other_attempt";
/// The tests of the fixture.
const TESTS: usize = 21;

/// The fixture with `extra` appended to its testing.toml.
/// The pollution fixture under xdist, whose workers' shares make the
/// polluter and its victim meet.
fn pollution(extra: &str) -> Test {
    Test::fixture("pollution")
        .write("testing.toml", &shared_config("[\"tests\"]", extra))
        .xdist()
}

/// The parallel run that puts the polluter before the victim on one worker.
#[track_caller]
fn parallel_run(test: &Test, pytest_args: &[&str]) -> Run {
    let mut args = vec![
        "pytest-parallel",
        "--workers",
        "2",
        "--dist",
        "loadfile",
        "--order",
        "collection",
        "--",
        "--no-loadscope-reorder",
    ];
    args.extend(pytest_args);
    let run = test.run_args(&args);
    run.status(1);
    run
}

/// The worker each test ran on in the last run, from its events.
fn worker(test: &Test, id: &str) -> String {
    test.read("reports/events.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["e"] == "test" && v["id"] == id && v["worker"].is_string())
        .map(|v| v["worker"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{id} has no worker in the events"))
}

/// The row of `test` in triage's table.
#[track_caller]
fn row<'a>(stdout: &'a str, test: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("| `{test}` |")))
        .unwrap_or_else(|| panic!("no row for {test} in:\n{stdout}"))
}

fn history(test: &Test) -> Vec<serde_json::Value> {
    test.read("reports/ci_timings.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn triage_classifies_each_failure_and_alerts_above_the_threshold() {
    let test = pollution("");
    parallel_run(&test, &[]);
    // Whichever worker came up first runs the polluter, then the victim.
    let (real_worker, victim_worker) = (worker(&test, REAL), worker(&test, VICTIM));
    assert_eq!(worker(&test, POLLUTER), victim_worker);
    let summary = test.path().join("step-summary.md");
    let test = test
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .args(["triage", "--issue"]);
    let run = test.run();
    run.status(3);
    let out = run.stdout();
    assert!(
        out.starts_with(&format!(
            "triage: 3 of {TESTS} tests failed in the last run"
        )),
        "{out}"
    );
    assert_eq!(
        row(&out, REAL),
        format!("| `{REAL}` | real failure | {real_worker} | 2 failed | 0 |")
    );
    assert_eq!(
        row(&out, VICTIM),
        format!("| `{VICTIM}` | parallel-only | {victim_worker} | 2 passed | 0 |")
    );
    assert!(
        row(&out, FLAKY).contains(&format!(
            "| flaky | {} | 1 passed, 1 failed | 0 |",
            worker(&test, FLAKY)
        )),
        "{out}"
    );
    // The commands that reproduce each one.
    assert!(out.contains(&format!(
        "    PYTEST_WORKERS=1 cargo xtask pytest -- {VICTIM}\n    PYTHONHASHSEED=0 "
    )));
    assert!(
        out.contains(" -m pytest --numprocesses=0 --continue-on-collection-errors tests/"),
        "{out}"
    );
    assert!(out.contains(&format!("    cargo xtask bisect {VICTIM}\n")));
    assert!(
        out.contains(
            "triage: flakiness 9.5% (2 parallel-only or flaky of 21 tests); `flaky.threshold` 5%"
        ),
        "{out}"
    );
    assert!(
        out.contains("Rollback procedure:\n  1. cargo xtask rollback"),
        "{out}"
    );
    let err = run.stderr();
    assert!(err.contains("alert: flakiness 9.5% (2 of 21 tests: 1 flaky, 1 parallel-only) is above `flaky.threshold` 5%: roll back to serial"), "{err}");
    assert!(
        err.contains("::error title=Flaky tests above the threshold::flakiness 9.5%"),
        "{err}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains(&format!("| `{VICTIM}` | parallel-only |")));

    // Issue bodies for the parallel-only and the flaky test, none for the real failure.
    let mut issues: Vec<String> = std::fs::read_dir(test.path().join("reports/flaky"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    issues.sort();
    assert_eq!(
        issues,
        vec![
            "tests-test-c-plugins-py-test-no-plugins-registered-by-default.md",
            "tests-test-e-flaky-py-test-flaky-every-other-attempt.md"
        ]
    );
    let body =
        test.read("reports/flaky/tests-test-c-plugins-py-test-no-plugins-registered-by-default.md");
    for field in [
        format!("- **Node id**: `{VICTIM}`"),
        format!("- **Classification** (from `cargo xtask triage`): parallel-only: failed on {victim_worker}"),
        format!("- **Worker** that failed (e.g. `gw1`, from the job log or `reports/junit.xml`): {victim_worker}"),
        "| repeated: `cargo xtask triage` (2 runs) | 2 passed, 0 failed |".to_string(),
        format!("cargo xtask bisect {VICTIM}\n```"),
        format!("or \"none found\": not bisected yet: `cargo xtask bisect {VICTIM}`"),
        "AssertionError: leaked plugins: ['cache-loader']".to_string(),
    ] {
        assert!(body.contains(&field), "{field}\n---\n{body}");
    }
    // The same sections as the generated issue template, in the same order.
    let template = crate::support::repo_root().join(".github/ISSUE_TEMPLATE/flaky-test.md");
    let headings = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("## ") || l.starts_with("- **") || l.starts_with("| "))
            .map(|l| l.split([':', '`']).next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        headings(&body),
        headings(&std::fs::read_to_string(template).unwrap())
    );

    // The history keeps the triage; ci_timings.md still reports the parallel run, with the alert.
    let records = history(&test);
    let last = records.last().unwrap();
    assert_eq!(last["kind"], "triage");
    assert_eq!(last["exit"], 3);
    assert_eq!(last["triage"]["classes"][VICTIM], "parallel-only");
    assert_eq!(last["triage"]["classes"][REAL], "real");
    assert_eq!(last["triage"]["classes"][FLAKY], "flaky");
    assert_eq!(last["triage"]["workers"][VICTIM], victim_worker.as_str());
    let timings = test.read("reports/ci_timings.md");
    assert!(
        timings
            .contains("· `pytest-parallel` · engine `xdist` · 2 workers (`loadfile`) · 21 tests"),
        "{timings}"
    );
    assert!(
        timings.contains("> **Flakiness:** flakiness 9.5%"),
        "{timings}"
    );
    assert!(
        timings.contains(&format!("| `{VICTIM}` | parallel-only | {victim_worker} |")),
        "{timings}"
    );
    // Triage's re-runs are not runs of the suite.
    assert_eq!(records.iter().filter(|r| r["kind"] == "run").count(), 1);

    // A second triage counts the first one.
    let again = test.run_args(&["triage"]);
    again.status(3);
    assert!(
        row(&again.stdout(), VICTIM).ends_with("| 1 |"),
        "{}",
        again.stdout()
    );
}

#[test]
fn below_the_threshold_triage_exits_0_and_known_flaky_tests_are_not_counted() {
    // Without the real failure: 2 of 20 tests flaky, 10%.
    let deselect = ["--deselect", REAL];
    let test = pollution("\n[flaky]\nthreshold = 0.2\n");
    parallel_run(&test, &deselect);
    let run = test.run_args(&["triage", "--repeat", "2"]);
    run.status(0);
    assert!(
        run.stdout().contains(
            "triage: flakiness 10% (2 parallel-only or flaky of 20 tests); `flaky.threshold` 20%"
        ),
        "{}",
        run.stdout()
    );
    assert!(!run.stdout().contains("Rollback procedure"));

    // The default 5% threshold, both listed as known: nothing counts.
    let known = format!(
        "\n[[flaky.known]]\nnode-id = \"{VICTIM}\"\nreason = \"polluted by the cache tests\"\n\n\
         [[flaky.known]]\nnode-id = \"{FLAKY}\"\nreason = \"fails on odd attempts\"\n\n\
         [[flaky.known]]\nnode-id = \"tests/test_f_formats.py::test_upper_round_trip[a]\"\nreason = \"fixed long ago\"\n"
    );
    let test = pollution(&known);
    parallel_run(&test, &deselect);
    let run = test.run_args(&["triage", "--stale-after", "1"]);
    run.status(0);
    let out = run.stdout();
    assert!(
        row(&out, VICTIM).contains(&format!(
            "| parallel-only (known) | {} |",
            worker(&test, VICTIM)
        )),
        "{out}"
    );
    assert!(row(&out, FLAKY).contains("| flaky (known) |"), "{out}");
    assert!(out.contains("triage: flakiness 0% (0 parallel-only or flaky of 20 tests, 2 known flaky not counted)"), "{out}");
    assert!(out.contains("triage: `tests/test_f_formats.py::test_upper_round_trip[a]` is listed under `[[flaky.known]]` but passed in each of the last 1 triage(s): consider removing it from the list"), "{out}");
    assert!(!out.contains(&format!("`{VICTIM}` is listed")), "{out}");
    // Without the known entries the same run is above the threshold.
    test.write("testing.toml", &shared_config("[\"tests\"]", ""))
        .run_args(&["triage"])
        .status(3);
}

/// The number in `bisect: N pytest runs (bound M)`.
fn runs_and_bound(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("bisect: ") && l.contains(" pytest runs (bound "))
        .unwrap_or_else(|| panic!("no run count in:\n{stdout}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn bisect_names_the_polluter_within_the_run_bound_and_says_when_it_cannot() {
    let test = pollution("");
    test.run_args(&["bisect", VICTIM]).status(2);
    parallel_run(&test, &[]);
    let victim_worker = worker(&test, VICTIM);
    let sessions = test.path().join("sessions.txt");
    let test = test
        .env("XTASK_PYTEST_SESSIONS", sessions.to_str().unwrap())
        .args(["bisect", VICTIM]);
    let run = test.run();
    run.status(0);
    let out = run.stdout();
    assert!(out.starts_with(&format!("bisect: `{VICTIM}` failed on {victim_worker} after 8 other test(s); bisecting them (at most 5 pytest runs: ⌈log₂ 8⌉ + 2)")), "{out}");
    assert!(
        out.contains(&format!("bisect: polluter: `{POLLUTER}`\n")),
        "{out}"
    );
    let (runs, bound) = runs_and_bound(&out);
    assert_eq!(bound, 5);
    assert!(runs <= bound, "{out}");
    // Every run is a real pytest session (the fixture's conftest counts them).
    assert_eq!(
        std::fs::read_to_string(&sessions).unwrap().lines().count(),
        runs
    );
    assert!(
        out.contains(&format!(
            "PYTEST_WORKERS=1 cargo xtask pytest -- {POLLUTER} {VICTIM}\n"
        )),
        "{out}"
    );

    // The two-test reproduction fails, in that order, and passes the other way round.
    let repro = out
        .lines()
        .find(|l| {
            l.contains(" -m pytest --numprocesses=0 ")
                && l.ends_with(&format!("{POLLUTER} {VICTIM}"))
        })
        .unwrap()
        .trim_start();
    let python = crate::support::shared_venv().join("bin/python");
    let pytest = |ids: [&str; 2]| {
        Command::new(&python)
            .args([
                "-m",
                "pytest",
                "-p",
                "no:xdist",
                "-q",
                "-p",
                "no:cacheprovider",
            ])
            .args(ids)
            .current_dir(test.path())
            .status()
            .unwrap()
            .code()
    };
    assert!(repro.starts_with("PYTHONHASHSEED=0 "), "{repro}");
    assert_eq!(pytest([POLLUTER, VICTIM]), Some(1));
    assert_eq!(pytest([VICTIM, POLLUTER]), Some(0));

    // Clear errors: a real failure, a passing test, an unknown test.
    let real = test.run_args(&["bisect", REAL]);
    real.status(1);
    assert!(
        real.stdout()
            .contains("fails when run alone too: a real failure"),
        "{}",
        real.stdout()
    );
    let passed = test.run_args(&["bisect", POLLUTER]);
    passed.status(2);
    assert!(passed.stderr().contains(&format!("error: `{POLLUTER}` did not fail in the last run (passed on {victim_worker}): nothing to bisect")), "{}", passed.stderr());
    let unknown = test.run_args(&[
        "bisect",
        "tests/test_c_plugins.py::test_no_plugins_registered",
    ]);
    unknown.status(2);
    assert!(
        unknown.stderr().contains("is not in the last run's events"),
        "{}",
        unknown.stderr()
    );
    assert!(
        unknown
            .stderr()
            .contains(&format!("hint: did you mean `{VICTIM}`?")),
        "{}",
        unknown.stderr()
    );
}

/// A git repository holding the fixture's testing.toml, committed.
fn committed_project(config: &str) -> Test {
    let test = pollution("").write("testing.toml", config);
    for args in [
        &["init", "-q"][..],
        &["add", "testing.toml"],
        &["commit", "-q", "-m", "testing.toml"],
    ] {
        git(test.path(), args);
    }
    test
}

#[track_caller]
fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A testing.toml with comments everywhere, `workers` among them.
fn commented_config() -> String {
    shared_config("[\"tests\"]", "").replace(
        "[setup]\n",
        "# How the xdist workers are set.\n[parallel] # the parallel section\n# Two on CI runners.\nworkers   = \"auto\"   # see docs/testing.md\ndist = \"loadscope\"\n\n[setup]\n",
    )
}

#[test]
fn rollback_and_undo_leave_testing_toml_byte_identical() {
    let original = commented_config();
    let test = committed_project(&original);
    let run = test.run_args(&["rollback"]);
    run.status(0);
    let rolled = test.read("testing.toml");
    assert_eq!(
        rolled,
        original.replace(
            "workers   = \"auto\"   # see docs/testing.md",
            "workers   = 1 # rolled back to serial by `cargo xtask rollback`; `--undo` restores: \"auto\"   # see docs/testing.md"
        )
    );
    let out = run.stdout();
    assert!(
        out.contains("--- testing.toml (before)\n+++ testing.toml (after)\n"),
        "{out}"
    );
    assert!(
        out.contains("-workers   = \"auto\"   # see docs/testing.md\n+workers   = 1 # rolled back"),
        "{out}"
    );
    assert!(out.contains("cargo xtask triage --issue"), "{out}");
    // The generated workflow falls back to the config's workers: serial.
    let workflow = test.read(".github/workflows/tests.yml");
    assert!(
        workflow.contains("PYTEST_WORKERS: ${{ vars.PYTEST_WORKERS || '1' }}"),
        "{workflow}"
    );
    test.run_args(&["gen", "--check"]).status(0);

    // Idempotent.
    let again = test.run_args(&["rollback"]);
    again.status(0);
    assert!(
        again
            .stdout()
            .contains("already 1 (serial): nothing changed"),
        "{}",
        again.stdout()
    );
    assert_eq!(test.read("testing.toml"), rolled);

    // The undo survives a commit, and restores every byte.
    git(test.path(), &["commit", "-q", "-am", "roll back"]);
    let undo = test.run_args(&["rollback", "--undo"]);
    undo.status(0);
    assert_eq!(test.read("testing.toml"), original);
    assert!(test
        .read(".github/workflows/tests.yml")
        .contains("|| 'auto' }}"));
    let nothing = test.run_args(&["rollback", "--undo"]);
    nothing.status(0);
    assert!(
        nothing.stdout().contains("nothing changed"),
        "{}",
        nothing.stdout()
    );
    assert_eq!(test.read("testing.toml"), original);
}

#[test]
fn rollback_refuses_uncommitted_changes_to_the_workers_it_would_overwrite() {
    let original = commented_config();
    let test = committed_project(&original);
    let edited = original.replace("workers   = \"auto\"", "workers   = 3");
    let test = test.write("testing.toml", &edited);
    let run = test.run_args(&["rollback"]);
    run.status(2);
    assert!(run.stderr().contains("error: testing.toml has uncommitted changes to `parallel.workers` (`workers = 3   # see docs/testing.md` here, `workers = \"auto\"   # see docs/testing.md` in the last commit) that rollback would overwrite"), "{}", run.stderr());
    assert!(
        run.stderr().contains("hint: commit or stash them first"),
        "{}",
        run.stderr()
    );
    assert_eq!(test.read("testing.toml"), edited);
    assert!(!test.path().join(".github").exists(), "nothing regenerated");

    let forced = test.run_args(&["rollback", "--force"]);
    forced.status(0);
    assert!(test.read("testing.toml").contains("workers   = 1 # rolled back to serial by `cargo xtask rollback`; `--undo` restores: 3   # see docs/testing.md"));

    // Uncommitted edits elsewhere are kept, not refused.
    let test = committed_project(&original);
    let elsewhere = original.replace("# Two on CI runners.", "# Two on CI runners, four locally.");
    let test = test.write("testing.toml", &elsewhere);
    test.run_args(&["rollback"]).status(0);
    test.run_args(&["rollback", "--undo"]).status(0);
    assert_eq!(test.read("testing.toml"), elsewhere);
}

/// A brittle test that needs an earlier test's state fails in parallel and
/// alone, and passes in serial order: triage calls it parallel-only (not a
/// real failure) and bisect names the test it needs, in at most
/// ⌈log₂ n⌉ + 2 pytest runs.
#[test]
fn a_test_that_needs_an_earlier_one_is_parallel_only_and_its_setter_is_named() {
    let test = Test::fixture("setter").xdist();
    let brittle = "tests/test_b_brittle.py::test_formats_with_the_configured_locale";
    let setter = "tests/test_a_setup.py::test_configures_the_locale";
    // Serially, in collection order, everything passes.
    test.run_args(&["pytest"]).status(0);
    // In parallel, each file on its own worker: the brittle test fails.
    parallel_run(&test, &[]);
    assert_ne!(worker(&test, brittle), worker(&test, setter));

    let triage = test.run_args(&["triage", "--bisect"]);
    triage.status(3);
    let out = triage.stdout();
    let row = row(&out, brittle);
    assert!(
        row.contains(
            "| parallel-only; needs `tests/test_a_setup.py::test_configures_the_locale` first |"
        ),
        "{out}"
    );
    assert!(!out.contains("real failure"), "{out}");
    assert!(
        out.contains("bisecting the 3 test(s) before `tests/test_b_brittle.py::test_formats_with_the_configured_locale` in serial order"),
        "{out}"
    );
    let bisect_runs = std::fs::read_dir(test.path().join("reports/bisect"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
        .count();
    assert!(
        bisect_runs <= 4,
        "{bisect_runs} runs for 3 suspects (bound 4)"
    );
    let record = history(&test).pop().unwrap();
    assert_eq!(record["triage"]["setters"][brittle], setter);

    // `cargo xtask bisect` names it too.
    let bisect = test.run_args(&["bisect", brittle]);
    bisect.status(0);
    assert!(
        bisect
            .stdout()
            .contains(&format!("bisect: setter: `{setter}`")),
        "{}",
        bisect.stdout()
    );
}

/// After a serial run, triage never advises rolling back to serial: its
/// order-dependent or flaky failures are fixed, not rolled back.
#[test]
fn triage_after_a_serial_run_advises_no_rollback() {
    let test = pollution("\n[flaky]\nthreshold = 0.01\n");
    test.run_args(&["pytest"]).status(1);
    let triage = test.run_args(&["triage"]);
    triage.status(1);
    let out = triage.stdout();
    assert!(
        out.contains("the run was serial: no rollback is advised"),
        "{out}"
    );
    assert!(!out.contains("Rollback procedure"), "{out}");
}
