//! Duration-aware planning (pure): longest-first onto the least-loaded shard,
//! at test or scope granularity, and a simulation of xdist's dispatch.

use std::collections::BTreeMap;

use crate::hash::Fingerprint;

use crate::config::Dist;
use crate::durations::{self, Durations};

pub use crate::config::Granularity;

/// The scope xdist's `--dist` groups a test into: its class or module for
/// `loadscope`, its file for `loadfile`, the test itself otherwise.
pub fn scope_of(nodeid: &str, dist: Dist) -> String {
    match dist {
        Dist::Loadfile => durations::module_of(nodeid).to_string(),
        Dist::Loadscope | Dist::Loadgroup => {
            // xdist's loadscope: everything before the last `::` (module, or module::Class).
            match nodeid.rsplit_once("::") {
                Some((scope, _)) => scope.to_string(),
                None => nodeid.to_string(),
            }
        }
        Dist::Load | Dist::Worksteal => nodeid.to_string(),
    }
}

/// One indivisible unit of work.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    /// Test ids, in collection order.
    pub tests: Vec<String>,
    pub seconds: f64,
}

/// A test's expected seconds, never zero: tests recorded as taking no time
/// still count, so that they spread instead of piling onto one shard.
fn estimate(store: &Durations, id: &str, median: Option<f64>) -> f64 {
    store.estimate(id, median).0.max(1e-6)
}

