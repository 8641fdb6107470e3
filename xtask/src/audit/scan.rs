//! One file's audit: parse it with tree-sitter-python, walk the syntax tree
//! once, and turn what the rules match into findings.
//!
//! Names are resolved through the file's imports (`from os import environ`
//! makes `environ[...] = …` an `os.environ` mutation), and calls are matched
//! on their dotted names, so `import tempfile as tf; tf.mkdtemp()` is found too.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use tree_sitter::{Language, Node, Parser, Tree};

use super::rules::Rule;
use super::Finding;

/// What auditing one file's text produced.
#[derive(Debug, Default)]
pub struct Scanned {
    pub findings: Vec<Finding>,
    /// Findings silenced by `# xtask: allow(<rule>)` on their line.
    pub suppressed: usize,
}

/// Kind and field ids of the grammar, looked up once: the walk compares
/// numbers instead of names (`child_by_field_name` scans every field name).
pub(in crate::audit) struct Grammar {
    /// Per kind id: nodes the rules look at.
    pub(in crate::audit) visit: Vec<bool>,
    /// Per kind id: parents that make a string literal inert.
    pub(in crate::audit) inert_parent: Vec<bool>,
    /// Per kind id: `concatenated_string`.
    pub(in crate::audit) concatenated: Vec<bool>,
    pub(in crate::audit) alias: u16,
    pub(in crate::audit) arguments: u16,
    pub(in crate::audit) attribute: u16,
    pub(in crate::audit) body: u16,
    pub(in crate::audit) function: u16,
    pub(in crate::audit) left: u16,
    pub(in crate::audit) module_name: u16,
    pub(in crate::audit) name: u16,
    pub(in crate::audit) name_id: std::num::NonZeroU16,
    pub(in crate::audit) object: u16,
    pub(in crate::audit) parameters: u16,
    pub(in crate::audit) right: u16,
    pub(in crate::audit) value: u16,
}

/// Kinds `Scan::visit` handles.
pub(in crate::audit) const VISITED: [&str; 15] = [
    "import_statement",
    "import_from_statement",
    "comment",
    "decorator",
    "assert_statement",
    "class_definition",
    "function_definition",
    "lambda",
    "string",
    "call",
    "assignment",
    "augmented_assignment",
    "delete_statement",
    "global_statement",
    "tuple",
];

pub(in crate::audit) fn grammar() -> &'static Grammar {
    static GRAMMAR: OnceLock<Grammar> = OnceLock::new();
    GRAMMAR.get_or_init(|| {
        let language: Language = tree_sitter_python::LANGUAGE.into();
        let kinds = |names: &[&str]| -> Vec<bool> {
            (0..language.node_kind_count())
                .map(|id| {
                    let id = id as u16;
                    language.node_kind_is_named(id)
                        && language
                            .node_kind_for_id(id)
                            .is_some_and(|k| names.contains(&k))
                })
                .collect()
        };
        let field = |name: &str| {
            language
                .field_id_for_name(name)
                .unwrap_or_else(|| panic!("the Python grammar has no field `{name}`"))
        };
        Grammar {
            visit: kinds(&VISITED),
            inert_parent: kinds(&["expression_statement", "comparison_operator"]),
            concatenated: kinds(&["concatenated_string"]),
            alias: field("alias").get(),
            arguments: field("arguments").get(),
            attribute: field("attribute").get(),
            body: field("body").get(),
            function: field("function").get(),
            left: field("left").get(),
            module_name: field("module_name").get(),
            name: field("name").get(),
            name_id: field("name"),
            object: field("object").get(),
            parameters: field("parameters").get(),
            right: field("right").get(),
            value: field("value").get(),
        }
    })
}

/// A parser for Python; one per thread.
pub fn parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled Python grammar matches the tree-sitter version");
    parser
}

/// Audits one file's source text.
pub fn scan(parser: &mut Parser, source: &str) -> Scanned {
    let Some(tree) = parser.parse(source, None) else {
        return Scanned {
            findings: vec![Finding::at(
                Rule::SyntaxError,
                (1, 1),
                (1, 1),
                "the parser gave up on this file; it was not audited".into(),
                None,
            )],
            suppressed: 0,
        };
    };
    if let Some(finding) = syntax_error(&tree, source) {
        return Scanned {
            findings: vec![finding],
            suppressed: 0,
        };
    }
    let mut scan = Scan::new(source);
    let root = tree.root_node();
    scan.collect_module_state(root);
    scan.walk(root);
    scan.finish()
}

