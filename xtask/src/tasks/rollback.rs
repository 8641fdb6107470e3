//! `cargo xtask rollback`: switch CI (and `pytest-parallel`) back to serial
//! runs by setting `parallel.workers = 1` in testing.toml, then regenerate
//! the files generated from it. `--undo` restores the previous setting.
//!
//! testing.toml is edited with toml_edit, so comments, order and formatting
//! stay as they are. The previous value is kept in a comment at the end of
//! the edited line, so the undo survives commits and clones:
//!
//! ```toml
//! workers = 1 # rolled back to serial by `cargo xtask rollback`; `--undo` restores: "auto"
//! ```

use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use anyhow::Context;
use toml_edit::{DocumentMut, Item, Table, Value};

use crate::config;
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::fsx;
use crate::gen::{self, write::Mode};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 done, or nothing to change; 2 testing.toml has uncommitted \
    changes to parallel.workers (without --force), is invalid, or a generated file may not be overwritten."
)]
pub struct Args {
    /// Restore the worker setting the last rollback replaced.
    #[arg(long)]
    pub undo: bool,
    /// Edit testing.toml even when it has uncommitted changes to `parallel.workers`.
    #[arg(long)]
    pub force: bool,
}

/// The comment rollback leaves on the line it edits (after `# `).
const MARK: &str = "rolled back to serial by `cargo xtask rollback`;";
/// What follows [`MARK`] when there was a value: the line's old text follows.
const RESTORES: &str = " `--undo` restores: ";
/// What follows [`MARK`] when there was no `workers` key.
const REMOVES: &str = " `--undo` removes this line";
/// The comment on a `[parallel]` table rollback had to add.
const TABLE_MARK: &str = "# added by `cargo xtask rollback`";

/// Where `parallel.workers` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workers {
    /// Not rolled back: the value's text and the rest of its line (`"auto"  # note`),
    /// or `None` when the key is absent.
    Set(Option<String>),
    /// Rolled back by this task.
    RolledBack,
}

/// The `[parallel]` table of a document, when there is one.
fn parallel(doc: &mut DocumentMut) -> anyhow::Result<Option<&mut Table>> {
    match doc.get_mut("parallel") {
        None => Ok(None),
        Some(Item::Table(table)) => Ok(Some(table)),
        Some(_) => Err(UserError::usage(
            "`parallel` in testing.toml is not a `[parallel]` table: rollback cannot leave its note in it",
            "write it as a `[parallel]` table (one key per line), then run `cargo xtask rollback` again",
        )
        .into()),
    }
}

fn parse(source: &str) -> anyhow::Result<DocumentMut> {
    DocumentMut::from_str(source).map_err(|e| {
        UserError::usage(
            format!("testing.toml is not valid TOML: {}", e.message()),
            "fix it first (`cargo xtask gen --check` shows where)",
        )
        .into()
    })
}

/// The value's text and whatever follows it on its line.
fn rest_of_line(value: &Value) -> String {
    let suffix = value
        .decor()
        .suffix()
        .and_then(|s| s.as_str())
        .unwrap_or("");
    let mut bare = value.clone();
    bare.decor_mut().clear();
    format!("{bare}{suffix}")
}

/// Where `parallel.workers` stands in `source`.
pub fn state(source: &str) -> anyhow::Result<Workers> {
    let mut doc = parse(source)?;
    let Some(table) = parallel(&mut doc)? else {
        return Ok(Workers::Set(None));
    };
    let Some(item) = table.get("workers") else {
        return Ok(Workers::Set(None));
    };
    let value = item
        .as_value()
        .context("`parallel.workers` is not a value")?;
    let suffix = value
        .decor()
        .suffix()
        .and_then(|s| s.as_str())
        .unwrap_or("");
    if suffix
        .trim_start()
        .strip_prefix('#')
        .map(str::trim_start)
        .is_some_and(|c| c.starts_with(MARK))
    {
        Ok(Workers::RolledBack)
    } else {
        Ok(Workers::Set(Some(rest_of_line(value))))
    }
}

