//! `parallel.engine = "auto"`: the engine a parallel run uses, chosen from
//! the recorded durations and the start-up and per-test costs that earlier
//! runs measured ([`plan::predict`]). Before anything is recorded it is the
//! shards engine, the faster engine on every suite benchmarked. When every
//! parallel way is predicted more than 10% slower than serial (and the
//! serial start-up was measured), the run goes serial and says why, unless
//! the workers were asked for explicitly.

use crate::config::{Config, Dist, Engine, EngineSetting, Granularity, Order};
use crate::durations::Durations;
use crate::plan::{self, Scenario};
use crate::workers::Workers;

/// What a run needs to know to choose.
#[derive(Debug, Clone, Copy)]
pub struct Situation {
    pub setting: EngineSetting,
    pub dist: Dist,
    pub granularity: Granularity,
    /// xdist gets the modules longest first (else in collection order).
    pub longest_first: bool,
    pub coverage: bool,
    /// The workers come from `parallel.workers` alone (no flag, no
    /// `PYTEST_WORKERS`): a predicted loss may make the run serial.
    pub may_go_serial: bool,
}

/// The engine, the workers (serial when parallel is predicted to lose),
/// and the line the summary shows about the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub engine: Engine,
    /// `auto` chose it.
    pub auto: bool,
    pub workers: Workers,
    pub note: Option<String>,
}

/// What the run was asked for, beside `testing.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Asked {
    /// `--engine`.
    pub engine: Option<EngineSetting>,
    pub dist: Dist,
    pub order: Order,
    pub coverage: bool,
    /// `--workers` was given.
    pub workers: bool,
}

/// Chooses for a run of `config`'s project from its recorded durations.
pub fn for_run(
    layout: &crate::layout::Layout,
    config: &Config,
    asked: Asked,
    workers: Workers,
) -> Chosen {
    for_tests(layout, config, asked, workers, None)
}

/// Like [`for_run`], for a run of only the tests `only` (a selection).
pub fn for_tests(
    layout: &crate::layout::Layout,
    config: &Config,
    asked: Asked,
    workers: Workers,
    only: Option<&[String]>,
) -> Chosen {
    let Asked {
        engine: flag,
        dist,
        order,
        coverage,
        workers: workers_asked,
    } = asked;
    let setting = flag.unwrap_or(config.parallel.engine);
    let env_asked = std::env::var(crate::workers::ENV_VAR).is_ok_and(|v| !v.trim().is_empty());
    let situation = Situation {
        setting,
        dist,
        granularity: config.parallel.granularity,
        longest_first: order == Order::LongestFirst
            && matches!(dist, Dist::Loadscope | Dist::Loadfile),
        coverage,
        may_go_serial: !workers_asked && !env_asked,
    };
    // The recorded durations are read only when there is a choice to make.
    let mut store = if setting.fixed().is_none() && workers.is_parallel() {
        Durations::load(&layout.durations()).0
    } else {
        Durations::default()
    };
    if let Some(only) = only {
        let only: std::collections::HashSet<&str> = only.iter().map(String::as_str).collect();
        store.tests.retain(|id, _| only.contains(id.as_str()));
    }
    engine(&store, &situation, workers)
}

