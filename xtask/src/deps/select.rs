//! The selection: which tests a change can affect, each with its reason, or
//! the reason everything has to run.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::record::{project_path, Record};
use super::source;

/// Files whose change can affect any test in ways no record attributes.
const CONFIGURATION: [&str; 14] = [
    "pytest.ini",
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "tox.ini",
    "testing.toml",
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile",
    "Pipfile.lock",
    "requirements.txt",
    ".python-version",
    "conftest.py",
];

/// Sources of compiled extensions: what they build is not traced.
const EXTENSIONS: [&str; 8] = [".c", ".h", ".cpp", ".pyx", ".pxd", ".so", ".pyd", ".rs"];

/// Which recorded keys a change to one function touches: the function's
/// own key (`path::Qual.name`, its body entered) and its blocks' keys
/// (`path::Qual.name:LINE`).
struct Touched<'a> {
    key: &'a str,
    change: &'a source::Change,
    /// The lines of the function's blocks on record.
    known: &'a BTreeSet<u32>,
}

impl Touched<'_> {
    fn by(&self, recorded: &str) -> bool {
        if recorded == self.key {
            return match self.change {
                source::Change::Whole => true,
                source::Change::Blocks(lines) => lines.contains(&0),
            };
        }
        let Some(line) = super::record::split_block_key(recorded)
            .filter(|(function, _)| *function == self.key)
            .map(|(_, line)| line)
        else {
            return false;
        };
        match self.change {
            source::Change::Whole => true,
            source::Change::Blocks(lines) => match line.parse::<u32>() {
                // A block the record's fingerprints do not know: any change.
                Ok(line) => lines.contains(&line) || !self.known.contains(&line),
                Err(_) => true,
            },
        }
    }
}

/// The project's files whose recorded imports may name the module at
/// `path`, and through test files among them (`test_files`) the files that
/// import those, and so on.
fn importers(record: &Record, path: &str, test_files: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut next = vec![path.to_string()];
    while let Some(module) = next.pop() {
        for (file, entry) in &record.files {
            let names = entry.st.as_ref().is_some_and(|st| st.may_import(&module));
            if names && file != path && found.insert(file.clone()) && test_files.contains(file) {
                next.push(file.clone());
            }
        }
    }
    found
}

/// Why a test was selected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Reason {
    /// It is not in the record: new, renamed, or it failed when recorded.
    NoRecord,
    /// Its test file changed.
    TestFile { file: String },
    /// Its test file imports a test file that changed (`file`), itself or
    /// through other test files.
    ImportedTestFile { file: String },
    /// It executed a function that changed.
    Function { function: String },
    /// It entered a block of a function (`path::Qual.name:LINE`) whose
    /// statements changed.
    Block { function: String, line: u32 },
    /// It opened a file that changed.
    File { file: String },
    /// An earlier test of its process ran a function that changed, in a
    /// module this test used: state kept there may carry the effect.
    Carried { function: String },
    /// An earlier test of its process opened a file that changed, and ran
    /// code of a module this test used.
    CarriedFile { file: String },
    /// It started a process, and Python code of the project changed.
    Process { file: String },
}

impl Reason {
    /// The reason of a test that ran `key` (a function's or a block's).
    fn ran(key: &str) -> Reason {
        match super::record::split_block_key(key).map(|(f, line)| (f, line.parse())) {
            Some((function, Ok(line))) => Reason::Block {
                function: function.to_string(),
                line,
            },
            _ => Reason::Function {
                function: key.to_string(),
            },
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NoRecord => write!(f, "not in the record (new, or it failed when recorded)"),
            Reason::TestFile { file } => write!(f, "its test file {file} changed"),
            Reason::ImportedTestFile { file } => {
                write!(f, "its test file imports {file}, which changed")
            }
            Reason::Function { function } => write!(f, "it ran {function}, which changed"),
            Reason::Block { function, line } => write!(
                f,
                "it entered the block at line {line} of {function}, which changed"
            ),
            Reason::File { file } => write!(f, "it opened {file}, which changed"),
            Reason::Carried { function } => write!(
                f,
                "an earlier test of its process ran {function}, which changed, in a module it uses (state kept there may carry its effect)"
            ),
            Reason::CarriedFile { file } => write!(
                f,
                "an earlier test of its process opened {file}, which changed, and ran code of a module it uses"
            ),
            Reason::Process { file } => {
                write!(f, "it starts processes (not traced), and {file} changed")
            }
        }
    }
}

