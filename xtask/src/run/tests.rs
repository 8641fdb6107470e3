//! The stages of a run, each called on a fixture model of its input: a
//! request for `prepare`, stand-in processes that write the plugin's events
//! for `launch` (no pytest), and their end for the verdict and the record.

use std::path::Path;

use super::*;
use crate::python::argv::Invocation;
use crate::python::child::PytestExit;
use crate::workers::Workers;

fn ctx(root: &Path) -> Ctx {
    Ctx {
        root: root.to_path_buf(),
        progress: false,
        github_actions: false,
    }
}

fn config() -> Config {
    crate::config::parse_str("").expect("an empty testing.toml is valid")
}

fn python_env() -> PythonEnv {
    PythonEnv {
        python: "python3".into(),
        installed: false,
        seconds: 0.0,
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A process that writes `lines` as its event stream (one per 10 ms), then
/// ends as `end` says: `exit N`, or `kill` (SIGKILL, as the OOM killer does).
fn stand_in(dir: &Path, name: &str, lines: &[String], end: &str) -> child::Process {
    let events = dir.join(format!("{name}.jsonl"));
    let ending = match end.strip_prefix("exit ") {
        Some(code) => format!("sys.exit({code})"),
        None => "os.kill(os.getpid(), signal.SIGKILL)".into(),
    };
    let script = format!(
        "import os, signal, sys, time\n\
         with open(os.environ['XTASK_EVENTS'], 'a') as f:\n\
         \x20   for line in {lines:?}:\n\
         \x20       f.write(line)\n\
         \x20       f.flush()\n\
         \x20       time.sleep(0.01)\n\
         print('{name} says goodbye')\n\
         sys.stdout.flush()\n\
         {ending}\n"
    );
    child::Process {
        inv: Invocation {
            python: "python3".into(),
            args: vec!["-c".into(), script],
            env: vec![("XTASK_EVENTS".into(), events.display().to_string())],
            cwd: dir.to_path_buf(),
            shown: vec!["stand-in".into()],
            shown_env: Vec::new(),
        },
        events,
        output_log: dir.join(format!("{name}.log")),
    }
}

fn test_event(id: &str, outcome: &str, worker: &str, start: f64) -> String {
    format!(
        "{{\"e\":\"test\",\"id\":\"{id}\",\"outcome\":\"{outcome}\",\"dur\":0.01,\"start\":{start},\"stop\":{},\"worker\":\"{worker}\"}}\n",
        start + 0.01
    )
}

fn shards_launch(dir: &Path) -> Launch {
    let first = vec![
        "{\"e\":\"start\",\"v\":1,\"worker\":\"gw0\",\"rootdir\":\"/p\"}\n".to_string(),
        "{\"e\":\"collected\",\"worker\":\"gw0\",\"ids\":[\"t.py::a\",\"t.py::b\"]}\n".into(),
        test_event("t.py::a", "passed", "gw0", 1.0),
        test_event("t.py::b", "failed", "gw0", 1.1),
        "{\"e\":\"finish\",\"exit\":1,\"time\":2.0}\n".into(),
    ];
    // The second process dies after its first test, in the middle of a line.
    let second = vec![
        "{\"e\":\"start\",\"v\":1,\"worker\":\"gw1\",\"rootdir\":\"/p\"}\n".to_string(),
        "{\"e\":\"collected\",\"worker\":\"gw1\",\"ids\":[\"u.py::c\",\"u.py::d\",\"u.py::e\"]}\n"
            .into(),
        test_event("u.py::c", "passed", "gw1", 1.0),
        "{\"e\":\"test\",\"id\":\"u.py::d\",\"outc".into(),
    ];
    let planned = vec![
        Some(ids(&["t.py::a", "t.py::b"])),
        Some(ids(&["u.py::c", "u.py::d", "u.py::e"])),
    ];
    Launch {
        processes: vec![
            stand_in(dir, "gw0", &first, "exit 1"),
            stand_in(dir, "gw1", &second, "kill"),
        ],
        expected: Some(planned.iter().flatten().flatten().cloned().collect()),
        planned,
        label: "stand-ins ×2 shards".into(),
        shards: true,
        notes: Vec::new(),
        recorded: Default::default(),
    }
}

#[test]
fn prepare_writes_the_selection_for_the_plugin_and_holds_the_run_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let selected = ids(&["tests/t.py::a", "tests/t.py::b[x::y]"]);
    let req = RunRequest::probe(
        "probe".into(),
        "alone",
        selected.clone(),
        dir.path(),
        dir.path().join("reports"),
    );
    std::fs::create_dir_all(&req.reports.partial).unwrap();
    let launch = prepare(&ctx(dir.path()), &config(), &python_env(), &req).unwrap();

    assert!(!launch.shards);
    assert_eq!(launch.label, "probe");
    assert_eq!(launch.expected.as_ref(), Some(&selected));
    assert_eq!(launch.planned, vec![Some(selected.clone())]);
    let [process] = launch.processes.as_slice() else {
        panic!("one process: {:?}", launch.processes)
    };
    let args = &process.inv.args;
    for wanted in [
        "xtask_events",
        "--numprocesses=0",
        "--continue-on-collection-errors",
    ] {
        assert!(args.iter().any(|a| a == wanted), "{wanted} in {args:?}");
    }
    let select = process
        .inv
        .env
        .iter()
        .find(|(k, _)| k == plugin::SELECT_VAR)
        .map(|(_, v)| PathBuf::from(v))
        .expect("the plugin is told the selection");
    assert_eq!(
        std::fs::read_to_string(select)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        selected,
        "ids with `::` inside their parameters reach the plugin whole"
    );
    assert!(
        process.events.starts_with(&req.reports.partial),
        "events are written in progress, then moved into place"
    );
}

#[test]
fn launch_turns_the_processes_events_into_the_run_and_names_what_a_dead_one_left() {
    let dir = tempfile::tempdir().unwrap();
    let launched = shards_launch(dir.path());
    let (finished, mut state, tail) = launch(&ctx(dir.path()), &launched, false).unwrap();

    assert_eq!(
        finished.exits,
        vec![PytestExit::Failed, PytestExit::Signal(9)]
    );
    assert!(!finished.interrupted);
    assert_eq!(state.done(), 3, "a, b and c ended; d's line was torn");
    assert!(tail.text().contains("gw1 says goodbye"), "{}", tail.text());

    state.expected.clone_from(&launched.expected);
    let notes = account_for_dead_processes(&mut state, &launched, &finished);
    assert_eq!(
        notes,
        ["pytest (gw1) died (killed by signal 9) while running `u.py::d`, after 1 of its 3 tests"]
    );
    let verdict = verdict::judge(&state, &finished.exits, finished.interrupted);
    assert_eq!(verdict.code, ExitCode::TestsFailed);
    assert_eq!(verdict.not_run, ["u.py::e"]);
    let crashed: Vec<&str> = state
        .failures()
        .filter(|t| t.crashed)
        .map(|t| t.nodeid.as_str())
        .collect();
    assert_eq!(crashed, ["u.py::d"]);

    // The streams become one, each line whole, and the outputs one log.
    let reports = ReportPaths::in_dir(dir.path().join("reports"));
    std::fs::create_dir_all(&reports.dir).unwrap();
    gather_reports(&launched, &reports).unwrap();
    let stream = std::fs::read_to_string(&reports.events).unwrap();
    let again = RunState::from_events(crate::events::parse_all(&stream));
    assert_eq!(again.done(), 3);
    let output = std::fs::read_to_string(&reports.output).unwrap();
    assert!(
        output.contains("==== gw0 (2 tests) ====\ngw0 says goodbye"),
        "{output}"
    );
}

#[test]
fn an_interrupted_run_blames_no_test() {
    let dir = tempfile::tempdir().unwrap();
    let launched = shards_launch(dir.path());
    let (mut finished, mut state, _) = launch(&ctx(dir.path()), &launched, false).unwrap();
    finished.interrupted = true;
    assert!(account_for_dead_processes(&mut state, &launched, &finished).is_empty());
    assert!(state.tests.iter().all(|t| !t.crashed));
}

#[test]
fn the_record_names_the_engine_that_ran_and_what_was_selected() {
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let state = RunState::from_events(crate::events::parse_all(&test_event(
        "t.py::a", "passed", "gw0", 1.0,
    )));
    let mut req = RunRequest::probe(
        "pytest-parallel".into(),
        "",
        Vec::new(),
        dir.path(),
        dir.path().join("reports"),
    );
    let serial = run_record(&ctx(dir.path()), &config, &req, &state, ExitCode::Ok);
    assert_eq!(serial.engine, history::Execution::Serial);
    assert_eq!((serial.workers, serial.dist.as_deref()), (1, None));

    req.workers = Workers::Parallel {
        n: 2,
        why: "fixture".into(),
    };
    let xdist = run_record(&ctx(dir.path()), &config, &req, &state, ExitCode::Ok);
    assert_eq!(xdist.engine, history::Execution::Xdist);
    assert_eq!((xdist.workers, xdist.dist.as_deref()), (2, Some("load")));
    req.engine = Engine::Shards;
    let shards = run_record(
        &ctx(dir.path()),
        &config,
        &req,
        &state,
        ExitCode::TestsFailed,
    );
    assert_eq!(shards.engine, history::Execution::Shards);
    assert_eq!((shards.dist, shards.exit, shards.tests), (None, 1, 1));

    assert_eq!(selection(&config, &[]), serial.selection);
    assert_ne!(
        selection(&config, &["-k".into(), "a".into()]),
        serial.selection
    );
}
