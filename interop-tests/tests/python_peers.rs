//! pyzmq-only tests that prove the interop harness: the venv, [`Peer`], and
//! our reference peers `ref_server.py` / `ref_client.py` talking to each
//! other. No courier code is involved yet.

use std::process::Command;
use std::time::{Duration, Instant};

use courier_interop_tests::{
    event, free_port, hex, is_event, parse_event, python, scratch_dir, tcp_endpoint, Peer,
};

/// Upper bound of every single wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

fn start_server(port: u16, extra: &[&str]) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut args = vec!["--bind", endpoint.as_str()];
    args.extend_from_slice(extra);
    let mut server = Peer::python("ref_server.py", &args, "ref_server");
    server.expect_event("listening", &[("endpoint", endpoint.as_str())], WAIT);
    server
}

fn start_client(port: u16, extra: &[&str]) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut args = vec!["--connect", endpoint.as_str()];
    args.extend_from_slice(extra);
    let mut client = Peer::python("ref_client.py", &args, "ref_client");
    client.expect_event("connecting", &[], WAIT);
    client
}

#[test]
fn venv_provides_pinned_pyzmq() {
    let t0 = Instant::now();
    // Several threads at once: all must get the same, working interpreter.
    let handles: Vec<_> = (0..4).map(|_| std::thread::spawn(python)).collect();
    let paths: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(paths.windows(2).all(|w| w[0] == w[1]), "{paths:?}");
    let out = Command::new(&paths[0])
        .args([
            "-c",
            "import zmq; print(zmq.pyzmq_version(), zmq.zmq_version())",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let versions = String::from_utf8_lossy(&out.stdout);
    assert!(versions.starts_with("27."), "pyzmq is not 27.*: {versions}");
    eprintln!(
        "venv ready in {:?}: pyzmq/libzmq {}",
        t0.elapsed(),
        versions.trim()
    );
}

#[test]
fn client_and_server_exchange_hello() {
    let port = free_port();
    let mut server = start_server(port, &["--interval", "0.2"]);
    let mut client = start_client(port, &["--interval", "0.2", "--routing-id", "alice"]);
    let alice = hex(b"alice");

    // client -> server: the server learns alice from her first HELLO.
    let recv = server.expect_event(
        "recv",
        &[("peer", alice.as_str()), ("header", "HELLO")],
        WAIT,
    );
    assert_eq!(recv["frames"], 1);
    assert_eq!(recv["sizes"], serde_json::json!([5]));
    server.expect_seen(event("learned", &[("peer", alice.as_str())]), WAIT);

    // server -> client: HELLO every interval to each recent client.
    server.expect_event(
        "sent",
        &[("peer", alice.as_str()), ("header", "HELLO")],
        WAIT,
    );
    let got = client.expect_event("recv", &[("header", "HELLO")], WAIT);
    assert_eq!(got["frames"], 1);
    assert_eq!(got["sizes"], serde_json::json!([5]));
    client.expect_seen(event("connected", &[]), WAIT);

    // Steady state: several rounds both ways.
    for _ in 0..3 {
        client.expect_event("recv", &[("header", "HELLO")], WAIT);
        server.expect_event("recv", &[("peer", alice.as_str())], WAIT);
    }
    // Never any stranger, nor a drop while alice keeps talking.
    let events = server.events_so_far();
    assert!(events
        .iter()
        .filter(|e| e["event"] == "recv")
        .all(|e| e["peer"] == alice.as_str()));
    assert!(!events.iter().any(|e| e["event"] == "dropped"));
    assert!(!client
        .lines_so_far()
        .iter()
        .any(|l| is_event(l, "unresponsive", &[])));

    // Both exit cleanly on SIGTERM.
    let status = client.shutdown(WAIT);
    assert!(status.success(), "client exit: {status}");
    client.expect_seen(event("exit", &[("reason", "SIGTERM")]), WAIT);
    server.interrupt();
    let status = server.expect_exit(WAIT);
    assert!(status.success(), "server exit: {status}");
    server.expect_seen(event("exit", &[("reason", "SIGINT")]), WAIT);
}

#[test]
fn server_drops_a_killed_client() {
    let port = free_port();
    let mut server = start_server(port, &["--interval", "0.2", "--stale-after", "1"]);
    let mut client = start_client(port, &["--interval", "0.2", "--routing-id", "bob"]);
    let bob = hex(b"bob");

    server.expect_event("learned", &[("peer", bob.as_str())], WAIT);
    client.expect_event("recv", &[("header", "HELLO")], WAIT);

    let killed_at = Instant::now();
    client.kill();
    client.stop();
    let dropped = server.expect_event("dropped", &[("peer", bob.as_str())], WAIT);
    let after = killed_at.elapsed();
    eprintln!("dropped {after:?} after kill: {dropped}");
    assert!(
        after >= Duration::from_millis(700),
        "dropped too early: {after:?}"
    );
    assert!(
        after <= Duration::from_secs(4),
        "dropped too late: {after:?}"
    );

    // Once dropped, bob gets no more HELLOs.
    server.expect_no_line(
        event("sent", &[("peer", bob.as_str())]),
        Duration::from_millis(700),
    );
}

/// 1 MiB of deterministic pseudo-random bytes.
fn mebibyte() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

#[test]
fn a_one_mib_file_arrives_intact() {
    let dir = scratch_dir("file_1mib");
    let data = mebibyte();
    let src = dir.join("payload.bin");
    std::fs::write(&src, &data).unwrap();
    let inbox = dir.join("inbox");

    let port = free_port();
    let inbox_arg = inbox.to_string_lossy().into_owned();
    let mut server = start_server(port, &["--interval", "0.2", "--inbox", &inbox_arg]);
    let src_arg = src.to_string_lossy().into_owned();
    let mut client = start_client(
        port,
        &[
            "--interval",
            "0.2",
            "--routing-id",
            "carol",
            "--send-file",
            &src_arg,
        ],
    );

    let sent = client.expect_event("sent", &[("header", "FILE")], WAIT);
    assert_eq!(sent["size"], 1 << 20);
    let recv = server.expect_event("recv", &[("header", "FILE")], WAIT);
    assert_eq!(recv["frames"], 3);
    assert_eq!(
        recv["sizes"],
        serde_json::json!([4, "payload.bin".len(), 1 << 20])
    );
    let file = server.expect_event("file", &[("name", "payload.bin")], WAIT);
    assert_eq!(file["size"], 1 << 20);
    assert_eq!(file["sha256"], sent["sha256"], "sha256 differs");
    assert_eq!(file["peer"], hex(b"carol"));

    let saved = std::fs::read(inbox.join("payload.bin")).unwrap();
    assert!(saved == data, "saved file differs from the one sent");
    // Kept on failure for post-mortems; removed on success.
    drop((client, server));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_reports_a_silent_server_then_its_return() {
    let port = free_port();
    // Nobody listens yet: after --server-timeout the client says so, and
    // keeps trying.
    let mut client = start_client(port, &["--interval", "0.2", "--server-timeout", "1"]);
    let t0 = Instant::now();
    client.expect_event("unresponsive", &[], WAIT);
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );

    let _server = start_server(port, &["--interval", "0.2"]);
    client.expect_event("back", &[], WAIT);
    client.expect_seen(event("recv", &[("header", "HELLO")]), WAIT);
}

#[test]
fn peer_harness_reads_lines_and_stderr_and_signals() {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "echo one; echo '{\"event\":\"x\",\"n\":2}'; echo oops >&2; exec sleep 30",
    ]);
    let mut peer = Peer::spawn(cmd, "sh");
    assert!(peer.pid() > 0);
    let v = peer.expect_event("x", &[("n", "2")], WAIT);
    assert_eq!(v["n"], 2);
    assert_eq!(peer.lines_so_far()[0], "one");
    assert!(parse_event("one").is_none());
    let t0 = Instant::now();
    while !peer.stderr_so_far().contains("oops") {
        assert!(t0.elapsed() < WAIT, "stderr not captured");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(peer.try_wait().is_none());
    peer.terminate();
    let status = peer.expect_exit(WAIT);
    assert!(!status.success());

    // A peer that exits: expect_line fails fast (EOF), with its output.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo last-words; echo dying >&2"]);
    let mut peer = Peer::spawn(cmd, "short");
    let t0 = Instant::now();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        peer.expect_line(|l| l == "never", WAIT)
    }))
    .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("last-words"), "{msg}");
    assert!(msg.contains("stdout closed"), "{msg}");
}
