//! Sharding: plans, shard runs, merge, and the checks that keep them honest.

use std::path::Path;

use crate::support::{bundled_copy, copy_dir, heavy, junit_outcomes, xtask_bin, Test};

/// Runs every shard of `total` the way CI does (each job starts from the same
/// durations file), copying each shard's reports into `<out>/shard-<i>`.
fn run_shards(
    root: &Path,
    total: u16,
    out: &Path,
    extra_env: &[(&str, &str)],
) -> Vec<std::path::PathBuf> {
    let reports = root.join("reports");
    let durations = std::fs::read(reports.join("durations.json")).ok();
    let mut dirs = Vec::new();
    for index in 0..total {
        if reports.exists() {
            for entry in std::fs::read_dir(&reports).unwrap().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).unwrap()
                } else {
                    std::fs::remove_file(&p).unwrap()
                }
            }
        }
        if let Some(d) = &durations {
            std::fs::create_dir_all(&reports).unwrap();
            std::fs::write(reports.join("durations.json"), d).unwrap();
        }
        let mut cmd = std::process::Command::new(xtask_bin());
        cmd.arg("-C").arg(root).args([
            "--no-progress",
            "shard",
            "--index",
            &index.to_string(),
            "--total",
            &total.to_string(),
            "--cov",
            "--workers",
            "2",
        ]);
        cmd.env_remove("PYTEST_WORKERS");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let output = cmd.output().unwrap();
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "shard {index}/{total}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let dir = out.join(format!("shard-{index}"));
        copy_dir(&reports.join(format!("shard-{index}")), &dir);
        dirs.push(dir);
    }
    dirs
}

fn merge(root: &Path, dirs: &[std::path::PathBuf]) -> std::process::Output {
    std::process::Command::new(xtask_bin())
        .arg("-C")
        .arg(root)
        .args(["--no-progress", "merge"])
        .args(dirs)
        .output()
        .unwrap()
}

