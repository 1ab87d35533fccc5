//! Attack suite: hostile peers against a real `courier-server` process while a
//! good `courier-client` is being served.
//!
//! Every test starts its own server (on its own free port, `--interval 200ms`,
//! `--stale-after 2s` and the limit flags under test) and a good client
//! (`--identity good --interval 200ms`), checks that the client is greeted,
//! runs one attack with raw TCP (std::net), and then asserts all of:
//!
//! * the server process is alive (and exits cleanly on SIGTERM at the end);
//! * the good client kept receiving HELLO on time: no gap longer than
//!   [`MAX_GAP`] between its `received HELLO` lines, during and after the
//!   attack (log timestamps);
//! * the server's RSS (VmRSS, sampled every 20 ms during the attack) grew by
//!   less than the bound stated by the test;
//! * the server did not spin: its CPU time (utime + stime) grew by less than
//!   [`MAX_CPU`] of the wall time of the attack;
//! * each bad connection was closed (the raw socket sees EOF or a reset) and
//!   the server logged why, on the line naming that connection's address.
//!
//! Measured figures are printed to stderr (`--nocapture` shows them).
//!
//! The round-2 cases (`r2*`, issue #15: the receive-memory budget, handshake
//! floods, connection slots per address, stalled messages) run with good
//! clients at 1 Hz and are written once for courier-server and for the pyzmq
//! servers: see the section "Round 2" below, and RELIABILITY.md for the
//! figures of both (`reliability_table`, ignored).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier_interop_tests::{
    cargo_bin, free_port, log_timestamp, make_keys, proc_fd_count, random_bytes, tcp_endpoint,
    workspace_root, zmtp, Closed, Peer, RawPeer, ResourceMonitor, ResourceReport,
};

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(10);
/// How long a process may take to exit after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);
/// Longest allowed gap between two HELLOs received by the good client (the
/// server sends one every 200 ms).
const MAX_GAP: f64 = 1.0;
/// Largest allowed CPU time of the server, as a fraction of wall time.
const MAX_CPU: f64 = 0.5;
/// RSS sampling period.
const SAMPLE: Duration = Duration::from_millis(20);
/// How long the good client is watched after an attack.
const AFTER: Duration = Duration::from_secs(1);
const MIB: u64 = 1024 * 1024;

const SERVER: &str = "courier_server";
const CLIENT: &str = "courier_client";
const SOCKET: &str = "courier_socket";
const HELLO_FROM_SERVER: &str = "received HELLO (1 frame, 5 bytes) from the server";
/// The default `--max-message-size` of courier-server.
const DEFAULT_LIMIT: u64 = 64 << 20;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The message of a courier log line of `target`.
fn log_msg<'a>(line: &'a str, target: &str) -> Option<&'a str> {
    let (_ts, rest) = line.split_once(' ')?;
    let (_level, rest) = rest.trim_start().split_once(' ')?;
    rest.trim_start().strip_prefix(target)?.strip_prefix(": ")
}

fn log_level(line: &str) -> Option<&str> {
    line.split_whitespace().nth(1)
}

/// Seconds since the Unix epoch now (the clock of courier's log lines).
fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A free port that is not courier's default.
fn port() -> u16 {
    loop {
        let p = free_port();
        if p != 5556 {
            return p;
        }
    }
}

/// The socket's log line about the connection from `addr`, if it contains
/// `reason`: `handshake with <addr> failed: ...`, `disconnected from <addr>:
/// ...`, `refused connection from <addr>: ...`.
fn about(addr: &str, reason: &str) -> impl Fn(&str) -> bool {
    let (a, b) = (format!(" {addr} failed: "), format!(" from {addr}: "));
    let reason = reason.to_owned();
    move |line| {
        log_msg(line, SOCKET).is_some_and(|m| {
            (m.contains(a.as_str()) || m.contains(b.as_str())) && m.contains(reason.as_str())
        })
    }
}

/// Address named by a socket log line of the kinds [`about`] matches, and the
/// text after it.
fn addr_and_reason(line: &str) -> Option<(String, String)> {
    let m = log_msg(line, SOCKET)?;
    let rest = m
        .split_once("handshake with ")
        .map(|(_, r)| r)
        .or_else(|| m.split_once(" from ").map(|(_, r)| r))?;
    let (addr, reason) = rest
        .split_once(" failed: ")
        .or_else(|| rest.split_once(": "))?;
    Some((addr.to_owned(), reason.to_owned()))
}

fn spawn_server(port: u16, extra: &[&str], name: &str, fd_limit: Option<u32>) -> Peer {
    let bin = cargo_bin("courier-server");
    let endpoint = tcp_endpoint(port);
    let mut args: Vec<String> = vec!["--bind".into(), endpoint.clone()];
    args.extend(
        ["--interval", "200ms", "--stale-after", "2s"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let mut cmd = match fd_limit {
        // `exec` keeps the pid: the Peer's pid is the server's.
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(&bin)
                .args(&args);
            c
        }
        None => {
            let mut c = Command::new(&bin);
            c.args(&args);
            c
        }
    };
    cmd.env_remove("RUST_LOG");
    let mut server = Peer::spawn(cmd, name);
    let listening = format!("listening on {endpoint} (");
    server.expect_line(
        |l| log_msg(l, SERVER).is_some_and(|m| m.starts_with(listening.as_str())),
        WAIT,
    );
    server
}

fn spawn_client(port: u16, identity: &str, name: &str) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.env_remove("RUST_LOG").args([
        "--connect",
        &endpoint,
        "--identity",
        identity,
        "--interval",
        "200ms",
    ]);
    let mut client = Peer::spawn(cmd, name);
    let connecting = format!("connecting to {endpoint} (");
    client.expect_line(
        |l| log_msg(l, CLIENT).is_some_and(|m| m.starts_with(connecting.as_str())),
        WAIT,
    );
    client
}

fn is_hello(line: &str) -> bool {
    log_msg(line, CLIENT) == Some(HELLO_FROM_SERVER)
}

/// Waits for `n` more HELLOs at `client`.
fn expect_hellos(client: &mut Peer, n: usize) {
    for _ in 0..n {
        client.expect_line(is_hello, WAIT);
    }
}

/// Largest gap between HELLOs received by `client` within `[from, to]`
/// (counting the edges), waiting until a HELLO later than `to` is seen.
fn hello_gap(client: &mut Peer, from: f64, to: f64) -> (f64, usize) {
    client.expect_line(
        |l| is_hello(l) && log_timestamp(l).is_some_and(|t| t > to),
        WAIT,
    );
    let times: Vec<f64> = client
        .lines_so_far()
        .iter()
        .filter(|l| is_hello(l))
        .filter_map(|l| log_timestamp(l))
        .filter(|t| *t >= from && *t <= to)
        .collect();
    let mut edges = vec![from];
    edges.extend(&times);
    edges.push(to);
    let gap = edges.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    (gap, times.len())
}

/// A server and a good client that is being greeted.
struct Scene {
    label: &'static str,
    port: u16,
    server: Peer,
    client: Peer,
}

impl Scene {
    fn start(label: &'static str, server_args: &[&str]) -> Scene {
        Scene::start_limited(label, server_args, None)
    }

    fn start_limited(label: &'static str, server_args: &[&str], fd_limit: Option<u32>) -> Scene {
        let port = port();
        let server = spawn_server(port, server_args, "courier-server", fd_limit);
        let mut client = spawn_client(port, "good", "good-client");
        expect_hellos(&mut client, 3);
        Scene {
            label,
            port,
            server,
            client,
        }
    }

    /// Everything the server logged about connection `addr`, waiting up to
    /// `timeout` for a line naming it with `reason`.
    fn expect_reason(&mut self, addr: &str, reason: &str, timeout: Duration) -> String {
        let line = self.server.expect_seen(about(addr, reason), timeout);
        let level = log_level(&line).unwrap_or_default().to_owned();
        assert!(
            matches!(level.as_str(), "WARN" | "INFO"),
            "unexpected level of {line:?}"
        );
        line
    }

    /// The common verdict, once the attack is over: watches one more second
    /// (so CPU is measured over the attack and the second after it), then
    /// checks that the server is alive, that the good client was greeted on
    /// time from `from` to now, and that RSS and CPU stayed within bounds.
    fn verdict(&mut self, from: f64, mon: ResourceMonitor, rss_bound: u64) -> ResourceReport {
        self.verdict_with_cpu(from, mon, rss_bound, MAX_CPU)
    }

