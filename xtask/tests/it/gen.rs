//! `cargo xtask gen`: snapshots of every generated file, real tools reading
//! them, and the safety rules (hand-edited files, README markers, `--check`,
//! unwritable targets).

use std::path::Path;
use std::process::Command;

use crate::support::{copy_dir, fixture_dir, repo_root, shared_venv, xtask_bin, Test};

/// Every file `gen` writes in full, for a config with `ci.name = "tests"`.
const FILES: &[&str] = &[
    "pytest.ini",
    "Makefile",
    "justfile",
    ".github/workflows/tests.yml",
    ".github/ISSUE_TEMPLATE/flaky-test.md",
    "docs/testing.md",
];

const MAKE_TARGETS: &[&str] = &[
    "help",
    "pytest",
    "pytest-parallel",
    "coverage",
    "timings",
    "verify",
    "triage",
    "rollback",
    "gen",
];

const JUST_RECIPES: &[&str] = &[
    "help",
    "test",
    "test-parallel",
    "coverage",
    "timings",
    "verify",
    "triage",
    "rollback",
    "gen",
];

/// The `gen` fixture project (a conftest.py with isolation fixtures and a
/// README with markers) under `config`.
fn project(config: &str) -> Test {
    let test = Test::empty();
    copy_dir(&fixture_dir("gen"), test.path());
    test.write("testing.toml", config)
}

/// This repository's own testing.toml, on the `gen` fixture project.
fn repo_config_project() -> Test {
    let config = std::fs::read_to_string(repo_root().join("testing.toml")).unwrap();
    project(&config).write("requirements-dev.lock", "pytest==9.2.0\n")
}

const PARALLEL_NO_COVERAGE: &str = r#"[parallel]
workers = 4
dist = "load"

[coverage]
enabled = false

[pytest]
markers = ["slow: takes more than a second", "network: needs the network"]
args = ["--maxfail=5"]
hash-seed = 1234

[ci]
name = "tests"
python-version = "3.12"
runs-on = "ubuntu-24.04"
"#;

const SHARDED: &str = r#"[project]
source = ["app"]

[coverage]
enabled = true
branch = false
fail-under = 85.5

[ci]
shards = 3
pull-requests = "changed"

[flaky]
threshold = 0.1

[[flaky.known]]
node-id = "tests/test_isolation.py::test_registry_starts_empty"
reason = "Fails when test_registry_changes_are_undone ran first on the same worker."
link = "https://github.com/example/app/issues/12"

[[flaky.known]]
node-id = "tests/test_isolation.py::test_store_path_is_private[with space]"
reason = "Unknown yet."

[docs]
isolation-fixtures = ["worker_namespace", "_isolate_package_state"]

[services.neo4j]
tcp = "localhost:7687"
image = "neo4j:5"
ports = ["7687:7687"]
env = { NEO4J_AUTH = "neo4j/test-password" }
health-cmd = "cypher-shell -u neo4j -p test-password 'RETURN 1'"
timeout = 10
"#;

fn gen(test: &Test) {
    let run = test.run_args(&["gen"]);
    run.status(0);
}

fn snapshot_files(test: &Test, name: &str, readme: bool) {
    let mut files: Vec<&str> = FILES.to_vec();
    if readme {
        files.push("README.md");
    }
    for file in files {
        let text = test.read(file);
        let snapshot = format!(
            "{name}-{}",
            file.trim_start_matches('.').replace(['/', '.'], "_")
        );
        insta::with_settings!({
            filters => vec![(test.path().to_str().unwrap(), "[PROJECT]")],
            description => file,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(snapshot, text);
        });
    }
}

#[test]
fn snapshots_for_this_repositorys_config() {
    let test = repo_config_project();
    gen(&test);
    snapshot_files(&test, "repo", true);
}

#[test]
fn snapshots_for_four_load_workers_without_coverage() {
    let test = project(PARALLEL_NO_COVERAGE);
    std::fs::remove_file(test.path().join("README.md")).unwrap();
    let run = test.run_args(&["gen"]);
    run.status(0);
    assert!(
        run.stderr().contains("skipped: README.md (not found"),
        "{}",
        run.stderr()
    );
    let run = test.run_args(&["gen", "--check"]);
    run.status(0);
    assert!(
        run.stderr().contains("skipped: README.md (not found)\n"),
        "{}",
        run.stderr()
    );
    snapshot_files(&test, "parallel4", false);
}

