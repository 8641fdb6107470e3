//! `Ctx`: what every task needs to know about where and how it runs,
//! resolved once before any task starts.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{Color, GlobalArgs};
use crate::error::UserError;

#[derive(Debug, Clone)]
pub struct Ctx {
    /// The project the task acts on (absolute).
    pub root: PathBuf,
    /// Show an interactive progress bar (a terminal, not CI, not disabled).
    pub progress: bool,
    /// Running under GitHub Actions (log groups, annotations, job summary).
    pub github_actions: bool,
}

/// The repository this xtask crate lives in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

impl Ctx {
    pub fn new(global: &GlobalArgs) -> anyhow::Result<Ctx> {
        let root = match &global.directory {
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
            None => workspace_root()
                .canonicalize()
                .unwrap_or_else(|_| workspace_root()),
        };
        let stderr_tty = std::io::stderr().is_terminal();
        let ci = env_flag("CI");
        let color_ok = match global.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        if !color_ok {
            console::set_colors_enabled_stderr(false);
            console::set_colors_enabled(false);
        } else if matches!(global.color, Color::Always) {
            console::set_colors_enabled(true);
        }
        Ok(Ctx {
            root,
            progress: stderr_tty && !ci && !global.no_progress && !env_flag("XTASK_NO_PROGRESS"),
            github_actions: env_flag("GITHUB_ACTIONS"),
        })
    }
}
