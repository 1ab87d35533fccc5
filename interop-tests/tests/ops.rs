//! What an operator sees in the logs of the real binaries, at the default level (issue #17):
//!
//! - item 4: a client (and the agent) that cannot connect says why, once, at the default
//!   level (not only "server unresponsive", not once per retry): a closed port on 127.0.0.1
//!   and a host name that does not resolve (`.invalid` never does, RFC 6761);
//! - item 9: the server logs state changes and a periodic summary at info, not a line per
//!   message; a disconnect names the client's routing id; plurals are right.
//!
//! Every peer is on 127.0.0.1 with its own free port; every wait is bounded; nothing here
//! asserts timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use courier_interop_tests::{cargo_bin, cargo_bin_of, free_port, tcp_endpoint, Peer};

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(10);
/// How long a process may take to exit after SIGTERM (clients linger up to 2 s).
const GRACE: Duration = Duration::from_secs(5);

/// The level of a courier log line (`<ts> INFO  courier_server: ...`).
fn level(line: &str) -> Option<&str> {
    line.split_whitespace().nth(1)
}

/// The message of a courier log line, whatever its target.
fn message(line: &str) -> Option<&str> {
    let (_ts, rest) = line.split_once(' ')?;
    let (_level, rest) = rest.trim_start().split_once(' ')?;
    let (target, msg) = rest.trim_start().split_once(": ")?;
    target.starts_with("courier_").then_some(msg)
}

/// Whether a line is shown at the default level (info and above).
fn shown_by_default(line: &str) -> bool {
    matches!(level(line), Some("INFO" | "WARN" | "ERROR"))
}

fn shut(peer: &mut Peer) {
    peer.terminate();
    let status = peer.expect_exit(GRACE);
    if !status.success() {
        peer.fail(&format!("exit status {status} after SIGTERM (want 0)"));
    }
}

/// Runs `cmd` (logging at the default level for our crates, with the socket's per-attempt
/// lines at debug so that the retries can be counted) until the socket has failed at least
/// five times and a line matching `also` came; returns all its lines.
fn failing_lines(
    mut cmd: Command,
    name: &str,
    endpoint: &str,
    also: impl Fn(&str) -> bool,
) -> Vec<String> {
    cmd.env("RUST_LOG", "info,courier_socket=debug");
    let mut peer = Peer::spawn(cmd, name);
    let attempt = format!("DEALER socket: connecting to {endpoint} failed (");
    for _ in 0..5 {
        peer.expect_line(
            |l| level(l) == Some("DEBUG") && message(l).is_some_and(|m| m.starts_with(&attempt)),
            WAIT,
        );
    }
    peer.expect_seen(also, WAIT);
    shut(&mut peer);
    peer.lines_so_far()
}

/// Whether `line` is the client's warning that the server is unresponsive.
fn unresponsive(line: &str) -> bool {
    message(line).is_some_and(|m| m.starts_with("server unresponsive: "))
}

/// Asserts that `lines` hold exactly one line at the default level that starts with `prefix`,
/// and that its reason is the one the socket gave for its attempts; returns that line.
fn reason_once(lines: &[String], prefix: &str, endpoint: &str) -> String {
    let shown: Vec<&String> = lines
        .iter()
        .filter(|l| shown_by_default(l) && message(l).is_some_and(|m| m.starts_with(prefix)))
        .collect();
    assert_eq!(
        shown.len(),
        1,
        "want the reason once at the default level ({prefix:?}), got {shown:#?}; all:\n{}",
        lines.join("\n")
    );
    let line = shown[0].clone();
    let reason = message(&line)
        .and_then(|m| m.strip_prefix(prefix))
        .and_then(|r| r.strip_suffix("; retrying"))
        .unwrap_or_else(|| panic!("no reason in {line:?}"))
        .to_owned();
    assert!(!reason.is_empty(), "{line}");
    // The socket's own (debug) line for an attempt has the same reason.
    let attempt = format!("DEALER socket: connecting to {endpoint} failed ({reason})");
    assert!(
        lines
            .iter()
            .any(|l| message(l).is_some_and(|m| m.starts_with(&attempt))),
        "no attempt failed with {reason:?}:\n{}",
        lines.join("\n")
    );
    // No other line at the default level repeats it.
    let repeats: Vec<&String> = lines
        .iter()
        .filter(|l| shown_by_default(l) && l.contains(&reason) && **l != line)
        .collect();
    assert!(repeats.is_empty(), "the reason repeated: {repeats:#?}");
    line
}

fn courier_client(endpoint: &str) -> Command {
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.args([
        "--connect",
        endpoint,
        "--reconnect-max",
        "100ms",
        "--server-timeout",
        "300ms",
        "--linger",
        "0s",
    ]);
    cmd
}

#[test]
fn client_says_once_why_a_closed_port_refuses() {
    let endpoint = tcp_endpoint(free_port());
    let lines = failing_lines(
        courier_client(&endpoint),
        "courier-client",
        &endpoint,
        unresponsive,
    );
    let line = reason_once(
        &lines,
        &format!("server: cannot connect to {endpoint}: "),
        &endpoint,
    );
    assert!(line.contains("refused"), "{line}");
    // The unresponsive warning still comes (once), naming the link's state.
    let warned: Vec<&String> = lines.iter().filter(|l| unresponsive(l)).collect();
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(warned[0].contains("(link unreachable)"), "{warned:?}");
    eprintln!("closed port: {line}");
}