/// The outcome of a selection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Choice {
    /// Why every test has to run (`None`: only `selected`).
    pub everything: Option<String>,
    /// The files that differ from the record (added, changed or removed).
    pub changed: Vec<String>,
    /// Selected node ids, in collection order, with the first reason found.
    pub selected: Vec<(String, Reason)>,
    /// Every reason of every selected test.
    #[serde(skip)]
    pub reasons: BTreeMap<String, BTreeSet<Reason>>,
    /// Collected tests the change cannot affect.
    pub skipped: usize,
}

/// What the selection compares: the record, the files now, and the tests
/// collected now.
pub struct Inputs<'a> {
    pub record: Option<&'a Record>,
    /// The interpreter's `major.minor.micro` now.
    pub python: &'a str,
    /// Path from the project root → content hash, now.
    pub files: &'a BTreeMap<String, String>,
    /// Reads a project file's text now.
    pub read: &'a dyn Fn(&str) -> Option<String>,
    /// Node ids collected now, in order.
    pub collected: &'a [String],
    /// pytest's rootdir now, relative to the project root.
    pub rootdir: &'a str,
    /// Files changed since a revision (`--changed REV`), besides those that
    /// differ from the record.
    pub since: &'a [String],
    /// Project modules a `[services.<name>]` runs (path → service): no test
    /// executes them, every test using the service depends on them.
    pub services: &'a BTreeMap<String, String>,
}

/// Chooses the tests `inputs` says a change can affect.
pub fn choose(inputs: &Inputs) -> Choice {
    let everything = |why: String, changed: Vec<String>| Choice {
        everything: Some(why),
        changed,
        selected: inputs
            .collected
            .iter()
            .map(|id| (id.clone(), Reason::NoRecord))
            .collect(),
        ..Choice::default()
    };
    let Some(record) = inputs.record else {
        return everything(
            "there is no dependency record yet (a run with `--record-deps` makes one)".into(),
            Vec::new(),
        );
    };
    if !record.is_current() {
        return everything(
            format!(
                "the record was made by an older xtask (record format {}, this one reads {}); \
                 a full run with `--record-deps` makes a new one",
                record.version,
                super::record::VERSION
            ),
            Vec::new(),
        );
    }
    if minor(&record.python) != minor(inputs.python) {
        return everything(
            format!(
                "the record was made on Python {}, the tests now run on {}",
                record.python, inputs.python
            ),
            Vec::new(),
        );
    }
    let changed = changed_files(record, inputs);
    let mut reasons: BTreeMap<String, BTreeSet<Reason>> = BTreeMap::new();
    let mut add = |id: &str, reason: Reason| {
        reasons.entry(id.to_string()).or_default().insert(reason);
    };
    let test_files: BTreeSet<String> = inputs
        .collected
        .iter()
        .map(|id| project_path(inputs.rootdir, id))
        .chain(record.tests.keys().map(|id| record.test_file(id)))
        .collect();
    let mut python_changed = None;
    for path in &changed {
        let name = path.rsplit('/').next().unwrap_or(path);
        if CONFIGURATION.contains(&name)
            || (name.starts_with("requirements") && name.ends_with(".txt"))
        {
            return everything(format!("{path} changed: it configures every test"), changed);
        }
        if EXTENSIONS.iter().any(|ext| name.ends_with(ext)) {
            return everything(
                format!("{path} changed: compiled code is not traced"),
                changed,
            );
        }
        if test_files.contains(path) {
            for id in inputs.collected {
                if &project_path(inputs.rootdir, id) == path {
                    add(id, Reason::TestFile { file: path.clone() });
                }
            }
            // Test modules are not traced: what imports one is found by name.
            let importers = importers(record, path, &test_files);
            if let Some(other) = importers.iter().find(|f| !test_files.contains(*f)) {
                return everything(
                    format!(
                        "{path} changed, and {other} imports it, which no test's record covers"
                    ),
                    changed,
                );
            }
            for id in inputs.collected {
                if importers.contains(&project_path(inputs.rootdir, id)) {
                    add(id, Reason::ImportedTestFile { file: path.clone() });
                }
            }
            // A module that is also imported (doctests) is looked at as code too.
            if !record.imported.contains(path) {
                continue;
            }
        }
        if let Some(service) = inputs.services.get(path) {
            return everything(
                format!("{path} changed, and the `{service}` service runs it (outside any test)"),
                changed,
            );
        }
        let before = record.files.get(path);
        if path.ends_with(".py") {
            if before.is_none() {
                // New: only changed code or a changed test can reach it.
                python_changed.get_or_insert_with(|| path.clone());
                continue;
            }
            if !record.imported.contains(path) {
                return everything(
                    format!(
                        "{path} changed, and no recorded test process imported it \
                         (a subprocess, a plugin or the import system may run it)"
                    ),
                    changed,
                );
            }
            let Some(text) = (inputs.read)(path) else {
                return everything(
                    format!("{path} was removed, and recorded tests imported it"),
                    changed,
                );
            };
            let Some(old) = before.and_then(|b| b.py.as_ref()) else {
                return everything(format!("{path} has no fingerprints on record"), changed);
            };
            let now = source::facts(&text);
            if old.module != now.module {
                return everything(
                    format!("module-level code of {path} changed (imports, constants, class attributes)"),
                    changed,
                );
            }
            for (function, change) in old.changes(&now) {
                python_changed.get_or_insert_with(|| path.clone());
                let key = format!("{path}::{function}");
                if old.memoized.contains(&function) || now.memoized.contains(&function) {
                    return everything(
                        format!("{key} changed, and a cache serves its results to tests that are not on record"),
                        changed,
                    );
                }
                let known: BTreeSet<u32> = old
                    .blocks
                    .get(&function)
                    .map(|b| b.parts.iter().map(|(line, _)| *line).collect())
                    .unwrap_or_default();
                let touched = Touched {
                    key: &key,
                    change: &change,
                    known: &known,
                };
                if let Some(hit) = record.outside.iter().find(|k| touched.by(k)) {
                    return everything(
                        format!("{hit} changed, and it runs outside any test (at import, or in a session hook)"),
                        changed,
                    );
                }
                for (id, deps) in &record.tests {
                    if let Some(hit) = record.functions_of(deps).find(|k| touched.by(k)) {
                        add(id, Reason::ran(hit));
                    } else if let Some(hit) =
                        record.carried_functions_of(deps).find(|k| touched.by(k))
                    {
                        add(
                            id,
                            Reason::Carried {
                                function: hit.to_string(),
                            },
                        );
                    }
                }
            }
            continue;
        }
        let mut opened = false;
        for (id, deps) in &record.tests {
            if record.files_of(deps).any(|p| p == path) {
                opened = true;
                add(id, Reason::File { file: path.clone() });
            } else if record.carried_files_of(deps).any(|p| p == path) {
                add(id, Reason::CarriedFile { file: path.clone() });
            }
        }
        if !opened && before.is_some() {
            return everything(
                format!("{path} changed, and no recorded test opened it"),
                changed,
            );
        }
    }
    if let Some(file) = python_changed {
        for (id, deps) in &record.tests {
            if deps.sp {
                add(id, Reason::Process { file: file.clone() });
            }
        }
    }
    for id in inputs.collected {
        if !record.tests.contains_key(id) {
            add(id, Reason::NoRecord);
        }
    }
    let selected: Vec<(String, Reason)> = inputs
        .collected
        .iter()
        .filter_map(|id| {
            let first = reasons.get(id)?.iter().next()?.clone();
            Some((id.clone(), first))
        })
        .collect();
    Choice {
        everything: None,
        changed,
        skipped: inputs.collected.len() - selected.len(),
        selected,
        reasons,
    }
}

