//! Interoperability with an independent implementation: the `zeromq` crate (zmq.rs, which
//! speaks ZMTP 3.0 without heartbeats) on the same async-std runtime.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use courier_socket::{Dealer, Options, Router};
use zeromq::{Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage};

fn zmsg(frames: &[&[u8]]) -> ZmqMessage {
    ZmqMessage::try_from(
        frames
            .iter()
            .map(|f| Bytes::copy_from_slice(f))
            .collect::<Vec<_>>(),
    )
    .unwrap()
}

fn zframes(msg: ZmqMessage) -> Vec<Vec<u8>> {
    msg.into_vec().into_iter().map(|f| f.to_vec()).collect()
}

#[test]
fn zmq_rs_dealer_talks_to_our_router() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    within(
        Duration::from_secs(10),
        "zmq.rs DEALER <-> our ROUTER",
        async {
            let mut options = SocketOptions::default();
            options.peer_identity("zmq-rs-dealer".parse().unwrap());
            let mut dealer = zeromq::DealerSocket::with_options(options);
            dealer.connect(&endpoint.to_string()).await.unwrap();
            dealer
                .send(zmsg(&[b"HELLO", b"", b"multi", &[0u8; 1000]]))
                .await
                .unwrap();
            let msg = router.recv().await.unwrap();
            assert_eq!(
                frames(&msg),
                vec![
                    b"zmq-rs-dealer".to_vec(),
                    b"HELLO".to_vec(),
                    Vec::new(),
                    b"multi".to_vec(),
                    vec![0u8; 1000]
                ]
            );
            router
                .send(mp(&[b"zmq-rs-dealer", b"REPLY", b"", b"parts"]))
                .await
                .unwrap();
            let reply = dealer.recv().await.unwrap();
            assert_eq!(
                zframes(reply),
                vec![b"REPLY".to_vec(), Vec::new(), b"parts".to_vec()]
            );
            // A second round, to show the connection stays in a good state.
            for i in 0..50u32 {
                dealer.send(zmsg(&[&i.to_be_bytes()])).await.unwrap();
            }
            for i in 0..50u32 {
                let msg = router.recv().await.unwrap();
                assert_eq!(frames(&msg)[1], i.to_be_bytes().to_vec());
            }
            dealer.close().await;
        },
    );
    let (ev, _) = wait_event(&events, SOON, "handshake", is_handshake_ok);
    assert!(matches!(
        ev,
        courier_socket::SocketEvent::HandshakeSucceeded { routing_id, .. } if routing_id == "zmq-rs-dealer"
    ));
}

#[test]
fn our_dealer_talks_to_a_zmq_rs_router() {
    within(
        Duration::from_secs(10),
        "our DEALER <-> zmq.rs ROUTER",
        async {
            let mut router = zeromq::RouterSocket::new();
            let endpoint = router.bind("tcp://127.0.0.1:0").await.unwrap();
            let dealer = Dealer::new(Options {
                routing_id: "courier-dealer".into(),
                // zmq.rs speaks ZMTP 3.0 (no PING): heartbeats must not break the connection.
                heartbeat_ivl: Some(Duration::from_millis(50)),
                ..Options::default()
            });
            let events = dealer.events();
            dealer.connect(&endpoint.to_string()).unwrap();
            dealer
                .send(mp(&[b"FILE", b"name.txt", b"", &[7u8; 70_000]]))
                .await
                .unwrap();
            let msg = router.recv().await.unwrap();
            assert_eq!(
                zframes(msg),
                vec![
                    b"courier-dealer".to_vec(),
                    b"FILE".to_vec(),
                    b"name.txt".to_vec(),
                    Vec::new(),
                    vec![7u8; 70_000]
                ]
            );
            router
                .send(zmsg(&[b"courier-dealer", b"OK", b"", b"done"]))
                .await
                .unwrap();
            let reply = dealer.recv().await.unwrap();
            assert_eq!(
                frames(&reply),
                vec![b"OK".to_vec(), Vec::new(), b"done".to_vec()]
            );
            // Some heartbeat intervals pass; the connection survives.
            courier_socket::runtime::sleep(Duration::from_millis(300)).await;
            router
                .send(zmsg(&[b"courier-dealer", b"later"]))
                .await
                .unwrap();
            assert_eq!(
                frames(&dealer.recv().await.unwrap()),
                vec![b"later".to_vec()]
            );
            assert!(
                !drain_events(&events).iter().any(is_disconnected),
                "the connection to zmq.rs dropped"
            );
            dealer.close().await;
        },
    );
}