    /// [`Scene::verdict`] with another CPU bound (fraction of wall time).
    fn verdict_with_cpu(
        &mut self,
        from: f64,
        mon: ResourceMonitor,
        rss_bound: u64,
        max_cpu: f64,
    ) -> ResourceReport {
        thread::sleep(AFTER);
        let report = mon.finish();
        let to = epoch();
        if let Some(status) = self.server.try_wait() {
            self.server.fail(&format!("server exited: {status}"));
        }
        assert!(
            report.alive_throughout,
            "{}: server died during the attack",
            self.label
        );
        let (gap, hellos) = hello_gap(&mut self.client, from, to);
        eprintln!(
            "[{}] server: {report}; good client: {hellos} HELLOs in {:.2}s, largest gap {gap:.3}s",
            self.label,
            to - from
        );
        if gap > MAX_GAP {
            self.client.fail(&format!(
                "{}: the good client went {gap:.3}s without HELLO (limit {MAX_GAP}s)",
                self.label
            ));
        }
        assert!(
            report.rss_growth() < rss_bound,
            "{}: server RSS grew by {} bytes (bound {rss_bound}): {report}",
            self.label,
            report.rss_growth()
        );
        assert!(
            report.cpu_fraction() < max_cpu,
            "{}: server spun: {report}",
            self.label
        );
        report
    }

    /// SIGTERM to both; the server must exit cleanly.
    fn finish(mut self) {
        self.client.terminate();
        self.server.terminate();
        let status = self.server.expect_exit(GRACE);
        if !status.success() {
            self.server
                .fail(&format!("exit status {status} after SIGTERM (want 0)"));
        }
        let _ = self.client.wait_exit(GRACE);
    }
}

/// Connects, runs `attack` on the connection, then waits for the server to
/// close it; returns the outcome, the time from the end of `attack` to the
/// close, and our address.
fn close_after(
    port: u16,
    attack: impl FnOnce(&mut RawPeer),
    timeout: Duration,
) -> (Closed, Duration, String) {
    let mut raw = RawPeer::connect(port, WAIT);
    attack(&mut raw);
    let t = Instant::now();
    let (closed, _) = raw.wait_closed(timeout, 1 << 20);
    (closed, t.elapsed(), raw.local.clone())
}

fn handshake(raw: &mut RawPeer, identity: Option<&[u8]>) {
    if let Err(e) = raw.null_handshake("DEALER", identity, WAIT) {
        panic!("raw NULL handshake failed: {e}");
    }
}

fn mib(b: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = b as f64;
    f / MIB as f64
}

/// Soft limit of open files of this test process.
fn own_fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

// ---------------------------------------------------------------------------
// a. Random garbage
// ---------------------------------------------------------------------------

#[test]
fn a_random_garbage_is_refused_for_its_signature() {
    const CONNECTIONS: usize = 8;
    const BYTES: usize = 64 * 1024;
    let mut s = Scene::start("a garbage", &[]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let port = s.port;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            thread::spawn(move || {
                let mut garbage = random_bytes(BYTES);
                // Octet 0 of a greeting is 0xff; make sure it is not, so the
                // reason is always the signature.
                if garbage[0] == 0xff {
                    garbage[0] = 0;
                }
                close_after(
                    port,
                    |raw| {
                        // The server may reset before taking it all.
                        let _ = raw.send(&garbage);
                    },
                    Duration::from_secs(3),
                )
            })
        })
        .collect();
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    for (closed, took, addr) in &results {
        assert!(closed.is_closed(), "{addr}: still open after 3 s");
        let line = s.expect_reason(addr, "not a ZMTP peer: bad greeting signature", WAIT);
        eprintln!("[a garbage] {addr}: {closed:?} {took:?} after the write; {line}");
    }
    s.verdict(from, mon, 16 * MIB);
    s.finish();
}

// ---------------------------------------------------------------------------
// b. Huge frame sizes announced after a valid handshake
// ---------------------------------------------------------------------------

