//! `cargo xtask select`: which tests a change can affect, and why; and the
//! `--changed` / `--shadow` / `--record-deps` options the running tasks share.

use std::fmt::Write;

use crate::config::{self, Config};
use crate::ctx::Ctx;
use crate::deps::select::Choice;
use crate::deps::{self, record::Record, Shadow};
use crate::error::UserError;
use crate::exit::ExitCode;
use crate::python::argv::Selection;
use crate::python::collect;
use crate::python::env::{self, PythonEnv};
use crate::run::RunRequest;
use crate::signals;

/// Change-aware selection, for the tasks that run the suite.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ChangeArgs {
    /// Run only the tests the change can affect, judged against the
    /// dependency record (reports/deps.json); REV also counts every file
    /// changed since that git revision.
    #[arg(long, value_name = "REV", num_args = 0..=1, default_missing_value = "")]
    pub changed: Option<String>,
    /// With --changed: run every test anyway, and report what the selection
    /// would have skipped and whether any of those failed.
    #[arg(long, requires = "changed")]
    pub shadow: bool,
    /// Record what each test depends on into reports/deps.json (what
    /// --changed reads).
    #[arg(long)]
    pub record_deps: bool,
}

impl ChangeArgs {
    fn rev(&self) -> Option<&str> {
        self.changed.as_deref().filter(|r| !r.is_empty())
    }

    /// Narrows `collection` to the tests the change can affect (a CI shard,
    /// before its plan splits them), or, in a shadow run, returns the
    /// selection to judge. Returns the notes for the summary.
    pub fn narrow(
        &self,
        ctx: &Ctx,
        config: &Config,
        python: &std::path::Path,
        collection: &mut collect::Collection,
    ) -> anyhow::Result<Narrowed> {
        let mut narrowed = Narrowed {
            notes: Vec::new(),
            shadow: None,
            selected: false,
        };
        if self.changed.is_none() {
            return Ok(narrowed);
        }
        let (choice, _) = deps::choose_now(ctx, config, python, collection, self.rev())?;
        if self.shadow {
            narrowed.notes.push(
                "--changed --shadow: every test runs; the selection is judged against their outcomes"
                    .into(),
            );
            narrowed.shadow = Some(Shadow::of(&choice));
            return Ok(narrowed);
        }
        if let Some(why) = &choice.everything {
            narrowed
                .notes
                .push(format!("--changed: every test runs, because {why}"));
            return Ok(narrowed);
        }
        let note = format!(
            "--changed: {} of {} tests can be affected by {} changed file(s); {} skipped",
            choice.selected.len(),
            collection.ids.len(),
            choice.changed.len(),
            choice.skipped
        );
        let keep: std::collections::HashSet<&str> =
            choice.selected.iter().map(|(id, _)| id.as_str()).collect();
        collection.ids.retain(|id| keep.contains(id.as_str()));
        narrowed.notes.push(note);
        narrowed.selected = true;
        Ok(narrowed)
    }

    /// Narrows `req` to the tests the change can affect (or, in a shadow
    /// run, arranges for the selection to be judged), and turns recording on
    /// when asked. `Some(code)`: there is nothing to run.
    pub fn apply(
        &self,
        ctx: &Ctx,
        config: &Config,
        env: &PythonEnv,
        req: &mut RunRequest,
    ) -> anyhow::Result<Option<ExitCode>> {
        req.deps |= self.record_deps;
        if self.changed.is_none() {
            return Ok(None);
        }
        let (mut collection, _) = collect::collect_cached(ctx, config, &env.python, &req.extra)?;
        let narrowed = self.narrow(ctx, config, &env.python, &mut collection)?;
        req.notes.extend(narrowed.notes);
        req.shadow = narrowed.shadow;
        if !narrowed.selected {
            return Ok(None);
        }
        req.notes.push(
            "`cargo xtask select --explain <node id>` says why a test was or was not selected"
                .into(),
        );
        let errors: Vec<String> = collection.errors.iter().map(|e| e.id.clone()).collect();
        if collection.ids.is_empty() && errors.is_empty() {
            println!("--changed: no test can be affected by the change; nothing to run");
            return Ok(Some(ExitCode::Ok));
        }
        req.selection = Some(Selection {
            ids: collection.ids,
            rootdir: collection.rootdir,
            also: errors,
        });
        if req.coverage {
            req.threshold = false;
            req.notes.push(
                "coverage.fail-under is not judged: a selected run covers only what its tests reach"
                    .into(),
            );
        }
        Ok(None)
    }
}

