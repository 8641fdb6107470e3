//! `reports/deps.json`: what every test of a recorded run depended on, and
//! the project's files as they were then. Built by the xtask from the run's
//! event stream (the `deps` of each test event); read by the selection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::source::{self, Facts};
use crate::events::{self, Event};
use crate::fsx;

pub const FILE_NAME: &str = "deps.json";
/// The record's format: 2 adds blocks (keys `path::Qual.name:LINE` and
/// their fingerprints) and the modules that keep state; 3, what test
/// modules' bodies ran at import as their tests' own, and the names each
/// file's imports mention.
pub const VERSION: u32 = 3;

/// A project file when the record was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The content's hash.
    pub hash: String,
    /// A Python file's fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub py: Option<Facts>,
    /// What a Python file says about state kept between tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub st: Option<super::state::Shape>,
}

/// What one test depended on (indexes into the record's `keys` and `paths`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestDeps {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub f: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub o: Vec<u32>,
    /// Functions an earlier test of its process executed in the modules it
    /// executed code of (state kept there may carry their effect).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub c: Vec<u32>,
    /// Files such earlier tests opened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co: Vec<u32>,
    /// It started a process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sp: bool,
    /// Its recorded seconds.
    #[serde(default)]
    pub dur: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    /// The commit the working tree was at (with any changes in `files`).
    pub commit: Option<String>,
    /// `major.minor.micro` of the interpreter the tests ran on.
    pub python: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// pytest's rootdir, relative to the project root (`""`: the same).
    pub rootdir: String,
    /// Every project file then, by path from the project root.
    pub files: BTreeMap<String, FileEntry>,
    /// The project modules some test process imported (and so instrumented).
    pub imported: BTreeSet<String>,
    /// Function keys executed outside any test: at import, in session hooks.
    pub outside: BTreeSet<String>,
    /// Function keys (`path::Qual.name`) the tests refer to.
    pub keys: Vec<String>,
    /// Files (other than Python sources) the tests refer to.
    pub paths: Vec<String>,
    /// Node id → what it depended on. Tests that failed, erred or crashed
    /// are left out: they run until they pass.
    pub tests: BTreeMap<String, TestDeps>,
    /// The project's modules that keep state from one test to the next
    /// (only these carry what earlier tests ran), and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, String>,
    /// Tests this record's run ran and left out (a CI shard's record, so
    /// that `merge` does not keep an older entry for them).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub failed: BTreeSet<String>,
}

impl Record {
    /// The record at `path`: `Ok(None)` when there is none.
    pub fn load(path: &Path) -> anyhow::Result<Option<Record>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read `{}`: {e}", path.display()),
        };
        let record: Record = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "`{}` is not a dependency record ({e}); delete it and record again with `--record-deps`",
                path.display()
            )
        })?;
        Ok(Some(record))
    }

    /// Whether this xtask's format wrote it. An older record is read (the
    /// selection runs everything, saying why) but never added to.
    pub fn is_current(&self) -> bool {
        self.version == VERSION
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        fsx::atomic_write(path, serde_json::to_vec(self)?)
    }

    /// The project functions on record (not their blocks' keys).
    pub fn function_count(&self) -> usize {
        self.keys.iter().filter(|k| !is_block_key(k)).count()
    }

    /// The function keys a recorded test executed.
    pub fn functions_of<'a>(&'a self, deps: &'a TestDeps) -> impl Iterator<Item = &'a str> + 'a {
        named(&self.keys, &deps.f)
    }

    /// The files a recorded test opened.
    pub fn files_of<'a>(&'a self, deps: &'a TestDeps) -> impl Iterator<Item = &'a str> + 'a {
        named(&self.paths, &deps.o)
    }

    /// The functions whose effect an earlier test of its process may have
    /// left for a recorded test ([`TestDeps::c`]).
    pub fn carried_functions_of<'a>(
        &'a self,
        deps: &'a TestDeps,
    ) -> impl Iterator<Item = &'a str> + 'a {
        named(&self.keys, &deps.c)
    }

    /// The files earlier tests of its process opened ([`TestDeps::co`]).
    pub fn carried_files_of<'a>(
        &'a self,
        deps: &'a TestDeps,
    ) -> impl Iterator<Item = &'a str> + 'a {
        named(&self.paths, &deps.co)
    }

    /// The recorded seconds of the tests `ids` (those on record).
    pub fn seconds<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> f64 {
        // (`+ 0.0`: an empty sum is -0.0.)
        ids.into_iter()
            .filter_map(|id| self.tests.get(id).map(|t| t.dur))
            .sum::<f64>()
            + 0.0
    }

    /// The project path of a node id's file.
    pub fn test_file(&self, nodeid: &str) -> String {
        project_path(&self.rootdir, nodeid)
    }
}

