//! `[services.<name>]`: shared services the tests use (a graph database, a
//! SQL database), how the xtask starts, checks and stops them, and what a CI
//! workflow needs to run one as a GitHub Actions service container.
//!
//! ```toml
//! [services.graph]
//! tcp = "127.0.0.1:auto"                  # `auto`: a free port each run (needs `start`)
//! ready = "resp"                          # the protocol check: tcp, resp, bolt, postgres
//! start = ["{python}", "-m", "sbir_etl.graph_server", "--port", "{port}"]
//! stop = "SIGTERM"                        # a signal, or a command
//! export = { SBIR_GRAPH_URL = "redis://{host}:{port}" }
//! concurrency = 2                         # default: the run's worker count
//! timeout = 20                            # seconds
//!
//! [services.neo4j]
//! tcp = "localhost:7687"                  # a server the xtask does not start
//! ready = "bolt"
//! command = ["cypher-shell", "RETURN 1"]  # and/or run this `concurrency` times at once
//! image = "neo4j:5"                       # for the CI service container
//! ports = ["7687:7687"]
//! env = { NEO4J_AUTH = "neo4j/secret" }
//! health-cmd = "cypher-shell 'RETURN 1'"
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::UserError;

use super::setting::Setting;
use super::span::config_error;
use super::MAX_WORKERS;

/// Every `[services.<name>]` table, by name.
pub type Services = BTreeMap<String, Setting<Service>>;

/// The preflight timeout when `timeout` is not set, in seconds.
pub const DEFAULT_TIMEOUT: f64 = 5.0;

/// The placeholders `start`, `stop` and `export` may use.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("host", "the host of `tcp`"),
    (
        "port",
        "the port of `tcp` (the free port chosen for `auto`)",
    ),
    ("python", "the virtual environment's interpreter"),
    ("venv", "the virtual environment's directory"),
    ("root", "the project root"),
    ("run", "a token unique to this run of the xtask"),
];

/// The protocol-level check of a service: what "ready" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Connections held open (and any greeting read): the transport only.
    Tcp,
    /// RESP `PING` → `+PONG` (Redis, FalkorDB, Valkey).
    Resp,
    /// The Bolt handshake: a version both sides speak (Neo4j, Memgraph).
    Bolt,
    /// The PostgreSQL startup exchange, up to `ReadyForQuery` or an authentication request.
    Postgres,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Resp => "resp",
            Protocol::Bolt => "bolt",
            Protocol::Postgres => "postgres",
        }
    }
}

/// How a started service is stopped: a signal to its process group, or a command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StopSetting {
    Signal(String),
    Command(Vec<String>),
}

/// The signals `stop` may name.
pub const STOP_SIGNALS: &[(&str, i32)] = &[
    ("SIGTERM", libc::SIGTERM),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGHUP", libc::SIGHUP),
    ("SIGKILL", libc::SIGKILL),
];

/// The port of `tcp`: fixed, or chosen free for each run (`auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Fixed(u16),
    Auto,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Service {
    /// `host:port` to connect to (`host:auto` with `start`).
    pub tcp: Option<Setting<String>>,
    /// The protocol-level check (default `tcp`).
    pub ready: Option<Setting<Protocol>>,
    /// The command that runs the service in the foreground, with placeholders.
    pub start: Option<Setting<Vec<String>>>,
    /// How a started service is stopped (default: SIGTERM, then SIGKILL after 5 s).
    pub stop: Option<Setting<StopSetting>>,
    /// Environment variables the tests get, with placeholders.
    #[serde(default)]
    pub export: BTreeMap<String, String>,
    /// The user of the PostgreSQL startup exchange (default `postgres`).
    pub user: Option<Setting<String>>,
    /// The database of the PostgreSQL startup exchange (default: the user).
    pub database: Option<Setting<String>>,
    /// A health command (program and arguments) that exits 0 when the service is ready.
    pub command: Option<Setting<Vec<String>>>,
    /// Simultaneous connections or commands; default: the worker count.
    pub concurrency: Option<Setting<i64>>,
    /// Seconds the whole check may take.
    #[serde(default = "default_timeout")]
    pub timeout: Setting<f64>,
    /// The container image CI runs the service from.
    pub image: Option<Setting<String>>,
    /// `host:container` port mappings of the service container.
    #[serde(default)]
    pub ports: Vec<Setting<String>>,
    /// Environment of the service container.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The container's health command (run by Docker, not by preflight).
    pub health_cmd: Option<Setting<String>>,
}

