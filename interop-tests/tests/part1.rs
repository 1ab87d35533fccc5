//! Part-1 interop: `courier-server` and `courier-client` against each other
//! and against the pyzmq reference peers (`ref_server.py`, `ref_client.py`),
//! all as real processes talking ZMTP 3.1 over TCP on 127.0.0.1.
//!
//! Every test uses its own free ports (except `i_defaults_on_port_5556`, the
//! only user of the default port), short intervals given by flags, and
//! bounded waits. Measured latencies are printed to stderr (see them with
//! `--nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use courier_interop_tests::{
    cargo_bin, event, free_port, hex, is_event, log_timestamp, parse_event, random_bytes,
    scratch_dir, tcp_endpoint, Peer,
};

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(10);

/// How long a process may take to exit after SIGTERM/SIGINT (courier-client
/// lingers up to 2 s by default for queued messages).
const GRACE: Duration = Duration::from_secs(5);

/// Log targets of our binaries.
const SERVER: &str = "courier_server";
const CLIENT: &str = "courier_client";
const SOCKET: &str = "courier_socket";
const APP: &str = "courier_app";

/// What our binaries log for one HELLO.
const HELLO_FROM_SERVER: &str = "received HELLO (1 frame, 5 bytes) from the server";

/// The default endpoint's port: only `i_defaults_on_port_5556` uses it, under
/// this lock.
const DEFAULT_PORT: u16 = 5556;
static DEFAULT_PORT_LOCK: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A free port that is never the default one.
fn port() -> u16 {
    loop {
        let p = free_port();
        if p != DEFAULT_PORT {
            return p;
        }
    }
}

/// The message of a courier log line of `target`
/// (`<ts> INFO  courier_server: <message>`).
fn log_msg<'a>(line: &'a str, target: &str) -> Option<&'a str> {
    let (_ts, rest) = line.split_once(' ')?;
    let (_level, rest) = rest.trim_start().split_once(' ')?;
    rest.trim_start().strip_prefix(target)?.strip_prefix(": ")
}

/// The level (`INFO`, `WARN`, ...) of a courier log line.
fn log_level(line: &str) -> Option<&str> {
    line.split_whitespace().nth(1)
}

/// Predicate: a log line of `target` whose message is exactly `text`.
fn says(target: &'static str, text: impl Into<String>) -> impl Fn(&str) -> bool {
    let text = text.into();
    move |line| log_msg(line, target) == Some(text.as_str())
}

/// Predicate: a log line of `target` whose message starts with `prefix`.
fn says_starting(target: &'static str, prefix: impl Into<String>) -> impl Fn(&str) -> bool {
    let prefix = prefix.into();
    move |line| log_msg(line, target).is_some_and(|m| m.starts_with(prefix.as_str()))
}

/// Predicate: a log line of `target` whose message contains every part.
fn says_all(target: &'static str, parts: &[&str]) -> impl Fn(&str) -> bool {
    let parts: Vec<String> = parts.iter().map(|p| (*p).to_string()).collect();
    move |line| log_msg(line, target).is_some_and(|m| parts.iter().all(|p| m.contains(p.as_str())))
}

fn hello_from(id: &str) -> impl Fn(&str) -> bool {
    says(
        SERVER,
        format!("received HELLO (1 frame, 5 bytes) from {id}"),
    )
}

fn learned(id: &str) -> impl Fn(&str) -> bool {
    says(SERVER, format!("client learned: {id}"))
}

/// The ROUTER's line for a finished handshake with a peer of routing id `id`.
fn router_handshake(id: &str) -> impl Fn(&str) -> bool {
    let tail = format!(" done (routing id {id})");
    move |line| {
        log_msg(line, SOCKET).is_some_and(|m| {
            m.starts_with("ROUTER socket: handshake with ") && m.ends_with(tail.as_str())
        })
    }
}

fn count(peer: &mut Peer, pred: impl Fn(&str) -> bool) -> usize {
    peer.lines_so_far().iter().filter(|l| pred(l)).count()
}

/// Fails if `peer` (one of our binaries) logged a WARN or ERROR line.
fn assert_no_warnings(peer: &mut Peer) {
    let bad: Vec<String> = peer
        .lines_so_far()
        .into_iter()
        .filter(|l| matches!(log_level(l), Some("WARN" | "ERROR")))
        .collect();
    if !bad.is_empty() {
        peer.fail(&format!("unexpected warnings/errors: {bad:#?}"));
    }
}

fn secs(d: f64) -> String {
    format!("{d:.3}s")
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Starts `courier-server --bind tcp://127.0.0.1:<port> extra...` and waits
/// for its `listening` line. Tests that look for its line per message received
/// (`hello_from`, `received FILE ...`) pass `-v`: those lines are debug only.
fn courier_server(port: u16, extra: &[&str], name: &str) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-server"));
    cmd.env_remove("RUST_LOG")
        .arg("--bind")
        .arg(&endpoint)
        .args(extra);
    let mut server = Peer::spawn(cmd, name);
    server.expect_line(
        says_starting(SERVER, format!("listening on {endpoint} (")),
        WAIT,
    );
    server
}