/// The first syntax error in the tree, if any, as a finding.
pub(in crate::audit) fn syntax_error(tree: &Tree, source: &str) -> Option<Finding> {
    let root = tree.root_node();
    if !root.has_error() {
        return None;
    }
    let mut cursor = root.walk();
    let mut node = root;
    // Descend towards the first error or missing node.
    'outer: loop {
        if node.is_error() || node.is_missing() {
            break;
        }
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                if child.is_error() || child.is_missing() || child.has_error() {
                    node = child;
                    continue 'outer;
                }
                if !cursor.goto_next_sibling() {
                    break 'outer;
                }
            }
        }
        break;
    }
    let what = if node.is_missing() {
        format!("syntax error: expected `{}`", node.kind())
    } else {
        let text = source[node.byte_range()]
            .lines()
            .next()
            .unwrap_or("")
            .trim();
        let text: String = text.chars().take(30).collect();
        if text.is_empty() {
            "syntax error".to_string()
        } else {
            format!("syntax error near `{text}`")
        }
    };
    Some(Finding::at(
        Rule::SyntaxError,
        node_position(source, node.start_byte(), node.start_position()),
        node_position(source, node.end_byte(), node.end_position()),
        format!("{what}; the file was not audited"),
        None,
    ))
}

/// 1-based line and column (in characters) of a node boundary, from
/// tree-sitter's row and byte column (no scan from the top of the file).
pub(in crate::audit) fn node_position(
    source: &str,
    byte: usize,
    point: tree_sitter::Point,
) -> (usize, usize) {
    let line_start = byte.saturating_sub(point.column);
    let column = source
        .get(line_start..byte)
        .map_or(point.column, |s| s.chars().count());
    (point.row + 1, column + 1)
}

/// Where in the file the walk is.
#[derive(Clone, Copy, Default)]
pub(in crate::audit) struct Where<'t> {
    /// The innermost function (or method) being walked.
    pub(in crate::audit) func: Option<Node<'t>>,
    /// Inside a decorator expression (parametrize data and the like).
    pub(in crate::audit) decorator: bool,
    /// Inside a class body (not in one of its methods).
    pub(in crate::audit) class_body: bool,
    /// Inside an `assert` statement.
    pub(in crate::audit) assert: bool,
    /// The kind ids of the parent and grandparent nodes.
    pub(in crate::audit) parent: u16,
    pub(in crate::audit) grandparent: u16,
}

/// A fixture declared by `@pytest.fixture(...)`.
pub(in crate::audit) struct Fixture {
    pub(in crate::audit) scope: Option<String>,
    pub(in crate::audit) autouse: bool,
}

pub(in crate::audit) const BROAD_SCOPES: [&str; 4] = ["session", "package", "module", "class"];

/// What a call creates, for the fixture and module-level rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::audit) enum Resource {
    DbConnection,
    DbEngine,
    DbSession,
    Neo4jDriver,
    Neo4jSession,
    DagsterInstance,
    DagsterContext,
    OpenFile,
}

impl Resource {
    pub(in crate::audit) fn describe(self) -> &'static str {
        match self {
            Resource::DbConnection => "a database connection",
            Resource::DbEngine => "a database engine (a connection pool)",
            Resource::DbSession => "a session object (SQLAlchemy, requests, …)",
            Resource::Neo4jDriver => "a Neo4j driver",
            Resource::Neo4jSession => "a Neo4j session",
            Resource::DagsterInstance => "a Dagster instance",
            Resource::DagsterContext => "a Dagster context",
            Resource::OpenFile => "an open file",
        }
    }

    pub(in crate::audit) fn is_dagster(self) -> bool {
        matches!(self, Resource::DagsterInstance | Resource::DagsterContext)
    }
}

/// Methods that change a list, dict, set or deque in place.
pub(in crate::audit) const MUTATORS: [&str; 22] = [
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "popitem",
    "clear",
    "update",
    "add",
    "discard",
    "setdefault",
    "sort",
    "reverse",
    "appendleft",
    "extendleft",
    "popleft",
    "rotate",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
    "__setitem__",
    "__delitem__",
];