fn default_timeout() -> Setting<f64> {
    Setting::new(DEFAULT_TIMEOUT)
}

impl Service {
    /// The address to connect to (valid after [`validate`]); `None` for `auto`.
    pub fn tcp_addr(&self) -> Option<(String, u16)> {
        match self.address()? {
            (host, Port::Fixed(port)) => Some((host, port)),
            (_, Port::Auto) => None,
        }
    }

    /// The host and port of `tcp` (valid after [`validate`]).
    pub fn address(&self) -> Option<(String, Port)> {
        let text = &self.tcp.as_ref()?.value;
        if let Some(host) = text.strip_suffix(":auto") {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            return Some((host.to_string(), Port::Auto));
        }
        parse_host_port(text)
            .ok()
            .map(|(host, port)| (host, Port::Fixed(port)))
    }

    pub fn protocol(&self) -> Protocol {
        self.ready.as_ref().map_or(Protocol::Tcp, |r| r.value)
    }

    /// The signal that stops a started service, or the command to run.
    pub fn stop_signal(&self) -> Result<i32, &[String]> {
        match self.stop.as_ref().map(|s| &s.value) {
            None => Ok(libc::SIGTERM),
            Some(StopSetting::Command(argv)) => Err(argv),
            Some(StopSetting::Signal(name)) => Ok(signal_number(name).unwrap_or(libc::SIGTERM)),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.value)
    }

    /// Connections or commands at once, for a run with `workers` workers.
    pub fn concurrency(&self, workers: usize) -> usize {
        self.concurrency
            .as_ref()
            .map_or(workers, |c| c.value as usize)
            .max(1)
    }
}

fn signal_number(name: &str) -> Option<i32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    STOP_SIGNALS
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, s)| *s)
}

/// The `{placeholder}` names in `text` that are not in [`PLACEHOLDERS`].
pub fn unknown_placeholders(text: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
            unknown.push(name.to_string());
        }
        rest = &after[close + 1..];
    }
    unknown
}

/// `text` with every `{placeholder}` replaced by its value in `values`.
pub fn fill(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_string(), |acc, (name, value)| {
        acc.replace(&format!("{{{name}}}"), value)
    })
}

/// Whether a command line lacks a program to run.
fn has_no_program(argv: &[String]) -> bool {
    argv.first().is_none_or(|p| p.trim().is_empty())
}

