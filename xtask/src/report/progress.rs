//! Live progress on stderr: an indicatif bar on a terminal, plain periodic
//! lines elsewhere (CI logs, pipes, `--no-progress`).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Counts, TestResult};

/// How often plain mode prints a progress line.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_plain: Instant,
    total: Option<usize>,
}

impl Progress {
    pub fn new(interactive: bool, label: &str) -> Progress {
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
        }
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.println(line.as_ref()),
            None => eprintln!("{}", line.as_ref()),
        }
    }

    pub fn set_total(&mut self, total: usize) {
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
        let failed = counts.failed + counts.errors;
        let eta = self.eta(done);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(format!("{failed} failed{eta}"));
            }
            None => {
                if self.last_plain.elapsed() >= PLAIN_EVERY {
                    self.last_plain = Instant::now();
                    let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
                    eprintln!(
                        "[{:>5.0}s] {done}{of} tests done, {failed} failed{eta}",
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }

    fn eta(&self, done: usize) -> String {
        let Some(total) = self.total else {
            return String::new();
        };
        if done == 0 || done >= total {
            return String::new();
        }
        let per_test = self.started.elapsed().as_secs_f64() / done as f64;
        format!(", eta {:.0}s", per_test * (total - done) as f64)
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
