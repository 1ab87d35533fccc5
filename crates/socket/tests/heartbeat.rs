//! ZMTP 3.1 heartbeats: PING/PONG keep a live connection up, a silent peer is dropped, the
//! peer's PING TTL is honoured and PINGs are answered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use courier_socket::{Dealer, Options, Router, SocketEvent};

#[test]
fn heartbeats_keep_a_live_connection_up() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let router_events = router.events();
    let dealer = Dealer::new(Options {
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_ttl: Some(Duration::from_millis(500)),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "handshake", is_handshake_ok);

    // Two quiet seconds: only PINGs and PONGs flow; nobody may time out.
    std::thread::sleep(Duration::from_secs(2));
    let seen: Vec<_> = drain_events(&events)
        .into_iter()
        .chain(drain_events(&router_events))
        .collect();
    assert!(
        !seen
            .iter()
            .any(|e| is_disconnected(e) || matches!(e, SocketEvent::HandshakeFailed { .. })),
        "spurious disconnect: {seen:#?}"
    );
    // Still one connection, still working both ways.
    within(SOON, "exchange after 2 s of heartbeats", async {
        dealer.send(mp(&[b"still here"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(frames(&msg)[1], b"still here".to_vec());
        router.send(mp(&[msg.first(), b"yes"])).await.unwrap();
        assert_eq!(frames(&dealer.recv().await.unwrap()), vec![b"yes".to_vec()]);
    });
    assert_eq!(router.peers().len(), 1);
}

#[test]
fn a_peer_that_stops_answering_is_dropped_and_the_dealer_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dealer = Dealer::new(Options {
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();

    // A raw ROUTER that completes the handshake, then never reads nor writes again.
    let mut first = RawPeer::from_stream(accept_within(&listener, SOON).expect("connection"));
    first.handshake("ROUTER", Some(b""));
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    let started = Instant::now();
    let (ev, _) = wait_event(&events, SOON, "heartbeat Disconnected", is_disconnected);
    let elapsed = started.elapsed();
    assert!(reason_of(&ev).contains("heartbeat"), "{ev:?}");
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}, before the 300 ms timeout could have expired"
    );
    assert!(
        first.wait_closed(SOON).is_some(),
        "our side closed the TCP connection"
    );

    // And it reconnects by itself.
    let mut second = RawPeer::from_stream(accept_within(&listener, SOON).expect("reconnection"));
    second.handshake("ROUTER", Some(b""));
    wait_event(&events, SOON, "second handshake", is_handshake_ok);
}

#[test]
fn the_peers_ping_ttl_closes_a_silent_connection() {
    // The ROUTER has no heartbeat options of its own.
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.handshake("DEALER", Some(b""));
    wait_event(&events, SOON, "handshake", is_handshake_ok);

    peer.write(&ping_frame(5, b"")); // TTL 500 ms
    let started = Instant::now();
    let (flags, pong) = peer.read_frame();
    assert_eq!((flags, pong.as_slice()), (0x04, &b"\x04PONG"[..]));
    let closed = peer.wait_closed(Duration::from_secs(5));
    let (ev, _) = wait_event(&events, SOON, "TTL Disconnected", is_disconnected);
    assert!(reason_of(&ev).contains("TTL"), "{ev:?}");
    let closed = closed.expect("the ROUTER closes the connection once the TTL expires");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400),
        "closed after {elapsed:?}, before the 500 ms TTL ({closed:?})"
    );
    assert!(router.peers().is_empty());
}

