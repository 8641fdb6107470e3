//! `[flaky]`: the flakiness threshold and the tests known to be flaky.

use std::path::Path;

use serde::Deserialize;

use crate::error::UserError;

use super::setting::Setting;
use super::span::config_error;

/// `[flaky]`: when flakiness calls for a rollback, and what is already known.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Flaky {
    /// The fraction of flaky tests above which a run recommends rolling back
    /// to serial (exit code 3).
    pub threshold: Setting<f64>,
    /// `[[flaky.known]]`: tests known to be flaky, listed in docs/testing.md.
    pub known: Vec<KnownFlaky>,
}

impl Default for Flaky {
    fn default() -> Self {
        Flaky {
            threshold: Setting::new(0.05),
            known: Vec::new(),
        }
    }
}

/// One `[[flaky.known]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KnownFlaky {
    /// The pytest node id, e.g. `tests/test_x.py::test_y`.
    pub node_id: Setting<String>,
    /// Why it is flaky, as far as is known.
    pub reason: Setting<String>,
    /// The issue that tracks it.
    #[serde(default)]
    pub link: Option<Setting<String>>,
}

impl Flaky {
    /// Checks the threshold and every entry; errors point at the value in `source`.
    pub fn validate(&self, path: &Path, source: &str) -> Result<(), UserError> {
        let threshold = self.threshold.value;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(config_error(
                path,
                source,
                self.threshold.span.clone(),
                format!("`flaky.threshold = {threshold}` is out of range"),
                Some("use a fraction from 0 to 1, e.g. 0.05 for 5%".into()),
            ));
        }
        for (i, entry) in self.known.iter().enumerate() {
            let node_id = entry.node_id.value.trim();
            if node_id.is_empty() || node_id.contains(['\n', '\r']) {
                return Err(config_error(
                    path,
                    source,
                    entry.node_id.span.clone(),
                    "`flaky.known.node-id` is not a pytest node id",
                    Some(
                        "use the id pytest prints, e.g. \"tests/test_load.py::test_upsert\"".into(),
                    ),
                ));
            }
            if entry.reason.value.trim().is_empty() {
                return Err(config_error(
                    path,
                    source,
                    entry.reason.span.clone(),
                    format!("`flaky.known.reason` is empty for `{node_id}`"),
                    Some("say what is known about why it fails, even \"unknown yet\"".into()),
                ));
            }
            if let Some(link) = &entry.link {
                if link.value.trim().is_empty() || link.value.contains(char::is_whitespace) {
                    return Err(config_error(
                        path,
                        source,
                        link.span.clone(),
                        format!("`flaky.known.link = \"{}\"` is not a link", link.value),
                        Some("give the issue's URL, or remove `link`".into()),
                    ));
                }
            }
            if self.known[..i]
                .iter()
                .any(|other| other.node_id.value.trim() == node_id)
            {
                return Err(config_error(
                    path,
                    source,
                    entry.node_id.span.clone(),
                    format!("`{node_id}` is listed twice in `[[flaky.known]]`"),
                    Some("keep one entry per test".into()),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str, DEFAULTS_TOML};

    #[test]
    fn defaults_file_matches_default_impl() {
        let parsed = parse_str(DEFAULTS_TOML).unwrap().flaky;
        let default = super::Flaky::default();
        assert_eq!(parsed.threshold.value, default.threshold.value);
        assert!(parsed.known.is_empty());
    }
}
