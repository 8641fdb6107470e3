//! The corpus of project shapes (`tests/fixtures/shapes/`): on each, every
//! engine (serial, xdist, shards, CI shards + merge) runs exactly the tests
//! plain pytest collects for the same configuration, once each, and exits
//! as the shape's model says. Nothing panics.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{copy_dir, fixture_dir, shared_venv, Test};

/// A shape and what every engine must end with.
struct Shape {
    name: &'static str,
    /// The exit code of every whole run (`pytest`, `pytest-parallel`, `merge`).
    exit: i32,
    /// Text the serial run's output must contain.
    says: &'static [&'static str],
}

/// The node ids plain pytest collects in `dir`, asked of pytest itself
/// (a plugin of this test, not the xtask's).
fn plain_collection(dir: &Path) -> Vec<String> {
    let out = dir.join("plain-collection.json");
    let script = format!(
        "import json, pytest\n\
         class Collect:\n    ids = []\n    def pytest_collection_finish(self, session):\n        self.ids = [i.nodeid for i in session.items]\n\
         c = Collect()\n\
         pytest.main(['--collect-only', '-p', 'no:cacheprovider'], plugins=[c])\n\
         open({out:?}, 'w').write(json.dumps(c.ids))\n",
        out = out.display().to_string()
    );
    let status = std::process::Command::new(shared_venv().join("bin/python"))
        .args(["-c", &script])
        .current_dir(dir)
        .env("PYTHONHASHSEED", "0")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!(
            "plain pytest did not collect in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&status.stdout)
        )
    });
    std::fs::remove_file(&out).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// How many times each test ended, from an event stream.
fn ran(events: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(events).unwrap_or_default().lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if value["e"] == "test" {
            *counts
                .entry(value["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    counts
}

#[track_caller]
fn assert_ran_exactly(shape: &str, engine: &str, events: &Path, expected: &[String]) {
    let ran = ran(events);
    let twice: Vec<&String> = ran
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(twice.is_empty(), "{shape}/{engine}: ran twice: {twice:?}");
    let mut want: Vec<&String> = expected.iter().collect();
    want.sort();
    let got: Vec<&String> = ran.keys().collect();
    assert_eq!(
        got, want,
        "{shape}/{engine}: tests with an outcome differ from plain pytest's collection"
    );
    eprintln!(
        "shape {shape:<26} {engine:<8} {} / {} tests run / collected by plain pytest",
        ran.len(),
        expected.len()
    );
}

fn check(shape: &Shape) {
    let test = Test::empty();
    copy_dir(&fixture_dir("shapes").join(shape.name), test.path());
    let test = test.write(
        "testing.toml",
        &format!(
            "[project]\nvenv = \"{}\"\n\n[setup]\nenabled = false\n",
            shared_venv().display()
        ),
    );
    let expected = plain_collection(test.path());
    let reports = test.path().join(".xtask/reports");
    let events = reports.join("events.jsonl");

    let serial = test.run_args(&["pytest"]);
    serial.status(shape.exit);
    for text in shape.says {
        assert!(
            serial.stdout().contains(text),
            "{}: serial output lacks {text:?}:\n{}",
            shape.name,
            serial.stdout()
        );
    }
    let ran_line = format!(
        "{} of {} collected tests ran",
        expected.len(),
        expected.len()
    );
    if shape.exit != 5 {
        assert!(serial.stdout().contains(&ran_line), "{}", serial.stdout());
    }
    assert_ran_exactly(shape.name, "serial", &events, &expected);

    for engine in ["xdist", "shards"] {
        let run = test.run_args(&["pytest-parallel", "--engine", engine, "--workers", "2"]);
        run.status(shape.exit);
        assert_ran_exactly(shape.name, engine, &events, &expected);
    }

    for index in ["1", "2"] {
        // One process per shard: xdist inside a shard is the bundled suite's.
        let run = test.run_args(&["shard", "--index", index, "--total", "2", "--workers", "1"]);
        assert!(
            [0, 1].contains(&run.code()),
            "{}: shard {index} exited {}\n{}\n{}",
            shape.name,
            run.code(),
            run.stdout(),
            run.stderr()
        );
    }
    let shard_dirs = [reports.join("shard-1"), reports.join("shard-2")];
    let merge = test.run_args(&[
        "merge",
        shard_dirs[0].to_str().unwrap(),
        shard_dirs[1].to_str().unwrap(),
    ]);
    merge.status(shape.exit);
    assert_ran_exactly(shape.name, "ci", &events, &expected);
}

macro_rules! shapes {
    ($($name:ident: exit $exit:expr, says [$($says:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                check(&Shape { name: stringify!($name), exit: $exit, says: &[$($says),*] });
            }
        )*
    };
}

shapes! {
    subpackage_tests: exit 0, says [];
    src_layout: exit 0, says [];
    flat_extra: exit 0, says [];
    addopts_q: exit 0, says [];
    addopts_raq: exit 0, says ["1 skipped, 1 xfailed"];
    addopts_v: exit 0, says [];
    addopts_n_auto: exit 0, says ["workers:   serial"];
    addopts_no_cacheprovider: exit 0, says [];
    strict_markers: exit 0, says [];
    unittest_subtests: exit 1, says [
        "FAILED tests/test_unit.py::TestNumbers::test_one_subtest_fails",
        "SUBTEST FAILED (i=2)",
        "1 test(s) failed"
    ];
    doctest_modules: exit 0, says [];
    odd_ids: exit 0, says [];
    nested_conftest: exit 0, says [];
    collection_error: exit 1, says [
        "COLLECTION ERROR tests/test_broken.py",
        "1 collection error(s): tests/test_broken.py"
    ];
    no_tests: exit 5, says ["no tests collected"];
}

#[test]
fn a_selection_that_deselects_everything_says_so() {
    let test = Test::empty();
    copy_dir(&fixture_dir("shapes/addopts_q"), test.path());
    let test = test.write(
        "testing.toml",
        &format!(
            "[project]\nvenv = \"{}\"\n\n[setup]\nenabled = false\n",
            shared_venv().display()
        ),
    );
    let run = test.run_args(&["pytest", "--", "-k", "no_such_test"]);
    run.status(5);
    assert!(
        run.stdout()
            .contains("no tests selected: the selection deselected all 8 collected"),
        "{}",
        run.stdout()
    );
}
