//! How long a run has left, from the recorded durations rather than test
//! counts: one test of ten seconds weighs as much as a hundred of a tenth.
//!
//! The work left is the recorded durations of the tests not yet ended
//! (tests without a record count at the median of those with one); the pace
//! is the elapsed time over the recorded work already done, which absorbs
//! the number of workers and a machine faster or slower than the recording
//! one. The estimate is shown only once a tenth of the work is done, and it
//! keeps counting down between test ends; a test running far past its
//! recorded time is reported as slow while it runs.

use std::collections::{HashMap, HashSet};

/// A test is slow once it runs this many times its recorded duration …
const SLOW_FACTOR: f64 = 3.0;
/// … and at least this many seconds past it.
const SLOW_MARGIN: f64 = 10.0;
/// A test with no record is slow after this many seconds.
const SLOW_UNRECORDED: f64 = 60.0;

#[derive(Debug, Default)]
pub struct Eta {
    recorded: HashMap<String, f64>,
    fallback: f64,
    /// Recorded work of every test of the run, and of those that ended.
    total: f64,
    done: f64,
    ended: HashSet<String>,
    /// When the first test began (seconds on the caller's clock).
    first_begin: Option<f64>,
    /// The estimate at the last test end: (at, seconds left then).
    last: Option<(f64, f64)>,
    /// Tests running now: when each began, and whether it was reported slow.
    running: HashMap<String, (f64, bool)>,
}

impl Eta {
    /// `recorded`: node id → seconds; tests not in it count at the median.
    pub fn new(recorded: HashMap<String, f64>) -> Eta {
        let mut values: Vec<f64> = recorded.values().copied().collect();
        values.sort_by(f64::total_cmp);
        let fallback = values.get(values.len() / 2).copied().unwrap_or(0.0);
        Eta {
            recorded,
            fallback,
            ..Eta::default()
        }
    }

    fn expected(&self, id: &str) -> f64 {
        self.recorded.get(id).copied().unwrap_or(self.fallback)
    }

    /// The tests the run will run, once known.
    pub fn set_tests<'a>(&mut self, ids: impl IntoIterator<Item = &'a String>) {
        self.total = ids.into_iter().map(|id| self.expected(id)).sum();
    }

    pub fn begin(&mut self, id: &str, now: f64) {
        self.first_begin.get_or_insert(now);
        self.running.insert(id.to_string(), (now, false));
    }

    pub fn end(&mut self, id: &str, now: f64) {
        self.running.remove(id);
        if self.ended.insert(id.to_string()) {
            self.done += self.expected(id);
        }
        self.last = self.estimate_at(now).map(|left| (now, left));
    }

    /// The seconds left, estimated at `now` from the work done so far.
    fn estimate_at(&self, now: f64) -> Option<f64> {
        let start = self.first_begin?;
        if self.total <= 0.0 || self.done < self.total * 0.1 || self.done <= 0.0 {
            return None;
        }
        let pace = (now - start) / self.done;
        Some(((self.total - self.done) * pace).max(0.0))
    }

    /// The seconds left at `now`: the last estimate, counting down.
    pub fn left(&self, now: f64) -> Option<f64> {
        let (at, left) = self.last?;
        Some((left - (now - at)).max(0.0))
    }

    /// Tests that have just become slow at `now`: (id, running seconds,
    /// recorded seconds). Each is reported once.
    pub fn newly_slow(&mut self, now: f64) -> Vec<(String, f64, Option<f64>)> {
        let mut slow = Vec::new();
        for (id, (began, reported)) in &mut self.running {
            if *reported {
                continue;
            }
            let running = now - *began;
            let recorded = self.recorded.get(id).copied();
            let limit = match recorded {
                Some(r) => (r * SLOW_FACTOR).max(r + SLOW_MARGIN),
                None => SLOW_UNRECORDED,
            };
            if running > limit {
                *reported = true;
                slow.push((id.clone(), running, recorded));
            }
        }
        slow.sort_by(|a, b| a.0.cmp(&b.0));
        slow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skewed durations: ten tests of 5 s, then ninety of 0.1 s, run
    /// serially as recorded. After a tenth of the tests by count, a
    /// count-based estimate is far off; this one is within 25% (exact here).
    #[test]
    fn the_estimate_follows_recorded_work_not_test_counts() {
        let mut recorded = HashMap::new();
        let mut ids = Vec::new();
        for i in 0..100 {
            let id = format!("t.py::t{i}");
            recorded.insert(id.clone(), if i < 10 { 5.0 } else { 0.1 });
            ids.push(id);
        }
        let total: f64 = recorded.values().sum();
        let mut eta = Eta::new(recorded.clone());
        eta.set_tests(&ids);
        let mut now = 0.0;
        for (i, id) in ids.iter().enumerate() {
            eta.begin(id, now);
            now += recorded[id];
            eta.end(id, now);
            if i + 1 == 10 {
                let real_left = total - now;
                let left = eta.left(now).expect("a tenth of the work is done");
                assert!(
                    (left - real_left).abs() <= real_left * 0.25,
                    "{left} vs {real_left}"
                );
                // A count-based estimate would say 9 × 50 s = 450 s.
                let by_count = now / 10.0 * 90.0;
                assert!((by_count - real_left).abs() > real_left * 0.25);
                // It keeps counting down while the next test runs.
                assert!((eta.left(now + 1.0).unwrap() - (left - 1.0)).abs() < 1e-9);
            }
        }
        assert_eq!(eta.left(now), Some(0.0));
    }

    #[test]
    fn no_estimate_before_a_tenth_of_the_work_and_unrecorded_tests_count_at_the_median() {
        let recorded: HashMap<String, f64> = [
            ("a".to_string(), 1.0),
            ("b".to_string(), 3.0),
            ("c".to_string(), 2.0),
        ]
        .into();
        let mut eta = Eta::new(recorded);
        let ids: Vec<String> = ["a", "b", "c", "new"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        eta.set_tests(&ids);
        assert!(
            (eta.total - 8.0).abs() < 1e-9,
            "new counts at the median, 2 s"
        );
        eta.begin("a", 0.0);
        assert_eq!(eta.left(0.5), None);
        eta.end("a", 1.0);
        assert!(eta.left(1.0).is_some());
    }

    #[test]
    fn a_test_far_past_its_record_is_slow_once() {
        let mut eta = Eta::new([("a".to_string(), 2.0)].into());
        eta.begin("a", 0.0);
        eta.begin("unknown", 0.0);
        assert!(
            eta.newly_slow(11.0).is_empty(),
            "2 s + 10 s margin not passed"
        );
        assert_eq!(
            eta.newly_slow(12.5),
            vec![("a".to_string(), 12.5, Some(2.0))]
        );
        assert!(eta.newly_slow(13.0).is_empty(), "reported once");
        assert_eq!(
            eta.newly_slow(61.0),
            vec![("unknown".to_string(), 61.0, None)]
        );
        eta.end("a", 70.0);
    }
}