#[test]
fn client_says_once_why_an_unknown_host_fails() {
    let endpoint = "tcp://no-such-host.invalid:5556";
    let lines = failing_lines(
        courier_client(endpoint),
        "courier-client",
        endpoint,
        unresponsive,
    );
    let line = reason_once(
        &lines,
        &format!("server: cannot connect to {endpoint}: "),
        endpoint,
    );
    eprintln!("unknown host: {line}");
}

#[test]
fn agent_says_once_why_the_collector_is_unreachable() {
    let port = free_port();
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin_of("courier-monitor", "courier-agent"));
    cmd.args(["127.0.0.1", "--port", &port.to_string(), "--insecure"]);
    let lines = failing_lines(cmd, "courier-agent", &endpoint, |_| true);
    let line = reason_once(
        &lines,
        &format!("collector: cannot connect to {endpoint}: "),
        &endpoint,
    );
    assert!(line.contains("refused"), "{line}");
}

/// `courier-server` on a free port with `args`, once it listens (default log level).
fn courier_server(port: u16, args: &[&str]) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-server"));
    cmd.env_remove("RUST_LOG")
        .args(["--bind", &endpoint])
        .args(args);
    let mut server = Peer::spawn(cmd, "courier-server");
    server.expect_line(
        |l| message(l).is_some_and(|m| m.starts_with(&format!("listening on {endpoint} ("))),
        WAIT,
    );
    server
}

fn client_of(port: u16, args: &[&str], name: &str) -> Peer {
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.env_remove("RUST_LOG")
        .args(["--connect", &tcp_endpoint(port), "--interval", "100ms"])
        .args(args);
    let mut client = Peer::spawn(cmd, name);
    client.expect_line(
        |l| message(l) == Some("received HELLO (1 frame, 5 bytes) from the server"),
        WAIT,
    );
    client
}

/// The server's summary lines (their message).
fn summaries(server: &mut Peer) -> Vec<String> {
    server
        .lines_so_far()
        .iter()
        .filter(|l| shown_by_default(l))
        .filter_map(|l| message(l)?.strip_prefix("summary: ").map(str::to_owned))
        .collect()
}

/// Waits for a summary line containing `part`; returns it.
fn expect_summary(server: &mut Peer, part: &str) -> String {
    let line = server.expect_line(
        |l| {
            shown_by_default(l)
                && message(l).is_some_and(|m| m.starts_with("summary: ") && m.contains(part))
        },
        WAIT,
    );
    message(&line).unwrap().to_owned()
}

#[test]
fn server_logs_a_summary_and_state_changes_not_each_message() {
    let port = free_port();
    let mut server = courier_server(
        port,
        &[
            "--interval",
            "100ms",
            "--stale-after",
            "1s",
            "--summary-interval",
            "1s",
        ],
    );
    let mut alice = client_of(port, &["--identity", "alice"], "alice");
    let mut anon = client_of(port, &[], "anonymous");

    // Both learned (state changes at info), then summaries with both and real traffic.
    for id in ["alice", "0x"] {
        server.expect_seen(
            |l| {
                shown_by_default(l)
                    && message(l).is_some_and(|m| m.starts_with(&format!("client learned: {id}")))
            },
            WAIT,
        );
    }
    let both = expect_summary(&mut server, "summary: 2 known clients, ");
    let busy = expect_summary(&mut server, "summary: 2 known clients, ");
    let rate_in: f64 = busy
        .split_once(", ")
        .and_then(|(_, rest)| rest.split_once(" messages/s in"))
        .and_then(|(rate, _)| rate.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {busy:?}"));
    assert!(rate_in > 0.0, "{busy}");
    assert!(busy.contains("messages/s out"), "{busy}");

    // A connection that fails its handshake is counted as refused.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage.write_all(&[0xff; 64]).unwrap();
    let refused = expect_summary(&mut server, "1 connection refused");
    drop(garbage);

    // alice leaves: her disconnect is named, and she is dropped as stale.
    shut(&mut alice);
    server.expect_line(
        |l| {
            shown_by_default(l)
                && message(l).is_some_and(|m| m.starts_with("client disconnected: alice ("))
        },
        WAIT,
    );
    server.expect_line(
        |l| message(l).is_some_and(|m| m.starts_with("client dropped as stale: alice ")),
        WAIT,
    );
    let one = expect_summary(&mut server, "summary: 1 known client, ");

    // Not a line per message at the default level: after 20+ HELLOs each way, none is logged.
    let per_message: Vec<String> = server
        .lines_so_far()
        .into_iter()
        .filter(|l| message(l).is_some_and(|m| m.starts_with("received ")))
        .collect();
    assert!(per_message.is_empty(), "{per_message:#?}");
    shut(&mut anon);
    shut(&mut server);
    server.expect_seen(
        |l| message(l) == Some("shutting down (1 known client)"),
        WAIT,
    );
    eprintln!(
        "summaries: {both:?}, {busy:?}, {refused:?}, {one:?}; {} in all",
        summaries(&mut server).len()
    );
}

#[test]
fn server_logs_each_message_with_v() {
    let port = free_port();
    let mut server = courier_server(port, &["--interval", "100ms", "-v"]);
    let mut client = client_of(port, &["--identity", "verbose"], "verbose");
    server.expect_line(
        |l| {
            level(l) == Some("DEBUG")
                && message(l) == Some("received HELLO (1 frame, 5 bytes) from verbose")
        },
        WAIT,
    );
    shut(&mut client);
    shut(&mut server);
}
