//! Every socket type against real libzmq: pyzmq peers (interop-tests/python/socket_peer.py) as
//! child processes on 127.0.0.1, in both directions (courier binds / pyzmq binds), with bounded
//! waits: delivery and order, HWM behaviour (PUB drops, PUSH blocks), subscriptions before and
//! after connect and after a publisher restart, REQ/REP through a pyzmq ROUTER/DEALER broker,
//! XSUB/XPUB forwarding through pyzmq, and the compatibility table's refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{frames, free_port, mp, reason_of, wait_event, within};
use courier_interop_tests::{event, hex, parse_event, scratch_dir, Peer};
use courier_socket::{
    DropReason, Endpoint, Multipart, Options, Pair, Pub, Pull, Push, Rep, Req, SocketError,
    SocketEvent, Sub, XPub, XSub,
};

/// Bound for what should happen at once (a Python start, a handshake, a delivery).
const SOON: Duration = Duration::from_secs(10);

/// Which side listens.
#[derive(Clone, Copy, Debug)]
enum Binds {
    Courier,
    Pyzmq,
}

const BOTH: [Binds; 2] = [Binds::Courier, Binds::Pyzmq];

fn hex_frames(frames: &[&[u8]]) -> String {
    frames.iter().map(|f| hex(f)).collect::<Vec<_>>().join(",")
}

