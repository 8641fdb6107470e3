//! What a Python source file is made of, for change detection: a
//! fingerprint per function (keyed as the plugin keys what it executes,
//! `Class.method`, `outer.inner`) and one for the module-level code around
//! them. Comments and blank lines do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

/// The fingerprints of one file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// The code outside every function: imports, constants, class bodies'
    /// own statements, decorators' module-level effects.
    pub module: String,
    /// Per function key, the fingerprint of its definition (decorators,
    /// signature and body; nested functions included).
    pub functions: BTreeMap<String, String>,
    /// Functions behind a caching decorator (`cache`, `lru_cache`,
    /// `cached_property`, …): a call served from the cache runs none of their
    /// code, so the tests that got a cached result are not on record.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub memoized: BTreeSet<String>,
    /// Per function key, its frame and its blocks, for a change inside one
    /// block of a function to select only the tests that entered it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blocks: BTreeMap<String, Blocks>,
}

/// A function cut into the parts the plugin marks: its body (line 0), and
/// each block that runs on a condition (the body of an `if`, `elif`,
/// `else`, loop, `except` or `case`), by the line its first statement
/// starts on, as the plugin keys them (`path::Qual.name:LINE`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Blocks {
    /// Decorators, signature, the names the body binds and what makes it a
    /// generator or a method using `super()`: a change here changes how
    /// every block runs.
    pub frame: String,
    /// (line, fingerprint of the block's own statements: without the
    /// blocks inside it and the bodies of functions it defines).
    pub parts: Vec<(u32, String)>,
}

/// What changed in a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// All of it may run differently: every test that entered any part.
    Whole,
    /// Only these parts (lines of the record; 0: the body itself).
    Blocks(Vec<u32>),
}

impl Facts {
    /// What changed in each function whose fingerprint differs between
    /// `self` (before) and `now`: a block's own statements, or the whole
    /// (its frame, its blocks' shape, or added or removed). A function
    /// that only differs by a function defined inside it is left out: that
    /// one is its own key.
    pub fn changes(&self, now: &Facts) -> Vec<(String, Change)> {
        let mut out = Vec::new();
        for key in self.changed_functions(now) {
            let (Some(before), Some(after)) = (self.blocks.get(&key), now.blocks.get(&key)) else {
                out.push((key, Change::Whole));
                continue;
            };
            if before.frame != after.frame || before.parts.len() != after.parts.len() {
                out.push((key, Change::Whole));
                continue;
            }
            let lines: Vec<u32> = before
                .parts
                .iter()
                .zip(&after.parts)
                .filter(|(b, a)| b.1 != a.1)
                .map(|(b, _)| b.0)
                .collect();
            if !lines.is_empty() {
                out.push((key, Change::Blocks(lines)));
            }
        }
        out
    }

    /// The keys whose fingerprint differs between `self` (before) and `now`,
    /// including functions added or removed.
    pub fn changed_functions(&self, now: &Facts) -> Vec<String> {
        let keys: BTreeSet<&String> = self.functions.keys().chain(now.functions.keys()).collect();
        keys.into_iter()
            .filter(|k| self.functions.get(*k) != now.functions.get(*k))
            .cloned()
            .collect()
    }
}

/// The fingerprints of `text`.
pub fn facts(text: &str) -> Facts {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the linked grammar matches tree-sitter's ABI");
    let Some(tree) = parser.parse(text, None) else {
        return Facts {
            module: crate::hash::of(text, 8),
            ..Facts::default()
        };
    };
    let mut walk = Walk {
        text,
        names: Vec::new(),
        bodies: BTreeMap::new(),
        blocks: BTreeMap::new(),
        memoized: BTreeSet::new(),
        outermost: Vec::new(),
        comments: Vec::new(),
    };
    walk.visit(tree.root_node(), false);
    let mut cut: Vec<Range<usize>> = walk.outermost.clone();
    cut.extend(walk.comments.iter().cloned());
    let module = if tree.root_node().has_error() {
        // Code tree-sitter cannot read is compared whole.
        text.to_string()
    } else {
        normalized(text, 0..text.len(), &cut)
    };
    Facts {
        module: crate::hash::of(module, 8),
        functions: walk
            .bodies
            .into_iter()
            .map(|(k, v)| (k, crate::hash::of(v, 8)))
            .collect(),
        memoized: walk.memoized,
        blocks: walk.blocks,
    }
}