fn executed(json: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let files = v["files"].as_object().unwrap();
    files
        .iter()
        .map(|(k, f)| {
            (
                k.clone(),
                serde_json::json!([f["executed_lines"], f["executed_branches"]]),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn shards_run_one_after_another_in_one_checkout_cover_the_suite_once() {
    let test = Test::fixture("basic");
    test.run_args(&["pytest"]).status(0);
    let planned = |index: &str| -> serde_json::Value {
        let info: serde_json::Value =
            serde_json::from_str(&test.read(&format!("reports/shard-{index}/shard.json"))).unwrap();
        info["planned"].clone()
    };
    // Shard 0's run does not move the plan shard 1 computes.
    for index in ["0", "1"] {
        test.run_args(&["shard", "--index", index, "--total", "2"])
            .status(0);
    }
    let first = planned("0");
    let dirs = [
        test.path().join("reports/shard-0"),
        test.path().join("reports/shard-1"),
    ];
    let output = merge(test.path(), &dirs);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("14 of 14 collected tests ran"), "{stdout}");
    // Re-running one shard gives the same partition.
    test.run_args(&["shard", "--index", "0", "--total", "2"])
        .status(0);
    assert_eq!(planned("0"), first);
    assert_eq!(
        junit_outcomes(&test.path().join("reports/junit.xml")).len(),
        14
    );

    // A shard planned from other durations (another cache) is refused.
    let out = tempfile::tempdir().unwrap();
    let kept = out.path().join("s0");
    copy_dir(&dirs[0], &kept);
    let durations = test.read("reports/durations.json").replacen(
        "\"tests/test_more.py",
        "\"tests/test_more.py::test_gone\": 99.0,\n    \"tests/test_more.py",
        1,
    );
    let test = test.write("reports/durations.json", &durations);
    test.run_args(&["shard", "--index", "1", "--total", "2"])
        .status(0);
    let output = merge(test.path(), &[kept.clone(), dirs[1].clone()]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.starts_with("error: the shards were planned differently"),
        "{err}"
    );
    assert!(
        err.contains("restore the same reports/durations.json"),
        "{err}"
    );
    // A missing shard is refused too.
    let output = merge(test.path(), &[kept]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("shard(s) 1 of 2 are missing"));
}

#[test]
fn a_shard_whose_plan_lost_a_test_is_refused() {
    let test = Test::fixture("basic");
    for index in ["0", "1"] {
        test.run_args(&["shard", "--index", index, "--total", "2"])
            .status(0);
    }
    // Drop one planned test from shard 1's description: the union no longer covers the suite.
    let path = "reports/shard-1/shard.json";
    let mut info: serde_json::Value = serde_json::from_str(&test.read(path)).unwrap();
    info["planned"].as_array_mut().unwrap().pop();
    let test = test.write(path, &info.to_string());
    let dirs = [
        test.path().join("reports/shard-0"),
        test.path().join("reports/shard-1"),
    ];
    let output = merge(test.path(), &dirs);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("the shards' plans do not cover the suite exactly once: 13 of 14 collected tests planned"),
        "{err}"
    );
}

#[test]
fn index_out_of_range_exits_2() {
    let run = Test::fixture("basic").run_args(&["shard", "--index", "3", "--total", "3"]);
    run.status(2);
    assert!(
        run.stderr()
            .starts_with("error: `--index 3` is out of range for `--total 3`"),
        "{}",
        run.stderr()
    );
}

#[test]
fn missing_or_corrupt_durations_fall_back_to_counts() {
    let test = Test::fixture("basic");
    let run = test.run_args(&["plan", "--shards", "3"]);
    run.status(0);
    assert!(
        run.stderr().contains("no durations recorded"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stdout().contains("plan: 14 tests in 3 shards"),
        "{}",
        run.stdout()
    );
    std::fs::create_dir_all(test.path().join("reports")).unwrap();
    std::fs::write(test.path().join("reports/durations.json"), "{ truncated").unwrap();
    let run = test.run_args(&["plan", "--shards", "3", "--granularity", "scope"]);
    run.status(0);
    assert!(run.stderr().contains("is corrupt"), "{}", run.stderr());
}

#[test]
fn more_shards_than_scopes_leaves_a_shard_with_nothing_to_do() {
    let test = Test::fixture("basic");
    let run = test.run_args(&[
        "shard",
        "--index",
        "5",
        "--total",
        "6",
        "--granularity",
        "scope",
    ]);
    run.status(0);
    assert!(
        run.stdout().contains("shard 5 of 6 has no tests"),
        "{}",
        run.stdout()
    );
}

#[test]
fn simulate_predicts_every_engine() {
    let test = Test::fixture("basic");
    test.run_args(&["pytest"]).status(0);
    let run = test.run_args(&["plan", "--workers", "2", "--simulate"]);
    run.status(0);
    for line in [
        "serial: one pytest process",
        "xdist --dist=loadscope, collection order",
        "longest first",
        "shards: 2 pytest processes",
        "fastest predicted",
    ] {
        assert!(run.stdout().contains(line), "{line}: {}", run.stdout());
    }
    // The serial run above did not measure coverage (the default): its
    // start-up counts for predictions without coverage, not for those with it.
    let serial_line = |stdout: &str| {
        stdout
            .lines()
            .find(|l| l.contains("serial: one pytest process"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        serial_line(&run.stdout()).contains("start-up measured"),
        "{}",
        run.stdout()
    );
    let run = test.run_args(&["plan", "--workers", "2", "--simulate", "--cov"]);
    run.status(0);
    assert!(run.stdout().contains("with coverage"), "{}", run.stdout());
    assert!(
        serial_line(&run.stdout()).contains("start-up assumed"),
        "{}",
        run.stdout()
    );
}

/// K = 1, 2, 3 shards of the bundled suite give exactly the unsharded run:
/// the same test ids and outcomes, and merged coverage equal line for line.
#[test]
fn bundled_suite_shards_equal_the_unsharded_run() {
    let _guard = heavy();
    let work = tempfile::tempdir().unwrap();
    let project = bundled_copy();
    let root = project.path().to_path_buf();

    let full = std::process::Command::new(xtask_bin())
        .arg("-C")
        .arg(&root)
        .args(["--no-progress", "pytest", "--cov"])
        .env_remove("PYTEST_WORKERS")
        .output()
        .unwrap();
    assert_eq!(
        full.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&full.stdout)
    );
    let want_outcomes = junit_outcomes(&root.join("reports/junit.xml"));
    let want_coverage = executed(&root.join("reports/coverage.json"));
    let saved = work.path().join("unsharded");
    copy_dir(&root.join("reports"), &saved);

    for total in 1..=3u16 {
        let out = work.path().join(format!("k{total}"));
        let dirs = run_shards(&root, total, &out, &[]);
        let merged = merge(&root, &dirs);
        assert_eq!(
            merged.status.code(),
            Some(0),
            "K={total}: {}\n{}",
            String::from_utf8_lossy(&merged.stdout),
            String::from_utf8_lossy(&merged.stderr)
        );
        assert_eq!(
            junit_outcomes(&root.join("reports/junit.xml")),
            want_outcomes,
            "K={total}"
        );
        assert_eq!(
            executed(&root.join("reports/coverage.json")),
            want_coverage,
            "K={total}: merged coverage differs"
        );
        // The next K starts from the same durations as the unsharded run left.
        std::fs::copy(
            saved.join("durations.json"),
            root.join("reports/durations.json"),
        )
        .unwrap();
    }
}
