//! Preflight: before parallel workers hit the shared services in
//! `[services.<name>]`, check that each one is up and serves as many clients
//! at once as there will be workers.
//!
//! A TCP check opens `concurrency` connections together and holds them all
//! open for a short settle window. It fails when a connection is refused,
//! times out, is reset, or is closed while others stay open (the server
//! turned the extra clients away). For servers that speak first (a banner or
//! greeting), every connection must receive one: a server that serves one
//! client at a time leaves the others waiting in its backlog without a word.
//! A server whose protocol has the client speak first cannot be told apart
//! from a busy one at the TCP level; give such services a `command` that
//! does a real round trip (e.g. `cypher-shell "RETURN 1"`), which preflight
//! runs `concurrency` times at once.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{Config, Protocol, Service};
use crate::ctx::Ctx;
use crate::error::UserError;
use crate::workers::Workers;

/// The check before a run: only parallel runs with services configured.
pub fn before_run(ctx: &Ctx, config: &Config, workers: &Workers) -> anyhow::Result<()> {
    if !workers.is_parallel() || config.services.is_empty() {
        return Ok(());
    }
    check(&ctx.root, config, usize::from(workers.count()))
}

/// Checks every configured service (in parallel), as used by `workers`
/// workers; prints one line per ready service and fails with one line
/// naming every service that is not ready. Services this task started were
/// proven ready for the run when they started, and are not checked again.
pub fn check(root: &Path, config: &Config, workers: usize) -> anyhow::Result<()> {
    let results: Vec<(&str, usize, Result<String, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = config
            .services
            .iter()
            .filter(|(name, _)| !crate::services::is_up(name))
            .map(|(name, service)| {
                let n = service.value.concurrency(workers);
                (
                    name.as_str(),
                    n,
                    s.spawn(move || check_service(root, &service.value, n)),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, n, h)| {
                let result = h
                    .join()
                    .unwrap_or_else(|_| Err("the check panicked".to_string()));
                (name, n, result)
            })
            .collect()
    });
    let mut failures = Vec::new();
    for (name, n, result) in &results {
        match result {
            Ok(summary) => eprintln!("preflight: `{name}` ready: {summary}"),
            Err(why) => failures.push((*name, *n, why.as_str())),
        }
    }
    let Some(&(first, n, _)) = failures.first() else {
        return Ok(());
    };
    let message = if failures.len() == 1 {
        format!("service `{first}` is not ready: {}", failures[0].2)
    } else {
        let list: Vec<String> = failures
            .iter()
            .map(|(name, _, why)| format!("`{name}`: {why}"))
            .collect();
        format!("services are not ready: {}", list.join("; "))
    };
    let explicit = config
        .services
        .get(first)
        .is_some_and(|s| s.value.concurrency.is_some());
    let why_n = if explicit {
        format!("`services.{first}.concurrency = {n}`")
    } else {
        format!("the run uses {n} worker(s); set `services.{first}.concurrency` to change that")
    };
    Err(UserError::setup(
        message,
        format!(
            "start the service or fix `[services.{first}]` in testing.toml, then rerun (preflight checked {n} client(s) at once: {why_n})"
        ),
    )
    .into())
}

/// One service: the TCP check, then the command check.
fn check_service(root: &Path, service: &Service, n: usize) -> Result<String, String> {
    let started = Instant::now();
    let timeout = service.timeout();
    let mut parts = Vec::new();
    if let Some((host, port)) = service.tcp_addr() {
        parts.push(match service.protocol() {
            Protocol::Tcp => check_tcp(&host, port, n, timeout)?,
            protocol => {
                let login = crate::probe::PgLogin::of(service);
                crate::probe::sessions(&host, port, protocol, &login, n, timeout)
                    .map_err(|f| f.message)?
            }
        });
    }
    if let Some(command) = &service.command {
        let left = timeout.saturating_sub(started.elapsed());
        parts.push(check_command(root, &command.value, n, left)?);
    }
    Ok(format!(
        "{} ({:.2}s)",
        parts.join(", "),
        started.elapsed().as_secs_f64()
    ))
}

/// What one held-open connection did during the settle window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    Open { greeted: bool },
    Closed { greeted: bool },
    Reset,
}

