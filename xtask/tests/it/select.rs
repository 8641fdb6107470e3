//! Change-aware selection on the `selection` fixture: what a recorded run
//! keeps, what a change selects and why, what forces every test, the shadow
//! run, and every input a user can get wrong.

use std::collections::BTreeSet;

use crate::support::Test;

/// The fixture, recorded by a serial run.
fn recorded() -> Test {
    let test = Test::fixture("selection");
    test.run_args(&["pytest", "--record-deps"]).status(0);
    test
}

fn edit(test: &Test, rel: &str, from: &str, to: &str) {
    let text = test.read(rel);
    assert!(text.contains(from), "{rel} has no `{from}`");
    std::fs::write(test.path().join(rel), text.replacen(from, to, 1)).unwrap();
}

fn selection(test: &Test) -> serde_json::Value {
    let run = test.run_args(&["select", "--json"]);
    run.status(0);
    serde_json::from_str(&run.stdout()).unwrap()
}

/// Records `test` anew with two workers of `engine`.
fn record_anew(test: &Test, engine: &str) {
    std::fs::remove_file(test.path().join("reports/deps.json")).unwrap();
    let args = [
        "pytest-parallel",
        "-n",
        "2",
        "--engine",
        engine,
        "--record-deps",
    ];
    test.run_args(&args).status(0);
}

/// Records `test` as `record` does, with the menu printing two decimals
/// (`src/shop/menu.py`), then changes the menu to one: one function changed
/// since the record.
fn record_before_the_menu_change(test: &Test, record: impl FnOnce(&Test)) {
    edit(test, "src/shop/menu.py", ":.1f", ":.2f");
    record(test);
    edit(test, "src/shop/menu.py", ":.2f", ":.1f");
}

/// Why the selection runs every test; panics if it does not.
fn everything(test: &Test) -> String {
    let json = selection(test);
    match json["everything"].as_str() {
        Some(why) => why.to_string(),
        None => panic!("not everything: {json}"),
    }
}

