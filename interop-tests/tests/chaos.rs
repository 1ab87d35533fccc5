//! Chaos: faults in the middle of a running conversation.
//!
//! * a. a `courier-client` is frozen (SIGSTOP) for 3 s and thawed: it is
//!   greeted again, the server survives with flat memory, and another client
//!   is not disturbed;
//! * b. the server is frozen for 3 s: clients (courier and pyzmq) report it
//!   unresponsive, then back;
//! * c. a DEALER and a ROUTER (the `courier-socket` library, in-process) talk
//!   through a TCP relay that cuts the connection after random byte counts
//!   and stalls it: every message that arrives is intact, in order, without
//!   duplicates, and every gap in the sequence falls at a connection cut the
//!   sender saw as a `Disconnected` event.
//!
//! Every wait is bounded; measured figures go to stderr (`--nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier_interop_tests::{
    cargo_bin, free_port, is_event, log_timestamp, parse_event, proc_state, tcp_endpoint,
    LinkFault, Peer, ResourceMonitor, TcpRelay,
};
use courier_proto::Bytes;
use courier_socket::{runtime, Dealer, Multipart, Options, Router, SocketEvent};

const WAIT: Duration = Duration::from_secs(10);
const GRACE: Duration = Duration::from_secs(5);
const MAX_GAP: f64 = 1.0;
const MIB: u64 = 1024 * 1024;

const SERVER: &str = "courier_server";
const CLIENT: &str = "courier_client";
const HELLO_FROM_SERVER: &str = "received HELLO (1 frame, 5 bytes) from the server";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn log_msg<'a>(line: &'a str, target: &str) -> Option<&'a str> {
    let (_ts, rest) = line.split_once(' ')?;
    let (_level, rest) = rest.trim_start().split_once(' ')?;
    rest.trim_start().strip_prefix(target)?.strip_prefix(": ")
}

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn port() -> u16 {
    loop {
        let p = free_port();
        if p != 5556 {
            return p;
        }
    }
}

fn is_hello(line: &str) -> bool {
    log_msg(line, CLIENT) == Some(HELLO_FROM_SERVER)
}

fn server(port: u16, extra: &[&str]) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-server"));
    cmd.env_remove("RUST_LOG")
        .args([
            "--bind",
            &endpoint,
            "--interval",
            "200ms",
            "--stale-after",
            "2s",
        ])
        .args(extra);
    let mut s = Peer::spawn(cmd, "courier-server");
    let listening = format!("listening on {endpoint} (");
    s.expect_line(
        |l| log_msg(l, SERVER).is_some_and(|m| m.starts_with(listening.as_str())),
        WAIT,
    );
    s
}

fn client(port: u16, identity: &str, extra: &[&str]) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.env_remove("RUST_LOG")
        .args([
            "--connect",
            &endpoint,
            "--identity",
            identity,
            "--interval",
            "200ms",
        ])
        .args(extra);
    let mut c = Peer::spawn(cmd, identity);
    for _ in 0..3 {
        c.expect_line(is_hello, WAIT);
    }
    c
}

/// Timestamps of the HELLOs `client` logged within `[from, to]`.
fn hello_times(client: &mut Peer, from: f64, to: f64) -> Vec<f64> {
    client
        .lines_so_far()
        .iter()
        .filter(|l| is_hello(l))
        .filter_map(|l| log_timestamp(l))
        .filter(|t| *t >= from && *t <= to)
        .collect()
}

