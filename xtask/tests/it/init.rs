//! `init` on real project layouts, then a real parallel run with the result.

use crate::support::{copy_dir, fixture_dir, heavy, Test};

fn init_and_run(fixture: &str, expect_paths: &str) -> String {
    let test = Test::empty();
    copy_dir(&fixture_dir(fixture), test.path());
    test.run_args(&["init"]).status(0);
    let config = test.read("testing.toml");
    assert!(config.contains(expect_paths), "{config}");
    // The written config drives a full run: setup (a real venv) and xdist.
    let _guard = heavy();
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
    let out = init_and_run("layout_root", "test-paths = [\"rootpkg/tests\"]");
    assert!(out.contains("3 passed"), "{out}");
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
    let test = Test::empty();
    copy_dir(&fixture_dir("layout_src"), test.path());
    let run = test.args(["init", "--stdout"]).run();
    run.status(0);
    let text = run.stdout();
    assert!(text.contains("source = [\"flatland\"]"), "{text}");
    assert!(text.contains("extras = [\"test\"]"), "{text}");

    let test = Test::empty();
    copy_dir(&fixture_dir("layout_root"), test.path());
    let text = test.args(["init", "--stdout"]).run().stdout();
    assert!(
        text.contains("packages = [\"packaging\", \"pytest>=8.2\"]"),
        "{text}"
    );

    let test = Test::empty()
        .write("tests/test_a.py", "def test_a():\n    pass\n")
        .write("requirements/tests.txt", "pytest\n");
    let text = test.args(["init", "--stdout"]).run().stdout();
    assert!(
        text.contains("requirements = [\"requirements/tests.txt\"]"),
        "{text}"
    );
}
