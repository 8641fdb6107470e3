//! Malformed testing.toml: every case exits 2 with `testing.toml:line:col`,
//! what is wrong and what is accepted.

use crate::support::Test;

const CASES: &[(&str, &str)] = &[
    ("syntax error", "[parallel]\nworkers = \n"),
    ("unknown section", "[paralel]\nworkers = 2\n"),
    ("typo of a known key", "[parallel]\nwrokers = 2\n"),
    ("unknown key", "[coverage]\nenabled = true\nshiny = 1\n"),
    ("wrong type for workers", "[parallel]\nworkers = true\n"),
    (
        "workers as a bad string",
        "[parallel]\nworkers = \"many\"\n",
    ),
    ("workers = 0", "[parallel]\nworkers = 0\n"),
    ("workers too large", "[parallel]\nworkers = 1000\n"),
    ("unknown dist", "[parallel]\ndist = \"loadmodule\"\n"),
    (
        "missing test path",
        "[project]\ntest-paths = [\"tests\", \"nope\"]\n",
    ),
    ("addopts not a list", "[pytest]\naddopts = \"-ra\"\n"),
    ("negative fail-under", "[coverage]\nfail-under = -5\n"),
    ("fail-under over 100", "[coverage]\nfail-under = 101.5\n"),
    (
        "wrong type for a list",
        "[project]\ntest-paths = \"tests\"\n",
    ),
    (
        "missing lock file",
        "[setup]\nlock = \"requirements.lock\"\n",
    ),
    ("duplicate key", "[reports]\ndir = \"a\"\ndir = \"b\"\n"),
    ("negative hash seed", "[pytest]\nhash-seed = -1\n"),
    ("engine as a number", "[parallel]\nengine = 1\n"),
    ("unknown engine", "[parallel]\nengine = \"shard\"\n"),
    ("unquoted python version", "[ci]\npython-version = 3.10\n"),
    (
        "serial baseline not a cron",
        "[ci]\nserial-baseline = \"weekly\"\n",
    ),
    (
        "unknown pull-request mode",
        "[ci]\npull-requests = \"some\"\n",
    ),
    (
        "python matrix with shards",
        "[ci]\nshards = 2\npython-matrix = [\"3.11\", \"3.12\"]\n",
    ),
];

#[test]
fn malformed_configs_exit_2_with_locations() {
    let mut report = String::new();
    for (name, body) in CASES {
        let test = Test::empty()
            .write("tests/test_x.py", "def test_x():\n    pass\n")
            .write("testing.toml", body)
            .args(["pytest"]);
        let run = test.run();
        run.status(2);
        let stderr = run.stderr();
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: testing.toml:"),
            "{name}: {stderr}"
        );
        let location = first.trim_start_matches("error: testing.toml:");
        let mut parts = location.splitn(3, ':');
        let line: usize = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no line in {first}"));
        let col: usize = parts
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no column in {first}"));
        assert!(line >= 1 && col >= 1);
        assert!(run.stdout().is_empty(), "{name}: nothing may run");
        report.push_str(&format!("## {name}\n{body}---\n{stderr}\n"));
    }
    insta::assert_snapshot!(report);
}
