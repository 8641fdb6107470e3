//! `cargo xtask audit`: the labelled corpus in `tests/fixtures/audit/`, the
//! bundled suite, syntax errors, config, and the text/JSON/SARIF outputs.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::{copy_dir, fixture_dir, repo_root, xtask_bin, Test};

/// A project whose tests are a copy of `tests/fixtures/audit/`.
fn corpus_project(extra_config: &str) -> Test {
    let test = Test::empty();
    copy_dir(&fixture_dir("audit"), &test.path().join("tests"));
    test.write(
        "testing.toml",
        &format!("[project]\ntest-paths = [\"tests\"]\n\n[setup]\nenabled = false\n{extra_config}"),
    )
}

/// A project with the given test files.
fn project(files: &[(&str, &str)], extra_config: &str) -> Test {
    let mut test = Test::empty().write(
        "testing.toml",
        &format!("[project]\ntest-paths = [\"tests\"]\n\n[setup]\nenabled = false\n{extra_config}"),
    );
    for (path, body) in files {
        test = test.write(path, body);
    }
    test
}

fn json(run: &crate::support::Run) -> Value {
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout()))
}

/// `(path, line, rule)` for every `# expect: rule[, rule]` label, and the
/// files labelled `# expect: none`.
fn labels(dir: &Path, prefix: &str) -> (BTreeSet<(String, usize, String)>, BTreeSet<String>) {
    let mut expected = BTreeSet::new();
    let mut negatives = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = format!(
                "{prefix}/{}",
                path.strip_prefix(dir).unwrap().to_string_lossy()
            );
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let Some((_, label)) = line.split_once("# expect:") else {
                    continue;
                };
                for rule in label.split(',').map(str::trim) {
                    if rule == "none" {
                        negatives.insert(rel.clone());
                    } else {
                        expected.insert((rel.clone(), i + 1, rule.to_string()));
                    }
                }
            }
        }
    }
    (expected, negatives)
}

#[test]
fn corpus_positives_are_found_with_few_false_positives() {
    let (expected, negatives) = labels(&fixture_dir("audit"), "tests");
    let files: BTreeSet<&str> = expected
        .iter()
        .map(|(p, _, _)| p.as_str())
        .chain(negatives.iter().map(String::as_str))
        .collect();
    assert!(files.len() >= 40, "the corpus has {} files", files.len());
    assert!(negatives.len() >= 15, "{} negative files", negatives.len());

    let test = corpus_project("").args(["audit", "--format", "json"]);
    let run = test.run();
    run.status(1);
    let report = json(&run);
    let found: BTreeSet<(String, usize, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap() as usize,
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    // Every rule has at least one labelled true positive.
    let sarif = test.run_args(&["audit", "--format", "sarif"]);
    let rules: Vec<String> = json(&sarif)["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    for rule in &rules {
        assert!(
            expected.iter().any(|(_, _, r)| r == rule),
            "no labelled positive for rule `{rule}`"
        );
    }

    let missed: Vec<_> = expected.difference(&found).collect();
    assert!(missed.is_empty(), "missed positives: {missed:#?}");

    let unexpected: Vec<_> = found.difference(&expected).collect();
    let flagged_negatives = negatives
        .iter()
        .filter(|n| found.iter().any(|(p, _, _)| p == *n))
        .count();
    // At most 5% false positives: unexpected findings per negative file.
    assert!(
        unexpected.len() * 100 <= negatives.len() * 5,
        "{} unexpected findings ({flagged_negatives} of {} negative files flagged): {unexpected:#?}",
        unexpected.len(),
        negatives.len()
    );
}

#[test]
fn syntax_error_is_reported_and_other_files_are_still_audited() {
    let test = project(
        &[
            (
                "tests/test_a_broken.py",
                "def test_ok():\n    pass\n\n\ndef test_bad(:\n    pass\n",
            ),
            (
                "tests/test_b_env.py",
                "import os\n\n\ndef test_env():\n    os.environ[\"A\"] = \"1\"\n",
            ),
            (
                "tests/test_c_clean.py",
                "def test_clean(tmp_path):\n    assert tmp_path\n",
            ),
        ],
        "",
    );
    // Latin-1 bytes in a file Python reads as UTF-8.
    std::fs::write(
        test.path().join("tests/test_d_latin1.py"),
        b"def test_caf\xe9():\n    pass\n",
    )
    .unwrap();
    let run = test.run_args(&["audit", "--format", "json"]);
    run.status(1);
    let report = json(&run);
    assert_eq!(report["files_audited"], 4);
    let findings = report["findings"].as_array().unwrap();
    let syntax = findings
        .iter()
        .find(|f| f["rule"] == "syntax-error")
        .expect("a syntax-error finding");
    assert_eq!(syntax["path"], "tests/test_a_broken.py");
    assert_eq!(syntax["line"], 5);
    assert!(syntax["column"].as_u64().unwrap() >= 1);
    assert!(findings
        .iter()
        .any(|f| f["rule"] == "os-environ-mutation" && f["path"] == "tests/test_b_env.py"));
    let latin1 = findings
        .iter()
        .find(|f| f["path"] == "tests/test_d_latin1.py")
        .expect("a finding for the undecodable file");
    assert_eq!(latin1["rule"], "syntax-error");
    assert_eq!(
        (latin1["line"].as_u64(), latin1["column"].as_u64()),
        (Some(1), Some(13))
    );
    assert!(latin1["message"]
        .as_str()
        .unwrap()
        .contains("not valid UTF-8"));

    let text = test.run_args(&["--color", "never", "audit"]);
    text.status(1);
    let out = text.stdout();
    assert!(out.contains("tests/test_a_broken.py\n  5:"), "{out}");
    assert!(out.contains("syntax-error"), "{out}");
    assert!(out.contains("tests/test_b_env.py\n"), "{out}");
}

#[test]
fn bundled_suite_audits_clean() {
    let out = std::process::Command::new(xtask_bin())
        .args(["--no-progress", "--color", "never", "-C"])
        .arg(repo_root())
        .arg("audit")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("audit: 0 errors, 0 warnings"), "{stdout}");
}