/// `host:port`, `[v6]:port`; the port from 1 to 65535.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs a closing `]`")?;
        let port = tail
            .strip_prefix(':')
            .ok_or("expected `:port` after the address")?;
        (host, port)
    } else {
        text.rsplit_once(':').ok_or("expected `host:port`")?
    };
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.contains(':') && !text.starts_with('[') {
        return Err("write an IPv6 address in brackets, e.g. `[::1]:7687`".into());
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{port}` is not a port from 1 to 65535"))?;
    Ok((host.to_string(), port))
}

/// Whether `text` is a `host:container` port mapping.
fn is_port_mapping(text: &str) -> bool {
    let port = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    text.split_once(':')
        .is_some_and(|(host, container)| port(host) && port(container))
}

/// Checks every service, each error pointing at the offending value.
pub fn validate(services: &Services, path: &Path, source: &str) -> Result<(), UserError> {
    let err = |span: &Option<std::ops::Range<usize>>, message: String, hint: &str| {
        config_error(path, source, span.clone(), message, Some(hint.to_string()))
    };
    for (name, service) in services {
        let key = format!("services.{name}");
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(err(
                &service.span,
                format!("`[{key}]`: `{name}` is not a valid service name"),
                "use letters, digits, `-` and `_`, starting with a letter (CI uses it as the service container's id)",
            ));
        }
        validate_lifecycle(&key, service, &err)?;
        if service.tcp.is_none() && service.command.is_none() {
            return Err(err(
                &service.span,
                format!("`[{key}]` has nothing to check"),
                "add `tcp = \"host:port\"` and/or `command = [\"program\", \"arg\", ...]`",
            ));
        }
        if let Some(tcp) = &service.tcp {
            if tcp.value.ends_with(":auto") {
                if service.start.is_none() {
                    return Err(err(
                        &tcp.span,
                        format!("`{key}.tcp = \"{}\"`: `auto` needs `start`", tcp.value),
                        "give the port of the server you run, or a `start` command the xtask runs on a free port",
                    ));
                }
            } else if let Err(why) = parse_host_port(&tcp.value) {
                return Err(err(
                    &tcp.span,
                    format!("`{key}.tcp = \"{}\"`: {why}", tcp.value),
                    "write it as \"host:port\", e.g. \"localhost:7687\"",
                ));
            }
        }
        if let Some(command) = &service.command {
            if has_no_program(&command.value) {
                return Err(err(
                    &command.span,
                    format!("`{key}.command` has no program"),
                    "give the program and its arguments, e.g. [\"cypher-shell\", \"RETURN 1\"]",
                ));
            }
        }
        if let Some(concurrency) = &service.concurrency {
            if !(1..=MAX_WORKERS).contains(&concurrency.value) {
                return Err(err(
                    &concurrency.span,
                    format!("`{key}.concurrency = {}` is out of range", concurrency.value),
                    &format!("use a whole number from 1 to {MAX_WORKERS}, or remove it to use the worker count"),
                ));
            }
        }
        let timeout = service.timeout.value;
        if !(timeout > 0.0 && timeout <= 3600.0) {
            return Err(err(
                &service.timeout.span,
                format!("`{key}.timeout = {timeout}` is out of range"),
                "use a number of seconds above 0 and at most 3600",
            ));
        }
        if let Some(image) = &service.image {
            if image.value.trim().is_empty() {
                return Err(err(
                    &image.span,
                    format!("`{key}.image` is empty"),
                    "name a container image, e.g. \"neo4j:5\", or remove the key",
                ));
            }
        }
        for port in &service.ports {
            if !is_port_mapping(&port.value) {
                return Err(err(
                    &port.span,
                    format!("`{key}.ports`: `{}` is not a port mapping", port.value),
                    "write \"host:container\" with ports from 1 to 65535, e.g. \"7687:7687\"",
                ));
            }
        }
        if let Some(var) = service
            .env
            .keys()
            .find(|k| k.is_empty() || k.contains(['=', '\0']))
        {
            return Err(err(
                &service.span,
                format!("`{key}.env`: `{var}` is not an environment variable name"),
                "use names without `=`, e.g. NEO4J_AUTH",
            ));
        }
        if let Some(health) = &service.health_cmd {
            if health.value.trim().is_empty() {
                return Err(err(
                    &health.span,
                    format!("`{key}.health-cmd` is empty"),
                    "give the command Docker runs to check the container, or remove the key",
                ));
            }
        }
    }
    Ok(())
}

type ErrFn<'a> = dyn Fn(&Option<std::ops::Range<usize>>, String, &str) -> UserError + 'a;