/// The entries of `table` at `ids`.
fn named<'a>(table: &'a [String], ids: &'a [u32]) -> impl Iterator<Item = &'a str> + 'a {
    ids.iter()
        .filter_map(|&i| table.get(i as usize).map(String::as_str))
}

/// A node id's file as a path from the project root.
pub fn project_path(rootdir: &str, nodeid: &str) -> String {
    let module = crate::durations::module_of(nodeid);
    if rootdir.is_empty() {
        module.to_string()
    } else {
        format!("{rootdir}/{module}")
    }
}

/// The project's files now, by path from `root` to content hash: what git
/// tracks or would track (`.gitignore` respected), or, outside a git
/// repository, every file not hidden, in a virtual environment or in `skip`.
pub fn snapshot(root: &Path, skip: &[&Path]) -> BTreeMap<String, String> {
    let listed = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success());
    let files: Vec<PathBuf> = match listed {
        Some(out) => out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .collect(),
        None => fsx::project_tree(root, skip, |_| true),
    };
    files
        .into_iter()
        .filter(|p| !skip.iter().any(|s| p.starts_with(s)))
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let rel = fsx::relative(&p, root).to_string_lossy().replace('\\', "/");
            Some((rel, crate::hash::of(bytes, 8)))
        })
        .collect()
}

/// The facts of the Python files of `files` (read from `root`).
pub fn with_facts(
    root: &Path,
    files: BTreeMap<String, String>,
    wanted: impl Fn(&str) -> bool,
    previous: Option<&Record>,
) -> BTreeMap<String, FileEntry> {
    files
        .into_iter()
        .map(|(path, hash)| {
            let known = previous
                .and_then(|r| r.files.get(&path))
                .filter(|e| e.hash == hash && e.py.is_some())
                .and_then(|e| e.py.clone());
            let py = match known {
                Some(py) => Some(py),
                None if path.ends_with(".py") && wanted(&path) => {
                    std::fs::read_to_string(root.join(&path))
                        .ok()
                        .map(|text| source::facts(&text))
                }
                None => None,
            };
            (path, FileEntry { hash, py, st: None })
        })
        .collect()
}

/// What a run's event stream says the tests depended on.
#[derive(Debug, Default)]
pub struct Observed {
    pub python: String,
    pub rootdir: Option<String>,
    pub imported: BTreeSet<String>,
    pub outside: BTreeSet<String>,
    /// Node id → what it did itself, for tests that passed, were skipped or
    /// xfailed (ids of `keys` and `paths`).
    pub tests: BTreeMap<String, Own>,
    /// Node id → (functions, files) earlier tests of its process left in
    /// the modules it executed code of, as ids of `keys` and `paths`.
    pub carried: HashMap<String, (Vec<u32>, Vec<u32>)>,
    /// Test module node id → the keys its body executed and the files it
    /// opened while pytest imported it (see [`Observed::attribute_collection`]).
    pub collected: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    /// Every test that ended in this run, recorded or not.
    pub ran: BTreeSet<String>,
    /// Tests that ended without a usable record (failed, erred, crashed, no deps).
    pub unrecorded: usize,
    keys: Interner,
    paths: Interner,
}

