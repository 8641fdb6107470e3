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
}

impl Facts {
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
    }
}

struct Walk<'a> {
    text: &'a str,
    names: Vec<String>,
    /// Per key, the normalized text of its definitions, in order.
    bodies: BTreeMap<String, String>,
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
                let entry = self.bodies.entry(key).or_default();
                entry.push_str(&body);
                entry.push('\n');
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
        let mut cursor = decorated.walk();
        let found = decorated
            .children(&mut cursor)
            .filter(|c| c.kind() == "decorator")
            .any(|d| {
                let text = &self.text[d.byte_range()];
                ["cache", "memoize", "memoise"]
                    .iter()
                    .any(|word| text.to_ascii_lowercase().contains(word))
            });
        found
    }
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
}
