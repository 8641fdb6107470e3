//! The lifecycle of `[services.<name>]` that have a `start` command: started
//! before the first run of a task, proven ready with the protocol probe at
//! the run's concurrency, exported to the tests, and stopped when the task
//! ends: normally, on an error, on Ctrl-C or SIGTERM (the run stops pytest,
//! then the task returns), and on a panic (the [`Scope`] is dropped while
//! unwinding). If the xtask itself is killed, the kernel sends the service
//! SIGTERM (`PR_SET_PDEATHSIG`).
//!
//! A service already answering at a fixed `tcp` address (a developer's own
//! server, a CI service container) is used as it is: not started, not stopped.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::services::{fill, PLACEHOLDERS};
use crate::config::{Config, Port, Service};
use crate::error::UserError;
use crate::probe::{self, PgLogin};
use crate::signals;

/// How long a stopped service may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One service this process started.
struct Started {
    name: String,
    child: Child,
    stop: Result<i32, Vec<String>>,
    values: Vec<(&'static str, String)>,
    root: PathBuf,
}

/// A service in use by this task: its exports, where it is, and for how
/// many simultaneous sessions it was proven ready.
struct InUse {
    name: String,
    exports: Vec<(String, String)>,
    host: String,
    port: u16,
    proven: usize,
    protocol: &'static str,
    started: bool,
    ready: f64,
}

#[derive(Default)]
struct Active {
    in_use: Vec<InUse>,
    started: Vec<Started>,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

/// Held for the length of a task: dropping it stops every service started.
#[must_use]
pub struct Scope(());

impl Scope {
    pub fn new() -> Scope {
        Scope(())
    }
}

impl Default for Scope {
    fn default() -> Self {
        Scope::new()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        stop_all();
    }
}

/// What a run needs from [`ensure`].
pub struct Needs<'a> {
    pub root: &'a Path,
    pub python: &'a Path,
    pub log_dir: &'a Path,
    /// Simultaneous clients the services must serve (the worker count).
    pub clients: usize,
}

/// Starts (once per task) every service with `start` that is not already
/// answering, waits until each is ready for `clients` sessions at once, and
/// returns the environment the tests get. Messages go to stderr.
pub fn ensure(config: &Config, needs: &Needs) -> anyhow::Result<Vec<(String, String)>> {
    let mut guard = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    let active = guard.get_or_insert_with(Active::default);
    for (name, service) in &config.services {
        let service = &service.value;
        if service.start.is_none() {
            continue;
        }
        let n = service.concurrency(needs.clients);
        if let Some(in_use) = active.in_use.iter_mut().find(|u| &u.name == name) {
            // A later run of the task (verify's parallel run) with more workers.
            if n > in_use.proven {
                probe::sessions(
                    &in_use.host,
                    in_use.port,
                    service.protocol(),
                    &PgLogin::of(service),
                    n,
                    service.timeout(),
                )
                .map_err(|f| {
                    setup_error(
                        name,
                        format!("not ready for {n} simultaneous session(s): {}", f.message),
                        &format!("set `services.{name}.concurrency`, or run with fewer workers"),
                    )
                })?;
                in_use.proven = n;
            }
            continue;
        }
        let in_use = bring_up(active, name, service, needs)?;
        active.in_use.push(in_use);
    }
    Ok(active
        .in_use
        .iter()
        .flat_map(|u| u.exports.iter().cloned())
        .collect())
}

/// The services this task uses, as the run's event stream records them.
pub fn used() -> Vec<crate::events::ServiceUsed> {
    let guard = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    guard.as_ref().map_or_else(Vec::new, |a| {
        a.in_use
            .iter()
            .map(|u| crate::events::ServiceUsed {
                name: u.name.clone(),
                address: format!("{}:{}", u.host, u.port),
                protocol: u.protocol.to_string(),
                started: u.started,
                sessions: u.proven,
                ready: u.ready,
            })
            .collect()
    })
}

/// Whether `name` is a service this task started or adopted (its readiness
/// at the run's concurrency is proven).
pub fn is_up(name: &str) -> bool {
    let guard = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .as_ref()
        .is_some_and(|a| a.in_use.iter().any(|u| u.name == name))
}

fn setup_error(name: &str, message: String, hint: &str) -> anyhow::Error {
    UserError::setup(format!("service `{name}`: {message}"), hint.to_string()).into()
}

fn bring_up(
    active: &mut Active,
    name: &str,
    service: &Service,
    needs: &Needs,
) -> anyhow::Result<InUse> {
    let (host, port) = service
        .address()
        .expect("validated: a service with `start` has `tcp`");
    let protocol = service.protocol();
    let n = service.concurrency(needs.clients);
    let login = PgLogin::of(service);
    let port = match port {
        Port::Fixed(port) => {
            // Someone else's server at the configured address wins.
            let quick = service.timeout().min(Duration::from_secs(2));
            match probe::sessions(&host, port, protocol, &login, n, quick) {
                Ok(summary) => {
                    eprintln!(
                        "service `{name}`: using the server already at {host}:{port} (not started, not stopped): {summary}"
                    );
                    let exports = exports(service, &values(&host, port, needs));
                    return Ok(InUse {
                        name: name.to_string(),
                        exports,
                        host,
                        port,
                        proven: n,
                        protocol: protocol.name(),
                        started: false,
                        ready: 0.0,
                    });
                }
                Err(failure) if failure.refused => port,
                Err(failure) => {
                    return Err(setup_error(
                        name,
                        format!(
                            "port {port} on {host} is taken by something that fails the {} check: {}",
                            protocol.name(),
                            failure.message
                        ),
                        &format!("stop what listens on {host}:{port}, or set `services.{name}.tcp = \"{host}:auto\"`"),
                    ))
                }
            }
        }
        Port::Auto => free_port(&host).map_err(|e| {
            setup_error(
                name,
                format!("cannot find a free port on {host}: {e}"),
                "check the host of `tcp`",
            )
        })?,
    };
    let values = values(&host, port, needs);
    let started = spawn(name, service, &values, needs)?;
    let started_at = Instant::now();
    active.started.push(started);
    let child_index = active.started.len() - 1;
    wait_ready(
        &mut active.started[child_index],
        service,
        (&host, port),
        &login,
        n,
        needs,
    )?;
    eprintln!(
        "service `{name}`: started on {host}:{port} and ready for {n} simultaneous {} session(s) in {:.2}s",
        protocol.name(),
        started_at.elapsed().as_secs_f64()
    );
    Ok(InUse {
        name: name.to_string(),
        exports: exports(service, &values),
        host,
        port,
        proven: n,
        protocol: protocol.name(),
        started: true,
        ready: started_at.elapsed().as_secs_f64(),
    })
}

fn values(host: &str, port: u16, needs: &Needs) -> Vec<(&'static str, String)> {
    let python = needs.python.to_string_lossy().into_owned();
    let venv = needs
        .python
        .parent()
        .and_then(Path::parent)
        .map_or_else(String::new, |v| v.to_string_lossy().into_owned());
    let run = format!("{}-{}", std::process::id(), run_clock());
    let table = [
        ("host", host.to_string()),
        ("port", port.to_string()),
        ("python", python),
        ("venv", venv),
        ("root", needs.root.to_string_lossy().into_owned()),
        ("run", run),
    ];
    debug_assert_eq!(table.len(), PLACEHOLDERS.len());
    table.to_vec()
}

/// Seconds since the epoch, to tell runs of the same process id apart.
fn run_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn exports(service: &Service, values: &[(&str, String)]) -> Vec<(String, String)> {
    service
        .export
        .iter()
        .map(|(k, v)| (k.clone(), fill(v, values)))
        .collect()
}

fn free_port(host: &str) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0))?;
    Ok(listener.local_addr()?.port())
}