/// What one test did itself.
#[derive(Debug, Default, Clone)]
pub struct Own {
    pub f: Vec<u32>,
    pub o: Vec<u32>,
    pub sp: bool,
    /// It used a fixture wider than the function.
    pub sh: bool,
    /// The widest was class-scoped, and it is in a class: only the tests
    /// of its class shared it.
    pub shc: bool,
    pub dur: f64,
}

/// A test's `deps` as the plugin's `xtask_deps` writes them: numbers in its
/// process's tables, and the names of the numbers new in this report.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Wire {
    pid: u32,
    f: Vec<u32>,
    o: Vec<u32>,
    /// Names of the next key numbers of this process.
    k: Vec<String>,
    /// Names of the next path numbers of this process.
    p: Vec<String>,
    sp: bool,
    sh: bool,
    shc: bool,
    /// Keys its process executed outside any test since its last report.
    g: Vec<String>,
    /// Project modules its process imported since its last report.
    m: Vec<String>,
    /// Test module node id → the keys its body executed and the files it
    /// opened while pytest imported it, for modules not reported before.
    gc: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

/// One process's numbering: its numbers → ids of the record's tables.
#[derive(Default)]
struct Numbering {
    keys: Vec<u32>,
    paths: Vec<u32>,
}

/// Reads the `deps` of every test event in `stream`.
///
/// A test also depends on what earlier tests of its process did in the
/// modules it executed code of that keep state between tests (`keeps_state`,
/// by module path; see [`super::state`]): such state (a cache of lexers, a
/// registry, a memo dict) carries the effect of a function run once, by the
/// first test that needed it, into every later test that uses the module,
/// as it carries the content of a file read once. So each test also carries
/// the functions its process had executed before it in those modules, and
/// the files the tests that executed them opened.
pub fn observe(stream: &Path, keeps_state: &dyn Fn(&str) -> bool) -> anyhow::Result<Observed> {
    let text = std::fs::read_to_string(stream)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", stream.display()))?;
    let mut seen = Observed::default();
    let mut process = 0usize;
    type Process = (usize, Option<String>, u32);
    let mut numbering: HashMap<Process, Numbering> = HashMap::new();
    // Process → module → ids of functions executed and files opened so far.
    type SoFar = HashMap<u32, (BTreeSet<u32>, BTreeSet<u32>)>;
    let mut executed: HashMap<Process, SoFar> = HashMap::new();
    // Key id → id of its module (a path in `module_ids`).
    let mut module_ids = Interner::default();
    let mut module_of: Vec<u32> = Vec::new();
    // Key id → whether its module keeps state.
    let mut carries: Vec<bool> = Vec::new();
    for line in text.lines() {
        let Some(event) = parse(line) else {
            continue;
        };
        let (test, deps, worker) = match event {
            Line::Start { python, rootdir } => {
                process += 1;
                seen.python = python;
                seen.rootdir.get_or_insert(rootdir);
                continue;
            }
            Line::Names { worker, pid, k, p } => {
                let table = numbering.entry((process, worker, pid)).or_default();
                table.keys.extend(k.iter().map(|k| seen.keys.id(k)));
                table.paths.extend(p.iter().map(|p| seen.paths.id(p)));
                continue;
            }
            Line::Test(mut test) => {
                seen.ran.insert(test.id.clone());
                let Some(deps) = test.deps.take() else {
                    seen.unrecorded += 1;
                    continue;
                };
                let worker = test.worker.clone();
                (test, deps, worker)
            }
        };
        seen.imported.extend(deps.m.iter().cloned());
        seen.outside.extend(deps.g.iter().cloned());
        for (module, (keys, files)) in &deps.gc {
            let (k, f) = seen.collected.entry(module.clone()).or_default();
            k.extend(keys.iter().cloned());
            f.extend(files.iter().cloned());
        }
        let who = (process, worker, deps.pid);
        let table = numbering.entry(who.clone()).or_default();
        table.keys.extend(deps.k.iter().map(|k| seen.keys.id(k)));
        table.paths.extend(deps.p.iter().map(|p| seen.paths.id(p)));
        let (Some(own), Some(opened)) = (
            deps.f
                .iter()
                .map(|&n| table.keys.get(n as usize).copied())
                .collect::<Option<Vec<u32>>>(),
            deps.o
                .iter()
                .map(|&n| table.paths.get(n as usize).copied())
                .collect::<Option<Vec<u32>>>(),
        ) else {
            // A number without a name: a report of its process went missing.
            seen.unrecorded += 1;
            continue;
        };
        while module_of.len() < seen.keys.values.len() {
            let key = &seen.keys.values[module_of.len()];
            let module = module_of_key(key);
            module_of.push(module_ids.id(module));
            carries.push(keeps_state(module));
        }
        let so_far = executed.entry(who).or_default();
        let modules: BTreeSet<u32> = own
            .iter()
            .filter(|&&k| carries[k as usize])
            .map(|&k| module_of[k as usize])
            .collect();
        let (mut keys, mut files) = (BTreeSet::new(), BTreeSet::new());
        if !modules.is_empty() {
            let mut own_sorted = own.clone();
            own_sorted.sort_unstable();
            let mut opened_sorted = opened.clone();
            opened_sorted.sort_unstable();
            for module in &modules {
                if let Some((k, f)) = so_far.get(module) {
                    keys.extend(k.iter().filter(|k| own_sorted.binary_search(k).is_err()));
                    files.extend(f.iter().filter(|f| opened_sorted.binary_search(f).is_err()));
                }
            }
        }
        for module in &modules {
            let (k, f) = so_far.entry(*module).or_default();
            k.extend(
                own.iter()
                    .filter(|&&key| module_of[key as usize] == *module),
            );
            f.extend(opened.iter().copied());
        }
        if test.outcome.is_failure() || test.crashed {
            seen.unrecorded += 1;
            continue;
        }
        seen.carried.insert(
            test.id.clone(),
            (keys.into_iter().collect(), files.into_iter().collect()),
        );
        seen.tests.insert(
            test.id,
            Own {
                f: own,
                o: opened,
                sp: deps.sp,
                sh: deps.sh,
                shc: deps.shc,
                dur: test.dur,
            },
        );
    }
    Ok(seen)
}

