//! `cargo xtask merge <dir>…`: bring the shards of one plan back together —
//! one JUnit file, one coverage report (threshold on the merged data), one
//! durations store, and one `ci_timings.md` entry with per-shard times.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::config;
use crate::coverage::{self, CoveragePaths};
use crate::ctx::Ctx;
use crate::durations::{self, Durations};
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx::{self, relative};
use crate::junit;
use crate::python::env;
use crate::report::history::{self, RunRecord};
use crate::report::RunState;
use crate::tasks::shard::{ShardInfo, SHARD_FILE};
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
    let mut shards: Vec<(PathBuf, ShardInfo)> = Vec::new();
    for dir in &args.dirs {
        let dir = if dir.is_absolute() {
            dir.clone()
        } else {
            std::env::current_dir()?.join(dir)
        };
        let file = dir.join(SHARD_FILE);
        let text = std::fs::read_to_string(&file).map_err(|_| {
            UserError::usage(
                format!("`{}` has no {SHARD_FILE}: it is not the reports directory of `cargo xtask shard`", dir.display()),
                "pass the directories the shard jobs uploaded (their `reports/`)",
            )
        })?;
        let info: ShardInfo = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a valid shard description", file.display()))?;
        shards.push((dir, info));
    }
    check_plan(&shards)?;
    shards.sort_by_key(|(_, info)| info.index);

    let reports_dir = ctx.root.join(&config.reports.dir.value);
    let _lock = crate::lock::acquire(&ctx.layout(&config), "merge")?;

    // One event stream, and the count invariant over every shard: each test
    // of the collected suite planned exactly once, and each planned test ran.
    let mut events = Vec::new();
    for (dir, _) in &shards {
        let mut text = std::fs::read(dir.join("events.jsonl")).unwrap_or_default();
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        events.extend(text);
    }
    let mut state =
        RunState::from_events(crate::events::parse_all(&String::from_utf8_lossy(&events)));
    state.expected = Some(
        shards
            .iter()
            .flat_map(|(_, info)| info.planned.iter().cloned())
            .collect(),
    );
    let verdict = verdict::judge(&state, &[], false);
    fsx::atomic_write(&reports_dir.join("events.jsonl"), &events)?;
    let junit_path = reports_dir.join("junit.xml");
    fsx::atomic_write(&junit_path, junit::render(&state, "pytest")?)?;

    // One durations store.
    let store_path = ctx.layout(&config).durations();
    let (mut store, _) = Durations::load(&store_path);
    for (dir, _) in &shards {
        let (theirs, warning) = Durations::load(&dir.join(durations::FILE_NAME));
        if warning.is_none() {
            store.merge(&theirs);
        }
    }
    store.save(&store_path)?;

    // One coverage report, judged on the merged data.
    let cov_paths = CoveragePaths::new(&reports_dir);
    let mut code = verdict.code;
    let mut reason = verdict.reason.clone();
    if let Some((_, bad)) = shards
        .iter()
        .find(|(_, i)| i.exit != 0 && i.exit != ExitCode::Coverage.code())
    {
        if code == ExitCode::Ok {
            code = ExitCode::TestsFailed;
            reason = format!("shard {} exited {}", bad.index, bad.exit);
        }
    }
    let mut coverage_total = None;
    let mut coverage_seconds = 0.0;
    // Per shard: its per-process data files, or its combined file when that is all it kept.
    let data: Vec<(usize, PathBuf)> = shards
        .iter()
        .flat_map(|(dir, info)| {
            let files = CoveragePaths::new(dir).data_files();
            let parts: Vec<PathBuf> = files
                .iter()
                .filter(|f| f.file_name().is_some_and(|n| n != ".coverage"))
                .cloned()
                .collect();
            let chosen = if parts.is_empty() { files } else { parts };
            chosen.into_iter().map(move |f| (info.index as usize, f))
        })
        .collect();
    if !data.is_empty() {
        coverage::clear_stale(&cov_paths)?;
        for (index, file) in &data {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".coverage");
            let suffix = name
                .strip_prefix(".coverage")
                .unwrap_or("")
                .trim_start_matches('.');
            let target = reports_dir.join(format!(
                ".coverage.shard{index}{}{suffix}",
                if suffix.is_empty() { "" } else { "." }
            ));
            std::fs::copy(file, &target)
                .with_context(|| format!("cannot copy `{}`", file.display()))?;
        }
        let env = env::ensure(ctx, &config)?;
        fsx::atomic_write(
            &cov_paths.rcfile,
            coverage::rcfile_text(&config, &ctx.root, &cov_paths),
        )?;
        let result = coverage::combine_and_report(&env.python, &ctx.root, &cov_paths)?;
        print!("{}", result.report);
        coverage_seconds = result.seconds;
        coverage_total = Some(result.total);
        if let Some(message) = coverage::below_threshold(&config, &result) {
            eprintln!("error: {message}");
            if code == ExitCode::Ok {
                code = ExitCode::Coverage;
                reason = message;
            }
        }
    }

    // One history entry and one ci_timings.md, with per-shard times.
    let walls: Vec<f64> = shards.iter().map(|(_, i)| i.wall).collect();
    let slowest = walls.iter().copied().fold(0.0, f64::max);
    let nonempty: Vec<f64> = shards
        .iter()
        .filter(|(_, i)| i.tests > 0)
        .map(|(_, i)| i.wall)
        .collect();
    let mean = nonempty.iter().sum::<f64>() / nonempty.len().max(1) as f64;
    let imbalance = if mean > 0.0 { slowest / mean } else { 1.0 };
    let (commit, branch) = crate::report::history::git_info(&ctx.root);
    let mut record = RunRecord {
        schema: history::SCHEMA,
        kind: history::RecordKind::Run,
        timestamp: crate::report::history::now_utc(),
        commit,
        branch,
        task: "merge".into(),
        engine: history::Execution::CiShards,
        workers: shards.len() as u16,
        dist: None,
        selection: format!("shards:{}", shards[0].1.fingerprint),
        tests: state.done(),
        counts: state.counts(),
        coverage: coverage_total,
        exit: code.code(),
        shards: Some(history::Shards {
            shards: shards
                .iter()
                .map(|(_, i)| history::ShardRun {
                    index: i.index,
                    tests: i.tests,
                    predicted: i.predicted,
                    wall: i.wall,
                    exit: i.exit,
                })
                .collect(),
            imbalance,
        }),
        ..RunRecord::default()
    };
    let merge_seconds = started.elapsed().as_secs_f64() - coverage_seconds;
    record.phases = history::Phases(vec![
        ("slowest shard".into(), slowest),
        ("coverage".into(), coverage_seconds),
        ("reports".into(), merge_seconds.max(0.0)),
    ]);
    record.wall = slowest + started.elapsed().as_secs_f64();
    history::append(&ctx.layout(&config).history(), &record)?;
    let markdown =
        crate::report::timings::write_report(&ctx.layout(&config), &config, &junit_path)?;
    crate::report::timings::append_step_summary(&markdown);
    println!(
        "merge: {} shards, {}: {}; slowest shard {slowest:.1}s, imbalance ×{imbalance:.2}{}; reports in {}",
        shards.len(),
        verdict.ran_line(),
        state.counts().describe(),
        coverage_total.map(|c| format!(", coverage {c:.2}%")).unwrap_or_default(),
        relative(&reports_dir, &ctx.root).display()
    );
    for t in state.failures().take(20) {
        println!("FAILED {}", t.nodeid);
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

/// All shards must come from one plan, and every shard must be there once.
fn check_plan(shards: &[(PathBuf, ShardInfo)]) -> Result<(), UserError> {
    let first = &shards[0].1;
    if let Some((dir, other)) = shards
        .iter()
        .find(|(_, i)| i.fingerprint != first.fingerprint || i.total != first.total)
    {
        return Err(UserError::usage(
            format!(
                "the shards were planned differently: `{}` has plan {} of {}, `{}` has plan {} of {}",
                shards[0].0.display(),
                first.fingerprint,
                first.total,
                dir.display(),
                other.fingerprint,
                other.total
            ),
            "every shard job must restore the same reports/durations.json and collect the same tests before `cargo xtask shard`",
        ));
    }
    let mut seen = vec![false; first.total as usize];
    for (dir, info) in shards {
        let slot = seen.get_mut(info.index as usize).ok_or_else(|| {
            UserError::usage(
                format!(
                    "`{}`: shard index {} is out of range",
                    dir.display(),
                    info.index
                ),
                "pass each shard's reports once",
            )
        })?;
        if *slot {
            return Err(UserError::usage(
                format!(
                    "shard {} is given twice (again in `{}`)",
                    info.index,
                    dir.display()
                ),
                "pass each shard's reports once",
            ));
        }
        *slot = true;
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(UserError::usage(
            format!(
                "shard(s) {} of {} are missing",
                missing.join(", "),
                first.total
            ),
            "pass the reports of every shard job",
        ));
    }
    // The shards' plans must partition the suite they all collected.
    if let Some((dir, other)) = shards.iter().find(|(_, i)| {
        i.collected != first.collected || i.collected_digest != first.collected_digest
    }) {
        return Err(UserError::usage(
            format!(
                "the shards collected different suites: `{}` has {} tests ({}), `{}` has {} ({})",
                shards[0].0.display(),
                first.collected,
                first.collected_digest,
                dir.display(),
                other.collected,
                other.collected_digest
            ),
            "every shard job must check out the same commit and run `cargo xtask shard` with the same arguments",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let twice: Vec<&String> = shards
        .iter()
        .flat_map(|(_, i)| &i.planned)
        .filter(|id| !seen.insert(id.as_str()))
        .collect();
    if !twice.is_empty() || seen.len() != first.collected {
        return Err(UserError::usage(
            format!(
                "the shards' plans do not cover the suite exactly once: {} of {} collected tests planned{}",
                seen.len(),
                first.collected,
                if twice.is_empty() {
                    String::new()
                } else {
                    format!(", {} planned twice (e.g. `{}`)", twice.len(), twice[0])
                }
            ),
            "re-run every shard from the same commit, durations and arguments",
        ));
    }
    Ok(())
}