/// Applies `edit` to `source` with `\n` line endings, and gives the result
/// the line endings `source` had (toml_edit writes `\n`).
fn keeping_line_endings(
    source: &str,
    edit: fn(&str) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<Option<String>> {
    if !source.contains("\r\n") {
        return edit(source);
    }
    Ok(edit(&source.replace("\r\n", "\n"))?.map(|text| text.replace('\n', "\r\n")))
}

/// `source` with `parallel.workers = 1` and the note to undo it; `None`
/// when it is already serial.
pub fn rollback(source: &str) -> anyhow::Result<Option<String>> {
    keeping_line_endings(source, rollback_lf)
}

/// `source` with the worker setting the rollback replaced; `None` when it
/// was not rolled back.
pub fn undo(source: &str) -> anyhow::Result<Option<String>> {
    keeping_line_endings(source, undo_lf)
}

fn rollback_lf(source: &str) -> anyhow::Result<Option<String>> {
    match state(source)? {
        Workers::RolledBack => return Ok(None),
        Workers::Set(Some(rest)) if rest.split('#').next().is_some_and(|v| v.trim() == "1") => {
            return Ok(None)
        }
        Workers::Set(_) => {}
    }
    let mut doc = parse(source)?;
    if parallel(&mut doc)?.is_none() {
        let mut table = Table::new();
        table.decor_mut().set_suffix(format!(" {TABLE_MARK}"));
        doc.insert("parallel", Item::Table(table));
    }
    let table = parallel(&mut doc)?.context("`[parallel]` was just added")?;
    let mut serial = Value::from(1);
    match table.get("workers").and_then(Item::as_value) {
        Some(old) => {
            let prefix = old.decor().prefix().and_then(|s| s.as_str()).unwrap_or(" ");
            serial.decor_mut().set_prefix(prefix.to_string());
            serial
                .decor_mut()
                .set_suffix(format!(" # {MARK}{RESTORES}{}", rest_of_line(old)));
            table["workers"] = Item::Value(serial);
        }
        None => {
            serial.decor_mut().set_prefix(" ");
            serial.decor_mut().set_suffix(format!(" # {MARK}{REMOVES}"));
            table.insert("workers", Item::Value(serial));
        }
    }
    Ok(Some(doc.to_string()))
}

fn undo_lf(source: &str) -> anyhow::Result<Option<String>> {
    if state(source)? != Workers::RolledBack {
        return Ok(None);
    }
    let mut doc = parse(source)?;
    let table = parallel(&mut doc)?.context("a rolled-back `[parallel]` table")?;
    let current = table
        .get("workers")
        .and_then(Item::as_value)
        .context("a rolled-back `parallel.workers`")?;
    let suffix = current
        .decor()
        .suffix()
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string();
    let prefix = current
        .decor()
        .prefix()
        .and_then(|s| s.as_str())
        .unwrap_or(" ")
        .to_string();
    match suffix.split_once(RESTORES) {
        Some((_, old)) => {
            let line = parse(&format!("workers ={prefix}{old}\n")).map_err(|_| {
                UserError::usage(
                    format!(
                        "cannot read the previous value in the rollback note `{}`",
                        suffix.trim()
                    ),
                    "edit `parallel.workers` in testing.toml by hand",
                )
            })?;
            let restored = line
                .get("workers")
                .and_then(Item::as_value)
                .context("the previous value")?
                .clone();
            table["workers"] = Item::Value(restored);
        }
        None => {
            table.remove("workers");
            let added = table
                .decor()
                .suffix()
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.trim() == TABLE_MARK);
            if added && table.is_empty() {
                doc.remove("parallel");
            }
        }
    }
    Ok(Some(doc.to_string()))
}

/// testing.toml as of the last commit, when the project is a git checkout
/// that tracks it.
fn committed(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["show", &format!("HEAD:./{}", config::FILE_NAME)])
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Refuses to edit a `parallel.workers` that has uncommitted changes the
/// edit would overwrite. Edits elsewhere in the file are kept as they are;
/// so is this task's own uncommitted rollback (or undo).
fn check_local_edits(root: &Path, current: &str) -> anyhow::Result<()> {
    let Some(head) = committed(root) else {
        return Ok(());
    };
    if head == current {
        return Ok(());
    }
    let entry = |text: &str| state(text).ok();
    let mine = entry(current);
    let allowed = [
        Some(head.clone()),
        rollback(&head).ok().flatten(),
        undo(&head).ok().flatten(),
    ];
    if allowed.iter().flatten().any(|text| entry(text) == mine) {
        return Ok(());
    }
    let show = |w: Option<Workers>| match w {
        Some(Workers::Set(Some(v))) => format!("`workers = {}`", v.trim()),
        Some(Workers::Set(None)) => "no `workers`".to_string(),
        Some(Workers::RolledBack) => "rolled back".to_string(),
        None => "unreadable".to_string(),
    };
    Err(UserError::usage(
        format!(
            "testing.toml has uncommitted changes to `parallel.workers` ({} here, {} in the last commit) that rollback would overwrite",
            show(mine),
            show(entry(&head))
        ),
        "commit or stash them first (`git stash`), or pass `--force` to edit the file as it is",
    )
    .into())
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    // The file must be valid before it is edited.
    config::load(&ctx.root)?;
    let path = ctx.root.join(config::FILE_NAME);
    let before = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let after = if args.undo {
        undo(&before)?
    } else {
        rollback(&before)?
    };
    let Some(after) = after else {
        if args.undo {
            println!("rollback --undo: `parallel.workers` was not rolled back by `cargo xtask rollback`: nothing changed");
        } else {
            println!("rollback: `parallel.workers` is already 1 (serial): nothing changed");
        }
        return Ok(ExitCode::Ok);
    };
    if !args.force {
        check_local_edits(&ctx.root, &before)?;
    }
    fsx::atomic_write(&path, &after)?;
    if let Err(err) = regenerate(ctx) {
        fsx::atomic_write(&path, &before)?;
        return Err(err.context("testing.toml was left as it was"));
    }
    print!(
        "{}",
        similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(2)
            .header("testing.toml (before)", "testing.toml (after)")
    );
    if args.undo {
        println!(
            "rollback --undo: `parallel.workers` restored; CI runs in parallel again once this is committed"
        );
    } else {
        print!("{}", steps());
    }
    Ok(ExitCode::Ok)
}

