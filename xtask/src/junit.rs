//! JUnit XML: written by the xtask from the run's events (pytest's own
//! junitxml plugin is not used, so every engine and every merge writes the
//! same file), and read back by the timings report.

use std::path::Path;

use anyhow::Context;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::report::{Outcome, RunState};

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub classname: String,
    pub name: String,
    pub outcome: Outcome,
    pub duration: f64,
}

/// pytest's classname and name for a node id
/// (`tests/test_a.py::TestX::test_y[1]` → `tests.test_a.TestX`, `test_y[1]`).
pub fn split_nodeid(nodeid: &str) -> (String, String) {
    let mut parts: Vec<&str> = nodeid.split("::").collect();
    let name = parts.pop().unwrap_or_default().to_string();
    let mut class = parts
        .first()
        .map(|p| p.trim_end_matches(".py").replace(['/', '\\'], "."))
        .unwrap_or_default();
    for extra in parts.iter().skip(1) {
        class.push('.');
        class.push_str(extra);
    }
    (class, name)
}

/// Reads the test cases of a JUnit file.
pub fn read(path: &Path) -> anyhow::Result<Vec<TestCase>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    parse(&text).with_context(|| format!("`{}` is not valid JUnit XML", path.display()))
}

pub fn parse(text: &str) -> anyhow::Result<Vec<TestCase>> {
    let mut reader = Reader::from_str(text);
    let mut cases = Vec::new();
    let mut current: Option<TestCase> = None;
    let mut saw_root = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e)
                if e.name().as_ref() == b"testsuites" || e.name().as_ref() == b"testsuite" =>
            {
                saw_root = true;
            }
            Event::Start(e) if e.name().as_ref() == b"testcase" => current = Some(case_from(&e)?),
            Event::Empty(e) if e.name().as_ref() == b"testcase" => cases.push(case_from(&e)?),
            Event::Start(e) | Event::Empty(e) => {
                if let Some(case) = current.as_mut() {
                    case.outcome = match (e.name().as_ref(), case.outcome) {
                        (b"failure", _) => Outcome::Failed,
                        (b"error", Outcome::Failed) => Outcome::Failed,
                        (b"error", _) => Outcome::Error,
                        (b"skipped", _) => {
                            let kind = e
                                .try_get_attribute("type")?
                                .map(|a| {
                                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                        .map(|v| v.into_owned())
                                })
                                .transpose()?;
                            if kind.as_deref() == Some("pytest.xfail") {
                                Outcome::XFailed
                            } else {
                                Outcome::Skipped
                            }
                        }
                        (_, o) => o,
                    };
                }
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => cases.extend(current.take()),
            Event::Eof => break,
            _ => {}
        }
    }
    anyhow::ensure!(saw_root, "no <testsuite> element");
    Ok(cases)
}

fn case_from(e: &BytesStart) -> anyhow::Result<TestCase> {
    let attr = |name: &str| -> anyhow::Result<String> {
        Ok(e.try_get_attribute(name)?
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
            })
            .transpose()?
            .unwrap_or_default())
    };
    Ok(TestCase {
        classname: attr("classname")?,
        name: attr("name")?,
        outcome: Outcome::Passed,
        duration: attr("time")?.parse().unwrap_or(0.0),
    })
}

