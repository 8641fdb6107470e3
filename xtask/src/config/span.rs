//! Where a config error is: `testing.toml:line:col` from a byte span, and
//! the accepted name closest to a misspelt one. Every section's validation
//! reports through [`config_error`].

use std::ops::Range;
use std::path::Path;

use crate::error::UserError;

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

pub fn ticked(items: &[&str]) -> String {
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