#[test]
fn snapshots_for_three_shards_and_known_flaky_tests() {
    let test = project(SHARDED);
    gen(&test);
    snapshot_files(&test, "sharded", true);
}

/// A tool from the repository's environment.
fn tool(name: &str) -> Command {
    Command::new(shared_venv().join("bin").join(name))
}

#[track_caller]
fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn actionlint_and_the_workflow_schema_accept_the_workflows() {
    // The repository's own (one job), a sharded one with a service
    // container, and one of four workers without coverage.
    let matrix = project(&PARALLEL_NO_COVERAGE.replace(
        "[ci]\n",
        "[ci]\npython-matrix = [\"3.11\", \"3.12\"]\nserial-baseline = \"\"\n",
    ));
    for test in [
        repo_config_project(),
        project(SHARDED),
        project(PARALLEL_NO_COVERAGE),
        matrix,
    ] {
        gen(&test);
        let workflow = test.path().join(".github/workflows/tests.yml");
        let findings = succeeds(tool("actionlint").arg("-no-color").arg(&workflow));
        assert_eq!(findings, "", "actionlint findings");
        succeeds(
            tool("check-jsonschema")
                .args(["--builtin-schema", "vendor.github-workflows"])
                .arg(&workflow),
        );
        let text = test.read(".github/workflows/tests.yml");
        if text.contains("python: [") {
            assert!(text.contains("python: [\"3.11\", \"3.12\"]"), "{text}");
            assert!(
                text.contains("tests-timings-py${{ matrix.python }}-"),
                "{text}"
            );
            assert!(
                text.contains("name: test-reports-py${{ matrix.python }}"),
                "{text}"
            );
            assert!(!text.contains("schedule:"), "{text}");
        }
    }
}

#[test]
fn just_and_make_accept_every_recipe_and_target() {
    let test = repo_config_project();
    gen(&test);
    let list = succeeds(tool("just").arg("--list").current_dir(test.path()));
    for recipe in JUST_RECIPES {
        let line = list
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{recipe} ")))
            .unwrap_or_else(|| panic!("`{recipe}` missing from just --list:\n{list}"));
        assert!(line.contains(" # "), "`{recipe}` has no doc: {line}");
        let out = tool("just")
            .args(["--dry-run", recipe, "-k", "name"])
            .current_dir(test.path())
            .output()
            .unwrap();
        assert!(
            out.status.success() || *recipe == "help",
            "just {recipe}: {out:?}"
        );
    }
    // The header is not a recipe's doc: `help` is documented by its own comment.
    assert!(
        list.contains("help                # List the targets"),
        "{list}"
    );

    for target in MAKE_TARGETS {
        let out = succeeds(
            Command::new("make")
                .args(["-n", target, "ARGS=-k name"])
                .current_dir(test.path()),
        );
        if *target != "help" {
            assert!(out.contains("cargo xtask "), "make -n {target}: {out}");
        }
    }
    let pytest = succeeds(
        Command::new("make")
            .args(["-n", "pytest", "ARGS=-k name"])
            .current_dir(test.path()),
    );
    assert_eq!(pytest, "cargo xtask pytest -- -k name\n");
    let help = succeeds(Command::new("make").current_dir(test.path()));
    for target in MAKE_TARGETS {
        assert!(
            help.contains(&format!("\n  {target} ")),
            "`{target}` missing from make help:\n{help}"
        );
    }
}

