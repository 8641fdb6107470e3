//! Which of the project's modules keep state from one test to the next: a
//! cache, a registry, a counter, an object built once. Only through such
//! state can what an earlier test ran reach a later test that did not run
//! it, so only such modules carry (see [`super::record::observe`]).
//!
//! A module keeps state when, read from its source and the project's:
//! - a function of it is cached (`lru_cache`, `cache`, …; not
//!   `cached_property`, which caches per instance), declares a
//!   `global`, has a mutable default argument, calls `globals()`, or sets
//!   attributes (`setattr`) of a class, a module or anything else that is
//!   not a local value;
//! - a function inside one of its functions rebinds (`nonlocal`) or changes
//!   a variable of the enclosing function (a memoizing decorator's cache),
//!   unless nothing made in the enclosing call can outlive it: no
//!   generator, lambda or class, and inner functions only called there;
//! - or it binds a name at module or class level that code anywhere in the
//!   project (tests included) changes:
//!   - rebinds as an attribute of a class, of `cls`, of an imported name or
//!     of a module-level name (`Config.debug = …`, `cls.count += 1`);
//!   - for a container, an alias or an object built by a call (anything
//!     but known constant builders: `re.compile`, `TypeVar`, `namedtuple`,
//!     `frozenset`, `object()`, `attr.ib`, …): assigns or deletes an item
//!     of it (`cache[key] = …`, `self._registry[k] = …`), or calls a
//!     mutating method on it (`append`, `update`, `setdefault`, …);
//!   - for an object built by a call: calls any method on it but a reader
//!     (`get`, `items`, `copy`, …);
//!   - for a container or such an object: hands it on (passes it to a call,
//!     returns, yields or assigns it elsewhere), where it may be changed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use tree_sitter::{Node, Parser};

/// Calls whose result holds no state (by their name's last segment).
const CONSTANT_BUILDERS: &[&str] = &[
    "compile",
    "TypeVar",
    "ParamSpec",
    "TypeVarTuple",
    "NewType",
    "namedtuple",
    "NamedTuple",
    "TypedDict",
    "frozenset",
    "tuple",
    "str",
    "bytes",
    "int",
    "float",
    "complex",
    "bool",
    "object",
    "type",
    "intern",
    "getLogger",
    "field",
    "ib",
    "attrib",
    "Factory",
    "property",
    "classmethod",
    "staticmethod",
    "cached_property",
    "partial",
    "MappingProxyType",
    "cast",
    "Literal",
    "Enum",
    "IntEnum",
    "Flag",
    "IntFlag",
    "auto",
    "range",
    "join",
    "format",
    "encode",
    "decode",
    "lower",
    "upper",
    "strip",
    "replace",
    "Path",
    "PurePath",
    "PurePosixPath",
    "PureWindowsPath",
    "getenv",
    "version",
    "escape",
    "Markup",
    "Decimal",
    "Fraction",
    "timedelta",
    "date",
    "datetime",
    "UUID",
];

/// Calls that build a mutable container.
const CONTAINER_BUILDERS: &[&str] = &[
    "dict",
    "list",
    "set",
    "defaultdict",
    "OrderedDict",
    "deque",
    "Counter",
    "ChainMap",
    "WeakKeyDictionary",
    "WeakValueDictionary",
    "WeakSet",
    "bytearray",
    "array",
];

/// Methods that change the container they are called on.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "clear",
    "remove",
    "discard",
    "appendleft",
    "extendleft",
    "sort",
    "reverse",
    "move_to_end",
    "__setitem__",
    "__delitem__",
    "difference_update",
    "intersection_update",
    "symmetric_difference_update",
    "rotate",
];

/// Calls that only read what they are given.
const READERS: &[&str] = &[
    "len",
    "list",
    "tuple",
    "sorted",
    "dict",
    "set",
    "frozenset",
    "iter",
    "enumerate",
    "zip",
    "any",
    "all",
    "min",
    "max",
    "sum",
    "isinstance",
    "issubclass",
    "repr",
    "str",
    "print",
    "hash",
    "id",
    "bool",
    "type",
    "hasattr",
    "getattr",
    "format",
    "reversed",
    "map",
    "filter",
    "join",
    "items",
    "keys",
    "values",
    "get",
    "copy",
    "deepcopy",
    "startswith",
    "endswith",
];

/// What a binding at module or class level holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Holds {
    /// A constant: a literal, a tuple of constants, an expression of them.
    Constant,
    /// A mutable container (literal, comprehension, `dict()`, …).
    Container,
    /// What a call built (other than constant builders and containers).
    Object,
    /// Another name's value (`x = y`, `x = mod.y`, `x = y[k]`).
    Alias,
}

