//! `cargo xtask plan`: the shard plan for K CI jobs, or a prediction of the
//! wall time of K local workers, from the recorded durations.

use std::fmt::Write;

use crate::config::{self, Config};
use crate::ctx::Ctx;
use crate::durations::Durations;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::plan::{self, Granularity, Plan};
use crate::python::collect::{self, Collection};
use crate::python::env;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the plan for this many shards (CI jobs).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=256), conflicts_with = "simulate")]
    pub shards: Option<u16>,
    /// Predict the wall time of this many local workers (with `--simulate`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub workers: Option<u16>,
    /// Simulate local runs: serial, xdist in collection and longest-first order, and concurrent shards.
    #[arg(long, requires = "workers")]
    pub simulate: bool,
    /// Split by test (default) or keep each scope (module or class) whole.
    #[arg(long, value_enum, default_value_t = Granularity::Test)]
    pub granularity: Granularity,
    /// Predict runs with coverage (default: `coverage.enabled`), from the overheads runs with coverage measured.
    #[arg(long, requires = "simulate", overrides_with = "no_cov")]
    pub cov: bool,
    /// Predict runs without coverage, from the overheads runs without it measured.
    #[arg(long, requires = "simulate", overrides_with = "cov")]
    pub no_cov: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// pytest arguments that select the tests (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

/// The collected tests, the durations store and a plan for `k` shards.
pub struct Planned {
    pub collection: Collection,
    pub store: Durations,
    pub plan: Plan,
    pub fingerprint: String,
    pub warning: Option<String>,
}

/// Collects the tests and plans `k` shards.
pub fn make_plan(
    ctx: &Ctx,
    config: &Config,
    python: &std::path::Path,
    k: usize,
    granularity: Granularity,
    extra: &[String],
) -> anyhow::Result<Planned> {
    let (collection, _) = collect::collect_cached(ctx, config, python, extra)?;
    Ok(plan_collection(ctx, config, collection, k, granularity))
}

/// Plans `k` shards of the tests of `collection`.
pub fn plan_collection(
    ctx: &Ctx,
    config: &Config,
    collection: Collection,
    k: usize,
    granularity: Granularity,
) -> Planned {
    let (store, warning) = Durations::load(&ctx.layout(config).durations());
    let plan = plan::balance(
        &collection.ids,
        &store,
        granularity,
        config.parallel.dist.value,
        k,
    );
    let fingerprint = plan::fingerprint(&store, &collection.ids, k, granularity);
    Planned {
        collection,
        store,
        plan,
        fingerprint,
        warning,
    }
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let env = env::ensure(ctx, &config)?;
    if let (Some(k), true) = (args.workers, args.simulate) {
        return simulate(ctx, &config, &env.python, k as usize, args);
    }
    let Some(k) = args.shards else {
        return Err(UserError::usage(
            "`plan` needs `--shards K` or `--workers K --simulate`",
            "e.g. `cargo xtask plan --shards 4`",
        )
        .into());
    };
    let planned = make_plan(
        ctx,
        &config,
        &env.python,
        k as usize,
        args.granularity,
        &args.pytest_args,
    )?;
    if let Some(w) = &planned.warning {
        eprintln!("warning: {w}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"fingerprint": planned.fingerprint, "plan": planned.plan, "ratio": planned.plan.ratio()})
            )?
        );
        return Ok(ExitCode::Ok);
    }
    print!("{}", render(&planned, args.granularity));
    Ok(ExitCode::Ok)
}

fn render(p: &Planned, granularity: Granularity) -> String {
    let mut out = String::new();
    let known = p
        .collection
        .ids
        .iter()
        .filter(|id| p.store.tests.contains_key(*id))
        .count();
    let _ = writeln!(
        out,
        "plan: {} tests in {} shards by {} ({} with recorded durations; others count as the median {:.3}s)",
        p.collection.ids.len(),
        p.plan.shards.len(),
        if granularity == Granularity::Test { "test" } else { "scope" },
        known,
        p.store.median().unwrap_or(1.0)
    );
    let _ = writeln!(out, "{:>6} {:>7} {:>12}", "shard", "tests", "predicted s");
    for s in &p.plan.shards {
        let _ = writeln!(
            out,
            "{:>6} {:>7} {:>12.2}",
            s.index,
            s.tests.len(),
            s.predicted
        );
    }
    let _ = writeln!(
        out,
        "makespan {:.2}s, lower bound {:.2}s (max of total/K and the longest indivisible unit), ratio {:.3}\nfingerprint {}",
        p.plan.makespan,
        p.plan.lower_bound,
        p.plan.ratio(),
        p.fingerprint
    );
    out
}

fn simulate(
    ctx: &Ctx,
    config: &Config,
    python: &std::path::Path,
    k: usize,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let collected = collect::collect_cached(ctx, config, python, &args.pytest_args)?
        .0
        .ids;
    let (store, warning) = Durations::load(&ctx.layout(config).durations());
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let dist = config.parallel.dist.value;
    let coverage = (config.coverage.enabled || args.cov) && !args.no_cov;
    let p = plan::predict(
        &store,
        &plan::Scenario {
            collected: &collected,
            k,
            dist,
            granularity: config.parallel.granularity,
            coverage,
        },
    );
    let measured =
        |v: Option<f64>| v.map_or("assumed".to_string(), |s| format!("measured {s:.2}s"));
    let per_test = |v: Option<f64>| {
        v.map_or("assumed".to_string(), |s| {
            format!("measured {:.2}ms", s * 1000.0)
        })
    };
    let o = store.overheads(coverage);
    println!(
        "simulated wall time for {} tests on {k} workers, {} coverage (from recorded durations and the overheads runs {} coverage measured):",
        collected.len(),
        if coverage { "with" } else { "without" },
        if coverage { "with" } else { "without" },
    );
    println!(
        "  {:<44} {:>8.1}s  (start-up {}; per test {})",
        "serial: one pytest process",
        p.serial,
        measured(o.process),
        per_test(o.per_test)
    );
    println!(
        "  {:<44} {:>8.1}s  (start-up {}; per test {})",
        format!("xdist --dist={dist}, collection order"),
        p.xdist_collection,
        measured(o.xdist),
        per_test(o.xdist_per_test)
    );
    println!(
        "  {:<44} {:>8.1}s",
        format!("xdist --dist={dist}, longest first"),
        p.xdist_longest
    );
    let granularity = config.parallel.granularity;
    println!(
        "  {:<44} {:>8.1}s  (start-up {})",
        format!("shards: {k} pytest processes, by {granularity}"),
        p.shards,
        measured(o.shards.or(o.process))
    );
    let best = [
        ("xdist", p.xdist_longest.min(p.xdist_collection)),
        ("shards", p.shards),
        ("serial", p.serial),
    ]
    .into_iter()
    .min_by(|a, b| a.1.total_cmp(&b.1))
    .unwrap_or(("serial", p.serial));
    println!(
        "fastest predicted: {} ({:.1}s, ×{:.2} against serial)",
        best.0,
        best.1,
        p.serial / best.1.max(1e-9)
    );
    Ok(ExitCode::Ok)
}
