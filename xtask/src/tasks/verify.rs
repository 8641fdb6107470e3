//! `cargo xtask verify`: the proof that parallel equals serial. Runs the
//! suite serially and then in parallel with the same selection, all with
//! coverage, and compares per-test outcomes (JUnit) and per-file executed
//! lines and branches (coverage JSON).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::config::{self, Dist, EngineSetting};
use crate::coverage::{self, CoveragePaths, Executed};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::python::argv::ReportPaths;
use crate::python::env;
use crate::report::Outcome;
use crate::run::{self, Recording, RunRequest, SummaryMode};
use crate::signals;
use crate::workers::{self, Task, Workers};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run the parallel side this many times; every repeat must match serial.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Shuffle the test order of every run (pytest-random-order), a new seed per run.
    #[arg(long)]
    pub random_order: bool,
    /// First seed for `--random-order` (default: derived from the clock).
    #[arg(long, requires = "random_order")]
    pub seed: Option<u64>,
    /// Workers for the parallel side: `auto` or 2..=512 (default: PYTEST_WORKERS, then the config).
    #[arg(short = 'n', long, value_name = "N|auto")]
    pub workers: Option<String>,
    /// How the parallel side is executed (default: `parallel.engine`).
    #[arg(long, value_enum)]
    pub engine: Option<EngineSetting>,
    /// pytest-xdist distribution mode for the parallel side.
    #[arg(long, value_enum)]
    pub dist: Option<Dist>,
    /// The same pytest arguments for both sides (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

/// One side of the comparison, as read back from its reports.
struct Side {
    name: String,
    outcomes: BTreeMap<String, Outcome>,
    /// Files that failed to collect.
    collect_errors: BTreeSet<String>,
    executed: Executed,
    code: ExitCode,
    wall: f64,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    signals::install();
    let env_var = std::env::var(workers::ENV_VAR).ok();
    let env_var = env_var.filter(|v| v.trim() != "1");
    let parallel = workers::resolve(
        Task::PytestParallel,
        args.workers.as_deref(),
        env_var.as_deref(),
        &config.parallel,
        &workers::usable_cpus,
    )?;
    if !parallel.is_parallel() {
        return Err(UserError::usage(
            format!("`verify` compares serial with parallel, but the parallel side resolved to {parallel}"),
            "pass `--workers 2` (or more)",
        )
        .into());
    }
    let _lock = crate::lock::acquire(&ctx.layout(&config), "verify")?;
    let env = env::ensure(ctx, &config)?;
    if args.random_order {
        let probe = std::process::Command::new(&env.python)
            .args(["-c", "import random_order"])
            .output()?;
        if !probe.status.success() {
            return Err(UserError::usage(
                "`--random-order` needs the pytest-random-order plugin, which the environment lacks",
                "add `pytest-random-order` to the project's test dependencies (or `setup.packages`)",
            )
            .into());
        }
    }
    let dist = args.dist.unwrap_or(config.parallel.dist.value);
    let base = ctx.root.join(&config.reports.dir.value).join("verify");
    let first_seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 1_000_000)
            .unwrap_or(1)
    });

    let mut sides = Vec::new();
    let mut serial_args = args.pytest_args.clone();
    let mut serial_name = "serial".to_string();
    if args.random_order {
        // Both sides shuffled, each with its own seed: equal results prove no test depends on another.
        serial_args.extend([
            "--random-order".to_string(),
            format!("--random-order-seed={first_seed}"),
        ]);
        serial_name.push_str(&format!(" (random order, seed {first_seed})"));
    }
    let mut plan: Vec<(String, Workers, Vec<String>)> = vec![(
        serial_name,
        Workers::Serial {
            why: "verify".into(),
        },
        serial_args,
    )];
    for i in 0..args.repeat {
        let mut extra = args.pytest_args.clone();
        let mut name = if args.repeat == 1 {
            "parallel".to_string()
        } else {
            format!("parallel #{}", i + 1)
        };
        if args.random_order {
            let seed = first_seed + 1 + u64::from(i);
            extra.extend([
                "--random-order".to_string(),
                format!("--random-order-seed={seed}"),
            ]);
            name.push_str(&format!(" (random order, seed {seed})"));
        }
        plan.push((name, parallel.clone(), extra));
    }
    // The parallel side's engine, chosen once; it never turns serial here.
    let asked = run::choose::Asked {
        engine: args.engine,
        dist,
        order: config.parallel.order,
        coverage: true,
        workers: true,
    };
    let chosen = run::choose::for_run(&ctx.layout(&config), &config, asked, parallel.clone());
    for (i, (name, workers, extra)) in plan.into_iter().enumerate() {
        let dir = base.join(if i == 0 {
            "serial".to_string()
        } else {
            format!("parallel-{i}")
        });
        let reports = ReportPaths::in_dir(dir.clone());
        let req = RunRequest {
            title: format!("verify {name}"),
            workers,
            dist,
            coverage: true,
            extra,
            selection: None,
            order: None,
            echo: false,
            summary: SummaryMode::Brief,
            reports: reports.clone(),
            notes: Vec::new(),
            threshold: true,
            engine: chosen.engine,
            auto_engine: chosen.auto,
            recording: Recording::Full,
            deps: false,
            shadow: None,
        };
        let result = run::run_suite(ctx, &config, &env, &req)?;
        if result.code == ExitCode::Interrupted {
            return Ok(ExitCode::Interrupted);
        }
        let outcomes = result
            .state
            .tests
            .iter()
            .map(|t| (crate::flaky::plain_id(&t.nodeid).to_string(), t.outcome))
            .collect();
        let executed = coverage::read_executed(&CoveragePaths::new(&dir).json)?;
        let collect_errors = result
            .state
            .collect_errors
            .iter()
            .map(|e| e.id.clone())
            .collect();
        sides.push(Side {
            name,
            outcomes,
            collect_errors,
            executed,
            code: result.code,
            wall: result.record.wall,
        });
    }
    let (text, same) = compare(&sides);
    print!("{text}");
    Ok(if same {
        ExitCode::Ok
    } else {
        ExitCode::TestsFailed
    })
}