/// Groups collected tests into units with their expected durations.
pub fn units(
    collected: &[String],
    store: &Durations,
    granularity: Granularity,
    dist: Dist,
) -> Vec<Unit> {
    let median = store.median();
    let mut order: Vec<String> = Vec::new();
    let mut by_name: BTreeMap<String, Unit> = BTreeMap::new();
    for id in collected {
        let name = match granularity {
            Granularity::Test => id.clone(),
            Granularity::Scope => scope_of(id, dist),
        };
        let secs = estimate(store, id, median);
        let unit = by_name.entry(name.clone()).or_insert_with(|| {
            order.push(name.clone());
            Unit {
                name,
                tests: Vec::new(),
                seconds: 0.0,
            }
        });
        unit.tests.push(id.clone());
        unit.seconds += secs;
    }
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Shard {
    pub index: usize,
    /// Test ids in collection order.
    pub tests: Vec<String>,
    pub predicted: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub shards: Vec<Shard>,
    pub makespan: f64,
    /// max(total / K, longest indivisible unit): no plan can beat it.
    pub lower_bound: f64,
    pub total: f64,
}

impl Plan {
    pub fn ratio(&self) -> f64 {
        if self.lower_bound > 0.0 {
            self.makespan / self.lower_bound
        } else {
            1.0
        }
    }
}

/// The planner every sharded run uses: CI shards (`cargo xtask shard`), the
/// shards engine, and `plan`.
///
/// - `Scope`: whole scopes (module, or class under `loadscope`), longest
///   first onto the least-loaded shard ([`lpt`]); nothing is split.
/// - `Test`: the same with whole modules while a module fits in the balanced
///   share (total / K) of the least-loaded shard; the modules that fit
///   nowhere are then poured, tests in collection order, into the shards'
///   remaining room ([`lpt_split`]). Balance is as good as splitting every
///   module (within one test), yet only a few modules are split, so each
///   process imports and sets up about 1/K of the modules instead of all of
///   them.
pub fn balance(
    collected: &[String],
    store: &Durations,
    granularity: Granularity,
    dist: Dist,
    k: usize,
) -> Plan {
    match granularity {
        Granularity::Scope => lpt(
            &units(collected, store, Granularity::Scope, dist),
            k,
            collected,
        ),
        Granularity::Test => lpt_split(collected, store, k),
    }
}

/// Longest-processing-time-first onto the least-loaded shard. Deterministic:
/// ties broken by name, then by shard index. With at least `k` units no shard
/// is empty (the first `k` units go to distinct shards).
pub fn lpt(units: &[Unit], k: usize, collected: &[String]) -> Plan {
    let k = k.max(1);
    let mut loads = vec![0.0f64; k];
    let mut assigned: Vec<Vec<String>> = vec![Vec::new(); k];
    for unit in by_length(units.iter().collect()) {
        let idx = least_loaded(&loads);
        loads[idx] += unit.seconds;
        assigned[idx].extend(unit.tests.iter().cloned());
    }
    let longest = units.iter().map(|u| u.seconds).fold(0.0, f64::max);
    finish(assigned, loads, longest, collected)
}

/// Test granularity: whole modules longest first while they fit in the
/// balanced share of the least-loaded shard, then the modules that did not
/// fit, poured test by test (collection order) into the room that is left,
/// the roomiest shard first. A poured module stays on one shard until that
/// shard is full, so at most a few modules end up split.
pub fn lpt_split(collected: &[String], store: &Durations, k: usize) -> Plan {
    let k = k.max(1);
    let median = store.median();
    let mut modules = units(collected, store, Granularity::Scope, Dist::Loadfile);
    let seconds: BTreeMap<&str, f64> = collected
        .iter()
        .map(|id| (id.as_str(), estimate(store, id, median)))
        .collect();
    let total: f64 = modules.iter().map(|u| u.seconds).sum();
    let share = total / k as f64;
    // Rounding slack, so that a module which fills a shard exactly still fits.
    let slack = share * 1e-9;
    let mut loads = vec![0.0f64; k];
    let mut assigned: Vec<Vec<String>> = vec![Vec::new(); k];
    let mut overflow = Vec::new();
    for unit in by_length(modules.iter().collect()) {
        let idx = least_loaded(&loads);
        if loads[idx] + unit.seconds <= share + slack || unit.tests.len() == 1 {
            loads[idx] += unit.seconds;
            assigned[idx].extend(unit.tests.iter().cloned());
        } else {
            overflow.push(unit.name.clone());
        }
    }
    let mut current: Option<usize> = None;
    for name in overflow {
        let Some(pos) = modules.iter().position(|u| u.name == name) else {
            continue;
        };
        let unit = modules.swap_remove(pos);
        for test in unit.tests {
            let secs = seconds.get(test.as_str()).copied().unwrap_or(0.0);
            // Stay on the current shard while this test brings it closer to
            // its share; otherwise move to the roomiest shard.
            let idx = match current {
                Some(c) if loads[c] + secs / 2.0 <= share + slack => c,
                _ => least_loaded(&loads),
            };
            current = Some(idx);
            loads[idx] += secs;
            assigned[idx].push(test);
        }
    }
    let longest = seconds.values().copied().fold(0.0, f64::max);
    finish(assigned, loads, longest, collected)
}

/// Units sorted longest first, ties by name.
fn by_length(mut units: Vec<&Unit>) -> Vec<&Unit> {
    units.sort_by(|a, b| longer_first(a, b));
    units
}

/// The least-loaded shard, the lowest index on ties.
fn least_loaded(loads: &[f64]) -> usize {
    loads
        .iter()
        .enumerate()
        .min_by(|(i, a), (j, b)| a.total_cmp(b).then_with(|| i.cmp(j)))
        .map_or(0, |(i, _)| i)
}

/// Each shard runs its tests in collection order (module fixtures stay cheap).
fn finish(assigned: Vec<Vec<String>>, loads: Vec<f64>, longest: f64, collected: &[String]) -> Plan {
    let position: BTreeMap<&str, usize> = collected
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let total: f64 = loads.iter().sum();
    let k = loads.len().max(1);
    let shards = assigned
        .into_iter()
        .enumerate()
        .map(|(index, mut tests)| {
            tests.sort_by_key(|t| position.get(t.as_str()).copied().unwrap_or(usize::MAX));
            Shard {
                index,
                tests,
                predicted: loads[index],
            }
        })
        .collect();
    Plan {
        shards,
        makespan: loads.iter().copied().fold(0.0, f64::max),
        lower_bound: (total / k as f64).max(longest),
        total,
    }
}

/// The fingerprint every shard of one plan shares: the durations it was
/// computed from, the collected tests, the shard count and the granularity.
pub fn fingerprint(
    store: &Durations,
    collected: &[String],
    k: usize,
    granularity: Granularity,
) -> String {
    let mut hasher = Fingerprint::new();
    hasher.bytes(serde_json::to_string(&store.tests).unwrap_or_default());
    for id in collected {
        hasher.field(id);
    }
    hasher.bytes(format!("{k}:{granularity:?}")).hex(8)
}

/// Predicted wall time of an xdist run: every worker pays `startup`, then
/// takes the next unit in dispatch order whenever it is free.
pub fn simulate_dispatch(units: &[Unit], workers: usize, startup: f64, per_test: f64) -> f64 {
    let workers = workers.max(1);
    let mut free_at = vec![startup; workers];
    for unit in units {
        let (idx, _) = free_at
            .iter()
            .enumerate()
            .min_by(|(i, a), (j, b)| a.total_cmp(b).then_with(|| i.cmp(j)))
            .unwrap_or((0, &0.0));
        free_at[idx] += unit.seconds + per_test * unit.tests.len() as f64;
    }
    free_at.into_iter().fold(0.0, f64::max)
}

/// A plain pytest process's start-up until its first test, when no run has measured it.
pub const ASSUMED_PROCESS: f64 = 1.5;
/// What xdist adds to that start-up (controller, workers, collection in each).
pub const ASSUMED_XDIST_EXTRA: f64 = 1.5;
/// A plain pytest process's own time per test, when not measured.
pub const ASSUMED_PER_TEST: f64 = 0.0005;
/// What an xdist worker adds per test (controller round trips), when not measured.
pub const ASSUMED_XDIST_EXTRA_PER_TEST: f64 = 0.002;

/// Predicted wall times for the ways to run the suite on `k` local workers,
/// from the recorded durations and the overheads measured by earlier runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub serial: f64,
    pub xdist_collection: f64,
    pub xdist_longest: f64,
    pub shards: f64,
}

