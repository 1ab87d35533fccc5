//! Bad or slow peers are refused during the handshake (or dropped after it) with a reason, and
//! never disturb the good ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use courier_socket::proto::frame::Limits;
use courier_socket::proto::greeting::{Greeting, MechanismName};
use courier_socket::{Dealer, Endpoint, Options, Router, SocketEvent};

fn is_handshake_failed(ev: &SocketEvent) -> bool {
    matches!(ev, SocketEvent::HandshakeFailed { .. })
}

/// A DEALER round trip through `router`, proving it still serves good peers.
fn good_dealer_round_trip(router: &Router, endpoint: &Endpoint, id: &'static str) {
    let dealer = Dealer::new(Options {
        routing_id: id.into(),
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    within(SOON, "good DEALER round trip", async {
        dealer.send(mp(&[b"hello"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(
            frames(&msg),
            vec![id.as_bytes().to_vec(), b"hello".to_vec()]
        );
        router.send(mp(&[id.as_bytes(), b"world"])).await.unwrap();
        assert_eq!(
            frames(&dealer.recv().await.unwrap()),
            vec![b"world".to_vec()]
        );
    });
}

fn bound_router(options: Options) -> (Router, Endpoint) {
    let router = Router::new(options);
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    (router, endpoint)
}

#[test]
fn a_silent_peer_is_closed_after_the_handshake_timeout() {
    let (router, endpoint) = bound_router(Options {
        handshake_timeout: Duration::from_millis(300),
        ..Options::default()
    });
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    let started = Instant::now();
    // We get the ROUTER's greeting, then nothing, then the close.
    assert_eq!(peer.read_exact(10)[0], 0xff);
    let closed = peer.wait_closed(Duration::from_secs(5));
    let elapsed = started.elapsed();
    assert!(closed.is_some(), "the silent peer was not closed");
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed too early: {elapsed:?}"
    );
    let (ev, _) = wait_event(&events, SOON, "HandshakeFailed", is_handshake_failed);
    assert!(reason_of(&ev).contains("handshake not completed"), "{ev:?}");
    good_dealer_round_trip(&router, &endpoint, "after-timeout");
}

#[test]
fn a_peer_that_stops_mid_greeting_is_closed_too() {
    let (router, endpoint) = bound_router(Options {
        handshake_timeout: Duration::from_millis(300),
        ..Options::default()
    });
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.write(&null_greeting()[..20]);
    assert!(peer.wait_closed(Duration::from_secs(5)).is_some());
    let (ev, _) = wait_event(&events, SOON, "HandshakeFailed", is_handshake_failed);
    assert!(reason_of(&ev).contains("handshake not completed"), "{ev:?}");
}

#[test]
fn garbage_is_refused_with_a_bad_signature_reason() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(
        peer.wait_closed(Duration::from_secs(5)).is_some(),
        "garbage peer closed"
    );
    let (ev, _) = wait_event(&events, SOON, "HandshakeFailed", is_handshake_failed);
    assert!(reason_of(&ev).contains("bad greeting signature"), "{ev:?}");
    good_dealer_round_trip(&router, &endpoint, "after-garbage");
}

#[test]
fn a_curve_greeting_is_refused_with_a_mechanism_mismatch() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    peer.write(&Greeting::new(MechanismName::CURVE, false).encode());
    assert!(peer.wait_closed(Duration::from_secs(5)).is_some());
    let (ev, _) = wait_event(&events, SOON, "HandshakeFailed", is_handshake_failed);
    let reason = reason_of(&ev);
    assert!(reason.contains("mechanism mismatch"), "{ev:?}");
    assert!(reason.contains("CURVE"), "{ev:?}");
    good_dealer_round_trip(&router, &endpoint, "after-curve");
}

#[test]
fn a_pub_peer_is_refused() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let mut peer = RawPeer::connect(port_of(&endpoint));
    let mut out = null_greeting().to_vec();
    out.extend_from_slice(&ready_frame("PUB", None));
    peer.write(&out);
    assert_eq!(peer.read_exact(64)[0], 0xff);
    let (_, ready) = peer.read_frame();
    assert!(ready.starts_with(b"\x05READY"));
    // The ROUTER tells the peer why before closing.
    let (flags, error) = peer.read_frame();
    assert_eq!(flags, 0x04);
    assert!(error.starts_with(b"\x05ERROR"), "{error:?}");
    assert!(peer.wait_closed(Duration::from_secs(5)).is_some());
    let (ev, _) = wait_event(&events, SOON, "HandshakeFailed", is_handshake_failed);
    assert!(reason_of(&ev).contains("socket type mismatch"), "{ev:?}");
    assert!(reason_of(&ev).contains("PUB"), "{ev:?}");
    assert!(router.peers().is_empty());
}

#[test]
fn a_huge_frame_header_closes_only_that_connection() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    // A good peer, connected first, keeps working throughout.
    let good = Dealer::new(Options {
        routing_id: "good".into(),
        ..Options::default()
    });
    good.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "good handshake", is_handshake_ok);

    let mut bad = RawPeer::connect(port_of(&endpoint));
    bad.handshake("DEALER", Some(b"bad"));
    wait_event(&events, SOON, "bad handshake", is_handshake_ok);
    let mut header = vec![0x02u8];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    bad.write(&header);
    assert!(bad.wait_closed(Duration::from_secs(5)).is_some());
    let (ev, _) = wait_event(&events, SOON, "Disconnected", is_disconnected);
    assert!(
        matches!(&ev, SocketEvent::Disconnected { routing_id: Some(id), .. } if id == "bad"),
        "{ev:?}"
    );
    assert!(reason_of(&ev).contains("exceeds the limit"), "{ev:?}");
    assert!(reason_of(&ev).contains(&(1u64 << 40).to_string()), "{ev:?}");
    assert_eq!(router.peers(), vec![bytes::Bytes::from_static(b"good")]);
    within(SOON, "good peer round trip", async {
        good.send(mp(&[b"fine"])).await.unwrap();
        assert_eq!(frames(&router.recv().await.unwrap())[1], b"fine".to_vec());
        router.send(mp(&[b"good", b"yes"])).await.unwrap();
        assert_eq!(frames(&good.recv().await.unwrap()), vec![b"yes".to_vec()]);
    });
}