/// Calls that undo a temporary file or directory when they mention it.
pub(in crate::audit) const CLEANUPS: [&str; 11] = [
    "rmtree",
    "remove",
    "unlink",
    "rmdir",
    "removedirs",
    "cleanup",
    "close",
    "addfinalizer",
    "addCleanup",
    "register",
    "callback",
];

/// The last name of every call `cwd_file` looks at.
pub(in crate::audit) const WRITERS: [&str; 26] = [
    "open",
    "write_text",
    "write_bytes",
    "touch",
    "mkdir",
    "makedirs",
    "copy",
    "copy2",
    "copyfile",
    "copytree",
    "move",
    "to_csv",
    "to_parquet",
    "to_json",
    "to_excel",
    "to_pickle",
    "to_feather",
    "to_hdf",
    "savefig",
    "save",
    "savez",
    "savetxt",
    "FileHandler",
    "connect",
    "create_engine",
    "create_async_engine",
];

/// A test mutating module-level state, kept until the whole file is seen
/// (an autouse fixture that resets the name makes it managed).
pub(in crate::audit) struct Mutation {
    pub(in crate::audit) name: String,
    pub(in crate::audit) func: usize,
    pub(in crate::audit) start: (usize, usize),
    pub(in crate::audit) end: (usize, usize),
    pub(in crate::audit) func_name: String,
}

pub(in crate::audit) struct Scan<'s> {
    pub(in crate::audit) src: &'s str,
    /// Local name → dotted name it was imported as.
    pub(in crate::audit) imports: HashMap<String, String>,
    /// Module-level names bound to mutable containers, with their line.
    pub(in crate::audit) module_mutables: HashMap<String, usize>,
    /// Function node id → names local to it (computed on first use).
    pub(in crate::audit) locals: HashMap<usize, HashSet<String>>,
    /// Function node ids of autouse fixtures.
    pub(in crate::audit) autouse: HashSet<usize>,
    pub(in crate::audit) mutations: Vec<Mutation>,
    /// Function node ids that change into a directory of their own.
    pub(in crate::audit) isolating: HashSet<usize>,
    /// Writes to fixed relative paths, with the function they are in.
    pub(in crate::audit) cwd_writes: Vec<(Option<usize>, Finding)>,
    /// Line → rule ids allowed on it (`all` allows every rule).
    pub(in crate::audit) allowed: HashMap<usize, Vec<String>>,
    pub(in crate::audit) findings: Vec<Finding>,
}

impl<'s> Scan<'s> {
    pub(in crate::audit) fn new(src: &'s str) -> Scan<'s> {
        Scan {
            src,
            imports: HashMap::new(),
            module_mutables: HashMap::new(),
            locals: HashMap::new(),
            autouse: HashSet::new(),
            mutations: Vec::new(),
            isolating: HashSet::new(),
            cwd_writes: Vec::new(),
            allowed: HashMap::new(),
            findings: Vec::new(),
        }
    }

    pub(in crate::audit) fn text(&self, node: Node) -> &'s str {
        &self.src[node.byte_range()]
    }

    pub(in crate::audit) fn report(
        &mut self,
        rule: Rule,
        node: Node,
        message: String,
        hint: Option<String>,
    ) {
        let start = node_position(self.src, node.start_byte(), node.start_position());
        let end = node_position(self.src, node.end_byte(), node.end_position());
        self.findings
            .push(Finding::at(rule, start, end, message, hint));
    }

    /// `node` changes `what` (the environment, `sys.path`, …) for every later
    /// test in the worker.
    pub(in crate::audit) fn report_global_change(&mut self, rule: Rule, node: Node, what: &str) {
        let message = format!(
            "`{}` changes {what} for every later test in this worker",
            one_line(self.text(node))
        );
        self.report(rule, node, message, None);
    }