#[test]
fn b_huge_frame_headers_are_refused_with_flat_rss() {
    const ROUNDS: usize = 10;
    let mut s = Scene::start("b huge headers", &[]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut printed = HashSet::new();
    let cases: [(u8, u64, bool); 5] = [
        (0, 1 << 40, true),
        (0, 1 << 63, true),
        (0, u64::MAX, true),
        (zmtp::MORE, 1 << 40, true),
        // A command frame of 2^40 bytes in place of READY.
        (zmtp::COMMAND, 1 << 40, false),
    ];
    for (flags, len, after_handshake) in cases.into_iter().cycle().take(cases.len() * ROUNDS) {
        let (closed, took, addr) = close_after(
            s.port,
            |raw| {
                if after_handshake {
                    handshake(raw, None);
                    raw.send(&zmtp::header(flags, len)).unwrap();
                } else {
                    let mut out = zmtp::greeting("NULL", false).to_vec();
                    out.extend_from_slice(&zmtp::header(flags, len));
                    raw.send(&out).unwrap();
                }
            },
            Duration::from_secs(3),
        );
        assert!(closed.is_closed(), "{addr}: still open after 3 s");
        let reason = if flags & zmtp::COMMAND != 0 {
            format!("command frame of {len} bytes exceeds the limit of 65536 bytes")
        } else {
            format!("frame of {len} bytes exceeds the limit of {DEFAULT_LIMIT} bytes")
        };
        let line = s.expect_reason(&addr, &reason, WAIT);
        if !printed.insert((flags, len)) {
            assert!(took < Duration::from_secs(1), "closed only after {took:?}");
            continue;
        }
        eprintln!("[b huge headers] flags {flags:#04x} size {len}: {closed:?} {took:?} after the header; {line}");
        assert!(took < Duration::from_secs(1), "closed only after {took:?}");
    }
    // And a message of 1025 empty frames (the limit is 1024).
    let (closed, took, addr) = close_after(
        s.port,
        |raw| {
            handshake(raw, None);
            let frames: Vec<u8> = [zmtp::MORE, 0].repeat(1025);
            raw.send(&frames).unwrap();
        },
        Duration::from_secs(3),
    );
    assert!(closed.is_closed(), "{addr}: still open after 3 s");
    let line = s.expect_reason(&addr, "message has more than 1024 frames", WAIT);
    eprintln!("[b huge headers] 1025 frames: {closed:?} {took:?} after them; {line}");
    s.verdict(from, mon, 8 * MIB);
    s.finish();
}

// ---------------------------------------------------------------------------
// c. A frame announced and trickled slowly
// ---------------------------------------------------------------------------

/// Writes `chunk`-byte pieces of junk at `rate` bytes/s for at most `for_`,
/// stopping at the first write error; returns the bytes written.
fn trickle(mut stream: std::net::TcpStream, rate: u64, chunk: usize, for_: Duration) -> u64 {
    let piece = vec![0x5au8; chunk];
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < for_ {
        if stream.write_all(&piece).is_err() {
            break;
        }
        sent += chunk as u64;
        // Pace: `sent` bytes are due at `sent / rate` seconds.
        #[allow(clippy::cast_precision_loss)]
        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
        thread::sleep(due.saturating_sub(start.elapsed()));
    }
    sent
}

#[test]
fn c_trickled_oversized_frame_is_refused_at_the_header() {
    let mut s = Scene::start("c 2^33 trickle", &[]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut raw = RawPeer::connect(s.port, WAIT);
    handshake(&mut raw, None);
    let len = 1u64 << 33;
    raw.send(&zmtp::header(0, len)).unwrap();
    let t = Instant::now();
    let writer = {
        let stream = raw.stream.try_clone().unwrap();
        thread::spawn(move || trickle(stream, MIB, 64 * 1024, Duration::from_secs(3)))
    };
    let (closed, _) = raw.wait_closed(Duration::from_secs(4), 1 << 20);
    let took = t.elapsed();
    let sent = writer.join().unwrap();
    assert!(closed.is_closed(), "still open after 4 s");
    let line = s.expect_reason(
        &raw.local,
        &format!("frame of {len} bytes exceeds the limit of {DEFAULT_LIMIT} bytes"),
        WAIT,
    );
    // The server says which of its flags would let such a message in.
    let local = raw.local.clone();
    s.server.expect_seen(
        move |l| l.contains(&local) && l.contains("a larger --max-message-size"),
        WAIT,
    );
    eprintln!(
        "[c 2^33 trickle] {closed:?} {took:?} after the header; trickled {sent} bytes before the writes failed; {line}"
    );
    assert!(
        took < Duration::from_millis(500),
        "closed only after {took:?}"
    );
    s.verdict(from, mon, 8 * MIB);
    s.finish();
}

#[test]
fn c2_trickled_frame_within_the_limit_costs_what_arrived() {
    let mut s = Scene::start("c2 12MiB trickle", &["--max-message-size", "16MiB"]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut raw = RawPeer::connect(s.port, WAIT);
    handshake(&mut raw, None);
    let announced = 12 * MIB;
    raw.send(&zmtp::header(0, announced)).unwrap();
    let stream = raw.stream.try_clone().unwrap();
    let sent = trickle(stream, MIB, 64 * 1024, Duration::from_secs(3));
    // A frame within the limit is legitimate: the connection stays open.
    let (closed, _) = raw.wait_closed(Duration::from_millis(300), 1 << 20);
    assert_eq!(closed, Closed::StillOpen, "closed a legitimate slow frame");
    let rss_open = mon.rss_now().unwrap_or(0);
    // Now we leave: the server must log it and free the partial frame.
    raw.stream.shutdown(Shutdown::Both).unwrap();
    let line = s.expect_reason(&raw.local, "peer closed the connection", WAIT);
    // What arrived, plus one reserve step of the engine (4 MiB) ahead of it,
    // plus slack; far below the 12 MiB announced.
    let bound = sent + 4 * MIB + 2 * MIB;
    assert!(bound < announced);
    let report = s.verdict(from, mon, bound);
    eprintln!(
        "[c2 12MiB trickle] announced {:.1} MiB, sent {:.2} MiB in 3 s; RSS +{:.2} MiB at the peak, \
         {:.2} MiB with the frame pending, {:.2} MiB 1 s after we closed; {line}",
        mib(announced),
        mib(sent),
        mib(report.rss_growth()),
        mib(rss_open),
        mib(report.rss_end),
    );
    s.finish();
}

// ---------------------------------------------------------------------------
// d. CURVE greeting to a NULL server
// ---------------------------------------------------------------------------

#[test]
fn d_curve_greeting_to_a_null_server_is_refused() {
    let mut s = Scene::start("d curve greeting", &[]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let vector: PathBuf =
        workspace_root().join("crates/proto/tests/vectors/greeting_curve_server.bin");
    let greeting = std::fs::read(&vector).unwrap();
    assert_eq!(greeting.len(), 64);
    let mut results = Vec::new();
    // libzmq's own CURVE greeting (as-server 0), and ours with as-server 1.
    let ours = zmtp::greeting("CURVE", true).to_vec();
    for g in [&greeting, &ours].into_iter().cycle().take(20) {
        results.push(close_after(
            s.port,
            |raw| raw.send(g).unwrap(),
            Duration::from_secs(3),
        ));
    }
    for (i, (closed, took, addr)) in results.iter().enumerate() {
        assert!(closed.is_closed(), "{addr}: still open after 3 s");
        let line = s.expect_reason(
            addr,
            "security mechanism mismatch: we use NULL, the peer asked for CURVE",
            WAIT,
        );
        if i >= 2 {
            assert!(*took < Duration::from_secs(1), "closed only after {took:?}");
            continue;
        }
        eprintln!("[d curve greeting] {addr}: {closed:?} {took:?}; {line}");
        assert!(*took < Duration::from_secs(1), "closed only after {took:?}");
    }
    s.verdict(from, mon, 8 * MIB);
    s.finish();
}

/// Polls the connections it is given until each is closed by the peer or
/// has been open for `limit`; returns (address, outcome, time from connect
/// to close, bytes received) for each.
fn watch_closes(
    rx: &mpsc::Receiver<(RawPeer, Instant)>,
    limit: Duration,
) -> Vec<(String, Closed, Duration, usize)> {
    let mut open: Vec<(RawPeer, Instant, usize)> = Vec::new();
    let mut done = Vec::new();
    let mut all_in = false;
    let mut buf = [0u8; 4096];
    loop {
        loop {
            match rx.try_recv() {
                Ok((raw, at)) => {
                    raw.stream.set_nonblocking(true).unwrap();
                    open.push((raw, at, 0));
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    all_in = true;
                    break;
                }
            }
        }
        open.retain_mut(|(raw, at, got)| loop {
            match raw.stream.read(&mut buf) {
                Ok(0) => {
                    done.push((raw.local.clone(), Closed::Eof, at.elapsed(), *got));
                    return false;
                }
                Ok(k) => *got += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if at.elapsed() > limit {
                        done.push((raw.local.clone(), Closed::StillOpen, at.elapsed(), *got));
                        return false;
                    }
                    return true;
                }
                Err(e) => {
                    done.push((
                        raw.local.clone(),
                        Closed::Reset(e.to_string()),
                        at.elapsed(),
                        *got,
                    ));
                    return false;
                }
            }
        });
        if all_in && open.is_empty() {
            return done;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// e. Many connections that never send anything
// ---------------------------------------------------------------------------

#[test]
fn e_silent_connections_are_closed_at_the_handshake_timeout() {
    // Each connection costs this process one descriptor.
    let limit = own_fd_limit();
    let count = 1000.min(limit.saturating_sub(200));
    eprintln!("[e silent] own fd limit {limit}; opening {count} connections");
    // All from 127.0.0.1: lift the per-address and handshake limits (tested in their own
    // cases) so that the handshake timeout is what closes them.
    let mut s = Scene::start(
        "e silent",
        &[
            "--handshake-timeout",
            "1s",
            "--max-per-address",
            "100000",
            "--max-handshakes",
            "100000",
        ],
    );
    let fds_before = proc_fd_count(s.server.pid()).unwrap();
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    // A watcher polls every connection (non-blocking) and notes when each
    // closes, relative to its connect.
    let (tx, rx) = mpsc::channel::<(RawPeer, Instant)>();
    let watcher = thread::spawn(move || watch_closes(&rx, Duration::from_secs(4)));
    let opening = Instant::now();
    let mut slowest_connect = Duration::ZERO;
    for _ in 0..count {
        let t = Instant::now();
        let raw = RawPeer::connect(s.port, WAIT);
        slowest_connect = slowest_connect.max(t.elapsed());
        tx.send((raw, Instant::now())).unwrap();
    }
    let opened_in = opening.elapsed();
    drop(tx);
    let outcomes = watcher.join().unwrap();
    let worst = outcomes.iter().map(|o| o.2).max().unwrap_or_default();
    let greeted = outcomes.iter().filter(|o| o.3 == 64).count();
    let open: Vec<_> = outcomes.iter().filter(|o| !o.1.is_closed()).collect();
    assert!(
        open.is_empty(),
        "{} still open after 4 s: {open:?}",
        open.len()
    );
    // Every one of them logged with its reason.
    let deadline = Instant::now() + WAIT;
    let want: HashSet<String> = outcomes.iter().map(|o| o.0.clone()).collect();
    let logged = loop {
        let logged: HashSet<String> = s
            .server
            .lines_so_far()
            .iter()
            .filter_map(|l| addr_and_reason(l))
            .filter(|(_, r)| r == "handshake not completed within 1s")
            .map(|(a, _)| a)
            .filter(|a| want.contains(a))
            .collect();
        if logged.len() == want.len() || Instant::now() > deadline {
            break logged;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        logged.len(),
        want.len(),
        "only {} of {} timeouts logged",
        logged.len(),
        want.len()
    );
    thread::sleep(Duration::from_millis(200));
    let fds_after = proc_fd_count(s.server.pid()).unwrap();
    eprintln!(
        "[e silent] {count} connections opened in {opened_in:?} (slowest connect {slowest_connect:?}); \
         all closed by the server, the slowest {worst:?} after its connect; {greeted} got the 64-octet greeting first; \
         {} timeouts logged; server fds {fds_before} before, {fds_after} after",
        logged.len()
    );
    assert!(
        worst < Duration::from_millis(2500),
        "slowest close {worst:?}"
    );
    assert!(
        fds_after <= fds_before + 2,
        "server fds {fds_before} -> {fds_after}"
    );
    s.verdict(from, mon, 64 * MIB);
    s.finish();
}

/// Repeated bursts of silent connections: the memory a silent connection
/// costs once the allocator recycles memory. Today each connection allocates
/// a 64 KiB zeroed read scratch buffer and a 64 KiB read buffer at accept
/// time (crates/socket/src/engine.rs, `READ_CHUNK`); fresh pages from the OS
/// are not touched, but recycled heap memory is (the zeroing), so from the
/// second burst on every silent connection costs about 128 KiB of RSS, and
/// that memory stays with the process after the connections are gone.
#[test]
fn e2_bursts_of_silent_connections_cost_little_memory() {
    const BURSTS: usize = 4;
    const PER_BURST: usize = 1000;
    // 32 KiB per silent connection alive at once (libzmq's read batch is 8 KiB).
    const BOUND: u64 = 32 * MIB;
    let mut s = Scene::start(
        "e2 silent bursts",
        &[
            "--handshake-timeout",
            "8s",
            "--max-per-address",
            "100000",
            "--max-handshakes",
            "100000",
        ],
    );
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut peaks = Vec::new();
    for _ in 0..BURSTS {
        let conns: Vec<RawPeer> = (0..PER_BURST)
            .map(|_| RawPeer::connect(s.port, WAIT))
            .collect();
        // Every one accepted and greeted: all alive at once.
        let mut conns: Vec<RawPeer> = conns
            .into_iter()
            .map(|mut raw| {
                assert!(
                    raw.read_greeting(WAIT).is_some(),
                    "{}: no greeting",
                    raw.local
                );
                raw
            })
            .collect();
        peaks.push(mon.rss_now().unwrap_or(0));
        for raw in &mut conns {
            let _ = raw.stream.shutdown(Shutdown::Both);
        }
        drop(conns);
        // Until the server has let them all go.
        let deadline = Instant::now() + WAIT;
        while proc_fd_count(s.server.pid()).unwrap_or(0) > 20 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
    }
    let report = s.verdict(from, mon, u64::MAX);
    eprintln!(
        "[e2 silent bursts] RSS with {PER_BURST} silent connections open, burst by burst: {:?} MiB",
        peaks
            .iter()
            .map(|b| format!("{:.1}", mib(*b)))
            .collect::<Vec<_>>()
    );
    assert!(
        report.rss_growth() < BOUND,
        "{BURSTS} bursts of {PER_BURST} silent connections (at most {PER_BURST} alive at once) \
         grew the server's RSS by {:.1} MiB (bound {} MiB): {report}",
        mib(report.rss_growth()),
        BOUND / MIB
    );
    s.finish();
}

// ---------------------------------------------------------------------------
// j. A message flood (not in the brief's list: a classic)
// ---------------------------------------------------------------------------

#[test]
fn j_message_flood_does_not_starve_the_good_client() {
    const FOR: Duration = Duration::from_secs(3);
    // The server logs a summary every second (per-message lines are debug only): its rate of
    // messages in shows the flood got through, without logging each message.
    let mut s = Scene::start("j flood", &["--summary-interval", "1s"]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut raw = RawPeer::connect(s.port, WAIT);
    handshake(&mut raw, Some(b"flood"));
    // 10 000 one-frame HELLO messages per write, for 3 s (bounded by what the
    // server reads: TCP pushes back).
    let chunk: Vec<u8> = zmtp::frame(0, b"HELLO").repeat(10_000);
    let t = Instant::now();
    let mut sent = 0u64;
    while t.elapsed() < FOR {
        if raw.send(&chunk).is_err() {
            break;
        }
        sent += 10_000;
    }
    let pushed_for = t.elapsed();
    let _ = raw.stream.shutdown(Shutdown::Both);
    s.expect_reason(&raw.local, "", WAIT);
    // A busy server is not a spinning one here: CPU is reported, not bounded.
    let after_flood = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let report = s.verdict_with_cpu(from, mon, 32 * MIB, f64::INFINITY);
    let idle = after_flood.finish();
    // The good client sends a few messages a second; the flood thousands.
    let busiest = s
        .server
        .lines_so_far()
        .iter()
        .filter_map(|l| log_msg(l, SERVER)?.strip_prefix("summary: "))
        .filter_map(|m| {
            let (_, rest) = m.split_once(", ")?;
            rest.split_once(" messages/s in")?.0.parse::<f64>().ok()
        })
        .fold(0.0, f64::max);
    eprintln!(
        "[j flood] pushed {sent} messages in {pushed_for:?}; the server's busiest summary said \
         {busiest:.0} messages/s in; {report}; CPU after the flood {:.1}%",
        idle.cpu_fraction() * 100.0
    );
    assert!(
        busiest > 100.0,
        "the flood never got through: at most {busiest} messages/s in"
    );
    s.finish();
}

// ---------------------------------------------------------------------------
// f. Out of file descriptors
// ---------------------------------------------------------------------------

#[test]
fn f_accept_backs_off_when_out_of_descriptors() {
    const IDLE: usize = 100;
    let mut s = Scene::start_limited("f fd limit", &["--handshake-timeout", "2s"], Some(64));
    let pid = s.server.pid();
    let fds_before = proc_fd_count(pid).unwrap();
    let from = epoch();
    let mon = ResourceMonitor::start(pid, SAMPLE);
    let conns: Vec<RawPeer> = (0..IDLE).map(|_| RawPeer::connect(s.port, WAIT)).collect();
    let opened = epoch();
    // Watch for 3 s.
    thread::sleep(Duration::from_secs(3));
    let fds_peak = proc_fd_count(pid).unwrap();
    let window_end = epoch();
    let failures: Vec<f64> = s
        .server
        .lines_so_far()
        .iter()
        .filter(|l| log_msg(l, SOCKET).is_some_and(|m| m.contains("accept failed (")))
        .filter_map(|l| log_timestamp(l))
        .filter(|t| *t >= from && *t <= window_end)
        .collect();
    let example = s
        .server
        .lines_so_far()
        .into_iter()
        .find(|l| l.contains("accept failed ("))
        .unwrap_or_default();
    eprintln!(
        "[f fd limit] server fds {fds_before} -> {fds_peak} (ulimit -n 64); {IDLE} idle connections opened; \
         {} `accept failed` lines in {:.2}s, e.g. {example:?}",
        failures.len(),
        window_end - opened
    );
    assert!(
        !failures.is_empty(),
        "the server never ran out of descriptors (fds {fds_peak})"
    );
    assert!(
        failures.len() < 200,
        "accept failures flood the log: {} lines",
        failures.len()
    );
    s.verdict(from, mon, 64 * MIB);
    // Those accepted before the descriptors ran out were closed by the
    // handshake timeout (2 s), with the reason logged; the rest wait in the
    // listen backlog.
    let mut conns = conns;
    let mut by_server = 0;
    for raw in &mut conns {
        let (closed, _) = raw.wait_closed(Duration::from_millis(1), 4096);
        if closed.is_closed() {
            by_server += 1;
            s.expect_reason(&raw.local, "handshake not completed within 2s", WAIT);
        }
    }
    eprintln!(
        "[f fd limit] {by_server} of {IDLE} idle connections closed by the server (handshake timeout, logged) \
         before we closed them all"
    );
    assert!(
        by_server > 0,
        "no idle connection was closed by the handshake timeout"
    );
    // Close the idle connections; a new client must get in.
    drop(conns);
    let t = Instant::now();
    let mut late = spawn_client(s.port, "late", "late-client");
    late.expect_line(is_hello, WAIT);
    eprintln!(
        "[f fd limit] a new client was greeted {:?} after the idle connections closed",
        t.elapsed()
    );
    expect_hellos(&mut s.client, 2);
    late.terminate();
    let _ = late.wait_exit(GRACE);
    s.finish();
}

// ---------------------------------------------------------------------------
// g. Two clients with the same routing id
// ---------------------------------------------------------------------------

#[test]
fn g_second_client_with_the_same_routing_id_is_refused() {
    let mut s = Scene::start("g twins", &[]);
    let mut first = spawn_client(s.port, "twin", "twin-1");
    expect_hellos(&mut first, 3);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut second = spawn_client(s.port, "twin", "twin-2");
    let refusal = "routing id twin is already in use by another connection (refusing the new one)";
    s.server.expect_line(
        |l| log_msg(l, SOCKET).is_some_and(|m| m.contains(refusal)),
        WAIT,
    );
    // A raw peer with the same id too: closed, with the reason.
    let (closed, took, addr) = close_after(
        s.port,
        |raw| handshake(raw, Some(b"twin")),
        Duration::from_secs(3),
    );
    assert!(closed.is_closed(), "raw twin still open");
    let raw_line = s.expect_reason(&addr, refusal, WAIT);
    thread::sleep(Duration::from_secs(2));
    let to = epoch();
    let (gap, hellos) = hello_gap(&mut first, from, to);
    let lines = s.server.lines_so_far();
    let done = lines
        .iter()
        .filter(|l| {
            log_msg(l, SOCKET)
                .is_some_and(|m| m.contains("handshake with") && m.ends_with("(routing id twin)"))
        })
        .count();
    let learned = lines
        .iter()
        .filter(|l| log_msg(l, SERVER) == Some("client learned: twin"))
        .count();
    let refusals = lines
        .iter()
        .filter(|l| log_msg(l, SOCKET).is_some_and(|m| m.contains(refusal)))
        .count();
    let second_lines = second.lines_so_far();
    let second_hellos = second_lines.iter().filter(|l| is_hello(l)).count();
    eprintln!(
        "[g twins] first twin: {hellos} HELLOs, largest gap {gap:.3}s; second twin: {second_hellos} HELLOs; \
         server: {done} handshake(s) done as twin, learned twin {learned} time(s), {refusals} refusal(s) \
         (the raw twin closed {took:?} after its handshake: {closed:?}; {raw_line})"
    );
    eprintln!(
        "[g twins] the second twin's log: {:#?}",
        second_lines
            .iter()
            .filter(|l| log_msg(l, SOCKET).is_some() || log_level(l) != Some("INFO"))
            .take(8)
            .collect::<Vec<_>>()
    );
    assert!(gap <= MAX_GAP, "first twin went {gap:.3}s without HELLO");
    assert_eq!(second_hellos, 0, "the second twin was served");
    assert_eq!(done, 1, "more than one connection was accepted as twin");
    assert_eq!(learned, 1, "twin learned more than once");
    assert!(refusals >= 2, "refusals: {refusals}");
    s.verdict(from, mon, 16 * MIB);
    second.terminate();
    first.terminate();
    let _ = second.wait_exit(GRACE);
    let _ = first.wait_exit(GRACE);
    s.finish();
}

// ---------------------------------------------------------------------------
// h. The connection limit
// ---------------------------------------------------------------------------

#[test]
fn h_connections_beyond_the_limit_are_refused() {
    const MAX: usize = 10;
    let mut s = Scene::start("h max connections", &["--max-connections", "10"]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    // The good client holds one; fill the rest with handshaken raw peers.
    let mut held: Vec<RawPeer> = (0..MAX - 1)
        .map(|_| {
            let mut raw = RawPeer::connect(s.port, WAIT);
            handshake(&mut raw, None);
            raw
        })
        .collect();
    let mut refused = Vec::new();
    for _ in 0..5 {
        let mut raw = RawPeer::connect(s.port, WAIT);
        let t = Instant::now();
        let (closed, got) = raw.wait_closed(Duration::from_secs(3), 4096);
        refused.push((raw.local.clone(), closed, got, t.elapsed()));
    }
    for (addr, closed, got, took) in &refused {
        assert!(closed.is_closed(), "{addr}: over the limit but still open");
        assert_eq!(*got, 0, "{addr}: got {got} bytes before being refused");
        let line = s.expect_reason(addr, &format!("at the limit of {MAX} connections"), WAIT);
        eprintln!("[h max connections] {addr}: {closed:?} after {took:?}; {line}");
    }
    // One leaves; a new one gets its place.
    let gone = held.pop().unwrap();
    let gone_addr = gone.local.clone();
    drop(gone);
    s.expect_reason(&gone_addr, "peer closed the connection", WAIT);
    let mut again = RawPeer::connect(s.port, WAIT);
    handshake(&mut again, None);
    let (still, _) = again.wait_closed(Duration::from_millis(300), 4096);
    assert_eq!(still, Closed::StillOpen, "the freed place was not given");
    s.verdict(from, mon, 16 * MIB);
    drop(held);
    drop(again);
    s.finish();
}

// ---------------------------------------------------------------------------
// i. A PING with a short TTL, then silence
// ---------------------------------------------------------------------------

#[test]
fn i_peer_silent_after_a_ping_ttl_is_closed() {
    let mut s = Scene::start("i ping ttl", &[]);
    let from = epoch();
    let mon = ResourceMonitor::start(s.server.pid(), SAMPLE);
    let mut raw = RawPeer::connect(s.port, WAIT);
    handshake(&mut raw, None);
    raw.send(&zmtp::ping(1, b"ctx")).unwrap();
    let t = Instant::now();
    let pong = raw
        .read_frame(Duration::from_secs(2))
        .expect("no PONG for our PING");
    assert_eq!(pong.command_name(), Some(&b"PONG"[..]), "{pong:?}");
    assert_eq!(pong.body.get(5..), Some(&b"ctx"[..]), "context not echoed");
    let (closed, _) = raw.wait_closed(Duration::from_secs(3), 4096);
    let took = t.elapsed();
    assert!(
        closed.is_closed(),
        "still open 3 s after a PING with TTL 100 ms"
    );
    let line = s.expect_reason(
        &raw.local,
        "the peer's heartbeat TTL of 100ms expired",
        WAIT,
    );
    eprintln!("[i ping ttl] PONG echoed; {closed:?} {took:?} after the PING; {line}");
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_millis(600),
        "closed {took:?} after a PING with TTL 100 ms"
    );
    s.verdict(from, mon, 8 * MIB);
    s.finish();
}

// ===========================================================================
// Round 2 (issue #15): the receive-memory budget, handshake floods,
// connection slots per address, stalled messages
// ===========================================================================
//
// Each case is written once for two servers: `Target::Courier`
// (courier-server), on which the r2* tests assert (`check`), and
// `Target::Libzmq` (the pyzmq servers of interop-tests/python: ref_server.py,
// curve_server.py), which only the ignored `reliability_table` runs, without
// assertions, to print the figures of RELIABILITY.md side by side. Good
// clients are courier-clients saying HELLO at 1 Hz to a server that says
// HELLO to each of them at 1 Hz (`--interval 1s`, `--stale-after 5s`); their
// worst gap between two HELLOs received, from the start of the attack to its
// end, must stay under [`GOOD_GAP`].

/// Longest allowed gap between two HELLOs at a good client (one is due every second).
const GOOD_GAP: f64 = 1.5;
/// courier-server's receive-memory budget (`--max-buffered`): its default, passed explicitly
/// so that the bounds below say what they rest on. The machine the suite was written for (2
/// cores, 24 GB) affords it and the senders easily: a sender writes one shared 256 KiB chunk
/// over and over, so the test process holds nothing per connection.
const BUDGET: u64 = 128 * MIB;
const BUDGET_FLAG: &str = "128MiB";
/// The fixed overhead on top of the budget allowed in cases a and b: buffers not counted
/// against the budget (per-connection read room, the allocator's slack).
const BUDGET_SLACK: u64 = 48 * MIB;

/// The server under attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Courier,
    Libzmq,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Courier => "courier-server",
            Target::Libzmq => "pyzmq (libzmq 4.3)",
        }
    }
}

/// What a round-2 case measured: one row of RELIABILITY.md.
struct Figures {
    case: &'static str,
    target: Target,
    report: ResourceReport,
    worst_gap: f64,
    outcome: String,
}

impl Figures {
    fn print(&self) {
        eprintln!(
            "[{}] {}: server {}; good clients' worst HELLO gap {:.2}s; {}",
            self.case,
            self.target.name(),
            self.report,
            self.worst_gap,
            self.outcome
        );
    }

    fn row(&self) -> String {
        format!(
            "| {} | {} | {:.0} MiB (+{:.0} MiB) | {:.0}% ({:.1} s of CPU in {:.1} s) | {:.2} s | {} |",
            self.case,
            self.target.name(),
            mib(self.report.rss_peak),
            mib(self.report.rss_growth()),
            self.report.cpu_fraction() * 100.0,
            self.report.cpu.as_secs_f64(),
            self.report.wall.as_secs_f64(),
            self.worst_gap,
            self.outcome
        )
    }
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `source`, so that the
/// server sees several source addresses.
fn connect_from(source: Ipv4Addr, port: u16) -> RawPeer {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    socket
        .bind(&SocketAddr::from((source, 0)).into())
        .unwrap_or_else(|e| panic!("cannot bind to {source}: {e}"));
    socket
        .connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)).into(), WAIT)
        .unwrap_or_else(|e| panic!("cannot connect from {source} to port {port}: {e}"));
    let stream: TcpStream = socket.into();
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    RawPeer {
        stream,
        inbuf: Vec::new(),
        local,
    }
}

/// CURVE keys in a fresh directory: the server's pair, and `good` and `flood` client pairs,
/// both allowed (`authorized_clients/`).
fn stage_keys(label: &str) -> PathBuf {
    make_keys(label, &["server", "good", "flood"], &["good", "flood"])
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("a UTF-8 path").to_owned()
}

/// A good courier-client: HELLO every second, with the `good` key pair if `curve` is given.
fn spawn_good_client(port: u16, identity: &str, curve: Option<&Path>) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.env_remove("RUST_LOG").args([
        "--connect",
        &endpoint,
        "--identity",
        identity,
        "--interval",
        "1s",
    ]);
    if let Some(dir) = curve {
        cmd.args(["--curve", "--key-name", "good", "--curve-dir"])
            .arg(dir);
    }
    let mut client = Peer::spawn(cmd, identity);
    let connecting = format!("connecting to {endpoint} (");
    client.expect_line(
        |l| log_msg(l, CLIENT).is_some_and(|m| m.starts_with(connecting.as_str())),
        WAIT,
    );
    client
}

/// Largest gap between HELLOs at `client` within `[from, to]`, like [`hello_gap`], without
/// failing when no HELLO comes after `to` (a pyzmq server may have dropped the client): then
/// the gap runs to the end of the wait.
fn soft_gap(client: &mut Peer, from: f64, to: f64) -> f64 {
    let greeted_after = client
        .wait_line(
            |l| is_hello(l) && log_timestamp(l).is_some_and(|t| t > to),
            Duration::from_secs(3),
        )
        .is_some();
    let end = if greeted_after { to } else { epoch() };
    let mut edges = vec![from];
    edges.extend(
        client
            .lines_so_far()
            .iter()
            .filter(|l| is_hello(l))
            .filter_map(|l| log_timestamp(l))
            .filter(|t| *t >= from && *t <= to),
    );
    edges.push(end);
    edges.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// A server (courier-server or pyzmq) with good clients that are being greeted.
struct Stage {
    case: &'static str,
    target: Target,
    port: u16,
    server: Peer,
    clients: Vec<Peer>,
}

impl Stage {
    /// Starts the server (`courier_args` are for courier-server only; CURVE with the keys of
    /// `curve`) and `clients` good clients, and waits until each has been greeted twice.
    fn start(
        case: &'static str,
        target: Target,
        courier_args: &[&str],
        curve: Option<&Path>,
        clients: usize,
    ) -> Stage {
        let port = port();
        let endpoint = tcp_endpoint(port);
        let server = match (target, curve) {
            (Target::Courier, _) => {
                let mut cmd = Command::new(cargo_bin("courier-server"));
                cmd.env_remove("RUST_LOG").args([
                    "--bind",
                    &endpoint,
                    "--interval",
                    "1s",
                    "--stale-after",
                    "5s",
                ]);
                if let Some(dir) = curve {
                    cmd.args(["--curve", "--curve-dir"]).arg(dir);
                }
                cmd.args(courier_args);
                let mut server = Peer::spawn(cmd, "courier-server");
                let listening = format!("listening on {endpoint} (");
                server.expect_line(
                    |l| log_msg(l, SERVER).is_some_and(|m| m.starts_with(listening.as_str())),
                    WAIT,
                );
                server
            }
            (Target::Libzmq, None) => {
                let mut server = Peer::python(
                    "ref_server.py",
                    [
                        "--bind",
                        &endpoint,
                        "--interval",
                        "1",
                        "--stale-after",
                        "5",
                        "--no-monitor",
                    ],
                    "ref_server.py",
                );
                server.expect_event("listening", &[], WAIT);
                server
            }
            (Target::Libzmq, Some(dir)) => {
                let mut server = Peer::python(
                    "curve_server.py",
                    [
                        "--bind".to_owned(),
                        endpoint.clone(),
                        "--secret-file".to_owned(),
                        path_str(&dir.join("server.key_secret")),
                        "--allow-dir".to_owned(),
                        path_str(&dir.join("authorized_clients")),
                        "--interval".to_owned(),
                        "1".to_owned(),
                        "--stale-after".to_owned(),
                        "5".to_owned(),
                        "--duration".to_owned(),
                        "3600".to_owned(),
                    ],
                    "curve_server.py",
                );
                server.expect_event("listening", &[], WAIT);
                server
            }
        };
        let mut clients: Vec<Peer> = (0..clients)
            .map(|i| spawn_good_client(port, &format!("good-{i}"), curve))
            .collect();
        for c in &mut clients {
            expect_hellos(c, 2);
        }
        Stage {
            case,
            target,
            port,
            server,
            clients,
        }
    }

    fn courier(&self) -> bool {
        self.target == Target::Courier
    }

    /// Stops monitoring (the attack is over) and measures: the server's resources and the good
    /// clients' worst HELLO gap from `from` to now.
    fn measure(&mut self, from: f64, mon: ResourceMonitor, outcome: String) -> Figures {
        let report = mon.finish();
        let to = epoch();
        if let Some(status) = self.server.try_wait() {
            self.server.fail(&format!("server exited: {status}"));
        }
        let worst_gap = self
            .clients
            .iter_mut()
            .map(|c| soft_gap(c, from, to))
            .fold(0.0, f64::max);
        let figures = Figures {
            case: self.case,
            target: self.target,
            report,
            worst_gap,
            outcome,
        };
        figures.print();
        figures
    }

    /// Asserts what every case asks of courier-server: alive throughout, good clients' gaps
    /// under [`GOOD_GAP`].
    fn assert_served(&mut self, f: &Figures) {
        assert!(
            f.report.alive_throughout,
            "{}: server died during the attack",
            f.case
        );
        if f.worst_gap > GOOD_GAP {
            self.server.fail(&format!(
                "{}: a good client went {:.3}s without HELLO (limit {GOOD_GAP}s)",
                f.case, f.worst_gap
            ));
        }
    }

    /// SIGTERM to all; courier-server must exit cleanly.
    fn finish(mut self) {
        for c in &mut self.clients {
            c.terminate();
        }
        if self.courier() {
            self.server.terminate();
            let status = self.server.expect_exit(GRACE);
            if !status.success() {
                self.server
                    .fail(&format!("exit status {status} after SIGTERM (want 0)"));
            }
        } else {
            let _ = self.server.shutdown(GRACE);
        }
        for c in &mut self.clients {
            let _ = c.wait_exit(GRACE);
        }
    }
}

/// What [`push_partial_frames`] achieved.
struct Pushed {
    /// Body bytes written per connection.
    sent: Vec<u64>,
    /// Connections the server closed (write error).
    closed: usize,
    took: Duration,
}

impl Pushed {
    fn total(&self) -> u64 {
        self.sent.iter().sum()
    }
    fn complete(&self, hold: u64) -> usize {
        self.sent.iter().filter(|s| **s >= hold).count()
    }
}

/// Announces a `frame`-byte data frame on each (handshaken) connection and writes the first
/// `hold` bytes of its body, round robin and without blocking, until each connection has
/// written them, or nothing has moved for `quiet` (TCP pushes back: the server stopped
/// reading), or `limit` has passed. The frames are never finished.
fn push_partial_frames(
    conns: &mut [RawPeer],
    frame: u64,
    hold: u64,
    quiet: Duration,
    limit: Duration,
) -> Pushed {
    let chunk = vec![0x5au8; 256 * 1024];
    for raw in conns.iter_mut() {
        raw.send(&zmtp::header(0, frame)).unwrap();
        raw.stream.set_nonblocking(true).unwrap();
    }
    let start = Instant::now();
    let mut sent = vec![0u64; conns.len()];
    let mut dead = vec![false; conns.len()];
    let mut last_progress = Instant::now();
    loop {
        let mut progress = false;
        for ((raw, sent), dead) in conns.iter_mut().zip(&mut sent).zip(&mut dead) {
            if *dead || *sent >= hold {
                continue;
            }
            let n = usize::try_from(hold - *sent)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            match raw.stream.write(&chunk[..n]) {
                Ok(k) => {
                    *sent += k as u64;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => *dead = true,
            }
        }
        let all_done = sent.iter().zip(&dead).all(|(s, d)| *d || *s >= hold);
        if progress {
            last_progress = Instant::now();
        }
        if all_done || last_progress.elapsed() > quiet || start.elapsed() > limit {
            break;
        }
        if !progress {
            thread::sleep(Duration::from_millis(5));
        }
    }
    for raw in conns.iter_mut() {
        let _ = raw.stream.set_nonblocking(false);
    }
    Pushed {
        closed: dead.iter().filter(|d| **d).count(),
        sent,
        took: start.elapsed(),
    }
}

/// NULL handshakes for `n` connections, from `sources` in turn.
fn handshaken(port: u16, n: usize, sources: &[Ipv4Addr]) -> Vec<RawPeer> {
    (0..n)
        .map(|i| {
            let mut raw = connect_from(sources[i % sources.len()], port);
            handshake(&mut raw, None);
            raw
        })
        .collect()
}

/// Closes the attack connections; courier-server must log each close within [`WAIT`].
fn close_all(st: &mut Stage, conns: Vec<RawPeer>) {
    if let Err(missing) = close_and_wait_logged(st, conns, WAIT) {
        st.server.fail(&format!(
            "{}: no line about the close of {} attack connections within {WAIT:?}, e.g. {:?}",
            st.case,
            missing.len(),
            missing.first()
        ));
    }
}

/// Closes the attack connections and waits up to `within` for courier-server to log each
/// close: how long that took, or the addresses it did not log.
fn close_and_wait_logged(
    st: &mut Stage,
    conns: Vec<RawPeer>,
    within: Duration,
) -> Result<Duration, Vec<String>> {
    let addrs: Vec<String> = conns.iter().map(|r| r.local.clone()).collect();
    for raw in &conns {
        let _ = raw.stream.shutdown(Shutdown::Both);
    }
    drop(conns);
    let closed_at = Instant::now();
    if !st.courier() {
        return Ok(Duration::ZERO);
    }
    loop {
        let logged: HashSet<String> = st
            .server
            .lines_so_far()
            .iter()
            .filter_map(|l| addr_and_reason(l))
            .map(|(a, _)| a)
            .collect();
        let missing: Vec<String> = addrs
            .iter()
            .filter(|a| !logged.contains(*a))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(closed_at.elapsed());
        }
        if closed_at.elapsed() > within {
            return Err(missing);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Cases a and b: `conns` connections (spread over `sources`) each write `hold` bytes of a
/// `frame`-byte frame and stop there.
fn partial_frames_case(
    case: &'static str,
    target: Target,
    check: bool,
    conns: usize,
    frame: u64,
    hold: u64,
    sources: &[Ipv4Addr],
) -> Figures {
    let mut st = Stage::start(case, target, &["--max-buffered", BUDGET_FLAG], None, 1);
    let pid = st.server.pid();
    let from = epoch();
    let mon = ResourceMonitor::start(pid, SAMPLE);
    let mut raws = handshaken(st.port, conns, sources);
    let pushed = push_partial_frames(
        &mut raws,
        frame,
        hold,
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    // Held for two more seconds, with everything in place: the server must not spin meanwhile.
    let held = ResourceMonitor::start(pid, SAMPLE);
    thread::sleep(2 * AFTER);
    let held = held.finish();
    let outcome = format!(
        "{:.0} MiB of {:.0} MiB written in {:.1} s; {} of {conns} connections got all {:.0} MiB \
         in; {} closed by the server; CPU {:.0}% while they were held",
        mib(pushed.total()),
        mib(hold * conns as u64),
        pushed.took.as_secs_f64(),
        pushed.complete(hold),
        mib(hold),
        pushed.closed,
        held.cpu_fraction() * 100.0
    );
    let figures = st.measure(from, mon, outcome);
    if check && st.courier() {
        st.assert_served(&figures);
        let growth = figures.report.rss_growth();
        assert!(
            growth < BUDGET + BUDGET_SLACK,
            "{case}: RSS grew by {:.1} MiB, over the budget of {} MiB plus {} MiB",
            mib(growth),
            BUDGET / MIB,
            BUDGET_SLACK / MIB
        );
        // The budget was reached (the attack was real), and the senders were held back.
        assert!(
            growth > BUDGET / 2,
            "{case}: RSS grew by {:.1} MiB only: the budget was never used",
            mib(growth)
        );
        assert!(
            pushed.complete(hold) < conns,
            "{case}: every connection wrote its {} MiB: nothing was held back",
            hold / MIB
        );
        assert_eq!(pushed.closed, 0, "{case}: attack connections were closed");
        // CPU while they are held back is reported, and bounded in r2a3 (ignored: the engine
        // spins there today).
    }
    // Not `close_all`: a connection paused by the budget notices its peer's close only at the
    // stall timeout (see r2a2, ignored), so the closes are not waited for here.
    for raw in &raws {
        let _ = raw.stream.shutdown(Shutdown::Both);
    }
    drop(raws);
    st.finish();
    figures
}

fn case_a(target: Target, check: bool) -> Figures {
    partial_frames_case(
        "a 40 x 59 of 60 MiB",
        target,
        check,
        40,
        60 * MIB,
        59 * MIB,
        &[Ipv4Addr::LOCALHOST],
    )
}

fn case_b(target: Target, check: bool) -> Figures {
    // 1000 connections over 8 source addresses: 125 each, under the default of 256 per
    // address, so the budget is what holds them.
    let sources: Vec<Ipv4Addr> = (20..28).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    partial_frames_case(
        "b 1000 x 2 of 3 MiB",
        target,
        check,
        1000,
        3 * MIB,
        2 * MIB,
        &sources,
    )
}

/// How case c floods the CURVE server: 4 processes of one of two pyzmq scripts.
#[derive(Clone, Copy)]
enum Flood {
    /// curve_flood.py: complete handshakes (libzmq does the client's side of each).
    Handshakes,
    /// curve_hello_replay.py: replay one captured HELLO over raw TCP (no cryptography on the
    /// flood's side: the flood is as fast as the server takes it).
    HelloReplay,
}

/// Case c: CURVE handshake floods from 4 processes while 100 CURVE clients are served.
fn curve_flood_case(case: &'static str, target: Target, check: bool, flood: Flood) -> Figures {
    const GOOD: usize = 100;
    const FLOODERS: usize = 4;
    const FLOOD_FOR: u64 = 10;
    let keys = stage_keys(&format!("attacks-{case}-{target:?}").replace(' ', "-"));
    let mut st = Stage::start(case, target, &[], Some(keys.as_path()), GOOD);
    let pid = st.server.pid();
    let endpoint = tcp_endpoint(st.port);
    let from = epoch();
    let mon = ResourceMonitor::start(pid, SAMPLE);
    let (script, in_flight, done, what) = match flood {
        Flood::Handshakes => ("curve_flood.py", "8", "ok", "completed CURVE handshakes"),
        Flood::HelloReplay => (
            "curve_hello_replay.py",
            "16",
            "welcomes",
            "replayed one HELLO and got a WELCOME",
        ),
    };
    let mut flooders: Vec<Peer> = (0..FLOODERS)
        .map(|i| {
            let mut p = Peer::python(
                script,
                [
                    "--connect".to_owned(),
                    endpoint.clone(),
                    "--key-file".to_owned(),
                    path_str(&keys.join("flood.key_secret")),
                    "--server-key-file".to_owned(),
                    path_str(&keys.join("server.key")),
                    "--duration".to_owned(),
                    FLOOD_FOR.to_string(),
                    "--in-flight".to_owned(),
                    in_flight.to_owned(),
                ]
                .into_iter()
                .chain(match flood {
                    // One source address per process (not the good clients' 127.0.0.1), so
                    // that the limit per address does not turn most of the flood away.
                    Flood::HelloReplay => {
                        vec!["--source".to_owned(), format!("127.0.0.{}", 40 + i)]
                    }
                    Flood::Handshakes => Vec::new(),
                }),
                &format!("{script}-{i}"),
            );
            p.expect_event("started", &[], WAIT);
            p
        })
        .collect();
    let (mut ok, mut other, mut seconds) = (0u64, 0u64, 0f64);
    for p in &mut flooders {
        let exit = p.expect_event("exit", &[], WAIT + Duration::from_secs(FLOOD_FOR));
        ok += exit[done].as_u64().unwrap_or(0);
        for key in ["failed", "timeouts", "refused"] {
            other += exit[key].as_u64().unwrap_or(0);
        }
        seconds = seconds.max(exit["seconds"].as_f64().unwrap_or(0.0));
        if !exit["errors"].is_null() {
            eprintln!("[{case}] {}: {}", p.name(), exit["errors"]);
        }
    }
    thread::sleep(AFTER);
    if target == Target::Courier {
        // What the server said about the flood's connections, most frequent first.
        let mut reasons: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        for l in st.server.lines_so_far() {
            if let Some((_, r)) = addr_and_reason(&l) {
                *reasons.entry(r.chars().take(70).collect()).or_default() += 1;
            }
        }
        let mut reasons: Vec<_> = reasons.into_iter().collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        let limited = st
            .server
            .lines_so_far()
            .iter()
            .filter(|l| l.contains(" is at its limit of "))
            .count();
        eprintln!(
            "[{case}] the server's reasons: {:?}; {limited} line(s) about an address at its limit",
            &reasons[..reasons.len().min(4)]
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = ok as f64 / seconds.max(1e-9);
    let outcome = format!(
        "{FLOODERS} processes {what} {ok} times in {seconds:.1} s ({rate:.0}/s; {other} \
         failed or refused); {GOOD} CURVE clients served"
    );
    let figures = st.measure(from, mon, outcome);
    if check && st.courier() {
        st.assert_served(&figures);
        // The flood got through: the server did handshake work all along.
        assert!(
            ok >= 100,
            "only {ok} flood rounds completed in {seconds:.1} s"
        );
    }
    st.finish();
    figures
}

fn case_c(target: Target, check: bool) -> Figures {
    curve_flood_case("c CURVE handshake flood", target, check, Flood::Handshakes)
}

fn case_c2(target: Target, check: bool) -> Figures {
    curve_flood_case("c2 CURVE HELLO replay", target, check, Flood::HelloReplay)
}

/// Case d: one address opens connections until refused while another's still get in.
fn case_d(target: Target, check: bool) -> Figures {
    const LIMIT: usize = 256; // courier-server's default --max-per-address
    const MORE: usize = 20;
    let flooder = Ipv4Addr::new(127, 0, 0, 30);
    let other = Ipv4Addr::new(127, 0, 0, 31);
    let mut st = Stage::start(
        "d one address takes its slots",
        target,
        &["--max-per-address", &LIMIT.to_string()],
        None,
        1,
    );
    let pid = st.server.pid();
    let from = epoch();
    let mon = ResourceMonitor::start(pid, SAMPLE);
    let mut held = Vec::new();
    let mut refused = 0usize;
    // Until refused (or well past the limit: a server without one never refuses), then MORE.
    while held.len() < 2 * LIMIT && refused <= MORE {
        let mut raw = connect_from(flooder, st.port);
        match raw.null_handshake("DEALER", None, WAIT) {
            Ok(_) if refused == 0 => held.push(raw),
            Ok(_) => panic!("{}: accepted again after {refused} refusals", raw.local),
            Err(e) => {
                let (closed, got) = raw.wait_closed(WAIT, 4096);
                assert!(
                    closed.is_closed() && got == 0,
                    "{}: handshake failed ({e}) but not refused: {closed:?}, {got} bytes",
                    raw.local
                );
                refused += 1;
            }
        }
    }
    let refusals_done = epoch();
    // Another address still gets in, and so does a new good client.
    let others = handshaken(st.port, 5, &[other]);
    let mut late = spawn_good_client(st.port, "late", None);
    let late_greeted = late.wait_line(is_hello, WAIT).is_some();
    thread::sleep(AFTER);
    let needle = format!("{flooder} is at its limit of {LIMIT} connections");
    let logged = st
        .server
        .lines_so_far()
        .iter()
        .filter(|l| log_msg(l, SOCKET).is_some_and(|m| m.contains(needle.as_str())))
        .count();
    let per_connection = st
        .server
        .lines_so_far()
        .iter()
        .filter(|l| {
            log_msg(l, SOCKET)
                .is_some_and(|m| m.contains(&format!("refused connection from {flooder}:")))
        })
        .count();
    let outcome = if refused == 0 {
        format!(
            "no limit per address: all {} connections from {flooder} accepted; 5 from {other} \
             and a new client got in: {}",
            held.len(),
            if late_greeted { "yes" } else { "no" }
        )
    } else {
        format!(
            "{flooder} refused after {} connections ({refused} refused, {logged} line(s) logged \
             about it in {:.1} s); 5 from {other} and a new client got in: {}",
            held.len(),
            refusals_done - from,
            if late_greeted { "yes" } else { "no" }
        )
    };
    let figures = st.measure(from, mon, outcome);
    if check && st.courier() {
        st.assert_served(&figures);
        assert_eq!(
            held.len(),
            LIMIT,
            "accepted {} connections from {flooder} (limit {LIMIT})",
            held.len()
        );
        assert_eq!(refused, MORE + 1);
        assert!(late_greeted, "a new client was not greeted");
        // Refusals are logged once per address per interval (10 s), not once each.
        assert!(
            refusals_done - from < 10.0,
            "the refusals took longer than the log interval"
        );
        assert_eq!(
            logged, 1,
            "{refused} refusals from {flooder} logged {logged} times"
        );
        assert_eq!(
            per_connection, 0,
            "refused connections from {flooder} logged one by one"
        );
    }
    drop(held);
    close_all(&mut st, others);
    late.terminate();
    let _ = late.wait_exit(GRACE);
    st.finish();
    figures
}

/// Case e: a frame trickled one byte a second.
fn case_e(target: Target, check: bool) -> Figures {
    const STALL: Duration = Duration::from_secs(3);
    const WATCH: Duration = Duration::from_secs(12);
    let mut st = Stage::start(
        "e 1 byte/s trickle",
        target,
        &["--stall-timeout", "3s"],
        None,
        1,
    );
    let pid = st.server.pid();
    let from = epoch();
    let mon = ResourceMonitor::start(pid, SAMPLE);
    let mut raw = RawPeer::connect(st.port, WAIT);
    handshake(&mut raw, None);
    raw.send(&zmtp::header(0, MIB)).unwrap();
    let started = Instant::now();
    let writer = {
        let stream = raw.stream.try_clone().unwrap();
        thread::spawn(move || trickle(stream, 1, 1, WATCH))
    };
    let (closed, _) = raw.wait_closed(WATCH, 4096);
    let took = started.elapsed();
    let _ = raw.stream.shutdown(Shutdown::Both);
    let sent = writer.join().unwrap();
    let stalled = st
        .server
        .wait_line(about(&raw.local, "stalled: a partial message of"), AFTER)
        .is_some();
    let outcome = if closed.is_closed() {
        format!(
            "closed {:.1} s after the header ({sent} bytes trickled){}",
            took.as_secs_f64(),
            if stalled { ", logged as stalled" } else { "" }
        )
    } else {
        format!(
            "no stall timeout: still open {:.0} s after the header ({sent} bytes trickled)",
            took.as_secs_f64()
        )
    };
    let figures = st.measure(from, mon, outcome);
    if check && st.courier() {
        st.assert_served(&figures);
        assert!(closed.is_closed(), "still open after {took:?}");
        let line = st
            .server
            .expect_seen(about(&raw.local, "stalled: a partial message of"), WAIT);
        eprintln!("[e 1 byte/s trickle] {line}");
        // Not before the stall timeout; the check may come up to a timeout late.
        assert!(
            took >= STALL - Duration::from_millis(100) && took < 3 * STALL,
            "closed {took:?} after the header (stall timeout {STALL:?})"
        );
    }
    st.finish();
    figures
}

#[test]
fn r2a_forty_connections_holding_59_mib_stay_within_the_budget() {
    case_a(Target::Courier, true);
}

/// Four senders of 59 MiB of a 60 MiB frame against a 16 MiB budget, pushed until TCP holds
/// them back. 59 MiB: the kernel buffers up to about 36 MiB per loopback connection here
/// (tcp_rmem max 32 MiB + tcp_wmem max 4 MiB), so smaller frames may get through whole.
fn held_back_senders(case: &'static str) -> (Stage, Vec<RawPeer>, Pushed) {
    const CONNS: usize = 4;
    let st = Stage::start(case, Target::Courier, &["--max-buffered", "16MiB"], None, 1);
    let mut raws = handshaken(st.port, CONNS, &[Ipv4Addr::LOCALHOST]);
    let pushed = push_partial_frames(
        &mut raws,
        60 * MIB,
        59 * MIB,
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    assert_eq!(pushed.complete(59 * MIB), 0, "the budget held nobody back");
    (st, raws, pushed)
}

/// Senders held back by the budget that abort (RST) give their memory back at once. (A sender
/// that closes gracefully cannot be noticed before the stall timeout: its FIN waits behind the
/// data TCP holds back, which the server does not read.)
#[test]
fn r2a2_senders_held_back_by_the_budget_free_it_when_they_abort() {
    let (mut st, raws, pushed) = held_back_senders("a2 held-back senders abort");
    let addrs: Vec<String> = raws.iter().map(|r| r.local.clone()).collect();
    for raw in &raws {
        // SO_LINGER 0: close() sends a reset, which needs no room in the server's window.
        socket2::SockRef::from(&raw.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    eprintln!("[a2 held-back senders abort] closing at {:.3}", epoch());
    let took = close_and_wait_logged(&mut st, raws, Duration::from_secs(10));
    eprintln!(
        "[a2 held-back senders abort] {:.1} MiB pushed; closes logged: {took:?}",
        mib(pushed.total())
    );
    for l in st.server.lines_so_far() {
        if addr_and_reason(&l).is_some_and(|(a, _)| addrs.contains(&a)) {
            eprintln!("[a2 held-back senders abort] {l}");
        }
    }
    let took = took.unwrap_or_else(|missing| {
        panic!(
            "{} resets not logged within 10 s: {missing:?}",
            missing.len()
        )
    });
    assert!(
        took < Duration::from_secs(2),
        "the closes were noticed only after {took:?}"
    );
    st.finish();
}

/// While senders are held back by the budget, the server waits for room: it does not spin.
#[test]
fn r2a3_senders_held_back_by_the_budget_do_not_make_the_server_spin() {
    let (st, raws, pushed) = held_back_senders("a3 held-back senders");
    let mon = ResourceMonitor::start(st.server.pid(), SAMPLE);
    thread::sleep(Duration::from_secs(3));
    let held = mon.finish();
    eprintln!(
        "[a3 held-back senders] {:.1} MiB pushed; while held back: {held}",
        mib(pushed.total())
    );
    assert!(
        held.cpu_fraction() < 0.1,
        "the server spun while the senders were held back: {held}"
    );
    drop(raws);
    st.finish();
}

/// Seen on the first runs, before the engine fixed both causes (RELIABILITY.md, "Defects found
/// by this suite, fixed"): RSS +851 MiB (budget 128 MiB) and the good client dropped as stale
/// after a 7.4 s gap. The causes were in crates/socket/src/io/conn.rs `read` and budget.rs: (1) a
/// connection holding less than 64 KiB may read up to the whole budget (`room(held)`), and one
/// read of a large body asks for up to 1 MiB, so a thousand new connections with large frames
/// fill the budget to the limit in their first reads, the 1/8 kept for small holders included,
/// and then nobody is read, the good client neither; (2) each read zero-fills up to 1 MiB
/// (`buf.resize(old + ask, 0)`) before reading what is there, and what is zeroed but not
/// filled is not counted against the budget, yet is resident.
#[test]
fn r2b_a_thousand_connections_holding_2_mib_stay_within_the_budget() {
    case_b(Target::Courier, true);
}

#[test]
fn r2c_curve_handshake_flood_does_not_starve_established_clients() {
    case_c(Target::Courier, true);
}

#[test]
fn r2c2_curve_hello_replay_flood_does_not_starve_established_clients() {
    case_c2(Target::Courier, true);
}

#[test]
fn r2d_one_address_at_its_slot_limit_does_not_keep_others_out() {
    case_d(Target::Courier, true);
}

#[test]
fn r2e_a_frame_trickled_a_byte_a_second_is_closed_as_stalled() {
    case_e(Target::Courier, true);
}

/// The figures of RELIABILITY.md: every round-2 case against courier-server and against the
/// pyzmq (libzmq) server, one table row each. Re-run with
/// `cargo test -p courier-interop-tests --test attacks -- --ignored --nocapture reliability_table`.
#[test]
#[ignore = "several minutes, and the pyzmq runs take about 2.5 GB of RAM: the figures of RELIABILITY.md"]
fn reliability_table() {
    let cases: [fn(Target, bool) -> Figures; 6] = [case_a, case_b, case_c, case_c2, case_d, case_e];
    let mut rows = Vec::new();
    for case in cases {
        for target in [Target::Courier, Target::Libzmq] {
            // Figures only: courier-server's bounds are asserted by the r2* tests.
            rows.push(case(target, false).row());
        }
    }
    eprintln!(
        "\n| attack | server | peak RSS (growth) | server CPU | good clients' worst HELLO gap | outcome |\n\
         | --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        eprintln!("{r}");
    }
}
