//! Protocol probes: `n` client sessions opened at once, each completing a
//! real exchange of the service's own protocol while all stay open.
//!
//! A server that serves one client at a time accepts the other connections
//! into its backlog but never answers them, so "connected" proves nothing;
//! an answer on every session does. What each probe sends and accepts:
//!
//! - RESP (Redis, FalkorDB): `PING` → `+PONG`.
//! - Bolt (Neo4j, Memgraph): the magic `60 60 B0 17` and four version
//!   proposals → a 4-byte version other than `00 00 00 00`.
//! - PostgreSQL: a protocol 3.0 StartupMessage → `ReadyForQuery`, or a
//!   request for credentials; an `ErrorResponse` is the server's refusal
//!   (e.g. too many clients) and fails.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::Protocol;

/// The Bolt preamble and the versions offered: 5.0–5.4, 4.4, 4.0–4.3, 3.0.
pub const BOLT_HANDSHAKE: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, // magic
    0x00, 0x04, 0x04, 0x05, // 5.4 down to 5.0
    0x00, 0x00, 0x04, 0x04, // 4.4
    0x00, 0x03, 0x03, 0x04, // 4.3 down to 4.0
    0x00, 0x00, 0x00, 0x03, // 3.0
];

/// The PostgreSQL session a startup exchange asks for.
#[derive(Debug, Clone)]
pub struct PgLogin {
    pub user: String,
    pub database: String,
}

impl PgLogin {
    /// A service's `user` (default `postgres`) and `database` (default: the user).
    pub fn of(service: &crate::config::Service) -> PgLogin {
        let user = service
            .user
            .as_ref()
            .map_or_else(|| "postgres".to_string(), |u| u.value.clone());
        let database = service
            .database
            .as_ref()
            .map_or_else(|| user.clone(), |d| d.value.clone());
        PgLogin { user, database }
    }
}

/// Opens `n` sessions to `host:port` at once and completes `protocol`'s
/// exchange on each; the summary on success, what went wrong otherwise.
pub fn sessions(
    host: &str,
    port: u16,
    protocol: Protocol,
    login: &PgLogin,
    n: usize,
    timeout: Duration,
) -> Result<String, Failure> {
    let deadline = Instant::now() + timeout;
    let target = format!("{host}:{port}");
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Failure::other(format!("cannot resolve `{host}`: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Failure::other(format!("`{host}` resolves to no address")));
    }
    // Every session stays open until all are done: the streams come back.
    let results: Vec<Session> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| s.spawn(|| session(&addrs, protocol, login, deadline)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Session::Failed(None, "the probe thread panicked".into()))
            })
            .collect()
    });
    if protocol == Protocol::Postgres {
        // Only now that every session was open at once: Terminate, politely.
        for mut stream in results.iter().filter_map(Session::stream) {
            stream.write_all(b"X\0\0\0\x04").ok();
        }
    }
    let refused = results
        .iter()
        .filter(|s| matches!(s, Session::Refused))
        .count();
    let failed: Vec<&str> = results
        .iter()
        .filter_map(|s| match s {
            Session::Answered(_) => None,
            Session::Refused => Some("connection refused"),
            Session::Failed(_, why) => Some(why.as_str()),
        })
        .collect();
    let name = protocol.name();
    match failed.first() {
        None => Ok(format!(
            "{n} simultaneous {name} session(s) on {target} answered"
        )),
        Some(_) if refused == n => Err(Failure {
            refused: true,
            message: format!("nothing is listening on {target} (connection refused)"),
        }),
        Some(first) => {
            let ok = n - failed.len();
            let message = if ok > 0 {
                format!(
                    "{target} served {ok} of {n} simultaneous {name} sessions; the others: {first}"
                )
            } else {
                format!("{target}: {first} ({name} check, {n} simultaneous session(s))")
            };
            Err(Failure::other(message))
        }
    }
}

/// Why a probe failed; `refused` when nothing listens at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub refused: bool,
    pub message: String,
}

impl Failure {
    fn other(message: String) -> Failure {
        Failure {
            refused: false,
            message,
        }
    }
}

/// One session of a probe; its connection, if any, held until the probe ends.
enum Session {
    Answered(TcpStream),
    Refused,
    Failed(Option<TcpStream>, String),
}

impl Session {
    fn stream(&self) -> Option<&TcpStream> {
        match self {
            Session::Answered(stream) | Session::Failed(Some(stream), _) => Some(stream),
            Session::Refused | Session::Failed(None, _) => None,
        }
    }
}

fn session(
    addrs: &[SocketAddr],
    protocol: Protocol,
    login: &PgLogin,
    deadline: Instant,
) -> Session {
    let mut stream = match connect(addrs, deadline) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Session::Refused,
        Err(e) => return Session::Failed(None, format!("cannot connect: {e}")),
    };
    match exchange(&mut stream, protocol, login, deadline) {
        Ok(()) => Session::Answered(stream),
        Err(why) => Session::Failed(Some(stream), why),
    }
}

/// Connects to the first address that accepts, before `deadline`.
pub fn connect(addrs: &[SocketAddr], deadline: Instant) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(ErrorKind::TimedOut, "timed out");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "timed out"));
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One exchange on an open connection.
pub fn exchange(
    stream: &mut TcpStream,
    protocol: Protocol,
    login: &PgLogin,
    deadline: Instant,
) -> Result<(), String> {
    match protocol {
        Protocol::Tcp => Ok(()),
        Protocol::Resp => {
            send(stream, b"*1\r\n$4\r\nPING\r\n")?;
            let reply = read_until(stream, deadline, |b| b.ends_with(b"\r\n"))?;
            check_resp(&reply)
        }
        Protocol::Bolt => {
            send(stream, &BOLT_HANDSHAKE)?;
            let reply = read_until(stream, deadline, |b| b.len() >= 4)?;
            check_bolt(&reply)
        }
        Protocol::Postgres => {
            send(stream, &startup_message(login))?;
            let reply = read_until(stream, deadline, |b| postgres_outcome(b).is_some())?;
            postgres_outcome(&reply).expect("read until decided")
        }
    }
}