#[test]
fn plain_pytest_honours_the_generated_pytest_ini() {
    let test = project(
        "[project]\ntest-paths = [\"tests\"]\n\n[pytest]\nmarkers = [\"slow: takes a while\"]\n",
    )
    .write("stray/test_stray.py", "def test_stray():\n    pass\n");
    gen(&test);
    let python = shared_venv().join("bin/python");
    let out = succeeds(
        Command::new(&python)
            .args(["-m", "pytest", "--co", "-q"])
            .current_dir(test.path()),
    );
    assert!(out.contains("4 tests collected"), "{out}");
    assert!(!out.contains("stray"), "testpaths ignored:\n{out}");
    assert!(
        out.lines()
            .filter(|l| l.contains("::"))
            .all(|l| l.starts_with("tests/test_isolation.py::")),
        "{out}"
    );
    let markers = succeeds(
        Command::new(&python)
            .args(["-m", "pytest", "--markers"])
            .current_dir(test.path()),
    );
    assert!(
        markers.contains("@pytest.mark.slow: takes a while"),
        "{markers}"
    );
    // Serial by default: the generated options do not switch xdist on.
    let out = succeeds(
        Command::new(&python)
            .args(["-m", "pytest", "-q"])
            .current_dir(test.path()),
    );
    assert!(out.contains("4 passed"), "{out}");
    assert!(!out.contains("created: "), "xdist ran:\n{out}");
}

