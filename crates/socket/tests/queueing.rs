//! Messages sent before any peer exists wait in the send queue, up to the high-water mark.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use courier_socket::{runtime, Dealer, Options, Router, SocketError, WhenFull};

#[test]
fn messages_sent_before_the_peer_exists_arrive_in_order() {
    let port = free_port();
    let dealer = Dealer::new(Options::default());
    let start = Instant::now();
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "connect returned at once"
    );
    within(SOON, "5 sends below the HWM", async {
        for i in 0..5u8 {
            dealer.send(mp(&[b"queued", &[i]])).await.unwrap();
        }
    });
    assert_eq!(dealer.queued(), 5);

    std::thread::sleep(Duration::from_secs(1));
    let router = Router::new(Options::default());
    within(
        SOON,
        "bind",
        router.bind(&format!("tcp://127.0.0.1:{port}")),
    )
    .unwrap();
    within(Duration::from_secs(10), "the 5 queued messages", async {
        for i in 0..5u8 {
            let msg = router.recv().await.unwrap();
            let f = frames(&msg);
            assert_eq!(f.len(), 3);
            assert_eq!(f[1], b"queued");
            assert_eq!(f[2], vec![i]);
        }
    });
    assert_eq!(dealer.queued(), 0);
}

#[test]
fn error_policy_fails_at_the_hwm() {
    let dealer = Dealer::new(Options {
        send_hwm: 3,
        when_full: WhenFull::Error,
        ..Options::default()
    });
    dealer
        .connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    for _ in 0..3 {
        dealer.try_send(mp(&[b"x"])).unwrap();
    }
    assert!(matches!(
        dealer.try_send(mp(&[b"x"])),
        Err(SocketError::QueueFull { hwm: 3 })
    ));
    // `send` under the Error policy fails at once too rather than waiting.
    let r = within(SOON, "send at the HWM", dealer.send(mp(&[b"x"])));
    assert!(matches!(r, Err(SocketError::QueueFull { hwm: 3 })), "{r:?}");
    assert_eq!(dealer.queued(), 3);
}

#[test]
fn block_policy_waits_at_the_hwm_until_a_peer_drains() {
    let port = free_port();
    let dealer = Dealer::new(Options {
        send_hwm: 3,
        ..Options::default()
    });
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    within(SOON, "3 sends below the HWM", async {
        for i in 0..3u8 {
            dealer.send(mp(&[&[i]])).await.unwrap();
        }
    });
    // The 4th send waits: nobody is there to take it.
    let blocked = runtime::block_on(runtime::timeout(
        Duration::from_millis(300),
        dealer.send(mp(&[&[3]])),
    ));
    assert!(blocked.is_none(), "send at the HWM should wait");

    let router = Router::new(Options::default());
    within(
        SOON,
        "bind",
        router.bind(&format!("tcp://127.0.0.1:{port}")),
    )
    .unwrap();
    // Now the blocked sends complete as the connection drains the queue.
    within(Duration::from_secs(10), "blocked sends complete", async {
        for i in 3..10u8 {
            dealer.send(mp(&[&[i]])).await.unwrap();
        }
    });
    within(Duration::from_secs(10), "all 10 messages", async {
        for i in 0..10u8 {
            let msg = router.recv().await.unwrap();
            assert_eq!(frames(&msg)[1], vec![i]);
        }
    });
}

#[test]
fn a_slow_receiver_pushes_back_without_losing_messages() {
    // ROUTER_MANDATORY with the blocking policy: sends wait for room instead of dropping, so
    // every message reaches a DEALER whose receive queue is tiny and whose app reads slowly;
    // TCP carries the back-pressure in between.
    let router = Router::new(Options {
        router_mandatory: true,
        send_hwm: 16,
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    let dealer = Dealer::new(Options {
        routing_id: "slow".into(),
        recv_hwm: 4,
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    const N: u32 = 3000;
    let payload = bytes::Bytes::from(vec![5u8; 8 * 1024]);
    within(
        Duration::from_secs(30),
        "3000 messages to a slow reader",
        async {
            let sender = async {
                for i in 0..N {
                    let mut msg = mp(&[b"slow", &i.to_be_bytes()]);
                    msg.push_back(payload.clone());
                    router.send(msg).await.unwrap();
                }
            };
            let receiver = async {
                for i in 0..N {
                    if i % 500 == 0 {
                        runtime::sleep(Duration::from_millis(50)).await;
                    }
                    let msg = dealer.recv().await.unwrap();
                    assert_eq!(frames(&msg)[0], i.to_be_bytes().to_vec());
                    assert_eq!(msg.frames()[1].len(), 8 * 1024);
                }
            };
            futures::join!(sender, receiver);
        },
    );
    assert!(
        !drain_events(&events)
            .iter()
            .any(|e| matches!(e, courier_socket::SocketEvent::MessagesDropped { .. })),
        "nothing dropped"
    );
}