#[test]
fn ttl_is_renewed_by_traffic() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.handshake("DEALER", None);
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    // PING with a 300 ms TTL every 100 ms for a second: the connection stays up.
    for _ in 0..10 {
        peer.write(&ping_frame(3, b"k"));
        assert_eq!(peer.read_frame(), (0x04, b"\x04PONGk".to_vec()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(router.peers().len(), 1);
    assert!(!drain_events(&events).iter().any(is_disconnected));
}

#[test]
fn ping_is_answered_with_pong_and_its_context() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.handshake("DEALER", Some(b""));
    peer.write(&ping_frame(0, b"abc"));
    assert_eq!(peer.read_exact(10), b"\x04\x08\x04PONGabc");
    // The connection is still fine afterwards: a message goes through.
    peer.write(b"\x00\x05hello");
    let msg = within(SOON, "message after PING", router.recv()).unwrap();
    assert_eq!(frames(&msg)[1], b"hello".to_vec());
}

#[test]
fn heartbeats_do_not_time_out_a_zmtp_3_0_peer() {
    // A ZMTP 3.0 peer knows no PING: we must not send one nor expect an answer.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dealer = Dealer::new(Options {
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let mut peer = RawPeer::from_stream(accept_within(&listener, SOON).expect("connection"));
    let mut greeting = null_greeting();
    greeting[11] = 0; // ZMTP 3.0
    let mut out = greeting.to_vec();
    out.extend_from_slice(&ready_frame("ROUTER", Some(b"")));
    peer.write(&out);
    peer.read_exact(64);
    peer.read_frame();
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    // A quiet second: no PING arrives and the connection stays up.
    peer.stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 64];
    let got = std::io::Read::read(&mut peer.stream, &mut buf);
    assert!(
        got.is_err(),
        "nothing should arrive from us, got {got:?} {buf:?}"
    );
    assert!(
        !drain_events(&events).iter().any(is_disconnected),
        "spurious heartbeat timeout on a ZMTP 3.0 peer"
    );
}

#[test]
fn our_ping_carries_the_ttl_like_libzmq() {
    // Byte-identical to libzmq 4.3.5 with heartbeat_ivl=100, heartbeat_ttl=2000
    // (crates/proto/tests/vectors/ping.bin): 04 07 04 "PING" 00 14, empty context.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dealer = Dealer::new(Options {
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_ttl: Some(Duration::from_millis(2000)),
        ..Options::default()
    });
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let mut peer = RawPeer::from_stream(accept_within(&listener, SOON).expect("connection"));
    peer.handshake("ROUTER", Some(b""));
    let started = Instant::now();
    assert_eq!(peer.read_exact(9), b"\x04\x07\x04PING\x00\x14");
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "PING came too soon"
    );
    // Answer it; the next PING follows about an interval later.
    peer.write(b"\x04\x05\x04PONG");
    assert_eq!(peer.read_exact(9), b"\x04\x07\x04PING\x00\x14");
}

#[test]
fn the_peers_ping_ttl_applies_while_our_writes_are_blocked() {
    // The peer announces a 500 ms TTL, then neither reads nor writes (a dead host): our
    // writer is stuck on a full socket buffer, and the TTL must still close the connection.
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.handshake("DEALER", Some(b"dead"));
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    peer.write(&ping_frame(5, b""));
    assert_eq!(peer.read_frame(), (0x04, b"\x04PONG".to_vec()));
    let chunk = bytes::Bytes::from(vec![0u8; 256 * 1024]);
    within(SOON, "queue 64 MiB for the dead peer", async {
        for _ in 0..256 {
            let mut msg = mp(&[b"dead"]);
            msg.push_back(chunk.clone());
            router.send(msg).await.unwrap();
        }
    });
    let (ev, _) = wait_event(
        &events,
        Duration::from_secs(5),
        "TTL Disconnected",
        is_disconnected,
    );
    assert!(reason_of(&ev).contains("TTL"), "{ev:?}");
    assert!(router.peers().is_empty());
}

#[test]
fn a_dead_peer_is_detected_while_our_writes_are_blocked() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dealer = Dealer::new(Options {
        heartbeat_ivl: Some(Duration::from_millis(100)),
        heartbeat_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let mut dead = RawPeer::from_stream(accept_within(&listener, SOON).expect("connection"));
    dead.handshake("ROUTER", Some(b""));
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    let chunk = bytes::Bytes::from(vec![0u8; 256 * 1024]);
    within(SOON, "queue 64 MiB", async {
        for _ in 0..256 {
            let mut msg = mp(&[b"x"]);
            msg.push_back(chunk.clone());
            dealer.send(msg).await.unwrap();
        }
    });
    let (ev, _) = wait_event(
        &events,
        Duration::from_secs(5),
        "Disconnected",
        is_disconnected,
    );
    assert!(reason_of(&ev).contains("heartbeat"), "{ev:?}");
    // It reconnects, and what was not written is still queued for the next connection.
    let mut next = RawPeer::from_stream(accept_within(&listener, SOON).expect("reconnection"));
    next.handshake("ROUTER", Some(b""));
    let (flags, first) = next.read_frame();
    assert_eq!((flags, first.as_slice()), (0x01, &b"x"[..]));
    assert!(dealer.queued() > 0);
}
