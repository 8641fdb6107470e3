//! `cargo xtask audit`: the isolation audit of the test code, reported as
//! text, JSON or SARIF; exit 1 when findings at or above the configured
//! severity remain.

use crate::audit::{self, render, Rule, Severity};
use crate::config;
use crate::ctx::Ctx;
use crate::exit::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = rules_help())]
pub struct Args {
    /// Files or directories to audit, relative to the project root
    /// (default: `[audit] paths`, else `project.test-paths`).
    #[arg(value_name = "PATHS")]
    pub paths: Vec<String>,
    /// How to print the findings.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The lowest severity that fails the audit (overrides `[audit] severity`).
    #[arg(long, value_enum)]
    pub severity: Option<SeverityArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped by file, coloured on a terminal.
    Text,
    /// One JSON document with every finding.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SeverityArg {
    Warning,
    Error,
}

/// The rules and how to silence them, listed under `cargo xtask audit --help`.
fn rules_help() -> String {
    let mut out = String::from("Rules (severity, id: what it finds):\n");
    for rule in Rule::ALL {
        out.push_str(&format!(
            "  {:<7}  {:<22}  {}\n",
            rule.severity().as_str(),
            rule.id(),
            rule.title()
        ));
    }
    out.push_str(
        "\nSilence one finding with `# xtask: allow(<rule>)` on its line; a rule for the whole \
         project with `[audit] allow = [\"<rule>\"]` in testing.toml. Exit 1 when findings at or \
         above `[audit] severity` (default: error) remain.",
    );
    out
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let paths: Vec<String> = if !args.paths.is_empty() {
        args.paths.clone()
    } else if let Some(paths) = &config.audit.paths {
        paths.value.iter().map(|p| p.value.clone()).collect()
    } else {
        config
            .project
            .test_paths
            .value
            .iter()
            .map(|p| p.value.clone())
            .collect()
    };
    let threshold = match args.severity {
        Some(SeverityArg::Warning) => Severity::Warning,
        Some(SeverityArg::Error) => Severity::Error,
        None => config.audit.severity.value,
    };
    let files = audit::discover(&ctx.root, &paths)?;
    let report = audit::audit(&ctx.root, &files, &config.audit.allowed_rules());
    let out = match args.format {
        Format::Text => render::text(&report, threshold, console::colors_enabled()),
        Format::Json => render::json(&report, threshold),
        Format::Sarif => render::sarif(&report),
    };
    print!("{out}");
    Ok(if report.failing(threshold) > 0 {
        ExitCode::TestsFailed
    } else {
        ExitCode::Ok
    })
}
