//! `init` on real project layouts, then a real parallel run with the result.

use crate::support::{copy_dir, fixture_dir, shared_venv, Test};

fn init_and_run(fixture: &str, expect_paths: &str) -> String {
    let test = Test::empty();
    copy_dir(&fixture_dir(fixture), test.path());
    test.run_args(&["init"]).status(0);
    let config = test.read("testing.toml");
    assert!(config.contains(expect_paths), "{config}");
    // The written config drives a full run: setup (a real venv) and xdist.
    let result = test.run_args(&["pytest-parallel", "--workers", "2"]);
    result.status(0);
    assert!(test.path().join(".venv/bin/python").exists());
    result.stdout()
}

#[test]
fn init_on_src_layout() {
    let out = init_and_run("layout_src", "test-paths = [\"tests\"]");
    assert!(out.contains("5 passed"), "{out}");
}

#[test]
fn init_on_package_at_root_with_tests_inside() {
    // No `tests/` directory: pytest's own discovery from the rootdir finds them.
    let out = init_and_run("layout_root", "test-paths = []");
    assert!(out.contains("3 of 3 collected tests ran"), "{out}");
}

/// Tests in `tests/` folders inside many subpackages and one at the top: a
/// `tests` test path would collect a fraction, so init writes none, and
/// says why; asked for it explicitly, init refuses.
#[test]
fn init_never_writes_test_paths_that_collect_fewer_tests() {
    let test = Test::empty();
    copy_dir(&fixture_dir("shapes/subpackage_tests"), test.path());
    let venv = shared_venv().display().to_string();
    let run = test.run_args(&["init", "--use-venv", &venv]);
    run.status(0);
    let err = run.stderr();
    assert!(
        err.contains("init: plain `pytest` collects 13 tests"),
        "{err}"
    );
    assert!(
        err.contains("test paths tests collect 1 of the 13 tests plain `pytest` collects"),
        "{err}"
    );
    let config = test.read("testing.toml");
    assert!(config.contains("test-paths = []"), "{config}");
    let run = test.run_args(&["pytest-parallel", "--workers", "2"]);
    run.status(0);
    assert!(
        run.stdout().contains("13 of 13 collected tests ran"),
        "{}",
        run.stdout()
    );

    let refused = test.run_args(&[
        "init",
        "--force",
        "--use-venv",
        &venv,
        "--test-paths",
        "tests",
    ]);
    refused.status(2);
    assert!(
        refused
            .stderr()
            .contains("error: test paths tests collect 1 of the 13 tests plain `pytest` collects"),
        "{}",
        refused.stderr()
    );
    // Nothing was lost: the config written before is still there.
    assert_eq!(test.read("testing.toml"), config);
}

/// A project whose own configuration sets `testpaths`: init takes them and
/// refuses to override them.
#[test]
fn init_keeps_the_projects_own_testpaths() {
    let test = Test::empty();
    copy_dir(&fixture_dir("shapes/src_layout"), test.path());
    let venv = shared_venv().display().to_string();
    let run = test.run_args(&["init", "--use-venv", &venv]);
    run.status(0);
    assert!(
        run.stderr()
            .contains("test paths tests from the project's `testpaths`"),
        "{}",
        run.stderr()
    );
    let refused = test.run_args(&[
        "init",
        "--force",
        "--use-venv",
        &venv,
        "--test-paths",
        "src",
    ]);
    refused.status(2);
    assert!(
        refused
            .stderr()
            .contains("sets `testpaths = tests`; init never overrides it"),
        "{}",
        refused.stderr()
    );
    // gen leaves the project's pytest configuration alone.
    test.run_args(&["gen"]).status(0);
    assert!(!test.path().join("pytest.ini").exists());
}

#[test]
fn init_refuses_to_overwrite() {
    let test = Test::fixture("basic").args(["init"]);
    let run = test.run();
    run.status(2);
    assert!(run.stderr().contains("already exists"), "{}", run.stderr());
}

#[test]
fn init_detects_dependency_sources() {
    let venv = shared_venv().display().to_string();
    let test = Test::empty();
    copy_dir(&fixture_dir("layout_src"), test.path());
    let run = test.args(["init", "--stdout", "--use-venv", &venv]).run();
    run.status(0);
    let text = run.stdout();
    assert!(text.contains("source = [\"flatland\"]"), "{text}");
    assert!(text.contains("extras = [\"test\"]"), "{text}");

    let test = Test::empty();
    copy_dir(&fixture_dir("layout_root"), test.path());
    let text = test
        .args(["init", "--stdout", "--use-venv", &venv])
        .run()
        .stdout();
    assert!(
        text.contains("packages = [\"packaging\", \"pytest>=8.2\"]"),
        "{text}"
    );

    let test = Test::empty()
        .write("tests/test_a.py", "def test_a():\n    pass\n")
        .write("requirements/tests.txt", "pytest\n");
    let text = test
        .args(["init", "--stdout", "--use-venv", &venv])
        .run()
        .stdout();
    assert!(
        text.contains("requirements = [\"requirements/tests.txt\"]"),
        "{text}"
    );
}