/// Opens `n` connections to `host:port` at once and checks that the server
/// keeps serving all of them.
pub fn check_tcp(host: &str, port: u16, n: usize, timeout: Duration) -> Result<String, String> {
    let started = Instant::now();
    let deadline = started + timeout;
    let target = format!("{host}:{port}");
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("`{host}` resolves to no address"));
    }

    let connected: Vec<Result<TcpStream, std::io::Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| s.spawn(|| crate::probe::connect(&addrs, deadline)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("connect thread panicked")))
            })
            .collect()
    });
    let ok = connected.iter().filter(|c| c.is_ok()).count();
    if let Some(err) = connected.iter().find_map(|c| c.as_ref().err()) {
        let what = match err.kind() {
            ErrorKind::ConnectionRefused => {
                format!("nothing is listening on {target} (connection refused)")
            }
            ErrorKind::TimedOut | ErrorKind::WouldBlock => format!(
                "connecting to {target} timed out after {:.1}s",
                timeout.as_secs_f64()
            ),
            _ => format!("cannot connect to {target}: {err}"),
        };
        return Err(if ok > 0 {
            format!("{target} accepted {ok} of {n} simultaneous connections, then: {what}")
        } else {
            what
        });
    }
    let mut streams: Vec<TcpStream> = connected.into_iter().flatten().collect();
    for s in &streams {
        s.set_nonblocking(true)
            .map_err(|e| format!("cannot poll a connection to {target}: {e}"))?;
    }

    // Hold every connection open through the settle window.
    let settle = (timeout / 10).clamp(Duration::from_millis(100), Duration::from_millis(500));
    let window_end = (Instant::now() + settle).min(deadline);
    let mut states = vec![Conn::Open { greeted: false }; streams.len()];
    let mut buf = [0u8; 512];
    loop {
        for (stream, state) in streams.iter_mut().zip(states.iter_mut()) {
            *state = poll(stream, *state, &mut buf);
        }
        let now = Instant::now();
        let open = states
            .iter()
            .filter(|s| matches!(s, Conn::Open { .. }))
            .count();
        let greeted = states
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    Conn::Open { greeted: true } | Conn::Closed { greeted: true }
                )
            })
            .count();
        // Past the window, keep waiting only while some were greeted and others not.
        let waiting_for_greetings = greeted > 0 && greeted < n && open > 0;
        if now >= deadline || (now >= window_end && !waiting_for_greetings) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(streams);

    let count = |f: fn(&Conn) -> bool| states.iter().filter(|s| f(s)).count();
    let reset = count(|s| *s == Conn::Reset);
    let closed = count(|s| matches!(s, Conn::Closed { .. }));
    let open = count(|s| matches!(s, Conn::Open { .. }));
    let greeted = count(|s| {
        matches!(
            s,
            Conn::Open { greeted: true } | Conn::Closed { greeted: true }
        )
    });
    let window_ms = settle.as_millis();
    if reset > 0 {
        return Err(format!(
            "{target} reset {reset} of {n} simultaneous connections within {window_ms}ms: it does not serve {n} clients at once"
        ));
    }
    if closed > 0 && open > 0 {
        return Err(format!(
            "{target} closed {closed} of {n} simultaneous connections within {window_ms}ms: it does not serve {n} clients at once"
        ));
    }
    if closed == n && greeted < n {
        return Err(format!(
            "{target} closed {} connection(s) without a reply within {window_ms}ms: it is not serving",
            n - greeted
        ));
    }
    if greeted > 0 && greeted < n {
        return Err(format!(
            "{target} greeted only {greeted} of {n} simultaneous connections within {:.1}s: it serves fewer than {n} clients at once",
            timeout.as_secs_f64()
        ));
    }
    let how = if greeted == n { ", each greeted" } else { "" };
    Ok(format!(
        "{n} simultaneous connection(s) to {target} held {window_ms}ms{how}"
    ))
}

/// Reads whatever arrived on a non-blocking connection and updates its state.
fn poll(stream: &mut TcpStream, state: Conn, buf: &mut [u8]) -> Conn {
    let Conn::Open { mut greeted } = state else {
        return state;
    };
    loop {
        match stream.read(buf) {
            Ok(0) => return Conn::Closed { greeted },
            Ok(_) => greeted = true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Conn::Open { greeted },
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Conn::Reset,
        }
    }
}

/// Runs `argv` `n` times at once in `root`; all must exit 0 within `timeout`.
pub fn check_command(
    root: &Path,
    argv: &[String],
    n: usize,
    timeout: Duration,
) -> Result<String, String> {
    let shown = shell_words(argv);
    let deadline = Instant::now() + timeout;
    let mut children: Vec<(Child, std::fs::File)> = Vec::with_capacity(n);
    let mut spawn_error = None;
    for _ in 0..n {
        let stderr = match tempfile::tempfile() {
            Ok(f) => f,
            Err(e) => {
                spawn_error = Some(format!("cannot capture the output of `{shown}`: {e}"));
                break;
            }
        };
        let sink = match stderr.try_clone() {
            Ok(f) => f,
            Err(e) => {
                spawn_error = Some(format!("cannot capture the output of `{shown}`: {e}"));
                break;
            }
        };
        let spawned = Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(sink)
            // Its own process group, so a timeout kills what it started too.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(child) => children.push((child, stderr)),
            Err(e) => {
                spawn_error = Some(if e.kind() == ErrorKind::NotFound {
                    format!(
                        "cannot run `{shown}`: `{}` was not found (is it installed and on PATH?)",
                        argv[0]
                    )
                } else {
                    format!("cannot run `{shown}`: {e}")
                });
                break;
            }
        }
    }
    if let Some(err) = spawn_error {
        for (child, _) in &mut children {
            kill_group(child);
        }
        return Err(err);
    }

    let mut statuses = vec![None; children.len()];
    loop {
        for (i, (child, _)) in children.iter_mut().enumerate() {
            if statuses[i].is_none() {
                if let Ok(Some(status)) = child.try_wait() {
                    statuses[i] = Some(status);
                }
            }
        }
        let failed = statuses.iter().flatten().any(|s| !s.success());
        if failed || statuses.iter().all(Option::is_some) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let running = statuses.iter().filter(|s| s.is_none()).count();
    for (i, (child, _)) in children.iter_mut().enumerate() {
        if statuses[i].is_none() {
            kill_group(child);
        }
    }
    if let Some(i) = statuses
        .iter()
        .position(|s| s.is_some_and(|s| !s.success()))
    {
        let status = statuses[i].expect("position found a status");
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        let failed = statuses.iter().flatten().filter(|s| !s.success()).count();
        let said = crate::fsx::last_line(&mut children[i].1);
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        return Err(format!(
            "`{shown}` {how} ({failed} of {n} simultaneous runs failed){said}"
        ));
    }
    if running > 0 {
        return Err(format!(
            "`{shown}` did not finish within {:.1}s ({running} of {n} simultaneous runs still running; stopped)",
            timeout.as_secs_f64()
        ));
    }
    Ok(format!("{n} simultaneous run(s) of `{shown}` passed"))
}

/// Kills a child's whole process group and reaps the child.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads (it was spawned with process_group(0)); no memory involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    child.kill().ok();
    child.wait().ok();
}

/// `argv` as a shell would show it (quoted where needed).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