/// The parity table and the list of differences; `true` when all sides match serial.
fn compare(sides: &[Side]) -> (String, bool) {
    let serial = &sides[0];
    let mut out = String::from("\n── parity ──\n");
    let count_lines = |e: &Executed| e.lines.values().map(BTreeSet::len).sum::<usize>();
    let count_branches = |e: &Executed| e.branches.values().map(BTreeSet::len).sum::<usize>();
    let _ = writeln!(
        out,
        "{:<44} {:>7} {:>9} {:>10} {:>8}  result",
        "run", "tests", "lines", "branches", "wall s"
    );
    let mut all_same = true;
    let mut details = String::new();
    for side in sides {
        let diff_tests = diff_outcomes(&serial.outcomes, &side.outcomes);
        let diff_lines = diff_sets(&serial.executed.lines, &side.executed.lines);
        let diff_branches = diff_sets(&serial.executed.branches, &side.executed.branches);
        let same_errors = side.collect_errors == serial.collect_errors;
        let same = diff_tests.is_empty()
            && diff_lines.is_empty()
            && diff_branches.is_empty()
            && same_errors;
        all_same &= same;
        let verdict = if std::ptr::eq(side, serial) {
            "baseline".to_string()
        } else if same {
            "identical".to_string()
        } else {
            format!(
                "{} test(s), {} file(s) differ",
                diff_tests.len(),
                diff_lines.len().max(diff_branches.len())
            )
        };
        let _ = writeln!(
            out,
            "{:<44} {:>7} {:>9} {:>10} {:>8.1}  {verdict}{}",
            side.name,
            side.outcomes.len(),
            count_lines(&side.executed),
            count_branches(&side.executed),
            side.wall,
            if side.code == ExitCode::Ok {
                ""
            } else {
                " (run failed)"
            }
        );
        if !same_errors {
            let show = |set: &BTreeSet<String>| {
                if set.is_empty() {
                    "none".to_string()
                } else {
                    set.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            };
            let _ = writeln!(
                details,
                "\ncollection errors differ: serial {}; {} {}",
                show(&serial.collect_errors),
                side.name,
                show(&side.collect_errors)
            );
        }
        if !diff_tests.is_empty() {
            let _ = writeln!(
                details,
                "\ntests whose outcome differs ({} vs serial):",
                side.name
            );
            for (test, serial_outcome, other) in diff_tests.iter().take(50) {
                let _ = writeln!(
                    details,
                    "  {test}: serial {serial_outcome}, {} {other}",
                    side.name
                );
            }
        }
        for (kind, diffs) in [("lines", &diff_lines), ("branches", &diff_branches)] {
            if diffs.is_empty() {
                continue;
            }
            let _ = writeln!(
                details,
                "\nfiles whose executed {kind} differ ({} vs serial):",
                side.name
            );
            for (file, only_serial, only_other) in diffs.iter().take(50) {
                let _ = writeln!(
                    details,
                    "  {file}: only serial {only_serial}; only {} {only_other}",
                    side.name
                );
            }
        }
    }
    out.push_str(&details);
    let errors: BTreeSet<&String> = sides.iter().flat_map(|s| &s.collect_errors).collect();
    if !errors.is_empty() {
        let _ = writeln!(
            out,
            "\ncollection errors in {}: every side ran the tests that did collect \
             (serial pytest alone stops at a collection error while xdist continues; the xtask runs both like xdist, \
             with `--continue-on-collection-errors`), and the errors fail every run",
            errors.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{}",
        if all_same {
            "verify: parallel runs match serial exactly (outcomes, lines and branches)"
        } else {
            "verify: parallel differs from serial"
        }
    );
    (out, all_same)
}

fn diff_outcomes(
    a: &BTreeMap<String, Outcome>,
    b: &BTreeMap<String, Outcome>,
) -> Vec<(String, String, String)> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (a.get(k), b.get(k));
            (x != y).then(|| {
                let show = |o: Option<&Outcome>| {
                    o.map_or("absent".to_string(), |o| o.as_str().to_string())
                };
                (k.clone(), show(x), show(y))
            })
        })
        .collect()
}