impl Observed {
    /// Adds what each test module's body executed and opened while pytest
    /// imported it to that module's tests: code building a module's
    /// constants, classes and parameters is that module's tests' own
    /// dependency. Unless `shared(module path, keys)`: another file imports
    /// the module (its objects reach other tests), or a key's module keeps
    /// state (what it built stays for every later test); the keys then
    /// count as run outside any test, as they did before, and so select
    /// every test.
    pub fn attribute_collection(&mut self, root: &Path, shared: impl Fn(&str, &[String]) -> bool) {
        let rootdir = relative_rootdir(root, self.rootdir.as_deref());
        let mut own: HashMap<String, (Vec<u32>, Vec<u32>)> = HashMap::new();
        for (module, (keys, files)) in std::mem::take(&mut self.collected) {
            let keys: Vec<String> = keys.into_iter().collect();
            if shared(&project_path(&rootdir, &module), &keys) {
                self.outside.extend(keys);
                continue;
            }
            let keys = keys.iter().map(|k| self.keys.id(k)).collect();
            let files = files.iter().map(|f| self.paths.id(f)).collect();
            own.insert(module, (keys, files));
        }
        if own.is_empty() {
            return;
        }
        for (id, test) in self.tests.iter_mut() {
            let module = id.split_once("::").map_or(id.as_str(), |(m, _)| m);
            if let Some((keys, files)) = own.get(module) {
                test.f.extend(keys.iter().copied());
                test.o.extend(files.iter().copied());
            }
        }
    }
}

