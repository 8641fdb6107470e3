//! The one-screen summary printed after every run.

use std::fmt::Write;

use crate::exit::ExitCode;
use crate::verdict::{name_some, Verdict};

use super::RunState;

/// What the summary needs besides the events.
pub struct SummaryInput<'a> {
    pub title: &'a str,
    pub state: &'a RunState,
    /// The count invariant's findings.
    pub verdict: &'a Verdict,
    pub workers: String,
    pub notes: Vec<String>,
    pub wall_seconds: f64,
    pub phases: Vec<(&'static str, f64)>,
    pub reports: Vec<String>,
    pub reproduce: String,
    /// The end of pytest's own output, when only it explains the result.
    pub pytest_said: Option<String>,
    pub verdict_code: ExitCode,
    pub verdict_reason: String,
}

/// Renders the summary (plain text; it must read well without colour).
pub fn render(input: &SummaryInput) -> String {
    let mut out = String::new();
    let state = input.state;
    let counts = state.counts();
    let failures: Vec<_> = state.failures().collect();
    if !failures.is_empty() || !state.collect_errors.is_empty() {
        let _ = writeln!(out, "\n── failures ──");
        for error in &state.collect_errors {
            let _ = writeln!(
                out,
                "COLLECTION ERROR {}\n{}",
                error.id,
                indent(&tail(&error.text, 15))
            );
        }
        for t in failures.iter().take(20) {
            let worker = t
                .worker
                .as_deref()
                .map(|w| format!(" [{w}]"))
                .unwrap_or_default();
            let label = if t.crashed {
                "CRASHED"
            } else if t.outcome == super::Outcome::Error {
                "ERROR"
            } else {
                "FAILED"
            };
            let _ = writeln!(out, "{label} {}{worker}", t.nodeid);
            for sub in &t.subtests {
                let _ = writeln!(
                    out,
                    "  SUBTEST {} {}{}",
                    sub.outcome.as_str().to_uppercase(),
                    sub.desc,
                    sub.msg
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
            }
            if let Some(text) = t.longrepr.as_deref().filter(|s| !s.trim().is_empty()) {
                let _ = writeln!(out, "{}", indent(&tail(text, 12)));
            } else if let Some(msg) = &t.message {
                let _ = writeln!(out, "    {msg}");
            }
        }
        if failures.len() > 20 {
            let _ = writeln!(
                out,
                "… and {} more (see the event stream)",
                failures.len() - 20
            );
        }
    }
    let _ = writeln!(out, "\n── {} summary ──", input.title);
    let _ = writeln!(
        out,
        "tests:     {}: {}",
        input.verdict.ran_line(),
        counts.describe()
    );
    if !input.verdict.not_run.is_empty() {
        let _ = writeln!(out, "not run:   {}", name_some(&input.verdict.not_run));
    }
    if !state.collect_errors.is_empty() {
        let _ = writeln!(
            out,
            "           {} collection error(s)",
            state.collect_errors.len()
        );
    }
    let _ = writeln!(out, "workers:   {}", input.workers);
    let phases: Vec<String> = input
        .phases
        .iter()
        .map(|(name, s)| format!("{name} {s:.1}s"))
        .collect();
    let _ = writeln!(
        out,
        "wall time: {:.1}s ({})",
        input.wall_seconds,
        phases.join(", ")
    );
    for note in &input.notes {
        let _ = writeln!(out, "note:      {note}");
    }
    let slowest = state.slowest(5);
    if !slowest.is_empty() {
        let _ = writeln!(out, "slowest:");
        for t in slowest {
            let _ = writeln!(out, "  {:>7.2}s  {}", t.duration, t.nodeid);
        }
    }
    if !input.reports.is_empty() {
        let _ = writeln!(out, "reports:   {}", input.reports.join(", "));
    }
    let _ = writeln!(out, "reproduce: {}", input.reproduce);
    if let Some(said) = &input.pytest_said {
        let _ = writeln!(out, "pytest said:\n{}", indent(said));
    }
    let status = if input.verdict_code == ExitCode::Ok {
        "ok".to_string()
    } else {
        format!(
            "{} (exit {})",
            input.verdict_reason,
            input.verdict_code.code()
        )
    };
    let _ = writeln!(out, "result:    {status}");
    let _ = writeln!(out, "{}", counts.describe());
    out
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