pub fn engine(store: &Durations, situation: &Situation, workers: Workers) -> Chosen {
    if let Some(engine) = situation.setting.fixed() {
        return Chosen {
            engine,
            auto: false,
            workers,
            note: None,
        };
    }
    if !workers.is_parallel() {
        return Chosen {
            engine: Engine::Shards,
            auto: true,
            workers,
            note: None,
        };
    }
    let ids: Vec<String> = store.tests.keys().cloned().collect();
    if ids.is_empty() {
        return Chosen {
            engine: Engine::Shards,
            auto: true,
            workers,
            note: Some(
                "engine shards (parallel.engine = auto: no recorded durations to predict from yet; \
                 shards was the faster engine on every suite benchmarked)"
                    .into(),
            ),
        };
    }
    let k = workers.count() as usize;
    let p = plan::predict(
        store,
        &Scenario {
            collected: &ids,
            k,
            dist: situation.dist,
            granularity: situation.granularity,
            coverage: situation.coverage,
        },
    );
    let xdist = if situation.longest_first {
        p.xdist_longest
    } else {
        p.xdist_collection
    };
    let (engine, best, other, other_time) = if p.shards <= xdist {
        (Engine::Shards, p.shards, Engine::Xdist, xdist)
    } else {
        (Engine::Xdist, xdist, Engine::Shards, p.shards)
    };
    let serial_measured = store.overheads(situation.coverage).process.is_some();
    if situation.may_go_serial && serial_measured && p.serial < best * 0.9 {
        let why = format!(
            "parallel.engine = auto: serial is predicted faster for this suite, {:.1}s against {best:.1}s \
             with {engine} on {k} workers; `--engine {engine}` or `--workers {k}` runs in parallel anyway",
            p.serial
        );
        return Chosen {
            engine,
            auto: true,
            workers: Workers::Serial { why },
            note: None,
        };
    }
    Chosen {
        engine,
        auto: true,
        workers,
        note: Some(format!(
            "engine {engine} (parallel.engine = auto): predicted {best:.1}s against {other} {other_time:.1}s \
             and serial {:.1}s, from the recorded durations of {} tests",
            p.serial,
            ids.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durations::RunKind;

    fn situation(setting: EngineSetting, may_go_serial: bool) -> Situation {
        Situation {
            setting,
            dist: Dist::Loadscope,
            granularity: Granularity::Test,
            longest_first: true,
            coverage: false,
            may_go_serial,
        }
    }

    fn two() -> Workers {
        Workers::Parallel {
            n: 2,
            why: "fixture".into(),
        }
    }

    /// 40 tests of `seconds` each in 4 modules, with measured start-ups.
    fn store(seconds: f64, process: f64, shards: f64, xdist: f64) -> Durations {
        let mut d = Durations::default();
        d.record((0..40).map(|i| (format!("t/m{}.py::t{i}", i % 4), seconds)));
        d.record_overhead(RunKind::Serial, false, process, Some(0.001));
        d.record_overhead(RunKind::Xdist, false, xdist, Some(0.002));
        d.record_overhead(RunKind::Shards, false, shards, Some(0.001));
        d
    }

    #[test]
    fn a_fixed_engine_is_kept() {
        let chosen = engine(
            &Durations::default(),
            &situation(EngineSetting::Xdist, true),
            two(),
        );
        assert_eq!((chosen.engine, chosen.note), (Engine::Xdist, None));
    }

    #[test]
    fn nothing_recorded_means_shards() {
        let chosen = engine(
            &Durations::default(),
            &situation(EngineSetting::Auto, true),
            two(),
        );
        assert_eq!(chosen.engine, Engine::Shards);
        assert!(chosen.workers.is_parallel());
        assert!(chosen.note.unwrap().contains("no recorded durations"));
    }

    #[test]
    fn the_faster_engine_is_chosen_and_explained() {
        // A slow xdist start-up: shards wins.
        let chosen = engine(
            &store(0.5, 0.3, 0.4, 3.0),
            &situation(EngineSetting::Auto, true),
            two(),
        );
        assert_eq!(chosen.engine, Engine::Shards);
        let note = chosen.note.unwrap();
        assert!(
            note.starts_with("engine shards (parallel.engine = auto): predicted"),
            "{note}"
        );
        assert!(note.contains("against xdist"), "{note}");
    }

    #[test]
    fn parallel_that_loses_goes_serial_unless_workers_were_asked_for() {
        // Tests of 1 ms: the start-ups of parallel runs cost more than they save.
        let quick = store(0.001, 0.3, 0.6, 1.5);
        let chosen = engine(&quick, &situation(EngineSetting::Auto, true), two());
        assert!(!chosen.workers.is_parallel());
        assert!(
            chosen
                .workers
                .to_string()
                .contains("serial is predicted faster"),
            "{}",
            chosen.workers
        );
        let asked = engine(&quick, &situation(EngineSetting::Auto, false), two());
        assert!(asked.workers.is_parallel());
    }
}