/// The `listening` line of a courier-server (already seen).
fn listening_time(server: &mut Peer) -> f64 {
    let line = server.expect_seen(says_starting(SERVER, "listening on "), WAIT);
    log_timestamp(&line).unwrap_or_else(|| panic!("no timestamp in {line:?}"))
}

/// Starts `courier-client --connect tcp://127.0.0.1:<port> extra...` and waits
/// for its `connecting` line.
fn courier_client(port: u16, extra: &[&str], name: &str) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.env_remove("RUST_LOG")
        .arg("--connect")
        .arg(&endpoint)
        .args(extra);
    let mut client = Peer::spawn(cmd, name);
    client.expect_line(
        says_starting(CLIENT, format!("connecting to {endpoint} (")),
        WAIT,
    );
    client
}

fn ref_server(port: u16, extra: &[&str], name: &str) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut args = vec!["--bind", endpoint.as_str()];
    args.extend_from_slice(extra);
    let mut server = Peer::python("ref_server.py", &args, name);
    server.expect_event("listening", &[("endpoint", endpoint.as_str())], WAIT);
    server
}

fn ref_client(port: u16, extra: &[&str], name: &str) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut args = vec!["--connect", endpoint.as_str()];
    args.extend_from_slice(extra);
    let mut client = Peer::python("ref_client.py", &args, name);
    client.expect_event("connecting", &[], WAIT);
    client
}

/// SIGTERM, a bounded wait, and an assertion that the exit was clean.
fn shut(peer: &mut Peer) {
    peer.terminate();
    let status = peer.expect_exit(GRACE);
    if !status.success() {
        peer.fail(&format!("exit status {status} after SIGTERM (want 0)"));
    }
}

fn exit_code(status: ExitStatus) -> Option<i32> {
    status.code()
}

/// The next HELLO a pyzmq client receives, checked to be one 5-byte frame.
fn expect_hello_event(client: &mut Peer) {
    let got = client.expect_event("recv", &[("header", "HELLO")], WAIT);
    assert_eq!(got["frames"], 1, "{got}");
    assert_eq!(got["sizes"], serde_json::json!([5]), "{got}");
}

/// The files of a directory (names), for "nothing else was written" checks.
fn dir_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `empty.bin` (0 bytes) and `random.bin` (1 MiB of random bytes) in `dir`.
fn test_files(dir: &Path) -> Vec<(String, PathBuf, Vec<u8>)> {
    [
        ("empty.bin", Vec::new()),
        ("random.bin", random_bytes(1 << 20)),
    ]
    .into_iter()
    .map(|(name, data)| {
        let path = dir.join(name);
        std::fs::write(&path, &data).unwrap();
        (name.to_string(), path, data)
    })
    .collect()
}

fn assert_same_file(path: &Path, want: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(got.len(), want.len(), "{}: size differs", path.display());
    assert!(got == want, "{}: contents differ", path.display());
}

/// Waits for courier-server to log and save each of `files` (sent by `from`)
/// into `inbox`, then compares the saved bytes.
fn expect_saved_by_courier(
    server: &mut Peer,
    inbox: &Path,
    from: &str,
    files: &[(String, PathBuf, Vec<u8>)],
) {
    for (name, _, data) in files {
        server.expect_seen(
            says(
                SERVER,
                format!("file {name:?} ({} bytes) from {from}", data.len()),
            ),
            WAIT,
        );
        let saved = inbox.join(name);
        server.expect_seen(says(SERVER, format!("saved {}", saved.display())), WAIT);
        assert_same_file(&saved, data);
    }
    let names: BTreeSet<String> = files.iter().map(|(n, _, _)| n.clone()).collect();
    assert_eq!(dir_names(inbox), names, "inbox holds other files");
}

// ---------------------------------------------------------------------------
// a. courier-server with pyzmq clients
// ---------------------------------------------------------------------------