/// pytest's rootdir `rootdir` as the record keeps it: relative to the
/// project `root`, `""` when the same (or outside it).
fn relative_rootdir(root: &Path, rootdir: Option<&str>) -> String {
    rootdir
        .map(|r| {
            fsx::relative(Path::new(r), root)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|r| r != "." && !r.starts_with(".."))
        .unwrap_or_default()
}

/// The lines of the stream a record reads.
enum Line {
    Start {
        python: String,
        rootdir: String,
    },
    Test(TestLine),
    /// Names a process numbered in a report that was not a test's end.
    Names {
        worker: Option<String>,
        pid: u32,
        k: Vec<String>,
        p: Vec<String>,
    },
}

/// A test event with its dependencies (the run's own reader skips them).
#[derive(serde::Deserialize)]
struct TestLine {
    id: String,
    outcome: crate::events::Outcome,
    #[serde(default)]
    dur: f64,
    #[serde(default)]
    crashed: bool,
    #[serde(default)]
    worker: Option<String>,
    /// `None` also for dependencies of a shape no plugin of this version
    /// writes: the test ran, unrecorded.
    #[serde(default, deserialize_with = "readable")]
    deps: Option<Wire>,
}

/// `deps` when they read as a [`Wire`], `None` otherwise.
fn readable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Wire>, D::Error> {
    use serde::Deserialize;
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

#[derive(serde::Deserialize)]
struct NamesLine {
    #[serde(default)]
    worker: Option<String>,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    k: Vec<String>,
    #[serde(default)]
    p: Vec<String>,
}

fn parse(line: &str) -> Option<Line> {
    if line.starts_with("{\"e\":\"test\"") {
        return serde_json::from_str::<TestLine>(line).ok().map(Line::Test);
    }
    if line.starts_with("{\"e\":\"deps_names\"") {
        let names: NamesLine = serde_json::from_str(line).ok()?;
        return Some(Line::Names {
            worker: names.worker,
            pid: names.pid,
            k: names.k,
            p: names.p,
        });
    }
    match events::parse_line(line)? {
        Event::Start(start) => Some(Line::Start {
            python: start.python,
            rootdir: start.rootdir,
        }),
        _ => None,
    }
}

/// The file of a function key (`path::Qual.name` → `path`).
/// Whether a key names a block of a function (`path::Qual.name:LINE`)
/// rather than the function.
pub fn is_block_key(key: &str) -> bool {
    split_block_key(key).is_some()
}

/// A block's key (`path::Qual.name:LINE`) as its function's key and its
/// line (`?`: any block of the function); `None` for a function's key.
pub fn split_block_key(key: &str) -> Option<(&str, &str)> {
    let (_, name) = key.split_once("::")?;
    if !name.contains(':') {
        return None;
    }
    key.rsplit_once(':')
}

/// `key` of a record made over other files, valid over `now`: a block's
/// line (`path::Qual.name:LINE`) in a file that changed since may name
/// another block now (code moved), so it becomes `path::Qual.name:?`,
/// which any change of the function touches.
fn key_now<'k>(
    key: &'k str,
    then: &Record,
    now: &BTreeMap<String, FileEntry>,
) -> std::borrow::Cow<'k, str> {
    if !is_block_key(key) {
        return key.into();
    }
    let path = module_of_key(key);
    let same = then.files.get(path).map(|e| &e.hash) == now.get(path).map(|e| &e.hash);
    match split_block_key(key) {
        Some((function, _)) if !same => format!("{function}:?").into(),
        _ => key.into(),
    }
}

