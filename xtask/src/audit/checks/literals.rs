//! Literals: shared temporary paths and loopback ports in strings, and fixed database or graph names in keyword arguments.

use tree_sitter::Node;

use crate::audit::rules::Rule;
use crate::audit::scan::*;

impl<'s> Scan<'s> {
    pub(in crate::audit) fn positional(&self, args: Node<'s>, index: usize) -> Option<Node<'s>> {
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

    pub(in crate::audit) fn keyword_value(&self, call: Node<'s>, key: &str) -> Option<Node<'s>> {
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

    pub(in crate::audit) fn keyword_text(&self, call: Node<'s>, key: &str) -> Option<&'s str> {
        self.keyword_value(call, key).map(|v| self.text(v))
    }

    // ---- literals ---------------------------------------------------------

    /// The value of a string literal without interpolation (`None` for f-strings
    /// with `{…}` parts and for anything that is not a string).
    pub(in crate::audit) fn plain_string(&self, node: Node) -> Option<String> {
        let (content, interpolated) = self.string_parts(node)?;
        (!interpolated).then_some(content)
    }

    /// A string literal's text before its first interpolation, and whether it has one.
    pub(in crate::audit) fn string_parts(&self, node: Node) -> Option<(String, bool)> {
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
    pub(in crate::audit) fn is_inert_string(at: Where) -> bool {
        let g = grammar();
        let is = |table: &[bool], id: u16| table.get(usize::from(id)).copied().unwrap_or(false);
        let parent = if is(&g.concatenated, at.parent) {
            at.grandparent
        } else {
            at.parent
        };
        at.assert || is(&g.inert_parent, parent)
    }

    pub(in crate::audit) fn string(&mut self, node: Node<'s>, at: Where<'s>) {
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

    pub(in crate::audit) fn int_literal(&self, node: Node) -> Option<i64> {
        (node.kind() == "integer")
            .then(|| self.text(node).replace('_', "").parse().ok())
            .flatten()
    }

    /// `("localhost", 8080)`: a host and a literal port.
    pub(in crate::audit) fn port_tuple(&mut self, node: Node<'s>) {
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

    /// The graph name of `select_graph("name")`: a literal is shared by every worker.
    pub(in crate::audit) fn graph_name(&mut self, value: Node<'s>) {
        if let Some(name) = self.plain_string(value).filter(|n| !n.is_empty()) {
            self.report(
                Rule::FixedDatabaseName,
                value,
                format!("graph `\"{name}\"` is the same graph for every worker, so workers share its data"),
                None,
            );
        }
    }

    /// `port=8080`, `database="test"` in a call to `callee`.
    pub(in crate::audit) fn keyword(&mut self, node: Node<'s>, callee: Option<&str>) {
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
            "database"
                | "database_"
                | "db"
                | "dbname"
                | "db_name"
                | "database_name"
                | "namespace"
                | "keyspace"
                | "graph"
                | "graph_name"
                | "graph_id"
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
