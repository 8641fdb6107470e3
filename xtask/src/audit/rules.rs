//! The isolation rules `cargo xtask audit` checks: a stable kebab-case id, a
//! default severity, and the text shown in reports and SARIF rule metadata.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is; `[audit] severity` is the lowest one that fails the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule; its id is what `# xtask: allow(<id>)` and `[audit] allow` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    SyntaxError,
    SharedTmpPath,
    FixedCwdFile,
    UnmanagedTempfile,
    SharedMutableFixture,
    ModuleResource,
    ModuleMutableState,
    GlobalStatement,
    OsEnvironMutation,
    SysPathMutation,
    OsChdir,
    SysModulesMutation,
    FixedPort,
    FixedDatabaseName,
    DagsterInstanceGet,
    ModuleDagsterContext,
}

impl Rule {
    /// Every rule, in the order reports and SARIF list them.
    pub const ALL: [Rule; 16] = [
        Rule::SyntaxError,
        Rule::SharedTmpPath,
        Rule::FixedCwdFile,
        Rule::UnmanagedTempfile,
        Rule::SharedMutableFixture,
        Rule::ModuleResource,
        Rule::ModuleMutableState,
        Rule::GlobalStatement,
        Rule::OsEnvironMutation,
        Rule::SysPathMutation,
        Rule::OsChdir,
        Rule::SysModulesMutation,
        Rule::FixedPort,
        Rule::FixedDatabaseName,
        Rule::DagsterInstanceGet,
        Rule::ModuleDagsterContext,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Rule::SyntaxError => "syntax-error",
            Rule::SharedTmpPath => "shared-tmp-path",
            Rule::FixedCwdFile => "fixed-cwd-file",
            Rule::UnmanagedTempfile => "unmanaged-tempfile",
            Rule::SharedMutableFixture => "shared-mutable-fixture",
            Rule::ModuleResource => "module-resource",
            Rule::ModuleMutableState => "module-mutable-state",
            Rule::GlobalStatement => "global-statement",
            Rule::OsEnvironMutation => "os-environ-mutation",
            Rule::SysPathMutation => "sys-path-mutation",
            Rule::OsChdir => "os-chdir",
            Rule::SysModulesMutation => "sys-modules-mutation",
            Rule::FixedPort => "fixed-port",
            Rule::FixedDatabaseName => "fixed-database-name",
            Rule::DagsterInstanceGet => "dagster-instance-get",
            Rule::ModuleDagsterContext => "module-dagster-context",
        }
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// Every id, for config validation and "did you mean".
    pub fn ids() -> Vec<&'static str> {
        Rule::ALL.iter().map(|r| r.id()).collect()
    }

    pub fn severity(self) -> Severity {
        match self {
            Rule::UnmanagedTempfile | Rule::SysPathMutation => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// A short title (SARIF `shortDescription`).
    pub fn title(self) -> &'static str {
        match self {
            Rule::SyntaxError => "Test file does not parse",
            Rule::SharedTmpPath => "Hard-coded path in a shared temporary directory",
            Rule::FixedCwdFile => "Fixed file name written in the working directory",
            Rule::UnmanagedTempfile => "Temporary file or directory without cleanup",
            Rule::SharedMutableFixture => "Broad-scoped fixture shares a mutable resource",
            Rule::ModuleResource => "Module-level connection, driver or open file",
            Rule::ModuleMutableState => "Test mutates module-level state",
            Rule::GlobalStatement => "`global` statement in test code",
            Rule::OsEnvironMutation => "Environment changed without monkeypatch",
            Rule::SysPathMutation => "sys.path changed without monkeypatch",
            Rule::OsChdir => "Working directory changed without monkeypatch",
            Rule::SysModulesMutation => "sys.modules changed without monkeypatch",
            Rule::FixedPort => "Literal port number",
            Rule::FixedDatabaseName => "Literal database or namespace name",
            Rule::DagsterInstanceGet => "DagsterInstance.get() in tests",
            Rule::ModuleDagsterContext => "Module-level Dagster instance or context",
        }
    }

    /// Why it breaks isolation (SARIF `fullDescription`).
    pub fn description(self) -> &'static str {
        match self {
            Rule::SyntaxError => "The file could not be parsed, so it was not audited; pytest will fail to collect it too.",
            Rule::SharedTmpPath => "Paths such as /tmp/x or /var/tmp/x are shared by every worker and every concurrent run on the machine, so parallel tests overwrite each other's files.",
            Rule::FixedCwdFile => "A fixed relative file name is written in the working directory, which all workers share: parallel tests race on it and leave files behind.",
            Rule::UnmanagedTempfile => "tempfile.mkdtemp(), mkstemp() and NamedTemporaryFile(delete=False) leave files behind unless the test removes them; pytest's tmp_path is unique per test and cleaned up for you.",
            Rule::SharedMutableFixture => "A session-, package-, module- or class-scoped fixture hands the same connection, driver, session, Dagster instance or open file to many tests, so one test's writes, transactions or state leak into the next.",
            Rule::ModuleResource => "A connection, driver, session or open file created at import time is a singleton shared by every test in the module and outlives them all.",
            Rule::ModuleMutableState => "A module-level list, dict or set that tests change makes results depend on which tests ran before in the same worker, so they pass or fail with ordering and distribution.",
            Rule::GlobalStatement => "A `global` statement rebinds module state from inside a test or fixture: later tests see what earlier ones left.",
            Rule::OsEnvironMutation => "Changing os.environ directly leaks into every later test in the same worker; monkeypatch.setenv/delenv undo the change after the test.",
            Rule::SysPathMutation => "Changing sys.path directly leaks into every later import in the same worker; monkeypatch.syspath_prepend undoes it.",
            Rule::OsChdir => "os.chdir changes the working directory of the whole worker process; monkeypatch.chdir restores it after the test.",
            Rule::SysModulesMutation => "Changing sys.modules directly leaks a fake or missing module into later tests; monkeypatch.setitem/delitem(sys.modules, …) undo it.",
            Rule::FixedPort => "A literal port is the same for every worker: two workers bind or use it at once and one fails with 'address in use' or talks to the other's server.",
            Rule::FixedDatabaseName => "A literal database, namespace or keyspace name is shared by every worker, so parallel tests read and delete each other's data.",
            Rule::DagsterInstanceGet => "DagsterInstance.get() returns the instance configured by DAGSTER_HOME, shared by every worker and by your real runs.",
            Rule::ModuleDagsterContext => "A Dagster instance or context created at import time is shared by every test in the module, so runs, events and resources leak between tests.",
        }
    }

    /// The default fix (each finding may give a more specific one).
    pub fn hint(self) -> &'static str {
        match self {
            Rule::SyntaxError => "fix the syntax error (python -m py_compile <file> shows it too)",
            Rule::SharedTmpPath => "use the `tmp_path` fixture (or `tmp_path_factory` for broader scopes)",
            Rule::FixedCwdFile => "write under `tmp_path` instead, e.g. `tmp_path / \"out.csv\"`",
            Rule::UnmanagedTempfile => "use the `tmp_path` fixture, or remove the file in a `finally`/fixture teardown",
            Rule::SharedMutableFixture => "make the fixture function-scoped, or yield something immutable (settings, a URI) and open the resource per test",
            Rule::ModuleResource => "create it in a function-scoped fixture and close it on teardown",
            Rule::ModuleMutableState => "keep the state in a fixture (fresh per test), or reset it in an autouse fixture",
            Rule::GlobalStatement => "return values or use a fixture instead of rebinding module globals",
            Rule::OsEnvironMutation => "use `monkeypatch.setenv(...)` / `monkeypatch.delenv(...)`",
            Rule::SysPathMutation => "use `monkeypatch.syspath_prepend(...)`, or install the package into the environment",
            Rule::OsChdir => "use `monkeypatch.chdir(tmp_path)`",
            Rule::SysModulesMutation => "use `monkeypatch.setitem(sys.modules, name, module)` / `monkeypatch.delitem(sys.modules, name)`",
            Rule::FixedPort => "bind port 0 and read the assigned port, or derive it from the worker (PYTEST_XDIST_WORKER) or the environment",
            Rule::FixedDatabaseName => "derive the name from the run and the worker, e.g. f\"test_{run}_{worker_id}\" (PYTEST_XDIST_WORKER), in a fixture that drops it after the test, pass or fail",
            Rule::DagsterInstanceGet => "use `DagsterInstance.ephemeral()` or `instance_for_test()` in a function-scoped fixture",
            Rule::ModuleDagsterContext => "build it in a function-scoped fixture (e.g. `build_op_context()` per test)",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_round_trip() {
        let mut ids = Rule::ids();
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
            assert_eq!(Rule::from_id(id).map(Rule::id), Some(*id));
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }
}
