//! The verdict of a run: the count invariant, then the exit code.
//!
//! Every collected test must end with exactly one outcome. A test that never
//! got one (a crash, a lost worker, an interrupted run, a shard that did not
//! start) is named as "not run" and fails the run; zero tests collected is
//! exit 5, never a pass; a collection error fails the run. Only then do
//! failures and pytest's own exit statuses decide.

use crate::exit::ExitCode;
use crate::python::child::PytestExit;
use crate::report::RunState;

/// How many not-run tests a message names before it counts the rest.
const NAMED: usize = 10;

/// What a run ended with, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub code: ExitCode,
    /// One line for the summary's `result:`.
    pub reason: String,
    /// Collected tests without an outcome, in collection order.
    pub not_run: Vec<String>,
    /// How many tests were collected, when any process said so.
    pub collected: Option<usize>,
    /// How many ended with an outcome.
    pub ran: usize,
    /// How many the selection (`-k`, `-m`) left out.
    pub deselected: usize,
}

impl Verdict {
    /// `N of M collected tests ran`.
    pub fn ran_line(&self) -> String {
        let deselected = match self.deselected {
            0 => String::new(),
            n => format!(" ({n} deselected)"),
        };
        match self.collected {
            Some(m) => format!("{} of {m} collected tests ran{deselected}", self.ran),
            None => format!("{} tests ran (pytest reported no collection)", self.ran),
        }
    }
}

