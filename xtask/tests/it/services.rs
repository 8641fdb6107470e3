//! The lifecycle of services the xtask starts (`start`, `ready`, `stop`,
//! `export`) and the protocol probes, against real servers: a RESP server in
//! Python that serves everyone, one client at a time, or no one; a Rust
//! listener for a port someone else holds; Bolt replies as a Neo4j server
//! sends them. Every test checks that no server process is left behind.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{processes_mentioning, shared_config, Test};

/// A project whose tests PING the service through `KV_URL`, with `service`
/// as its `[services.kv]` table.
fn project(service: &str) -> Test {
    let test = Test::fixture("services");
    let config = shared_config("[\"tests\"]", &format!("\n[services.kv]\n{service}"));
    test.write("testing.toml", &config)
}

/// A `start` running the fixture's server in `mode` (the project's path in
/// its command line makes it findable afterwards).
fn start(mode: &str) -> String {
    format!(
        "start = [\"{{python}}\", \"{{root}}/server.py\", \"{{port}}\", \"{mode}\"]\ntcp = \"127.0.0.1:auto\"\nready = \"resp\"\nexport = {{ KV_URL = \"redis://{{host}}:{{port}}\", KV_RUN = \"{{run}}\" }}\n"
    )
}

/// Waits (briefly: signals are asynchronous) until nothing of `test` runs.
fn assert_nothing_left(test: &Test) {
    let needle = test.path().display().to_string();
    let by = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&needle).is_empty() && Instant::now() < by {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = processes_mentioning(&needle);
    assert!(left.is_empty(), "left running: {left:?}");
}

/// The `service` event of the last run's stream.
fn service_event(test: &Test) -> serde_json::Value {
    let events = test.read("reports/events.jsonl");
    events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["e"] == "service")
        .unwrap_or_else(|| panic!("no service event: {events}"))
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| l.starts_with("error:")).unwrap_or("")
}