/// Renders a JUnit file from a run's events: every test that ended, each
/// collection error, and every collected test that did not run (as an error,
/// so no consumer of the file can read a partial run as green).
pub fn render(state: &RunState, suite_name: &str) -> anyhow::Result<String> {
    let tests: Vec<_> = state.tests.iter().collect();
    let not_run = state.not_run();
    let counts = state.counts();
    let time: f64 = tests.iter().map(|t| t.duration).sum();
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    writer.write_event(Event::Start(BytesStart::new("testsuites")))?;
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", suite_name));
    suite.push_attribute((
        "errors",
        (counts.errors + state.collect_errors.len() + not_run.len())
            .to_string()
            .as_str(),
    ));
    suite.push_attribute(("failures", counts.failed.to_string().as_str()));
    suite.push_attribute((
        "skipped",
        (counts.skipped + counts.xfailed).to_string().as_str(),
    ));
    suite.push_attribute((
        "tests",
        (tests.len() + state.collect_errors.len() + not_run.len())
            .to_string()
            .as_str(),
    ));
    suite.push_attribute(("time", format!("{time:.3}").as_str()));
    writer.write_event(Event::Start(suite))?;
    for error in &state.collect_errors {
        let (classname, name) = split_nodeid(&error.id);
        write_case(
            &mut writer,
            &classname,
            &name,
            0.0,
            Some(("error", &error.msg, &error.text)),
        )?;
    }
    for t in tests {
        let (classname, name) = split_nodeid(&t.nodeid);
        let message = t.message.clone().unwrap_or_default();
        let mut text = t.longrepr.clone().unwrap_or_default();
        for sub in &t.subtests {
            text.push_str(&format!(
                "\n---- subtest {} {} ----\n{}",
                sub.desc,
                sub.outcome.as_str(),
                sub.text
                    .as_deref()
                    .or(sub.msg.as_deref())
                    .unwrap_or_default()
            ));
        }
        let child = match t.outcome {
            Outcome::Failed => Some(("failure", message.as_str(), text.as_str())),
            Outcome::Error => Some(("error", message.as_str(), text.as_str())),
            Outcome::Skipped | Outcome::XFailed => Some(("skipped", message.as_str(), "")),
            Outcome::Passed | Outcome::XPassed => None,
        };
        write_case(&mut writer, &classname, &name, t.duration, child)?;
    }
    for id in &not_run {
        let (classname, name) = split_nodeid(id);
        write_case(
            &mut writer,
            &classname,
            &name,
            0.0,
            Some(("error", "collected but not run", "")),
        )?;
    }
    writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
    writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
    let mut out = String::from_utf8(writer.into_inner())?;
    out.push('\n');
    Ok(out)
}

fn write_case(
    writer: &mut Writer<Vec<u8>>,
    classname: &str,
    name: &str,
    time: f64,
    child: Option<(&str, &str, &str)>,
) -> anyhow::Result<()> {
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("classname", classname));
    case.push_attribute(("name", name));
    case.push_attribute(("time", format!("{time:.3}").as_str()));
    match child {
        None => writer.write_event(Event::Empty(case))?,
        Some((tag, message, text)) => {
            writer.write_event(Event::Start(case))?;
            let mut el = BytesStart::new(tag);
            el.push_attribute(("message", message));
            if text.is_empty() {
                writer.write_event(Event::Empty(el))?;
            } else {
                writer.write_event(Event::Start(el))?;
                writer.write_event(Event::Text(BytesText::new(text)))?;
                writer.write_event(Event::End(BytesEnd::new(tag)))?;
            }
            writer.write_event(Event::End(BytesEnd::new("testcase")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodeid_split_matches_pytest() {
        assert_eq!(
            split_nodeid("tests/test_a.py::TestX::test_y[1]"),
            ("tests.test_a.TestX".into(), "test_y[1]".into())
        );
        assert_eq!(
            split_nodeid("test_b.py::test_z"),
            ("test_b".into(), "test_z".into())
        );
    }

    #[test]
    fn reads_pytest_junit() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="0.1"><testcase classname="t" name="ok" time="0.01" /><testcase classname="t" name="bad" time="0.02"><failure message="assert">x</failure></testcase><testcase classname="t" name="sk" time="0"><skipped type="pytest.skip" message="s">s</skipped></testcase><testcase classname="t" name="xf" time="0"><skipped type="pytest.xfail" message="x" /></testcase></testsuite></testsuites>"#;
        let cases = parse(xml).unwrap();
        let outcomes: Vec<_> = cases.iter().map(|c| c.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                Outcome::Passed,
                Outcome::Failed,
                Outcome::Skipped,
                Outcome::XFailed
            ]
        );
        assert!(parse("<html/>").is_err());
    }

    #[test]
    fn written_junit_reads_back_and_names_tests_that_did_not_run() {
        let text = [
            r#"{"e":"collected","ids":["tests/t.py::a","tests/t.py::b","tests/t.py::c"]}"#,
            r#"{"e":"test","id":"tests/t.py::a","outcome":"passed","dur":0.5}"#,
            r#"{"e":"test","id":"tests/t.py::b","outcome":"failed","text":"E  <boom> & co","dur":0.1}"#,
        ]
        .join("\n");
        let state = RunState::from_events(crate::events::parse_all(&text));
        let xml = render(&state, "pytest").unwrap();
        let cases = parse(&xml).unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[1].outcome, Outcome::Failed);
        assert_eq!(
            (cases[2].name.as_str(), cases[2].outcome),
            ("c", Outcome::Error)
        );
        assert!(xml.contains("&lt;boom&gt; &amp; co"), "{xml}");
        assert_eq!(
            (cases[0].classname.as_str(), cases[0].name.as_str()),
            ("tests.t", "a")
        );
    }
}