fn selected(json: &serde_json::Value) -> BTreeSet<String> {
    json["selected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn failed_ids(test: &Test) -> BTreeSet<String> {
    test.read("reports/events.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["e"] == "test" && e["outcome"] == "failed")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_changed_function_selects_the_tests_that_ran_it_and_they_fail_where_the_full_suite_fails() {
    let test = recorded();
    let record = test.read("reports/deps.json");
    assert!(record.contains("src/shop/pricing.py::discount"), "{record}");
    // Nothing changed: nothing to run, and it says so.
    assert_eq!(selection(&test)["selected"], serde_json::json!([]));
    let run = test.run_args(&["pytest", "--changed"]);
    run.status(0);
    assert!(
        run.stdout()
            .contains("no test can be affected by the change"),
        "{}",
        run.stdout()
    );

    edit(
        &test,
        "src/shop/pricing.py",
        "return total - 10",
        "return total - 11",
    );
    let json = selection(&test);
    assert_eq!(json["changed"], serde_json::json!(["src/shop/pricing.py"]));
    assert_eq!(
        selected(&json),
        set(&[
            // Through the module-scoped `cart` fixture, shared in the module.
            "tests/test_cart.py::test_cart_items",
            "tests/test_cart.py::test_cart_total",
            // Starts a process: code run there is not traced.
            "tests/test_cli.py::test_cli_prints_the_total",
            "tests/test_pricing.py::test_discount_above_a_hundred",
            // Not `test_discount_below`: it ran `discount` but never entered
            // the `if total > 100:` block that changed. Not `test_price`,
            // though it ran pricing.py's code after earlier tests of its
            // process ran `discount`: pricing.py keeps no state that could
            // carry their effect.
        ])
    );
    assert_eq!(json["skipped"], 7);
    let explain = test.run_args(&["select", "--explain", "tests/test_catalog.py::test_load"]);
    explain.status(0);
    let out = explain.stdout();
    assert!(
        out.starts_with("tests/test_catalog.py::test_load: not selected")
            && out.contains("ran src/shop/catalog.py::load")
            && out.contains("opened data/catalog.csv"),
        "{out}"
    );
    let out = test
        .run_args(&["select", "--explain", "tests/test_pricing.py::test_price"])
        .stdout();
    assert!(
        out.starts_with("tests/test_pricing.py::test_price: not selected")
            && out.contains("in the modules it uses that keep state")
            && out.contains("ran src/shop/pricing.py::price"),
        "{out}"
    );
    let out = test
        .run_args(&["select", "--explain", "tests/test_cart.py::test_cart_items"])
        .stdout();
    assert!(
        out.contains(
            "it entered the block at line 14 of src/shop/pricing.py::discount, which changed"
        ),
        "{out}"
    );

    for engine in ["shards", "xdist"] {
        let run = test.run_args(&[
            "pytest-parallel",
            "-n",
            "2",
            "--engine",
            engine,
            "--changed",
        ]);
        run.status(1);
        let out = run.stdout();
        assert!(
            out.contains("tests:     4 of 4 collected tests ran"),
            "{out}"
        );
        assert!(out.contains("--changed: 4 of 11 tests"), "{out}");
        let selected_failures = failed_ids(&test);
        test.run_args(&["pytest"]).status(1);
        assert_eq!(selected_failures, failed_ids(&test), "{engine}");
    }
    assert_eq!(
        failed_ids(&test),
        set(&[
            "tests/test_cart.py::test_cart_total",
            "tests/test_pricing.py::test_discount_above_a_hundred",
        ])
    );

    // The condition is the body's own: every test that ran `discount`.
    edit(
        &test,
        "src/shop/pricing.py",
        "return total - 11",
        "return total - 10",
    );
    edit(
        &test,
        "src/shop/pricing.py",
        "if total > 100:",
        "if total >= 100:",
    );
    let json = selection(&test);
    assert!(
        selected(&json).contains("tests/test_pricing.py::test_discount_below"),
        "{json}"
    );
    assert_eq!(selected(&json).len(), 5, "{json}");
    // So is a name it binds anywhere, which changes how every block runs.
    edit(
        &test,
        "src/shop/pricing.py",
        "if total >= 100:",
        "if total > 100:",
    );
    edit(
        &test,
        "src/shop/pricing.py",
        "return total - 10",
        "off = 10\n        return total - off",
    );
    assert_eq!(selected(&selection(&test)).len(), 5);
}

#[test]
fn state_a_module_keeps_carries_what_filled_it_to_later_tests() {
    let test = recorded();
    // `price_of` reads the catalog once per process: the second test gets the
    // prices from the first, and runs no `load` and opens no file itself.
    let (plain, rounded) = ("float(row[\"price\"])", "round(float(row[\"price\"]))");
    edit(&test, "src/shop/catalog.py", plain, rounded);
    let json = selection(&test);
    let apple = json["selected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "tests/test_catalog.py::test_price_of_apple")
        .unwrap_or_else(|| panic!("{json}"))
        .clone();
    assert_eq!(apple["reason"]["why"], "carried", "{apple}");
    let explained = test.run_args(&[
        "select",
        "--explain",
        "tests/test_catalog.py::test_price_of_apple",
    ]);
    assert!(
        explained.stdout().contains(
            "(src/shop/catalog.py keeps state between tests: `names` (line 16) keeps a cache)"
        ),
        "{}",
        explained.stdout()
    );
    // Only modules that keep state carry: pricing keeps none.
    let record: serde_json::Value = serde_json::from_str(&test.read("reports/deps.json")).unwrap();
    assert!(
        record["state"].get("src/shop/catalog.py").is_some(),
        "{}",
        record["state"]
    );
    assert!(
        record["state"].get("src/shop/pricing.py").is_none(),
        "{}",
        record["state"]
    );
    test.run_args(&["pytest"]).status(1);
    let failed = failed_ids(&test);
    assert_eq!(failed, set(&["tests/test_catalog.py::test_price_of_apple"]));
    assert!(failed.is_subset(&selected(&json)));

    edit(&test, "src/shop/catalog.py", rounded, plain);
    edit(&test, "data/catalog.csv", "apple,1.5", "apple,1.75");
    let json = selection(&test);
    assert_eq!(
        selected(&json),
        set(&[
            "tests/test_catalog.py::test_load",
            "tests/test_catalog.py::test_names",
            "tests/test_catalog.py::test_price_of_pear",
            "tests/test_catalog.py::test_price_of_apple",
        ])
    );
    test.run_args(&["pytest"]).status(1);
    let failed = failed_ids(&test);
    assert!(
        !failed.is_empty() && failed.is_subset(&selected(&json)),
        "{failed:?}"
    );
}

#[test]
fn data_files_test_files_and_new_tests_select_their_own_tests() {
    let test = recorded();
    edit(&test, "tests/test_cart.py", "== 2", "== 2  # two");
    assert_eq!(
        selected(&selection(&test)),
        set(&[
            "tests/test_cart.py::test_cart_items",
            "tests/test_cart.py::test_cart_total"
        ])
    );
    edit(&test, "tests/test_cart.py", "== 2  # two", "== 2");
    let test = test.write("tests/test_new.py", "def test_new():\n    assert True\n");
    let json = selection(&test);
    assert_eq!(selected(&json), set(&["tests/test_new.py::test_new"]));
    assert_eq!(json["selected"][0]["reason"]["why"], "no_record");
    // A comment is not a change of code.
    std::fs::remove_file(test.path().join("tests/test_new.py")).unwrap();
    edit(&test, "src/shop/pricing.py", "# Ten off", "# Still ten off");
    assert_eq!(selected(&selection(&test)), BTreeSet::new());
}

#[test]
fn code_a_test_module_runs_while_imported_selects_that_modules_tests_unless_it_reaches_others() {
    let menu = "\"\"\"Menu boards.\"\"\"\n\n\ndef board(items):\n    return [f\"{name}: {price:.2f}\" for name, price in items]\n";
    let test = Test::fixture("selection")
        .write("src/shop/menu.py", menu)
        // Imported before collection, as a project's conftest imports it:
        // importing the test module then imports nothing new.
        .write(
            "tests/conftest.py",
            &format!("import shop.menu  # noqa: F401\n{}", Test::fixture("selection").read("tests/conftest.py")),
        )
        .write(
            "tests/test_menu.py",
            "from shop.menu import board\n\nBOARD = board([(\"tea\", 3.0)])\n\n\ndef test_board():\n    assert BOARD == [\"tea: 3.00\"]\n\n\ndef test_title():\n    assert True\n",
        );
    test.run_args(&["pytest", "--record-deps"]).status(0);
    edit(&test, "src/shop/menu.py", ":.2f", ":.1f");
    let json = selection(&test);
    assert_eq!(json["everything"], serde_json::Value::Null, "{json}");
    // (And the test that starts processes, whose code is not traced.)
    let menu_tests = set(&[
        "tests/test_cli.py::test_cli_prints_the_total",
        "tests/test_menu.py::test_board",
        "tests/test_menu.py::test_title",
    ]);
    assert_eq!(selected(&json), menu_tests, "{json}");
    test.run_args(&["pytest"]).status(1);
    assert_eq!(failed_ids(&test), set(&["tests/test_menu.py::test_board"]));
    for engine in ["shards", "xdist"] {
        record_before_the_menu_change(&test, |t| record_anew(t, engine));
        assert_eq!(selected(&selection(&test)), menu_tests, "{engine}");
    }

    // Another test module imports it: what its body built reaches that
    // module's tests too, so the code counts as run outside any test.
    let test = test.write(
        "tests/test_specials.py",
        "from test_menu import BOARD\n\n\ndef test_specials():\n    assert BOARD[0].startswith(\"tea\")\n",
    );
    record_before_the_menu_change(&test, |t| {
        t.run_args(&["pytest", "--record-deps"]).status(0);
    });
    let why = everything(&test);
    assert!(why.contains("runs outside any test"), "{why}");
    // And a change of the imported test file selects the importer's tests.
    edit(&test, "src/shop/menu.py", ":.1f", ":.2f");
    edit(
        &test,
        "tests/test_menu.py",
        "(\"tea\", 3.0)",
        "(\"coffee\", 3.0)",
    );
    let json = selection(&test);
    assert_eq!(
        selected(&json),
        set(&[
            "tests/test_menu.py::test_board",
            "tests/test_menu.py::test_title",
            "tests/test_specials.py::test_specials",
        ]),
        "{json}"
    );
    let specials = &json["selected"].as_array().unwrap()[2];
    assert_eq!(specials["reason"]["why"], "imported_test_file", "{json}");
    test.run_args(&["pytest"]).status(1);
    assert_eq!(
        failed_ids(&test),
        set(&[
            "tests/test_menu.py::test_board",
            "tests/test_specials.py::test_specials"
        ])
    );
    edit(
        &test,
        "tests/test_menu.py",
        "(\"coffee\", 3.0)",
        "(\"tea\", 3.0)",
    );
    edit(&test, "src/shop/menu.py", ":.2f", ":.1f");

    // Code that keeps state, run while a test module is imported: every
    // later test may see what it left.
    std::fs::remove_file(test.path().join("tests/test_specials.py")).unwrap();
    edit(
        &test,
        "src/shop/menu.py",
        "def board(items):\n",
        "SHOWN = []\n\n\ndef board(items):\n    SHOWN.extend(items)\n",
    );
    record_before_the_menu_change(&test, |t| {
        t.run_args(&["pytest", "--record-deps"]).status(0);
    });
    let why = everything(&test);
    assert!(why.contains("runs outside any test"), "{why}");

    // A module that is not a test file imports the test module: what a
    // change of the test module reaches is not on record.
    edit(&test, "src/shop/menu.py", ":.1f", ":.2f");
    std::fs::write(test.path().join("tests/helpers.py"), "import test_menu\n").unwrap();
    test.run_args(&["pytest", "--record-deps"]).status(0);
    edit(
        &test,
        "tests/test_menu.py",
        "(\"tea\", 3.0)",
        "(\"coffee\", 3.0)",
    );
    let why = everything(&test);
    assert!(
        why.contains("tests/test_menu.py changed, and tests/helpers.py imports it"),
        "{why}"
    );
}

#[test]
fn tests_sharing_a_class_scoped_fixture_count_what_any_test_of_their_class_ran() {
    let classes = "import pytest\n\nfrom shop import pricing\n\n\nclass TestA:\n    @pytest.fixture(scope=\"class\")\n    def base(self):\n        return []\n\n    def test_price(self, base):\n        assert pricing.price([(\"a\", 1.0)]) == 1.0\n\n    def test_other(self, base):\n        assert base == []\n\n\nclass TestB:\n    @pytest.fixture(scope=\"class\")\n    def base(self):\n        return []\n\n    def test_discount(self, base):\n        assert pricing.discount(50) == 50\n\n\n@pytest.fixture(scope=\"module\")\ndef shared():\n    return []\n\n\ndef test_module_wide(shared):\n    assert shared == []\n";
    let test = Test::fixture("selection").write("tests/test_classes.py", classes);
    test.run_args(&["pytest", "--record-deps"]).status(0);
    edit(
        &test,
        "src/shop/pricing.py",
        "return sum(p for _, p in items)",
        "return sum(p for _, p in items) + 0.5",
    );
    let json = selection(&test);
    let here: BTreeSet<String> = selected(&json)
        .into_iter()
        .filter(|id| id.starts_with("tests/test_classes.py"))
        .collect();
    // TestA's tests share its fixture; TestB's do not see it. The
    // module-scoped fixture's user counts what every test of its file ran.
    assert_eq!(
        here,
        set(&[
            "tests/test_classes.py::TestA::test_other",
            "tests/test_classes.py::TestA::test_price",
            "tests/test_classes.py::test_module_wide",
        ]),
        "{json}"
    );
    test.run_args(&["pytest"]).status(1);
    assert!(failed_ids(&test).is_subset(&selected(&json)));
}

#[test]
fn recording_leaves_the_project_modules_globals_their_own() {
    // A test that lists a module's globals and calls each callable (as
    // toolz's tests do with its `operator` module) sees only the module's.
    let names = "from shop import pricing\n\n\ndef test_globals_are_the_modules():\n    assert [n for n in vars(pricing) if \"xtask\" in n] == []\n    for name, value in vars(pricing).items():\n        if callable(value) and not isinstance(value, type):\n            try:\n                value(1)\n            except TypeError:\n                pass\n\n\ndef test_after():\n    assert pricing.discount(50) == 50\n";
    let test = Test::fixture("selection").write("tests/test_zz_names.py", names);
    test.run_args(&["pytest", "--record-deps"]).status(0);
    let record: serde_json::Value = serde_json::from_str(&test.read("reports/deps.json")).unwrap();
    let tests = record["tests"].as_object().unwrap();
    assert_eq!(tests.len(), 13, "{:?}", record["failed"]);
    assert!(tests.contains_key("tests/test_zz_names.py::test_after"));
}

#[test]
fn changes_no_record_attributes_run_every_test() {
    let test = recorded();
    let cases = [
        (
            "tests/conftest.py",
            "scope=\"module\"",
            "scope=\"module\", autouse=False",
            "tests/conftest.py changed: it configures every test",
        ),
        (
            "src/shop/pricing.py",
            "RATE = 0.2",
            "RATE = 0.25",
            "module-level code of src/shop/pricing.py changed",
        ),
        (
            "src/shop/catalog.py",
            "return sorted(load())",
            "return sorted(load(), reverse=False)",
            "a cache serves its results",
        ),
        (
            "src/shop/cli.py",
            "return 0",
            "return 0 or 0",
            "no recorded test process imported it",
        ),
        (
            "pyproject.toml",
            "testpaths",
            "python_files = [\"test_*.py\"]\ntestpaths",
            "pyproject.toml changed",
        ),
        (
            "README.txt",
            "",
            "",
            "README.txt changed, and no recorded test opened it",
        ),
    ];
    for (file, from, to, why) in cases {
        let original = test.read(file);
        match from {
            "" => std::fs::write(test.path().join(file), "changed\n").unwrap(),
            _ => edit(&test, file, from, to),
        }
        let json = selection(&test);
        let everything = json["everything"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: {json}"));
        assert!(everything.contains(why), "{file}: {everything}");
        assert_eq!(json["selected"].as_array().unwrap().len(), 11, "{file}");
        std::fs::write(test.path().join(file), original).unwrap();
    }
    // A file that did not exist when recorded and that nothing runs.
    std::fs::write(test.path().join("NOTES.txt"), "new\n").unwrap();
    assert_eq!(selection(&test)["everything"], serde_json::Value::Null);
}

#[test]
fn every_engine_records_what_each_test_ran() {
    let test = recorded();
    // What each test itself ran and opened is the same whatever ran it;
    // what earlier tests of its process left depends on the order.
    let own = |test: &Test| {
        let record: serde_json::Value =
            serde_json::from_str(&test.read("reports/deps.json")).unwrap();
        let name = |table: &str, i: &serde_json::Value| {
            record[table][i.as_u64().unwrap() as usize]
                .as_str()
                .unwrap()
                .to_string()
        };
        record["tests"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(id, t)| {
                let list = |key: &str, table: &str| -> BTreeSet<String> {
                    t[key]
                        .as_array()
                        .map(|a| a.iter().map(|i| name(table, i)).collect())
                        .unwrap_or_default()
                };
                (
                    id.clone(),
                    list("f", "keys"),
                    list("o", "paths"),
                    t["sp"] == true,
                )
            })
            .collect::<Vec<_>>()
    };
    let serial = own(&test);
    assert_eq!(serial.len(), 11);
    for engine in ["shards", "xdist"] {
        record_anew(&test, engine);
        assert_eq!(own(&test), serial, "{engine}");
    }
}

#[test]
fn a_shadow_run_runs_everything_and_names_what_the_selection_would_have_missed() {
    let test = recorded();
    // A record that lost what one test ran, as a stale or wrong record would.
    let path = test.path().join("reports/deps.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&test.read("reports/deps.json")).unwrap();
    let entry = &mut record["tests"]["tests/test_pricing.py::test_discount_above_a_hundred"];
    entry["f"] = serde_json::json!([]);
    entry["c"] = serde_json::json!([]);
    std::fs::write(&path, record.to_string()).unwrap();
    edit(
        &test,
        "src/shop/pricing.py",
        "return total - 10",
        "return total - 11",
    );
    let run = test.run_args(&["pytest", "--changed", "--shadow"]);
    run.status(1);
    let out = run.stdout();
    assert!(
        out.contains("tests:     11 of 11 collected tests ran"),
        "{out}"
    );
    assert!(
        out.contains("shadow selection: 3 of 11 tests would have run")
            && out.contains(
                "1 skipped test(s) FAILED, the selection would have missed them: \
                 tests/test_pricing.py::test_discount_above_a_hundred"
            ),
        "{out}"
    );
    let history = test.read("reports/ci_timings.jsonl");
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["shadow"]["missed"],
        serde_json::json!(["tests/test_pricing.py::test_discount_above_a_hundred"])
    );
}

#[test]
fn a_selected_run_that_records_keeps_the_tests_it_did_not_run() {
    let test = recorded();
    edit(
        &test,
        "src/shop/pricing.py",
        "return sum(p for _, p in items)",
        "return sum(p for _n, p in items)",
    );
    let run = test.run_args(&["pytest", "--changed", "--record-deps"]);
    run.status(0);
    let out = run.stdout();
    assert!(
        out.contains("dependency record: 11 tests (4 from this run, 7 kept from the record)"),
        "{out}"
    );
    // The change is on record now: nothing left to run.
    assert_eq!(selection(&test)["selected"], serde_json::json!([]));
}

#[test]
fn prove_reports_no_miss_and_restores_the_source() {
    let test = recorded();
    let before = test.read("src/shop/pricing.py");
    let run = test.run_args(&["select", "--prove", "8", "--seed", "3"]);
    run.status(0);
    let out = run.stdout();
    assert!(out.contains("prove: 8 trials, 0 miss(es)"), "{out}");
    assert_eq!(out.matches("; no miss").count(), 8, "{out}");
    assert_eq!(test.read("src/shop/pricing.py"), before);
    // A changed tree is refused: the record would not describe it.
    edit(
        &test,
        "src/shop/pricing.py",
        "return total - 10",
        "return total - 11",
    );
    let run = test.run_args(&["select", "--prove", "2"]);
    run.status(2);
    assert!(
        run.stderr().starts_with(
            "error: the project differs from its dependency record (1 changed file(s))"
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn bad_selection_input_gets_one_line_and_exit_2() {
    let test = Test::fixture("selection");
    // No record yet: everything runs, and the summary says why.
    let json = selection(&test);
    assert!(
        json["everything"]
            .as_str()
            .unwrap()
            .contains("no dependency record yet"),
        "{json}"
    );
    let run = test.run_args(&["pytest", "--changed", "no-such-revision"]);
    run.status(2);
    assert!(
        run.stderr().contains("`git diff no-such-revision` failed"),
        "{}",
        run.stderr()
    );
    let run = test.run_args(&["pytest", "--shadow"]);
    run.status(2);
    assert!(run.stderr().contains("--changed"), "{}", run.stderr());
    let run = test.run_args(&["select", "--prove", "3"]);
    run.status(2);
    assert!(
        run.stderr()
            .contains("`select --prove` needs a dependency record"),
        "{}",
        run.stderr()
    );
    let run = test.run_args(&["select", "--explain", "tests/test_nope.py::test_x"]);
    run.status(2);
    assert!(
        run.stderr()
            .starts_with("error: `tests/test_nope.py::test_x` is not a test pytest collects now"),
        "{}",
        run.stderr()
    );
    let test = test.write("reports/deps.json", "{\"version\": 1, \"tests\": ");
    let run = test.run_args(&["select"]);
    run.status(2);
    assert!(
        run.stderr().contains("is not a dependency record")
            && run.stderr().contains("--record-deps"),
        "{}",
        run.stderr()
    );
    // A record made on another Python: everything runs.
    let test = recorded();
    let path = test.path().join("reports/deps.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&test.read("reports/deps.json")).unwrap();
    record["python"] = serde_json::json!("2.7.18");
    std::fs::write(&path, record.to_string()).unwrap();
    let everything = selection(&test)["everything"].as_str().unwrap().to_string();
    assert!(everything.contains("made on Python 2.7.18"), "{everything}");
}

#[test]
fn ci_shards_record_merge_into_one_record_and_select_the_same_tests() {
    let test = Test::fixture("selection");
    for index in ["1", "2"] {
        test.run_args(&["shard", "--index", index, "--total", "2", "--record-deps"])
            .status(0);
        assert!(test
            .path()
            .join(format!("reports/shard-{index}/deps.json"))
            .exists());
    }
    let dir = |i: u8| {
        test.path()
            .join(format!("reports/shard-{i}"))
            .display()
            .to_string()
    };
    let run = test.run_args(&["merge", &dir(1), &dir(2)]);
    run.status(0);
    assert!(
        run.stderr()
            .contains("merge: dependency record: 11 tests (11 from this run)"),
        "{}",
        run.stderr()
    );
    edit(
        &test,
        "src/shop/pricing.py",
        "return total - 10",
        "return total - 11",
    );
    let wanted = selected(&selection(&test));
    // Pricing keeps no state between tests, so nothing is carried: exactly
    // the 4 tests that entered the block that changed.
    assert_eq!(wanted.len(), 4, "{wanted:?}");
    let mut ran = BTreeSet::new();
    for index in ["1", "2"] {
        let run = test.run_args(&["shard", "--index", index, "--total", "2", "--changed"]);
        assert!(matches!(run.code(), 0 | 1), "{}", run.stderr());
        assert!(run.stdout().contains("--changed: "), "{}", run.stdout());
        let events = test.read(&format!("reports/shard-{index}/events.jsonl"));
        ran.extend(
            events
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|e| e["e"] == "test")
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(ran, wanted);
}

#[test]
fn the_instrumented_code_cache_keeps_what_runs_load_and_drops_what_none_has_for_a_month() {
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime};

    let cache = tempfile::tempdir().unwrap();
    let test = Test::fixture("selection").env("XTASK_CACHE_DIR", cache.path().to_str().unwrap());
    test.run_args(&["pytest", "--record-deps"]).status(0);

    let base = cache.path().join("pytest-plugin");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let code = dirs[0].join("deps-code");
    let loaded: Vec<PathBuf> = std::fs::read_dir(&code)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !loaded.is_empty() && loaded.iter().all(|p| p.extension().unwrap() == "bin"),
        "{loaded:?}"
    );
    let days_ago = |days: u64| SystemTime::now() - Duration::from_secs(days * 24 * 3600);
    let age = |path: &Path, days: u64| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(days_ago(days))
            .unwrap();
    };
    let make = |path: PathBuf, days: u64| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        age(&path, days);
    };
    // What this run loaded, last used ten days ago.
    for path in &loaded {
        age(path, 10);
    }
    let inodes: Vec<u64> = loaded
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().ino())
        .collect();
    // Another xtask version's plugin, unused for 40 days, and one used yesterday.
    make(base.join("0000000000aa/xtask_events.py"), 40);
    make(base.join("0000000000aa/deps-code/x.bin"), 40);
    make(base.join("0000000000bb/xtask_events.py"), 1);
    // Code of a source since changed, unused for 40 days; a file a killed run
    // left half-written two days ago; one a running process is writing now.
    make(code.join("0123.bin"), 40);
    make(code.join("0123.bin.4242"), 2);
    make(code.join("4567.bin.4243"), 0);

    test.run_args(&["pytest", "--record-deps"]).status(0);

    assert!(!base.join("0000000000aa").exists());
    assert!(base.join("0000000000bb/xtask_events.py").exists());
    assert!(!code.join("0123.bin").exists());
    assert!(!code.join("0123.bin.4242").exists());
    assert!(code.join("4567.bin.4243").exists());
    for (path, inode) in loaded.iter().zip(inodes) {
        let meta = std::fs::metadata(path).unwrap();
        // Loaded again, not instrumented again, and marked as used.
        assert_eq!(meta.ino(), inode, "{} was written anew", path.display());
        assert!(
            meta.modified().unwrap() > days_ago(1),
            "{} not marked as used",
            path.display()
        );
    }
}
