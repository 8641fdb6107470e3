//! The bundled suite (`sbir_etl`), run three times in the whole test
//! command, in a temporary copy: a serial baseline, an xdist run with
//! coverage, and two CI shards (two xdist workers each), merged. Each gives
//! the serial run's per-test outcomes. On this suite coverage doubles the
//! time of a run, so it is measured once here; serial-against-parallel
//! coverage is proven by `verify` on the smaller projects, the coverage of
//! merged CI shards against one run's on `covproj` (`coverage.rs`), and the
//! shards engine by the corpus of project shapes.

use crate::support::{bundled_copy, executed, heavy, junit_outcomes, processes_mentioning};

#[test]
fn bundled_suite_every_engine_matches_serial() {
    let _guard = heavy();
    let test = bundled_copy();
    let workers = [("PYTEST_WORKERS", "")];
    let reports = test.path().join("reports");
    let outcomes = || junit_outcomes(&reports.join("junit.xml"));

    test.run_with(&["pytest", "--no-cov"], &workers).status(0);
    let want = outcomes();
    assert!(want.len() >= 150, "{} tests", want.len());
    assert!(want.iter().all(|(_, o)| o == "passed" || o == "skipped"));
    let durations = test.read("reports/durations.json");

    let parallel = test.run_with(
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
    parallel.status(0);
    // The graph tests ran against the FalkorDB server the xtask started from
    // the wheel, proven to serve both workers at once, and stopped.
    assert!(
        parallel
            .stderr()
            .contains("service `graph`: started on 127.0.0.1:")
            && parallel
                .stderr()
                .contains("ready for 2 simultaneous resp session(s)"),
        "{}",
        parallel.stderr()
    );
    assert!(
        want.iter()
            .filter(|(id, _)| id.contains("test_graph"))
            .count()
            >= 25
    );
    assert!(
        processes_mentioning(&test.path().display().to_string()).is_empty(),
        "a process of the run outlived it"
    );
    assert_eq!(
        outcomes(),
        want,
        "xdist: outcomes differ from the serial run"
    );
    // Coverage combined from both workers (the run met `fail-under` to exit 0).
    let covered = executed(&reports.join("coverage.json"));
    let files = covered.as_object().unwrap();
    assert!(
        files.keys().any(|f| f.ends_with("sbir_etl/pipeline.py")) && files.len() >= 10,
        "{covered}"
    );
    // A serial run without coverage is no baseline for one with it: the
    // report shows a labelled estimate, and how busy each worker was.
    let md = test.read("reports/ci_timings.md");
    assert!(
        md.contains("**Speedup** against an *estimated* serial run")
            && !md.contains("against the serial baseline"),
        "{md}"
    );
    assert!(
        md.contains("## Worker utilization") && md.contains("| gw1 |"),
        "{md}"
    );
    assert!(md.contains("| phase | seconds | share |"), "{md}");

    // Two CI shards from the same durations, two xdist workers in each, merged.
    let test = test.write("reports/durations.json", &durations);
    for index in ["1", "2"] {
        test.run_with(
            &["shard", "--index", index, "--total", "2", "--workers", "2"],
            &workers,
        )
        .status(0);
    }
    let dirs: Vec<String> = ["shard-1", "shard-2"]
        .iter()
        .map(|d| reports.join(d).display().to_string())
        .collect();
    let merge = test.run_args(&["merge", &dirs[0], &dirs[1]]);
    merge.status(0);
    assert!(
        merge
            .stdout()
            .contains(&format!("{0} of {0} collected tests ran", want.len())),
        "{}",
        merge.stdout()
    );
    assert_eq!(
        outcomes(),
        want,
        "ci shards: outcomes differ from the serial run"
    );
}