/// Files whose sets differ, with the first few members only on each side.
fn diff_sets<T: Ord + std::fmt::Debug>(
    a: &BTreeMap<String, BTreeSet<T>>,
    b: &BTreeMap<String, BTreeSet<T>>,
) -> Vec<(String, String, String)> {
    let empty = BTreeSet::new();
    let files: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let first = |items: Vec<&T>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            let shown: Vec<String> = items.iter().take(8).map(|i| format!("{i:?}")).collect();
            let more = if items.len() > 8 {
                format!(" (+{} more)", items.len() - 8)
            } else {
                String::new()
            };
            format!("{}{more}", shown.join(", "))
        }
    };
    files
        .into_iter()
        .filter_map(|f| {
            let (x, y) = (a.get(f).unwrap_or(&empty), b.get(f).unwrap_or(&empty));
            (x != y).then(|| {
                (
                    f.clone(),
                    first(x.difference(y).collect()),
                    first(y.difference(x).collect()),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(name: &str, outcomes: &[(&str, Outcome)], lines: &[(&str, &[u64])]) -> Side {
        let mut executed = Executed::default();
        for (file, ls) in lines {
            executed
                .lines
                .insert(file.to_string(), ls.iter().copied().collect());
        }
        Side {
            name: name.into(),
            outcomes: outcomes.iter().map(|(k, o)| (k.to_string(), *o)).collect(),
            collect_errors: BTreeSet::new(),
            executed,
            code: ExitCode::Ok,
            wall: 1.0,
        }
    }

    #[test]
    fn identical_sides_match() {
        let a = side("serial", &[("t::a", Outcome::Passed)], &[("f.py", &[1, 2])]);
        let b = side(
            "parallel",
            &[("t::a", Outcome::Passed)],
            &[("f.py", &[1, 2])],
        );
        let (text, same) = compare(&[a, b]);
        assert!(same, "{text}");
        assert!(text.contains("identical"));
    }

    #[test]
    fn differences_are_named() {
        let a = side(
            "serial",
            &[("t::a", Outcome::Passed), ("t::b", Outcome::Passed)],
            &[("f.py", &[1, 2, 3])],
        );
        let b = side(
            "parallel",
            &[("t::a", Outcome::Passed), ("t::b", Outcome::Failed)],
            &[("f.py", &[1, 2, 9])],
        );
        let (text, same) = compare(&[a, b]);
        assert!(!same);
        assert!(
            text.contains("t::b: serial passed, parallel failed"),
            "{text}"
        );
        assert!(
            text.contains("f.py: only serial 3; only parallel 9"),
            "{text}"
        );
    }
}