/// Names the first few of `ids`, then counts the rest.
pub fn name_some(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(NAMED).map(String::as_str).collect();
    let more = ids.len().saturating_sub(NAMED);
    if more > 0 {
        format!("{} (+{more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Judges a run from its events and its processes' exit statuses.
pub fn judge(state: &RunState, exits: &[PytestExit], interrupted: bool) -> Verdict {
    let not_run: Vec<String> = state.not_run().into_iter().map(str::to_string).collect();
    let collected = state.collected_count();
    let ran = state.done();
    let deselected = state.deselected();
    let verdict = |code, reason: String| Verdict {
        code,
        reason,
        not_run: not_run.clone(),
        collected,
        ran,
        deselected,
    };
    if interrupted {
        return verdict(
            ExitCode::Interrupted,
            format!(
                "interrupted after {ran} of {} collected tests; partial reports kept",
                collected.map_or("?".to_string(), |c| c.to_string())
            ),
        );
    }
    if exits.contains(&PytestExit::Usage) {
        return verdict(
            ExitCode::Usage,
            "pytest rejected its command line (its output is above and in the output log)".into(),
        );
    }
    let Some(count) = collected else {
        return match exits.iter().find(|e| **e != PytestExit::NoTests) {
            None if !exits.is_empty() => verdict(ExitCode::NoTests, "no tests collected".into()),
            _ if state
                .processes
                .iter()
                .any(|p| !p.internal_errors.is_empty()) =>
            {
                verdict(
                    ExitCode::TestsFailed,
                    "pytest hit an internal error before it collected".into(),
                )
            }
            other => verdict(
                ExitCode::TestsFailed,
                format!(
                    "pytest ended ({}) before it reported what it collected (see the output log)",
                    other.map_or("no process".to_string(), ToString::to_string)
                ),
            ),
        };
    };
    let errors = state.collect_errors.len();
    if count == 0 && errors == 0 {
        return verdict(
            ExitCode::NoTests,
            if deselected > 0 {
                format!("no tests selected: the selection deselected all {deselected} collected")
            } else {
                "no tests collected".into()
            },
        );
    }
    let failed = state.failures().count();
    let mut reasons = Vec::new();
    if failed > 0 {
        reasons.push(format!("{failed} test(s) failed"));
    }
    if !not_run.is_empty() {
        reasons.push(format!(
            "{} of {count} collected tests did not run: {}",
            not_run.len(),
            name_some(&not_run)
        ));
    }
    if errors > 0 {
        let files: Vec<String> = state.collect_errors.iter().map(|e| e.id.clone()).collect();
        reasons.push(format!(
            "{errors} collection error(s): {}",
            name_some(&files)
        ));
    }
    if !reasons.is_empty() {
        return verdict(ExitCode::TestsFailed, reasons.join("; "));
    }
    // Every collected test ended and none failed: pytest must agree.
    match exits
        .iter()
        .find(|e| !matches!(e, PytestExit::Passed | PytestExit::NoTests))
    {
        None => verdict(ExitCode::Ok, "passed".into()),
        Some(PytestExit::MaxWarnings) => verdict(
            ExitCode::TestsFailed,
            "too many warnings (--max-warnings)".into(),
        ),
        Some(other) => verdict(
            ExitCode::TestsFailed,
            format!(
                "pytest ended with {other} although every collected test passed (see the output log)"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_all;

    fn state(lines: &[&str]) -> RunState {
        RunState::from_events(parse_all(&lines.join("\n")))
    }

    const START: &str = r#"{"e":"start","v":1}"#;

    #[test]
    fn every_collected_test_ran_and_passed() {
        let s = state(&[
            START,
            r#"{"e":"collected","ids":["a::1","a::2"]}"#,
            r#"{"e":"test","id":"a::1","outcome":"passed"}"#,
            r#"{"e":"test","id":"a::2","outcome":"skipped"}"#,
            r#"{"e":"finish","exit":0}"#,
        ]);
        let v = judge(&s, &[PytestExit::Passed], false);
        assert_eq!(v.code, ExitCode::Ok);
        assert_eq!(v.ran_line(), "2 of 2 collected tests ran");
    }

    #[test]
    fn tests_that_never_ran_fail_the_run_even_when_pytest_says_0() {
        let s = state(&[
            START,
            r#"{"e":"collected","ids":["a::1","a::2","a::3"]}"#,
            r#"{"e":"test","id":"a::1","outcome":"passed"}"#,
        ]);
        let v = judge(&s, &[PytestExit::Passed], false);
        assert_eq!(v.code, ExitCode::TestsFailed);
        assert_eq!(v.not_run, vec!["a::2", "a::3"]);
        assert_eq!(v.reason, "2 of 3 collected tests did not run: a::2, a::3");
        assert_eq!(v.ran_line(), "1 of 3 collected tests ran");
    }

    #[test]
    fn nothing_collected_is_exit_5_and_says_why() {
        let s = state(&[START, r#"{"e":"collected","ids":[],"deselected":4}"#]);
        let v = judge(&s, &[PytestExit::NoTests], false);
        assert_eq!(v.code, ExitCode::NoTests);
        assert!(v.reason.contains("deselected all 4"), "{}", v.reason);
        let v = judge(&RunState::default(), &[PytestExit::NoTests], false);
        assert_eq!(v.code, ExitCode::NoTests);
    }

    #[test]
    fn collection_errors_subtests_and_usage_errors_fail() {
        let s = state(&[
            START,
            r#"{"e":"collect_error","id":"tests/test_bad.py","msg":"ImportError"}"#,
            r#"{"e":"collected","ids":["a::1"]}"#,
            r#"{"e":"test","id":"a::1","outcome":"passed"}"#,
        ]);
        let v = judge(&s, &[PytestExit::Failed], false);
        assert_eq!(v.code, ExitCode::TestsFailed);
        assert_eq!(v.reason, "1 collection error(s): tests/test_bad.py");
        let s = state(&[
            START,
            r#"{"e":"collected","ids":["a::1"]}"#,
            r#"{"e":"subtest","id":"a::1","desc":"(i=2)","outcome":"failed"}"#,
            r#"{"e":"test","id":"a::1","outcome":"failed","sub":{"passed":2,"failed":1}}"#,
        ]);
        assert_eq!(
            judge(&s, &[PytestExit::Failed], false).reason,
            "1 test(s) failed"
        );
        let v = judge(&RunState::default(), &[PytestExit::Usage], false);
        assert_eq!(v.code, ExitCode::Usage);
    }

    #[test]
    fn a_pytest_failure_with_every_test_passed_is_not_green() {
        let s = state(&[
            START,
            r#"{"e":"collected","ids":["a::1"]}"#,
            r#"{"e":"test","id":"a::1","outcome":"passed"}"#,
        ]);
        let v = judge(&s, &[PytestExit::Signal(9)], false);
        assert_eq!(v.code, ExitCode::TestsFailed);
        assert!(v.reason.contains("killed by signal 9"), "{}", v.reason);
        let v = judge(&s, &[PytestExit::Passed], true);
        assert_eq!(v.code, ExitCode::Interrupted);
    }
}
