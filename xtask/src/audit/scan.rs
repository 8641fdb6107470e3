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
struct Grammar {
    /// Per kind id: nodes the rules look at.
    visit: Vec<bool>,
    /// Per kind id: parents that make a string literal inert.
    inert_parent: Vec<bool>,
    /// Per kind id: `concatenated_string`.
    concatenated: Vec<bool>,
    alias: u16,
    arguments: u16,
    attribute: u16,
    body: u16,
    function: u16,
    left: u16,
    module_name: u16,
    name: u16,
    name_id: std::num::NonZeroU16,
    object: u16,
    parameters: u16,
    right: u16,
    value: u16,
}

/// Kinds `Scan::visit` handles.
const VISITED: [&str; 15] = [
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

fn grammar() -> &'static Grammar {
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
fn syntax_error(tree: &Tree, source: &str) -> Option<Finding> {
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
fn node_position(source: &str, byte: usize, point: tree_sitter::Point) -> (usize, usize) {
    let line_start = byte.saturating_sub(point.column);
    let column = source
        .get(line_start..byte)
        .map_or(point.column, |s| s.chars().count());
    (point.row + 1, column + 1)
}

/// Where in the file the walk is.
#[derive(Clone, Copy, Default)]
struct Where<'t> {
    /// The innermost function (or method) being walked.
    func: Option<Node<'t>>,
    /// Inside a decorator expression (parametrize data and the like).
    decorator: bool,
    /// Inside a class body (not in one of its methods).
    class_body: bool,
    /// Inside an `assert` statement.
    assert: bool,
    /// The kind ids of the parent and grandparent nodes.
    parent: u16,
    grandparent: u16,
}

/// A fixture declared by `@pytest.fixture(...)`.
struct Fixture {
    scope: Option<String>,
    autouse: bool,
}

const BROAD_SCOPES: [&str; 4] = ["session", "package", "module", "class"];

/// What a call creates, for the fixture and module-level rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resource {
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
    fn describe(self) -> &'static str {
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

    fn is_dagster(self) -> bool {
        matches!(self, Resource::DagsterInstance | Resource::DagsterContext)
    }
}