struct Walk<'a> {
    text: &'a str,
    names: Vec<String>,
    /// Per key, the normalized text of its definitions, in order.
    bodies: BTreeMap<String, String>,
    blocks: BTreeMap<String, Blocks>,
    memoized: BTreeSet<String>,
    /// The spans of functions not inside another function.
    outermost: Vec<Range<usize>>,
    comments: Vec<Range<usize>>,
}

impl Walk<'_> {
    fn visit(&mut self, node: Node, in_function: bool) {
        match node.kind() {
            "comment" => {
                self.comments.push(node.byte_range());
                return;
            }
            "class_definition" => {
                let name = self.name(node);
                self.names.push(name);
                self.children(node, in_function);
                self.names.pop();
                return;
            }
            "function_definition" => {
                let name = self.name(node);
                self.names.push(name);
                let key = self.names.join(".");
                let span = match node.parent() {
                    Some(p) if p.kind() == "decorated_definition" => p,
                    _ => node,
                };
                if span.id() != node.id() && self.is_memoized(span) {
                    self.memoized.insert(key.clone());
                }
                let comments = comments_in(span);
                let body = normalized(self.text, span.byte_range(), &comments);
                let twice = self.bodies.contains_key(&key);
                let entry = self.bodies.entry(key.clone()).or_default();
                entry.push_str(&body);
                entry.push('\n');
                match blocks_of(self.text, node, span) {
                    // A function defined twice is compared whole.
                    Some(blocks) if !twice => {
                        self.blocks.insert(key, blocks);
                    }
                    _ => {
                        self.blocks.remove(&key);
                    }
                }
                if !in_function {
                    self.outermost.push(span.byte_range());
                }
                self.children(node, true);
                self.names.pop();
                return;
            }
            _ => {}
        }
        self.children(node, in_function);
    }

    fn children(&mut self, node: Node, in_function: bool) {
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            self.visit(child, in_function);
        }
    }

    fn name(&self, node: Node) -> String {
        node.child_by_field_name("name")
            .map(|n| self.text[n.byte_range()].to_string())
            .unwrap_or_default()
    }

    fn is_memoized(&self, decorated: Node) -> bool {
        has_caching_decorator(self.text, decorated)
    }
}

/// Whether a `decorated_definition` has a caching decorator (`cache`,
/// `lru_cache`, `cached_property`, `memoize`, …).
pub fn has_caching_decorator(text: &str, decorated: Node) -> bool {
    !caching_decorators(text, decorated).is_empty()
}

/// The caching decorators of a `decorated_definition`, lowercased and
/// without their `@` (`functools.lru_cache(maxsize=none)`).
pub fn caching_decorators(text: &str, decorated: Node) -> Vec<String> {
    let mut cursor = decorated.walk();
    let found = decorated
        .children(&mut cursor)
        .filter(|c| c.kind() == "decorator")
        .map(|d| {
            let text = text[d.byte_range()].to_ascii_lowercase();
            text.trim_start_matches('@').trim().to_string()
        })
        .filter(|text| {
            ["cache", "memoize", "memoise"]
                .iter()
                .any(|word| text.contains(word))
        })
        .collect();
    found
}

/// Parents of the blocks that run on a condition.
const CONDITIONAL: [&str; 8] = [
    "if_statement",
    "elif_clause",
    "else_clause",
    "for_statement",
    "while_statement",
    "except_clause",
    "except_group_clause",
    "case_clause",
];

