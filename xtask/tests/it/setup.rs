//! `cargo xtask setup`: a real environment, idempotence, and clear failures.

use crate::support::{copy_dir, fixture_dir, Test};

fn project() -> Test {
    let test = Test::empty();
    copy_dir(&fixture_dir("layout_src"), test.path());
    test.write(
        "testing.toml",
        "[project]\ntest-paths = [\"tests\"]\nsource = [\"flatland\"]\n\n[setup]\nextras = [\"test\"]\n",
    )
}

#[test]
fn setup_is_idempotent_and_follows_its_inputs() {
    let test = project();
    let first = test.run_args(&["setup"]);
    first.status(0);
    assert!(first.stderr().contains("installed"), "{}", first.stderr());
    // Installed packages come compiled: no pytest process recompiles them.
    let compiled = std::process::Command::new(test.path().join(".venv/bin/python"))
        .args([
            "-c",
            "import importlib.util, pathlib, _pytest.python as m; \
             print(pathlib.Path(importlib.util.cache_from_source(m.__file__)).exists())",
        ])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&compiled.stdout).trim(), "True");
    let second = test.run_args(&["setup"]);
    second.status(0);
    assert!(
        second.stderr().contains("is up to date"),
        "{}",
        second.stderr()
    );

    // A change to pyproject.toml re-installs.
    let pyproject = test
        .read("pyproject.toml")
        .replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    let test = test.write("pyproject.toml", &pyproject);
    let third = test.run_args(&["setup"]);
    third.status(0);
    assert!(third.stderr().contains("installed"), "{}", third.stderr());

    // A deleted environment is rebuilt by the next run, with no manual step.
    std::fs::remove_dir_all(test.path().join(".venv")).unwrap();
    let run = test.run_args(&["pytest"]);
    run.status(0);
    assert!(run.stdout().contains("5 passed"), "{}", run.stdout());
}

#[test]
fn missing_interpreter_is_a_clear_error() {
    let test = project().write("testing.toml", "[project]\npython = \"python3.99\"\n");
    let run = test.run_args(&["setup"]);
    run.status(2);
    let err = run.stderr();
    assert!(err.starts_with("error: `python3.99` was not found: it is `project.python` in testing.toml and is not on PATH"), "{err}");
    assert!(err.contains("hint: install that Python"), "{err}");
}

#[test]
fn broken_lock_file_is_a_clear_error() {
    let test = project()
        .write("requirements.lock", "this is ((( not a requirement\n")
        .write(
            "testing.toml",
            "[project]\ntest-paths = [\"tests\"]\n\n[setup]\nlock = \"requirements.lock\"\n",
        );
    let run = test.run_args(&["setup"]);
    run.status(2);
    let err = run.stderr();
    assert!(
        err.contains("error: installing the locked dependencies from"),
        "{err}"
    );
    assert!(err.contains("hint: check the lock file"), "{err}");
    // Nothing half-done is taken for done: the next run tries again.
    assert!(!test.path().join(".venv/.xtask-setup").exists());
}

#[test]
fn disabled_setup_without_environment_says_how_to_fix() {
    let test = project().write(
        "testing.toml",
        "[project]\nvenv = \"env-that-is-not-there\"\n\n[setup]\nenabled = false\n",
    );
    let run = test.run_args(&["pytest"]);
    run.status(2);
    assert!(
        run.stderr()
            .contains("has no Python and `setup.enabled = false`"),
        "{}",
        run.stderr()
    );
}
