//! Live progress on stderr: an indicatif bar on a terminal, plain periodic
//! lines elsewhere (CI logs, pipes, `--no-progress`), at least every 10 s
//! while tests run. The time left comes from the recorded durations
//! ([`Eta`]), and a test running far past its recorded time is reported as
//! SLOW while it runs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::eta::Eta;
use super::{Counts, TestResult};

/// How often plain mode prints a progress line.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_plain: Instant,
    total: Option<usize>,
    eta: Eta,
    done: usize,
    failed: usize,
}

impl Progress {
    /// `recorded`: each test's recorded seconds, for the time left.
    pub fn new(interactive: bool, label: &str, recorded: HashMap<String, f64>) -> Progress {
        let bar = interactive.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label.to_string());
            bar.set_message("collecting…");
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            last_plain: Instant::now(),
            total: None,
            eta: Eta::new(recorded),
            done: 0,
            failed: 0,
        }
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The tests the run will run, once known: the time left is their
    /// recorded work.
    pub fn set_tests(&mut self, ids: &[String]) {
        self.set_total(ids.len());
        self.eta.set_tests(ids);
    }

    /// A test began.
    pub fn begin(&mut self, id: &str) {
        let now = self.now();
        self.eta.begin(id, now);
    }

    /// Time passes: the estimate counts down, slow tests are reported, and
    /// plain mode prints its line when 10 s passed without one.
    pub fn tick(&mut self) {
        let now = self.now();
        for (id, running, recorded) in self.eta.newly_slow(now) {
            let record = recorded.map_or("no recorded duration".to_string(), |r| {
                format!("recorded {r:.1}s")
            });
            self.println(format!("SLOW {id} running for {running:.0}s ({record})"));
        }
        let eta = self.eta_text();
        match &self.bar {
            Some(bar) => bar.set_message(format!("{} failed{eta}", self.failed)),
            None => self.plain_line(&eta),
        }
    }

    fn eta_text(&self) -> String {
        self.eta
            .left(self.now())
            .map(|left| format!(", about {left:.0}s left"))
            .unwrap_or_default()
    }

    fn plain_line(&mut self, eta: &str) {
        if self.last_plain.elapsed() < PLAIN_EVERY {
            return;
        }
        self.last_plain = Instant::now();
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        eprintln!(
            "[{:>5.0}s] {}{of} tests done, {} failed{eta}",
            self.now(),
            self.done,
            self.failed
        );
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.println(line.as_ref()),
            None => eprintln!("{}", line.as_ref()),
        }
    }

    fn set_total(&mut self, total: usize) {
        if self.total == Some(total) {
            return;
        }
        self.total = Some(total);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        } else {
            eprintln!("collected {total} tests");
        }
    }

    /// Called when a test has finished; prints failures as they happen.
    pub fn test_done(&mut self, test: &TestResult, done: usize, counts: &Counts) {
        if test.outcome.is_failure() {
            let worker = test
                .worker
                .as_deref()
                .map(|w| format!(" [{w}]"))
                .unwrap_or_default();
            let what = if test.crashed {
                "CRASHED"
            } else {
                test.outcome.as_str()
            };
            self.println(format!("{} {}{worker}", what.to_uppercase(), test.nodeid));
        }
        self.done = done;
        self.failed = counts.failed + counts.errors;
        let now = self.now();
        self.eta.end(&test.nodeid, now);
        let eta = self.eta_text();
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(format!("{} failed{eta}", self.failed));
            }
            None => self.plain_line(&eta),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