/// What one Python file says about state (kept in the record per file, so
/// that a file unchanged since is not read again).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Shape {
    /// The rules it was read by ([`RULES`]): a shape read by other rules is
    /// read again.
    pub rules: u32,
    /// Why the module keeps state, read from itself alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    direct: Option<String>,
    /// Names bound at module or class level: what they hold, the line, and
    /// whether at module level.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    bindings: BTreeMap<String, (Holds, usize, bool)>,
    /// Names this file's code rebinds as attributes of a class, a module or
    /// another global value, with the first line doing it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    rebound: BTreeMap<String, usize>,
    /// Every name an import of this file mentions (`import a.b as c`: `a`,
    /// `b`, `c`), string arguments of `importlib.import_module` and
    /// `__import__` split at dots included. `None`: a record made before
    /// this was kept, to be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imports: Option<BTreeSet<String>>,
    /// Per [`Use`], names used so through an attribute (`x.NAME[k] = …`,
    /// `self.NAME.append(…)`), which reach class-level bindings too, with
    /// the first line.
    through: [BTreeMap<String, usize>; 3],
    /// Per [`Use`], names used so bare (`NAME[k] = …`), not local to the
    /// function doing it and global in this file: they reach module-level
    /// bindings only.
    bare: [BTreeMap<String, usize>; 3],
    /// Module-level functions that return a function they define (a call
    /// of one builds a function, which keeps no state).
    #[serde(skip)]
    factories: BTreeSet<String>,
    /// Bare uses, judged once `globals` is known.
    #[serde(skip)]
    pending: Vec<(Use, String, usize)>,
    /// Names bound at module level, and imported names.
    #[serde(skip)]
    globals: BTreeSet<String>,
    /// `OBJ.NAME = …` seen: (OBJ, NAME, line), judged once `globals` is known.
    #[serde(skip)]
    attribute_targets: Vec<(String, String, usize)>,
    /// `setattr(OBJ, …)` seen: (OBJ, line), judged the same way.
    #[serde(skip)]
    setattr_targets: Vec<(String, usize)>,
}

/// The version of the rules [`shape`] reads a file by.
pub const RULES: u32 = 2;

/// The shape of `text`.
pub fn shape(text: &str) -> Shape {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the linked grammar matches tree-sitter's ABI");
    let mut shape = Shape {
        rules: RULES,
        imports: Some(BTreeSet::new()),
        ..Shape::default()
    };
    let Some(tree) = parser.parse(text, None) else {
        shape.direct = Some("its source could not be read".into());
        return shape;
    };
    let mut walk = Walk {
        text,
        shape: &mut shape,
        locals: Vec::new(),
        closed: Vec::new(),
    };
    walk.visit(tree.root_node(), Scope::Module);
    let global = |shape: &Shape, object: &str| {
        object == "cls"
            || object == "__class__"
            || object.starts_with(|c: char| c.is_ascii_uppercase())
            || shape.globals.contains(object)
    };
    for (object, name, line) in std::mem::take(&mut shape.attribute_targets) {
        if global(&shape, &object) {
            shape.rebound.entry(name).or_insert(line);
            // `config.strict = v`, `next_id.n += 1`: the object itself changes.
            if object != "cls" && object != "__class__" {
                shape.pending.push((Use::Changed, object, line));
            }
        }
    }
    for (kind, name, line) in std::mem::take(&mut shape.pending) {
        if shape.globals.contains(&name) {
            shape.bare[kind as usize].entry(name).or_insert(line);
        }
    }
    for (object, line) in std::mem::take(&mut shape.setattr_targets) {
        if global(&shape, &object) {
            shape.direct.get_or_insert(format!(
                "it sets attributes of `{object}`, which is not a local value (line {line})"
            ));
        }
    }
    shape
}

/// Whether a file other than `path` imports the module at `path`, as far
/// as the names its imports mention tell (a mention of the module's name
/// is enough: `from .test_base import Case`, `import tests.test_base`).
pub fn imported_elsewhere(shapes: &BTreeMap<String, Shape>, path: &str) -> bool {
    shapes
        .iter()
        .any(|(other, shape)| other != path && shape.may_import(path))
}

impl Shape {
    /// Whether this file's imports may name the module at `path` (always,
    /// for a shape kept from before imports were read).
    pub fn may_import(&self, path: &str) -> bool {
        let file = path.rsplit('/').next().unwrap_or(path);
        let name = file.strip_suffix(".py").unwrap_or(file);
        self.imports
            .as_ref()
            .is_none_or(|names| names.contains(name))
    }
}

/// Per module path, why it keeps state (modules absent keep none), given
/// every Python file of the project (`shapes`, by path; modules and tests
/// alike) and which of them are the project's modules (`modules`).
pub fn keeping_state<'a>(
    shapes: &BTreeMap<String, Shape>,
    modules: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, String> {
    // Name → (file, line) of the first such use anywhere.
    type Uses<'s> = BTreeMap<&'s str, (&'s str, usize)>;
    // Rebound; then per `Use`, through an attribute, and bare.
    let mut rebound: Uses = BTreeMap::new();
    let mut through: [Uses; 3] = Default::default();
    let mut bare: [Uses; 3] = Default::default();
    for (path, shape) in shapes {
        let mut pairs = vec![(&mut rebound, &shape.rebound)];
        for (uses, of) in through.iter_mut().zip(&shape.through) {
            pairs.push((uses, of));
        }
        for (uses, of) in bare.iter_mut().zip(&shape.bare) {
            pairs.push((uses, of));
        }
        for (uses, of) in pairs {
            for (name, line) in of {
                uses.entry(name).or_insert((path, *line));
            }
        }
    }
    // A module-level binding is reached bare or through an attribute; a
    // class-level one only through an attribute.
    let used = |kind: Use, name: &str, module_level: bool| {
        through[kind as usize].get(name).or_else(|| {
            if module_level {
                bare[kind as usize].get(name)
            } else {
                None
            }
        })
    };
    let mut out = BTreeMap::new();
    for module in modules {
        let Some(shape) = shapes.get(module) else {
            continue;
        };
        if let Some(why) = &shape.direct {
            out.insert(module.clone(), why.clone());
            continue;
        }
        let why = shape
            .bindings
            .iter()
            .find_map(|(name, (holds, line, module_level))| {
                let name = name.as_str();
                if name.starts_with("__") && name.ends_with("__") {
                    // `__slots__`, `__all__`, `__match_args__`: declarations.
                    return None;
                }
                let module_level = *module_level;
                let at = |(path, at): &(&str, usize)| format!("{path}:{at}");
                if let Some(use_) = rebound.get(name) {
                    return Some(format!("`{name}` (line {line}) is rebound at {}", at(use_)));
                }
                if *holds != Holds::Constant {
                    if let Some(use_) = used(Use::Changed, name, module_level) {
                        return Some(format!("`{name}` (line {line}) is changed at {}", at(use_)));
                    }
                }
                if *holds == Holds::Object {
                    if let Some(use_) = used(Use::Called, name, module_level) {
                        return Some(format!(
                            "`{name}` (line {line}) has a method called at {}",
                            at(use_)
                        ));
                    }
                }
                if matches!(holds, Holds::Container | Holds::Object) {
                    if let Some(use_) = used(Use::Handed, name, module_level) {
                        return Some(format!(
                            "`{name}` (line {line}) is handed on at {}, where it may be changed",
                            at(use_)
                        ));
                    }
                }
                None
            });
        if let Some(why) = why {
            out.insert(module.clone(), why);
        }
    }
    out
}

/// A use of a name that may change what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Use {
    /// An item assigned or deleted, or a mutating method called.
    Changed = 0,
    /// A method other than a reader called.
    Called = 1,
    /// Passed to a call, returned, yielded or assigned elsewhere.
    Handed = 2,
}

