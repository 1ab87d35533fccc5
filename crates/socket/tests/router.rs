//! ROUTER routing ids, duplicate identities, ROUTER_MANDATORY and per-peer queues.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use courier_socket::{Dealer, Endpoint, Options, Router, SocketError, SocketEvent};

fn bound_router(options: Options) -> (Router, Endpoint) {
    let router = Router::new(options);
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    (router, endpoint)
}

fn dealer_with_id(id: &'static str, endpoint: &Endpoint) -> Dealer {
    let dealer = Dealer::new(Options {
        routing_id: id.into(),
        // Slow reconnects keep a refused or kicked DEALER from coming back during a test.
        reconnect_ivl: Duration::from_secs(30),
        reconnect_ivl_max: Duration::from_secs(30),
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    dealer
}

#[test]
fn peers_without_an_identity_get_a_generated_5_byte_id() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let a = Dealer::new(Options::default());
    let b = Dealer::new(Options::default());
    a.connect(&endpoint.to_string()).unwrap();
    b.connect(&endpoint.to_string()).unwrap();
    let mut announced = Vec::new();
    for _ in 0..2 {
        let (ev, _) = wait_event(&events, SOON, "handshake", is_handshake_ok);
        let SocketEvent::HandshakeSucceeded { routing_id, .. } = ev else {
            unreachable!()
        };
        announced.push(routing_id);
    }
    let ids = within(SOON, "one message from each", async {
        a.send(mp(&[b"from a"])).await.unwrap();
        b.send(mp(&[b"from b"])).await.unwrap();
        let m1 = router.recv().await.unwrap();
        let m2 = router.recv().await.unwrap();
        [m1, m2]
            .into_iter()
            .map(|m| (m.first().clone(), frames(&m)[1].clone()))
            .collect::<Vec<_>>()
    });
    for (id, _) in &ids {
        assert_eq!(id.len(), 5, "{id:?}");
        assert_eq!(id[0], 0, "{id:?}");
        assert!(announced.contains(id), "{id:?} not in {announced:?}");
    }
    assert_ne!(ids[0].0, ids[1].0);
    // Replies reach the right DEALER.
    within(SOON, "replies", async {
        for (id, body) in &ids {
            let mut reply = mp(&[b"re: "]);
            reply.push_back(Bytes::from(body.clone()));
            reply.push_front(id.clone());
            router.send(reply).await.unwrap();
        }
        assert_eq!(frames(&a.recv().await.unwrap())[1], b"from a".to_vec());
        assert_eq!(frames(&b.recv().await.unwrap())[1], b"from b".to_vec());
    });
}

#[test]
fn a_peer_identity_is_its_routing_id() {
    let (router, endpoint) = bound_router(Options::default());
    let dealer = dealer_with_id("alice", &endpoint);
    within(SOON, "round trip by identity", async {
        dealer.send(mp(&[b"hi"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(frames(&msg), vec![b"alice".to_vec(), b"hi".to_vec()]);
        router.send(mp(&[b"alice", b"hello alice"])).await.unwrap();
        assert_eq!(
            frames(&dealer.recv().await.unwrap()),
            vec![b"hello alice".to_vec()]
        );
    });
    assert!(router.is_connected(b"alice"));
}

#[test]
fn a_duplicate_identity_is_refused_and_the_first_keeps_working() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let first = dealer_with_id("dup", &endpoint);
    wait_event(&events, SOON, "first handshake", is_handshake_ok);
    let second = dealer_with_id("dup", &endpoint);
    let (ev, _) = wait_event(&events, SOON, "refusal", |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    assert!(reason_of(&ev).contains("already in use"), "{ev:?}");
    assert_eq!(router.peers(), vec![Bytes::from_static(b"dup")]);
    within(SOON, "the first still works", async {
        router.send(mp(&[b"dup", b"to the first"])).await.unwrap();
        assert_eq!(
            frames(&first.recv().await.unwrap()),
            vec![b"to the first".to_vec()]
        );
        first.send(mp(&[b"from the first"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(
            frames(&msg),
            vec![b"dup".to_vec(), b"from the first".to_vec()]
        );
    });
    assert!(second.try_recv().is_none());
}

#[test]
fn with_handover_a_duplicate_identity_takes_over() {
    let (router, endpoint) = bound_router(Options {
        router_handover: true,
        ..Options::default()
    });
    let events = router.events();
    let first = dealer_with_id("dup", &endpoint);
    let first_events = first.events();
    wait_event(&events, SOON, "first handshake", is_handshake_ok);
    wait_event(
        &first_events,
        SOON,
        "first DEALER handshake",
        is_handshake_ok,
    );
    let second = dealer_with_id("dup", &endpoint);
    // The new connection is attached and the old one closed (the two events may come in
    // either order).
    let (_, before) = wait_event(&events, SOON, "second handshake", is_handshake_ok);
    let ev = match before.into_iter().find(is_disconnected) {
        Some(ev) => ev,
        None => wait_event(&events, SOON, "old connection closed", is_disconnected).0,
    };
    assert!(
        matches!(&ev, SocketEvent::Disconnected { routing_id: Some(id), .. } if id == "dup"),
        "{ev:?}"
    );
    wait_event(
        &first_events,
        SOON,
        "first DEALER disconnected",
        is_disconnected,
    );
    // The id still maps to a peer: the new one.
    assert_eq!(router.peers(), vec![Bytes::from_static(b"dup")]);
    within(SOON, "messages go to the second", async {
        router.send(mp(&[b"dup", b"to the second"])).await.unwrap();
        assert_eq!(
            frames(&second.recv().await.unwrap()),
            vec![b"to the second".to_vec()]
        );
    });
    assert!(first.try_recv().is_none());
}

#[test]
fn router_mandatory_makes_unknown_peers_an_error() {
    let (router, _endpoint) = bound_router(Options {
        router_mandatory: true,
        ..Options::default()
    });
    let r = within(SOON, "send to nobody", router.send(mp(&[b"nobody", b"x"])));
    assert!(
        matches!(&r, Err(SocketError::UnknownPeer(id)) if id == "nobody"),
        "{r:?}"
    );
    let r = within(SOON, "send without a body", router.send(mp(&[b"nobody"])));
    assert!(matches!(r, Err(SocketError::MissingRoutingId)), "{r:?}");
}

#[test]
fn without_mandatory_unknown_peers_are_dropped_with_an_event() {
    let (router, _endpoint) = bound_router(Options::default());
    let events = router.events();
    within(SOON, "send to nobody", router.send(mp(&[b"nobody", b"x"]))).unwrap();
    let (ev, _) = wait_event(&events, SOON, "MessagesDropped", |e| {
        matches!(e, SocketEvent::MessagesDropped { .. })
    });
    assert!(
        matches!(&ev, SocketEvent::MessagesDropped { routing_id, count: 1, .. } if routing_id == "nobody"),
        "{ev:?}"
    );
}

#[test]
fn router_mandatory_with_error_policy_reports_a_full_queue() {
    // A raw peer that handshakes and never reads: its queue fills.
    let (router, endpoint) = bound_router(Options {
        router_mandatory: true,
        when_full: courier_socket::WhenFull::Error,
        send_hwm: 4,
        ..Options::default()
    });
    let events = router.events();
    let mut stalled = RawPeer::connect(port_of(&endpoint));
    stalled.handshake("DEALER", Some(b"stalled"));
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    let big = Bytes::from(vec![0u8; 1 << 20]);
    let full = within(Duration::from_secs(10), "fill the queue", async {
        for i in 0..200 {
            let mut msg = mp(&[b"stalled"]);
            msg.push_back(big.clone());
            if let Err(e) = router.send(msg).await {
                return (i, e);
            }
        }
        panic!("200 MiB went to a peer that never reads")
    });
    assert!(
        matches!(full.1, SocketError::QueueFull { hwm: 4 }),
        "{full:?}"
    );
}

#[test]
fn a_stalled_peer_does_not_hold_up_the_others() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let good = dealer_with_id("good", &endpoint);
    wait_event(&events, SOON, "good handshake", is_handshake_ok);
    // A raw peer that handshakes and then never reads again.
    let mut stalled = RawPeer::connect(port_of(&endpoint));
    stalled.handshake("DEALER", Some(b"stalled"));
    wait_event(&events, SOON, "stalled handshake", is_handshake_ok);

    const N: usize = 2000;
    let big = Bytes::from(vec![0xAAu8; 64 * 1024]);
    let received = within(Duration::from_secs(30), "interleaved sends", async {
        let mut received = 0usize;
        for i in 0..N {
            let mut to_stalled = mp(&[b"stalled"]);
            to_stalled.push_back(big.clone());
            router.send(to_stalled).await.unwrap();
            let seq = u32::try_from(i).unwrap().to_be_bytes();
            router.send(mp(&[b"good", &seq])).await.unwrap();
            // Take what has arrived so far (the DEALER's receive queue is bounded too), and
            // keep the good peer's own backlog under its HWM (1000): messages over a peer's
            // HWM are dropped by design, and that is not what this test is about.
            while received + 500 <= i {
                let msg = good.recv().await.unwrap();
                assert_eq!(
                    frames(&msg),
                    vec![u32::try_from(received).unwrap().to_be_bytes().to_vec()]
                );
                received += 1;
            }
            while let Some(msg) = good.try_recv() {
                assert_eq!(
                    frames(&msg),
                    vec![u32::try_from(received).unwrap().to_be_bytes().to_vec()]
                );
                received += 1;
            }
        }
        while received < N {
            let msg = good.recv().await.unwrap();
            assert_eq!(
                frames(&msg),
                vec![u32::try_from(received).unwrap().to_be_bytes().to_vec()]
            );
            received += 1;
        }
        received
    });
    assert_eq!(received, N);
    let dropped: usize = drain_events(&events)
        .iter()
        .filter_map(|e| match e {
            SocketEvent::MessagesDropped {
                routing_id, count, ..
            } if routing_id == "stalled" => Some(*count),
            _ => None,
        })
        .sum();
    assert!(dropped > 0, "the stalled peer's full queue drops messages");
    assert!(
        router.is_connected(b"stalled"),
        "a slow peer is not disconnected"
    );
}

#[test]
fn disconnect_closes_one_peer_and_it_comes_back() {
    let (router, endpoint) = bound_router(Options::default());
    let events = router.events();
    let dealer = Dealer::new(Options {
        routing_id: "kicked".into(),
        ..Options::default()
    });
    let dealer_events = dealer.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    // Both ends done (the kick closes at once, even a ROUTER READY not yet written).
    wait_event(&dealer_events, SOON, "DEALER handshake", is_handshake_ok);
    assert!(router.disconnect(b"kicked"));
    assert!(!router.disconnect(b"nobody"));
    wait_event(&events, SOON, "Disconnected", is_disconnected);
    wait_event(&dealer_events, SOON, "DEALER Disconnected", is_disconnected);
    // The DEALER reconnects by itself.
    wait_event(&events, SOON, "handshake again", is_handshake_ok);
    within(SOON, "round trip after the kick", async {
        router
            .send(mp(&[b"kicked", b"welcome back"]))
            .await
            .unwrap();
        assert_eq!(
            frames(&dealer.recv().await.unwrap()),
            vec![b"welcome back".to_vec()]
        );
    });
}

#[test]
fn a_router_can_connect_to_a_bound_dealer() {
    let dealer = Dealer::new(Options {
        routing_id: "service".into(),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", dealer.bind("tcp://127.0.0.1:0")).unwrap();
    let router = Router::new(Options::default());
    let events = router.events();
    router.connect(&endpoint.to_string()).unwrap();
    let (ev, _) = wait_event(&events, SOON, "handshake", is_handshake_ok);
    assert!(
        matches!(&ev, SocketEvent::HandshakeSucceeded { routing_id, .. } if routing_id == "service"),
        "{ev:?}"
    );
    within(SOON, "round trip", async {
        router.send(mp(&[b"service", b"job"])).await.unwrap();
        assert_eq!(frames(&dealer.recv().await.unwrap()), vec![b"job".to_vec()]);
        dealer.send(mp(&[b"result"])).await.unwrap();
        assert_eq!(
            frames(&router.recv().await.unwrap()),
            vec![b"service".to_vec(), b"result".to_vec()]
        );
    });
}