fn step(kind: &str, frames: &[&[u8]]) -> String {
    format!("{kind}:{}", hex_frames(frames))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn frames_of(ev: &serde_json::Value) -> Vec<Vec<u8>> {
    ev["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| unhex(f.as_str().unwrap()))
        .collect()
}

/// Arguments for socket_peer.py.
fn py_args(ty: &str, how: &str, endpoint: &str, extra: &[&str], steps: &[String]) -> Vec<String> {
    let mut args = vec![ty.to_owned(), how.to_owned(), endpoint.to_owned()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    for s in steps {
        args.push("--step".to_owned());
        args.push(s.clone());
    }
    args
}

/// A pyzmq socket bound on `endpoint` (port 0: any); returns it with the endpoint bound.
fn py_bind_at(ty: &str, endpoint: &str, extra: &[&str], steps: &[String]) -> (Peer, String) {
    let mut peer = Peer::python(
        "socket_peer.py",
        py_args(ty, "--bind", endpoint, extra, steps),
        &format!("pyzmq {ty} (bound)"),
    );
    let listening = peer.expect_event("listening", &[], SOON);
    let endpoint = listening["endpoint"].as_str().unwrap().to_owned();
    (peer, endpoint)
}

fn py_connect(ty: &str, endpoint: &str, extra: &[&str], steps: &[String]) -> Peer {
    Peer::python(
        "socket_peer.py",
        py_args(ty, "--connect", endpoint, extra, steps),
        &format!("pyzmq {ty} (connecting)"),
    )
}

/// Joins a courier socket and a pyzmq peer of type `ty` running `steps`, whichever binds:
/// `bind` and `connect` are the courier socket's.
fn join(
    binds: Binds,
    ty: &str,
    extra: &[&str],
    steps: &[String],
    bind: impl FnOnce(&str) -> Endpoint,
    connect: impl FnOnce(&str),
) -> Peer {
    match binds {
        Binds::Courier => {
            let endpoint = bind("tcp://127.0.0.1:0");
            py_connect(ty, &endpoint.to_string(), extra, steps)
        }
        Binds::Pyzmq => {
            let (peer, endpoint) = py_bind_at(ty, "tcp://127.0.0.1:0", extra, steps);
            connect(&endpoint);
            peer
        }
    }
}

/// The frames of the peer's next `recv` event.
fn py_recv(peer: &mut Peer) -> Vec<Vec<u8>> {
    frames_of(&peer.expect_event("recv", &[], SOON))
}

fn text(msg: &Multipart) -> String {
    String::from_utf8_lossy(msg.first()).into_owned()
}

fn is_handshake_ok(ev: &SocketEvent) -> bool {
    matches!(ev, SocketEvent::HandshakeSucceeded { .. })
}

// ---- PUSH / PULL -----------------------------------------------------------------------------

#[test]
fn courier_push_to_pyzmq_pull_in_order() {
    for binds in BOTH {
        let push = Push::new(Options::default());
        let mut py = join(
            binds,
            "PULL",
            &[],
            &["recv:50".to_owned()],
            |e| push.bind_blocking(e).unwrap(),
            |e| push.connect(e).unwrap(),
        );
        for n in 0..50 {
            push.send_blocking(mp(&[format!("m{n}").as_bytes(), b"x"]))
                .unwrap();
        }
        for n in 0..50 {
            assert_eq!(
                py_recv(&mut py),
                vec![format!("m{n}").into_bytes(), b"x".to_vec()],
                "{binds:?}"
            );
        }
    }
}

#[test]
fn pyzmq_push_to_courier_pull_in_order() {
    for binds in BOTH {
        let pull = Pull::new(Options::default());
        let steps: Vec<String> = (0..50)
            .map(|n| step("send", &[format!("m{n}").as_bytes()]))
            .collect();
        let _py = join(
            binds,
            "PUSH",
            &[],
            &steps,
            |e| pull.bind_blocking(e).unwrap(),
            |e| pull.connect(e).unwrap(),
        );
        for n in 0..50 {
            assert_eq!(
                text(&pull.recv_timeout(SOON).unwrap()),
                format!("m{n}"),
                "{binds:?}"
            );
        }
    }
}

#[test]
fn courier_push_deals_in_turn_to_pyzmq_pulls() {
    let push = Push::new(Options::default());
    let events = push.events();
    let endpoint = push.bind_blocking("tcp://127.0.0.1:0").unwrap().to_string();
    let mut pulls: Vec<Peer> = (0..2)
        .map(|_| py_connect("PULL", &endpoint, &[], &["recv:10".to_owned()]))
        .collect();
    for _ in 0..2 {
        wait_event(&events, SOON, "handshake", is_handshake_ok);
    }
    for n in 0..20 {
        push.send_blocking(mp(&[format!("{n}").as_bytes()]))
            .unwrap();
    }
    let mut firsts = Vec::new();
    for py in &mut pulls {
        let got: Vec<usize> = (0..10)
            .map(|_| {
                String::from_utf8(py_recv(py)[0].clone())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(got.windows(2).all(|w| w[1] == w[0] + 2), "{got:?}");
        firsts.push(got[0]);
    }
    firsts.sort_unstable();
    assert_eq!(firsts, vec![0, 1]);
}

#[test]
fn courier_push_blocks_while_a_pyzmq_pull_does_not_read_and_loses_nothing() {
    let go = scratch_dir("push-hwm").join("go");
    let push = Push::new(Options {
        send_hwm: 2,
        ..Options::default()
    });
    let events = push.events();
    let endpoint = push.bind_blocking("tcp://127.0.0.1:0").unwrap().to_string();
    let mut py = py_connect(
        "PULL",
        &endpoint,
        &["--rcvhwm", "1", "--brief"],
        &[
            format!("wait_file:{}", go.display()),
            step("recv_until", &[b"end"]),
        ],
    );
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    let mut sent = 0usize;
    // The peer reads nothing: its queue, the TCP buffers and ours fill, then sending waits.
    loop {
        let msg = Multipart::new(vec![Bytes::from(sent.to_string()), body.clone()]).unwrap();
        match push.send_timeout(msg, Duration::from_millis(300)) {
            Ok(()) => sent += 1,
            Err(SocketError::Timeout(_)) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100_000, "PUSH never blocked");
    }
    std::fs::write(&go, b"").unwrap();
    push.send_blocking(mp(&[b"end"])).unwrap();
    for n in 0..sent {
        let ev = py.expect_event("recv", &[], SOON);
        assert_eq!(frames_of(&ev)[0], n.to_string().into_bytes());
        assert_eq!(ev["count"], 2);
    }
    assert_eq!(py_recv(&mut py), vec![b"end".to_vec()]);
}

// ---- PAIR ------------------------------------------------------------------------------------

#[test]
fn courier_pair_and_pyzmq_pair_talk_both_ways() {
    for binds in BOTH {
        let pair = Pair::new(Options::default());
        let mut py = join(
            binds,
            "PAIR",
            &[],
            &[step("send", &[b"ping", b""]), "recv".to_owned()],
            |e| pair.bind_blocking(e).unwrap(),
            |e| pair.connect(e).unwrap(),
        );
        assert_eq!(
            frames(&pair.recv_timeout(SOON).unwrap()),
            vec![b"ping".to_vec(), vec![]],
            "{binds:?}"
        );
        pair.send_blocking(mp(&[b"pong"])).unwrap();
        assert_eq!(py_recv(&mut py), vec![b"pong".to_vec()]);
    }
}

#[test]
fn a_second_pyzmq_pair_is_refused() {
    let pair = Pair::new(Options::default());
    let events = pair.events();
    let endpoint = pair.bind_blocking("tcp://127.0.0.1:0").unwrap().to_string();
    let mut first = py_connect("PAIR", &endpoint, &[], &[step("send", &[b"one"])]);
    assert_eq!(text(&pair.recv_timeout(SOON).unwrap()), "one");
    let _second = py_connect("PAIR", &endpoint, &["--monitor"], &[]);
    let (refused, _) = wait_event(&events, SOON, "refusal", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&refused).contains("already has its one peer"));
    first.expect_event("done", &[], SOON);
}

// ---- PUB / SUB -------------------------------------------------------------------------------

/// Publishes `a.N` and `b.N` until the pyzmq SUB (subscribed to "a.") reports `want` messages;
/// returns them.
fn publish_until_received(publish: &dyn Fn(Multipart), py: &mut Peer, want: usize) -> Vec<String> {
    let deadline = Instant::now() + SOON;
    let mut got = Vec::new();
    let mut n = 0;
    while got.len() < want {
        assert!(Instant::now() < deadline, "got only {got:?}");
        publish(mp(&[format!("b.{n}").as_bytes()]));
        publish(mp(&[format!("a.{n}").as_bytes()]));
        n += 1;
        if let Some(line) = py.wait_line(event("recv", &[]), Duration::from_millis(10)) {
            let ev = parse_event(&line).unwrap();
            got.push(String::from_utf8(frames_of(&ev)[0].clone()).unwrap());
        }
    }
    got
}

#[test]
fn courier_pub_filters_for_a_pyzmq_sub() {
    for binds in BOTH {
        let publisher = Pub::new(Options::default());
        let mut py = join(
            binds,
            "SUB",
            &[],
            &[step("sub", &[b"a."]), "recv:5".to_owned()],
            |e| publisher.bind_blocking(e).unwrap(),
            |e| publisher.connect(e).unwrap(),
        );
        let got = publish_until_received(&|m| publisher.send_blocking(m).unwrap(), &mut py, 5);
        assert!(
            got.iter().all(|t| t.starts_with("a.")),
            "{binds:?}: {got:?}"
        );
        let numbers: Vec<usize> = got.iter().map(|t| t[2..].parse().unwrap()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }
}

#[test]
fn courier_pub_drops_for_a_pyzmq_sub_that_does_not_read() {
    let go = scratch_dir("pub-hwm").join("go");
    let publisher = Pub::new(Options {
        send_hwm: 8,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher
        .bind_blocking("tcp://127.0.0.1:0")
        .unwrap()
        .to_string();
    let mut py = py_connect(
        "SUB",
        &endpoint,
        &["--rcvhwm", "1", "--brief"],
        &[
            step("sub", &[b""]),
            "recv".to_owned(),
            format!("wait_file:{}", go.display()),
            step("recv_until", &[b"end"]),
        ],
    );
    // Once the SUB has one message, its subscription is in.
    let deadline = Instant::now() + SOON;
    while py
        .wait_line(event("recv", &[]), Duration::from_millis(10))
        .is_none()
    {
        assert!(Instant::now() < deadline, "the subscription never arrived");
        publisher.send_blocking(mp(&[b"sync"])).unwrap();
    }
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    const SENT: usize = 2_000;
    for n in 0..SENT {
        // Never blocks, whatever the subscriber does.
        publisher
            .send_blocking(Multipart::new(vec![Bytes::from(n.to_string()), body.clone()]).unwrap())
            .unwrap();
    }
    wait_event(&events, SOON, "a drop", |e| {
        matches!(
            e,
            SocketEvent::MessagesDropped {
                reason: DropReason::QueueFull { hwm: 8 },
                ..
            }
        )
    });
    std::fs::write(&go, b"").unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + SOON;
    loop {
        assert!(Instant::now() < deadline, "the end marker never came");
        // Published until it gets through (while the SUB is behind, it is dropped too).
        publisher.send_blocking(mp(&[b"end"])).unwrap();
        let Some(line) = py.wait_line(event("recv", &[]), Duration::from_millis(10)) else {
            continue;
        };
        let first = frames_of(&parse_event(&line).unwrap())[0].clone();
        if first == b"end" {
            break;
        }
        if first != b"sync" {
            got.push(String::from_utf8(first).unwrap().parse::<usize>().unwrap());
        }
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert!(got.len() < SENT, "nothing was dropped");
}

/// Receives until a message with a first frame starting with `prefix`; returns the first
/// frames seen before it.
fn recv_until_prefix(sub: &Sub, prefix: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + SOON;
    loop {
        assert!(
            Instant::now() < deadline,
            "no {prefix}* within {SOON:?}; saw {seen:?}"
        );
        let msg = text(&sub.recv_timeout(SOON).unwrap());
        if msg.starts_with(prefix) {
            return seen;
        }
        seen.push(msg);
    }
}

#[test]
fn a_courier_sub_subscribes_to_a_pyzmq_pub_at_any_time() {
    let publishing = step("publish", &[b"a.", b"b.", b"c."]);
    for binds in BOTH {
        let sub = Sub::new(Options::default());
        // Before connecting.
        sub.subscribe("a.");
        let _py = join(
            binds,
            "PUB",
            &[],
            std::slice::from_ref(&publishing),
            |e| sub.bind_blocking(e).unwrap(),
            |e| sub.connect(e).unwrap(),
        );
        let before = recv_until_prefix(&sub, "a.");
        assert!(before.is_empty(), "{binds:?}: {before:?}");
        // After connecting.
        sub.subscribe("b.");
        let before = recv_until_prefix(&sub, "b.");
        assert!(before.iter().all(|t| t.starts_with("a.")), "{before:?}");
        // Cancelling: once "c." (sent after the cancel) is in, "a." is out.
        sub.unsubscribe("a.");
        sub.subscribe("c.");
        recv_until_prefix(&sub, "c.");
        for _ in 0..30 {
            let t = text(&sub.recv_timeout(SOON).unwrap());
            assert!(t.starts_with("b.") || t.starts_with("c."), "{binds:?}: {t}");
        }
    }
}

#[test]
fn a_courier_sub_resubscribes_when_a_pyzmq_pub_restarts() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let sub = Sub::new(Options {
        reconnect_ivl: Duration::from_millis(20),
        reconnect_ivl_max: Duration::from_millis(100),
        ..Options::default()
    });
    sub.subscribe("a.");
    sub.connect(&endpoint).unwrap();
    for _ in 0..2 {
        let (py, _) = py_bind_at("PUB", &endpoint, &[], &[step("publish", &[b"a.", b"b."])]);
        for _ in 0..5 {
            assert!(text(&sub.recv_timeout(SOON).unwrap()).starts_with("a."));
        }
        drop(py);
        // What the old publisher sent is drained before the next round.
        while sub.recv_timeout(Duration::from_millis(50)).is_ok() {}
    }
}

// ---- XPUB / XSUB -----------------------------------------------------------------------------

#[test]
fn courier_xpub_reads_pyzmq_subscriptions() {
    for binds in BOTH {
        let xpub = XPub::new(Options::default());
        let _py = join(
            binds,
            "SUB",
            &[],
            // libzmq sends a bound SUB's subscriptions when the connection comes (the ones
            // held then); the cancel waits for our go-ahead, so that it is sent as such.
            &[
                step("sub", &[b"x"]),
                step("sub", &[b"y"]),
                "recv".to_owned(),
                step("unsub", &[b"x"]),
            ],
            |e| xpub.bind_blocking(e).unwrap(),
            |e| xpub.connect(e).unwrap(),
        );
        for expected in [&b"\x01x"[..], b"\x01y"] {
            assert_eq!(
                frames(&xpub.recv_timeout(SOON).unwrap()),
                vec![expected.to_vec()],
                "{binds:?}"
            );
        }
        xpub.send_blocking(mp(&[b"y-go"])).unwrap();
        assert_eq!(
            frames(&xpub.recv_timeout(SOON).unwrap()),
            vec![b"\x00x".to_vec()],
            "{binds:?}"
        );
    }
}

#[test]
fn courier_sub_and_xsub_subscriptions_reach_a_pyzmq_xpub() {
    for binds in BOTH {
        let sub = Sub::new(Options::default());
        sub.subscribe("t");
        let mut py = join(
            binds,
            "XPUB",
            &["--xpub-verbose"],
            &["recv".to_owned()],
            |e| sub.bind_blocking(e).unwrap(),
            |e| sub.connect(e).unwrap(),
        );
        assert_eq!(py_recv(&mut py), vec![b"\x01t".to_vec()], "{binds:?}");

        let xsub = XSub::new(Options::default());
        xsub.send_blocking(mp(&[b"\x01u"])).unwrap();
        let mut py = join(
            binds,
            "XPUB",
            &[],
            &["recv".to_owned(), step("send", &[b"u.1"])],
            |e| xsub.bind_blocking(e).unwrap(),
            |e| xsub.connect(e).unwrap(),
        );
        assert_eq!(py_recv(&mut py), vec![b"\x01u".to_vec()], "{binds:?}");
        assert_eq!(text(&xsub.recv_timeout(SOON).unwrap()), "u.1");
    }
}

#[test]
fn a_pyzmq_xsub_subscribes_at_a_courier_xpub() {
    for binds in BOTH {
        let xpub = XPub::new(Options::default());
        let mut py = join(
            binds,
            "XSUB",
            &[],
            &[step("send", &[b"\x01k"]), "recv".to_owned()],
            |e| xpub.bind_blocking(e).unwrap(),
            |e| xpub.connect(e).unwrap(),
        );
        assert_eq!(
            frames(&xpub.recv_timeout(SOON).unwrap()),
            vec![b"\x01k".to_vec()]
        );
        xpub.send_blocking(mp(&[b"nope"])).unwrap();
        xpub.send_blocking(mp(&[b"k1", b"body"])).unwrap();
        assert_eq!(
            py_recv(&mut py),
            vec![b"k1".to_vec(), b"body".to_vec()],
            "{binds:?}"
        );
    }
}

#[test]
fn pub_to_sub_through_a_pyzmq_xsub_xpub_forwarder() {
    let mut proxy = Peer::python(
        "socket_peer.py",
        ["proxy", "XSUB", "XPUB"],
        "pyzmq XSUB/XPUB proxy",
    );
    let front = proxy.expect_event("listening", &[("side", "front")], SOON)["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = proxy.expect_event("listening", &[("side", "back")], SOON)["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let publisher = Pub::new(Options::default());
    publisher.connect(&front).unwrap();
    let sub = Sub::new(Options::default());
    sub.subscribe("w.");
    sub.connect(&back).unwrap();
    let deadline = Instant::now() + SOON;
    let mut n = 0;
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "the subscription never crossed the proxy"
        );
        publisher
            .send_blocking(mp(&[format!("v.{n}").as_bytes()]))
            .unwrap();
        publisher
            .send_blocking(mp(&[format!("w.{n}").as_bytes()]))
            .unwrap();
        n += 1;
        if let Ok(msg) = sub.recv_timeout(Duration::from_millis(10)) {
            break text(&msg);
        }
    };
    assert!(first.starts_with("w."), "{first}");
    for _ in 0..3 {
        publisher.send_blocking(mp(&[b"v.x"])).unwrap();
        publisher.send_blocking(mp(&[b"w.x"])).unwrap();
    }
    for _ in 0..3 {
        let t = text(&sub.recv_timeout(SOON).unwrap());
        assert!(t.starts_with("w."), "{t}");
    }
}

// ---- REQ / REP -------------------------------------------------------------------------------

#[test]
fn courier_req_and_a_pyzmq_rep() {
    for binds in BOTH {
        let req = Req::new(Options::default());
        let _py = join(
            binds,
            "REP",
            &[],
            &["echo".to_owned()],
            |e| req.bind_blocking(e).unwrap(),
            |e| req.connect(e).unwrap(),
        );
        for n in 0..3 {
            req.send_blocking(mp(&[b"q", format!("{n}").as_bytes()]))
                .unwrap();
            assert_eq!(
                frames(&req.recv_timeout(SOON).unwrap()),
                vec![b"echo".to_vec(), b"q".to_vec(), format!("{n}").into_bytes()],
                "{binds:?}"
            );
        }
    }
}

#[test]
fn a_pyzmq_req_and_courier_rep() {
    for binds in BOTH {
        let rep = Rep::new(Options::default());
        let mut py = join(
            binds,
            "REQ",
            &[],
            &[
                step("send", &[b"q1"]),
                "recv".to_owned(),
                step("send", &[b"q2", b"more"]),
                "recv".to_owned(),
            ],
            |e| rep.bind_blocking(e).unwrap(),
            |e| rep.connect(e).unwrap(),
        );
        assert_eq!(
            frames(&rep.recv_timeout(SOON).unwrap()),
            vec![b"q1".to_vec()]
        );
        rep.send_blocking(mp(&[b"a1"])).unwrap();
        assert_eq!(py_recv(&mut py), vec![b"a1".to_vec()], "{binds:?}");
        assert_eq!(
            frames(&rep.recv_timeout(SOON).unwrap()),
            vec![b"q2".to_vec(), b"more".to_vec()]
        );
        rep.send_blocking(mp(&[b"a2"])).unwrap();
        assert_eq!(py_recv(&mut py), vec![b"a2".to_vec()]);
    }
}

#[test]
fn req_and_rep_through_a_pyzmq_router_dealer_broker() {
    let mut broker = Peer::python(
        "socket_peer.py",
        ["proxy", "ROUTER", "DEALER"],
        "pyzmq broker",
    );
    let front = broker.expect_event("listening", &[("side", "front")], SOON)["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = broker.expect_event("listening", &[("side", "back")], SOON)["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    // Workers: a courier REP (answers "courier:" + body) and a pyzmq REP (echo).
    let rep = Rep::new(Options::default());
    rep.connect(&back).unwrap();
    let _py_rep = py_connect("REP", &back, &[], &["echo".to_owned()]);
    // Clients: two courier REQs and a pyzmq REQ, whose envelopes the broker and REPs keep.
    let reqs: Vec<Req> = (0..2).map(|_| Req::new(Options::default())).collect();
    for req in &reqs {
        req.connect(&front).unwrap();
    }
    let mut py_req = py_connect(
        "REQ",
        &front,
        &[],
        &[step("send", &[b"from-py"]), "recv".to_owned()],
    );
    std::thread::scope(|s| {
        let serving = s.spawn(|| {
            // Serves until the clients are done (the test closes the broker after).
            while let Ok(body) = rep.recv_timeout(Duration::from_secs(3)) {
                let mut reply = vec![Bytes::from_static(b"courier")];
                reply.extend(body.into_frames());
                rep.send_blocking(Multipart::new(reply).unwrap()).unwrap();
            }
        });
        for round in 0..4 {
            for (i, req) in reqs.iter().enumerate() {
                req.send_blocking(mp(&[format!("req{i}-{round}").as_bytes()]))
                    .unwrap();
            }
            for (i, req) in reqs.iter().enumerate() {
                let reply = frames(&req.recv_timeout(SOON).unwrap());
                assert_eq!(reply.len(), 2, "{reply:?}");
                assert!(reply[0] == b"courier" || reply[0] == b"echo", "{reply:?}");
                assert_eq!(reply[1], format!("req{i}-{round}").into_bytes());
            }
        }
        let reply = py_recv(&mut py_req);
        assert_eq!(reply.len(), 2, "{reply:?}");
        assert_eq!(reply[1], b"from-py");
        serving.join().unwrap();
    });
}

// ---- the compatibility table -----------------------------------------------------------------

#[test]
fn incompatible_pyzmq_peers_are_refused() {
    // A pyzmq PUSH connecting to our REQ.
    let req = Req::new(Options::default());
    let events = req.events();
    let endpoint = req.bind_blocking("tcp://127.0.0.1:0").unwrap().to_string();
    let mut py = py_connect("PUSH", &endpoint, &["--monitor"], &[]);
    let (refused, _) = wait_event(&events, SOON, "refusal", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(
        reason_of(&refused)
            .contains("socket type mismatch: a REQ socket cannot talk to a PUSH peer"),
        "{refused:?}"
    );
    // libzmq sees the connection end without a handshake.
    let monitor = |name: &'static str| {
        move |l: &str| parse_event(l).is_some_and(|v| v["event"] == "monitor" && v["name"] == name)
    };
    py.expect_line(monitor("DISCONNECTED"), SOON);
    assert!(
        !py.lines_so_far()
            .iter()
            .any(|l| monitor("HANDSHAKE_SUCCEEDED")(l)),
        "libzmq took the refused handshake for a success"
    );

    // Our PULL connecting to a pyzmq REP.
    let (_rep, endpoint) = py_bind_at("REP", "tcp://127.0.0.1:0", &[], &[]);
    let pull = Pull::new(Options {
        reconnect_ivl: Duration::from_secs(30),
        reconnect_ivl_max: Duration::from_secs(30),
        ..Options::default()
    });
    let events = pull.events();
    pull.connect(&endpoint).unwrap();
    let (refused, _) = wait_event(&events, SOON, "refusal", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(
        reason_of(&refused).contains("a PULL socket cannot talk to a REP peer"),
        "{refused:?}"
    );
    let _ = within(SOON, "close", pull.close());
}