    /// Applies suppressions and the deferred module-state findings.
    pub(in crate::audit) fn finish(mut self) -> Scanned {
        let managed: HashSet<&str> = self
            .mutations
            .iter()
            .filter(|m| self.autouse.contains(&m.func))
            .map(|m| m.name.as_str())
            .collect();
        let mut deferred = Vec::new();
        for m in &self.mutations {
            if managed.contains(m.name.as_str()) {
                continue;
            }
            let line = self.module_mutables.get(&m.name).copied().unwrap_or(0);
            deferred.push(Finding::at(
                Rule::ModuleMutableState,
                m.start,
                m.end,
                format!(
                    "`{}` changes module-level `{}` (defined on line {line}); the next test in this worker sees the change",
                    m.func_name, m.name
                ),
                None,
            ));
        }
        self.findings.extend(deferred);
        // An autouse fixture that changes directory isolates every test in the file.
        let file_isolated = self.autouse.iter().any(|f| self.isolating.contains(f));
        for (func, finding) in std::mem::take(&mut self.cwd_writes) {
            let isolated = func.is_some_and(|f| self.isolating.contains(&f));
            if !file_isolated && !isolated {
                self.findings.push(finding);
            }
        }
        let before = self.findings.len();
        let allowed = std::mem::take(&mut self.allowed);
        self.findings.retain(|f| {
            !allowed
                .get(&f.line)
                .is_some_and(|ids| ids.iter().any(|id| id == f.rule.id() || id == "all"))
        });
        let suppressed = before - self.findings.len();
        self.findings
            .sort_by_key(|f| (f.line, f.column, f.rule.id()));
        self.findings
            .dedup_by(|a, b| a.line == b.line && a.column == b.column && a.rule == b.rule);
        Scanned {
            findings: self.findings,
            suppressed,
        }
    }

    // ---- names ------------------------------------------------------------

    /// The dotted name of an identifier or attribute chain, through imports.
    pub(in crate::audit) fn qualified(&self, node: Node) -> Option<String> {
        match node.kind() {
            "identifier" => {
                let name = self.text(node);
                Some(
                    self.imports
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| name.to_string()),
                )
            }
            "attribute" => {
                let object = self.qualified(node.child_by_field_id(grammar().object)?)?;
                let attr = self.text(node.child_by_field_id(grammar().attribute)?);
                Some(format!("{object}.{attr}"))
            }
            _ => None,
        }
    }

    pub(in crate::audit) fn record_import(&mut self, node: Node) {
        let module = if node.kind() == "import_from_statement" {
            node.child_by_field_id(grammar().module_name)
                .map(|m| self.text(m).to_string())
        } else {
            None
        };
        let mut cursor = node.walk();
        for name in node.children_by_field_id(grammar().name_id, &mut cursor) {
            let (dotted, alias) = match name.kind() {
                "aliased_import" => (
                    name.child_by_field_id(grammar().name).map(|n| self.text(n)),
                    name.child_by_field_id(grammar().alias)
                        .map(|n| self.text(n)),
                ),
                _ => (Some(self.text(name)), None),
            };
            let Some(dotted) = dotted else { continue };
            match (&module, alias) {
                (Some(m), Some(a)) => {
                    self.imports.insert(a.to_string(), format!("{m}.{dotted}"));
                }
                (Some(m), None) => {
                    self.imports
                        .insert(dotted.to_string(), format!("{m}.{dotted}"));
                }
                (None, Some(a)) => {
                    self.imports.insert(a.to_string(), dotted.to_string());
                }
                // `import a.b` binds `a`, which already means `a`.
                (None, None) => {}
            }
        }
    }

    pub(in crate::audit) fn record_comment(&mut self, node: Node) {
        let text = self.text(node);
        let Some(at) = text.find("xtask: allow(") else {
            return;
        };
        let rest = &text[at + "xtask: allow(".len()..];
        let Some(close) = rest.find(')') else { return };
        let ids = rest[..close]
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let line = node.start_position().row + 1;
        self.allowed.entry(line).or_default().extend(ids);
    }

    // ---- the walk ---------------------------------------------------------

    /// Walks the whole tree with one cursor, keeping a context per depth.
    pub(in crate::audit) fn walk(&mut self, root: Node<'s>) {
        let mut cursor = root.walk();
        let mut stack = vec![Where::default()];
        loop {
            let node = cursor.node();
            let at = *stack.last().expect("the stack holds the root's context");
            let kind = usize::from(node.kind_id());
            let inner = if grammar().visit.get(kind).copied().unwrap_or(false) {
                self.visit(node, at)
            } else {
                Some(Where {
                    parent: node.kind_id(),
                    grandparent: at.parent,
                    ..at
                })
            };
            if let Some(inner) = inner {
                if cursor.goto_first_child() {
                    stack.push(inner);
                    continue;
                }
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    return;
                }
                stack.pop();
            }
        }
    }

    /// Applies the rules to one node; returns the context for its children,
    /// or `None` when they need no visit.
    pub(in crate::audit) fn visit(&mut self, node: Node<'s>, at: Where<'s>) -> Option<Where<'s>> {
        let mut inner = at;
        inner.grandparent = at.parent;
        inner.parent = node.kind_id();
        match node.kind() {
            "import_statement" | "import_from_statement" => {
                self.record_import(node);
                return None;
            }
            "comment" => {
                self.record_comment(node);
                return None;
            }
            "decorator" => inner.decorator = true,
            "assert_statement" => inner.assert = true,
            "class_definition" => inner.class_body = true,
            "function_definition" => {
                self.function(node);
                inner.func = Some(node);
                inner.class_body = false;
                inner.assert = false;
            }
            "lambda" => {
                // A lambda body runs later, like a function's.
                inner.class_body = false;
            }
            "string" => self.string(node, at),
            "call" => self.call(node, at),
            "assignment" | "augmented_assignment" => self.assignment(node, at),
            "delete_statement" => self.delete(node, at),
            "global_statement" => {
                if let Some(func) = at.func {
                    let names = self.text(node).trim_start_matches("global").trim();
                    let func_name = self.func_name(func);
                    self.report(
                        Rule::GlobalStatement,
                        node,
                        format!("`global {names}` in `{func_name}` rebinds module state shared by later tests"),
                        None,
                    );
                }
            }
            "tuple" if !at.decorator => self.port_tuple(node),
            _ => {}
        }
        Some(inner)
    }
}

