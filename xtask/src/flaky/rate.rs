//! The flakiness rate that decides a rollback, and how the tests listed
//! under `[[flaky.known]]` fared.
//!
//! The rate is the parallel-only and flaky tests, less the known ones, over
//! the tests the run ran. Only a parallel run's rate can advise a rollback
//! to serial: an order-dependent failure in a serial run is no reason to
//! stop running in parallel. A known test that passed in each of the last N
//! triages (this one included) is stale: the list can drop it.

use std::collections::BTreeMap;

use super::Class;

/// One triaged test, as far as the rate is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    pub node_id: &'a str,
    pub class: Class,
    /// Listed under `[[flaky.known]]`.
    pub known: bool,
}

/// The rate of one triage, against the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Flaky-class tests that are not known.
    pub counted: usize,
    /// Known tests that were flaky again (not counted).
    pub known_flaky: usize,
    pub tests_run: usize,
    /// counted ÷ tests run (0 when nothing ran).
    pub rate: f64,
    pub threshold: f64,
    /// The triaged run was parallel (else no rollback is advised).
    pub parallel: bool,
    /// Counted tests per class name, for the alert.
    pub by_class: BTreeMap<&'static str, usize>,
}

impl Rate {
    pub fn of(judged: &[Judged], tests_run: usize, threshold: f64, parallel: bool) -> Rate {
        let mut by_class = BTreeMap::new();
        let mut known_flaky = 0;
        let counts = |c: Class| matches!(c, Class::ParallelOnly | Class::Flaky);
        for j in judged.iter().filter(|j| counts(j.class)) {
            if j.known {
                known_flaky += 1;
            } else {
                *by_class.entry(j.class.as_str()).or_default() += 1;
            }
        }
        let counted = by_class.values().sum();
        let rate = if tests_run == 0 {
            0.0
        } else {
            counted as f64 / tests_run as f64
        };
        Rate {
            counted,
            known_flaky,
            tests_run,
            rate,
            threshold,
            parallel,
            by_class,
        }
    }

    /// The alert, when a parallel run's rate is above the threshold.
    pub fn alert(&self) -> Option<String> {
        (self.parallel && self.rate > self.threshold).then(|| {
            let parts: Vec<String> = self
                .by_class
                .iter()
                .map(|(c, n)| format!("{n} {c}"))
                .collect();
            format!(
                "flakiness {} ({} of {} tests: {}) is above `flaky.threshold` {}: roll back to serial (`cargo xtask rollback`)",
                percent(self.rate),
                self.counted,
                self.tests_run,
                parts.join(", "),
                percent(self.threshold)
            )
        })
    }

    /// The line triage ends with.
    pub fn line(&self) -> String {
        format!(
            "flakiness {} ({} parallel-only or flaky of {} tests{}); `flaky.threshold` {}{}",
            percent(self.rate),
            self.counted,
            self.tests_run,
            match self.known_flaky {
                0 => String::new(),
                n => format!(", {n} known flaky not counted"),
            },
            percent(self.threshold),
            if self.parallel {
                ""
            } else {
                "; the run was serial: no rollback is advised (order-dependent failures are fixed, not rolled back)"
            }
        )
    }
}

/// How each `[[flaky.known]]` test fared: its class when it failed,
/// `passed` when it ran and passed, `not run` otherwise.
pub fn known_status(
    known: &[&str],
    judged: &[Judged],
    ran: impl Fn(&str) -> bool,
) -> BTreeMap<String, String> {
    known
        .iter()
        .map(|id| {
            let status = match judged.iter().find(|j| j.node_id == *id) {
                Some(j) => j.class.as_str(),
                None if ran(id) => "passed",
                None => "not run",
            };
            (id.to_string(), status.to_string())
        })
        .collect()
}

/// The known tests that passed now and in each of the `window - 1` triages
/// before (`earlier`: each triage's known statuses, oldest first).
pub fn stale_known(
    now: &BTreeMap<String, String>,
    earlier: &[&BTreeMap<String, String>],
    window: usize,
) -> Vec<String> {
    now.iter()
        .filter(|(id, status)| {
            let before: Vec<&str> = earlier
                .iter()
                .rev()
                .take(window.saturating_sub(1))
                .filter_map(|known| known.get(id.as_str()).map(String::as_str))
                .collect();
            *status == "passed"
                && before.len() + 1 >= window
                && before.iter().all(|s| *s == "passed")
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// `9.5%`, `5%`.
pub fn percent(fraction: f64) -> String {
    let text = format!("{:.1}", fraction * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(id: &str, class: Class, known: bool) -> Judged<'_> {
        Judged {
            node_id: id,
            class,
            known,
        }
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0.05), "5%");
        assert_eq!(percent(2.0 / 21.0), "9.5%");
    }

    #[test]
    fn real_failures_and_known_tests_are_not_counted() {
        let all = [
            judged("a", Class::Real, false),
            judged("b", Class::ParallelOnly, false),
            judged("c", Class::Flaky, true),
            judged("d", Class::OrderDependent, false),
        ];
        let rate = Rate::of(&all, 10, 0.05, true);
        assert_eq!(
            (rate.counted, rate.known_flaky),
            (1, 1),
            "order-dependent is not counted"
        );
        assert!((rate.rate - 0.1).abs() < 1e-12);
        assert_eq!(
            rate.alert().unwrap(),
            "flakiness 10% (1 of 10 tests: 1 parallel-only) is above \
             `flaky.threshold` 5%: roll back to serial (`cargo xtask rollback`)"
        );
        assert_eq!(
            rate.line(),
            "flakiness 10% (1 parallel-only or flaky of 10 tests, 1 known flaky not counted); `flaky.threshold` 5%"
        );
        assert_eq!(
            Rate::of(&all, 20, 0.05, true).alert(),
            None,
            "5% is not above 5%"
        );
        assert_eq!(Rate::of(&[], 0, 0.0, true).rate, 0.0);
        // After a serial run, no rollback, whatever the rate.
        let serial = Rate::of(&all, 10, 0.05, false);
        assert_eq!(serial.alert(), None);
        assert!(serial.line().ends_with(
            "no rollback is advised (order-dependent failures are fixed, not rolled back)"
        ));
    }

    #[test]
    fn known_tests_go_stale_after_passing_in_the_whole_window() {
        let judged_now = [judged("k2", Class::Flaky, true)];
        let now = known_status(&["k1", "k2", "k3"], &judged_now, |id| id != "k3");
        assert_eq!(now["k1"], "passed");
        assert_eq!(now["k2"], "flaky");
        assert_eq!(now["k3"], "not run");

        let passed: BTreeMap<String, String> = [("k1".to_string(), "passed".to_string())].into();
        let failed: BTreeMap<String, String> = [("k1".to_string(), "flaky".to_string())].into();
        assert_eq!(stale_known(&now, &[&passed, &passed], 3), ["k1"]);
        assert!(
            stale_known(&now, &[&passed], 3).is_empty(),
            "too few triages yet"
        );
        assert!(stale_known(&now, &[&failed, &passed, &passed], 4).is_empty());
        assert_eq!(stale_known(&now, &[&failed, &passed, &passed], 3), ["k1"]);
    }
}