/// Files that differ between the record and now, plus those changed since
/// the revision asked for, sorted.
fn changed_files(record: &Record, inputs: &Inputs) -> Vec<String> {
    let mut changed: BTreeSet<String> = inputs.since.iter().cloned().collect();
    for (path, entry) in &record.files {
        if inputs.files.get(path) != Some(&entry.hash) {
            changed.insert(path.clone());
        }
    }
    for path in inputs.files.keys() {
        if !record.files.contains_key(path) {
            changed.insert(path.clone());
        }
    }
    changed.into_iter().collect()
}

fn minor(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((i, _)) => &version[..i],
        None => version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::record::{FileEntry, TestDeps};

    const CODE: &str = "def a():\n    return 1\n\n\ndef b():\n    return 2\n";

    /// A record of `src/m.py` (functions `a`, `b`), `data.csv`, and three
    /// tests: one runs `a`, one runs `b` and opens `data.csv`, one starts a process.
    fn record() -> Record {
        let mut files = BTreeMap::new();
        files.insert(
            "src/m.py".to_string(),
            FileEntry {
                hash: "h1".into(),
                py: Some(source::facts(CODE)),
                st: None,
            },
        );
        files.insert(
            "data.csv".to_string(),
            FileEntry {
                hash: "d1".into(),
                py: None,
                st: None,
            },
        );
        files.insert(
            "tests/test_m.py".to_string(),
            FileEntry {
                hash: "t1".into(),
                py: None,
                st: None,
            },
        );
        let test = |f: Vec<u32>, o: Vec<u32>, sp: bool| TestDeps {
            f,
            o,
            sp,
            dur: 1.0,
            ..TestDeps::default()
        };
        Record {
            version: crate::deps::record::VERSION,
            python: "3.11.7".into(),
            files,
            imported: ["src/m.py".to_string()].into(),
            keys: vec!["src/m.py::a".into(), "src/m.py::b".into()],
            paths: vec!["data.csv".into()],
            tests: [
                (
                    "tests/test_m.py::test_a".to_string(),
                    test(vec![0], vec![], false),
                ),
                (
                    "tests/test_m.py::test_b".to_string(),
                    test(vec![1], vec![0], false),
                ),
                (
                    "tests/test_m.py::test_cli".to_string(),
                    test(vec![], vec![], true),
                ),
            ]
            .into(),
            ..Record::default()
        }
    }

    fn files(record: &Record) -> BTreeMap<String, String> {
        record
            .files
            .iter()
            .map(|(k, v)| (k.clone(), v.hash.clone()))
            .collect()
    }

    fn run(record: &Record, files: &BTreeMap<String, String>, code: &str) -> Choice {
        let code = code.to_string();
        let read = move |p: &str| (p == "src/m.py").then(|| code.clone());
        let collected: Vec<String> = record.tests.keys().cloned().collect();
        choose(&Inputs {
            record: Some(record),
            python: "3.11.9",
            files,
            read: &read,
            collected: &collected,
            rootdir: "",
            since: &[],
            services: &BTreeMap::new(),
        })
    }

    fn ids(choice: &Choice) -> Vec<&str> {
        choice.selected.iter().map(|(id, _)| id.as_str()).collect()
    }

    #[test]
    fn a_changed_function_selects_its_tests_and_the_process_starters() {
        let record = record();
        let mut now = files(&record);
        now.insert("src/m.py".into(), "h2".into());
        let choice = run(&record, &now, &CODE.replace("return 2", "return 3"));
        assert_eq!(choice.everything, None);
        assert_eq!(
            ids(&choice),
            ["tests/test_m.py::test_b", "tests/test_m.py::test_cli"]
        );
        assert_eq!(choice.skipped, 1);
        assert_eq!(
            choice.selected[0].1,
            Reason::Function {
                function: "src/m.py::b".into()
            }
        );
    }

    #[test]
    fn unchanged_files_select_nothing_and_a_data_file_selects_its_readers() {
        let record = record();
        let mut now = files(&record);
        assert!(run(&record, &now, CODE).selected.is_empty());
        now.insert("data.csv".into(), "d2".into());
        assert_eq!(ids(&run(&record, &now, CODE)), ["tests/test_m.py::test_b"]);
    }

    #[test]
    fn what_the_record_cannot_attribute_selects_everything() {
        let record = record();
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "src/m.py",
                format!("import os\n{CODE}"),
                "module-level code",
            ),
            ("pyproject.toml", CODE.into(), "it configures every test"),
            ("src/ext.c", CODE.into(), "compiled code"),
        ];
        for (path, code, why) in cases {
            let mut now = files(&record);
            now.insert(path.into(), "changed".into());
            let mut with = record.clone();
            if path != "src/m.py" {
                with.files.insert(
                    path.into(),
                    FileEntry {
                        hash: "old".into(),
                        py: None,
                        st: None,
                    },
                );
            }
            let choice = run(&with, &now, &code);
            assert!(
                choice
                    .everything
                    .as_deref()
                    .is_some_and(|w| w.contains(why)),
                "{path}: {:?}",
                choice.everything
            );
            assert_eq!(choice.selected.len(), 3);
        }
        let mut outside = record.clone();
        outside.outside.insert("src/m.py::a".into());
        let mut now = files(&record);
        now.insert("src/m.py".into(), "h2".into());
        let choice = run(&outside, &now, &CODE.replace("return 1", "return 0"));
        assert!(choice.everything.unwrap().contains("runs outside any test"));
        let choice = run(&record, &files(&record), CODE);
        assert!(choice.everything.is_none());
    }

    #[test]
    fn no_record_or_another_python_selects_everything() {
        let record = record();
        let now = files(&record);
        let read = |_: &str| None;
        let collected = vec!["tests/test_m.py::test_a".to_string()];
        let services = BTreeMap::new();
        let inputs = |record| Inputs {
            record,
            python: "3.12.1",
            files: &now,
            read: &read,
            collected: &collected,
            rootdir: "",
            since: &[],
            services: &services,
        };
        assert!(choose(&inputs(None))
            .everything
            .unwrap()
            .contains("no dependency record"));
        assert!(choose(&inputs(Some(&record)))
            .everything
            .unwrap()
            .contains("made on Python 3.11.7"));
        let older = Record {
            version: 1,
            ..record.clone()
        };
        assert!(choose(&inputs(Some(&older)))
            .everything
            .unwrap()
            .contains("made by an older xtask (record format 1"));
    }
}