#[test]
fn a_started_service_is_exported_to_every_engine_and_stopped() {
    let test = project(&start("concurrent"));
    for args in [
        &["pytest"][..],
        &["pytest-parallel", "--workers", "2", "--engine", "shards"],
        &["pytest-parallel", "--workers", "2", "--engine", "xdist"],
    ] {
        let run = test.run_args(args);
        run.status(0);
        let stderr = run.stderr();
        assert!(
            stderr.contains("service `kv`: started on 127.0.0.1:")
                && stderr.contains("simultaneous resp session(s)"),
            "{args:?}: {stderr}"
        );
        assert_nothing_left(&test);
    }
    // The service's own output is kept beside the reports, and the run's
    // event stream records the service it used.
    assert!(test.path().join("reports/service-kv.log").exists());
    let service = service_event(&test);
    assert_eq!(service["name"], "kv");
    assert_eq!(service["protocol"], "resp");
    assert_eq!(service["started"], true);
    assert_eq!(service["sessions"], 2);
    assert!(service["address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}

#[test]
fn a_server_serving_one_client_at_a_time_fails_before_the_tests() {
    let test = project(&format!("{}timeout = 5\n", start("one")));
    let run = test.run_args(&["pytest-parallel", "--workers", "2"]);
    run.status(2);
    let stderr = run.stderr();
    let line = first_line(&stderr);
    assert!(
        line.starts_with("error: service `kv`: not ready within 5.0s (resp check, 2 simultaneous session(s)): 127.0.0.1:")
            && line.contains("served 1 of 2 simultaneous resp sessions; the others: no reply before the timeout"),
        "{stderr}"
    );
    assert!(!run.stdout().contains("passed"), "pytest must not run");
    assert_nothing_left(&test);
}

#[test]
fn a_server_that_never_answers_fails_with_the_count() {
    let test = project(&format!("{}timeout = 1\n", start("silent")));
    let run = test.run_args(&["pytest", "--workers", "1"]);
    run.status(2);
    let stderr = run.stderr();
    assert!(
        first_line(&stderr)
            .contains("not ready within 1.0s (resp check, 1 simultaneous session(s)): 127.0.0.1:")
            && first_line(&stderr).contains("no reply before the timeout"),
        "{stderr}"
    );
    assert_nothing_left(&test);
}

#[test]
fn a_start_command_that_exits_at_once_is_named_with_its_last_words() {
    let test = project(
        "start = [\"sh\", \"-c\", \"echo 'Address already in use' >&2; exit 3\"]\ntcp = \"127.0.0.1:auto\"\nready = \"resp\"\ntimeout = 10\n",
    );
    let started = Instant::now();
    let run = test.run_args(&["pytest"]);
    run.status(2);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "it waited for the timeout"
    );
    assert_eq!(
        first_line(&run.stderr()),
        "error: service `kv`: `start` exited with status 3 before it was ready: Address already in use",
    );
    assert_nothing_left(&test);
}

/// A listener that answers every connection with `reply` (after reading
/// what the client sent) and serves until dropped.
struct Replier {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Replier {
    fn start(reply: &'static [u8], one_at_a_time: bool) -> Replier {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let answer = move |stream: &mut TcpStream| {
                    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut buf = [0u8; 64];
                    if stream.read(&mut buf).is_ok_and(|n| n > 0) {
                        stream.write_all(reply).ok();
                    }
                };
                if one_at_a_time {
                    // Serve this client until it leaves; the rest wait.
                    answer(&mut stream);
                    let mut buf = [0u8; 64];
                    while !flag.load(Ordering::SeqCst) && stream.read(&mut buf).is_ok_and(|n| n > 0)
                    {
                    }
                } else {
                    answer(&mut stream);
                    held.push(stream);
                }
            }
        });
        Replier {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Replier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        TcpStream::connect(("127.0.0.1", self.port)).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

#[test]
fn a_port_taken_by_another_protocol_is_refused_without_starting() {
    let taken = Replier::start(b"HTTP/1.1 400 Bad Request\r\n\r\n", false);
    let port = taken.port;
    let test = project(&format!(
        "start = [\"{{python}}\", \"{{root}}/server.py\", \"{{port}}\", \"concurrent\"]\ntcp = \"127.0.0.1:{port}\"\nready = \"resp\"\n"
    ));
    let run = test.run_args(&["pytest"]);
    run.status(2);
    assert_eq!(
        first_line(&run.stderr()),
        format!("error: service `kv`: port {port} on 127.0.0.1 is taken by something that fails the resp check: 127.0.0.1:{port}: answered PING with \"HTTP/1.1 400 Bad Request\" (not RESP) (resp check, 1 simultaneous session(s))"),
    );
    assert!(
        !test.path().join("reports/service-kv.log").exists(),
        "it started the service"
    );
    assert_nothing_left(&test);
}

#[test]
fn a_server_already_answering_is_used_and_left_running() {
    let own = Replier::start(b"+PONG\r\n", false);
    let port = own.port;
    // `start` would fail if it ran.
    let test = project(&format!(
        "start = [\"false\"]\ntcp = \"127.0.0.1:{port}\"\nready = \"resp\"\nexport = {{ KV_URL = \"redis://{{host}}:{{port}}\", KV_RUN = \"{{run}}\" }}\n"
    ));
    let run = test.run_args(&["pytest"]);
    run.status(0);
    assert!(
        run.stderr().contains(&format!(
            "service `kv`: using the server already at 127.0.0.1:{port} (not started, not stopped)"
        )),
        "{}",
        run.stderr()
    );
    let service = service_event(&test);
    assert_eq!(service["address"], format!("127.0.0.1:{port}"));
    assert_eq!(service["started"], false);
    // Still serving.
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut buf = [0u8; 7];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}

fn interrupted_run(signal: i32, want: Option<i32>) {
    let test = project(&start("concurrent"));
    let mut child = test
        .command()
        .args(["pytest-parallel", "--workers", "2"])
        .env("KV_TEST_SLEEP", "30")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the server is up and the tests are running.
    let log = test.path().join("reports/service-kv.log");
    let started = Instant::now();
    while !(log.exists() && test.path().join("reports/.partial").exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), want);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "it ran the slow test to its end"
    );
    let server = format!("{}/server.py", test.path().display());
    let by = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&server).is_empty() && Instant::now() < by {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        processes_mentioning(&server).is_empty(),
        "the server outlived the run"
    );
    if want.is_some() {
        assert_nothing_left(&test);
    } else {
        // pytest outlives a killed xtask; end it here.
        for pid in processes_mentioning(&test.path().display().to_string()) {
            // SAFETY: killing a leftover of this test.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

#[test]
fn ctrl_c_mid_run_stops_the_service() {
    interrupted_run(libc::SIGINT, Some(130));
}

#[test]
fn sigterm_mid_run_stops_the_service() {
    interrupted_run(libc::SIGTERM, Some(130));
}

#[test]
fn a_killed_xtask_takes_its_service_with_it() {
    interrupted_run(libc::SIGKILL, None);
}

fn preflight_bolt(reply: &'static [u8], one_at_a_time: bool) -> crate::support::Run {
    let server = Replier::start(reply, one_at_a_time);
    let test = project(&format!(
        "tcp = \"127.0.0.1:{}\"\nready = \"bolt\"\ntimeout = 1\n",
        server.port
    ));
    let run = test.run_args(&["preflight", "--workers", "2"]);
    drop(server);
    run
}

/// What a Neo4j 4.4 server answers to the handshake: the version it chose.
const NEO4J_44_REPLY: &[u8] = &[0x00, 0x00, 0x04, 0x04];
/// What a Bolt server answers when it speaks none of the offered versions.
const NO_VERSION_REPLY: &[u8] = &[0x00, 0x00, 0x00, 0x00];

#[test]
fn bolt_handshake_against_server_replies() {
    let ok = preflight_bolt(NEO4J_44_REPLY, false);
    ok.status(0);
    assert!(
        ok.stderr()
            .contains("2 simultaneous bolt session(s) on 127.0.0.1:"),
        "{}",
        ok.stderr()
    );

    let none = preflight_bolt(NO_VERSION_REPLY, false);
    none.status(2);
    assert!(
        none.stderr()
            .contains("speaks Bolt but none of the offered versions"),
        "{}",
        none.stderr()
    );

    let http = preflight_bolt(b"HTTP/1.1 400 Bad Request\r\n", false);
    http.status(2);
    assert!(http.stderr().contains("(not Bolt)"), "{}", http.stderr());

    let single = preflight_bolt(NEO4J_44_REPLY, true);
    single.status(2);
    assert!(
        single.stderr().contains(
            "served 1 of 2 simultaneous bolt sessions; the others: no reply before the timeout"
        ),
        "{}",
        single.stderr()
    );
}

#[test]
fn lifecycle_config_errors_point_at_the_value() {
    for (body, location, message) in [
        (
            "tcp = \"127.0.0.1:auto\"\n",
            "12:7",
            "`services.kv.tcp = \"127.0.0.1:auto\"`: `auto` needs `start`",
        ),
        (
            "start = [\"srv\", \"--port\", \"{prot}\"]\ntcp = \"127.0.0.1:auto\"\n",
            "12:9",
            "`services.kv.start`: unknown placeholder `{prot}`",
        ),
        (
            "start = [\"srv\"]\ntcp = \"127.0.0.1:auto\"\nstop = \"SIGFOO\"\n",
            "14:8",
            "`services.kv.stop = \"SIGFOO\"` is not a signal the xtask sends",
        ),
        (
            "tcp = \"127.0.0.1:7687\"\nstop = \"SIGTERM\"\n",
            "13:8",
            "`services.kv.stop` without `start`",
        ),
        (
            "command = [\"true\"]\nready = \"bolt\"\n",
            "13:9",
            "`services.kv.ready = \"bolt\"` has no address to check",
        ),
        (
            "tcp = \"127.0.0.1:7687\"\nready = \"http\"\n",
            "13:9",
            "unknown value `http`",
        ),
        (
            "start = [\"srv\"]\n",
            "12:9",
            "`services.kv.start` needs the address the service listens on",
        ),
        (
            "tcp = \"127.0.0.1:7687\"\nexport = { URL = \"bolt://{host}:{port}\" }\n",
            "11:1",
            "`services.kv.export` without `start`",
        ),
        (
            "start = [\"srv\"]\ntcp = \"127.0.0.1:auto\"\nimage = \"neo4j:5\"\n",
            "14:9",
            "`services.kv` has both `image` and `start`",
        ),
    ] {
        let run = project(body).run_args(&["preflight"]);
        run.status(2);
        let first = run.stderr().lines().next().unwrap_or_default().to_string();
        assert!(
            first.starts_with("error: testing.toml:") && first.contains(message),
            "{body}\n{first}"
        );
        let at = first.split(':').nth(2).unwrap_or_default().to_string()
            + ":"
            + first.split(':').nth(3).unwrap_or_default();
        assert_eq!(at, location, "{body}\n{first}");
    }
}

/// A PostgreSQL binary of Debian's packages (`initdb`, `postgres`), if installed.
fn postgres_bin(name: &str) -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name));
    on_path.chain(debian).find(|p| p.is_file())
}

