//! `cargo xtask bisect <node id>`: names the test that, run earlier in the
//! same process, makes a test fail ([`crate::flaky::bisect`]).

use crate::config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::flaky::bisect::{bisect, describe, predecessors, run_bound, Bisected};
use crate::flaky::{find, last_run, not_found, plain_id, rootdir};
use crate::python::env;
use crate::signals;

/// Exit codes: 0 when the polluter is found; 1 when the failure is not
/// pollution by an earlier test in its process (it fails alone, it does not
/// fail again after its predecessors, or nothing ran before it); 2 when the
/// test is not in the last run's events or did not fail there.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 polluter found; 1 not caused by an earlier test in its \
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
    print!("{}", describe(&target, &place, suspects.len(), &result));
    Ok(match result {
        Bisected::Found(_) => ExitCode::Ok,
        _ => ExitCode::TestsFailed,
    })
}
