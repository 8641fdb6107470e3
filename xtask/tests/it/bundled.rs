//! The bundled suite (`sbir_etl`), run four times in the whole test command,
//! in a temporary copy: a serial baseline with coverage, then xdist, the
//! shards engine and two CI shards merged, each with coverage. Every one must
//! give the serial run's per-test outcomes and its covered lines and branches.

use std::path::Path;

use crate::support::{bundled_copy, executed, heavy, junit_outcomes, Test};

type Outcomes = Vec<(String, String)>;

/// The run's outcomes and covered lines and branches.
fn results(test: &Test) -> (Outcomes, serde_json::Value) {
    let reports = test.path().join("reports");
    (
        junit_outcomes(&reports.join("junit.xml")),
        executed(&reports.join("coverage.json")),
    )
}

#[track_caller]
fn same_as_serial(
    engine: &str,
    got: (Outcomes, serde_json::Value),
    want: &(Outcomes, serde_json::Value),
) {
    assert_eq!(
        got.0, want.0,
        "{engine}: outcomes differ from the serial run"
    );
    assert_eq!(
        got.1, want.1,
        "{engine}: covered lines or branches differ from the serial run"
    );
}

#[test]
fn bundled_suite_every_engine_matches_serial() {
    let _guard = heavy();
    let test = bundled_copy();
    let workers = [("PYTEST_WORKERS", "")];

    let serial = test.run_with(&["pytest", "--cov"], &workers);
    serial.status(0);
    let want = results(&test);
    assert!(want.0.len() >= 150, "{} tests", want.0.len());
    assert!(want.0.iter().all(|(_, o)| o == "passed" || o == "skipped"));
    let durations = test.read("reports/durations.json");

    let xdist = test.run_with(
        &[
            "pytest-parallel",
            "--cov",
            "--engine",
            "xdist",
            "--workers",
            "2",
        ],
        &workers,
    );
    xdist.status(0);
    same_as_serial("xdist", results(&test), &want);
    // Runs of the same kind compare: a speedup against the serial baseline,
    // and how busy each worker was.
    let md = test.read("reports/ci_timings.md");
    assert!(
        md.contains("**Speedup** against the serial baseline"),
        "{md}"
    );
    assert!(
        md.contains("## Worker utilization") && md.contains("| gw1 |"),
        "{md}"
    );
    assert!(md.contains("| phase | seconds | share |"), "{md}");

    let shards = test.run_with(
        &[
            "pytest-parallel",
            "--cov",
            "--engine",
            "shards",
            "--workers",
            "2",
        ],
        &workers,
    );
    shards.status(0);
    same_as_serial("shards", results(&test), &want);

    // Two CI shards from the same durations, two xdist workers in each, merged.
    let test = test.write("reports/durations.json", &durations);
    for index in ["0", "1"] {
        test.run_with(
            &[
                "shard",
                "--index",
                index,
                "--total",
                "2",
                "--cov",
                "--workers",
                "2",
            ],
            &workers,
        )
        .status(0);
    }
    let dirs: Vec<String> = ["shard-0", "shard-1"]
        .iter()
        .map(|d| test.path().join("reports").join(d).display().to_string())
        .collect();
    let merge = test.run_args(&["merge", &dirs[0], &dirs[1]]);
    merge.status(0);
    assert!(
        merge
            .stdout()
            .contains(&format!("{0} of {0} collected tests ran", want.0.len())),
        "{}",
        merge.stdout()
    );
    same_as_serial("ci shards", results(&test), &want);
    assert!(Path::new(&dirs[1]).join("shard.json").exists());
}
