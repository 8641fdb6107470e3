//! Errors a user can fix, each with one line saying what is wrong and a hint.
//!
//! Inside the crate, functions return `anyhow::Result` with context; at the
//! edges, anything the user controls becomes a [`UserError`], which `main`
//! renders as `error: …` plus `hint: …` and maps to exit code 2.

use std::path::PathBuf;

/// A problem with the user's input or machine, not a bug in the xtask.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// An invalid `testing.toml`, located at `path:line:col`.
    #[error("{}:{line}:{col}: {message}", path.display())]
    Config {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
        hint: Option<String>,
    },
    /// A bad flag, environment variable or argument.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A program the task needs is not installed.
    #[error("`{tool}` was not found: {why}")]
    MissingTool {
        tool: String,
        why: String,
        hint: String,
    },
    /// The project's environment could not be set up.
    #[error("{message}")]
    Setup {
        message: String,
        hint: Option<String>,
    },
}

impl UserError {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn setup(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError::Setup {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            UserError::Config { hint, .. }
            | UserError::Usage { hint, .. }
            | UserError::Setup { hint, .. } => hint.as_deref(),
            UserError::MissingTool { hint, .. } => Some(hint),
        }
    }
}

/// Renders an error the way every task reports it: one `error:` line, an
/// optional `hint:` line, then the chain of causes.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    if let Some(user) = err.downcast_ref::<UserError>() {
        out.push_str(&format!("error: {user}\n"));
        if let Some(hint) = user.hint() {
            out.push_str(&format!("hint: {hint}\n"));
        }
        return out;
    }
    out.push_str(&format!("error: {err}\n"));
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        out.push_str("caused by:\n");
        for cause in causes {
            out.push_str(&format!("  {cause}\n"));
        }
    }
    out
}
