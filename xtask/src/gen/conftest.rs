//! Fixtures quoted from a project's `conftest.py`, found by name.
//!
//! This is a line-based reader, not a Python parser: a fixture is a
//! top-level `def` (or `async def`) whose decorators mention `fixture`; it
//! runs from its first decorator to the last indented line of its body.

/// A fixture as docs/testing.md quotes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fixture {
    pub name: String,
    /// The file it was found in, relative to the project root.
    pub file: String,
    /// Its source: decorators, signature and body.
    pub source: String,
    /// The first line of its docstring, if it has one.
    pub summary: Option<String>,
    /// `scope="…"` from the decorator (`function` when not given).
    pub scope: String,
    pub autouse: bool,
}

fn is_def_of(line: &str, name: &str) -> bool {
    let line = line.strip_prefix("async ").unwrap_or(line);
    line.strip_prefix("def ")
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.trim_start().starts_with('('))
}

fn is_indented(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// Finds the fixture `name` in `source` (the text of `file`).
pub fn find(source: &str, file: &str, name: &str) -> Option<Fixture> {
    let lines: Vec<&str> = source.lines().collect();
    let def = lines.iter().position(|l| is_def_of(l, name))?;

    // Decorators: the non-blank lines directly above, from the first `@`.
    let mut start = def;
    while start > 0 {
        let above = lines[start - 1];
        if above.trim().is_empty()
            || !(above.starts_with('@') || is_indented(above) || above.starts_with(')'))
        {
            break;
        }
        start -= 1;
    }
    while start < def && !lines[start].starts_with('@') {
        start += 1;
    }
    let decorators = lines[start..def].join("\n");
    if !decorators.contains("fixture") {
        return None;
    }

    // The body: every following line that is blank or indented (a signature
    // spread over several lines closes with `)` at the start of a line).
    let mut end = def + 1;
    while end < lines.len() {
        let line = lines[end];
        if line.trim().is_empty() || is_indented(line) || line.starts_with(')') {
            end += 1;
        } else {
            break;
        }
    }
    while end > def + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let block = &lines[start..end];

    let summary = block[def - start..]
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("\"\"\"") || l.starts_with("r\"\"\""))
        .map(|l| {
            let text = l.trim_start_matches('r').trim_start_matches("\"\"\"");
            text.split("\"\"\"")
                .next()
                .unwrap_or(text)
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty());
    let scope = decorators
        .split("scope=")
        .nth(1)
        .and_then(|rest| {
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            rest[1..].split(quote).next().map(str::to_string)
        })
        .unwrap_or_else(|| "function".into());
    let autouse = decorators.replace(' ', "").contains("autouse=True");
    Some(Fixture {
        name: name.to_string(),
        file: file.to_string(),
        source: block.join("\n"),
        summary,
        scope,
        autouse,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"import pytest


@pytest.fixture(scope="session")
def worker_namespace() -> str:
    """``gw0`` under xdist, ``master`` otherwise."""
    return "x"


@pytest.fixture(
    autouse=True,
)
def _restore(
    monkeypatch,
):
    """Restore state."""
    yield

    reset()


def not_a_fixture():
    pass


@pytest.fixture
async def later():
    yield 1
"#;

    #[test]
    fn finds_fixtures_with_their_decorators_and_bodies() {
        let f = find(SOURCE, "tests/conftest.py", "worker_namespace").unwrap();
        assert_eq!(
            f.source,
            "@pytest.fixture(scope=\"session\")\ndef worker_namespace() -> str:\n    \"\"\"``gw0`` under xdist, ``master`` otherwise.\"\"\"\n    return \"x\""
        );
        assert_eq!(f.scope, "session");
        assert!(!f.autouse);
        assert_eq!(
            f.summary.as_deref(),
            Some("``gw0`` under xdist, ``master`` otherwise.")
        );

        let f = find(SOURCE, "tests/conftest.py", "_restore").unwrap();
        assert!(f
            .source
            .starts_with("@pytest.fixture(\n    autouse=True,\n)\ndef _restore("));
        assert!(
            f.source.ends_with("    yield\n\n    reset()"),
            "{}",
            f.source
        );
        assert!(f.autouse);
        assert_eq!(f.scope, "function");

        assert!(find(SOURCE, "c.py", "later")
            .unwrap()
            .source
            .ends_with("yield 1"));
        assert_eq!(find(SOURCE, "c.py", "not_a_fixture"), None);
        assert_eq!(find(SOURCE, "c.py", "worker"), None);
    }
}
