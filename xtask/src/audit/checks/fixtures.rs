//! Fixtures: which are broad-scoped, which create shared resources (database connections, drivers, Dagster instances, open files), and what their bodies change.

use std::collections::HashMap;

use tree_sitter::Node;

use crate::audit::rules::Rule;
use crate::audit::scan::*;

impl<'s> Scan<'s> {
    pub(in crate::audit) fn func_name(&self, func: Node) -> &'s str {
        func.child_by_field_id(grammar().name)
            .map_or("<function>", |n| self.text(n))
    }

    // ---- fixtures ---------------------------------------------------------

    /// The fixture declaration on a function, if it is decorated as one.
    pub(in crate::audit) fn fixture(&self, func: Node) -> Option<Fixture> {
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

    pub(in crate::audit) fn function(&mut self, func: Node<'s>) {
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
    pub(in crate::audit) fn fixture_body(
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
    pub(in crate::audit) fn value_resource(
        &self,
        value: Node,
        bound: &HashMap<&'s str, Resource>,
    ) -> Option<Resource> {
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
    pub(in crate::audit) fn call_resource(&self, call: Node) -> Option<Resource> {
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
}
