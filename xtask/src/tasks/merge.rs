//! `cargo xtask merge <dir>…`: bring the shards of one plan back together —
//! one JUnit file, one coverage report (threshold on the merged data), one
//! durations store, and one `ci_timings.md` entry with per-shard times.
//! What merging means lives in [`crate::report::merge`]; this is the order
//! of the steps and what they print.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::config::{self, Config};
use crate::coverage::{self, CoveragePaths};
use crate::ctx::Ctx;
use crate::durations::Durations;
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::junit;
use crate::python::env;
use crate::report::history::{self, RunRecord};
use crate::report::merge::{self, ShardReports};
use crate::verdict;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shards' reports directories (e.g. downloaded CI artifacts).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let config = config::load(&ctx.root)?;
    let shards = merge::load(&args.dirs, &std::env::current_dir()?)?;
    let layout = ctx.layout(&config);
    let reports_dir = layout.dir.clone();
    let _lock = crate::lock::acquire(&layout, "merge")?;

    // One event stream, and the count invariant over every shard: each test
    // of the collected suite planned exactly once, and each planned test ran.
    let (stream, state) = merge::events(&shards);
    let verdict = verdict::judge(&state, &[], false);
    let reports = layout.run();
    fsx::atomic_write(&reports.events, &stream)?;
    fsx::atomic_write(&reports.junit, junit::render(&state, "pytest")?)?;

    let (mut store, _) = Durations::load(&layout.durations());
    merge::durations(&shards, &mut store);
    store.save(&layout.durations())?;
    // The shards' dependency records (`--record-deps`), into the project's.
    let records: Vec<PathBuf> = shards
        .iter()
        .map(|s| s.dir.join(crate::deps::record::FILE_NAME))
        .collect();
    match crate::deps::merge_shards(ctx, &config, &records) {
        Ok(Some(written)) => eprintln!("merge: {}", written.line(&ctx.root)),
        Ok(None) => {}
        Err(err) => eprintln!("warning: the shards' dependency records were not merged: {err:#}"),
    }

    let mut code = verdict.code;
    let mut reason = verdict.reason.clone();
    if let Some(why) = merge::failed_shard(&shards).filter(|_| code == ExitCode::Ok) {
        code = ExitCode::TestsFailed;
        reason = why;
    }
    let coverage = merged_coverage(ctx, &config, &shards, &reports_dir)?;
    if let Some(message) = coverage.as_ref().and_then(|c| c.below.clone()) {
        eprintln!("error: {message}");
        if code == ExitCode::Ok {
            code = ExitCode::Coverage;
            reason = message;
        }
    }

    // One history entry and one ci_timings.md, with per-shard times.
    let (described, slowest) = merge::describe(&shards);
    let imbalance = described.imbalance;
    let coverage_seconds = coverage.as_ref().map_or(0.0, |c| c.seconds);
    let (commit, branch) = history::git_info(&ctx.root);
    let record = RunRecord {
        schema: history::SCHEMA,
        kind: history::RecordKind::Run,
        timestamp: history::now_utc(),
        commit,
        branch,
        task: "merge".into(),
        engine: history::Execution::CiShards,
        workers: shards.len() as u16,
        dist: None,
        selection: format!("shards:{}", shards[0].info.fingerprint),
        tests: state.done(),
        counts: state.counts(),
        coverage: coverage.as_ref().map(|c| c.total),
        cov: coverage.is_some(),
        machine: Some(history::Machine::this()),
        exit: code.code(),
        shards: Some(described),
        phases: history::Phases(vec![
            ("slowest shard".into(), slowest),
            ("coverage".into(), coverage_seconds),
            (
                "reports".into(),
                (started.elapsed().as_secs_f64() - coverage_seconds).max(0.0),
            ),
        ]),
        wall: slowest + started.elapsed().as_secs_f64(),
        ..RunRecord::default()
    };
    history::append(&layout.history(), &record)?;
    let written = crate::report::timings::write_report(&layout, &config, &reports.junit)?;
    crate::report::timings::append_step_summary(&written.markdown);
    for alert in &written.alerts {
        alert.print(ctx.github_actions);
    }
    println!(
        "merge: {} shards, {}: {}; slowest shard {slowest:.1}s, imbalance ×{imbalance:.2}{}; reports in {}",
        shards.len(),
        verdict.ran_line(),
        state.counts().describe(),
        coverage
            .as_ref()
            .map(|c| format!(", coverage {:.2}%", c.total))
            .unwrap_or_default(),
        relative(&reports_dir, &ctx.root).display()
    );
    for t in state.failures().take(20) {
        println!("FAILED {}", t.nodeid);
    }
    if ctx.github_actions {
        crate::report::annotate_failures(&state, &ctx.root);
    }
    println!(
        "result: {}",
        if code == ExitCode::Ok {
            "ok".to_string()
        } else {
            format!("{reason} (exit {})", code.code())
        }
    );
    Ok(code)
}

/// The merged coverage: total, the threshold's verdict, and its seconds.
struct Merged {
    total: f64,
    below: Option<String>,
    seconds: f64,
}

/// Combines every shard's coverage data and reports it; `None` when no
/// shard measured coverage.
fn merged_coverage(
    ctx: &Ctx,
    config: &Config,
    shards: &[ShardReports],
    reports_dir: &std::path::Path,
) -> anyhow::Result<Option<Merged>> {
    let files = merge::coverage_files(shards, reports_dir);
    if files.is_empty() {
        return Ok(None);
    }
    let paths = CoveragePaths::new(reports_dir);
    coverage::clear_stale(&paths)?;
    for (from, to) in &files {
        std::fs::copy(from, to).with_context(|| format!("cannot copy `{}`", from.display()))?;
    }
    let env = env::ensure(ctx, config)?;
    fsx::atomic_write(
        &paths.rcfile,
        coverage::rcfile_text(config, &ctx.root, &paths),
    )?;
    let result = coverage::combine_and_report(&env.python, &ctx.root, &paths)?;
    print!("{}", result.report);
    Ok(Some(Merged {
        total: result.total,
        below: coverage::below_threshold(config, &result),
        seconds: result.seconds,
    }))
}
