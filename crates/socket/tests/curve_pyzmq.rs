//! CURVE against real libzmq: pyzmq peers (interop-tests/python/curve_peer.py) as child
//! processes, both roles each way, on 127.0.0.1, with bounded waits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_interop_tests::{hex, parse_event, tcp_endpoint, Peer};
use courier_socket::proto::curve::{Authorizer, Keypair};
use courier_socket::{
    runtime, Dealer, Endpoint, Multipart, Options, Router, Security, SocketEvent,
};

/// Bound for what should happen at once (a Python start, a handshake).
const SOON: Duration = Duration::from_secs(10);
/// How long we watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(1500);

fn mp(frames: &[&[u8]]) -> Multipart {
    Multipart::new(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()).unwrap()
}

fn frames(msg: &Multipart) -> Vec<Vec<u8>> {
    msg.iter().map(|f| f.to_vec()).collect()
}

fn within<F: std::future::Future>(limit: Duration, what: &str, future: F) -> F::Output {
    runtime::block_on(runtime::timeout(limit, future))
        .unwrap_or_else(|| panic!("timed out after {limit:?}: {what}"))
}

/// Waits for a socket event matching `pred`; returns it with the events before it.
fn wait_event(
    events: &async_channel::Receiver<SocketEvent>,
    what: &str,
    pred: impl Fn(&SocketEvent) -> bool,
) -> (SocketEvent, Vec<SocketEvent>) {
    let deadline = Instant::now() + SOON;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match runtime::block_on(runtime::timeout(left, events.recv())) {
            Some(Ok(ev)) if pred(&ev) => return (ev, seen),
            Some(Ok(ev)) => seen.push(ev),
            _ => panic!("no {what} event within {SOON:?}; saw {seen:?}"),
        }
    }
}

/// A pyzmq message argument: frames in hex, comma-separated.
fn hex_message(frames: &[&[u8]]) -> String {
    frames.iter().map(|f| hex(f)).collect::<Vec<_>>().join(",")
}

