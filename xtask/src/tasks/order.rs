//! Longest-first ordering for local parallel runs: the modules, sorted by
//! their recorded total duration, handed to the xtask's plugin, which orders
//! the collected tests by them in every xdist worker (modules without a
//! record first, since nothing says they are short); xdist's own reordering
//! by test count is switched off. The selection never changes.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::durations::{module_of, Durations};

/// The modules longest first, or why the collection order stays.
pub fn longest_first(ctx: &Ctx, config: &Config) -> Result<Vec<String>, String> {
    let (store, warning) = Durations::load(&ctx.layout(config).durations());
    if let Some(w) = warning {
        return Err(format!("{w}; this run records them"));
    }
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for (id, secs) in &store.tests {
        *totals.entry(module_of(id)).or_default() += secs;
    }
    if totals.is_empty() {
        return Err("no recorded durations yet; this run records them".into());
    }
    let mut modules: Vec<(&str, f64)> = totals.into_iter().collect();
    modules.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    Ok(modules.into_iter().map(|(m, _)| m.to_string()).collect())
}