fn send(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), String> {
    stream
        .write_all(bytes)
        .map_err(|e| format!("cannot send: {e}"))
}

/// Reads until `done(bytes so far)` or the deadline.
fn read_until(
    stream: &mut TcpStream,
    deadline: Instant,
    done: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if got.is_empty() {
                "no reply before the timeout".into()
            } else {
                format!("an incomplete reply before the timeout: {}", shown(&got))
            });
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("cannot wait for a reply: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => {
                return Err(if got.is_empty() {
                    "closed without a reply".into()
                } else {
                    format!("closed after an incomplete reply: {}", shown(&got))
                })
            }
            Ok(k) => {
                got.extend_from_slice(&buf[..k]);
                if done(&got) {
                    return Ok(got);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("the connection failed: {e}")),
        }
    }
}

/// A reply, printable: text where it is text, hex otherwise.
fn shown(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(60)];
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\r' || *b == b'\n')
    {
        format!("{:?}", String::from_utf8_lossy(head).trim_end())
    } else {
        head.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A RESP reply to `PING`.
pub fn check_resp(reply: &[u8]) -> Result<(), String> {
    if reply.starts_with(b"+PONG\r\n") {
        Ok(())
    } else if let Some(error) = reply.strip_prefix(b"-") {
        Err(format!(
            "answered PING with an error: {}",
            String::from_utf8_lossy(error).trim_end()
        ))
    } else {
        Err(format!("answered PING with {} (not RESP)", shown(reply)))
    }
}

/// A Bolt server's answer to the handshake: the version it chose.
pub fn check_bolt(reply: &[u8]) -> Result<(), String> {
    match reply {
        [0, 0, 0, 0, ..] => Err("speaks Bolt but none of the offered versions (3.0–5.4)".into()),
        [0, _, _, 1..=5, ..] => Ok(()),
        _ => Err(format!(
            "answered the Bolt handshake with {} (not Bolt)",
            shown(reply)
        )),
    }
}

/// A protocol 3.0 StartupMessage for `login`.
pub fn startup_message(login: &PgLogin) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608_u32.to_be_bytes());
    for (key, value) in [("user", &login.user), ("database", &login.database)] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend(body);
    message
}

/// The outcome of the backend messages in `bytes` after a StartupMessage,
/// or `None` while more must be read: `ReadyForQuery` (the session is open)
/// or an authentication request other than "ok" (the server asks for
/// credentials) succeed; an `ErrorResponse` (e.g. too many clients) fails.
pub fn postgres_outcome(bytes: &[u8]) -> Option<Result<(), String>> {
    let mut rest = bytes;
    loop {
        if rest.len() < 5 {
            return None;
        }
        let kind = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if !(4..=1 << 20).contains(&len) || !b"RSKNZE".contains(&kind) {
            return Some(Err(format!(
                "answered the startup message with {} (not PostgreSQL)",
                shown(bytes)
            )));
        }
        if rest.len() < len + 1 {
            return None;
        }
        let body = &rest[5..=len];
        match kind {
            b'Z' => return Some(Ok(())),
            b'R' if body.len() >= 4 && body[..4] != [0, 0, 0, 0] => return Some(Ok(())),
            b'E' => {
                // Fields: a type byte and a C string each; `M` is the message.
                let message = body
                    .split(|b| *b == 0)
                    .find_map(|field| field.strip_prefix(b"M"))
                    .map_or_else(
                        || "no message".into(),
                        |m| String::from_utf8_lossy(m).into_owned(),
                    );
                return Some(Err(format!("refused the session: {message}")));
            }
            _ => rest = &rest[len + 1..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_replies() {
        assert!(check_resp(b"+PONG\r\n").is_ok());
        assert!(check_resp(b"-NOAUTH Authentication required.\r\n")
            .unwrap_err()
            .contains("NOAUTH"));
        assert!(check_resp(b"HTTP/1.1 400\r\n")
            .unwrap_err()
            .contains("not RESP"));
    }

    #[test]
    fn postgres_startup_message_layout() {
        let login = PgLogin {
            user: "u".into(),
            database: "d".into(),
        };
        let message = startup_message(&login);
        assert_eq!(&message[..4], &(message.len() as u32).to_be_bytes());
        assert_eq!(&message[4..8], &[0, 3, 0, 0]);
        assert_eq!(&message[8..], b"user\0u\0database\0d\0\0");
    }

    #[test]
    fn postgres_replies() {
        let ok = b"R\0\0\0\x08\0\0\0\0";
        // AuthenticationOk alone: the session is not open yet.
        assert_eq!(postgres_outcome(ok), None);
        let ready = [&ok[..], b"Z\0\0\0\x05I"].concat();
        assert_eq!(postgres_outcome(&ready), Some(Ok(())));
        // A password request: the server speaks, and wants credentials.
        assert_eq!(postgres_outcome(b"R\0\0\0\x08\0\0\0\x03"), Some(Ok(())));
        // AuthenticationOk, then a FATAL "too many clients" ErrorResponse.
        let mut error = b"E\0\0\0\0SFATAL\0C53300\0Msorry, too many clients already\0\0".to_vec();
        let len = (error.len() - 1) as u32;
        error[1..5].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            postgres_outcome(&[&ok[..], &error].concat()),
            Some(Err(
                "refused the session: sorry, too many clients already".into()
            ))
        );
        assert!(postgres_outcome(b"+PONG\r\n").unwrap().is_err());
    }
}
