//! A DEALER whose ROUTER goes away reconnects by itself, and what it sent meanwhile arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use courier_socket::{Dealer, Options, Router, SocketEvent};

#[test]
fn dealer_reconnects_to_a_new_router_on_the_same_port() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let port = port_of(&endpoint);

    let dealer = Dealer::new(Options {
        routing_id: "reconnecting".into(),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "first handshake", is_handshake_ok);

    // Exchange a message each way.
    within(SOON, "exchange", async {
        dealer.send(mp(&[b"ping"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(
            frames(&msg),
            vec![b"reconnecting".to_vec(), b"ping".to_vec()]
        );
        router.send(mp(&[b"reconnecting", b"pong"])).await.unwrap();
        assert_eq!(
            frames(&dealer.recv().await.unwrap()),
            vec![b"pong".to_vec()]
        );
    });

    // The ROUTER goes away.
    within(SOON, "router close", router.close());
    let (ev, _) = wait_event(&events, SOON, "Disconnected", is_disconnected);
    assert!(matches!(
        &ev,
        SocketEvent::Disconnected {
            routing_id: Some(_),
            ..
        }
    ));

    // Sent during the outage: queued.
    within(
        SOON,
        "send during the outage",
        dealer.send(mp(&[b"during outage"])),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let router = Router::new(Options::default());
    within(
        SOON,
        "rebind",
        router.bind(&format!("tcp://127.0.0.1:{port}")),
    )
    .unwrap();
    // reconnect_ivl_max is 1 s by default: the DEALER is back well within a few seconds.
    let (_, between) = wait_event(
        &events,
        Duration::from_secs(5),
        "second handshake",
        is_handshake_ok,
    );
    assert!(
        !between.iter().any(is_handshake_ok),
        "no handshake before the new ROUTER: {between:?}"
    );
    let msg = within(SOON, "message sent during the outage", router.recv()).unwrap();
    assert_eq!(
        frames(&msg),
        vec![b"reconnecting".to_vec(), b"during outage".to_vec()]
    );
    // And the new connection works both ways.
    within(SOON, "reply over the new connection", async {
        router.send(mp(&[b"reconnecting", b"back"])).await.unwrap();
        assert_eq!(
            frames(&dealer.recv().await.unwrap()),
            vec![b"back".to_vec()]
        );
    });
}

#[test]
fn dropping_the_router_also_disconnects_and_the_dealer_comes_back() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let port = port_of(&endpoint);
    let dealer = Dealer::new(Options::default());
    let events = dealer.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "first handshake", is_handshake_ok);

    drop(router);
    wait_event(&events, SOON, "Disconnected after drop", is_disconnected);
    std::thread::sleep(Duration::from_millis(500));
    let router = Router::new(Options::default());
    within(
        SOON,
        "rebind",
        router.bind(&format!("tcp://127.0.0.1:{port}")),
    )
    .unwrap();
    wait_event(
        &events,
        Duration::from_secs(5),
        "second handshake",
        is_handshake_ok,
    );
    within(SOON, "message after reconnect", async {
        dealer.send(mp(&[b"hi"])).await.unwrap();
        assert_eq!(frames(&router.recv().await.unwrap())[1], b"hi".to_vec());
    });
}