/// The frame and blocks of `function` (`span`: it with its decorators).
fn blocks_of(text: &str, function: Node, span: Node) -> Option<Blocks> {
    let body = function.child_by_field_name("body")?;
    // The blocks of this function (not of functions or classes inside it),
    // and the bodies of functions defined inside it.
    let mut conditional: Vec<Node> = Vec::new();
    let mut inner_bodies: Vec<Range<usize>> = Vec::new();
    // (node, inside a class body defined in this function: its blocks are
    // the enclosing block's, as the plugin marks none there).
    let mut stack = vec![(body, false)];
    let mut binds: BTreeSet<String> = BTreeSet::new();
    let mut flags: BTreeSet<&str> = BTreeSet::new();
    while let Some((node, in_class)) = stack.pop() {
        let kind = node.kind();
        if kind == "block"
            && !in_class
            && node.id() != body.id()
            && node
                .parent()
                .is_some_and(|p| CONDITIONAL.contains(&p.kind()))
        {
            conditional.push(node);
        }
        match kind {
            "function_definition" => {
                if let Some(name) = node.child_by_field_name("name") {
                    binds.insert(text[name.byte_range()].to_string());
                }
                if let Some(inner) = node.child_by_field_name("body") {
                    inner_bodies.push(inner.byte_range());
                }
                // Its header (decorators, defaults) is this function's.
                let mut cursor = node.walk();
                stack.extend(
                    node.children(&mut cursor)
                        .filter(|c| c.kind() != "block")
                        .map(|c| (c, in_class)),
                );
                continue;
            }
            "class_definition" => {
                // Its body runs with the block that defines it: its text
                // stays there (only its methods' bodies are their own).
                if let Some(name) = node.child_by_field_name("name") {
                    binds.insert(text[name.byte_range()].to_string());
                }
                let mut cursor = node.walk();
                stack.extend(node.children(&mut cursor).map(|c| (c, true)));
                continue;
            }
            "lambda" => {
                flags.insert("lambda");
            }
            "yield" | "await" => {
                flags.insert(if kind == "yield" { "yield" } else { "await" });
            }
            "global_statement" | "nonlocal_statement" => {
                flags.insert("declares");
                binds.insert(text[node.byte_range()].to_string());
            }
            "identifier" => {
                let name = &text[node.byte_range()];
                if matches!(
                    name,
                    "super" | "__class__" | "locals" | "vars" | "exec" | "eval"
                ) {
                    flags.insert("frame");
                }
                if is_bound(node) {
                    binds.insert(name.to_string());
                }
            }
            _ => {}
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor).map(|c| (c, in_class)));
    }
    conditional.sort_by_key(|b| b.start_byte());
    let comments = comments_in(span);
    let own = |block: Node| {
        let range = block.byte_range();
        let mut cut: Vec<Range<usize>> = conditional
            .iter()
            .map(|b| b.byte_range())
            .filter(|r| *r != range && r.start >= range.start && r.end <= range.end)
            .collect();
        cut.extend(
            inner_bodies
                .iter()
                .filter(|r| r.start >= range.start && r.end <= range.end)
                .cloned(),
        );
        cut.extend(comments.iter().cloned());
        crate::hash::of(normalized(text, range, &cut), 8)
    };
    let mut parts = vec![(0, own(body))];
    for block in &conditional {
        let mut cursor = block.walk();
        let first = block
            .named_children(&mut cursor)
            .find(|c| c.kind() != "comment")?;
        parts.push((first.start_position().row as u32 + 1, own(*block)));
    }
    let header = normalized(text, span.start_byte()..body.start_byte(), &comments);
    let frame = format!(
        "{header}\n{}\n{}\n{}",
        parts.len(),
        binds.into_iter().collect::<Vec<_>>().join(","),
        flags.into_iter().collect::<Vec<_>>().join(",")
    );
    Some(Blocks {
        frame: crate::hash::of(frame, 8),
        parts,
    })
}

/// Whether an identifier is bound where it stands: an assignment's or a
/// loop's target, a walrus, an `as` name, an import's name.
fn is_bound(identifier: Node) -> bool {
    let mut node = identifier;
    while let Some(parent) = node.parent() {
        match parent.kind() {
            "pattern_list" | "tuple_pattern" | "list_pattern" | "list_splat_pattern"
            | "as_pattern_target" | "aliased_import" | "dotted_name" => node = parent,
            "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => {
                return parent
                    .child_by_field_name("left")
                    .is_some_and(|l| l.id() == node.id());
            }
            "named_expression" => {
                return parent
                    .child_by_field_name("name")
                    .is_some_and(|l| l.id() == node.id());
            }
            "import_statement" | "import_from_statement" | "as_pattern" => return true,
            "delete_statement" => return true,
            _ => return false,
        }
    }
    false
}

fn comments_in(node: Node) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if n.kind() == "comment" {
            out.push(n.byte_range());
            continue;
        }
        let mut cursor = n.walk();
        stack.extend(n.children(&mut cursor));
    }
    out
}

