//! The audit report as text (grouped by file), JSON, and SARIF 2.1.0 for
//! GitHub code scanning. Each renderer is a pure function of the report.

use console::Style;
use serde_json::{json, Value};

use super::rules::{Rule, Severity};
use super::Report;

/// Forward slashes on every platform: the form reports and SARIF URIs use.
fn slashed(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Human-readable: findings grouped by file, then a summary and the verdict.
pub fn text(report: &Report, threshold: Severity, color: bool) -> String {
    let style = |s: Style| s.force_styling(color);
    let bold = style(Style::new().bold());
    let dim = style(Style::new().dim());
    let red = style(Style::new().red().bold());
    let yellow = style(Style::new().yellow().bold());
    let cyan = style(Style::new().cyan());
    let green = style(Style::new().green().bold());

    let mut out = String::new();
    for file in report.files.iter().filter(|f| !f.findings.is_empty()) {
        out.push_str(&format!("{}\n", bold.apply_to(slashed(&file.path))));
        let width = file
            .findings
            .iter()
            .map(|f| format!("{}:{}", f.line, f.column).len())
            .max()
            .unwrap_or(0);
        let rule_width = file
            .findings
            .iter()
            .map(|f| f.rule.id().len())
            .max()
            .unwrap_or(0);
        for f in &file.findings {
            let at = format!("{}:{}", f.line, f.column);
            let severity = match f.severity() {
                Severity::Error => red.apply_to(format!("{:<7}", "error")),
                Severity::Warning => yellow.apply_to(format!("{:<7}", "warning")),
            };
            out.push_str(&format!(
                "  {at:<width$}  {severity}  {}  {}\n",
                cyan.apply_to(format!("{:<rule_width$}", f.rule.id())),
                f.message,
            ));
            out.push_str(&format!(
                "  {:<width$}  {}\n",
                "",
                dim.apply_to(format!("hint: {}", f.hint()))
            ));
        }
        out.push('\n');
    }
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let with_findings = report
        .files
        .iter()
        .filter(|f| !f.findings.is_empty())
        .count();
    let mut summary = format!(
        "audit: {}, {} in {} of {}",
        plural(errors, "error", "errors"),
        plural(warnings, "warning", "warnings"),
        with_findings,
        plural(report.files.len(), "file", "files"),
    );
    let mut quiet = Vec::new();
    if report.suppressed > 0 {
        quiet.push(format!("{} by `# xtask: allow(...)`", report.suppressed));
    }
    if report.allowed > 0 {
        quiet.push(format!("{} by `[audit] allow`", report.allowed));
    }
    if !quiet.is_empty() {
        summary.push_str(&format!("; suppressed {}", quiet.join(", ")));
    }
    out.push_str(&summary);
    out.push('\n');
    let failing = report.failing(threshold);
    if failing > 0 {
        out.push_str(&format!(
            "{} {} at or above `{threshold}`\n",
            red.apply_to("FAILED:"),
            plural(failing, "finding", "findings"),
        ));
    } else {
        out.push_str(&format!(
            "{} no findings at or above `{threshold}`\n",
            green.apply_to("ok:")
        ));
    }
    out
}

/// Machine-readable: every finding with its location, rule, severity and hint.
pub fn json(report: &Report, threshold: Severity) -> String {
    let findings: Vec<Value> = report
        .findings()
        .map(|(path, f)| {
            json!({
                "path": slashed(path),
                "line": f.line,
                "column": f.column,
                "end_line": f.end_line,
                "end_column": f.end_column,
                "rule": f.rule.id(),
                "severity": f.severity().as_str(),
                "message": f.message,
                "hint": f.hint(),
            })
        })
        .collect();
    let value = json!({
        "version": 1,
        "threshold": threshold.as_str(),
        "failed": report.failing(threshold) > 0,
        "files_audited": report.files.len(),
        "counts": {
            "error": report.count(Severity::Error),
            "warning": report.count(Severity::Warning),
            "suppressed": report.suppressed,
            "allowed": report.allowed,
        },
        "findings": findings,
    });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values always serialize");
    text.push('\n');
    text
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// SARIF 2.1.0, as GitHub code scanning uploads it: one run, rule metadata
/// for every rule, and one result per finding with its region.
pub fn sarif(report: &Report) -> String {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id(),
                "name": rule.id(),
                "shortDescription": { "text": rule.title() },
                "fullDescription": { "text": rule.description() },
                "help": {
                    "text": format!("{} Fix: {}.", rule.description(), rule.hint()),
                    "markdown": format!("{}\n\n**Fix:** {}.", rule.description(), rule.hint()),
                },
                "defaultConfiguration": { "level": sarif_level(rule.severity()) },
                "properties": {
                    "tags": ["tests", "isolation"],
                    "problem.severity": sarif_level(rule.severity()),
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings()
        .map(|(path, f)| {
            let index = Rule::ALL
                .iter()
                .position(|r| *r == f.rule)
                .expect("every rule is in Rule::ALL");
            let (uri, base) = if path.is_absolute() {
                (format!("file://{}", slashed(path)), None)
            } else {
                (slashed(path), Some("%SRCROOT%"))
            };
            let mut artifact = json!({ "uri": uri });
            if let Some(base) = base {
                artifact["uriBaseId"] = json!(base);
            }
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": sarif_level(f.severity()),
                "message": { "text": format!("{} (hint: {})", f.message, f.hint()) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column,
                        }
                    }
                }],
            })
        })
        .collect();
    let value = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "xtask-audit",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values always serialize");
    text.push('\n');
    text
}