/// The named children of `node`.
fn named(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Module,
    Class,
    Function,
}

struct Walk<'a, 's> {
    text: &'a str,
    shape: &'s mut Shape,
    /// The local names of the functions the walk is in, innermost last.
    locals: Vec<BTreeSet<String>>,
    /// Per function the walk is in, innermost last: whether no closure
    /// made in a call of it outlives the call (see [`Walk::closed`]).
    closed: Vec<bool>,
}

impl Walk<'_, '_> {
    fn src(&self, node: Node) -> &str {
        &self.text[node.byte_range()]
    }

    fn line(node: Node) -> usize {
        node.start_position().row + 1
    }

    fn direct(&mut self, why: String) {
        self.shape.direct.get_or_insert(why);
    }

    /// A use of what `expr` (a name or an attribute) names.
    fn use_(&mut self, kind: Use, expr: Node) {
        let line = Self::line(expr);
        match expr.kind() {
            "identifier" => {
                let name = self.src(expr).to_string();
                let innermost = self.locals.last().is_some_and(|l| l.contains(&name));
                if innermost {
                    return;
                }
                if self.is_local(&name) {
                    // A variable of an enclosing function, changed from a
                    // function inside it: a closure keeps it across calls
                    // (a memoizing decorator's cache), unless no closure
                    // outlives the enclosing call.
                    if kind == Use::Changed && !self.closed_owner(&name) {
                        self.direct(format!(
                            "a closure keeps `{name}` across calls and changes it (line {line})"
                        ));
                    }
                    return;
                }
                self.shape.pending.push((kind, name, line));
            }
            // `handlers[event].append(f)`, `cache[ns][key] = v`: the root's
            // content changes.
            "subscript" if kind == Use::Changed => {
                if let Some(value) = expr.child_by_field_name("value") {
                    self.use_(kind, value);
                }
            }
            "attribute" => {
                if let Some(name) = self.last_name(expr) {
                    self.shape.through[kind as usize]
                        .entry(name)
                        .or_insert(line);
                }
            }
            _ => {}
        }
    }

    fn is_local(&self, name: &str) -> bool {
        self.locals.iter().any(|l| l.contains(name))
    }

    /// The name an expression ends in: `x` for `x`, `a.b.x`; `None` for
    /// anything else.
    fn last_name(&self, node: Node) -> Option<String> {
        match node.kind() {
            "identifier" => Some(self.src(node).to_string()),
            "attribute" => node
                .child_by_field_name("attribute")
                .map(|a| self.src(a).to_string()),
            _ => None,
        }
    }

    fn is_self(&self, node: Node) -> bool {
        node.kind() == "identifier" && self.src(node) == "self"
    }

    fn visit(&mut self, node: Node, scope: Scope) {
        match node.kind() {
            "function_definition" => {
                if scope == Scope::Module {
                    self.defined(node);
                }
                self.function(node);
                return;
            }
            "class_definition" => {
                if scope == Scope::Module {
                    self.defined(node);
                }
                let inner = if scope == Scope::Function {
                    Scope::Function
                } else {
                    Scope::Class
                };
                self.children(node, inner);
                return;
            }
            "global_statement" if scope == Scope::Function => {
                let what = self.src(node).to_string();
                self.direct(format!(
                    "a function keeps state across calls (`{what}`, line {})",
                    Self::line(node)
                ));
            }
            // A variable of an enclosing function that this one rebinds:
            // state while a closure outlives the enclosing call.
            "nonlocal_statement" if scope == Scope::Function => {
                let mut function = node.parent();
                while let Some(f) = function.filter(|f| f.kind() != "function_definition") {
                    function = f.parent();
                }
                let rebinds = function.map(|f| self.binds(f));
                let mut cursor = node.walk();
                let names: Vec<String> = node
                    .named_children(&mut cursor)
                    .map(|n| self.src(n).to_string())
                    .collect();
                let kept = names.iter().any(|name| {
                    rebinds.as_ref().is_some_and(|b| b.contains(name)) && !self.closed_owner(name)
                });
                if kept {
                    let what = self.src(node).to_string();
                    self.direct(format!(
                        "a function keeps state across calls (`{what}`, line {})",
                        Self::line(node)
                    ));
                }
            }
            "assignment" | "augmented_assignment" => self.assignment(node, scope),
            "delete_statement" => {
                let mut cursor = node.walk();
                for target in node.named_children(&mut cursor) {
                    self.deleted(target);
                }
            }
            "call" => self.call(node),
            "import_statement" | "import_from_statement" => self.imported(node),
            "return_statement" | "yield" if scope == Scope::Function => {
                let mut cursor = node.walk();
                for value in node.named_children(&mut cursor) {
                    self.handed_values(value);
                }
            }
            _ => {}
        }
        self.children(node, scope);
    }

