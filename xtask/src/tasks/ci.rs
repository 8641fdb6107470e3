//! `cargo xtask ci`: the exact pipeline the CI workflow runs, runnable
//! locally with the same result: setup → `gen --check` → the isolation
//! audit → the parallel run with coverage (which writes the timings) →
//! triage when tests failed in parallel (exit 3 above the flakiness threshold).

use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;
use crate::gen::{self, write::Mode};
use crate::python::env;
use crate::report::timings;
use crate::run::{self, Recording, RunRequest, SummaryMode};
use crate::signals;
use crate::workers::{self, Task};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip coverage (default: always measured in CI).
    #[arg(long)]
    pub no_cov: bool,
    /// Run only the tests the change can affect (`--shadow`: run all, and
    /// judge the selection). Every CI run records what each test depends on.
    #[command(flatten)]
    pub change: crate::tasks::select::ChangeArgs,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    signals::install();

    timings::group_start(ctx.github_actions, "setup");
    let env = env::ensure(ctx, &config);
    timings::group_end(ctx.github_actions);
    let env = env?;
    eprintln!("ci: environment ready ({:.1}s)", env.seconds);

    timings::group_start(ctx.github_actions, "gen --check");
    let inputs = gen::Inputs::read(&ctx.root, &config)?;
    let planned = gen::write::plan(&ctx.root, &gen::all(&config, &inputs))?;
    let generated = gen::write::apply(&planned, &ctx.root, Mode::Check, false);
    timings::group_end(ctx.github_actions);
    let generated = generated?;
    if generated != ExitCode::Ok {
        eprintln!("ci: generated files are stale; stopping before the tests");
        return Ok(generated);
    }

    timings::group_start(ctx.github_actions, "audit");
    let audit_args = crate::tasks::audit::Args {
        paths: Vec::new(),
        format: crate::tasks::audit::Format::Text,
        severity: None,
    };
    let audit = crate::tasks::audit::run(&audit_args, ctx);
    timings::group_end(ctx.github_actions);
    let audit = audit?;
    if audit != ExitCode::Ok {
        eprintln!("ci: the isolation audit found problems (see above); running the tests anyway");
    }

    let workers = workers::for_task(Task::PytestParallel, None, &config.parallel)?;
    let asked = run::choose::Asked {
        engine: None,
        dist: config.parallel.dist.value,
        order: config.parallel.order,
        coverage: !args.no_cov,
        workers: false,
    };
    let chosen = run::choose::for_run(&ctx.layout(&config), &config, asked, workers);
    let mut req = RunRequest {
        title: "ci".into(),
        workers: chosen.workers,
        dist: config.parallel.dist.value,
        coverage: !args.no_cov,
        extra: Vec::new(),
        selection: None,
        order: None,
        echo: false,
        summary: SummaryMode::Full,
        reports: ctx.layout(&config).run(),
        notes: chosen.note.into_iter().collect(),
        threshold: true,
        engine: chosen.engine,
        auto_engine: chosen.auto,
        recording: Recording::Full,
        deps: true,
        shadow: None,
    };
    if let Some(code) = args.change.apply(ctx, &config, &env, &mut req)? {
        return Ok(code);
    }
    let result = run::run_suite(ctx, &config, &env, &req)?;
    eprintln!(
        "ci: timings in {}",
        crate::fsx::relative(&ctx.layout(&config).timings_report(), &ctx.root).display()
    );
    if result.code == ExitCode::TestsFailed && req.workers.is_parallel() {
        // Were the failures real, parallel-only or flaky? Re-run them alone to find out.
        timings::group_start(ctx.github_actions, "triage");
        let options = crate::tasks::triage::Options {
            issue: true,
            ..Default::default()
        };
        let outcome = crate::tasks::triage::triage(ctx, &config, &env, &options);
        timings::group_end(ctx.github_actions);
        let outcome = outcome?;
        eprintln!(
            "ci: triage of {} failure(s) among {} tests: flakiness rate {:.1}% ({} issue bodies written)",
            outcome.triaged.len(),
            outcome.tests_run,
            outcome.rate * 100.0,
            outcome.issues.len()
        );
        if let Some(alert) = &outcome.alert {
            eprintln!("ci: {alert}");
        }
        if !outcome.stale_known.is_empty() {
            eprintln!(
                "ci: known-flaky tests that keep passing (consider removing them): {}",
                outcome.stale_known.join(", ")
            );
        }
        if outcome.code == ExitCode::Flaky {
            return Ok(ExitCode::Flaky);
        }
    }
    if result.code == ExitCode::Ok && audit != ExitCode::Ok {
        eprintln!("ci: failing because of the audit findings");
        return Ok(audit);
    }
    Ok(result.code)
}
