//! Reading `testing.toml`: parse, deserialize, and turn every failure into a
//! `testing.toml:line:col` error that says what is accepted.

use std::path::Path;

use crate::error::UserError;

use super::model::Config;
use super::span::{config_error, nearest, ticked};

/// Parses `source` (read from `path`) into a [`Config`], without validation.
pub fn parse(path: &Path, source: &str) -> Result<Config, UserError> {
    toml::from_str::<Config>(source).map_err(|err| {
        let raw = err.message().trim().to_string();
        let (message, hint) = match raw.strip_prefix(super::ci::UNQUOTED_VERSION) {
            // The number as written, which TOML's float may have shortened (3.10 → 3.1).
            Some(read) => {
                let written = err
                    .span()
                    .and_then(|s| source.get(s))
                    .map_or(read, str::trim);
                (
                    format!("`ci.python-version = {written}` must be quoted"),
                    Some(if written == read {
                        format!("write `python-version = \"{written}\"`: unquoted it is a number, and 3.10 would read as 3.1")
                    } else {
                        format!("write `python-version = \"{written}\"`: unquoted, TOML reads it as the number {read}")
                    }),
                )
            }
            None => explain(&raw),
        };
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