/// The local run being predicted: these tests on `k` workers, with or
/// without coverage (whose overheads are kept apart).
#[derive(Debug, Clone, Copy)]
pub struct Scenario<'a> {
    pub collected: &'a [String],
    pub k: usize,
    pub dist: Dist,
    pub granularity: Granularity,
    pub coverage: bool,
}

/// Overheads are those measured in the same mode (`coverage` or not).
pub fn predict(store: &Durations, run: &Scenario) -> Prediction {
    let Scenario {
        collected,
        k,
        dist,
        granularity,
        coverage,
    } = *run;
    let o = store.overheads(coverage);
    let process = o.process.or(o.shards).unwrap_or(ASSUMED_PROCESS);
    let xdist = o.xdist.unwrap_or(process + ASSUMED_XDIST_EXTRA);
    let shards_start = o.shards.unwrap_or(process);
    let per_test = o.per_test.unwrap_or(ASSUMED_PER_TEST);
    let xdist_per_test = o
        .xdist_per_test
        .unwrap_or(per_test + ASSUMED_XDIST_EXTRA_PER_TEST);
    let scopes = units(collected, store, Granularity::Scope, dist);
    let total: f64 = scopes.iter().map(|u| u.seconds).sum();
    let shards = balance(collected, store, granularity, dist, k)
        .shards
        .iter()
        .map(|s| s.predicted + per_test * s.tests.len() as f64)
        .fold(0.0, f64::max);
    Prediction {
        serial: process + total + per_test * collected.len() as f64,
        xdist_collection: simulate_dispatch(&scopes, k, xdist, xdist_per_test),
        xdist_longest: simulate_dispatch(&longest_first(scopes.clone()), k, xdist, xdist_per_test),
        shards: shards_start + shards,
    }
}

/// A way to run the suite locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Serial,
    XdistCollection,
    XdistLongest,
    Shards,
}

impl Prediction {
    pub fn of(&self, way: Way) -> f64 {
        match way {
            Way::Serial => self.serial,
            Way::XdistCollection => self.xdist_collection,
            Way::XdistLongest => self.xdist_longest,
            Way::Shards => self.shards,
        }
    }
}

/// The way predicted to beat `used` by more than 10%, with its prediction
/// and `used`'s: serial, or the other engine in the same order. Only ways
/// whose start-up an earlier run has measured in the same mode (`coverage`
/// or not) are proposed, so that an assumed figure, or one measured with
/// coverage against one without, never drives the advice.
pub fn recommend(store: &Durations, run: &Scenario, used: Way) -> Option<(Way, f64, f64)> {
    let p = predict(store, run);
    let o = store.overheads(run.coverage);
    let mut options = Vec::new();
    if o.process.is_some() {
        options.push(Way::Serial);
    }
    match used {
        Way::Shards if o.xdist.is_some() => options.push(Way::XdistLongest),
        Way::XdistCollection | Way::XdistLongest if o.shards.is_some() => options.push(Way::Shards),
        _ => {}
    }
    let current = p.of(used);
    options
        .into_iter()
        .map(|w| (w, p.of(w)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, t)| *t < current * 0.9)
        .map(|(w, t)| (w, t, current))
}

/// Units sorted longest first (the order `pytest-parallel` hands to xdist).
pub fn longest_first(mut units: Vec<Unit>) -> Vec<Unit> {
    units.sort_by(longer_first);
    units
}

