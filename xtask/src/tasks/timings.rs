//! `cargo xtask timings`: re-render `reports/ci_timings.md` from the history
//! and the last run's JUnit file, or print them as JSON.

use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::report::history;
use crate::report::timings::{self, TimingsInput};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many recent runs the trend shows (default: `timings.trend`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub last: Option<u32>,
    /// Print the last N history records, the baseline and the alerts as JSON instead.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let trend = args
        .last
        .map_or(config.timings.trend.value as usize, |n| n as usize);
    let history_path = ctx.layout(&config).history();
    let history = history::read(&history_path)?;
    for warning in &history.warnings {
        eprintln!("warning: {warning}");
    }
    let junit_path = ctx.root.join(&config.reports.dir.value).join("junit.xml");
    if args.json {
        let current = timings::current(&history.records);
        let runs: Vec<_> = history.records.iter().rev().take(trend).rev().collect();
        let value = serde_json::json!({
            "history": history_path.display().to_string(),
            "runs_in_history": history.records.len(),
            "runs": runs,
            "baseline": current.and_then(|c| timings::baseline(&history.records, c)),
            "regression": current.and_then(|c| timings::regression(&history.records, c, trend, config.timings.regression.value))
                .map(|(median, ratio)| serde_json::json!({"median_execution": median, "ratio": ratio})),
            "warnings": history.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::Ok);
    }
    let cases = crate::junit::read(&junit_path).unwrap_or_default();
    let markdown = timings::render(&TimingsInput {
        records: &history.records,
        cases: &cases,
        trend,
        regression: config.timings.regression.value,
        warnings: &history.warnings,
    });
    crate::fsx::atomic_write(&ctx.layout(&config).timings_report(), &markdown)?;
    print!("{markdown}");
    Ok(ExitCode::Ok)
}
