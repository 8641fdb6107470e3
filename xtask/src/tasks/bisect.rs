//! `cargo xtask bisect <node id>`: names the test that, run earlier in the
//! same process, makes a test fail ([`crate::flaky::bisect`]).

use crate::config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::flaky::bisect::{
    bisect, describe, predecessors, run_bound, search, serial_predecessors, Bisected, Culprit,
};
use crate::flaky::{find, last_run, not_found, plain_id, rootdir};
use crate::python::env;
use crate::signals;

/// Exit codes: 0 when the polluter is found (or, for a test that fails
/// alone, the earlier test of the serial order it needs to pass); 1 when the failure is not
/// pollution by an earlier test in its process (it fails alone, it does not
/// fail again after its predecessors, or nothing ran before it); 2 when the
/// test is not in the last run's events or did not fail there.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 polluter found (or, for a test that fails alone, the earlier test it needs); 1 not caused by an earlier test in its \
    process (fails alone, does not reproduce, or ran first); 2 the test is not in the last \
    run's events, or did not fail there."
)]
pub struct Args {
    /// The failing test, as in the last run's events (e.g. `tests/test_x.py::test_y`).
    #[arg(value_name = "NODE_ID")]
    pub node_id: String,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let _lock = crate::lock::acquire(&ctx.layout(&config), "bisect")?;
    signals::install();
    let (state, log) = last_run(ctx, &config)?;
    let Some(test) = find(&state, args.node_id.trim()) else {
        return Err(not_found(&state, args.node_id.trim(), &log, &ctx.root).into());
    };
    let target = plain_id(&test.nodeid).to_string();
    let place = match &test.worker {
        Some(worker) => format!("on {worker}"),
        None => "in the serial run".to_string(),
    };
    if !test.outcome.is_failure() {
        return Err(UserError::usage(
            format!(
                "`{target}` did not fail in the last run ({} {place}): nothing to bisect",
                test.outcome.as_str()
            ),
            "bisect a test that failed; `cargo xtask triage` lists the last run's failures",
        )
        .into());
    }
    let suspects = predecessors(&state, test);
    let env = env::ensure(ctx, &config)?;
    println!(
        "bisect: `{target}` failed {place} after {} other test(s); bisecting them (at most {} pytest runs: ⌈log₂ {}⌉ + 2)",
        suspects.len(),
        run_bound(suspects.len()),
        suspects.len()
    );
    let result = bisect(
        ctx,
        &config,
        &env,
        &target,
        &suspects,
        &rootdir(ctx, &state),
    )?;
    // Failing alone, or first in its process, it may need an earlier test
    // of the serial order instead: look for that one before concluding.
    let before = serial_predecessors(&state, &target);
    let result = match result {
        Bisected::FailsAlone { .. } | Bisected::RanFirst if !before.is_empty() => {
            println!(
                "bisect: looking among the {} test(s) before it in serial order for one it needs to run first (at most {} pytest runs)",
                before.len(),
                run_bound(before.len())
            );
            match search(
                ctx,
                &config,
                &env,
                (&target, Culprit::Setter),
                &before,
                &rootdir(ctx, &state),
            )? {
                found @ Bisected::Found(_) => {
                    print!(
                        "{}",
                        describe(&target, "in serial order", before.len(), &found)
                    );
                    return Ok(ExitCode::Ok);
                }
                _ => result,
            }
        }
        other => other,
    };
    print!("{}", describe(&target, &place, suspects.len(), &result));
    Ok(match result {
        Bisected::Found(_) => ExitCode::Ok,
        _ => ExitCode::TestsFailed,
    })
}