/// `text[range]` without the `cut` ranges inside it, trailing spaces and
/// blank lines.
fn normalized(text: &str, range: Range<usize>, cut: &[Range<usize>]) -> String {
    let mut cut: Vec<&Range<usize>> = cut
        .iter()
        .filter(|c| c.start >= range.start && c.end <= range.end)
        .collect();
    cut.sort_by_key(|c| c.start);
    let mut kept = String::with_capacity(range.len());
    let mut at = range.start;
    for c in cut {
        if c.start >= at {
            kept.push_str(&text[at..c.start]);
            at = c.end;
        } else if c.end > at {
            at = c.end;
        }
    }
    kept.push_str(&text[at..range.end]);
    kept.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"
import functools

LIMIT = 3

class Award:
    kind = "grant"

    def amount(self):
        # cents
        return self.cents / 100

    @property
    def big(self):
        def inner(x):
            return x > LIMIT
        return inner(self.amount())


@functools.lru_cache(maxsize=None)
def table():
    return {"a": 1}


def normalize(name):
    """Upper-case."""
    return name.upper()
"#;

    #[test]
    fn functions_are_keyed_as_the_plugin_keys_them() {
        let facts = facts(BEFORE);
        let keys: Vec<&str> = facts.functions.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Award.amount",
                "Award.big",
                "Award.big.inner",
                "normalize",
                "table"
            ]
        );
        assert_eq!(facts.memoized, BTreeSet::from(["table".to_string()]));
    }

    #[test]
    fn a_change_inside_a_function_changes_it_and_its_encloser_only() {
        let before = facts(BEFORE);
        let after = facts(&BEFORE.replace("x > LIMIT", "x >= LIMIT"));
        assert_eq!(before.module, after.module);
        assert_eq!(
            before.changed_functions(&after),
            ["Award.big", "Award.big.inner"]
        );
    }

    #[test]
    fn comments_and_blank_lines_change_nothing() {
        let before = facts(BEFORE);
        let after = facts(
            &BEFORE
                .replace("# cents", "# in cents, always")
                .replace("LIMIT = 3\n", "LIMIT = 3  # the limit\n\n\n"),
        );
        assert_eq!(before, after);
    }

    #[test]
    fn module_level_code_is_its_own_fingerprint() {
        let before = facts(BEFORE);
        for changed in [
            BEFORE.replace("LIMIT = 3", "LIMIT = 4"),
            BEFORE.replace("kind = \"grant\"", "kind = \"loan\""),
            BEFORE.replace("import functools", "import functools, os"),
        ] {
            let after = facts(&changed);
            assert_ne!(before.module, after.module, "{changed}");
            assert!(before.changed_functions(&after).is_empty());
        }
        // Adding a function leaves the module-level code as it was.
        let added = facts(&format!("{BEFORE}\n\ndef extra():\n    return 1\n"));
        assert_eq!(before.module, added.module);
        assert_eq!(before.changed_functions(&added), ["extra"]);
    }

    const BLOCKS: &str = r#"
def route(kind, items, log=None):
    """Where items go."""
    total = 0
    if kind == "a":
        total += 1
    elif kind == "b":
        # b counts twice
        total += 2
    else:
        total += 3
    for item in items:
        if item is None:
            continue
        total += item
    else:
        total -= 1
    while total > 100:
        total //= 2
    try:
        log.write(str(total))
    except AttributeError:
        pass
    else:
        total += 0
    finally:
        total += 0
    with open(__file__) as f:
        f.read()
    match kind:
        case "a":
            total *= 1
        case _:
            total *= 2

    def inner(x):
        if x:
            return x + 1
        return x

    return inner(total)