/// The keys `then` saw run outside any test, valid over the files `now`
/// (see [`key_now`]).
fn outside_now(then: &Record, now: &BTreeMap<String, FileEntry>) -> Vec<String> {
    then.outside
        .iter()
        .map(|k| key_now(k, then, now).into_owned())
        .collect()
}

/// The node id of the class a test in a class belongs to
/// (`tests/t.py::TestX` of `tests/t.py::TestX::test_y[a::b]`).
fn class_of(id: &str) -> &str {
    let plain = id.split_once('[').map_or(id, |(plain, _)| plain);
    plain.rsplit_once("::").map_or(plain, |(class, _)| class)
}

pub fn module_of_key(key: &str) -> &str {
    key.split_once("::").map_or(key, |(path, _)| path)
}

/// The record of a run: what it observed, over the files as they are now.
/// `previous` keeps the tests this run did not run (a selected run), and
/// what earlier runs saw imported or executed outside tests.
pub fn build(
    root: &Path,
    mut seen: Observed,
    files: BTreeMap<String, FileEntry>,
    previous: Option<Record>,
    commit: Option<String>,
) -> Record {
    let rootdir = relative_rootdir(root, seen.rootdir.as_deref());
    let mut record = Record {
        version: VERSION,
        commit,
        python: seen.python.clone(),
        created: crate::report::history::now_utc(),
        rootdir,
        files,
        imported: std::mem::take(&mut seen.imported),
        outside: std::mem::take(&mut seen.outside),
        ..Record::default()
    };
    let mut keys = std::mem::take(&mut seen.keys);
    let mut paths = std::mem::take(&mut seen.paths);
    // Tests that share a wider fixture's state depend on what any of them
    // executed: the state one of them changed is what the next one sees.
    // The group is the test's file, or its class when only class-scoped
    // fixtures were wider (it also counts in its file's group, for the
    // tests there that share wider ones).
    let group_of = |id: &str, own: &Own| match own.shc {
        true => class_of(id).to_string(),
        false => project_path(&record.rootdir, id),
    };
    let mut shared: HashMap<String, Own> = HashMap::new();
    for (id, own) in &seen.tests {
        if own.sh {
            let mut groups = vec![project_path(&record.rootdir, id)];
            if own.shc {
                groups.push(class_of(id).to_string());
            }
            for key in groups {
                let group = shared.entry(key).or_default();
                group.f.extend(own.f.iter().copied());
                group.o.extend(own.o.iter().copied());
                group.sp |= own.sp;
            }
        }
    }
    for group in shared.values_mut() {
        group.f.sort_unstable();
        group.f.dedup();
        group.o.sort_unstable();
        group.o.dedup();
    }
    for (id, own) in std::mem::take(&mut seen.tests) {
        let (mut f, mut o, sp) = match own.sh {
            true => {
                let group = &shared[&group_of(&id, &own)];
                (group.f.clone(), group.o.clone(), group.sp)
            }
            false => (own.f, own.o, own.sp),
        };
        let dur = own.dur;
        f.sort_unstable();
        f.dedup();
        o.sort_unstable();
        o.dedup();
        let (mut c, mut co) = seen.carried.remove(&id).unwrap_or_default();
        // (`f` and `o` are sorted.)
        c.retain(|i| f.binary_search(i).is_err());
        co.retain(|i| o.binary_search(i).is_err());
        c.sort_unstable();
        co.sort_unstable();
        record.tests.insert(
            id,
            TestDeps {
                f,
                o,
                c,
                co,
                sp,
                dur,
            },
        );
    }
    if let Some(previous) = previous.filter(|p| p.python == record.python) {
        record.imported.extend(previous.imported.iter().cloned());
        let outside = outside_now(&previous, &record.files);
        record.outside.extend(outside);
        for (id, deps) in &previous.tests {
            // A test this run ran is on record as this run left it (or not
            // at all, when it failed).
            if seen.ran.contains(id) {
                continue;
            }
            record.tests.insert(
                id.clone(),
                reinterned(&previous, deps, &mut keys, &mut paths, &record.files),
            );
        }
    }
    record.failed = seen
        .ran
        .iter()
        .filter(|id| !record.tests.contains_key(*id))
        .cloned()
        .collect();
    record.keys = keys.values;
    record.paths = paths.values;
    record
}

