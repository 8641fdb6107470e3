//! Reading `testing.toml`: parse, deserialize, and turn every failure into a
//! `testing.toml:line:col` error that says what is accepted.

use std::ops::Range;
use std::path::Path;

use crate::error::UserError;

use super::model::Config;

/// The 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, col)
}

/// A config error at `span` (or at the top of the file when the value came
/// from the built-in defaults).
pub fn config_error(
    path: &Path,
    source: &str,
    span: Option<Range<usize>>,
    message: impl Into<String>,
    hint: Option<String>,
) -> UserError {
    let (line, col) = span.map_or((1, 1), |s| line_col(source, s.start));
    UserError::Config {
        path: path.to_path_buf(),
        line,
        col,
        message: message.into(),
        hint,
    }
}

/// Parses `source` (read from `path`) into a [`Config`], without validation.
pub fn parse(path: &Path, source: &str) -> Result<Config, UserError> {
    toml::from_str::<Config>(source).map_err(|err| {
        let raw = err.message().trim().to_string();
        let (message, hint) = explain(&raw);
        config_error(path, source, err.span(), message, hint)
    })
}

/// Rewrites serde's messages into ours: unknown keys get a "did you mean".
fn explain(raw: &str) -> (String, Option<String>) {
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let suggestion = nearest(name, &expected);
        let message = format!("unknown key `{name}`");
        let hint = match suggestion {
            Some(s) => format!("did you mean `{s}`? (accepted here: {})", ticked(&expected)),
            None => format!("accepted here: {}", ticked(&expected)),
        };
        return (message, Some(hint));
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let message = format!("unknown value `{name}`");
        let hint = match nearest(name, &expected) {
            Some(s) => format!("did you mean `{s}`? (accepted: {})", ticked(&expected)),
            None => format!("accepted: {}", ticked(&expected)),
        };
        return (message, Some(hint));
    }
    if raw.starts_with("invalid type") || raw.starts_with("invalid value") {
        return (raw.replace(", expected", "; expected"), None);
    }
    (raw.lines().next().unwrap_or(raw).to_string(), None)
}

fn ticked(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The accepted name closest to a misspelt one, if it is close enough.
pub fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn nearest_suggests_typos_only() {
        assert_eq!(nearest("wrokers", &["workers", "dist"]), Some("workers"));
        assert_eq!(nearest("zzzzzz", &["workers", "dist"]), None);
    }
}