fn longer_first(a: &Unit, b: &Unit) -> std::cmp::Ordering {
    b.seconds
        .total_cmp(&a.seconds)
        .then_with(|| a.name.cmp(&b.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durations::RunKind;

    fn store(pairs: &[(&str, f64)]) -> Durations {
        let mut d = Durations::default();
        d.record(pairs.iter().map(|(k, v)| (k.to_string(), *v)));
        d
    }

    #[test]
    fn scopes_follow_dist() {
        assert_eq!(
            scope_of("t/a.py::TestX::test_y", Dist::Loadscope),
            "t/a.py::TestX"
        );
        assert_eq!(scope_of("t/a.py::test_y", Dist::Loadscope), "t/a.py");
        assert_eq!(scope_of("t/a.py::TestX::test_y", Dist::Loadfile), "t/a.py");
        assert_eq!(scope_of("t/a.py::test_y", Dist::Load), "t/a.py::test_y");
    }

    #[test]
    fn every_test_lands_in_exactly_one_shard_and_none_is_empty() {
        let collected: Vec<String> = (0..10).map(|i| format!("t/m{}.py::t{i}", i % 4)).collect();
        let d = store(&[("t/m0.py::t0", 5.0), ("t/m1.py::t1", 1.0)]);
        for (k, granularity) in
            (1..=4).flat_map(|k| [(k, Granularity::Scope), (k, Granularity::Test)])
        {
            let plan = balance(&collected, &d, granularity, Dist::Loadscope, k);
            let mut all: Vec<String> = plan.shards.iter().flat_map(|s| s.tests.clone()).collect();
            all.sort();
            let mut expected = collected.clone();
            expected.sort();
            assert_eq!(all, expected);
            assert!(
                plan.shards.iter().all(|s| !s.tests.is_empty()),
                "k={k}: {plan:?}"
            );
            assert!(plan.makespan >= plan.lower_bound - 1e-9);
        }
    }

    #[test]
    fn plans_are_deterministic_and_fingerprinted() {
        let collected: Vec<String> = (0..50).map(|i| format!("t/m{}.py::t{i}", i % 7)).collect();
        let d = store(&[("t/m0.py::t0", 3.0)]);
        let a = balance(&collected, &d, Granularity::Test, Dist::Loadscope, 3);
        let b = balance(&collected, &d, Granularity::Test, Dist::Loadscope, 3);
        assert_eq!(a, b);
        assert_eq!(
            fingerprint(&d, &collected, 3, Granularity::Test),
            fingerprint(&d, &collected, 3, Granularity::Test)
        );
        assert_ne!(
            fingerprint(&d, &collected, 3, Granularity::Test),
            fingerprint(&store(&[]), &collected, 3, Granularity::Test)
        );
    }

    /// `modules` × `per` tests of `secs` each, named `t/m<i>.py::t<j>`.
    fn suite(
        modules: usize,
        per: usize,
        secs: impl Fn(usize, usize) -> f64,
    ) -> (Vec<String>, Durations) {
        let mut ids = Vec::new();
        let mut pairs = Vec::new();
        for m in 0..modules {
            for t in 0..per {
                let id = format!("t/m{m}.py::t{t}");
                pairs.push((id.clone(), secs(m, t)));
                ids.push(id);
            }
        }
        let mut d = Durations::default();
        d.record(pairs);
        (ids, d)
    }

    fn split_modules(plan: &Plan) -> usize {
        let mut shards_of: BTreeMap<&str, std::collections::BTreeSet<usize>> = BTreeMap::new();
        for shard in &plan.shards {
            for t in &shard.tests {
                shards_of
                    .entry(durations::module_of(t))
                    .or_default()
                    .insert(shard.index);
            }
        }
        shards_of.values().filter(|s| s.len() > 1).count()
    }

    #[test]
    fn test_granularity_balances_within_one_test_and_splits_few_modules() {
        let (ids, d) = suite(10, 10, |_, _| 1.0);
        for k in 2..=4 {
            let plan = balance(&ids, &d, Granularity::Test, Dist::Loadscope, k);
            let mut all: Vec<String> = plan.shards.iter().flat_map(|s| s.tests.clone()).collect();
            all.sort();
            let mut expected = ids.clone();
            expected.sort();
            assert_eq!(all, expected, "k={k}");
            assert!(
                plan.makespan <= plan.total / k as f64 + 1.0 + 1e-9,
                "k={k}: {plan:?}"
            );
            assert!(
                split_modules(&plan) < k,
                "k={k}: {} split",
                split_modules(&plan)
            );
            for shard in &plan.shards {
                let mut sorted = shard.tests.clone();
                sorted.sort_by_key(|t| ids.iter().position(|i| i == t));
                assert_eq!(shard.tests, sorted, "collection order within a shard");
            }
        }
    }

    #[test]
    fn a_module_heavier_than_a_share_is_split_and_others_stay_whole() {
        // One module holds more than half of the time: whole modules cannot balance.
        let (ids, d) = suite(6, 20, |m, _| if m == 0 { 0.6 } else { 0.1 });
        let plan = balance(&ids, &d, Granularity::Test, Dist::Loadscope, 2);
        assert!((plan.total - 22.0).abs() < 1e-9);
        assert!(plan.makespan <= 11.0 + 0.6 + 1e-9, "{plan:?}");
        assert_eq!(split_modules(&plan), 1, "{plan:?}");
        let scope = balance(&ids, &d, Granularity::Scope, Dist::Loadscope, 2);
        assert!(
            scope.makespan >= 12.0 - 1e-9,
            "scopes stay whole: {scope:?}"
        );
        assert_eq!(split_modules(&scope), 0);
    }

    #[test]
    fn with_no_history_test_counts_balance() {
        let ids: Vec<String> = (0..9).map(|i| format!("t/m{}.py::t{i}", i % 2)).collect();
        let plan = balance(
            &ids,
            &Durations::default(),
            Granularity::Test,
            Dist::Loadscope,
            3,
        );
        let counts: Vec<usize> = plan.shards.iter().map(|s| s.tests.len()).collect();
        assert_eq!(counts.iter().sum::<usize>(), 9);
        assert!(counts.iter().all(|&c| c == 3), "{counts:?}");
    }

    #[test]
    fn the_faster_measured_engine_is_recommended_past_ten_percent() {
        // 200 tests of 10 ms in 10 modules: xdist pays 2 ms per test and a slow start.
        let (ids, mut d) = suite(10, 20, |_, _| 0.01);
        let advice = |d: &Durations, coverage: bool, used: Way| {
            let run = Scenario {
                collected: &ids,
                k: 2,
                dist: Dist::Loadscope,
                granularity: Granularity::Test,
                coverage,
            };
            recommend(d, &run, used)
        };
        assert_eq!(
            advice(&d, false, Way::XdistLongest),
            None,
            "nothing measured, nothing proposed"
        );
        d.record_overhead(RunKind::Xdist, false, 3.0, Some(0.003));
        d.record_overhead(RunKind::Shards, false, 0.5, Some(0.0005));
        let (way, predicted, current) =
            advice(&d, false, Way::XdistLongest).expect("shards predicted faster");
        assert_eq!(way, Way::Shards);
        assert!(predicted < current * 0.9, "{predicted} vs {current}");
        assert_eq!(
            advice(&d, true, Way::XdistLongest),
            None,
            "figures measured without coverage never advise a run with coverage"
        );
        assert_eq!(
            advice(&d, false, Way::Shards),
            None,
            "shards is already the fastest measured way"
        );
        // A cheap serial start against slow concurrent starts: serial wins so small a suite.
        d.overhead.process = Some(0.2);
        d.overhead.shards = Some(2.0);
        let (way, _, _) = advice(&d, false, Way::Shards).expect("serial predicted faster");
        assert_eq!(way, Way::Serial);
        // With coverage, only what runs with coverage measured counts.
        d.record_overhead(RunKind::Xdist, true, 3.5, Some(0.004));
        d.record_overhead(RunKind::Shards, true, 0.8, Some(0.001));
        assert_eq!(d.overheads(true).shards, Some(0.8));
        assert_eq!(d.overheads(false).shards, Some(2.0));
        let (way, _, _) = advice(&d, true, Way::XdistLongest).expect("shards faster with coverage");
        assert_eq!(way, Way::Shards);
    }

    #[test]
    fn dispatch_simulation_counts_startup() {
        let us = vec![
            Unit {
                name: "a".into(),
                tests: vec!["a".into()],
                seconds: 4.0,
            },
            Unit {
                name: "b".into(),
                tests: vec!["b".into()],
                seconds: 2.0,
            },
            Unit {
                name: "c".into(),
                tests: vec!["c".into()],
                seconds: 2.0,
            },
        ];
        assert_eq!(simulate_dispatch(&us, 2, 1.0, 0.0), 5.0);
        assert_eq!(simulate_dispatch(&us, 1, 1.0, 0.0), 9.0);
    }
}