/// One record of CI shards' records (each of the tests its shard ran) and
/// the record they started from (`previous`, for the tests no shard ran).
pub fn merge(shards: Vec<Record>, previous: Option<Record>) -> Option<Record> {
    let mut shards = shards.into_iter();
    let first = shards.next()?;
    let mut keys = Interner::default();
    let mut paths = Interner::default();
    let mut merged = Record {
        keys: Vec::new(),
        paths: Vec::new(),
        tests: BTreeMap::new(),
        ..first.clone()
    };
    let mut ran: BTreeSet<String> = BTreeSet::new();
    // The shards ran over the same files; the previous record maybe not.
    let now = first.files.clone();
    let mut add = |record: &Record, merged: &mut Record, only_new: Option<&BTreeSet<String>>| {
        for (id, deps) in &record.tests {
            if only_new.is_some_and(|ran| ran.contains(id)) || merged.tests.contains_key(id) {
                continue;
            }
            merged.tests.insert(
                id.clone(),
                reinterned(record, deps, &mut keys, &mut paths, &now),
            );
        }
    };
    add(&first, &mut merged, None);
    ran.extend(first.tests.keys().cloned());
    ran.extend(first.failed.iter().cloned());
    for shard in shards {
        // Each shard fingerprinted the modules its own tests imported.
        for (path, entry) in &shard.files {
            if let Some(mine) = merged.files.get_mut(path) {
                if mine.py.is_none() && mine.hash == entry.hash {
                    mine.py.clone_from(&entry.py);
                }
            }
        }
        merged.imported.extend(shard.imported.iter().cloned());
        merged.outside.extend(shard.outside.iter().cloned());
        for (module, why) in &shard.state {
            merged
                .state
                .entry(module.clone())
                .or_insert_with(|| why.clone());
        }
        merged.failed.extend(shard.failed.iter().cloned());
        add(&shard, &mut merged, None);
        ran.extend(shard.tests.keys().cloned());
        ran.extend(shard.failed.iter().cloned());
    }
    if let Some(previous) = previous.filter(|p| p.python == merged.python) {
        for (path, entry) in &previous.files {
            if let Some(mine) = merged.files.get_mut(path) {
                if mine.py.is_none() && mine.hash == entry.hash {
                    mine.py.clone_from(&entry.py);
                }
            }
        }
        merged.imported.extend(previous.imported.iter().cloned());
        merged.outside.extend(outside_now(&previous, &now));
        add(&previous, &mut merged, Some(&ran));
    }
    merged.failed.clear();
    merged.keys = keys.values;
    merged.paths = paths.values;
    Some(merged)
}

/// A test's entry of `record`, with its keys and paths in new tables,
/// and its block keys valid over the files `now`.
fn reinterned(
    record: &Record,
    deps: &TestDeps,
    keys: &mut Interner,
    paths: &mut Interner,
    now: &BTreeMap<String, FileEntry>,
) -> TestDeps {
    TestDeps {
        f: record
            .functions_of(deps)
            .map(|k| keys.id(&key_now(k, record, now)))
            .collect(),
        o: record.files_of(deps).map(|p| paths.id(p)).collect(),
        c: record
            .carried_functions_of(deps)
            .map(|k| keys.id(&key_now(k, record, now)))
            .collect(),
        co: record.carried_files_of(deps).map(|p| paths.id(p)).collect(),
        sp: deps.sp,
        dur: deps.dur,
    }
}