/// Rewrites the generated files from the edited testing.toml.
fn regenerate(ctx: &Ctx) -> anyhow::Result<()> {
    let config = config::load(&ctx.root)?;
    let inputs = gen::Inputs::read(&ctx.root, &config)?;
    let planned = gen::write::plan(&ctx.root, &gen::all(&config, &inputs))?;
    gen::write::apply(&planned, &ctx.root, Mode::Write, false)?;
    Ok(())
}

fn steps() -> &'static str {
    "rollback: `parallel.workers = 1`: CI (whose PYTEST_WORKERS falls back to it) and `cargo xtask pytest-parallel` now run serially\n\
     Next:\n\
     \x20 1. commit testing.toml and the regenerated files; until then, `gh variable set PYTEST_WORKERS --body 1` rolls CI back without a commit\n\
     \x20 2. cargo xtask triage --issue      # classify the failures, an issue body per flaky test in reports/flaky/\n\
     \x20 3. cargo xtask bisect '<node id>'  # the test that pollutes a parallel-only one\n\
     \x20 4. fix the shared state (docs/testing.md, \"Isolation patterns\"), then `cargo xtask rollback --undo`\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn round_trip(source: &str) -> String {
        let rolled = rollback(source).unwrap().expect("a change");
        assert_eq!(state(&rolled).unwrap(), Workers::RolledBack, "{rolled}");
        assert_eq!(rollback(&rolled).unwrap(), None, "idempotent");
        let config = crate::config::parse_str(&rolled).unwrap();
        assert_eq!(
            config.parallel.workers.value,
            crate::config::WorkersSetting::Count(1)
        );
        let restored = undo(&rolled).unwrap().expect("an undo");
        assert_eq!(restored, source, "rolled back:\n{rolled}");
        assert_eq!(undo(&restored).unwrap(), None);
        rolled
    }

    #[test]
    fn rollback_and_undo_restore_the_file_byte_for_byte() {
        let rolled = round_trip(
            "# top\n[project]\nvenv = \".venv\"\n\n[parallel]\n# the workers\nworkers   =  'auto'   # two on CI\ndist = \"load\"\n\n[ci]\nname = \"t\"\n",
        );
        assert!(rolled.contains(
            "# the workers\nworkers   =  1 # rolled back to serial by `cargo xtask rollback`; `--undo` restores: 'auto'   # two on CI\ndist"
        ), "{rolled}");
        round_trip("[parallel]\nworkers = 4\n");
        round_trip("[parallel]\ndist = \"load\"\n\n[ci]\nshards = 2\n");
        round_trip("[project]\ntest-paths = [\"tests\"]\n");
        round_trip("");
        round_trip("parallel.workers = \"auto\"\n");
        round_trip(&crate::config::DEFAULTS_TOML.replace("\n", "\r\n"));
        round_trip(crate::config::DEFAULTS_TOML);
    }

    #[test]
    fn serial_already_is_left_alone() {
        assert_eq!(
            rollback("[parallel]\nworkers = 1 # serial\n").unwrap(),
            None
        );
        assert_eq!(undo("[parallel]\nworkers = 1\n").unwrap(), None);
    }

    #[test]
    fn inline_tables_are_refused() {
        let err = rollback("parallel = { workers = \"auto\" }\n").unwrap_err();
        assert!(
            err.to_string().contains("not a `[parallel]` table"),
            "{err}"
        );
    }
}