/// What `--changed` made of a collection.
pub struct Narrowed {
    pub notes: Vec<String>,
    /// A shadow run's selection, to judge after the run.
    pub shadow: Option<Shadow>,
    /// The collection was narrowed to the selected tests.
    pub selected: bool,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also count every file changed since this git revision (default: only
    /// what differs from the record).
    #[arg(long, value_name = "REV")]
    pub changed: Option<String>,
    /// Print the selection as JSON.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,
    /// Say why one test is or is not selected.
    #[arg(long, value_name = "NODE_ID")]
    pub explain: Option<String>,
    /// Prove the selection with N mutation trials: each changes one function
    /// of the project's source, runs the tests the selection skips, and
    /// counts a miss for each that fails (the source is restored).
    #[arg(long, value_name = "N", conflicts_with_all = ["explain", "json", "changed"])]
    pub prove: Option<usize>,
    /// The seed that picks the mutations of `--prove`.
    #[arg(long, default_value_t = 1, requires = "prove")]
    pub seed: u64,
    /// With `--prove`: run every test in each trial, not only those skipped.
    #[arg(long, requires = "prove")]
    pub full: bool,
    /// pytest arguments that select the tests (after `--`).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest_args: Vec<String>,
}

pub fn run(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = config::load(&ctx.root)?;
    let env = env::ensure(ctx, &config)?;
    let (collection, _) = collect::collect_cached(ctx, &config, &env.python, &args.pytest_args)?;
    let (choice, record) = deps::choose_now(
        ctx,
        &config,
        &env.python,
        &collection,
        args.changed.as_deref(),
    )?;
    if let Some(trials) = args.prove {
        let options = crate::tasks::prove::Options {
            trials,
            seed: args.seed,
            full: args.full,
            pytest_args: &args.pytest_args,
        };
        signals::install();
        return crate::tasks::prove::prove(
            ctx,
            &config,
            &env,
            &collection,
            record.as_ref(),
            &options,
        );
    }
    if let Some(id) = &args.explain {
        if !collection.ids.contains(id) {
            return Err(UserError::usage(
                format!("`{id}` is not a test pytest collects now"),
                "give a node id as `cargo xtask select` prints it",
            )
            .into());
        }
        println!("{}", explain(id, &choice, record.as_ref()));
        return Ok(ExitCode::Ok);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&choice, record.as_ref()))?
        );
    } else {
        print!("{}", render(&choice, record.as_ref(), collection.ids.len()));
    }
    Ok(ExitCode::Ok)
}

/// The selection for people.
pub fn render(choice: &Choice, record: Option<&Record>, collected: usize) -> String {
    let mut out = String::new();
    if let Some(record) = record {
        let _ = writeln!(
            out,
            "record: {} tests, made {}{} on Python {}",
            record.tests.len(),
            record.created,
            record
                .commit
                .as_deref()
                .map(|c| format!(" at commit {c}"))
                .unwrap_or_default(),
            record.python
        );
    }
    let _ = writeln!(out, "changed: {} file(s)", choice.changed.len());
    for file in choice.changed.iter().take(20) {
        let _ = writeln!(out, "  {file}");
    }
    if choice.changed.len() > 20 {
        let _ = writeln!(out, "  … and {} more", choice.changed.len() - 20);
    }
    if let Some(why) = &choice.everything {
        let _ = writeln!(out, "selection: all {collected} tests, because {why}");
        return out;
    }
    let total = record.map_or(0.0, |r| r.tests.values().map(|t| t.dur).sum());
    let chosen = record.map_or(0.0, |r| r.seconds(choice.selected.iter().map(|(id, _)| id)));
    let _ = writeln!(
        out,
        "selection: {} of {collected} tests ({chosen:.1}s of {total:.1}s recorded), {} skipped",
        choice.selected.len(),
        choice.skipped
    );
    for (id, reason) in &choice.selected {
        let _ = writeln!(out, "  {id}  — {reason}");
    }
    out
}

fn json(choice: &Choice, record: Option<&Record>) -> serde_json::Value {
    serde_json::json!({
        "record": record.map(|r| serde_json::json!({
            "commit": r.commit,
            "created": r.created,
            "python": r.python,
            "tests": r.tests.len(),
        })),
        "changed": choice.changed,
        "everything": choice.everything,
        "selected": choice.selected.iter().map(|(id, reason)| serde_json::json!({
            "id": id,
            "reason": reason,
            "text": reason.to_string(),
        })).collect::<Vec<_>>(),
        "skipped": choice.skipped,
    })
}

/// Why `id` is or is not selected.
pub fn explain(id: &str, choice: &Choice, record: Option<&Record>) -> String {
    if let Some(why) = &choice.everything {
        return format!("{id}: selected, with every test, because {why}");
    }
    if let Some(reasons) = choice.reasons.get(id) {
        let mut out = format!("{id}: selected, because");
        for reason in reasons {
            let _ = write!(out, "\n  - {reason}");
        }
        let carried: std::collections::BTreeSet<&str> = reasons
            .iter()
            .filter_map(|r| match r {
                crate::deps::select::Reason::Carried { function } => {
                    function.split_once("::").map(|(module, _)| module)
                }
                _ => None,
            })
            .collect();
        for module in carried {
            if let Some(why) = record.and_then(|r| r.state.get(module)) {
                let _ = write!(out, "\n  ({module} keeps state between tests: {why})");
            }
        }
        return out;
    }
    let Some(deps) = record.and_then(|r| r.tests.get(id).map(|d| (r, d))) else {
        return format!("{id}: not selected");
    };
    let (record, deps) = deps;
    let functions: Vec<&str> = record
        .functions_of(deps)
        .filter(|k| !crate::deps::record::is_block_key(k))
        .collect();
    let files: Vec<&str> = record.files_of(deps).collect();
    let mut out = format!(
        "{id}: not selected: none of the {} project function(s) it ran and none of the {} file(s) it opened changed, \
         nor any of the {} function(s) and {} file(s) earlier tests of its process ran or opened in the modules it uses that keep state{}",
        functions.len(),
        files.len(),
        deps.c.len(),
        deps.co.len(),
        if deps.sp { "" } else { ", and it starts no process" }
    );
    for f in functions.iter().take(30) {
        let _ = write!(out, "\n  ran {f}");
    }
    if functions.len() > 30 {
        let _ = write!(out, "\n  … and {} more", functions.len() - 30);
    }
    for f in &files {
        let _ = write!(out, "\n  opened {f}");
    }
    out
}
