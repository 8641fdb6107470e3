//! Duration-aware planning (pure): longest-first onto the least-loaded shard,
//! at test or scope granularity, and a simulation of xdist's dispatch.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

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
        let (secs, _) = store.estimate(id, median);
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

/// Longest-processing-time-first onto the least-loaded shard. Deterministic:
/// ties broken by name, then by shard index. With at least `k` units no shard
/// is empty (the first `k` units go to distinct shards).
pub fn lpt(units: &[Unit], k: usize, collected: &[String]) -> Plan {
    let k = k.max(1);
    let mut sorted: Vec<&Unit> = units.iter().collect();
    sorted.sort_by(|a, b| {
        b.seconds
            .total_cmp(&a.seconds)
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut loads = vec![0.0f64; k];
    let mut assigned: Vec<Vec<&Unit>> = vec![Vec::new(); k];
    for unit in sorted {
        let (idx, _) = loads
            .iter()
            .enumerate()
            .min_by(|(i, a), (j, b)| a.total_cmp(b).then_with(|| i.cmp(j)))
            .unwrap_or((0, &0.0));
        loads[idx] += unit.seconds;
        assigned[idx].push(unit);
    }
    // Each shard runs its tests in collection order (module fixtures stay cheap).
    let position: BTreeMap<&str, usize> = collected
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let shards = assigned
        .into_iter()
        .enumerate()
        .map(|(index, units)| {
            let mut tests: Vec<String> =
                units.iter().flat_map(|u| u.tests.iter().cloned()).collect();
            tests.sort_by_key(|t| position.get(t.as_str()).copied().unwrap_or(usize::MAX));
            Shard {
                index,
                tests,
                predicted: loads[index],
            }
        })
        .collect();
    let total: f64 = units.iter().map(|u| u.seconds).sum();
    let longest = units.iter().map(|u| u.seconds).fold(0.0, f64::max);
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
    let mut hasher = Sha256::new();
    hasher.update(
        serde_json::to_string(&store.tests)
            .unwrap_or_default()
            .as_bytes(),
    );
    for id in collected {
        hasher.update(id.as_bytes());
        hasher.update([0]);
    }
    hasher.update(format!("{k}:{granularity:?}").as_bytes());
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
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

/// Units sorted longest first (the order `pytest-parallel` hands to xdist).
pub fn longest_first(mut units: Vec<Unit>) -> Vec<Unit> {
    units.sort_by(|a, b| {
        b.seconds
            .total_cmp(&a.seconds)
            .then_with(|| a.name.cmp(&b.name))
    });
    units
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for k in 1..=4 {
            let plan = lpt(
                &units(&collected, &d, Granularity::Scope, Dist::Loadscope),
                k,
                &collected,
            );
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
        let a = lpt(
            &units(&collected, &d, Granularity::Test, Dist::Loadscope),
            3,
            &collected,
        );
        let b = lpt(
            &units(&collected, &d, Granularity::Test, Dist::Loadscope),
            3,
            &collected,
        );
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