#[test]
fn a_our_server_greets_pyzmq_clients() {
    let port = port();
    // -v: each message received is a debug line.
    let mut server = courier_server(port, &["--interval", "200ms", "-v"], "courier-server");
    let ids = ["py-a1", "py-a2"];
    let mut clients: Vec<Peer> = ids
        .iter()
        .map(|id| ref_client(port, &["--interval", "0.2", "--routing-id", id], id))
        .collect();

    for (id, client) in ids.iter().zip(clients.iter_mut()) {
        server.expect_seen(router_handshake(id), WAIT);
        server.expect_seen(learned(id), WAIT);
        server.expect_seen(hello_from(id), WAIT);
        for _ in 0..3 {
            expect_hello_event(client);
        }
        client.expect_seen(event("connected", &[]), WAIT);
    }
    // Learned exactly once each, and nobody else.
    let learned_lines: Vec<String> = server
        .lines_so_far()
        .into_iter()
        .filter(|l| says_starting(SERVER, "client learned: ")(l))
        .collect();
    assert_eq!(learned_lines.len(), 2, "{learned_lines:#?}");
    for client in &mut clients {
        assert!(!client
            .lines_so_far()
            .iter()
            .any(|l| is_event(l, "unresponsive", &[]) || is_event(l, "disconnected", &[])));
    }
    assert_no_warnings(&mut server);
    for client in &mut clients {
        shut(client);
    }
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// b. pyzmq server with courier-client
// ---------------------------------------------------------------------------

#[test]
fn b_pyzmq_server_greets_our_client() {
    let port = port();
    let mut server = ref_server(port, &["--interval", "0.2"], "ref_server");
    let mut client = courier_client(
        port,
        &["--interval", "200ms", "--identity", "rust-b"],
        "courier-client",
    );
    let id = hex(b"rust-b");

    server.expect_event("learned", &[("peer", id.as_str())], WAIT);
    let recv = parse_event(&server.expect_seen(
        event("recv", &[("peer", id.as_str()), ("header", "HELLO")]),
        WAIT,
    ))
    .unwrap();
    assert_eq!(recv["frames"], 1, "{recv}");
    assert_eq!(recv["sizes"], serde_json::json!([5]), "{recv}");
    server.expect_event("sent", &[("peer", id.as_str()), ("header", "HELLO")], WAIT);

    client.expect_seen(
        says(
            SOCKET,
            format!("DEALER socket: handshake with {} done", tcp_endpoint(port)),
        ),
        WAIT,
    );
    for _ in 0..3 {
        client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    }
    for _ in 0..3 {
        server.expect_event("recv", &[("peer", id.as_str()), ("header", "HELLO")], WAIT);
    }
    let events = server.events_so_far();
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "recv" || e["event"] == "learned")
            .all(|e| e["peer"] == id.as_str()),
        "a stranger: {events:#?}"
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "handshake").count(),
        1,
        "{events:#?}"
    );
    assert_no_warnings(&mut client);
    shut(&mut client);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// c. a client started 8 s before its server
// ---------------------------------------------------------------------------

const EARLY_START: Duration = Duration::from_secs(8);

/// Starts courier-client `--interval 1s` (default reconnect cap) with nobody
/// listening, and waits until it has run for [`EARLY_START`].
fn early_client(port: u16, id: &str) -> Peer {
    let mut client = courier_client(port, &["--interval", "1s", "--identity", id], id);
    let started = Instant::now();
    // Its default --server-timeout is 5 s: it reports the silence, and keeps
    // trying.
    client.expect_line(
        says_starting(CLIENT, "server unresponsive: nothing received for "),
        WAIT,
    );
    thread::sleep(EARLY_START.saturating_sub(started.elapsed()));
    client
}