/// How pytest was started, as the `basic` fixture's conftest records it.
fn recorded(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::remove_file(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn make_and_just_run_serially_by_default_and_in_parallel_with_pytest_workers() {
    let test = Test::fixture("basic").xdist();
    gen(&test);
    let record = test.path().join("record.json");
    let xtask = format!("{} -C {} --no-progress", xtask_bin(), test.path().display());
    let parallel_expected = std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
    let runs: [(&str, &[&str]); 2] = [("make", &["pytest"]), ("just", &["test"])];
    for (program, args) in runs {
        for workers in [None, Some("auto")] {
            let mut cmd = if program == "make" {
                Command::new("make")
            } else {
                tool("just")
            };
            cmd.args(args)
                .current_dir(test.path())
                .env("XTASK", &xtask)
                .env("XTASK_TEST_RECORD", &record)
                .env_remove("PYTEST_WORKERS")
                .env_remove("PYTHONHASHSEED")
                .env_remove("CI");
            if let Some(w) = workers {
                cmd.env("PYTEST_WORKERS", w);
            }
            let out = succeeds(&mut cmd);
            assert!(out.contains("14 of 14 collected tests ran"), "{out}");
            let started = recorded(&record);
            let parallel = workers.is_some() && parallel_expected;
            assert_eq!(
                started["distributed"], parallel,
                "{program} {args:?} with PYTEST_WORKERS={workers:?}: {started}"
            );
            let reproduce = out.lines().find(|l| l.contains("reproduce:")).unwrap();
            assert_eq!(
                !reproduce.contains("--numprocesses=0"),
                parallel,
                "{reproduce}"
            );
        }
    }
    // Extra arguments reach pytest.
    let out = succeeds(
        Command::new("make")
            .args(["pytest", "ARGS=-k numbers"])
            .current_dir(test.path())
            .env("XTASK", &xtask)
            .env("XTASK_TEST_RECORD", &record)
            .env_remove("PYTEST_WORKERS"),
    );
    assert!(
        out.contains("8 of 8 collected tests ran (6 deselected)"),
        "{out}"
    );
    let out = succeeds(
        tool("just")
            .args(["test", "-k", "square and not 5"])
            .current_dir(test.path())
            .env("XTASK", &xtask)
            .env("XTASK_TEST_RECORD", &record)
            .env_remove("PYTEST_WORKERS"),
    );
    assert!(
        out.contains("5 of 5 collected tests ran (9 deselected)"),
        "{out}"
    );
}

#[test]
fn gen_refuses_to_overwrite_hand_edited_or_hand_written_files() {
    let test = project("");
    gen(&test);
    let edited = format!("{}extra:\n\techo hand-made\n", test.read("Makefile"));
    let test = test
        .write("Makefile", &edited)
        .write("justfile", "hello:\n    echo hi\n");
    let run = test.run_args(&["gen"]);
    run.status(2);
    assert_eq!(
        run.stderr(),
        "error: refusing to overwrite `Makefile` (edited by hand since it was generated) \
         and `justfile` (not generated by `cargo xtask gen`)\n\
         hint: move any changes you want to keep into testing.toml, then run `cargo xtask gen --force` to replace the files\n"
    );
    assert_eq!(test.read("Makefile"), edited);
    assert_eq!(test.read("justfile"), "hello:\n    echo hi\n");

    // `--check` reports them as stale, with the fix.
    let run = test.run_args(&["gen", "--check"]);
    run.status(1);
    assert!(
        run.stderr()
            .contains("error: `Makefile` is stale (edited by hand since it was generated)"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("-\techo hand-made"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("hint: run `cargo xtask gen --force`"),
        "{}",
        run.stderr()
    );

    test.run_args(&["gen", "--force"]).status(0);
    assert!(test
        .read("justfile")
        .starts_with("# Generated from testing.toml"));
    test.run_args(&["gen", "--check"]).status(0);
}

#[test]
fn readme_markers_missing_or_duplicated_is_an_error_and_nothing_is_written() {
    let cases = [
        ("# A project\n\nNo markers.\n", "the marker `<!-- BEGIN GENERATED: testing -->` is missing"),
        (
            "<!-- BEGIN GENERATED: testing -->\n<!-- END GENERATED: testing -->\n<!-- BEGIN GENERATED: testing -->\n",
            "the marker `<!-- BEGIN GENERATED: testing -->` appears more than once",
        ),
        (
            "<!-- BEGIN GENERATED: testing -->\nno end\n",
            "the marker `<!-- END GENERATED: testing -->` is missing",
        ),
    ];
    for (readme, message) in cases {
        let test = project("").write("README.md", readme);
        let run = test.run_args(&["gen"]);
        run.status(2);
        let stderr = run.stderr();
        assert!(
            stderr.starts_with(&format!("error: cannot update `README.md`: {message}\nhint: put `<!-- BEGIN GENERATED: testing -->`")),
            "{stderr}"
        );
        assert_eq!(test.read("README.md"), readme);
        for file in FILES {
            assert!(!test.path().join(file).exists(), "{file} was written");
        }
    }
}

#[test]
fn check_lists_stale_and_missing_files_with_a_diff_and_writes_nothing() {
    let test = project("");
    gen(&test);
    let run = test.run_args(&["gen", "--check"]);
    run.status(0);
    assert!(
        run.stderr().contains("up to date: pytest.ini\n"),
        "{}",
        run.stderr()
    );

    let test = test.write(
        "testing.toml",
        "[pytest]\nmarkers = [\"slow: takes a while\"]\n",
    );
    std::fs::remove_file(test.path().join("docs/testing.md")).unwrap();
    let before = test.read("pytest.ini");
    let run = test.run_args(&["gen", "--check"]);
    run.status(1);
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "error: `pytest.ini` is stale\n--- pytest.ini (on disk)\n+++ pytest.ini (generated)\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n+markers =\n+    slow: takes a while\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: `docs/testing.md` is missing\n"),
        "{stderr}"
    );
    assert!(stderr.contains("up to date: Makefile\n"), "{stderr}");
    assert!(
        stderr.ends_with("2 of 7 generated files are out of date\nhint: run `cargo xtask gen` and commit the result\n"),
        "{stderr}"
    );
    assert_eq!(test.read("pytest.ini"), before);
    assert!(!test.path().join("docs/testing.md").exists());

    // The diff is capped.
    let test = test.write(
        "pytest.ini",
        &before.replace('\n', "\n# padding\n").repeat(20),
    );
    let run = test.run_args(&["gen", "--check"]);
    run.status(1);
    assert!(
        run.stderr().contains("more diff lines\n"),
        "{}",
        run.stderr()
    );
}

#[test]
fn unchanged_files_are_not_rewritten() {
    let test = project("");
    gen(&test);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for file in FILES.iter().chain(&["README.md"]) {
        let f = std::fs::File::options()
            .write(true)
            .open(test.path().join(file))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    let run = test.run_args(&["gen"]);
    run.status(0);
    assert!(
        run.stderr().contains("gen: 0 of 7 files written"),
        "{}",
        run.stderr()
    );
    for file in FILES.iter().chain(&["README.md"]) {
        let mtime = std::fs::metadata(test.path().join(file))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, old, "{file} was rewritten");
    }
}

#[test]
fn an_unwritable_target_is_a_clear_error_and_nothing_is_written() {
    // `docs` is a file, so `docs/testing.md` cannot be written (even as root).
    let test = project("").write("docs", "not a directory\n");
    let readme = test.read("README.md");
    let run = test.run_args(&["gen"]);
    run.status(2);
    let stderr = run.stderr();
    assert!(
        stderr.starts_with("error: cannot write `docs/testing.md`: cannot create `"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: nothing was written;"), "{stderr}");
    for file in FILES.iter().filter(|f| !f.starts_with("docs/")) {
        assert!(!test.path().join(file).exists(), "{file} was written");
    }
    assert_eq!(test.read("README.md"), readme);
    let leftovers: Vec<_> = walk(test.path())
        .into_iter()
        .filter(|p| p.contains(".xtask-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn dry_run_shows_changes_and_writes_nothing() {
    let test = project("");
    let run = test.run_args(&["gen", "--dry-run"]);
    run.status(0);
    let out = run.stdout();
    assert!(out.contains("would create: pytest.ini\n"), "{out}");
    assert!(
        out.contains("would update: README.md\n--- README.md (on disk)\n"),
        "{out}"
    );
    for file in FILES {
        assert!(!test.path().join(file).exists(), "{file} was written");
    }
}

#[test]
fn a_missing_isolation_fixture_is_named() {
    let test = project("[docs]\nisolation-fixtures = [\"worker_namespace\", \"tmp_database\"]\n");
    let run = test.run_args(&["gen"]);
    run.status(2);
    assert_eq!(
        run.stderr(),
        "error: fixture `tmp_database` (listed in `docs.isolation-fixtures`) was not found in `tests/conftest.py`\n\
         hint: define it as a top-level `@pytest.fixture` there, or remove it from `docs.isolation-fixtures` in testing.toml\n"
    );
}

#[test]
fn bad_ci_flaky_and_docs_settings_point_at_testing_toml() {
    let cases = [
        "[ci]\nshards = 0\n",
        "[ci]\nshards = 257\n",
        "[ci]\nname = \"tests.yml\"\n",
        "[ci]\npython-version = 3.12\n",
        "[ci]\nruns-on = \"\"\n",
        "[flaky]\nthreshold = 1.5\n",
        "[[flaky.known]]\nnode-id = \"tests/test_a.py::test_a\"\n",
        "[[flaky.known]]\nnode-id = \"\"\nreason = \"x\"\n",
        "[[flaky.known]]\nnode-id = \"t::a\"\nreason = \"x\"\n[[flaky.known]]\nnode-id = \"t::a\"\nreason = \"y\"\n",
        "[docs]\nisolation-fixtures = [\"not-a-name\"]\n",
    ];
    let mut report = String::new();
    for body in cases {
        let test = project(body);
        let run = test.run_args(&["gen"]);
        run.status(2);
        assert!(
            run.stderr().starts_with("error: testing.toml:"),
            "{}",
            run.stderr()
        );
        report.push_str(&format!("{body}---\n{}\n", run.stderr()));
    }
    insta::assert_snapshot!(report);
}

/// Renaming `ci.name` does not leave the old workflow running: `gen --check`
/// names it, `gen` removes it.
#[test]
fn a_workflow_generated_under_an_old_name_is_removed() {
    let test = repo_config_project();
    gen(&test);
    let config = test
        .read("testing.toml")
        .replace("name = \"tests\"", "name = \"checks\"");
    let test = test.write("testing.toml", &config);
    let check = test.run_args(&["gen", "--check"]);
    check.status(1);
    assert!(
        check.stderr().contains(
            "error: `.github/workflows/tests.yml` was generated for another `ci.name` (now `checks`): it would still run"
        ),
        "{}",
        check.stderr()
    );
    let run = test.run_args(&["gen"]);
    run.status(0);
    assert!(
        run.stdout()
            .contains("removed: .github/workflows/tests.yml"),
        "{}",
        run.stdout()
    );
    assert!(!test.path().join(".github/workflows/tests.yml").exists());
    assert!(test.path().join(".github/workflows/checks.yml").exists());
    test.run_args(&["gen", "--check"]).status(0);
    // A workflow someone else wrote is never touched.
    let test = test.write(
        ".github/workflows/release.yml",
        "name: release\non: push\njobs: {}\n",
    );
    test.run_args(&["gen", "--check"]).status(0);
}
