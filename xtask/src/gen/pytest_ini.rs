//! `pytest.ini`: what plain `pytest` reads, so a bare run collects the same
//! tests as `cargo xtask pytest` and stays serial. Written only for a
//! project that keeps no pytest configuration of its own: where a project
//! has one, it wins, and `gen` never writes a second that would shadow it.

use std::path::Path;

use minijinja::Value;

use crate::config::Config;

use super::header::{self, Comment, Ownership};

pub const PATH: &str = "pytest.ini";

/// The comment syntax of its header.
pub const COMMENT: Comment = Comment::Hash;

pub fn render(config: &Config) -> String {
    header::wrap(
        COMMENT,
        &super::render("pytest.ini.j2", config, Value::UNDEFINED),
    )
}

/// The file holding the project's own pytest configuration, in pytest's
/// order of precedence (`pytest.ini`, `.pytest.ini`, `pyproject.toml`'s
/// `[tool.pytest.ini_options]` or `[tool.pytest]`, `tox.ini`'s `[pytest]`,
/// `setup.cfg`'s `[tool:pytest]`); `None` when it has none, or only the
/// `pytest.ini` that `gen` wrote.
pub fn project_config(root: &Path) -> Option<String> {
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    if let Some(text) = read("pytest.ini") {
        return (header::ownership(COMMENT, &text) == Ownership::Foreign)
            .then(|| "pytest.ini".to_string());
    }
    if root.join(".pytest.ini").is_file() {
        return Some(".pytest.ini".into());
    }
    if let Some(text) = read("pyproject.toml") {
        let table: Option<toml::Table> = text.parse().ok();
        let pytest = table
            .as_ref()
            .and_then(|t| t.get("tool"))
            .and_then(|t| t.get("pytest"));
        if pytest.is_some() {
            return Some("pyproject.toml".into());
        }
    }
    let has_section = |name: &str, section: &str| {
        read(name).is_some_and(|text| text.lines().any(|l| l.trim() == section))
    };
    if has_section("tox.ini", "[pytest]") {
        return Some("tox.ini".into());
    }
    if has_section("setup.cfg", "[tool:pytest]") {
        return Some("setup.cfg".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_own_pytest_configuration_is_found_and_ours_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(project_config(root), None);
        std::fs::write(root.join("setup.cfg"), "[metadata]\nname = x\n").unwrap();
        assert_eq!(project_config(root), None);
        std::fs::write(root.join("setup.cfg"), "[tool:pytest]\naddopts = -q\n").unwrap();
        assert_eq!(project_config(root).as_deref(), Some("setup.cfg"));
        std::fs::write(
            root.join("pyproject.toml"),
            "[tool.pytest.ini_options]\nmarkers = [\"slow\"]\n",
        )
        .unwrap();
        assert_eq!(project_config(root).as_deref(), Some("pyproject.toml"));
        std::fs::write(root.join("pytest.ini"), render(&Config::default())).unwrap();
        assert_eq!(
            project_config(root),
            None,
            "the generated pytest.ini is ours"
        );
        std::fs::write(root.join("pytest.ini"), "[pytest]\n").unwrap();
        assert_eq!(project_config(root).as_deref(), Some("pytest.ini"));
    }
}