fn report_burst(who: &str, offsets: &[f64]) -> usize {
    let within = offsets.iter().filter(|&&d| d <= 2.0).count();
    eprintln!(
        "{who}: {within} HELLOs within 2 s of listening; offsets: {}",
        offsets
            .iter()
            .map(|d| secs(*d))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(
        within >= 7,
        "{who}: only {within} HELLOs within 2 s of listening (want >= 7): {offsets:?}"
    );
    // 9 or so queued ones, plus at most 2-3 sent live meanwhile: more would
    // mean duplicates.
    assert!(
        within <= 12,
        "{who}: {within} HELLOs: duplicates? {offsets:?}"
    );
    within
}

#[test]
fn c_queued_hellos_reach_our_late_server() {
    let port = port();
    let mut client = early_client(port, "early-bird");
    // -v: each message received is a debug line (the burst is timed from them).
    let mut server = courier_server(port, &["--interval", "200ms", "-v"], "courier-server");
    let t0 = listening_time(&mut server);
    thread::sleep(Duration::from_millis(2300));
    let offsets: Vec<f64> = server
        .lines_so_far()
        .iter()
        .filter(|l| hello_from("early-bird")(l))
        .map(|l| log_timestamp(l).unwrap() - t0)
        .collect();
    report_burst("courier-server", &offsets);
    assert_eq!(count(&mut server, learned("early-bird")), 1);

    client.expect_line(says_starting(CLIENT, "server is back after "), WAIT);
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    assert_no_warnings(&mut server);
    shut(&mut client);
    shut(&mut server);
}

#[test]
fn c_queued_hellos_reach_pyzmq_late_server() {
    let port = port();
    let mut client = early_client(port, "early-py");
    let mut server = ref_server(port, &["--interval", "0.2"], "ref_server");
    let listening = server.expect_seen(event("listening", &[]), WAIT);
    let t0 = parse_event(&listening).unwrap()["t"].as_f64().unwrap();
    thread::sleep(Duration::from_millis(2300));
    let id = hex(b"early-py");
    let offsets: Vec<f64> = server
        .events_so_far()
        .iter()
        .filter(|e| e["event"] == "recv" && e["header"] == "HELLO" && e["peer"] == id.as_str())
        .map(|e| e["t"].as_f64().unwrap() - t0)
        .collect();
    report_burst("ref_server", &offsets);

    client.expect_line(says_starting(CLIENT, "server is back after "), WAIT);
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    shut(&mut client);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// d. the server killed and restarted on the same port
// ---------------------------------------------------------------------------

const RESTART_CLIENT_ARGS: [&str; 4] = ["--interval", "200ms", "--server-timeout", "1s"];

/// After the server was SIGKILLed: the client notices the silence.
fn expect_unresponsive(client: &mut Peer, killed: Instant) {
    client.expect_line(
        says_starting(CLIENT, "server unresponsive: nothing received for "),
        WAIT,
    );
    let after = killed.elapsed();
    eprintln!("client reported the server unresponsive {after:?} after the kill");
    assert!(
        after >= Duration::from_millis(600),
        "unresponsive reported too early: {after:?} after the kill (timeout 1s)"
    );
    assert!(
        after <= Duration::from_secs(3),
        "unresponsive reported too late: {after:?} after the kill (timeout 1s)"
    );
    client.expect_seen(
        says_starting(SOCKET, "DEALER socket: disconnected from "),
        WAIT,
    );
}

#[test]
fn d_our_client_survives_our_server_restart() {
    let port = port();
    let server_args = ["--interval", "200ms", "--stale-after", "2s"];
    let mut server = courier_server(port, &server_args, "courier-server#1");
    let mut args = RESTART_CLIENT_ARGS.to_vec();
    args.extend(["--identity", "phoenix"]);
    let mut client = courier_client(port, &args, "courier-client");
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    server.expect_seen(learned("phoenix"), WAIT);

    server.kill();
    server.stop();
    let killed = Instant::now();
    expect_unresponsive(&mut client, killed);

    let mut server = courier_server(port, &server_args, "courier-server#2");
    let t0 = listening_time(&mut server);
    client.expect_line(says_starting(CLIENT, "server is back after "), WAIT);
    let hello = client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    let served_after = log_timestamp(&hello).unwrap() - t0;
    eprintln!(
        "courier-client served again {} after courier-server#2 started listening",
        secs(served_after)
    );
    assert!(
        served_after <= 1.6,
        "served again only {} after the restart (want ~1 s: reconnect cap 1s + interval 200ms)",
        secs(served_after)
    );
    server.expect_seen(learned("phoenix"), WAIT);
    for _ in 0..3 {
        client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    }
    assert_no_warnings(&mut server);
    shut(&mut client);
    shut(&mut server);
}

#[test]
fn d_our_client_survives_pyzmq_server_restart() {
    let port = port();
    let mut server = ref_server(port, &["--interval", "0.2"], "ref_server#1");
    let mut args = RESTART_CLIENT_ARGS.to_vec();
    args.extend(["--identity", "phoenix-py"]);
    let mut client = courier_client(port, &args, "courier-client");
    let id = hex(b"phoenix-py");
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    server.expect_seen(event("learned", &[("peer", id.as_str())]), WAIT);

    server.kill();
    server.stop();
    let killed = Instant::now();
    expect_unresponsive(&mut client, killed);

    let mut server = ref_server(port, &["--interval", "0.2"], "ref_server#2");
    let listening = Instant::now();
    client.expect_line(says_starting(CLIENT, "server is back after "), WAIT);
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    let served_after = listening.elapsed();
    eprintln!("courier-client served again {served_after:?} after ref_server#2 was listening");
    assert!(
        served_after <= Duration::from_millis(1600),
        "served again only {served_after:?} after the restart (want ~1 s)"
    );
    server.expect_seen(event("learned", &[("peer", id.as_str())]), WAIT);
    for _ in 0..3 {
        client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    }
    shut(&mut client);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// e. a killed client is dropped as stale; a new one is learned
// ---------------------------------------------------------------------------

#[test]
fn e_our_server_drops_killed_clients_then_learns_new_ones() {
    let port = port();
    let mut server = courier_server(
        port,
        &["--interval", "200ms", "--stale-after", "1s"],
        "courier-server",
    );
    let mut rust_victim = courier_client(
        port,
        &["--interval", "200ms", "--identity", "rust-victim"],
        "rust-victim",
    );
    let mut py_victim = ref_client(
        port,
        &["--interval", "0.2", "--routing-id", "py-victim"],
        "py-victim",
    );
    rust_victim.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    expect_hello_event(&mut py_victim);
    server.expect_seen(learned("rust-victim"), WAIT);
    server.expect_seen(learned("py-victim"), WAIT);

    rust_victim.kill();
    py_victim.kill();
    rust_victim.stop();
    py_victim.stop();
    let killed = Instant::now();
    for id in ["rust-victim", "py-victim"] {
        let line = server.expect_seen(
            says_starting(
                SERVER,
                format!("client dropped as stale: {id} (silent for "),
            ),
            WAIT,
        );
        let after = killed.elapsed();
        eprintln!("{id} dropped {after:?} after the kill: {line}");
        // Its last HELLO came up to an interval (200 ms) before the kill.
        assert!(
            after >= Duration::from_millis(500),
            "{id} dropped too early: {after:?} after the kill (stale-after 1s)"
        );
        let silent: f64 = line
            .rsplit_once("(silent for ")
            .and_then(|(_, s)| s.strip_suffix("s)"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no silence in {line:?}"));
        assert!(
            silent >= 1.0,
            "{id} dropped after only {silent}s of silence"
        );
        assert!(
            after <= Duration::from_millis(3500),
            "{id} dropped too late: {after:?} after the kill (stale-after 1s)"
        );
        // Move the cursor past both drops (in either order).
        server.expect_line(says_starting(SERVER, "client dropped as stale: "), WAIT);
    }

    // New clients, one with a fresh id, one reusing a dropped one.
    let mut newcomer = courier_client(
        port,
        &["--interval", "200ms", "--identity", "newcomer"],
        "newcomer",
    );
    let mut py_again = ref_client(
        port,
        &["--interval", "0.2", "--routing-id", "py-victim"],
        "py-victim#2",
    );
    server.expect_seen(learned("newcomer"), WAIT);
    newcomer.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    expect_hello_event(&mut py_again);
    // Learned again (the cursor is past the drops).
    server.expect_line(learned("py-victim"), WAIT);
    assert_eq!(count(&mut server, learned("py-victim")), 2);
    assert_eq!(count(&mut server, learned("rust-victim")), 1);
    assert_no_warnings(&mut server);
    shut(&mut newcomer);
    shut(&mut py_again);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// f. a crowd: 2 courier-clients + 2 pyzmq clients, named and anonymous
// ---------------------------------------------------------------------------

struct Crowd {
    rust_named: Peer,
    rust_anon: Peer,
    py_named: Peer,
    py_anon: Peer,
}

fn crowd(port: u16) -> Crowd {
    Crowd {
        rust_named: courier_client(
            port,
            &["--interval", "200ms", "--identity", "rust-f"],
            "rust-f",
        ),
        rust_anon: courier_client(port, &["--interval", "200ms"], "rust-anon"),
        py_named: ref_client(port, &["--interval", "0.2", "--routing-id", "py-f"], "py-f"),
        py_anon: ref_client(port, &["--interval", "0.2"], "py-anon"),
    }
}

impl Crowd {
    fn expect_hellos(&mut self, n: usize) {
        for _ in 0..n {
            self.rust_named
                .expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
            self.rust_anon
                .expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
            expect_hello_event(&mut self.py_named);
            expect_hello_event(&mut self.py_anon);
        }
    }

    fn shut(mut self) {
        assert_no_warnings(&mut self.rust_named);
        assert_no_warnings(&mut self.rust_anon);
        for p in [
            &mut self.rust_named,
            &mut self.rust_anon,
            &mut self.py_named,
            &mut self.py_anon,
        ] {
            shut(p);
        }
    }
}

#[test]
fn f_mixed_clients_on_our_server() {
    let port = port();
    // -v: each message received is a debug line.
    let mut server = courier_server(port, &["--interval", "200ms", "-v"], "courier-server");
    let mut crowd = crowd(port);
    let mut names = BTreeSet::new();
    for _ in 0..4 {
        let line = server.expect_line(says_starting(SERVER, "client learned: "), WAIT);
        let name = log_msg(&line, SERVER)
            .unwrap()
            .trim_start_matches("client learned: ")
            .to_string();
        assert!(names.insert(name.clone()), "learned twice: {name}");
    }
    assert!(
        names.contains("rust-f") && names.contains("py-f"),
        "{names:?}"
    );
    let anon: Vec<&String> = names.iter().filter(|n| n.starts_with("0x")).collect();
    assert_eq!(
        anon.len(),
        2,
        "anonymous clients not shown as 0x<hex>: {names:?}"
    );
    crowd.expect_hellos(3);
    for name in &names {
        server.expect_seen(hello_from(name), WAIT);
    }
    assert_eq!(
        count(&mut server, says_starting(SERVER, "client learned: ")),
        4
    );
    assert_no_warnings(&mut server);
    crowd.shut();
    shut(&mut server);
}

#[test]
fn f_mixed_clients_on_pyzmq_server() {
    let port = port();
    let mut server = ref_server(port, &["--interval", "0.2"], "ref_server");
    let mut crowd = crowd(port);
    let mut peers = BTreeSet::new();
    for _ in 0..4 {
        let ev = server.expect_event("learned", &[], WAIT);
        let peer = ev["peer"].as_str().unwrap().to_string();
        assert!(peers.insert(peer.clone()), "learned twice: {peer}");
    }
    assert!(
        peers.contains(&hex(b"rust-f")) && peers.contains(&hex(b"py-f")),
        "{peers:?}"
    );
    crowd.expect_hellos(3);
    for peer in &peers {
        server.expect_seen(
            event("recv", &[("peer", peer.as_str()), ("header", "HELLO")]),
            WAIT,
        );
        server.expect_seen(
            event("sent", &[("peer", peer.as_str()), ("header", "HELLO")]),
            WAIT,
        );
    }
    assert_eq!(
        server
            .events_so_far()
            .iter()
            .filter(|e| e["event"] == "learned")
            .count(),
        4
    );
    crowd.shut();
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// g. ZMTP heartbeats from a pyzmq DEALER keep the connection up
// ---------------------------------------------------------------------------

#[test]
fn g_pyzmq_heartbeats_keep_connection_to_our_server() {
    let port = port();
    // HELLOs every 2 s each way: longer than libzmq's heartbeat timeout
    // (3 x 500 ms), so only PONGs from our server keep the connection up
    // between them.
    let mut server = courier_server(
        port,
        &["--interval", "2s", "--stale-after", "10s"],
        "courier-server",
    );
    let mut client = ref_client(
        port,
        &[
            "--interval",
            "2",
            "--heartbeat-ivl",
            "500",
            "--routing-id",
            "hb-client",
        ],
        "hb-client",
    );
    client.expect_event("connected", &[], WAIT);
    server.expect_seen(router_handshake("hb-client"), WAIT);
    expect_hello_event(&mut client);

    let window = Duration::from_secs(10);
    let t0 = Instant::now();
    let seen = client.expect_no_line(
        |l| {
            is_event(l, "disconnected", &[])
                || is_event(l, "connect_retried", &[])
                || is_event(l, "connected", &[])
                || is_event(l, "unresponsive", &[])
        },
        window,
    );
    let hellos = seen
        .iter()
        .filter(|l| is_event(l, "recv", &[("header", "HELLO")]))
        .count();
    eprintln!("hb-client got {hellos} HELLOs in {:?}", t0.elapsed());
    assert!(hellos >= 4, "only {hellos} HELLOs in 10 s (interval 2s)");

    let handshakes = count(&mut server, router_handshake("hb-client"));
    assert_eq!(handshakes, 1, "hb-client reconnected");
    assert_eq!(count(&mut server, learned("hb-client")), 1);
    assert_eq!(
        count(
            &mut server,
            says_starting(SOCKET, "ROUTER socket: disconnected")
        ),
        0,
        "the server saw a disconnect"
    );
    assert_no_warnings(&mut server);
    shut(&mut client);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// h. FILE messages: 0 bytes and 1 MiB, both directions; unsafe names
// ---------------------------------------------------------------------------

#[test]
fn h_files_from_our_client_to_pyzmq_server() {
    let dir = scratch_dir("part1_h_rust_to_py");
    let files = test_files(&dir);
    let inbox = dir.join("inbox");
    let port = port();
    let mut server = ref_server(
        port,
        &["--interval", "0.2", "--inbox", &path_arg(&inbox)],
        "ref_server",
    );
    let mut args = vec![
        "--interval".to_string(),
        "200ms".into(),
        "--identity".into(),
        "rust-files".into(),
    ];
    for (_, path, _) in &files {
        args.extend(["--send-file".to_string(), path_arg(path)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut client = courier_client(port, &args, "courier-client");

    for (name, _, data) in &files {
        let ev = parse_event(&server.expect_seen(event("file", &[("name", name.as_str())]), WAIT))
            .unwrap();
        assert_eq!(ev["size"], data.len(), "{ev}");
        assert_eq!(ev["peer"], hex(b"rust-files"), "{ev}");
        let recv = parse_event(&server.expect_seen(
            |l| {
                parse_event(l).is_some_and(|e| {
                    e["event"] == "recv"
                        && e["header"] == "FILE"
                        && e["sizes"] == serde_json::json!([4, name.len(), data.len()])
                })
            },
            WAIT,
        ))
        .unwrap();
        assert_eq!(recv["frames"], 3, "{recv}");
        assert_same_file(Path::new(ev["path"].as_str().unwrap()), data);
    }
    assert_eq!(
        dir_names(&inbox),
        files.iter().map(|(n, _, _)| n.clone()).collect()
    );
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    assert_no_warnings(&mut client);
    shut(&mut client);
    shut(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h_files_from_our_client_to_our_server() {
    let dir = scratch_dir("part1_h_rust_to_rust");
    let files = test_files(&dir);
    let inbox = dir.join("inbox");
    let port = port();
    // -v: each message received is a debug line.
    let mut server = courier_server(
        port,
        &["--interval", "200ms", "--inbox", &path_arg(&inbox), "-v"],
        "courier-server",
    );
    let mut args = vec![
        "--interval".to_string(),
        "200ms".into(),
        "--identity".into(),
        "rust-files".into(),
    ];
    for (_, path, _) in &files {
        args.extend(["--send-file".to_string(), path_arg(path)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut client = courier_client(port, &args, "courier-client");

    expect_saved_by_courier(&mut server, &inbox, "rust-files", &files);
    for (name, _, data) in &files {
        server.expect_seen(
            says(
                SERVER,
                format!(
                    "received FILE (3 frames, {} bytes) from rust-files",
                    4 + name.len() + data.len()
                ),
            ),
            WAIT,
        );
    }
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    assert_no_warnings(&mut server);
    assert_no_warnings(&mut client);
    shut(&mut client);
    shut(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h_files_from_pyzmq_client_to_our_server() {
    let dir = scratch_dir("part1_h_py_to_rust");
    let files = test_files(&dir);
    let inbox = dir.join("inbox");
    let port = port();
    let mut server = courier_server(
        port,
        &["--interval", "200ms", "--inbox", &path_arg(&inbox)],
        "courier-server",
    );
    let mut args = vec![
        "--interval".to_string(),
        "0.2".into(),
        "--routing-id".into(),
        "py-files".into(),
    ];
    for (_, path, _) in &files {
        args.extend(["--send-file".to_string(), path_arg(path)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut client = ref_client(port, &args, "ref_client");
    for (name, _, data) in &files {
        let sent =
            client.expect_event("sent", &[("header", "FILE"), ("name", name.as_str())], WAIT);
        assert_eq!(sent["size"], data.len(), "{sent}");
    }

    expect_saved_by_courier(&mut server, &inbox, "py-files", &files);
    expect_hello_event(&mut client);
    assert_no_warnings(&mut server);
    shut(&mut client);
    shut(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h_escaping_file_names_refused_by_our_server() {
    let dir = scratch_dir("part1_h_escape");
    let inbox = dir.join("inbox");
    let payload = dir.join("payload.txt");
    std::fs::write(&payload, b"should never be written\n").unwrap();
    let good = dir.join("good.txt");
    std::fs::write(&good, b"fine\n").unwrap();
    let absolute = path_arg(&dir.join("abs-evil"));
    let bad_names = ["../evil", "..", "sub/evil", absolute.as_str()];

    let port = port();
    // -v: each message received is a debug line.
    let mut server = courier_server(
        port,
        &["--interval", "200ms", "--inbox", &path_arg(&inbox), "-v"],
        "courier-server",
    );
    let mut args: Vec<String> = ["--interval", "0.2", "--routing-id", "py-evil"]
        .map(String::from)
        .to_vec();
    for name in bad_names {
        args.extend([
            "--send-file".to_string(),
            path_arg(&payload),
            "--file-name".to_string(),
            name.to_string(),
        ]);
    }
    // A good file after the bad ones (no --file-name: its basename).
    args.extend(["--send-file".to_string(), path_arg(&good)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut client = ref_client(port, &args, "ref_client");

    for name in bad_names {
        let quoted = format!("{name:?}");
        let line = server.expect_seen(says_all(SERVER, &["refused", &quoted]), WAIT);
        eprintln!("refusal: {line}");
        assert_eq!(log_level(&line), Some("WARN"), "{line}");
    }
    // The server carries on: it saves the good file, and keeps serving.
    let saved = inbox.join("good.txt");
    server.expect_seen(says(SERVER, format!("saved {}", saved.display())), WAIT);
    assert_same_file(&saved, b"fine\n");
    expect_hello_event(&mut client);
    expect_hello_event(&mut client);
    server.expect_line(hello_from("py-evil"), WAIT);
    assert!(server.try_wait().is_none(), "the server exited");

    assert!(!dir.join("evil").exists(), "../evil was written");
    assert!(
        !dir.join("abs-evil").exists(),
        "the absolute path was written"
    );
    assert!(!inbox.join("sub").exists(), "sub/ was created");
    assert_eq!(dir_names(&inbox), BTreeSet::from(["good.txt".to_string()]));
    assert_eq!(
        dir_names(&dir),
        ["good.txt", "inbox", "payload.txt"]
            .map(String::from)
            .into_iter()
            .collect(),
        "something was written next to the inbox"
    );
    let saved_lines = count(&mut server, says_starting(SERVER, "saved "));
    assert_eq!(saved_lines, 1, "only good.txt is saved");
    shut(&mut client);
    shut(&mut server);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// i. everything on the defaults
// ---------------------------------------------------------------------------

#[test]
fn i_defaults_on_port_5556() {
    let _lock = DEFAULT_PORT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Fail (never skip) if the default port is taken.
    match TcpListener::bind(("127.0.0.1", DEFAULT_PORT)) {
        Ok(probe) => drop(probe),
        Err(e) => panic!(
            "port {DEFAULT_PORT} on 127.0.0.1 is busy ({e}): this test needs the default \
             endpoint tcp://127.0.0.1:{DEFAULT_PORT} free; stop whatever listens there \
             (e.g. `ss -ltnp 'sport = :{DEFAULT_PORT}'`) and run it again"
        ),
    }
    let mut cmd = Command::new(cargo_bin("courier-server"));
    cmd.env_remove("RUST_LOG");
    let mut server = Peer::spawn(cmd, "courier-server (defaults)");
    server.expect_line(
        says(
            SERVER,
            "listening on tcp://127.0.0.1:5556 (greeting clients every 1s, forgetting them after 10s of silence)",
        ),
        WAIT,
    );
    let no_args: [&str; 0] = [];
    let mut client = Peer::python("ref_client.py", no_args, "ref_client (defaults)");
    let ev = client.expect_event("connecting", &[], WAIT);
    assert_eq!(ev["endpoint"], "tcp://127.0.0.1:5556", "{ev}");
    let started = Instant::now();

    let each_way = Duration::from_millis(2500);
    // On the defaults (no -v) messages are not logged one by one: the first one from a client
    // is what makes the server learn it.
    server.expect_line(says_starting(SERVER, "client learned: 0x"), each_way);
    let to_server = started.elapsed();
    let got = client.expect_event("recv", &[("header", "HELLO")], each_way);
    let to_client = started.elapsed();
    assert_eq!(got["sizes"], serde_json::json!([5]), "{got}");
    eprintln!(
        "defaults: HELLO to the server after {to_server:?}, to the client after {to_client:?}"
    );
    assert!(to_client <= each_way, "{to_client:?}");
    assert_no_warnings(&mut server);
    shut(&mut client);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// Exit codes
// ---------------------------------------------------------------------------

#[test]
fn server_exits_2_when_the_port_is_in_use() {
    // Held by a plain Rust listener...
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // ...and by a pyzmq ROUTER.
    let zport = self::port();
    let mut zserver = ref_server(zport, &["--interval", "0.2"], "ref_server");
    for port in [port, zport] {
        let endpoint = tcp_endpoint(port);
        let mut cmd = Command::new(cargo_bin("courier-server"));
        cmd.env_remove("RUST_LOG").args(["--bind", &endpoint]);
        let mut server = Peer::spawn(cmd, "courier-server (port in use)");
        let status = server.expect_exit(WAIT);
        let stderr = server.expect_stderr(|e| e.contains("(is another server"), WAIT);
        assert_eq!(exit_code(status), Some(2), "{status}; stderr: {stderr}");
        for want in [endpoint.as_str(), "Address already in use", "--bind"] {
            assert!(stderr.contains(want), "stderr lacks {want:?}: {stderr}");
        }
        assert_eq!(
            count(&mut server, says_starting(SERVER, "listening on ")),
            0,
            "claims to listen"
        );
        eprintln!("port in use: {}", stderr.trim());
    }
    drop(listener);
    shut(&mut zserver);
}

#[test]
fn help_into_a_closed_pipe_exits_0_without_a_panic() {
    // `courier-server --help | head -1`: the reader may be gone before the help is written.
    // Here it is gone before the process starts, so the write certainly fails with EPIPE.
    for bin in ["courier-server", "courier-client"] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(cargo_bin(bin))
            .arg("--help")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(exit_code(out.status), Some(0), "{bin}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bin}: {stderr}");
        // And into a reader that stays, the help is there.
        let out = Command::new(cargo_bin(bin)).arg("--help").output().unwrap();
        assert_eq!(exit_code(out.status), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: "));
    }
}

#[test]
fn bad_arguments_exit_2() {
    // (binary, arguments, what stderr must say)
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "courier-server",
            &["--interval", "fast"],
            "invalid duration",
        ),
        (
            "courier-server",
            &["--interval", "0s"],
            "must be more than zero",
        ),
        ("courier-server", &["--no-such-flag"], "--no-such-flag"),
        (
            "courier-client",
            &["--server-timeout", "soon"],
            "invalid duration",
        ),
        ("courier-client", &["--identity", ""], "--identity must be"),
    ];
    for (bin, args, says) in cases {
        let mut cmd = Command::new(cargo_bin(bin));
        cmd.env_remove("RUST_LOG").args(args);
        let mut peer = Peer::spawn(cmd, bin);
        let status = peer.expect_exit(WAIT);
        let stderr = peer.expect_stderr(|e| e.contains(says), WAIT);
        assert_eq!(
            exit_code(status),
            Some(2),
            "{bin} {args:?}: {status}; stderr: {stderr}"
        );
        assert!(
            peer.lines_so_far().is_empty(),
            "{bin} {args:?}: stdout: {:?}",
            peer.lines_so_far()
        );
    }
}

/// Sends `signal` ("TERM" or "INT") and checks a clean exit with the
/// shutdown lines; returns how long the exit took.
fn expect_clean_exit(peer: &mut Peer, signal: &str, target: &'static str) -> Duration {
    let t0 = Instant::now();
    match signal {
        "TERM" => peer.terminate(),
        _ => peer.interrupt(),
    }
    let status = peer.expect_exit(GRACE);
    let took = t0.elapsed();
    if exit_code(status) != Some(0) {
        peer.fail(&format!("SIG{signal}: exit status {status}, want 0"));
    }
    peer.expect_seen(
        says(
            APP,
            format!("signal received (SIG{signal}): shutting down (send it again to exit at once)"),
        ),
        WAIT,
    );
    peer.expect_seen(says_starting(target, "shutting down"), WAIT);
    eprintln!("{} exited 0 {took:?} after SIG{signal}", peer.name());
    took
}

#[test]
fn server_exits_0_on_sigterm_and_sigint() {
    // SIGTERM with a client connected.
    let port = port();
    let mut server = courier_server(port, &["--interval", "200ms"], "courier-server (TERM)");
    let mut client = ref_client(
        port,
        &["--interval", "0.2", "--routing-id", "bystander"],
        "bystander",
    );
    expect_hello_event(&mut client);
    expect_clean_exit(&mut server, "TERM", SERVER);
    server.expect_seen(says(SERVER, "shutting down (1 known client)"), WAIT);
    shut(&mut client);

    // SIGINT while idle.
    let port = self::port();
    let mut server = courier_server(port, &[], "courier-server (INT)");
    expect_clean_exit(&mut server, "INT", SERVER);
    server.expect_seen(says(SERVER, "shutting down (0 known clients)"), WAIT);
}

#[test]
fn client_exits_0_on_sigterm_and_sigint() {
    // SIGTERM while connected.
    let port = port();
    let mut server = ref_server(port, &["--interval", "0.2"], "ref_server");
    let mut client = courier_client(port, &["--interval", "200ms"], "courier-client (TERM)");
    client.expect_line(says(CLIENT, HELLO_FROM_SERVER), WAIT);
    let took = expect_clean_exit(&mut client, "TERM", CLIENT);
    assert!(
        took < Duration::from_secs(1),
        "slow exit while connected: {took:?}"
    );
    shut(&mut server);

    // SIGINT with nobody listening (HELLOs queued; lingers up to 2 s).
    let port = self::port();
    let mut client = courier_client(port, &["--interval", "200ms"], "courier-client (INT)");
    thread::sleep(Duration::from_millis(500));
    let took = expect_clean_exit(&mut client, "INT", CLIENT);
    assert!(
        took < Duration::from_millis(3000),
        "exit took {took:?}: longer than the 2 s default linger"
    );
}
