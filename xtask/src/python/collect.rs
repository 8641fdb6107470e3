//! The collected node ids of a suite (`pytest --collect-only -q`), for plans
//! and shards: every shard job collects the same list and so computes the
//! same plan.

use std::path::Path;

use anyhow::Context;

use crate::config::Config;
use crate::durations::normalize;
use crate::error::UserError;
use crate::run::hash_seed;

use super::argv;

/// Collects the node ids pytest would run with `extra` arguments.
pub fn collect(
    root: &Path,
    config: &Config,
    python: &Path,
    extra: &[String],
) -> anyhow::Result<Vec<String>> {
    Ok(collect_with_errors(root, config, python, extra)?.0)
}

/// The node ids, and the files that failed to collect (import errors and the
/// like), which a run must still report.
pub fn collect_with_errors(
    root: &Path,
    config: &Config,
    python: &Path,
    extra: &[String],
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let (seed, _) = hash_seed(config);
    let mut extra = extra.to_vec();
    extra.push("--continue-on-collection-errors".into());
    let inv = argv::build_collect(python, root, config, &extra, seed);
    let out = inv
        .command()
        .output()
        .with_context(|| format!("cannot run `{}`", inv.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code().unwrap_or(-1);
    let errors = parse_errors(&stdout);
    let tolerated = matches!(code, 0 | 5) || (matches!(code, 1 | 2) && !errors.is_empty());
    if !tolerated {
        let tail: Vec<&str> = stdout
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(UserError::usage(
            format!(
                "collecting the tests failed (pytest exit {code}):\n{}",
                tail.join("\n")
            ),
            format!("run `{}` to see the errors", inv.display()),
        )
        .into());
    }
    Ok((parse_ids(&stdout), errors))
}

/// Files named in the `ERROR <path>` lines of the short summary.
pub fn parse_errors(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ERROR "))
        .map(|rest| normalize(rest.split(" - ").next().unwrap_or(rest).trim()))
        .collect()
}

/// Node ids from `--collect-only -q` output: the lines before the first blank line.
pub fn parse_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.contains("::") || l.ends_with(".py"))
        .map(normalize)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_stop_at_the_summary() {
        let out = "tests/a.py::t1\ntests/a.py::T::t2[x y]\n\n2 tests collected in 0.01s\n";
        assert_eq!(
            super::parse_ids(out),
            vec!["tests/a.py::t1", "tests/a.py::T::t2[x y]"]
        );
    }
}
