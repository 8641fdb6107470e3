//! Module-level state: mutable containers bound at module level, and the tests that change them or delete them.

use std::collections::HashSet;

use tree_sitter::Node;

use crate::audit::scan::*;

impl<'s> Scan<'s> {
    /// Module-level names bound to mutable containers.
    pub(in crate::audit) fn collect_module_state(&mut self, root: Node<'s>) {
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

    pub(in crate::audit) fn is_mutable_container(&self, value: Node) -> bool {
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
    pub(in crate::audit) fn locals_of(&mut self, func: Node<'s>) -> &HashSet<String> {
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

    pub(in crate::audit) fn bindings(
        &self,
        node: Node,
        names: &mut HashSet<String>,
        globals: &mut HashSet<String>,
    ) {
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

    pub(in crate::audit) fn targets(&self, node: Node, names: &mut HashSet<String>) {
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
    pub(in crate::audit) fn module_mutation(
        &mut self,
        name_node: Node<'s>,
        node: Node<'s>,
        at: Where<'s>,
    ) {
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

    pub(in crate::audit) fn assignment(&mut self, node: Node<'s>, at: Where<'s>) {
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
                        self.report_global_change(rule, node, what);
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

    pub(in crate::audit) fn delete(&mut self, node: Node<'s>, at: Where<'s>) {
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
                self.report_global_change(rule, node, what);
            }
            self.module_mutation(value, node, at);
        }
    }

    // ---- calls ------------------------------------------------------------

    pub(in crate::audit) fn is_instance_get(&self, call: Node) -> bool {
        call.child_by_field_id(grammar().function)
            .and_then(|f| self.qualified(f))
            .is_some_and(|q| dotted_is(&q, "DagsterInstance.get"))
    }
}
