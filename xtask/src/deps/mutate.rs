//! Small changes to one function of the project's source, for proving the
//! selection (`select --prove`): flip a comparison or a boolean operator,
//! change a number or a boolean constant, or drop a statement.

use tree_sitter::{Node, Parser};

/// One change to one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The function's key, as the record keys it (`Class.method`).
    pub function: String,
    /// 1-based line of the change.
    pub line: usize,
    pub range: std::ops::Range<usize>,
    pub from: String,
    pub to: String,
}

impl Mutation {
    /// The source with the change applied.
    pub fn apply(&self, text: &str) -> String {
        format!(
            "{}{}{}",
            &text[..self.range.start],
            self.to,
            &text[self.range.end..]
        )
    }

    pub fn describe(&self) -> String {
        let short = |s: &str| {
            let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
            if one.chars().count() > 40 {
                format!("{}…", one.chars().take(40).collect::<String>())
            } else {
                one
            }
        };
        format!(
            "line {}: `{}` → `{}`",
            self.line,
            short(&self.from),
            short(&self.to)
        )
    }
}

const FLIPS: [(&str, &str); 10] = [
    ("<", ">="),
    (">=", "<"),
    (">", "<="),
    ("<=", ">"),
    ("==", "!="),
    ("!=", "=="),
    ("in", "not in"),
    ("not in", "in"),
    ("is", "is not"),
    ("is not", "is"),
];

/// Every mutation the functions of `text` offer, by function.
pub fn sites(text: &str) -> Vec<Mutation> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the linked grammar matches tree-sitter's ABI");
    let Some(tree) = parser.parse(text, None) else {
        return Vec::new();
    };
    if tree.root_node().has_error() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    walk(tree.root_node(), text, &mut names, None, &mut out);
    out
}

fn walk(
    node: Node,
    text: &str,
    names: &mut Vec<String>,
    function: Option<&str>,
    out: &mut Vec<Mutation>,
) {
    let kind = node.kind();
    if kind == "class_definition" || kind == "function_definition" {
        let name = node
            .child_by_field_name("name")
            .map(|n| text[n.byte_range()].to_string())
            .unwrap_or_default();
        names.push(name);
        let key = names.join(".");
        let inside = if kind == "function_definition" {
            Some(key.as_str())
        } else {
            None
        };
        // Only the body: a default value or a decorator is evaluated at import.
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if node.child_by_field_name("body").map(|b| b.id()) == Some(child.id()) {
                walk(child, text, names, inside.or(function), out);
            } else if kind == "class_definition" {
                walk(child, text, names, function, out);
            }
        }
        names.pop();
        return;
    }
    if let Some(function) = function {
        site(node, text, function, out);
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        walk(child, text, names, function, out);
    }
}

fn site(node: Node, text: &str, function: &str, out: &mut Vec<Mutation>) {
    let mut push = |range: std::ops::Range<usize>, to: &str| {
        out.push(Mutation {
            function: function.to_string(),
            line: node.start_position().row + 1,
            from: text[range.clone()].to_string(),
            range,
            to: to.to_string(),
        });
    };
    match node.kind() {
        "comparison_operator" => {
            // The operator tokens between the operands.
            let mut cursor = node.walk();
            let ops: Vec<Node> = node
                .children(&mut cursor)
                .filter(|c| !c.is_named())
                .collect();
            if let (Some(first), Some(last)) = (ops.first(), ops.last()) {
                if ops.len() <= 2 {
                    let range = first.start_byte()..last.end_byte();
                    let op = text[range.clone()]
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if let Some((_, to)) = FLIPS.iter().find(|(from, _)| *from == op) {
                        push(range, to);
                    }
                }
            }
        }
        "boolean_operator" => {
            if let Some(op) = node.child_by_field_name("operator") {
                let to = if &text[op.byte_range()] == "and" {
                    "or"
                } else {
                    "and"
                };
                push(op.byte_range(), to);
            }
        }
        "integer" => {
            if let Ok(n) = text[node.byte_range()].parse::<i64>() {
                push(node.byte_range(), &(n + 1).to_string());
            }
        }
        "true" => push(node.byte_range(), "False"),
        "false" => push(node.byte_range(), "True"),
        "expression_statement" | "return_statement" | "raise_statement" | "assert_statement" => {
            let docstring = node.kind() == "expression_statement"
                && node.named_child(0).is_some_and(|c| c.kind() == "string");
            if !docstring {
                push(node.byte_range(), "pass");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
class Award:
    def big(self, limit=10):
        """Docstring stays."""
        if self.amount > limit and not self.void:
            return True
        self.seen = 3
        return x in y


def f():
    return 1
"#;

    #[test]
    fn every_operator_has_its_sites_inside_function_bodies_only() {
        let found: Vec<(String, String, String)> = sites(SOURCE)
            .into_iter()
            .map(|m| (m.function, m.from, m.to))
            .collect();
        let has = |f: &str, from: &str, to: &str| {
            found.contains(&(f.to_string(), from.to_string(), to.to_string()))
        };
        assert!(has("Award.big", ">", "<="), "{found:?}");
        assert!(has("Award.big", "and", "or"), "{found:?}");
        assert!(has("Award.big", "True", "False"), "{found:?}");
        assert!(has("Award.big", "3", "4"), "{found:?}");
        assert!(has("Award.big", "in", "not in"), "{found:?}");
        assert!(has("Award.big", "self.seen = 3", "pass"), "{found:?}");
        assert!(has("f", "1", "2"), "{found:?}");
        // Not the default value (evaluated at import), not the docstring.
        assert!(!has("Award.big", "10", "11"), "{found:?}");
        assert!(!found.iter().any(|(_, from, _)| from.contains("Docstring")));
    }

    #[test]
    fn a_mutation_changes_its_function_only() {
        let before = super::super::source::facts(SOURCE);
        for m in sites(SOURCE) {
            let after = super::super::source::facts(&m.apply(SOURCE));
            assert_eq!(before.module, after.module, "{m:?}");
            assert_eq!(
                before.changed_functions(&after),
                std::slice::from_ref(&m.function),
                "{m:?}"
            );
        }
    }
}