pub(in crate::audit) fn rule_for_module(resource: Resource) -> Rule {
    if resource.is_dagster() {
        Rule::ModuleDagsterContext
    } else {
        Rule::ModuleResource
    }
}

/// The rule for a write to a process-wide object, and how to name it.
pub(in crate::audit) fn process_global(q: &str) -> Option<(Rule, &'static str)> {
    if dotted_is(q, "os.environ") {
        Some((Rule::OsEnvironMutation, "the process environment"))
    } else if dotted_is(q, "sys.path") {
        Some((Rule::SysPathMutation, "the import path"))
    } else if dotted_is(q, "sys.modules") {
        Some((Rule::SysModulesMutation, "the imported modules"))
    } else {
        None
    }
}

/// `q` is `pattern` or ends with `.pattern`.
pub(in crate::audit) fn dotted_is(q: &str, pattern: &str) -> bool {
    q == pattern
        || (q.len() > pattern.len()
            && q.ends_with(pattern)
            && q.as_bytes()[q.len() - pattern.len() - 1] == b'.')
}

pub(in crate::audit) fn last_segment(q: &str) -> &str {
    q.rsplit('.').next().unwrap_or(q)
}

pub(in crate::audit) fn root_of(node: Node) -> Node {
    let mut n = node;
    while let Some(p) = n.parent() {
        n = p;
    }
    n
}

