//! PLAIN and address rules (issue #14) with real processes: `courier-server --plain-passwords`
//! / `--allow-ip` / `--deny-ip` and `courier-client --plain-user --plain-password-file`
//! against each other and against pyzmq (libzmq 4.3) peers, on 127.x loopback addresses.
//!
//! The pyzmq side is `interop-tests/python/plain_peer.py`: a ROUTER server with zmq.auth's
//! `ThreadAuthenticator` (`configure_plain`, `allow`, `deny`) and a DEALER client (PLAIN or
//! NULL, which can connect from a source address, libzmq's `tcp://SRC:0;HOST:PORT`).
//!
//! Covered: pyzmq PLAIN clients with the right password, a wrong one and an unknown user
//! against courier-server (p1); courier-client against pyzmq's authenticator with
//! configure_plain (p2), allow (p3) and deny (p4), from 127.0.0.2 and 127.0.0.3;
//! courier-server's --allow-ip/--deny-ip with pyzmq NULL clients from other loopback
//! addresses (p5); password-file errors and warnings (p6); our NULL client against pyzmq's
//! NULL address rules (p7). What a ZAP handler that answers
//! 300 or never answers does, and User-Id reaching a handler, are covered in-process in
//! crates/socket/tests/auth.rs and crates/server/tests/server.rs; p1 also checks the user id
//! in courier-server's log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use courier_interop_tests::{cargo_bin, free_port, hex, is_event, scratch_dir, tcp_endpoint, Peer};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(1500);
const GRACE: Duration = Duration::from_secs(5);

/// The message of a courier log line (`<ts> LEVEL target: message`) of a courier target.
fn log_msg(line: &str) -> Option<&str> {
    let (_ts, rest) = line.split_once(' ')?;
    let (_level, rest) = rest.trim_start().split_once(' ')?;
    let (target, msg) = rest.trim_start().split_once(": ")?;
    target.starts_with("courier_").then_some(msg)
}