#[test]
fn a_message_over_max_message_size_closes_the_connection() {
    let (router, endpoint) = bound_router(Options {
        limits: Limits {
            max_frame_size: 1000,
            max_message_size: 1500,
            max_frames_per_message: 10,
        },
        ..Options::default()
    });
    let events = router.events();
    let mut bad = RawPeer::connect(port_of(&endpoint));
    bad.handshake("DEALER", None);
    // Two 1000-byte frames: each under the frame limit, together over the message limit.
    let mut wire = vec![0x03u8];
    wire.extend_from_slice(&1000u64.to_be_bytes());
    wire.extend_from_slice(&[7u8; 1000]);
    wire.push(0x02);
    wire.extend_from_slice(&1000u64.to_be_bytes());
    bad.write(&wire);
    assert!(bad.wait_closed(Duration::from_secs(5)).is_some());
    let (ev, _) = wait_event(&events, SOON, "Disconnected", is_disconnected);
    assert!(
        reason_of(&ev).contains("message of at least 2000 bytes"),
        "{ev:?}"
    );
    assert!(router.try_recv().is_none(), "no partial message delivered");
}

#[test]
fn max_connections_refuses_the_third() {
    let (router, endpoint) = bound_router(Options {
        max_connections: Some(2),
        ..Options::default()
    });
    let events = router.events();
    let port = port_of(&endpoint);
    // Three connections at once, none handshaking: the limit counts them from the accept.
    let mut peers: Vec<RawPeer> = (0..3).map(|_| RawPeer::connect(port)).collect();
    let (ev, _) = wait_event(&events, SOON, "ConnectionLimit", |e| {
        matches!(e, SocketEvent::ConnectionLimit { .. })
    });
    assert!(
        matches!(ev, SocketEvent::ConnectionLimit { max: 2, .. }),
        "{ev:?}"
    );
    // Exactly one was closed; the two others get a greeting and stay open.
    let closed: Vec<bool> = peers
        .iter_mut()
        .map(|p| p.wait_closed(Duration::from_millis(500)).is_some())
        .collect();
    assert_eq!(closed.iter().filter(|c| **c).count(), 1, "{closed:?}");
    // The two accepted can complete a handshake.
    for (i, peer) in peers.iter_mut().enumerate() {
        if !closed[i] {
            let mut out = null_greeting().to_vec();
            out.extend_from_slice(&ready_frame("DEALER", None));
            peer.write(&out);
        }
    }
    for _ in 0..2 {
        wait_event(
            &events,
            SOON,
            "handshake of an accepted peer",
            is_handshake_ok,
        );
    }
    assert_eq!(router.peers().len(), 2);
    // When one leaves, a new connection is accepted again.
    let leaver = closed.iter().position(|c| !*c).unwrap();
    drop(peers.remove(leaver));
    wait_event(&events, SOON, "Disconnected", is_disconnected);
    let mut again = RawPeer::connect(port);
    again.handshake("DEALER", None);
    wait_event(
        &events,
        SOON,
        "handshake after a slot freed",
        is_handshake_ok,
    );
}
