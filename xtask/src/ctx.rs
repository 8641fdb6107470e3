//! `Ctx`: what every task needs to know about where and how it runs,
//! resolved once before any task starts.
//!
//! The project root is found at run time, never compiled in: `-C <dir>`, or
//! the nearest directory holding `testing.toml` from the working directory
//! up (where `cargo xtask` was run), or the working directory itself.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::FILE_NAME;
use crate::error::UserError;

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone)]
pub struct Ctx {
    /// The project the task acts on (absolute).
    pub root: PathBuf,
    /// Show an interactive progress bar (a terminal, not CI, not disabled).
    pub progress: bool,
    /// Running under GitHub Actions (log groups, annotations, job summary).
    pub github_actions: bool,
}

/// The project a run without `-C` acts on: the nearest directory holding
/// `testing.toml` from `cwd` up, else `cwd` itself (where `init` writes one).
pub fn project_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|dir| dir.join(FILE_NAME).is_file())
        .unwrap_or(cwd)
        .to_path_buf()
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

impl Ctx {
    /// The project's reports directory, as `config` places it.
    pub fn layout(&self, config: &crate::config::Config) -> crate::layout::Layout {
        crate::layout::Layout::new(&self.root, config)
    }

    /// `directory` is `-C`'s value; `no_progress` is `--no-progress`.
    pub fn new(directory: Option<&Path>, no_progress: bool, color: Color) -> anyhow::Result<Ctx> {
        let root = match directory {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(UserError::usage(
                        format!("`-C {}`: no such directory", dir.display()),
                        "pass the root of a Python project (the directory that holds, or will hold, testing.toml)",
                    )
                    .into());
                }
                dir.canonicalize()
                    .with_context(|| format!("cannot resolve `{}`", dir.display()))?
            }
            None => {
                let cwd = std::env::current_dir().context("cannot read the working directory")?;
                let cwd = cwd.canonicalize().unwrap_or(cwd);
                project_root(&cwd)
            }
        };
        let stderr_tty = std::io::stderr().is_terminal();
        let ci = env_flag("CI");
        let color_ok = match color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        if !color_ok {
            console::set_colors_enabled_stderr(false);
            console::set_colors_enabled(false);
        } else if color == Color::Always {
            console::set_colors_enabled(true);
        }
        Ok(Ctx {
            root,
            progress: stderr_tty && !ci && !no_progress && !env_flag("XTASK_NO_PROGRESS"),
            github_actions: env_flag("GITHUB_ACTIONS"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_the_nearest_directory_with_testing_toml() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        let deep = project.join("src/pkg");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(
            project_root(&deep),
            deep,
            "no testing.toml anywhere: the working directory"
        );
        std::fs::write(project.join(FILE_NAME), "").unwrap();
        assert_eq!(project_root(&deep), project);
        assert_eq!(project_root(&project), project);
    }
}