"#;

    fn changes(before: &str, after: &str) -> Vec<(String, Change)> {
        facts(before).changes(&facts(after))
    }

    #[test]
    fn a_change_inside_a_block_changes_that_block_only() {
        let lines: Vec<u32> = facts(BLOCKS).blocks["route"]
            .parts
            .iter()
            .map(|(line, _)| *line)
            .collect();
        // The body, then each block that runs on a condition, by the line
        // of its first statement: if, elif, else, for, if, for-else, while,
        // except, try-else, case, case. Not the try, finally or with bodies.
        assert_eq!(lines, [0, 6, 9, 11, 13, 14, 17, 19, 23, 25, 32, 34]);
        for (from, to, line) in [
            ("total += 2", "total += 4", 9),
            ("total += 3", "total += 5", 11),
            ("continue", "break", 14),
            ("total -= 1", "total -= 2", 17),
            ("total //= 2", "total //= 3", 19),
            ("total *= 2", "total *= 3", 34),
            ("f.read()", "f.readline()", 0),
            ("total += 0\n    finally", "total += 1\n    finally", 25),
            ("if item is None", "if item is not None", 13),
            ("elif kind == \"b\"", "elif kind == \"c\"", 0),
        ] {
            assert!(BLOCKS.contains(from), "{from}");
            assert_eq!(
                changes(BLOCKS, &BLOCKS.replacen(from, to, 1)),
                [("route".to_string(), Change::Blocks(vec![line]))],
                "{from} → {to}"
            );
        }
        // Comments change nothing.
        assert!(changes(BLOCKS, &BLOCKS.replace("# b counts twice", "# twice")).is_empty());
    }

    #[test]
    fn a_change_to_the_frame_or_the_shape_changes_the_whole_function() {
        for (from, to) in [
            // Signature and defaults.
            ("log=None", "log=0"),
            // A new block.
            (
                "total += 1\n",
                "total += 1\n        if total:\n            total = 1\n",
            ),
            // A block dropped.
            ("    while total > 100:\n        total //= 2\n", ""),
            // A name bound that was not: every block's names may change scope.
            ("total += 2", "other = 2"),
            // A generator now.
            ("total *= 1", "yield total"),
        ] {
            assert!(BLOCKS.contains(from), "{from}");
            assert_eq!(
                changes(BLOCKS, &BLOCKS.replacen(from, to, 1)),
                [("route".to_string(), Change::Whole)],
                "{from} → {to}"
            );
        }
        // A function defined inside is its own key: its change is its own.
        assert_eq!(
            changes(BLOCKS, &BLOCKS.replace("return x + 1", "return x + 2")),
            [("route.inner".to_string(), Change::Blocks(vec![38]))]
        );
    }

    #[test]
    fn a_class_defined_in_a_function_is_that_functions_code() {
        let code = "def make_model():\n    class Model:\n        limit = 10\n\n        def ok(self, x):\n            if x:\n                return x < self.limit\n            return False\n\n    return Model\n";
        let facts_now = facts(code);
        // The plugin marks no block in a class body; the method's are its own.
        assert_eq!(facts_now.blocks["make_model"].parts.len(), 1);
        assert_eq!(
            changes(code, &code.replace("limit = 10", "limit = 20")),
            [("make_model".to_string(), Change::Blocks(vec![0]))]
        );
        assert_eq!(
            changes(code, &code.replace("x < self.limit", "x <= self.limit")),
            [("make_model.Model.ok".to_string(), Change::Blocks(vec![7]))]
        );
    }

    /// The plugin marks the same blocks, at the same lines, as the
    /// fingerprints cut: the keys a test records are the keys a change
    /// selects by.
    #[test]
    fn the_plugin_marks_the_blocks_the_fingerprints_know() {
        let plugin = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/python/plugin/xtask_deps.py"
        );
        let source = format!("{BLOCKS}\n\ndef make():\n    class Inner:\n        if True:\n            x = 1\n\n        def m(self):\n            if self:\n                return 1\n    return Inner\n");
        let script = r#"
import ast, importlib.util, sys, types
sys.modules["pytest"] = types.SimpleNamespace(hookimpl=lambda **k: (lambda f: f))
spec = importlib.util.spec_from_file_location("xtask_deps", sys.argv[1])
deps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deps)
tree = deps._Marker("m.py").visit(ast.parse(sys.stdin.read()))
for node in ast.walk(tree):
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__xtask_hit__":
        print(node.args[0].value)
"#;
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, plugin])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(source.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let mut marked: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        marked.sort();
        let facts = facts(&source);
        let mut known: Vec<String> = facts
            .blocks
            .iter()
            .flat_map(|(key, blocks)| {
                blocks.parts.iter().map(move |(line, _)| match line {
                    0 => format!("m.py::{key}"),
                    line => format!("m.py::{key}:{line}"),
                })
            })
            .collect();
        known.sort();
        assert_eq!(marked, known);
    }
}
