//! `[docs]`: what the generated docs/testing.md quotes from the project.

use std::path::Path;

use serde::Deserialize;

use crate::error::UserError;

use super::setting::Setting;
use super::span::config_error;

/// `[docs]`: inputs of docs/testing.md beyond the rest of the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Docs {
    /// Fixtures whose source docs/testing.md quotes as isolation examples,
    /// looked up by name in the `conftest.py` of the project root and of
    /// each test path. Empty: the section is left out.
    pub isolation_fixtures: Setting<Vec<Setting<String>>>,
}

impl Docs {
    /// Checks that every entry is a Python name, listed once.
    pub fn validate(&self, path: &Path, source: &str) -> Result<(), UserError> {
        let names = &self.isolation_fixtures.value;
        for (i, name) in names.iter().enumerate() {
            let is_identifier = name
                .value
                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            let message = if !is_identifier {
                format!("`{}` is not a fixture name", name.value)
            } else if names[..i].iter().any(|n| n.value == name.value) {
                format!("fixture `{}` is listed twice", name.value)
            } else {
                continue;
            };
            return Err(config_error(
                path,
                source,
                name.span.clone(),
                message,
                Some(
                    "list the names of fixtures defined in a conftest.py, e.g. [\"tmp_store\"]"
                        .into(),
                ),
            ));
        }
        Ok(())
    }
}
