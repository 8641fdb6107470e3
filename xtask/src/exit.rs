//! The process exit codes of every task, in one table.
//!
//! `--help` and `docs/testing.md` are rendered from [`ExitCode::ALL`], so the
//! documented table and the behaviour cannot drift apart.

/// What a task ended with; only `main` turns it into a process exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    Ok,
    TestsFailed,
    Usage,
    Flaky,
    Coverage,
    NoTests,
    Interrupted,
}

impl ExitCode {
    /// Every code, in the order the documentation lists them.
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Ok,
        ExitCode::TestsFailed,
        ExitCode::Usage,
        ExitCode::Flaky,
        ExitCode::Coverage,
        ExitCode::NoTests,
        ExitCode::Interrupted,
    ];

    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::TestsFailed => 1,
            ExitCode::Usage => 2,
            ExitCode::Flaky => 3,
            ExitCode::Coverage => 4,
            ExitCode::NoTests => 5,
            ExitCode::Interrupted => 130,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Ok => "everything passed",
            ExitCode::TestsFailed => "tests failed (or a worker crashed, or collection failed)",
            ExitCode::Usage => {
                "usage or configuration error (bad flag, bad `PYTEST_WORKERS`, invalid testing.toml, missing tool)"
            }
            ExitCode::Flaky => "flakiness above the threshold: rollback recommended",
            ExitCode::Coverage => "coverage below the threshold",
            ExitCode::NoTests => "no tests collected",
            ExitCode::Interrupted => "interrupted (Ctrl-C or SIGTERM)",
        }
    }

    /// The plain-text table shown at the end of `cargo xtask --help`.
    pub fn help_table() -> String {
        let mut out = String::from("Exit codes:\n");
        for code in Self::ALL {
            out.push_str(&format!(
                "  {:>3}  {}\n",
                code.code(),
                code.meaning().replace('`', "")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        let mut codes: Vec<i32> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), ExitCode::ALL.len());
        assert!(ExitCode::help_table().contains("130  interrupted"));
    }
}
