//! `[audit]`: which isolation rules `cargo xtask audit` enforces, on what,
//! and from which severity on it fails.

use std::path::Path;

use serde::Deserialize;

use crate::audit::{Rule, Severity};
use crate::error::UserError;

use super::setting::Setting;
use super::span::{config_error, nearest};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Audit {
    /// Rule ids never reported in this project.
    pub allow: Vec<Setting<String>>,
    /// The lowest severity that fails the audit.
    pub severity: Setting<Severity>,
    /// What to audit instead of `project.test-paths`.
    pub paths: Option<Setting<Vec<Setting<String>>>>,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            allow: Vec::new(),
            severity: Setting::new(Severity::Error),
            paths: None,
        }
    }
}

impl Audit {
    /// The rules `allow` lists (valid after [`validate`]).
    pub fn allowed_rules(&self) -> std::collections::HashSet<Rule> {
        self.allow
            .iter()
            .filter_map(|id| Rule::from_id(&id.value))
            .collect()
    }
}

/// Checks rule ids and paths, each error pointing at its value.
pub fn validate(audit: &Audit, root: &Path, path: &Path, source: &str) -> Result<(), UserError> {
    let ids = Rule::ids();
    for id in &audit.allow {
        if Rule::from_id(&id.value).is_none() {
            let hint = match nearest(&id.value, &ids) {
                Some(s) => format!("did you mean `{s}`? (rules: {})", ids.join(", ")),
                None => format!("rules: {}", ids.join(", ")),
            };
            return Err(config_error(
                path,
                source,
                id.span.clone(),
                format!("`audit.allow`: unknown rule `{}`", id.value),
                Some(hint),
            ));
        }
    }
    if let Some(paths) = &audit.paths {
        if paths.value.is_empty() {
            return Err(config_error(
                path,
                source,
                paths.span.clone(),
                "`audit.paths` is empty",
                Some("list directories or files to audit, or remove the key to audit `project.test-paths`".into()),
            ));
        }
        for p in &paths.value {
            if p.value.trim().is_empty() || !root.join(&p.value).exists() {
                return Err(config_error(
                    path,
                    source,
                    p.span.clone(),
                    format!("audit path `{}` does not exist in the project", p.value),
                    Some("fix `audit.paths` (paths are relative to the project root)".into()),
                ));
            }
        }
    }
    Ok(())
}