/// Predicate: a courier log line whose message contains every part.
fn logs(parts: &[&str]) -> impl Fn(&str) -> bool {
    let parts: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
    move |line| log_msg(line).is_some_and(|m| parts.iter().all(|p| m.contains(p.as_str())))
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `courier-server --bind tcp://127.0.0.1:PORT --interval 300ms extra...`, once listening.
fn our_server(port: u16, extra: &[&str], name: &str) -> Peer {
    let endpoint = tcp_endpoint(port);
    let mut cmd = Command::new(cargo_bin("courier-server"));
    cmd.env_remove("RUST_LOG")
        .args(["--bind", &endpoint, "--interval", "300ms"])
        .args(extra);
    let mut server = Peer::spawn(cmd, name);
    server.expect_line(logs(&[&format!("listening on {endpoint} (")]), WAIT);
    server
}

/// `courier-client --connect ENDPOINT --identity ID --interval 300ms extra...`.
fn our_client(endpoint: &str, id: &str, extra: &[&str]) -> Peer {
    let mut cmd = Command::new(cargo_bin("courier-client"));
    cmd.env_remove("RUST_LOG")
        .args([
            "--connect",
            endpoint,
            "--identity",
            id,
            "--interval",
            "300ms",
        ])
        .args(extra);
    let mut client = Peer::spawn(cmd, &format!("courier-client {id}"));
    client.expect_line(logs(&[&format!("connecting to {endpoint} (")]), WAIT);
    client
}

/// `plain_peer.py server args...` on a fresh port; returns it and its endpoint.
fn py_server(args: &[&str], name: &str) -> (Peer, String) {
    let mut all = vec!["server".to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let mut server = Peer::python("plain_peer.py", &all, name);
    let ev = server.expect_event("listening", &[], WAIT);
    let endpoint = ev["endpoint"].as_str().unwrap().to_owned();
    (server, endpoint)
}

/// `plain_peer.py client --connect ENDPOINT args...`.
fn py_client(endpoint: &str, args: &[&str], name: &str) -> Peer {
    let mut all = vec![
        "client".to_owned(),
        "--connect".to_owned(),
        endpoint.to_owned(),
    ];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let mut client = Peer::python("plain_peer.py", &all, name);
    client.expect_event("connecting", &[], WAIT);
    client
}

fn shut(peer: &mut Peer) {
    peer.terminate();
    let status = peer.expect_exit(GRACE);
    if !status.success() {
        peer.fail(&format!("exit status {status} after SIGTERM (want 0)"));
    }
}

/// A scratch directory with `passwords` (admin:secret, 0600) and client password files.
fn files(label: &str) -> PathBuf {
    let dir = scratch_dir(label);
    write_private(
        &dir.join("passwords"),
        "# users\nadmin:secret\n\nops:0ps pass\n",
    );
    write_private(&dir.join("right"), "secret\n");
    write_private(&dir.join("wrong"), "guess\n");
    dir
}

fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------
// p1. pyzmq PLAIN clients against courier-server
// ---------------------------------------------------------------------------

#[test]
fn p1_pyzmq_plain_clients_right_wrong_and_unknown() {
    let dir = files("p1");
    let port = free_port();
    let mut server = our_server(
        port,
        &["--plain-passwords", &arg(&dir.join("passwords"))],
        "courier-server PLAIN",
    );
    let endpoint = tcp_endpoint(port);
    // A password with a space in it, as the file holds it.
    let mut ok = py_client(
        &endpoint,
        &[
            "--user",
            "ops",
            "--password",
            "0ps pass",
            "--routing-id",
            "py-ok",
        ],
        "pyzmq ops",
    );
    let mut wrong = py_client(
        &endpoint,
        &[
            "--user",
            "admin",
            "--password",
            "guess",
            "--routing-id",
            "py-wrong",
        ],
        "pyzmq wrong password",
    );
    let mut unknown = py_client(
        &endpoint,
        &[
            "--user",
            "eve",
            "--password",
            "secret",
            "--routing-id",
            "py-eve",
        ],
        "pyzmq unknown user",
    );

    // The right one is served, known by its user name.
    server.expect_seen(logs(&["client learned: py-ok (user ops)"]), WAIT);
    ok.expect_event("recv", &[("header", "HELLO")], WAIT);

    // The others: libzmq reports an authentication failure with status 400 (it recognises
    // only libzmq's own ERROR form, which the server sends).
    wrong.expect_event("handshake_failed_auth", &[("value", "400")], WAIT);
    unknown.expect_event("handshake_failed_auth", &[("value", "400")], WAIT);
    server.expect_seen(
        logs(&[
            "handshake with",
            "failed",
            "400",
            "Invalid password for user \"admin\"",
        ]),
        WAIT,
    );
    server.expect_seen(
        logs(&["handshake with", "failed", "Invalid username \"eve\""]),
        WAIT,
    );

    // Nothing from them got through, and (although libzmq keeps retrying) the refusal was
    // logged once each.
    std::thread::sleep(QUIET);
    let lines = server.lines_so_far();
    assert!(
        !lines
            .iter()
            .any(|l| logs(&["py-wrong"])(l) || logs(&["py-eve"])(l)),
        "a refused client got through:\n{}",
        lines.join("\n")
    );
    assert!(
        !wrong.events_so_far().iter().any(|e| e["event"] == "recv"),
        "the wrong password received something"
    );
    let refusals = lines
        .iter()
        .filter(|l| logs(&["Invalid password"])(l))
        .count();
    assert_eq!(
        refusals,
        1,
        "refusal logged {refusals} times:\n{}",
        lines.join("\n")
    );
    shut(&mut ok);
    shut(&mut wrong);
    shut(&mut unknown);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// p2-p4. courier-client against pyzmq's ThreadAuthenticator
// ---------------------------------------------------------------------------

#[test]
fn p2_courier_client_against_pyzmq_configure_plain() {
    let dir = files("p2");
    let (mut server, endpoint) = py_server(&["--user", "admin:secret"], "pyzmq PLAIN server");
    let mut ok = our_client(
        &endpoint,
        "cc-ok",
        &[
            "--plain-user",
            "admin",
            "--plain-password-file",
            &arg(&dir.join("right")),
        ],
    );
    let mut bad = our_client(
        &endpoint,
        "cc-bad",
        &[
            "--plain-user",
            "admin",
            "--plain-password-file",
            &arg(&dir.join("wrong")),
        ],
    );
    // libzmq hands the user name to the application as User-Id.
    server.expect_event(
        "recv",
        &[
            ("peer", &hex(b"cc-ok")),
            ("header", "HELLO"),
            ("user_id", "admin"),
        ],
        WAIT,
    );
    ok.expect_line(logs(&["received HELLO"]), WAIT);
    server.expect_seen(|l| is_event(l, "auth", &[("allowed", "false")]), WAIT);
    // Our client reads libzmq's ERROR as the refusal it is, says what to check, and logs it
    // once however often it retries.
    bad.expect_line(
        logs(&["handshake failed", "400", "PLAIN user name and password"]),
        WAIT,
    );
    std::thread::sleep(QUIET);
    let lines = bad.lines_so_far();
    assert!(
        !lines.iter().any(|l| logs(&["received HELLO"])(l)),
        "the refused client got through"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| logs(&["refused the handshake: 400"])(l))
            .count(),
        2,
        "want one socket line and one link line:\n{}",
        lines.join("\n")
    );
    shut(&mut ok);
    shut(&mut bad);
    shut(&mut server);
}

#[test]
fn p3_pyzmq_allow_list_with_clients_from_other_loopback_addresses() {
    let dir = files("p3");
    let (mut server, endpoint) = py_server(
        &["--user", "admin:secret", "--allow", "127.0.0.2"],
        "pyzmq PLAIN server allowing 127.0.0.2",
    );
    let port = endpoint.rsplit(':').next().unwrap().to_owned();
    let plain = [
        "--plain-user",
        "admin",
        "--plain-password-file",
        &arg(&dir.join("right")),
    ];
    let mut from2 = our_client(
        &format!("tcp://127.0.0.2:0;127.0.0.1:{port}"),
        "cc-2",
        &plain,
    );
    let mut from1 = our_client(&endpoint, "cc-1", &plain);
    server.expect_event(
        "recv",
        &[
            ("peer", &hex(b"cc-2")),
            ("user_id", "admin"),
            ("address", "127.0.0.2"),
        ],
        WAIT,
    );
    from2.expect_line(logs(&["received HELLO"]), WAIT);
    from1.expect_line(logs(&["handshake failed", "400"]), WAIT);
    std::thread::sleep(QUIET);
    assert!(
        !server
            .events_so_far()
            .iter()
            .any(|e| e["event"] == "recv" && e["peer"] == hex(b"cc-1")),
        "127.0.0.1 got through an allow list of 127.0.0.2"
    );
    shut(&mut from2);
    shut(&mut from1);
    shut(&mut server);
}

#[test]
fn p4_pyzmq_deny_list() {
    let dir = files("p4");
    let (mut server, endpoint) = py_server(
        &["--user", "admin:secret", "--deny", "127.0.0.3"],
        "pyzmq PLAIN server denying 127.0.0.3",
    );
    let port = endpoint.rsplit(':').next().unwrap().to_owned();
    let plain = [
        "--plain-user",
        "admin",
        "--plain-password-file",
        &arg(&dir.join("right")),
    ];
    let mut from3 = our_client(
        &format!("tcp://127.0.0.3:0;127.0.0.1:{port}"),
        "cc-3",
        &plain,
    );
    let mut from2 = our_client(
        &format!("tcp://127.0.0.2:0;127.0.0.1:{port}"),
        "cc-2",
        &plain,
    );
    server.expect_event(
        "recv",
        &[("peer", &hex(b"cc-2")), ("address", "127.0.0.2")],
        WAIT,
    );
    from2.expect_line(logs(&["received HELLO"]), WAIT);
    from3.expect_line(logs(&["handshake failed", "400"]), WAIT);
    std::thread::sleep(QUIET);
    assert!(
        !server
            .events_so_far()
            .iter()
            .any(|e| e["event"] == "recv" && e["peer"] == hex(b"cc-3")),
        "127.0.0.3 got through a deny list"
    );
    shut(&mut from3);
    shut(&mut from2);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// p5. courier-server's address rules with pyzmq NULL clients
// ---------------------------------------------------------------------------

#[test]
fn p5_courier_server_allow_and_deny_ip_with_pyzmq_clients() {
    // Deny 127.0.0.3: 127.0.0.2 passes, 127.0.0.3 is refused.
    let port = free_port();
    let mut server = our_server(port, &["--deny-ip", "127.0.0.3"], "courier-server deny");
    let mut from2 = py_client(
        &format!("tcp://127.0.0.2:0;127.0.0.1:{port}"),
        &["--routing-id", "py-2"],
        "pyzmq from 127.0.0.2",
    );
    let mut from3 = py_client(
        &format!("tcp://127.0.0.3:0;127.0.0.1:{port}"),
        &["--routing-id", "py-3"],
        "pyzmq from 127.0.0.3",
    );
    server.expect_seen(logs(&["client learned: py-2"]), WAIT);
    from2.expect_event("recv", &[("header", "HELLO")], WAIT);
    from3.expect_event("handshake_failed_auth", &[("value", "400")], WAIT);
    server.expect_seen(logs(&["127.0.0.3", "Address denied: 127.0.0.3"]), WAIT);
    shut(&mut from2);
    shut(&mut from3);
    shut(&mut server);

    // Allow 127.0.0.0/31 (127.0.0.0 and .1): 127.0.0.1 passes, 127.0.0.2 is refused even
    // though nothing denies it (the allow list wins).
    let port = free_port();
    let mut server = our_server(
        port,
        &["--allow-ip", "127.0.0.0/31", "--deny-ip", "127.0.0.1"],
        "courier-server allow",
    );
    let mut from1 = py_client(
        &tcp_endpoint(port),
        &["--routing-id", "py-1"],
        "pyzmq from .1",
    );
    let mut from2 = py_client(
        &format!("tcp://127.0.0.2:0;127.0.0.1:{port}"),
        &["--routing-id", "py-2b"],
        "pyzmq from .2",
    );
    server.expect_seen(logs(&["client learned: py-1"]), WAIT);
    from1.expect_event("recv", &[("header", "HELLO")], WAIT);
    from2.expect_event("handshake_failed_auth", &[("value", "400")], WAIT);
    server.expect_seen(logs(&["Address not allowed: 127.0.0.2"]), WAIT);
    shut(&mut from1);
    shut(&mut from2);
    shut(&mut server);
}

// ---------------------------------------------------------------------------
// p6. Password files
// ---------------------------------------------------------------------------

#[test]
fn p6_password_file_errors_and_warnings() {
    let dir = scratch_dir("p6");
    let bad = dir.join("bad");
    write_private(&bad, "# ok\nadmin:secret\nno colon here\n");
    let out = Command::new(cargo_bin("courier-server"))
        .env_remove("RUST_LOG")
        .args([
            "--bind",
            &tcp_endpoint(free_port()),
            "--plain-passwords",
            &arg(&bad),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("line 3") && stderr.contains("user:password"),
        "{stderr}"
    );

    // Readable by others: a warning, and the server runs.
    let open = dir.join("open");
    std::fs::write(&open, "admin:secret\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut server = our_server(
        free_port(),
        &["--plain-passwords", &arg(&open)],
        "open file",
    );
    server.expect_seen(logs(&["can be read by other users", "chmod 600"]), WAIT);
    shut(&mut server);

    // The client never takes a password on the command line, and needs both flags.
    let out = Command::new(cargo_bin("courier-client"))
        .env_remove("RUST_LOG")
        .args(["--plain-user", "admin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--plain-password-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// p7. courier-client (NULL) against pyzmq's address rules
// ---------------------------------------------------------------------------

#[test]
fn p7_courier_null_client_against_pyzmq_address_rules() {
    let (mut server, endpoint) = py_server(
        &["--null", "--deny", "127.0.0.1"],
        "pyzmq NULL server denying 127.0.0.1",
    );
    let port = endpoint.rsplit(':').next().unwrap().to_owned();
    let mut denied = our_client(&endpoint, "cc-null-1", &[]);
    let mut from2 = our_client(
        &format!("tcp://127.0.0.2:0;127.0.0.1:{port}"),
        "cc-null-2",
        &[],
    );
    server.expect_event(
        "recv",
        &[("peer", &hex(b"cc-null-2")), ("address", "127.0.0.2")],
        WAIT,
    );
    from2.expect_line(logs(&["received HELLO"]), WAIT);
    denied.expect_line(
        logs(&["handshake failed", "refused the handshake: 400"]),
        WAIT,
    );
    server.expect_seen(|l| is_event(l, "auth", &[("allowed", "false")]), WAIT);
    shut(&mut denied);
    shut(&mut from2);
    shut(&mut server);
}