/// `ready`, `start`, `stop` and `export`.
fn validate_lifecycle(key: &str, service: &Setting<Service>, err: &ErrFn) -> Result<(), UserError> {
    let known = || {
        PLACEHOLDERS
            .iter()
            .map(|(p, _)| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let check_placeholders =
        |span: &Option<std::ops::Range<usize>>, what: &str, text: &str| match unknown_placeholders(
            text,
        )
        .first()
        {
            Some(name) => Err(err(
                span,
                format!("`{key}.{what}`: unknown placeholder `{{{name}}}`"),
                &format!("use one of {}", known()),
            )),
            None => Ok(()),
        };
    if let Some(ready) = &service.ready {
        if service.tcp.is_none() {
            return Err(err(
                &ready.span,
                format!(
                    "`{key}.ready = \"{}\"` has no address to check",
                    ready.value.name()
                ),
                "add `tcp = \"host:port\"`",
            ));
        }
    }
    if let Some(start) = &service.start {
        if has_no_program(&start.value) {
            return Err(err(
                &start.span,
                format!("`{key}.start` has no program"),
                "give the program and its arguments, e.g. [\"redis-server\", \"--port\", \"{port}\"]",
            ));
        }
        if service.tcp.is_none() {
            return Err(err(
                &start.span,
                format!("`{key}.start` needs the address the service listens on"),
                "add `tcp = \"127.0.0.1:auto\"` (a free port each run, passed as {port}) or a fixed `host:port`",
            ));
        }
        for word in &start.value {
            check_placeholders(&start.span, "start", word)?;
        }
    }
    if let Some(stop) = &service.stop {
        if service.start.is_none() {
            return Err(err(
                &stop.span,
                format!("`{key}.stop` without `start`"),
                "the xtask stops only what it started: add `start`, or remove `stop`",
            ));
        }
        match &stop.value {
            StopSetting::Signal(name) if signal_number(name).is_none() => {
                let names: Vec<&str> = STOP_SIGNALS.iter().map(|(n, _)| *n).collect();
                return Err(err(
                    &stop.span,
                    format!("`{key}.stop = \"{name}\"` is not a signal the xtask sends"),
                    &format!("use one of {}, or a command as a list", names.join(", ")),
                ));
            }
            StopSetting::Command(argv) => {
                if has_no_program(argv) {
                    return Err(err(
                        &stop.span,
                        format!("`{key}.stop` has no program"),
                        "give a signal name (\"SIGTERM\") or the program and its arguments",
                    ));
                }
                for word in argv {
                    check_placeholders(&stop.span, "stop", word)?;
                }
            }
            StopSetting::Signal(_) => {}
        }
    }
    if !service.export.is_empty() && service.start.is_none() {
        return Err(err(
            &service.span,
            format!("`{key}.export` without `start`"),
            "the xtask exports the address of a service it starts: add `start`, or set the variables yourself",
        ));
    }
    if let (Some(image), Some(_)) = (&service.image, &service.start) {
        return Err(err(
            &image.span,
            format!("`{key}` has both `image` and `start`"),
            "choose one: `start` runs the service here and in CI; `image` runs it as a CI service container",
        ));
    }
    for (var, value) in &service.export {
        if var.is_empty() || var.contains(['=', '\0']) {
            return Err(err(
                &service.span,
                format!("`{key}.export`: `{var}` is not an environment variable name"),
                "use names without `=`, e.g. GRAPH_URL",
            ));
        }
        check_placeholders(&service.span, &format!("export.{var}"), value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert_eq!(
            parse_host_port("localhost:7687"),
            Ok(("localhost".into(), 7687))
        );
        assert_eq!(parse_host_port("[::1]:5432"), Ok(("::1".into(), 5432)));
        assert!(parse_host_port("localhost").is_err());
        assert!(parse_host_port(":80").is_err());
        assert!(parse_host_port("h:0").is_err());
        assert!(parse_host_port("h:70000").is_err());
        assert!(parse_host_port("::1:80").is_err());
    }

    #[test]
    fn placeholders() {
        assert_eq!(unknown_placeholders("{port} {host}"), Vec::<String>::new());
        assert_eq!(unknown_placeholders("x{prot}y{"), vec!["prot".to_string()]);
        let filled = fill(
            "redis://{host}:{port}",
            &[("host", "h".into()), ("port", "1".into())],
        );
        assert_eq!(filled, "redis://h:1");
    }

    #[test]
    fn signals() {
        assert_eq!(signal_number("term"), Some(libc::SIGTERM));
        assert_eq!(signal_number("SIGINT"), Some(libc::SIGINT));
        assert_eq!(signal_number("SIGFOO"), None);
    }

    #[test]
    fn port_mappings() {
        assert!(is_port_mapping("7687:7687"));
        assert!(!is_port_mapping("7687"));
        assert!(!is_port_mapping("a:1"));
        assert!(!is_port_mapping("0:1"));
    }
}