#[derive(Debug, Default)]
struct Interner {
    values: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&i) = self.index.get(value) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(value.to_string());
        self.index.insert(value.to_string(), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tests: &[(&str, &[&str])], failed: &[&str]) -> Record {
        let mut keys = Interner::default();
        let tests = tests
            .iter()
            .map(|(id, f)| {
                let f = f.iter().map(|k| keys.id(k)).collect();
                (
                    id.to_string(),
                    TestDeps {
                        f,
                        ..TestDeps::default()
                    },
                )
            })
            .collect();
        Record {
            version: VERSION,
            python: "3.11.7".into(),
            keys: keys.values,
            tests,
            failed: failed.iter().map(|s| s.to_string()).collect(),
            ..Record::default()
        }
    }

    fn functions(record: &Record, id: &str) -> Vec<String> {
        record
            .functions_of(&record.tests[id])
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn merged_shards_keep_what_each_ran_and_the_previous_record_the_rest() {
        let one = record(&[("t.py::a", &["m.py::f"])], &["t.py::b"]);
        let two = record(&[("t.py::c", &["m.py::g", "m.py::f"])], &[]);
        let previous = record(
            &[
                ("t.py::a", &["m.py::old"]),
                ("t.py::b", &["m.py::old"]),
                ("t.py::d", &["m.py::h"]),
            ],
            &[],
        );
        let merged = merge(vec![one, two], Some(previous)).unwrap();
        let ids: Vec<&str> = merged.tests.keys().map(String::as_str).collect();
        // b failed in its shard: no stale entry from the previous record.
        assert_eq!(ids, ["t.py::a", "t.py::c", "t.py::d"]);
        assert_eq!(functions(&merged, "t.py::a"), ["m.py::f"]);
        assert_eq!(functions(&merged, "t.py::c"), ["m.py::g", "m.py::f"]);
        assert_eq!(functions(&merged, "t.py::d"), ["m.py::h"]);
        assert!(merged.failed.is_empty());
        assert!(merge(Vec::new(), None).is_none());
    }

    #[test]
    fn a_test_whose_dependencies_cannot_be_read_still_ran() {
        let line =
            r#"{"e":"test","id":"t.py::a","outcome":"passed","deps":{"pid":1,"f":[0],"k":[1]}}"#;
        let Some(Line::Test(test)) = parse(line) else {
            panic!("not read as a test");
        };
        assert_eq!(test.id, "t.py::a");
        assert!(test.deps.is_none());
        let line = r#"{"e":"test","id":"t.py::a","outcome":"passed","deps":{"pid":1,"f":[0],"k":["m.py::f"]}}"#;
        let Some(Line::Test(test)) = parse(line) else {
            panic!("not read as a test");
        };
        assert_eq!(test.deps.unwrap().k, ["m.py::f"]);
    }

    #[test]
    fn kept_block_keys_of_a_file_changed_since_match_any_change_of_their_function() {
        let file = |hash: &str| FileEntry {
            hash: hash.into(),
            py: None,
            st: None,
        };
        let with_files = |mut r: Record, hash: &str| {
            r.files.insert("m.py".into(), file(hash));
            r
        };
        let shard = with_files(record(&[("t.py::a", &["m.py::f"])], &[]), "new");
        let previous = with_files(
            record(&[("t.py::d", &["m.py::f", "m.py::f:5", "m.py::g:9"])], &[]),
            "old",
        );
        let merged = merge(vec![shard.clone()], Some(previous.clone())).unwrap();
        // Code may have moved: line 5 may be another block of `f` now.
        assert_eq!(
            functions(&merged, "t.py::d"),
            ["m.py::f", "m.py::f:?", "m.py::g:?"]
        );
        // Unchanged since: the lines still hold.
        let same = with_files(previous, "new");
        let merged = merge(vec![shard], Some(same)).unwrap();
        assert_eq!(
            functions(&merged, "t.py::d"),
            ["m.py::f", "m.py::f:5", "m.py::g:9"]
        );
    }
}