const SMALL: &[(&str, &str)] = &[
    (
        "tests/test_small.py",
        "import os\nimport tempfile\n\nSEEN = []\n\n\ndef test_env():\n    os.environ[\"MODE\"] = \"x\"\n    SEEN.append(1)\n\n\ndef test_tmp():\n    d = tempfile.mkdtemp()\n    assert d\n\n\ndef test_allowed():\n    os.chdir(\"/\")  # xtask: allow(os-chdir)\n",
    ),
    (
        "tests/conftest.py",
        "import pytest\nimport sqlite3\n\n\n@pytest.fixture(scope=\"session\")\ndef db():\n    return sqlite3.connect(\":memory:\")\n",
    ),
    ("tests/test_clean.py", "def test_ok(tmp_path):\n    assert tmp_path\n"),
];

#[test]
fn text_output_snapshot() {
    let run = project(SMALL, "").run_args(&["--color", "never", "audit"]);
    run.status(1);
    insta::assert_snapshot!(run.stdout());
}

#[test]
fn color_follows_the_flag() {
    let test = project(SMALL, "");
    assert!(test
        .run_args(&["--color", "always", "audit"])
        .stdout()
        .contains("\u{1b}["));
    assert!(!test
        .run_args(&["--color", "never", "audit"])
        .stdout()
        .contains("\u{1b}["));
    // Piped output in auto mode is plain.
    assert!(!test.run_args(&["audit"]).stdout().contains("\u{1b}["));
}

#[test]
fn json_output_has_every_finding() {
    let run = project(SMALL, "").run_args(&["audit", "--format", "json"]);
    run.status(1);
    let report = json(&run);
    assert_eq!(report["version"], 1);
    assert_eq!(report["threshold"], "error");
    assert_eq!(report["failed"], true);
    assert_eq!(report["files_audited"], 3);
    assert_eq!(report["counts"]["suppressed"], 1);
    let findings = report["findings"].as_array().unwrap();
    let rules: Vec<(&str, u64, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        vec![
            ("tests/conftest.py", 7, "shared-mutable-fixture"),
            ("tests/test_small.py", 8, "os-environ-mutation"),
            ("tests/test_small.py", 9, "module-mutable-state"),
            ("tests/test_small.py", 13, "unmanaged-tempfile"),
        ]
    );
    for f in findings {
        for key in ["column", "end_line", "end_column"] {
            assert!(f[key].as_u64().unwrap() >= 1, "{f}");
        }
        assert!(["error", "warning"].contains(&f["severity"].as_str().unwrap()));
        assert!(!f["message"].as_str().unwrap().is_empty());
        assert!(!f["hint"].as_str().unwrap().is_empty());
    }
}