    /// A module-level `def` or `class`: a global name, whose object keeps
    /// state if code changes its attributes.
    fn defined(&mut self, node: Node) {
        if let Some(name) = node.child_by_field_name("name") {
            let name = self.src(name).to_string();
            self.shape.globals.insert(name.clone());
            self.shape
                .bindings
                .entry(name)
                .or_insert((Holds::Alias, Self::line(node), true));
        }
    }

    fn children(&mut self, node: Node, scope: Scope) {
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            self.visit(child, scope);
        }
    }

    fn function(&mut self, node: Node) {
        let name = node
            .child_by_field_name("name")
            .map(|n| self.src(n).to_string())
            .unwrap_or_default();
        if self.locals.is_empty() && self.is_factory(node) {
            self.shape.factories.insert(name.clone());
        }
        if let Some(parent) = node.parent().filter(|p| p.kind() == "decorated_definition") {
            // `cached_property` caches in each instance, as an attribute of
            // `self` would: not the module's state.
            let cached = super::source::has_caching_decorator(self.text, parent)
                && !self.per_instance_cache(parent);
            if cached {
                self.direct(format!(
                    "`{name}` (line {}) keeps a cache",
                    Self::line(node)
                ));
            }
        }
        if let Some(params) = node.child_by_field_name("parameters") {
            let mut cursor = params.walk();
            for param in params.named_children(&mut cursor) {
                if !matches!(
                    param.kind(),
                    "default_parameter" | "typed_default_parameter"
                ) {
                    continue;
                }
                if let Some(value) = param.child_by_field_name("value") {
                    if matches!(self.holds(value), Holds::Container | Holds::Object) {
                        let what = self.src(param).to_string();
                        self.direct(format!(
                            "`{name}` (line {}) has a default argument that may keep state (`{what}`)",
                            Self::line(node)
                        ));
                    }
                }
            }
        }
        let locals = self.locals_of(node);
        self.locals.push(locals);
        self.closed.push(self.closed(node));
        self.children(node, Scope::Function);
        self.closed.pop();
        self.locals.pop();
    }

    /// Whether every caching decorator of `decorated` caches per instance
    /// (`cached_property`).
    fn per_instance_cache(&self, decorated: Node) -> bool {
        let decorators = super::source::caching_decorators(self.text, decorated);
        !decorators.is_empty()
            && decorators
                .iter()
                .all(|d| d == "cached_property" || d.ends_with(".cached_property"))
    }

    /// Whether the enclosing function whose local `name` is (the innermost
    /// one, outside the function the walk is in) lets no closure outlive
    /// its call, so what its inner functions change of it dies with it.
    fn closed_owner(&self, name: &str) -> bool {
        let inner = self.locals.len().saturating_sub(1);
        let owner = self.locals[..inner].iter().rposition(|l| l.contains(name));
        owner.is_some_and(|i| self.closed[i])
    }

    /// Whether no function, class or generator frame made inside a call of
    /// `function` can outlive the call: it is no generator, defines no
    /// class or lambda, and every function it defines (at any depth) is
    /// undecorated and named only to be called (`helper(x)`), never
    /// returned, stored or handed on.
    fn closed(&self, function: Node) -> bool {
        let Some(body) = function.child_by_field_name("body") else {
            return false;
        };
        if function.child(0).is_some_and(|c| c.kind() == "async") {
            return false;
        }
        let mut inner = BTreeSet::new();
        let mut stack = vec![body];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "yield" | "await" | "lambda" | "class_definition" | "decorated_definition" => {
                    return false;
                }
                "function_definition" => {
                    if let Some(name) = node.child_by_field_name("name") {
                        inner.insert(self.src(name));
                    }
                }
                _ => {}
            }
            let mut cursor = node.walk();
            stack.extend(node.children(&mut cursor));
        }
        let mut stack = vec![body];
        while let Some(node) = stack.pop() {
            if node.kind() == "identifier" && inner.contains(self.src(node)) {
                let parent = node.parent();
                let kind = parent.map(|p| p.kind()).unwrap_or_default();
                let field = |f: &str| parent.and_then(|p| p.child_by_field_name(f)) == Some(node);
                let named = kind == "function_definition" && field("name");
                let called = kind == "call" && field("function");
                if !named && !called {
                    return false;
                }
            }
            let mut cursor = node.walk();
            stack.extend(node.children(&mut cursor));
        }
        true
    }

    /// The names `function`'s own body binds (assigns, loops over, deletes,
    /// imports or catches), those it declares `global` or `nonlocal` included.
    fn binds(&self, function: Node) -> BTreeSet<String> {
        self.bound_in(function, true)
    }

    /// Whether `function`'s body ends returning a function it defines.
    fn is_factory(&self, function: Node) -> bool {
        let Some(body) = function.child_by_field_name("body") else {
            return false;
        };
        let statements = named(body);
        let Some(mut returned) = statements
            .last()
            .filter(|s| s.kind() == "return_statement")
            .and_then(|s| s.named_child(0))
        else {
            return false;
        };
        // `return cast(F, inner)` returns `inner`.
        if returned.kind() == "call"
            && returned
                .child_by_field_name("function")
                .and_then(|f| self.last_name(f))
                .is_some_and(|n| n == "cast")
        {
            let Some(last) = returned
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(a.named_child_count().saturating_sub(1) as u32))
            else {
                return false;
            };
            returned = last;
        }
        if returned.kind() != "identifier" {
            return false;
        }
        let returned = self.src(returned);
        statements.iter().any(|s| {
            let def = if s.kind() == "decorated_definition" {
                s.child_by_field_name("definition")
            } else {
                Some(*s)
            };
            def.filter(|d| d.kind() == "function_definition")
                .and_then(|d| d.child_by_field_name("name"))
                .is_some_and(|n| self.src(n) == returned)
        })
    }

    /// The names a function binds locally: its parameters, and what its
    /// body assigns, loops over, imports or catches (not inside nested
    /// functions or classes), less what it declares `global` or `nonlocal`.
    fn locals_of(&self, function: Node) -> BTreeSet<String> {
        self.bound_in(function, false)
    }

    /// The names `function` binds (see [`Walk::locals_of`]); with
    /// `rebinding`, also those it declares `global` or `nonlocal`, and,
    /// conservatively, every name in its `del`, `with`, `except` and import
    /// statements.
    fn bound_in(&self, function: Node, rebinding: bool) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut declared = BTreeSet::new();
        if let Some(params) = function.child_by_field_name("parameters") {
            let mut cursor = params.walk();
            for param in params.named_children(&mut cursor) {
                let name = match param.kind() {
                    "identifier" => Some(param),
                    "default_parameter" | "typed_default_parameter" => {
                        param.child_by_field_name("name")
                    }
                    _ => param.named_child(0).filter(|n| n.kind() == "identifier"),
                };
                if let Some(name) = name {
                    names.insert(self.src(name).to_string());
                }
            }
        }
        let mut stack: Vec<Node> = function.child_by_field_name("body").into_iter().collect();
        while let Some(node) = stack.pop() {
            match node.kind() {
                "function_definition" | "class_definition" | "lambda" => {
                    if let Some(name) = node.child_by_field_name("name") {
                        names.insert(self.src(name).to_string());
                    }
                    continue;
                }
                "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => {
                    if let Some(left) = node.child_by_field_name("left") {
                        names.extend(self.bound_names(left));
                    }
                }
                "named_expression" => {
                    if let Some(name) = node.child_by_field_name("name") {
                        names.insert(self.src(name).to_string());
                    }
                }
                "as_pattern_target" => {
                    let mut cursor = node.walk();
                    for child in node.named_children(&mut cursor) {
                        names.extend(self.bound_names(child));
                    }
                }
                "delete_statement"
                | "with_item"
                | "except_clause"
                | "import_statement"
                | "import_from_statement"
                    if rebinding =>
                {
                    let mut inner = vec![node];
                    while let Some(n) = inner.pop() {
                        if n.kind() == "identifier" {
                            names.insert(self.src(n).to_string());
                        }
                        let mut cursor = n.walk();
                        inner.extend(n.children(&mut cursor));
                    }
                }
                // Names a function imports stay global for these checks:
                // what they name lives in another module
                // (`from m import config; config.debug = True`).
                "global_statement" | "nonlocal_statement" => {
                    let mut cursor = node.walk();
                    for name in node.named_children(&mut cursor) {
                        declared.insert(self.src(name).to_string());
                    }
                }
                _ => {}
            }
            let mut cursor = node.walk();
            stack.extend(node.children(&mut cursor));
        }
        if !rebinding {
            names.retain(|n| !declared.contains(n));
        }
        names
    }

    fn assignment(&mut self, node: Node, scope: Scope) {
        let (Some(left), right) = (
            node.child_by_field_name("left"),
            node.child_by_field_name("right"),
        ) else {
            return;
        };
        let augmented = node.kind() == "augmented_assignment";
        if scope != Scope::Function {
            if let Some(right) = right {
                let holds = self.holds(right);
                if holds == Holds::Object {
                    // `table = functools.lru_cache(None)(_table)`
                    let text = self.src(right).to_ascii_lowercase();
                    if text.contains("cache") || text.contains("memo") {
                        let first = self
                            .src(node)
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        self.direct(format!(
                            "`{first}` (line {}) keeps a cache",
                            Self::line(node)
                        ));
                    }
                }
                for name in self.bound_names(left) {
                    if scope == Scope::Module {
                        self.shape.globals.insert(name.clone());
                    }
                    self.shape.bindings.entry(name).or_insert((
                        holds,
                        Self::line(node),
                        scope == Scope::Module,
                    ));
                }
            }
        } else if let Some(right) = right {
            if !augmented && matches!(right.kind(), "identifier" | "attribute") {
                // `x = NAME`, `self.x = NAME`: the value has another name now.
                self.use_(Use::Handed, right);
            }
        }
        self.target(left, scope, augmented);
    }

    /// A target of an assignment: what it changes.
    fn target(&mut self, left: Node, scope: Scope, augmented: bool) {
        match left.kind() {
            "attribute" => {
                if let (Some(object), Some(name)) =
                    (left.child_by_field_name("object"), self.last_name(left))
                {
                    self.attribute_target(object, name, left);
                }
            }
            "subscript" => {
                if let Some(value) = left.child_by_field_name("value") {
                    self.use_(Use::Changed, value);
                }
            }
            "identifier" if augmented && scope != Scope::Function => {
                self.use_(Use::Changed, left);
            }
            "pattern_list" | "tuple_pattern" | "list_pattern" | "list_splat_pattern" => {
                let parts = named(left);
                for part in parts {
                    self.target(part, scope, augmented);
                }
            }
            _ => {}
        }
    }

    fn deleted(&mut self, target: Node) {
        match target.kind() {
            "subscript" => {
                if let Some(value) = target.child_by_field_name("value") {
                    self.use_(Use::Changed, value);
                }
            }
            "attribute" => {
                if let (Some(object), Some(name)) =
                    (target.child_by_field_name("object"), self.last_name(target))
                {
                    self.attribute_target(object, name, target);
                }
            }
            "expression_list" | "tuple" => {
                let parts = named(target);
                for part in parts {
                    self.deleted(part);
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, node: Node) {
        let Some(function) = node.child_by_field_name("function") else {
            return;
        };
        let called = self.last_name(function).unwrap_or_default();
        if function.kind() == "attribute" && !READERS.contains(&called.as_str()) {
            if let Some(receiver) = function.child_by_field_name("object") {
                if MUTATING_METHODS.contains(&called.as_str()) {
                    self.use_(Use::Changed, receiver);
                }
                self.use_(Use::Called, receiver);
            }
        }
        let arguments: Vec<Node> = node
            .child_by_field_name("arguments")
            .map(named)
            .unwrap_or_default();
        if matches!(called.as_str(), "import_module" | "__import__") {
            if let Some(name) = arguments.first().filter(|a| a.kind() == "string") {
                let text = self.src(*name).to_string();
                self.mentioned(&text);
            }
        }
        if function.kind() == "identifier" {
            match called.as_str() {
                "globals" => self.direct(format!(
                    "it changes its globals (`globals()`, line {})",
                    Self::line(node)
                )),
                "setattr" | "delattr" => {
                    if let Some(first) = arguments.first().copied() {
                        // Judged as `first.NAME = …` would be, NAME unknown.
                        self.attribute_target(first, "*".to_string(), node);
                    }
                }
                _ => {}
            }
        }
        if READERS.contains(&called.as_str()) {
            return;
        }
        for argument in arguments {
            let value = match argument.kind() {
                "keyword_argument" => argument.child_by_field_name("value"),
                "list_splat" | "dictionary_splat" => None,
                _ => Some(argument),
            };
            if let Some(value) = value {
                self.use_(Use::Handed, value);
            }
        }
    }

    /// Values a `return` or `yield` hands on.
    fn handed_values(&mut self, node: Node) {
        match node.kind() {
            "identifier" | "attribute" => self.use_(Use::Handed, node),
            "expression_list" | "tuple" => {
                let parts = named(node);
                for part in parts {
                    self.handed_values(part);
                }
            }
            _ => {}
        }
    }

    /// `object.NAME = …` (or `del`, or `setattr(object, …)`): noted when
    /// `object` may be global (a class, `cls`, `__class__`, `type(…)`, an
    /// imported or module-level name; judged once the file is read),
    /// not when it is `self` or a local value.
    fn attribute_target(&mut self, object: Node, name: String, at: Node) {
        let mut root = object;
        let mut through_class = false;
        loop {
            match root.kind() {
                "attribute" => {
                    if root
                        .child_by_field_name("attribute")
                        .is_some_and(|a| self.src(a) == "__class__")
                    {
                        through_class = true;
                    }
                    match root.child_by_field_name("object") {
                        Some(inner) => root = inner,
                        None => return,
                    }
                }
                "subscript" => match root.child_by_field_name("value") {
                    Some(inner) => root = inner,
                    None => return,
                },
                "call" => {
                    let is_type = root
                        .child_by_field_name("function")
                        .is_some_and(|f| self.src(f) == "type");
                    through_class |= is_type;
                    break;
                }
                _ => break,
            }
        }
        let owner = if through_class {
            "__class__".to_string()
        } else if root.kind() == "identifier"
            && !self.is_self(root)
            && (self.src(root) == "cls" || !self.is_local(self.src(root)))
        {
            self.src(root).to_string()
        } else {
            return;
        };
        let line = Self::line(at);
        if name == "*" {
            self.shape.setattr_targets.push((owner, line));
        } else {
            self.shape.attribute_targets.push((owner, name, line));
        }
    }

    /// Every identifier of `text`, into the names imports mention.
    fn mentioned(&mut self, text: &str) {
        let words = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && !matches!(*w, "import" | "from" | "as"));
        self.shape
            .imports
            .get_or_insert_with(BTreeSet::new)
            .extend(words.map(str::to_string));
    }

    /// The names an import binds, into the file's globals.
    fn imported(&mut self, node: Node) {
        let text = self.src(node).to_string();
        self.mentioned(&text);
        let module = node.child_by_field_name("module_name").map(|m| m.id());
        let names = named(node);
        for name in names {
            if Some(name.id()) == module {
                continue;
            }
            let bound = match name.kind() {
                "aliased_import" => name.child_by_field_name("alias"),
                "dotted_name" => name.named_child(0),
                _ => None,
            };
            if let Some(bound) = bound {
                let text = self.src(bound).to_string();
                self.shape.globals.insert(text);
            }
        }
    }

    fn holds(&self, value: Node) -> Holds {
        match value.kind() {
            "dictionary"
            | "list"
            | "set"
            | "dictionary_comprehension"
            | "list_comprehension"
            | "set_comprehension" => Holds::Container,
            "call" => {
                let Some(function) = value.child_by_field_name("function") else {
                    return Holds::Alias;
                };
                let name = self.last_name(function).unwrap_or_default();
                if CONTAINER_BUILDERS.contains(&name.as_str()) {
                    Holds::Container
                } else if CONSTANT_BUILDERS.contains(&name.as_str())
                    || self.shape.factories.contains(&name)
                {
                    Holds::Constant
                } else {
                    Holds::Object
                }
            }
            "identifier" | "attribute" | "subscript" | "await" => Holds::Alias,
            // A tuple, or a sum, holds a container only when it has one;
            // what its other parts name is immutable through it.
            "tuple" | "expression_list" | "binary_operator" => {
                if self.parts(value).any(|h| h == Holds::Container) {
                    Holds::Container
                } else {
                    Holds::Constant
                }
            }
            "parenthesized_expression" | "boolean_operator" | "conditional_expression" => self
                .parts(value)
                .max_by_key(|h| match h {
                    Holds::Constant => 0,
                    Holds::Alias => 1,
                    Holds::Object => 2,
                    Holds::Container => 3,
                })
                .unwrap_or(Holds::Constant),
            _ => Holds::Constant,
        }
    }

    fn parts(&self, value: Node) -> std::vec::IntoIter<Holds> {
        let parts = named(value);
        let holds: Vec<Holds> = parts.into_iter().map(|p| self.holds(p)).collect();
        holds.into_iter()
    }

    /// The names an assignment's left side binds.
    fn bound_names(&self, left: Node) -> Vec<String> {
        match left.kind() {
            "identifier" => vec![self.src(left).to_string()],
            "pattern_list" | "tuple_pattern" | "list_pattern" => {
                let parts = named(left);
                parts
                    .into_iter()
                    .flat_map(|p| self.bound_names(p))
                    .collect()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why each of `modules` keeps state, given the project's `files`.
    fn judged(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        let shapes: BTreeMap<String, Shape> = files
            .iter()
            .map(|(path, text)| (path.to_string(), shape(text)))
            .collect();
        keeping_state(&shapes, shapes.keys())
    }

    fn keeps(files: &[(&str, &str)]) -> Vec<String> {
        judged(files).into_keys().collect()
    }

    #[test]
    fn a_test_module_is_imported_elsewhere_when_any_other_file_names_it() {
        let base = "tests/test_base.py";
        let with = |other: &str| {
            let shapes: BTreeMap<String, Shape> = [(base, "X = 1\n"), ("tests/test_b.py", other)]
                .iter()
                .map(|(path, text)| (path.to_string(), shape(text)))
                .collect();
            imported_elsewhere(&shapes, base)
        };
        for other in [
            "from .test_base import X\n",
            "from tests.test_base import X\n",
            "from tests import test_base\n",
            "import test_base as b\n",
            "def test_x():\n    from test_base import X\n",
            "import importlib\nB = importlib.import_module('tests.test_base')\n",
            "B = __import__(\"test_base\")\n",
        ] {
            assert!(with(other), "{other}");
        }
        for other in [
            "from tests.test_based import X\n",
            "TEST_BASE = 'test_base'\n",
            "def test_base():\n    pass\n",
        ] {
            assert!(!with(other), "{other}");
        }
        // Its own imports do not count.
        let shapes: BTreeMap<String, Shape> =
            [(base.to_string(), shape("import test_base\n"))].into();
        assert!(!imported_elsewhere(&shapes, base));
        // A shape kept from before names were kept: read as importing anything.
        let old = Shape::default();
        let shapes: BTreeMap<String, Shape> =
            [(base.to_string(), shape("")), ("x.py".to_string(), old)].into();
        assert!(imported_elsewhere(&shapes, base));
    }

    #[test]
    fn a_cached_property_caches_per_instance_and_keeps_no_module_state() {
        for decorator in ["cached_property", "functools.cached_property"] {
            let text = format!("class R:\n    @{decorator}\n    def n(self):\n        return 1\n");
            assert_eq!(keeps(&[("m/a.py", &text)]), Vec::<String>::new(), "{text}");
        }
        let text = "class R:\n    @functools.lru_cache(None)\n    def n(self):\n        return 1\n";
        assert_eq!(keeps(&[("m/a.py", text)]), vec!["m/a.py".to_string()]);
    }

    #[test]
    fn a_closure_keeps_state_only_when_it_can_outlive_the_call_that_made_it() {
        for text in [
            // Helpers only called inside: they die with the call.
            "def outer():\n    lines = []\n\n    def add(x):\n        lines.append(x)\n\n    add(1)\n    return lines\n",
            "def outer():\n    n = 0\n\n    def bump():\n        nonlocal n\n        n += 1\n\n    bump()\n    return n\n",
            // Declared, never rebound.
            "def deco(hash=None):\n    def wrap(cls):\n        nonlocal hash\n        return cls if hash else None\n\n    return wrap\n",
        ] {
            assert_eq!(keeps(&[("m/a.py", text)]), Vec::<String>::new(), "{text}");
        }
        for text in [
            "def deco(x=None):\n    def wrap(cls):\n        nonlocal x\n        x = cls\n        return cls\n\n    return wrap\n",
            "def memo(f):\n    cache = {}\n\n    def inner(a):\n        cache[a] = f(a)\n        return cache[a]\n\n    return inner\n",
            "def outer():\n    seen = []\n\n    def add(x):\n        seen.append(x)\n\n    register(add)\n",
            "def outer():\n    seen = []\n\n    def add(x):\n        seen.append(x)\n\n    return lambda: add(1)\n",
            "def outer():\n    seen = []\n\n    def add(x):\n        seen.append(x)\n\n    add(1)\n    yield seen\n",
            "def outer():\n    seen = []\n\n    class C:\n        def add(self, x):\n            seen.append(x)\n\n    return C\n",
            "def outer():\n    seen = []\n\n    @functools.wraps(f)\n    def add(x):\n        seen.append(x)\n\n    add(1)\n",
        ] {
            assert_eq!(keeps(&[("m/a.py", text)]), vec!["m/a.py".to_string()], "{text}");
        }
    }

    #[test]
    fn a_cache_filled_by_item_or_by_decorator_keeps_state() {
        let lexer = "
from .utils import LRUCache
_cache = LRUCache(50)

def get_lexer(env):
    key = (env.a, env.b)
    lexer = _cache.get(key)
    if lexer is None:
        _cache[key] = lexer = Lexer(env)
    return lexer
";
        let why = judged(&[("m/lexer.py", lexer)]);
        assert_eq!(
            why["m/lexer.py"],
            "`_cache = LRUCache(50)` (line 3) keeps a cache"
        );
        let cached =
            "import functools\n\n@functools.lru_cache(maxsize=None)\ndef table():\n    return {}\n";
        assert!(judged(&[("m/t.py", cached)])["m/t.py"].contains("`table` (line 4) keeps a cache"));
        for text in [
            "COUNT = 0\n\ndef bump():\n    global COUNT\n    COUNT += 1\n",
            "def f(x, seen=[]):\n    seen.append(x)\n",
            "def f(x, seen=set()):\n    seen.add(x)\n",
            "class R:\n    _registry = {}\n\n    def add(self, k):\n        self._registry[k] = 1\n",
            "class C:\n    count = 0\n\n    @classmethod\n    def bump(cls):\n        cls.count += 1\n",
            "import sys\n\ndef f():\n    setattr(sys.modules[__name__], 'X', 1)\n",
            "HANDLERS = []\n\ndef install(h):\n    register(HANDLERS, h)\n",
            "_default = Manager()\n\ndef configure(**kw):\n    _default.configure(**kw)\n",
            "class _Cfg:\n    pass\n\nconfig = _Cfg()\n\ndef set_strict(v):\n    config.strict = v\n",
            "def next_id():\n    next_id.n += 1\n    return next_id.n\n",
            "from collections import defaultdict\n_handlers = defaultdict(list)\n\ndef on(ev, fn):\n    _handlers[ev].append(fn)\n",
            "_cache = {}\n\ndef put(ns, k, v):\n    _cache[ns][k] = v\n",
            "def memo(fn):\n    cache = {}\n    def wrapper(*a):\n        if a not in cache:\n            cache[a] = fn(*a)\n        return cache[a]\n    return wrapper\n",
            "import functools\n\ndef _table():\n    return {}\n\ntable = functools.lru_cache(None)(_table)\n",
        ] {
            assert_eq!(keeps(&[("m/s.py", text)]), ["m/s.py"], "{text}");
        }
    }

    #[test]
    fn constants_locals_and_instance_attributes_keep_no_state() {
        let text = r#"
import re
import typing as t

OPERATORS = {"add": "+", "sub": "-"}
NAMES = ("a", "b")
WORD = re.compile(r"\w+")
T = t.TypeVar("T")
LOG = getLogger(__name__)

def _make_binop(op):
    def visitor(self, node):
        return op
    return t.cast(T, visitor)

class Node:
    fields = ()
    attributes = ("lineno",)
    message = None
    visit_Add = _make_binop("+")

    def __init__(self, items):
        self.items = list(items)
        self.message = "x"
        for attr in self.attributes:
            setattr(self, attr, None)

def render(items, node):
    t = Template()
    t.environment = node
    items.pop()
    node.message = "changed"
    parts = []
    parts.append(OPERATORS.get("add"))
    return len(OPERATORS), sorted(OPERATORS), WORD.match("x")
"#;
        assert!(
            keeps(&[("m/nodes.py", text)]).is_empty(),
            "{:?}",
            judged(&[("m/nodes.py", text)])
        );
    }

    #[test]
    fn code_anywhere_in_the_project_can_change_a_module() {
        let config = "DEBUG = False\nPLUGINS = []\n\nclass Settings:\n    level = 1\n";
        let cases = [
            "from m import config\n\ndef test_x():\n    config.DEBUG = True\n",
            "from m.config import PLUGINS\n\ndef test_x():\n    PLUGINS.append(1)\n",
            "from m.config import Settings\n\ndef test_x():\n    Settings.level = 2\n",
            // Imported inside the function: still the module's.
            "def test_x():\n    from m import config\n    config.DEBUG = True\n",
            "def test_x():\n    from m.config import PLUGINS\n    PLUGINS.append(1)\n",
        ];
        for test in cases {
            assert_eq!(
                keeps(&[("m/config.py", config), ("tests/test_x.py", test)]),
                ["m/config.py"],
                "{test}"
            );
        }
        // The same names, local to a function, or read only, change nothing.
        let local = "def test_x():\n    PLUGINS = []\n    PLUGINS.append(1)\n    settings = make()\n    settings.level = 2\n";
        let read = "from m.config import PLUGINS\n\ndef test_x():\n    assert len(PLUGINS) == 0\n    assert list(PLUGINS) == []\n";
        for test in [local, read] {
            assert!(
                keeps(&[("m/config.py", config), ("tests/test_x.py", test)]).is_empty(),
                "{test}"
            );
        }
    }
}
