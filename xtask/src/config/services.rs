//! `[services.<name>]`: shared services the tests use (a Neo4j server, a
//! database), how preflight checks them, and what a CI workflow needs to run
//! each one as a GitHub Actions service container.
//!
//! ```toml
//! [services.neo4j]
//! tcp = "localhost:7687"                  # open `concurrency` connections at once
//! command = ["cypher-shell", "RETURN 1"]  # and/or run this `concurrency` times at once
//! concurrency = 2                         # default: the run's worker count
//! timeout = 5                             # seconds
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Service {
    /// `host:port` to connect to.
    pub tcp: Option<Setting<String>>,
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
    /// The address to connect to (valid after [`validate`]).
    pub fn tcp_addr(&self) -> Option<(String, u16)> {
        self.tcp
            .as_ref()
            .and_then(|t| parse_host_port(&t.value).ok())
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
        if service.tcp.is_none() && service.command.is_none() {
            return Err(err(
                &service.span,
                format!("`[{key}]` has nothing to check"),
                "add `tcp = \"host:port\"` and/or `command = [\"program\", \"arg\", ...]`",
            ));
        }
        if let Some(tcp) = &service.tcp {
            if let Err(why) = parse_host_port(&tcp.value) {
                return Err(err(
                    &tcp.span,
                    format!("`{key}.tcp = \"{}\"`: {why}", tcp.value),
                    "write it as \"host:port\", e.g. \"localhost:7687\"",
                ));
            }
        }
        if let Some(command) = &service.command {
            if command.value.first().is_none_or(|p| p.trim().is_empty()) {
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
    fn port_mappings() {
        assert!(is_port_mapping("7687:7687"));
        assert!(!is_port_mapping("7687"));
        assert!(!is_port_mapping("a:1"));
        assert!(!is_port_mapping("0:1"));
    }
}