#[test]
fn sarif_output_is_valid_2_1_0() {
    let run = project(SMALL, "").run_args(&["audit", "--format", "sarif"]);
    run.status(1);
    let sarif = json(&run);
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = sarif["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "xtask-audit");
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 16);
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for rule in rules {
        assert!(!rule["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .is_empty());
        assert!(!rule["fullDescription"]["text"].as_str().unwrap().is_empty());
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
        assert!(
            ["error", "warning"].contains(&rule["defaultConfiguration"]["level"].as_str().unwrap())
        );
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for result in results {
        let id = result["ruleId"].as_str().unwrap();
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id);
        assert!(["error", "warning"].contains(&result["level"].as_str().unwrap()));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("tests/") && uri.ends_with(".py"), "{uri}");
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let region = &location["region"];
        for key in ["startLine", "startColumn", "endLine", "endColumn"] {
            assert!(region[key].as_u64().unwrap() >= 1, "{result}");
        }
    }
}

#[test]
fn config_allow_severity_and_paths() {
    let files = &[
        (
            "tests/test_a.py",
            "import os\nimport sys\n\n\ndef test_a(tmp_path):\n    os.chdir(tmp_path)\n    sys.path.append(\"x\")\n",
        ),
        ("other/test_b.py", "import os\n\n\ndef test_b():\n    os.environ.clear()\n"),
    ];
    // Default threshold `error`: the chdir fails the audit.
    project(files, "").run_args(&["audit"]).status(1);
    // Allowing the error leaves a warning, which passes at `error`...
    let allowed = project(files, "\n[audit]\nallow = [\"os-chdir\"]\n");
    let run = allowed.run_args(&["--color", "never", "audit"]);
    run.status(0);
    assert!(
        run.stdout().contains("suppressed 1 by `[audit] allow`"),
        "{}",
        run.stdout()
    );
    // ...and fails at `warning`, from the flag or the config.
    allowed
        .run_args(&["audit", "--severity", "warning"])
        .status(1);
    project(
        files,
        "\n[audit]\nallow = [\"os-chdir\"]\nseverity = \"warning\"\n",
    )
    .run_args(&["audit"])
    .status(1);
    // `paths` replaces the test paths; explicit arguments replace both.
    let elsewhere = project(files, "\n[audit]\npaths = [\"other\"]\n");
    let report = json(&elsewhere.run_args(&["audit", "--format", "json"]));
    assert_eq!(report["findings"][0]["path"], "other/test_b.py");
    assert_eq!(report["files_audited"], 1);
    let report = json(&elsewhere.run_args(&["audit", "--format", "json", "tests/test_a.py"]));
    assert_eq!(report["findings"][0]["path"], "tests/test_a.py");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let test = project(&[("tests/test_a.py", "def test_a():\n    pass\n")], "");
    let run = test.run_args(&["audit", "missing_dir"]);
    run.status(2);
    let stderr = run.stderr();
    assert!(
        stderr.starts_with("error: audit path `missing_dir` does not exist\nhint: "),
        "{stderr}"
    );
    test.run_args(&["audit", "--format", "xml"]).status(2);

    let bad_rule = project(
        &[("tests/test_a.py", "def test_a():\n    pass\n")],
        "\n[audit]\nallow = [\"os-chdr\"]\n",
    );
    let run = bad_rule.run_args(&["audit"]);
    run.status(2);
    let first = run.stderr().lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first,
        "error: testing.toml:8:10: `audit.allow`: unknown rule `os-chdr`"
    );
    assert!(run.stderr().contains("did you mean `os-chdir`?"));
}
