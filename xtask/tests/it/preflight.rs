//! Preflight against real local servers the tests start themselves (Rust
//! listener threads on 127.0.0.1, port 0) and real commands. Every server
//! stops and joins its threads when dropped; timed-out commands are checked
//! to be gone.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{shared_config, Test};

/// How a test server treats its clients.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Serves every client at once, each on its own thread.
    Concurrent,
    /// Serves one client at a time: greets it, holds it until it leaves, then
    /// accepts the next (the others wait in the backlog, ungreeted).
    OneAtATime,
    /// Holds the first client and closes every other one while it is there.
    TurnsAwayExtra,
}

struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(listener, behaviour, &flag));
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the server sees the flag.
        TcpStream::connect(("127.0.0.1", self.port)).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn serve(listener: TcpListener, behaviour: Behaviour, stop: &Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        // Blocking, so every client is accepted at once (Drop wakes it).
        let Ok((stream, _)) = listener.accept() else {
            break;
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match behaviour {
            Behaviour::Concurrent => {
                let stop = stop.clone();
                clients.push(std::thread::spawn(move || hold(stream, &stop)));
            }
            Behaviour::OneAtATime => {
                let mut stream = stream;
                stream.write_all(b"HELLO 1.0\r\n").ok();
                hold(stream, stop);
            }
            Behaviour::TurnsAwayExtra => {
                if active.load(Ordering::SeqCst) > 0 {
                    drop(stream);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (stop, active) = (stop.clone(), active.clone());
                clients.push(std::thread::spawn(move || {
                    hold(stream, &stop);
                    active.fetch_sub(1, Ordering::SeqCst);
                }));
            }
        }
    }
    for client in clients {
        client.join().unwrap();
    }
}

/// Keeps a connection open until the client closes it or the server stops.
fn hold(mut stream: TcpStream, stop: &AtomicBool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn project(services: &str) -> Test {
    Test::empty()
        .write("tests/test_a.py", "def test_a():\n    pass\n")
        .write(
            "testing.toml",
            &format!(
                "[project]\ntest-paths = [\"tests\"]\n\n[setup]\nenabled = false\n\n{services}"
            ),
        )
}

#[test]
fn healthy_service_passes() {
    let server = Server::start(Behaviour::Concurrent);
    let test = project(&format!(
        "[services.db]\ntcp = \"{}\"\ncommand = [\"true\"]\ntimeout = 2\n",
        server.addr()
    ));
    let run = test.run_args(&["preflight", "--workers", "3"]);
    run.status(0);
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "preflight: `db` ready: 3 simultaneous connection(s) to {} held",
            server.addr()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 simultaneous run(s) of `true` passed"),
        "{stderr}"
    );
}

#[test]
fn one_client_at_a_time_fails_with_two_workers() {
    let server = Server::start(Behaviour::OneAtATime);
    let test = project(&format!(
        "[services.single]\ntcp = \"{}\"\ntimeout = 1\n",
        server.addr()
    ));
    let run = test.run_args(&["preflight", "--workers", "2"]);
    run.status(2);
    let stderr = run.stderr();
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with("error: service `single` is not ready: "),
        "{stderr}"
    );
    assert!(first.contains("greeted only 1 of 2"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    // One worker needs one client at a time: that it can serve.
    test.run_args(&["preflight", "--workers", "1"]).status(0);
}

#[test]
fn server_turning_away_a_second_client_fails() {
    let server = Server::start(Behaviour::TurnsAwayExtra);
    let test = project(&format!(
        "[services.busy]\ntcp = \"{}\"\nconcurrency = 2\ntimeout = 2\n",
        server.addr()
    ));
    let run = test.run_args(&["preflight", "--workers", "1"]);
    run.status(2);
    let stderr = run.stderr();
    assert!(
        stderr.contains("service `busy` is not ready") && stderr.contains("closed 1 of 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`services.busy.concurrency = 2`"),
        "{stderr}"
    );
}

#[test]
fn nothing_listening_fails_fast() {
    let port = free_port();
    let test = project(&format!(
        "[services.neo4j]\ntcp = \"127.0.0.1:{port}\"\ntimeout = 5\n"
    ));
    let started = Instant::now();
    let run = test.run_args(&["preflight", "--workers", "2"]);
    run.status(2);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        run.stderr().starts_with(&format!(
            "error: service `neo4j` is not ready: nothing is listening on 127.0.0.1:{port} (connection refused)\n"
        )),
        "{}",
        run.stderr()
    );
}

/// A Python listener with a backlog of 0 that never accepts: once its queue
/// holds a connection, further connection attempts hang. Killed on drop.
struct Stalled {
    child: std::process::Child,
    port: u16,
}

impl Stalled {
    fn start() -> Stalled {
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket, sys\n\
                 s = socket.socket()\n\
                 s.bind(('127.0.0.1', 0))\n\
                 s.listen(0)\n\
                 print(s.getsockname()[1], flush=True)\n\
                 sys.stdin.read()\n",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let port = line.trim().parse().expect("the listener prints its port");
        Stalled { child, port }
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn connections_that_hang_time_out() {
    let stalled = Stalled::start();
    let test = project(&format!(
        "[services.queue]\ntcp = \"127.0.0.1:{}\"\nconcurrency = 4\ntimeout = 1\n",
        stalled.port
    ));
    let started = Instant::now();
    let run = test.run_args(&["preflight"]);
    run.status(2);
    assert!(started.elapsed() < Duration::from_secs(5));
    let stderr = run.stderr();
    assert!(
        stderr.starts_with("error: service `queue` is not ready: ")
            && stderr.contains(&format!(
                "connecting to 127.0.0.1:{} timed out after 1.0s",
                stalled.port
            )),
        "{stderr}"
    );
}

#[test]
fn failing_command_is_named_with_its_output() {
    let test = project(
        "[services.ok]\ncommand = [\"true\"]\n\n[services.graph]\ncommand = [\"sh\", \"-c\", \"echo 'graph: not ready' >&2; exit 3\"]\n",
    );
    let run = test.run_args(&["preflight", "--workers", "2"]);
    run.status(2);
    let stderr = run.stderr();
    assert!(stderr.contains("preflight: `ok` ready"), "{stderr}");
    assert!(
        stderr.contains("error: service `graph` is not ready: `sh -c")
            && stderr.contains("exited with status 3")
            && stderr.contains("graph: not ready"),
        "{stderr}"
    );
    let missing = project("[services.tool]\ncommand = [\"no-such-health-tool-xyz\"]\n");
    let run = missing.run_args(&["preflight"]);
    run.status(2);
    assert!(
        run.stderr()
            .contains("`no-such-health-tool-xyz` was not found"),
        "{}",
        run.stderr()
    );
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn hanging_command_times_out_and_is_killed() {
    // A unique duration makes the sleeps findable in /proc afterwards.
    let marker = format!("60.{}", std::process::id());
    let test = project(&format!(
        "[services.slow]\ncommand = [\"sh\", \"-c\", \"sleep {marker}; true\"]\ntimeout = 0.5\n"
    ));
    let started = Instant::now();
    let run = test.run_args(&["preflight", "--workers", "2"]);
    run.status(2);
    assert!(started.elapsed() < Duration::from_secs(5));
    let stderr = run.stderr();
    assert!(
        stderr.contains("service `slow` is not ready")
            && stderr.contains(
                "did not finish within 0.5s (2 of 2 simultaneous runs still running; stopped)"
            ),
        "{stderr}"
    );
    // SIGKILL is delivered asynchronously: give the killed group a moment to exit.
    let needle = format!("sleep {marker}");
    let gone_by = Instant::now() + Duration::from_secs(3);
    while !processes_with(&needle).is_empty() && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = processes_with(&needle);
    assert!(left.is_empty(), "left running: {left:?}");
}

#[test]
fn no_services_means_nothing_to_check() {
    let run = project("").run_args(&["preflight"]);
    run.status(0);
    assert!(
        run.stderr().contains("nothing to check"),
        "{}",
        run.stderr()
    );
}

#[test]
fn service_config_errors_point_at_the_value() {
    for (body, location, message) in [
        (
            "[services.neo4j]\nimage = \"neo4j:5\"\n",
            "7:1",
            "`[services.neo4j]` has nothing to check",
        ),
        (
            "[services.neo4j]\ntcp = \"localhost\"\n",
            "8:7",
            "`services.neo4j.tcp = \"localhost\"`: expected `host:port`",
        ),
        (
            "[services.neo4j]\ntcp = \"localhost:7687\"\nconcurrency = 0\n",
            "9:15",
            "`services.neo4j.concurrency = 0` is out of range",
        ),
        (
            "[services.neo4j]\ntcp = \"localhost:7687\"\ntimeout = 0\n",
            "9:11",
            "`services.neo4j.timeout = 0` is out of range",
        ),
        (
            "[services.neo4j]\ntcp = \"localhost:7687\"\nports = [\"7687:7687\", \"x\"]\n",
            "9:23",
            "`services.neo4j.ports`: `x` is not a port mapping",
        ),
        (
            "[services.neo4j]\ntcp = \"localhost:7687\"\nhealthcmd = \"x\"\n",
            "9:1",
            "unknown key `healthcmd`",
        ),
    ] {
        let run = project(body).run_args(&["preflight"]);
        run.status(2);
        let first = run.stderr().lines().next().unwrap_or_default().to_string();
        assert_eq!(
            first,
            format!("error: testing.toml:{location}: {message}"),
            "{body}"
        );
    }
}

#[test]
fn a_parallel_run_stops_before_pytest_when_a_service_is_down() {
    let port = free_port();
    let services = format!("\n[services.neo4j]\ntcp = \"127.0.0.1:{port}\"\n");
    let test =
        Test::fixture("basic").write("testing.toml", &shared_config("[\"tests\"]", &services));
    let run = test.run_args(&["pytest-parallel", "--workers", "2"]);
    run.status(2);
    assert!(
        run.stderr().contains("error: service `neo4j` is not ready"),
        "{}",
        run.stderr()
    );
    assert!(!run.stdout().contains("passed"), "pytest must not run");
    assert!(!test.path().join("reports/junit.xml").exists());
    // A serial run has no workers to share the service between: no preflight.
    let serial = test.run_args(&["pytest"]);
    assert_ne!(serial.code(), 2, "{}", serial.stderr());
    assert!(
        !serial.stderr().contains("not ready"),
        "{}",
        serial.stderr()
    );
    assert!(test.path().join("reports/junit.xml").exists());
}