/// Waits for the peer's next `recv` event matching `fields`; returns its frames.
fn expect_recv(peer: &mut Peer, fields: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let ev = peer.expect_event("recv", fields, SOON);
    ev["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = f.as_str().unwrap();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

fn is_recv(line: &str) -> bool {
    parse_event(line).is_some_and(|v| v["event"] == "recv")
}

fn monitor(name: &str) -> impl Fn(&str) -> bool + '_ {
    move |line| parse_event(line).is_some_and(|v| v["event"] == "monitor" && v["name"] == name)
}

/// A pyzmq CURVE server ROUTER, listening; returns it and its endpoint.
fn pyzmq_router(server: &Keypair) -> (Peer, String) {
    let mut peer = Peer::python(
        "curve_peer.py",
        [
            "router",
            "--bind",
            "tcp://127.0.0.1:0",
            // `=`: a Z85 key may start with '-', which argparse would take for an option.
            &format!("--secret={}", &*server.secret().to_z85()),
        ],
        "pyzmq CURVE ROUTER",
    );
    let listening = peer.expect_event("listening", &[], SOON);
    let endpoint = listening["endpoint"].as_str().unwrap().to_owned();
    (peer, endpoint)
}

/// A pyzmq CURVE client DEALER connecting to `endpoint` and sending `messages`.
fn pyzmq_dealer(
    endpoint: &str,
    client: &Keypair,
    server_key: &[u8; 32],
    identity: &str,
    messages: &[&[&[u8]]],
) -> Peer {
    pyzmq_dealer_with(endpoint, client, server_key, identity, messages, &[])
}

fn pyzmq_dealer_with(
    endpoint: &str,
    client: &Keypair,
    server_key: &[u8; 32],
    identity: &str,
    messages: &[&[&[u8]]],
    extra: &[&str],
) -> Peer {
    let mut args = vec!["dealer".to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend([
        "--connect".to_owned(),
        endpoint.to_owned(),
        // `=`: a Z85 key may start with '-', which argparse would take for an option.
        format!(
            "--server-key={}",
            courier_socket::proto::z85::encode_key(server_key)
        ),
        format!("--public={}", client.public_z85()),
        format!("--secret={}", &*client.secret().to_z85()),
        "--identity".to_owned(),
        identity.to_owned(),
    ]);
    for m in messages {
        args.push("--send".to_owned());
        args.push(hex_message(m));
    }
    Peer::python(
        "curve_peer.py",
        args,
        &format!("pyzmq CURVE DEALER {identity}"),
    )
}

fn our_curve_router(server: &Keypair, authorizer: Authorizer) -> (Router, Endpoint) {
    let router = Router::new(Options {
        security: Security::curve_server(server.secret().clone(), authorizer),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    (router, endpoint)
}

fn tcp(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tcp { port, .. } => tcp_endpoint(*port),
        other => panic!("not TCP: {other}"),
    }
}

#[test]
fn our_dealer_client_talks_to_a_pyzmq_router_server() {
    let (server, client) = (Keypair::generate(), Keypair::generate());
    let (mut py, endpoint) = pyzmq_router(&server);
    let dealer = Dealer::new(Options {
        routing_id: Bytes::from_static(b"courier-dealer"),
        security: Security::curve_client(client.clone(), *server.public()),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&endpoint).unwrap();

    let big = vec![0xa5u8; 3000];
    let first: &[&[u8]] = &[b"HELLO", b"", &big];
    within(SOON, "send", dealer.send(mp(first))).unwrap();
    within(SOON, "send", dealer.send(mp(&[b"second"]))).unwrap();
    wait_event(&events, "HandshakeSucceeded", |e| {
        matches!(e, SocketEvent::HandshakeSucceeded { .. })
    });

    // libzmq opened our boxes, MORE flags and all, and saw our Identity from INITIATE.
    assert_eq!(
        expect_recv(&mut py, &[("peer", &hex(b"courier-dealer"))]),
        vec![b"HELLO".to_vec(), vec![], big.clone()]
    );
    assert_eq!(expect_recv(&mut py, &[]), vec![b"second".to_vec()]);

    // And we open libzmq's.
    let reply = within(SOON, "echo", dealer.recv()).unwrap();
    assert_eq!(
        frames(&reply),
        vec![b"echo".to_vec(), b"HELLO".to_vec(), vec![], big]
    );
    let reply = within(SOON, "echo", dealer.recv()).unwrap();
    assert_eq!(frames(&reply), vec![b"echo".to_vec(), b"second".to_vec()]);
    py.expect_seen(monitor("HANDSHAKE_SUCCEEDED"), SOON);
}

#[test]
fn a_pyzmq_dealer_client_talks_to_our_router_server() {
    let (server, client) = (Keypair::generate(), Keypair::generate());
    let (router, endpoint) = our_curve_router(&server, Authorizer::allow_keys([*client.public()]));
    let events = router.events();
    let mut py = pyzmq_dealer(
        &tcp(&endpoint),
        &client,
        server.public(),
        "py-dealer",
        &[&[b"one", b"", b"three"], &[b"single"]],
    );
    let (ev, _) = wait_event(&events, "HandshakeSucceeded", |e| {
        matches!(e, SocketEvent::HandshakeSucceeded { .. })
    });
    let SocketEvent::HandshakeSucceeded { routing_id, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&routing_id[..], b"py-dealer");

    let msg = within(SOON, "recv from pyzmq", router.recv()).unwrap();
    assert_eq!(
        frames(&msg),
        vec![
            b"py-dealer".to_vec(),
            b"one".to_vec(),
            vec![],
            b"three".to_vec()
        ]
    );
    let msg = within(SOON, "recv from pyzmq", router.recv()).unwrap();
    assert_eq!(
        frames(&msg),
        vec![b"py-dealer".to_vec(), b"single".to_vec()]
    );

    let long = vec![b'x'; 300];
    within(
        SOON,
        "send to pyzmq",
        router.send(mp(&[b"py-dealer", b"back", &long])),
    )
    .unwrap();
    assert_eq!(expect_recv(&mut py, &[]), vec![b"back".to_vec(), long]);
    py.expect_seen(monitor("HANDSHAKE_SUCCEEDED"), SOON);
}

#[test]
fn a_pyzmq_client_with_the_wrong_server_key_gets_nothing_through() {
    let (server, client, stranger) = (
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
    );
    let (router, endpoint) = our_curve_router(&server, Authorizer::allow_any());
    let events = router.events();
    let mut py = pyzmq_dealer(
        &tcp(&endpoint),
        &client,
        stranger.public(),
        "misled",
        &[&[b"for the wrong server"]],
    );
    let (ev, _) = wait_event(&events, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    let SocketEvent::HandshakeFailed { reason, .. } = ev else {
        unreachable!()
    };
    let reason = reason.to_string();
    assert!(reason.contains("HELLO box does not open"), "{reason}");
    assert!(
        within(QUIET + SOON, "quiet", async {
            runtime::timeout(QUIET, router.recv()).await
        })
        .is_none(),
        "a message got through"
    );
    py.expect_no_line(
        |l| is_recv(l) || monitor("HANDSHAKE_SUCCEEDED")(l),
        Duration::from_millis(200),
    );
}

#[test]
fn our_dealer_with_the_wrong_server_key_gets_nothing_from_a_pyzmq_server() {
    let (server, client, stranger) = (
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
    );
    let (mut py, endpoint) = pyzmq_router(&server);
    let dealer = Dealer::new(Options {
        security: Security::curve_client(client, *stranger.public()),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&endpoint).unwrap();
    within(SOON, "queue", dealer.send(mp(&[b"misdirected"]))).unwrap();
    // libzmq cannot open our HELLO and hangs up without a word.
    wait_event(&events, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    py.expect_no_line(is_recv, QUIET);
    assert!(dealer.try_recv().is_none());
}

#[test]
fn our_server_refuses_a_client_it_does_not_know_and_serves_one_it_does() {
    let (server, known, unknown) = (
        Keypair::generate(),
        Keypair::generate(),
        Keypair::generate(),
    );
    let (router, endpoint) = our_curve_router(&server, Authorizer::allow_keys([*known.public()]));
    let events = router.events();
    let endpoint = tcp(&endpoint);

    let mut intruder = pyzmq_dealer(
        &endpoint,
        &unknown,
        server.public(),
        "intruder",
        &[&[b"let me in"]],
    );
    let (ev, _) = wait_event(&events, "HandshakeFailed", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    let SocketEvent::HandshakeFailed { reason, .. } = ev else {
        unreachable!()
    };
    let reason = reason.to_string();
    // The server log names the refused key in Z85.
    assert!(reason.contains(&unknown.public_z85()), "{reason}");
    assert!(reason.contains("not authorized"), "{reason}");

    let mut friend = pyzmq_dealer(&endpoint, &known, server.public(), "friend", &[&[b"hello"]]);
    let msg = within(SOON, "the known client's message", router.recv()).unwrap();
    assert_eq!(frames(&msg), vec![b"friend".to_vec(), b"hello".to_vec()]);
    within(SOON, "reply", router.send(mp(&[b"friend", b"welcome"]))).unwrap();
    assert_eq!(expect_recv(&mut friend, &[]), vec![b"welcome".to_vec()]);

    intruder.expect_seen(
        |l| {
            parse_event(l)
                .is_some_and(|v| v["name"] == "HANDSHAKE_FAILED_AUTH" && v["value"] == 400)
        },
        SOON,
    );
    // The intruder (libzmq retries after each refusal) never got a message in or out.
    assert!(router.try_recv().is_none());
    assert!(!router.is_connected(b"intruder"));
    intruder.expect_no_line(
        |l| is_recv(l) || monitor("HANDSHAKE_SUCCEEDED")(l),
        Duration::from_millis(300),
    );
}

#[test]
fn heartbeats_travel_as_curve_commands_both_ways() {
    // libzmq PINGs inside MESSAGE boxes with the COMMAND flag; our PONGs (and PINGs) must
    // open on its side, or it drops the connection after its heartbeat timeout.
    let (server, client) = (Keypair::generate(), Keypair::generate());
    let router = Router::new(Options {
        security: Security::curve_server(server.secret().clone(), Authorizer::allow_any()),
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    let mut py = pyzmq_dealer_with(
        &tcp(&endpoint),
        &client,
        server.public(),
        "beating",
        &[&[b"first"]],
        &["--heartbeat-ms", "100"],
    );
    let msg = within(SOON, "first", router.recv()).unwrap();
    assert_eq!(frames(&msg), vec![b"beating".to_vec(), b"first".to_vec()]);
    // Ten heartbeat intervals each way.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(router.is_connected(b"beating"));
    within(SOON, "reply", router.send(mp(&[b"beating", b"still here"]))).unwrap();
    assert_eq!(expect_recv(&mut py, &[]), vec![b"still here".to_vec()]);
    let lines = py.lines_so_far();
    assert!(
        !lines.iter().any(|l| monitor("DISCONNECTED")(l)),
        "libzmq dropped the connection: {lines:#?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| monitor("HANDSHAKE_SUCCEEDED")(l))
            .count(),
        1,
        "{lines:#?}"
    );
    while let Ok(ev) = events.try_recv() {
        assert!(
            !matches!(ev, SocketEvent::Disconnected { .. }),
            "the connection dropped: {ev:?}"
        );
    }
}