/// A PostgreSQL server of its own in a temporary directory, at most
/// `max_connections` clients at once; killed when dropped.
struct Postgres {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Postgres {
    fn start(max_connections: u32) -> Option<Postgres> {
        let (initdb, postgres) = (postgres_bin("initdb")?, postgres_bin("postgres")?);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root: run it as `nobody` then.
        let root = unsafe { libc::geteuid() } == 0;
        let as_owner = |program: &std::path::Path| {
            let mut command = if root {
                let mut c = std::process::Command::new("setpriv");
                c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                    .arg(program);
                c
            } else {
                std::process::Command::new(program)
            };
            command.stdin(std::process::Stdio::null());
            command
        };
        if root {
            let status = std::process::Command::new("chown")
                .args(["nobody:nogroup"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let out = as_owner(&initdb)
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = as_owner(&postgres)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                &format!("max_connections={max_connections}"),
                "-c",
                "superuser_reserved_connections=0",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Postgres {
            child,
            port,
            _dir: dir,
        };
        let by = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < by, "postgres did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SAFETY: signalling the server this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        self.child.wait().ok();
    }
}

#[test]
fn postgres_startup_exchange_against_a_real_server() {
    let Some(server) = Postgres::start(2) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
        );
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    };
    let test = project(&format!(
        "tcp = \"127.0.0.1:{}\"\nready = \"postgres\"\nuser = \"postgres\"\ntimeout = 5\n",
        server.port
    ));
    // A server that accepts connections may still be starting up.
    let by = Instant::now() + Duration::from_secs(30);
    while test.run_args(&["preflight", "--workers", "1"]).code() != 0 {
        assert!(Instant::now() < by, "postgres never accepted a session");
        std::thread::sleep(Duration::from_millis(200));
    }
    let two = test.run_args(&["preflight", "--workers", "2"]);
    two.status(0);
    assert!(
        two.stderr()
            .contains("2 simultaneous postgres session(s) on 127.0.0.1:"),
        "{}",
        two.stderr()
    );
    let three = test.run_args(&["preflight", "--workers", "3"]);
    three.status(2);
    assert!(
        three.stderr().contains("served 2 of 3 simultaneous postgres sessions; the others: refused the session: sorry, too many clients already"),
        "{}",
        three.stderr()
    );
}

#[test]
fn the_time_a_service_takes_to_start_is_part_of_setup() {
    let test = project(
        "start = [\"sh\", \"-c\", \"sleep 1.5; exec \\\"$0\\\" \\\"$1\\\" \\\"$2\\\" concurrent\", \"{python}\", \"{root}/server.py\", \"{port}\"]\ntcp = \"127.0.0.1:auto\"\nready = \"resp\"\nexport = { KV_URL = \"redis://{host}:{port}\", KV_RUN = \"{run}\" }\n",
    );
    test.run_args(&["pytest"]).status(0);
    let phases = test.read("reports/phases.jsonl");
    let setup: serde_json::Value = phases
        .lines()
        .filter_map(|l| l.strip_prefix("xtask-phase "))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|p| p["phase"] == "setup")
        .unwrap();
    let seconds = setup["seconds"].as_f64().unwrap();
    assert!(seconds >= 1.5, "setup {seconds}s: {phases}");
    assert_nothing_left(&test);
}