/// Whether `text` mentions `name` as a whole word.
pub(in crate::audit) fn mentions(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

pub(in crate::audit) fn one_line(text: &str) -> String {
    truncate(text.lines().next().unwrap_or(text).trim(), 60)
}

pub(in crate::audit) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// A path under /tmp, /var/tmp or /dev/shm, also inside a URL (`sqlite:////tmp/x.db`).
pub(in crate::audit) fn is_shared_tmp(s: &str) -> bool {
    let path = if s.starts_with('/') {
        s
    } else if let Some((_, rest)) = s.split_once("://") {
        if !rest.starts_with('/') {
            return false;
        }
        rest
    } else {
        return false;
    };
    let path = path.trim_start_matches('/');
    ["tmp", "var/tmp", "dev/shm"].iter().any(|dir| {
        path.strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// A relative file name (not a URL, not `:memory:`, not `-`).
pub(in crate::audit) fn is_relative_file(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with(['/', '~', '\\'])
        && p != ":memory:"
        && p != "-"
        && !p.contains("://")
        && !p.starts_with("file:")
        && !p.contains(":\\")
        && p.chars().any(|c| c.is_alphanumeric())
}

/// A loopback or wildcard host (the ones tests bind or connect to locally).
pub(in crate::audit) fn is_local_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.is_empty()
        || host == "localhost"
        || host == "0.0.0.0"
        || host == "::"
        || host == "::1"
        || (host.starts_with("127.")
            && host.split('.').count() == 4
            && host.split('.').all(|p| p.parse::<u8>().is_ok()))
}

/// `scheme://[user@]localhost:8080/...` or `localhost:5432` with a literal port.
pub(in crate::audit) fn loopback_port(s: &str) -> Option<(String, u16)> {
    if !s.contains(':') {
        return None;
    }
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        let host = &authority[1..=end];
        let port = authority[end + 2..].strip_prefix(':')?;
        (host, port)
    } else {
        authority.rsplit_once(':')?
    };
    if host.is_empty()
        || !is_local_host(host)
        || port.is_empty()
        || !port.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(in crate::audit) fn ids(source: &str) -> Vec<(usize, &'static str)> {
        scan(&mut parser(), source)
            .findings
            .iter()
            .map(|f| (f.line, f.rule.id()))
            .collect()
    }

    #[test]
    pub(in crate::audit) fn shared_tmp_paths() {
        assert!(is_shared_tmp("/tmp"));
        assert!(is_shared_tmp("/tmp/x.db"));
        assert!(is_shared_tmp("/var/tmp/a"));
        assert!(is_shared_tmp("sqlite:////tmp/x.db"));
        assert!(is_shared_tmp("file:///tmp/x"));
        assert!(!is_shared_tmp("/tmpfoo"));
        assert!(!is_shared_tmp("http://tmp/x"));
        assert!(!is_shared_tmp("tmp/x"));
    }

    #[test]
    pub(in crate::audit) fn loopback_ports() {
        assert_eq!(
            loopback_port("http://localhost:8080/x"),
            Some(("localhost".into(), 8080))
        );
        assert_eq!(
            loopback_port("postgresql://u:p@127.0.0.1:5432/db"),
            Some(("127.0.0.1".into(), 5432))
        );
        assert_eq!(
            loopback_port("bolt://[::1]:7687"),
            Some(("::1".into(), 7687))
        );
        assert_eq!(
            loopback_port("localhost:6379"),
            Some(("localhost".into(), 6379))
        );
        assert_eq!(loopback_port("http://example.com:80/"), None);
        assert_eq!(loopback_port("http://localhost/"), None);
        assert_eq!(loopback_port("12:30"), None);
    }

    #[test]
    pub(in crate::audit) fn mentions_whole_words() {
        assert!(mentions("shutil.rmtree(d)", "d"));
        assert!(mentions("os.unlink(f.name)", "f"));
        assert!(!mentions("shutil.rmtree(dd)", "d"));
    }

    #[test]
    pub(in crate::audit) fn syntax_errors_are_located() {
        let found = scan(
            &mut parser(),
            "def ok():\n    pass\n\ndef broken(:\n    pass\n",
        );
        assert_eq!(found.findings.len(), 1);
        let f = &found.findings[0];
        assert_eq!(f.rule, Rule::SyntaxError);
        assert_eq!(f.line, 4);
    }

    #[test]
    pub(in crate::audit) fn suppression_on_the_line() {
        let src = "import os\ndef test_a():\n    os.chdir('/')  # xtask: allow(os-chdir)\n    os.chdir('/')\n";
        let out = scan(&mut parser(), src);
        assert_eq!(out.suppressed, 1);
        assert_eq!(
            out.findings
                .iter()
                .map(|f| (f.line, f.rule.id()))
                .collect::<Vec<_>>(),
            vec![(4, "os-chdir")]
        );
    }

    #[test]
    pub(in crate::audit) fn aliases_resolve() {
        let src = "from os import environ as env\nimport tempfile as tf\ndef test_a():\n    env['A'] = '1'\n    tf.mkdtemp()\n";
        assert_eq!(
            ids(src),
            vec![(4, "os-environ-mutation"), (5, "unmanaged-tempfile")]
        );
    }
}