/// Methods that change a list, dict, set or deque in place.
const MUTATORS: [&str; 22] = [
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
const CLEANUPS: [&str; 11] = [
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
const WRITERS: [&str; 26] = [
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
struct Mutation {
    name: String,
    func: usize,
    start: (usize, usize),
    end: (usize, usize),
    func_name: String,
}

struct Scan<'s> {
    src: &'s str,
    /// Local name → dotted name it was imported as.
    imports: HashMap<String, String>,
    /// Module-level names bound to mutable containers, with their line.
    module_mutables: HashMap<String, usize>,
    /// Function node id → names local to it (computed on first use).
    locals: HashMap<usize, HashSet<String>>,
    /// Function node ids of autouse fixtures.
    autouse: HashSet<usize>,
    mutations: Vec<Mutation>,
    /// Function node ids that change into a directory of their own.
    isolating: HashSet<usize>,
    /// Writes to fixed relative paths, with the function they are in.
    cwd_writes: Vec<(Option<usize>, Finding)>,
    /// Line → rule ids allowed on it (`all` allows every rule).
    allowed: HashMap<usize, Vec<String>>,
    findings: Vec<Finding>,
}

impl<'s> Scan<'s> {
    fn new(src: &'s str) -> Scan<'s> {
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

    fn text(&self, node: Node) -> &'s str {
        &self.src[node.byte_range()]
    }

    fn report(&mut self, rule: Rule, node: Node, message: String, hint: Option<String>) {
        let start = node_position(self.src, node.start_byte(), node.start_position());
        let end = node_position(self.src, node.end_byte(), node.end_position());
        self.findings
            .push(Finding::at(rule, start, end, message, hint));
    }

    /// Applies suppressions and the deferred module-state findings.
    fn finish(mut self) -> Scanned {
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
    fn qualified(&self, node: Node) -> Option<String> {
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

    fn record_import(&mut self, node: Node) {
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

    fn record_comment(&mut self, node: Node) {
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
    fn walk(&mut self, root: Node<'s>) {
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
    fn visit(&mut self, node: Node<'s>, at: Where<'s>) -> Option<Where<'s>> {
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

    fn func_name(&self, func: Node) -> &'s str {
        func.child_by_field_id(grammar().name)
            .map_or("<function>", |n| self.text(n))
    }

    // ---- fixtures ---------------------------------------------------------

    /// The fixture declaration on a function, if it is decorated as one.
    fn fixture(&self, func: Node) -> Option<Fixture> {
        let decorated = func
            .parent()
            .filter(|p| p.kind() == "decorated_definition")?;
        let mut cursor = decorated.walk();
        for decorator in decorated.named_children(&mut cursor) {
            if decorator.kind() != "decorator" {
                continue;
            }
            let Some(expr) = decorator.named_child(0) else {
                continue;
            };
            let (callee, args) = if expr.kind() == "call" {
                (
                    expr.child_by_field_id(grammar().function),
                    expr.child_by_field_id(grammar().arguments),
                )
            } else {
                (Some(expr), None)
            };
            let Some(name) = callee.and_then(|c| self.qualified(c)) else {
                continue;
            };
            if last_segment(&name) != "fixture" {
                continue;
            }
            let mut fixture = Fixture {
                scope: None,
                autouse: false,
            };
            if let Some(args) = args {
                let mut c = args.walk();
                for (i, arg) in args.named_children(&mut c).enumerate() {
                    if arg.kind() == "keyword_argument" {
                        let key = arg.child_by_field_id(grammar().name).map(|n| self.text(n));
                        let value = arg.child_by_field_id(grammar().value);
                        match key {
                            Some("scope") => {
                                fixture.scope = value.and_then(|v| self.plain_string(v));
                            }
                            Some("autouse") => {
                                fixture.autouse = value.is_some_and(|v| self.text(v) == "True");
                            }
                            _ => {}
                        }
                    } else if i == 0 {
                        // pytest's old positional form: `@pytest.fixture("session")`.
                        if let Some(scope) = self.plain_string(arg) {
                            fixture.scope = Some(scope);
                        }
                    }
                }
            }
            return Some(fixture);
        }
        None
    }

    fn function(&mut self, func: Node<'s>) {
        let Some(fixture) = self.fixture(func) else {
            return;
        };
        if fixture.autouse {
            self.autouse.insert(func.id());
        }
        let Some(scope) = fixture.scope.filter(|s| BROAD_SCOPES.contains(&s.as_str())) else {
            return;
        };
        let Some(body) = func.child_by_field_id(grammar().body) else {
            return;
        };
        // Names bound in the body to resources, then what leaves the fixture.
        let mut bound: HashMap<&'s str, Resource> = HashMap::new();
        let mut exits: Vec<Node<'s>> = Vec::new();
        self.fixture_body(body, &mut bound, &mut exits);
        let name = self.func_name(func);
        for exit in exits {
            let verb = if exit.kind() == "yield" {
                "yields"
            } else {
                "returns"
            };
            let Some(value) = exit.named_child(0) else {
                continue;
            };
            if let Some(resource) = self.value_resource(value, &bound) {
                self.report(
                    Rule::SharedMutableFixture,
                    exit,
                    format!(
                        "{scope}-scoped fixture `{name}` {verb} {}, shared by every test in the {scope}",
                        resource.describe()
                    ),
                    None,
                );
            }
        }
    }

    /// Collects resource bindings and return/yield nodes of a fixture body,
    /// without entering nested functions, lambdas or classes.
    fn fixture_body(
        &self,
        node: Node<'s>,
        bound: &mut HashMap<&'s str, Resource>,
        exits: &mut Vec<Node<'s>>,
    ) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "function_definition" | "lambda" | "class_definition" | "decorated_definition" => {
                    continue
                }
                "return_statement" | "yield" => exits.push(child),
                "assignment" => {
                    if let (Some(left), Some(right)) = (
                        child.child_by_field_id(grammar().left),
                        child.child_by_field_id(grammar().right),
                    ) {
                        if left.kind() == "identifier" {
                            if let Some(r) = self.value_resource(right, bound) {
                                bound.insert(self.text(left), r);
                            }
                        }
                    }
                }
                "as_pattern" => {
                    let value = child.named_child(0);
                    let target = child
                        .child_by_field_id(grammar().alias)
                        .and_then(|a| a.named_child(0))
                        .filter(|t| t.kind() == "identifier");
                    if let (Some(value), Some(target)) = (value, target) {
                        if let Some(r) = self.value_resource(value, bound) {
                            bound.insert(self.text(target), r);
                        }
                    }
                }
                _ => {}
            }
            self.fixture_body(child, bound, exits);
        }
    }

    /// What resource an expression evaluates to, as far as the file shows.
    fn value_resource(&self, value: Node, bound: &HashMap<&'s str, Resource>) -> Option<Resource> {
        match value.kind() {
            "call" => self.call_resource(value),
            "identifier" => bound.get(self.text(value)).copied(),
            "await" | "parenthesized_expression" => value
                .named_child(0)
                .and_then(|v| self.value_resource(v, bound)),
            "expression_list" | "tuple" => {
                let mut cursor = value.walk();
                let found = value
                    .named_children(&mut cursor)
                    .find_map(|v| self.value_resource(v, bound));
                found
            }
            _ => None,
        }
    }

    /// The resource a call creates, judged by the callee's dotted name.
    fn call_resource(&self, call: Node) -> Option<Resource> {
        let func = call.child_by_field_id(grammar().function)?;
        let Some(q) = self.qualified(func) else {
            // `sessionmaker(bind=engine)()`
            if func.kind() == "call" {
                let inner = func
                    .child_by_field_id(grammar().function)
                    .and_then(|f| self.qualified(f))?;
                if last_segment(&inner) == "sessionmaker" {
                    return Some(Resource::DbSession);
                }
            }
            return None;
        };
        let last = last_segment(&q);
        let has_receiver = q.contains('.');
        if q.contains("DagsterInstance.") || last == "instance_for_test" {
            return Some(Resource::DagsterInstance);
        }
        if last.starts_with("build_") && last.ends_with("_context") {
            return Some(Resource::DagsterContext);
        }
        if q.ends_with("GraphDatabase.driver")
            || q.ends_with("GraphDatabase.bolt_driver")
            || q.ends_with("GraphDatabase.neo4j_driver")
        {
            return Some(Resource::Neo4jDriver);
        }
        Some(match last {
            "session" if has_receiver => Resource::Neo4jSession,
            "create_engine" | "create_async_engine" => Resource::DbEngine,
            "Session" | "AsyncSession" | "scoped_session" => Resource::DbSession,
            "connect"
            | "ConnectionPool"
            | "AsyncConnectionPool"
            | "MongoClient"
            | "Redis"
            | "StrictRedis" => Resource::DbConnection,
            "open" if has_receiver || q == "open" => Resource::OpenFile,
            "TemporaryFile" | "NamedTemporaryFile" | "SpooledTemporaryFile" => Resource::OpenFile,
            _ => return None,
        })
    }

    // ---- module-level state -----------------------------------------------

    /// Module-level names bound to mutable containers.
    fn collect_module_state(&mut self, root: Node<'s>) {
        let mut cursor = root.walk();
        for stmt in root.named_children(&mut cursor) {
            if stmt.kind() == "import_statement" || stmt.kind() == "import_from_statement" {
                self.record_import(stmt);
                continue;
            }
            if stmt.kind() != "expression_statement" {
                continue;
            }
            let Some(assign) = stmt.named_child(0).filter(|a| a.kind() == "assignment") else {
                continue;
            };
            let (Some(left), Some(right)) = (
                assign.child_by_field_id(grammar().left),
                assign.child_by_field_id(grammar().right),
            ) else {
                continue;
            };
            if left.kind() == "identifier" && self.is_mutable_container(right) {
                self.module_mutables
                    .insert(self.text(left).to_string(), left.start_position().row + 1);
            }
        }
    }

    fn is_mutable_container(&self, value: Node) -> bool {
        match value.kind() {
            "list"
            | "dictionary"
            | "set"
            | "list_comprehension"
            | "dictionary_comprehension"
            | "set_comprehension" => true,
            "call" => value
                .child_by_field_id(grammar().function)
                .and_then(|f| self.qualified(f))
                .is_some_and(|q| {
                    matches!(
                        last_segment(&q),
                        "list"
                            | "dict"
                            | "set"
                            | "defaultdict"
                            | "OrderedDict"
                            | "Counter"
                            | "deque"
                            | "bytearray"
                    )
                }),
            _ => false,
        }
    }

    /// Names local to a function: parameters and names it binds without `global`.
    fn locals_of(&mut self, func: Node<'s>) -> &HashSet<String> {
        if !self.locals.contains_key(&func.id()) {
            let mut names = HashSet::new();
            let mut globals = HashSet::new();
            if let Some(params) = func.child_by_field_id(grammar().parameters) {
                let mut cursor = params.walk();
                for p in params.named_children(&mut cursor) {
                    let id = match p.kind() {
                        "identifier" => Some(p),
                        "default_parameter" | "typed_default_parameter" => {
                            p.child_by_field_id(grammar().name)
                        }
                        _ => p.named_child(0).and_then(|c| {
                            if c.kind() == "identifier" {
                                Some(c)
                            } else {
                                c.named_child(0)
                            }
                        }),
                    };
                    if let Some(id) = id.filter(|i| i.kind() == "identifier") {
                        names.insert(self.text(id).to_string());
                    }
                }
            }
            if let Some(body) = func.child_by_field_id(grammar().body) {
                self.bindings(body, &mut names, &mut globals);
            }
            for g in &globals {
                names.remove(g);
            }
            self.locals.insert(func.id(), names);
        }
        &self.locals[&func.id()]
    }

    fn bindings(&self, node: Node, names: &mut HashSet<String>, globals: &mut HashSet<String>) {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "function_definition" | "class_definition" => {
                    if let Some(n) = child.child_by_field_id(grammar().name) {
                        names.insert(self.text(n).to_string());
                    }
                    continue;
                }
                "lambda" => continue,
                "global_statement" | "nonlocal_statement" => {
                    let mut c = child.walk();
                    for id in child.named_children(&mut c) {
                        globals.insert(self.text(id).to_string());
                    }
                }
                "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => {
                    if let Some(left) = child.child_by_field_id(grammar().left) {
                        self.targets(left, names);
                    }
                }
                "as_pattern_target" => self.targets(child, names),
                "named_expression" => {
                    if let Some(n) = child.child_by_field_id(grammar().name) {
                        names.insert(self.text(n).to_string());
                    }
                }
                _ => {}
            }
            self.bindings(child, names, globals);
        }
    }

    fn targets(&self, node: Node, names: &mut HashSet<String>) {
        match node.kind() {
            "identifier" => {
                names.insert(self.text(node).to_string());
            }
            "pattern_list"
            | "tuple_pattern"
            | "list_pattern"
            | "as_pattern_target"
            | "list_splat_pattern"
            | "parenthesized_expression"
            | "tuple"
            | "list" => {
                let mut cursor = node.walk();
                for c in node.named_children(&mut cursor) {
                    self.targets(c, names);
                }
            }
            _ => {}
        }
    }

    /// Records a change to module-level container `name` made at `node`.
    fn module_mutation(&mut self, name_node: Node<'s>, node: Node<'s>, at: Where<'s>) {
        if name_node.kind() != "identifier" || self.module_mutables.is_empty() {
            return;
        }
        let name = self.text(name_node);
        let Some(func) = at.func else { return };
        if !self.module_mutables.contains_key(name) || self.locals_of(func).contains(name) {
            return;
        }
        let func_name = self.func_name(func).to_string();
        self.mutations.push(Mutation {
            name: name.to_string(),
            func: func.id(),
            start: node_position(self.src, node.start_byte(), node.start_position()),
            end: node_position(self.src, node.end_byte(), node.end_position()),
            func_name,
        });
    }

    // ---- statements -------------------------------------------------------

    fn assignment(&mut self, node: Node<'s>, at: Where<'s>) {
        let Some(left) = node.child_by_field_id(grammar().left) else {
            return;
        };
        let augmented = node.kind() == "augmented_assignment";
        // `os.environ[...] = …`, `sys.path[...] = …`, `sys.modules[...] = …`
        let (target, subscripted) = if left.kind() == "subscript" {
            (left.child_by_field_id(grammar().value), true)
        } else {
            (Some(left), false)
        };
        if let Some(target) = target {
            if let Some(q) = self.qualified(target) {
                if let Some((rule, what)) = process_global(&q) {
                    if subscripted || target.kind() == "attribute" {
                        self.report(
                            rule,
                            node,
                            format!(
                                "`{}` changes {what} for every later test in this worker",
                                one_line(self.text(node))
                            ),
                            None,
                        );
                    }
                }
            }
            if subscripted {
                self.module_mutation(target, node, at);
            }
        }
        // `NAME += [...]` on a module list is a local name unless declared
        // `global`, and then the global-statement rule reports it.
        // Module-level (or class-level) connections, drivers and Dagster objects.
        if at.func.is_none() && !augmented {
            if let Some(right) = node.child_by_field_id(grammar().right) {
                if right.kind() == "call" && !self.is_instance_get(right) {
                    if let Some(resource) = self.call_resource(right) {
                        let name = one_line(self.text(left));
                        let place = if at.class_body {
                            "class attribute"
                        } else {
                            "module-level"
                        };
                        self.report(
                            rule_for_module(resource),
                            node,
                            format!(
                                "{place} `{name}` is {} created at import time and shared by every test that uses it",
                                resource.describe()
                            ),
                            None,
                        );
                    }
                }
            }
        }
    }

    fn delete(&mut self, node: Node<'s>, at: Where<'s>) {
        let mut targets = Vec::new();
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            if child.kind() == "expression_list" {
                let mut c = child.walk();
                targets.extend(child.named_children(&mut c));
            } else {
                targets.push(child);
            }
        }
        for target in targets {
            if target.kind() != "subscript" {
                continue;
            }
            let Some(value) = target.child_by_field_id(grammar().value) else {
                continue;
            };
            if let Some((rule, what)) = self.qualified(value).and_then(|q| process_global(&q)) {
                self.report(
                    rule,
                    node,
                    format!(
                        "`{}` changes {what} for every later test in this worker",
                        one_line(self.text(node))
                    ),
                    None,
                );
            }
            self.module_mutation(value, node, at);
        }
    }

    // ---- calls ------------------------------------------------------------

    fn is_instance_get(&self, call: Node) -> bool {
        call.child_by_field_id(grammar().function)
            .and_then(|f| self.qualified(f))
            .is_some_and(|q| dotted_is(&q, "DagsterInstance.get"))
    }

    fn call(&mut self, node: Node<'s>, at: Where<'s>) {
        let Some(func) = node.child_by_field_id(grammar().function) else {
            return;
        };
        let args = node.child_by_field_id(grammar().arguments);
        let q = self.qualified(func);
        if let Some(args) = args.filter(|_| !at.decorator) {
            let mut cursor = args.walk();
            for arg in args.named_children(&mut cursor) {
                if arg.kind() == "keyword_argument" {
                    self.keyword(arg, q.as_deref());
                }
            }
        }

        // Mutating methods on os.environ, sys.path, sys.modules and module containers.
        if func.kind() == "attribute" {
            let method = func
                .child_by_field_id(grammar().attribute)
                .map_or("", |a| self.text(a));
            if let Some(object) = func.child_by_field_id(grammar().object) {
                if let Some((rule, what)) = self.qualified(object).and_then(|o| process_global(&o))
                {
                    let mutating = match rule {
                        Rule::SysPathMutation => {
                            matches!(
                                method,
                                "insert"
                                    | "append"
                                    | "extend"
                                    | "remove"
                                    | "pop"
                                    | "clear"
                                    | "__setitem__"
                            )
                        }
                        _ => matches!(
                            method,
                            "update"
                                | "pop"
                                | "setdefault"
                                | "clear"
                                | "popitem"
                                | "__setitem__"
                                | "__delitem__"
                        ),
                    };
                    if mutating {
                        self.report(
                            rule,
                            node,
                            format!(
                                "`{}` changes {what} for every later test in this worker",
                                one_line(self.text(node))
                            ),
                            None,
                        );
                    }
                }
                if MUTATORS.contains(&method) {
                    self.module_mutation(object, node, at);
                }
            }
        }

        let last = match func.kind() {
            "attribute" => func
                .child_by_field_id(grammar().attribute)
                .map_or("", |a| self.text(a)),
            _ => self.text(func),
        };
        // `monkeypatch.chdir(tmp_path)`, `tmpdir.as_cwd()`, click's
        // `runner.isolated_filesystem()`: relative paths are private after these.
        if matches!(last, "chdir" | "as_cwd" | "isolated_filesystem") {
            if let Some(f) = at.func {
                self.isolating.insert(f.id());
            }
        }
        // `Path("x").write_text()` has no dotted name, only a method.
        let Some(q) = q else {
            self.cwd_file(at, node, func, "", last, args);
            return;
        };

        if dotted_is(&q, "os.putenv") || dotted_is(&q, "os.unsetenv") {
            self.report(
                Rule::OsEnvironMutation,
                node,
                format!(
                    "`{}` changes the process environment for every later test in this worker",
                    one_line(self.text(node))
                ),
                None,
            );
        }
        if dotted_is(&q, "os.chdir") || dotted_is(&q, "os.fchdir") {
            self.report(
                Rule::OsChdir,
                node,
                "`os.chdir` changes the working directory of the whole worker process".into(),
                None,
            );
        }
        if dotted_is(&q, "DagsterInstance.get") {
            self.report(
                Rule::DagsterInstanceGet,
                node,
                "`DagsterInstance.get()` returns the shared instance configured by DAGSTER_HOME"
                    .into(),
                None,
            );
        }
        self.tempfile(node, &q, at);
        self.cwd_file(at, node, func, &q, last, args);
    }

    /// `tempfile.mkdtemp()` and friends without a visible cleanup.
    fn tempfile(&mut self, node: Node<'s>, q: &str, at: Where<'s>) {
        let last = last_segment(q);
        let kind = match last {
            "mkdtemp" | "mkstemp" | "mktemp" if q.starts_with("tempfile.") || q == last => last,
            "NamedTemporaryFile" if self.keyword_text(node, "delete") == Some("False") => {
                "NamedTemporaryFile(delete=False)"
            }
            _ => return,
        };
        if self
            .keyword_text(node, "dir")
            .is_some_and(|d| d.contains("tmp_path") || d.contains("tmpdir"))
        {
            return;
        }
        // The names the result is bound to, if any.
        let mut names = HashSet::new();
        let mut parent = node.parent();
        while let Some(p) = parent {
            match p.kind() {
                "await" | "parenthesized_expression" => parent = p.parent(),
                "assignment" => {
                    if let Some(left) = p.child_by_field_id(grammar().left) {
                        self.targets(left, &mut names);
                    }
                    break;
                }
                "as_pattern" => {
                    if let Some(alias) = p.child_by_field_id(grammar().alias) {
                        self.targets(alias, &mut names);
                    }
                    break;
                }
                _ => break,
            }
        }
        let scope = at
            .func
            .and_then(|f| f.child_by_field_id(grammar().body))
            .unwrap_or_else(|| root_of(node));
        let cleaned = names.iter().any(|n| self.cleans_up(scope, n));
        if !cleaned {
            self.report(
                Rule::UnmanagedTempfile,
                node,
                format!("`{kind}` creates a temporary path that nothing removes"),
                None,
            );
        }
    }

    /// Whether a cleanup call under `scope` mentions `name`.
    fn cleans_up(&self, scope: Node, name: &str) -> bool {
        let mut stack = vec![scope];
        while let Some(node) = stack.pop() {
            if node.kind() == "call" {
                let callee = node
                    .child_by_field_id(grammar().function)
                    .and_then(|f| self.qualified(f));
                if callee.is_some_and(|c| CLEANUPS.contains(&last_segment(&c)))
                    && mentions(self.text(node), name)
                {
                    return true;
                }
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        false
    }

    /// Writes to fixed relative paths: `open("out.csv", "w")`, `Path("x").write_text()`, …
    fn cwd_file(
        &mut self,
        at: Where<'s>,
        node: Node<'s>,
        func: Node<'s>,
        q: &str,
        last: &str,
        args: Option<Node<'s>>,
    ) {
        if !WRITERS.contains(&last) {
            return;
        }
        let first = args.and_then(|a| self.positional(a, 0));
        let open_like = matches!(
            q,
            "open"
                | "io.open"
                | "builtins.open"
                | "codecs.open"
                | "gzip.open"
                | "bz2.open"
                | "lzma.open"
        );
        let relative = |s: &Scan, n: Option<Node>| {
            n.and_then(|n| s.plain_string(n))
                .filter(|p| is_relative_file(p))
        };
        let mut hit: Option<(String, &str)> = None;
        if open_like {
            let mode = args
                .and_then(|a| self.positional(a, 1))
                .and_then(|m| self.plain_string(m))
                .or_else(|| {
                    self.keyword_text(node, "mode")
                        .map(|m| m.trim_matches(['"', '\'']).to_string())
                });
            if mode.is_some_and(|m| m.contains(['w', 'a', 'x', '+'])) {
                if let Some(p) = relative(self, first) {
                    hit = Some((p, "opens for writing"));
                }
            }
        } else if func.kind() == "attribute"
            && matches!(
                last,
                "write_text" | "write_bytes" | "touch" | "mkdir" | "open"
            )
        {
            // `Path("out.txt").write_text(...)`
            let object = func.child_by_field_id(grammar().object);
            if let Some(ctor) = object.filter(|o| o.kind() == "call") {
                let is_path = ctor
                    .child_by_field_id(grammar().function)
                    .and_then(|f| self.qualified(f))
                    .is_some_and(|c| matches!(last_segment(&c), "Path" | "PurePath" | "PosixPath"));
                let writes = last != "open"
                    || args
                        .and_then(|a| self.positional(a, 0))
                        .and_then(|m| self.plain_string(m))
                        .is_some_and(|m| m.contains(['w', 'a', 'x', '+']));
                if is_path && writes {
                    let path_arg = ctor
                        .child_by_field_id(grammar().arguments)
                        .and_then(|a| self.positional(a, 0));
                    if let Some(p) = relative(self, path_arg) {
                        let verb = if matches!(last, "mkdir" | "touch") {
                            "creates"
                        } else {
                            "writes"
                        };
                        hit = Some((p, verb));
                    }
                }
            }
        } else if matches!(q, "os.mkdir" | "os.makedirs") {
            if let Some(p) = relative(self, first) {
                hit = Some((p, "creates"));
            }
        } else if matches!(
            q,
            "shutil.copy" | "shutil.copy2" | "shutil.copyfile" | "shutil.copytree" | "shutil.move"
        ) {
            if let Some(p) = relative(self, args.and_then(|a| self.positional(a, 1))) {
                hit = Some((p, "writes"));
            }
        } else if (func.kind() == "attribute"
            && matches!(
                last,
                "to_csv"
                    | "to_parquet"
                    | "to_json"
                    | "to_excel"
                    | "to_pickle"
                    | "to_feather"
                    | "to_hdf"
                    | "savefig"
            ))
            || matches!(
                q,
                "numpy.save" | "numpy.savez" | "numpy.savetxt" | "logging.FileHandler"
            )
        {
            if let Some(p) = relative(self, first) {
                hit = Some((p, "writes"));
            }
        } else if matches!(
            q,
            "sqlite3.connect" | "duckdb.connect" | "dbm.open" | "shelve.open"
        ) {
            let db = first.or_else(|| self.keyword_value(node, "database"));
            if let Some(p) = relative(self, db) {
                hit = Some((p, "opens a database file"));
            }
        } else if matches!(last, "create_engine" | "create_async_engine") {
            if let Some(url) = first.and_then(|u| self.plain_string(u)) {
                if let Some(path) = url.split_once(":///").map(|(_, p)| p) {
                    if url.starts_with("sqlite") && is_relative_file(path) {
                        hit = Some((path.to_string(), "opens a database file"));
                    }
                }
            }
        }
        if let Some((path, verb)) = hit {
            self.report(
                Rule::FixedCwdFile,
                node,
                format!("{verb} `{path}` in the working directory, shared by every worker"),
                Some(format!(
                    "write under `tmp_path` instead, e.g. `tmp_path / \"{}\"`",
                    path.rsplit('/').next().unwrap_or(&path)
                )),
            );
            // Kept only if the function never moves into a directory of its own.
            let finding = self.findings.pop().expect("just reported");
            self.cwd_writes.push((at.func.map(|f| f.id()), finding));
        }
    }

    fn positional(&self, args: Node<'s>, index: usize) -> Option<Node<'s>> {
        let mut cursor = args.walk();
        let found = args
            .named_children(&mut cursor)
            .filter(|a| {
                !matches!(
                    a.kind(),
                    "keyword_argument" | "list_splat" | "dictionary_splat" | "comment"
                )
            })
            .nth(index);
        found
    }

    fn keyword_value(&self, call: Node<'s>, key: &str) -> Option<Node<'s>> {
        let args = call.child_by_field_id(grammar().arguments)?;
        let mut cursor = args.walk();
        let found = args.named_children(&mut cursor).find_map(|a| {
            (a.kind() == "keyword_argument"
                && a.child_by_field_id(grammar().name)
                    .is_some_and(|n| self.text(n) == key))
            .then(|| a.child_by_field_id(grammar().value))
            .flatten()
        });
        found
    }

    fn keyword_text(&self, call: Node<'s>, key: &str) -> Option<&'s str> {
        self.keyword_value(call, key).map(|v| self.text(v))
    }

    // ---- literals ---------------------------------------------------------

    /// The value of a string literal without interpolation (`None` for f-strings
    /// with `{…}` parts and for anything that is not a string).
    fn plain_string(&self, node: Node) -> Option<String> {
        let (content, interpolated) = self.string_parts(node)?;
        (!interpolated).then_some(content)
    }

    /// A string literal's text before its first interpolation, and whether it has one.
    fn string_parts(&self, node: Node) -> Option<(String, bool)> {
        match node.kind() {
            "string" => {
                let mut out = String::new();
                let mut cursor = node.walk();
                for part in node.named_children(&mut cursor) {
                    match part.kind() {
                        "string_content" => out.push_str(self.text(part)),
                        "interpolation" => return Some((out, true)),
                        _ => {}
                    }
                }
                Some((out, false))
            }
            "concatenated_string" => {
                let mut out = String::new();
                let mut cursor = node.walk();
                for part in node.named_children(&mut cursor) {
                    let (text, interpolated) = self.string_parts(part)?;
                    out.push_str(&text);
                    if interpolated {
                        return Some((out, true));
                    }
                }
                Some((out, false))
            }
            _ => None,
        }
    }

    /// Whether a string literal is data rather than a value the code uses:
    /// a docstring or bare string, an operand of a comparison, or anything
    /// inside an `assert` (assertions check values; they do not set up files).
    fn is_inert_string(at: Where) -> bool {
        let g = grammar();
        let is = |table: &[bool], id: u16| table.get(usize::from(id)).copied().unwrap_or(false);
        let parent = if is(&g.concatenated, at.parent) {
            at.grandparent
        } else {
            at.parent
        };
        at.assert || is(&g.inert_parent, parent)
    }

    fn string(&mut self, node: Node<'s>, at: Where<'s>) {
        if Self::is_inert_string(at) {
            return;
        }
        let Some((content, _)) = self.string_parts(node) else {
            return;
        };
        if is_shared_tmp(&content) {
            self.report(
                Rule::SharedTmpPath,
                node,
                format!(
                    "`{}` is a fixed path in a directory every worker shares",
                    truncate(&content, 40)
                ),
                None,
            );
        }
        if !at.decorator {
            if let Some((host, port)) = loopback_port(&content) {
                self.report(
                    Rule::FixedPort,
                    node,
                    format!("`{host}:{port}` is a literal port, the same for every worker"),
                    None,
                );
            }
        }
    }

    fn int_literal(&self, node: Node) -> Option<i64> {
        (node.kind() == "integer")
            .then(|| self.text(node).replace('_', "").parse().ok())
            .flatten()
    }

    /// `("localhost", 8080)`: a host and a literal port.
    fn port_tuple(&mut self, node: Node<'s>) {
        if node.named_child_count() != 2 {
            return;
        }
        let (Some(host), Some(port)) = (node.named_child(0), node.named_child(1)) else {
            return;
        };
        let Some(host_name) = self.plain_string(host) else {
            return;
        };
        let Some(p) = self.int_literal(port).filter(|p| (1..=65535).contains(p)) else {
            return;
        };
        if is_local_host(&host_name) {
            self.report(
                Rule::FixedPort,
                port,
                format!(
                    "`{}` uses literal port {p}, the same for every worker",
                    one_line(self.text(node))
                ),
                None,
            );
        }
    }

    /// `port=8080`, `database="test"` in a call to `callee`.
    fn keyword(&mut self, node: Node<'s>, callee: Option<&str>) {
        let (Some(name), Some(value)) = (
            node.child_by_field_id(grammar().name),
            node.child_by_field_id(grammar().value),
        ) else {
            return;
        };
        let key = self.text(name);
        if key == "port" {
            if let Some(p) = self.int_literal(value).filter(|p| (1..=65535).contains(p)) {
                self.report(
                    Rule::FixedPort,
                    node,
                    format!("`port={p}` is a literal port, the same for every worker"),
                    None,
                );
            }
            return;
        }
        if !matches!(
            key,
            "database" | "db" | "dbname" | "db_name" | "database_name" | "namespace" | "keyspace"
        ) {
            return;
        }
        let Some(db) = self.plain_string(value) else {
            return;
        };
        if db.is_empty() || db == ":memory:" || db.contains('/') {
            return;
        }
        // File databases (`sqlite3.connect(database="x.db")`) are fixed-cwd-file's.
        if callee.is_some_and(|c| {
            matches!(
                c,
                "sqlite3.connect" | "duckdb.connect" | "dbm.open" | "shelve.open"
            )
        }) {
            return;
        }
        self.report(
            Rule::FixedDatabaseName,
            node,
            format!(
                "`{key}=\"{db}\"` is the same name for every worker, so workers share its data"
            ),
            None,
        );
    }
}

fn rule_for_module(resource: Resource) -> Rule {
    if resource.is_dagster() {
        Rule::ModuleDagsterContext
    } else {
        Rule::ModuleResource
    }
}

/// The rule for a write to a process-wide object, and how to name it.
fn process_global(q: &str) -> Option<(Rule, &'static str)> {
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
fn dotted_is(q: &str, pattern: &str) -> bool {
    q == pattern
        || (q.len() > pattern.len()
            && q.ends_with(pattern)
            && q.as_bytes()[q.len() - pattern.len() - 1] == b'.')
}

fn last_segment(q: &str) -> &str {
    q.rsplit('.').next().unwrap_or(q)
}

fn root_of(node: Node) -> Node {
    let mut n = node;
    while let Some(p) = n.parent() {
        n = p;
    }
    n
}

/// Whether `text` mentions `name` as a whole word.
fn mentions(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn one_line(text: &str) -> String {
    truncate(text.lines().next().unwrap_or(text).trim(), 60)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// A path under /tmp, /var/tmp or /dev/shm, also inside a URL (`sqlite:////tmp/x.db`).
fn is_shared_tmp(s: &str) -> bool {
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
fn is_relative_file(p: &str) -> bool {
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
fn is_local_host(host: &str) -> bool {
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
fn loopback_port(s: &str) -> Option<(String, u16)> {
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

    fn ids(source: &str) -> Vec<(usize, &'static str)> {
        scan(&mut parser(), source)
            .findings
            .iter()
            .map(|f| (f.line, f.rule.id()))
            .collect()
    }

    #[test]
    fn shared_tmp_paths() {
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
    fn loopback_ports() {
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
    fn mentions_whole_words() {
        assert!(mentions("shutil.rmtree(d)", "d"));
        assert!(mentions("os.unlink(f.name)", "f"));
        assert!(!mentions("shutil.rmtree(dd)", "d"));
    }

    #[test]
    fn syntax_errors_are_located() {
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
    fn suppression_on_the_line() {
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
    fn aliases_resolve() {
        let src = "from os import environ as env\nimport tempfile as tf\ndef test_a():\n    env['A'] = '1'\n    tf.mkdtemp()\n";
        assert_eq!(
            ids(src),
            vec![(4, "os-environ-mutation"), (5, "unmanaged-tempfile")]
        );
    }
}