fn spawn(
    name: &str,
    service: &Service,
    values: &[(&'static str, String)],
    needs: &Needs,
) -> anyhow::Result<Started> {
    let argv: Vec<String> = service
        .start
        .as_ref()
        .expect("only services with `start` are spawned")
        .value
        .iter()
        .map(|w| fill(w, values))
        .collect();
    std::fs::create_dir_all(needs.log_dir).ok();
    let log_path = needs.log_dir.join(format!("service-{name}.log"));
    let log = File::create(&log_path).map_err(|e| {
        setup_error(
            name,
            format!("cannot write `{}`: {e}", log_path.display()),
            "check the reports directory",
        )
    })?;
    let log_err = log.try_clone()?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(needs.root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own group: a terminal's Ctrl-C does not stop it under the
        // running tests; the xtask stops it after them.
        .process_group(0);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory of the parent; it only asks the kernel to signal this child
    // when the xtask dies without stopping it.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| {
        setup_error(
            name,
            format!("cannot run `start` ({}): {e}", argv[0]),
            &format!("check `services.{name}.start` in testing.toml (is the program installed?)"),
        )
    })?;
    Ok(Started {
        name: name.to_string(),
        child,
        stop: service.stop_signal().map_err(<[String]>::to_vec),
        values: values.to_vec(),
        root: needs.root.to_path_buf(),
    })
}

fn wait_ready(
    started: &mut Started,
    service: &Service,
    (host, port): (&str, u16),
    login: &PgLogin,
    n: usize,
    needs: &Needs,
) -> anyhow::Result<()> {
    let name = started.name.clone();
    let timeout = service.timeout();
    let deadline = Instant::now() + timeout;
    let log = needs.log_dir.join(format!("service-{name}.log"));
    let mut last: Option<String> = None;
    loop {
        if let Ok(Some(status)) = started.child.try_wait() {
            let how = status.code().map_or_else(
                || "was killed by a signal".to_string(),
                |c| format!("exited with status {c}"),
            );
            return Err(setup_error(
                &name,
                format!("`start` {how} before it was ready{}", last_words(&log)),
                &format!("run the `services.{name}.start` command by hand to see why; its output is in `{}`", log.display()),
            ));
        }
        if signals::interrupted() {
            anyhow::bail!("interrupted while `{name}` was starting");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(setup_error(
                &name,
                format!(
                    "not ready within {:.1}s ({} check, {n} simultaneous session(s)): {}",
                    timeout.as_secs_f64(),
                    service.protocol().name(),
                    last.as_deref().unwrap_or("no check completed")
                ),
                &format!(
                    "raise `services.{name}.timeout`, or see the service's output in `{}`",
                    log.display()
                ),
            ));
        }
        let attempt = left.min(Duration::from_secs(2));
        match probe::sessions(host, port, service.protocol(), login, n, attempt) {
            // Ours only if `start` still runs (else another server took the port).
            Ok(_) if matches!(started.child.try_wait(), Ok(None)) => return Ok(()),
            Ok(_) => continue,
            // A short last attempt says less than a full one before it.
            Err(failure) if attempt >= Duration::from_millis(500) || last.is_none() => {
                last = Some(failure.message);
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(50).min(left));
    }
}

/// `: <the last line the service wrote>`, or nothing.
fn last_words(log: &Path) -> String {
    let line = File::open(log)
        .map(|mut f| crate::fsx::last_line(&mut f))
        .unwrap_or_default();
    if line.is_empty() {
        line
    } else {
        format!(": {line}")
    }
}

/// Polls `done` until it holds or `grace` has passed; whether it held.
fn wait_for(grace: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops every service this process started, in reverse order.
pub fn stop_all() {
    let mut guard = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    let Some(active) = guard.take() else { return };
    for mut started in active.started.into_iter().rev() {
        stop(&mut started);
    }
}

fn stop(started: &mut Started) {
    let pgid = started.child.id();
    // `start` may have exited and left its server running in its group.
    if matches!(started.child.try_wait(), Ok(Some(_))) && !signals::group_alive(pgid) {
        return;
    }
    match &started.stop {
        Ok(signal) => {
            signals::kill_group(pgid, *signal);
        }
        Err(argv) => {
            let argv: Vec<String> = argv.iter().map(|w| fill(w, &started.values)).collect();
            let ran = Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(&started.root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn();
            match ran {
                Ok(mut command) => {
                    // The stop command gets the same grace as the service.
                    if !wait_for(STOP_GRACE, || !matches!(command.try_wait(), Ok(None))) {
                        signals::kill_group(command.id(), libc::SIGKILL);
                        command.wait().ok();
                    }
                }
                Err(_) => {
                    signals::kill_group(pgid, libc::SIGTERM);
                }
            }
        }
    }
    let child = &mut started.child;
    if wait_for(STOP_GRACE, || {
        matches!(child.try_wait(), Ok(Some(_))) && !signals::group_alive(pgid)
    }) {
        return;
    }
    eprintln!(
        "service `{}`: did not stop within {}s; killed",
        started.name,
        STOP_GRACE.as_secs()
    );
    signals::kill_group(pgid, libc::SIGKILL);
    started.child.wait().ok();
}
