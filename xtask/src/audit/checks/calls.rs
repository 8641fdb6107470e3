//! Calls: the process-global changes, temporary files left behind, and writes to fixed paths relative to the working directory.

use std::collections::HashSet;

use tree_sitter::Node;

use crate::audit::rules::Rule;
use crate::audit::scan::*;

impl<'s> Scan<'s> {
    pub(in crate::audit) fn call(&mut self, node: Node<'s>, at: Where<'s>) {
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
            // FalkorDB's `db.select_graph("name")`: a graph is a namespace.
            let method = (func.kind() == "attribute")
                .then(|| func.child_by_field_id(grammar().attribute))
                .flatten()
                .map(|a| self.text(a));
            if method == Some("select_graph") {
                if let Some(first) = args.named_child(0) {
                    self.graph_name(first);
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
                        self.report_global_change(rule, node, what);
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
            self.report_global_change(Rule::OsEnvironMutation, node, "the process environment");
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
    pub(in crate::audit) fn tempfile(&mut self, node: Node<'s>, q: &str, at: Where<'s>) {
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
    pub(in crate::audit) fn cleans_up(&self, scope: Node, name: &str) -> bool {
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
    pub(in crate::audit) fn cwd_file(
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
}