/// Largest gap between HELLOs within `[from, to]`, edges included.
fn largest_gap(times: &[f64], from: f64, to: f64) -> f64 {
    let mut edges = vec![from];
    edges.extend(times);
    edges.push(to);
    edges.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// Waits until `client` logged a HELLO later than `t`.
fn hello_after(client: &mut Peer, t: f64) -> f64 {
    let line = client.expect_seen(
        |l| is_hello(l) && log_timestamp(l).is_some_and(|x| x > t),
        WAIT,
    );
    log_timestamp(&line).unwrap()
}

fn wait_state(pid: u32, want: char) {
    let deadline = Instant::now() + WAIT;
    while proc_state(pid) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "pid {pid} never reached state {want}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

fn shut(peer: &mut Peer) {
    peer.terminate();
    let status = peer.expect_exit(GRACE);
    if !status.success() {
        peer.fail(&format!("exit status {status} after SIGTERM (want 0)"));
    }
}

// ---------------------------------------------------------------------------
// a. A frozen client
// ---------------------------------------------------------------------------

#[test]
fn a_frozen_client_is_greeted_again_after_it_thaws() {
    let port = port();
    let mut server = server(port, &["--send-hwm", "50"]);
    let mut bystander = client(port, "bystander", &[]);
    let mut victim = client(port, "victim", &[]);
    let from = epoch();
    let mon = ResourceMonitor::start(server.pid(), Duration::from_millis(20));
    victim.send_signal("STOP");
    wait_state(victim.pid(), 'T');
    let stopped = epoch();
    thread::sleep(Duration::from_secs(3));
    // Taken before SIGCONT: under load the client can wake, say HELLO and be learned again
    // before this thread runs on.
    let thawed = epoch();
    victim.send_signal("CONT");
    // The server forgot it as stale meanwhile (2 s), and learns it again from
    // the HELLO it sends on waking.
    let dropped = server.expect_seen(
        |l| log_msg(l, SERVER).is_some_and(|m| m.starts_with("client dropped as stale: victim")),
        WAIT,
    );
    let relearned = server.expect_seen(
        |l| {
            log_msg(l, SERVER) == Some("client learned: victim")
                && log_timestamp(l).is_some_and(|t| t > thawed)
        },
        WAIT,
    );
    let first_after = hello_after(&mut victim, thawed);
    // Greeted on time again from one second after the thaw.
    let settle = log_timestamp(&relearned).unwrap();
    thread::sleep(Duration::from_secs(2));
    let report = mon.finish();
    let to = epoch() - 0.3;
    let victim_times = hello_times(&mut victim, settle, to);
    let victim_gap = largest_gap(&victim_times, settle, to);
    let bystander_times = hello_times(&mut bystander, from, to);
    let bystander_gap = largest_gap(&bystander_times, from, to);
    let server_lines = server.lines_so_far();
    let queue_drops = server_lines
        .iter()
        .filter(|l| l.contains("dropped") && l.contains("victim") && l.contains("message(s)"))
        .count();
    eprintln!(
        "[chaos a] victim stopped {:.2}s; {dropped}\n  {relearned}\n  first HELLO {:.3}s after SIGCONT; \
         victim gap after re-learning {victim_gap:.3}s; bystander {} HELLOs, gap {bystander_gap:.3}s; \
         server {report}; queue-full drops for victim: {queue_drops}",
        thawed - stopped,
        first_after - thawed,
        bystander_times.len()
    );
    assert!(server.try_wait().is_none(), "server exited");
    assert!(report.alive_throughout, "server died");
    assert!(
        victim_gap <= MAX_GAP,
        "victim gap {victim_gap:.3}s after re-learning"
    );
    assert!(
        bystander_gap <= MAX_GAP,
        "bystander gap {bystander_gap:.3}s"
    );
    assert!(
        first_after - thawed < 2.0,
        "victim greeted only {:.3}s after SIGCONT",
        first_after - thawed
    );
    assert!(report.rss_growth() < 16 * MIB, "server RSS: {report}");
    assert!(report.cpu_fraction() < 0.5, "server CPU: {report}");
    shut(&mut victim);
    shut(&mut bystander);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// b. A frozen server
// ---------------------------------------------------------------------------

#[test]
fn b_frozen_server_is_reported_unresponsive_then_back() {
    let port = port();
    let mut server = server(port, &[]);
    let mut ours = client(port, "ours", &["--server-timeout", "1s"]);
    let endpoint = tcp_endpoint(port);
    let mut py = Peer::python(
        "ref_client.py",
        [
            "--connect",
            endpoint.as_str(),
            "--interval",
            "0.2",
            "--server-timeout",
            "1",
            "--routing-id",
            "py",
        ],
        "ref_client",
    );
    py.expect_line(|l| is_event(l, "recv", &[("header", "HELLO")]), WAIT);
    server.send_signal("STOP");
    wait_state(server.pid(), 'T');
    let stopped = epoch();
    let py_stopped = Instant::now();
    let unresponsive = ours.expect_line(
        |l| log_msg(l, CLIENT).is_some_and(|m| m.starts_with("server unresponsive: ")),
        Duration::from_secs(3),
    );
    let py_unresp = py.expect_line(|l| is_event(l, "unresponsive", &[]), Duration::from_secs(3));
    let py_unresp_after = py_stopped.elapsed();
    thread::sleep(Duration::from_secs(3).saturating_sub(py_unresp_after));
    // Taken before SIGCONT (see the frozen-client test).
    let thawed = epoch();
    server.send_signal("CONT");
    let back = ours.expect_line(
        |l| log_msg(l, CLIENT).is_some_and(|m| m.starts_with("server is back after ")),
        WAIT,
    );
    let py_back = py.expect_line(|l| is_event(l, "back", &[]), WAIT);
    let first_after = hello_after(&mut ours, thawed);
    thread::sleep(Duration::from_millis(1500));
    let to = epoch() - 0.3;
    let settle = thawed + 0.5;
    let times = hello_times(&mut ours, settle, to);
    let gap = largest_gap(&times, settle, to);
    let py_recv_after = py
        .lines_so_far()
        .iter()
        .skip_while(|l| !is_event(l, "back", &[]))
        .filter(|l| is_event(l, "recv", &[("header", "HELLO")]))
        .count();
    let t_unresp = log_timestamp(&unresponsive).unwrap();
    let t_back = log_timestamp(&back).unwrap();
    eprintln!(
        "[chaos b] server stopped {:.2}s; courier-client: unresponsive {:.3}s after SIGSTOP ({unresponsive:?}), \
         back {:.3}s after SIGCONT ({back:?}), first HELLO {:.3}s after SIGCONT, gap after {gap:.3}s; \
         pyzmq: {py_unresp} ({py_unresp_after:?} after SIGSTOP), {py_back}, {py_recv_after} HELLOs after",
        thawed - stopped,
        t_unresp - stopped,
        t_back - thawed,
        first_after - thawed
    );
    assert!(server.try_wait().is_none(), "server exited");
    assert!(t_unresp - stopped < 1.6, "unresponsive reported late");
    assert!(
        t_back > thawed - 0.05 && t_back - thawed < 1.0,
        "back reported at {t_back}"
    );
    assert!(gap <= MAX_GAP, "gap {gap:.3}s after the thaw");
    assert!(
        py_recv_after >= 3,
        "pyzmq client not greeted after the thaw"
    );
    let back_ev = parse_event(&py_back).unwrap();
    assert_eq!(back_ev["event"], "back");
    shut(&mut ours);
    shut(&mut py);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// c. A relay that cuts and stalls
// ---------------------------------------------------------------------------

/// SplitMix64: small, seedable, good enough to pick fault points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const MESSAGES: u64 = 5000;

/// Payload of message `seq`: 0 to 1199 bytes (short and long frames),
/// derived from `seq`.
fn payload(seq: u64) -> Vec<u8> {
    let len = usize::try_from(seq.wrapping_mul(7919) % 1200).unwrap();
    let mut r = Rng(seq ^ 0x5eed);
    (0..len).map(|_| r.next().to_le_bytes()[0]).collect()
}

fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in *p {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// `[b"SEQ", seq (8 octets BE), payload, checksum (8 octets BE)]`.
fn message(seq: u64) -> Multipart {
    let p = payload(seq);
    let s = seq.to_be_bytes();
    let sum = fnv(&[&s, &p]).to_be_bytes();
    Multipart::new(vec![
        Bytes::from_static(b"SEQ"),
        Bytes::copy_from_slice(&s),
        Bytes::from(p),
        Bytes::copy_from_slice(&sum),
    ])
    .unwrap()
}

/// Bytes message `seq` takes on the wire (ZMTP frames).
fn message_wire_len(seq: u64) -> usize {
    let p = payload(seq).len();
    (2 + 3) + (2 + 8) + (if p > 255 { 9 } else { 2 } + p) + (2 + 8)
}

/// The sequence number of an intact message, or why it is not one.
fn check(frames: &[Bytes]) -> Result<u64, String> {
    let [hdr, s, p, sum] = frames else {
        return Err(format!("{} frames", frames.len()));
    };
    if &hdr[..] != b"SEQ" {
        return Err(format!("header {:?}", hdr.escape_ascii().to_string()));
    }
    let seq = u64::from_be_bytes(s[..].try_into().map_err(|_| "seq frame size")?);
    if seq >= MESSAGES {
        return Err(format!("seq {seq} out of range"));
    }
    if p[..] != payload(seq)[..] {
        return Err(format!("payload of {seq} garbled ({} bytes)", p.len()));
    }
    if sum[..] != fnv(&[&s[..], &p[..]]).to_be_bytes() {
        return Err(format!("checksum of {seq} wrong"));
    }
    Ok(seq)
}

/// One message as the receiver got it.
struct Got {
    at: Instant,
    conn: Bytes,
    seq: Option<u64>,
}

#[test]
fn c_relay_cuts_lose_messages_only_at_the_cuts() {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() << 30 ^ u64::from(d.subsec_nanos()))
        });
    eprintln!("[chaos c] seed {seed} (rerun with CHAOS_SEED={seed})");
    let mut rng = Rng(seed);

    // Receiver: a ROUTER; each connection of the sender gets a new generated
    // routing id, so the receiver knows which connection a message came on.
    let router = Router::new(Options {
        recv_hwm: 10_000,
        ..Options::default()
    });
    let bound = runtime::block_on(router.bind("tcp://127.0.0.1:0")).unwrap();
    let router_addr: SocketAddr = bound.socket_addr_string().unwrap().parse().unwrap();

    // The faults: a few connections, each cut after a random number of
    // bytes (sometimes inside the handshake), half of them stalled a while.
    let mut plan = Vec::new();
    for _ in 0..8 {
        let cut = if rng.below(5) == 0 {
            40 + rng.below(120)
        } else {
            1 + rng.below(700_000)
        };
        let stall = (rng.below(2) == 0)
            .then(|| (rng.below(cut), Duration::from_millis(100 + rng.below(600))));
        plan.push(LinkFault {
            cut_after: Some(cut),
            stall,
        });
    }
    eprintln!("[chaos c] plan: {plan:?}");
    let relay = TcpRelay::start(router_addr, plan);

    let dealer = Dealer::new(Options {
        send_hwm: 10_000,
        reconnect_ivl: Duration::from_millis(50),
        reconnect_ivl_max: Duration::from_millis(400),
        ..Options::default()
    });
    let events = dealer.events();
    dealer
        .connect(&tcp_endpoint(relay.port()))
        .expect("connect");

    let stop = Arc::new(AtomicBool::new(false));
    let seen_events: Arc<Mutex<Vec<(Instant, SocketEvent)>>> = Arc::default();
    let event_thread = {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen_events));
        thread::spawn(move || {
            runtime::block_on(async {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(Ok(ev)) =
                        runtime::timeout(Duration::from_millis(50), events.recv()).await
                    {
                        seen.lock().unwrap().push((Instant::now(), ev));
                    }
                }
            });
        })
    };
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let recv_thread = {
        let (stop, got, done) = (Arc::clone(&stop), Arc::clone(&got), Arc::clone(&done));
        thread::spawn(move || {
            runtime::block_on(async {
                while !stop.load(Ordering::Relaxed) {
                    let Some(Ok(msg)) =
                        runtime::timeout(Duration::from_millis(50), router.recv()).await
                    else {
                        continue;
                    };
                    let frames = msg.into_frames();
                    let conn = frames[0].clone();
                    let body = &frames[1..];
                    if body.len() == 1 && &body[0][..] == b"DONE" {
                        done.store(true, Ordering::Relaxed);
                        got.lock().unwrap().push(Got {
                            at: Instant::now(),
                            conn,
                            seq: None,
                        });
                        continue;
                    }
                    let seq = check(body).unwrap_or_else(|e| panic!("garbled message: {e}"));
                    got.lock().unwrap().push(Got {
                        at: Instant::now(),
                        conn,
                        seq: Some(seq),
                    });
                }
                router.close().await;
            });
        })
    };

    // Send, paced (about 2 s), then DONE until it arrives.
    let started = Instant::now();
    runtime::block_on(async {
        for seq in 0..MESSAGES {
            dealer.send(message(seq)).await.unwrap();
            if seq % 100 == 99 {
                runtime::sleep(Duration::from_millis(40)).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
            if dealer.queued() == 0 {
                dealer
                    .send(Multipart::single(Bytes::from_static(b"DONE")))
                    .await
                    .unwrap();
            }
            runtime::sleep(Duration::from_millis(300)).await;
        }
    });
    let took = started.elapsed();
    assert!(done.load(Ordering::Relaxed), "DONE never arrived in 30 s");
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    recv_thread.join().unwrap();
    let unsent = runtime::block_on(dealer.close());
    event_thread.join().unwrap();
    let links = relay.stop();

    // --- Verdict ---
    let got = std::mem::take(&mut *got.lock().unwrap());
    let events = std::mem::take(&mut *seen_events.lock().unwrap());
    let disconnects: Vec<Instant> = events
        .iter()
        .filter(|(_, e)| matches!(e, SocketEvent::Disconnected { .. }))
        .map(|(t, _)| *t)
        .collect();
    let dropped_partial: usize = events
        .iter()
        .filter_map(|(_, e)| match e {
            SocketEvent::MessagesDropped { count, .. } => Some(*count),
            _ => None,
        })
        .sum();
    let handshake_failures = events
        .iter()
        .filter(|(_, e)| matches!(e, SocketEvent::HandshakeFailed { .. }))
        .count();

    // In order, no duplicates.
    let seqs: Vec<u64> = got.iter().filter_map(|g| g.seq).collect();
    let mut uniq = HashSet::new();
    for s in &seqs {
        assert!(uniq.insert(*s), "seq {s} received twice");
    }
    for w in seqs.windows(2) {
        assert!(w[0] < w[1], "out of order: {} then {}", w[0], w[1]);
    }

    // Group by connection, in order of arrival.
    let mut order: Vec<Bytes> = Vec::new();
    let mut groups: BTreeMap<Vec<u8>, Vec<&Got>> = BTreeMap::new();
    for g in &got {
        if !groups.contains_key(&g.conn[..]) {
            order.push(g.conn.clone());
        }
        groups.entry(g.conn.to_vec()).or_default().push(g);
    }
    // Within a connection: contiguous, no gap.
    for (i, conn) in order.iter().enumerate() {
        let s: Vec<u64> = groups[&conn[..]].iter().filter_map(|g| g.seq).collect();
        for w in s.windows(2) {
            assert_eq!(
                w[1],
                w[0] + 1,
                "gap inside connection #{i} (no cut there): {} then {}",
                w[0],
                w[1]
            );
        }
    }
    // Between connections: each change of connection follows a cut that the
    // sender saw (a Disconnected event before the new connection's first
    // message); report what was lost there.
    let mut next_expected = 0u64;
    let mut report = Vec::new();
    let mut total_lost = 0;
    for (i, conn) in order.iter().enumerate() {
        let g = &groups[&conn[..]];
        let first = g[0];
        let seqs_here: Vec<u64> = g.iter().filter_map(|x| x.seq).collect();
        let lost = seqs_here
            .first()
            .map_or(MESSAGES.saturating_sub(next_expected), |f| {
                f - next_expected
            });
        // Connection #i is at least the (i+1)-th: the i before it were cut
        // (a connection that carried no message may have been cut too). A
        // loss before the very first delivering connection needs a cut too.
        let before = disconnects.iter().filter(|t| **t < first.at).count();
        let needed = if i == 0 && lost > 0 { 1 } else { i };
        assert!(
            before >= needed,
            "connection #{i} (lost {lost} before it) began after only {before} disconnect(s) seen by the sender"
        );
        total_lost += lost;
        let lost_bytes: usize = (next_expected..next_expected + lost)
            .map(message_wire_len)
            .sum();
        report.push(format!(
            "conn #{i}: {} msgs ({}..={}), lost {lost} ({lost_bytes} bytes on the wire) at the cut(s) before it \
             ({before} sender disconnects by then)",
            seqs_here.len(),
            seqs_here.first().map_or("-".into(), u64::to_string),
            seqs_here.last().map_or("-".into(), u64::to_string),
        ));
        if let Some(l) = seqs_here.last() {
            next_expected = l + 1;
        }
    }
    assert!(
        order.len() <= disconnects.len() + 1,
        "{} connections carried messages but the sender saw {} disconnects",
        order.len(),
        disconnects.len()
    );
    let cuts = links.iter().filter(|l| l.cut).count();
    eprintln!(
        "[chaos c] {} of {MESSAGES} delivered intact, in order, no duplicates, in {took:?}; lost {total_lost} \
         (sender reported {dropped_partial} dropped mid-write); relay: {} connection(s), {cuts} cut, {} stalled; \
         sender: {} Disconnected, {handshake_failures} handshake failure(s); {unsent} unsent at close",
        seqs.len(),
        links.len(),
        links.iter().filter(|l| l.stalled).count(),
        disconnects.len(),
    );
    for l in &links {
        eprintln!(
            "[chaos c]   link {}: {:?}, {} bytes up, {} down, cut {}, stalled {}",
            l.index, l.fault, l.up_bytes, l.down_bytes, l.cut, l.stalled
        );
    }
    for r in &report {
        eprintln!("[chaos c]   {r}");
    }
    assert_eq!(
        seqs.len() as u64 + total_lost,
        MESSAGES,
        "accounting: delivered + lost"
    );
    assert!(
        cuts >= 2,
        "the relay cut only {cuts} time(s): weak test, change the plan"
    );
}
