//! Moving bytes: ipc://, large and empty frames, many messages in order, linger on close, and a
//! DEALER spreading messages over two connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use courier_socket::{Dealer, Options, Router};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "courier-socket-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
#[test]
fn ipc_round_trip() {
    let dir = TempDir::new("ipc");
    let path = dir.0.join("router.sock");
    let endpoint = format!("ipc://{}", path.display());
    let router = Router::new(Options::default());
    let bound = within(SOON, "bind ipc", router.bind(&endpoint)).unwrap();
    assert_eq!(bound.to_string(), endpoint);
    assert!(path.exists());
    let dealer = Dealer::new(Options {
        routing_id: "over-ipc".into(),
        ..Options::default()
    });
    dealer.connect(&endpoint).unwrap();
    within(SOON, "ipc round trip", async {
        dealer.send(mp(&[b"hello", b"ipc"])).await.unwrap();
        let msg = router.recv().await.unwrap();
        assert_eq!(
            frames(&msg),
            vec![b"over-ipc".to_vec(), b"hello".to_vec(), b"ipc".to_vec()]
        );
        router.send(mp(&[b"over-ipc", b"back"])).await.unwrap();
        assert_eq!(
            frames(&dealer.recv().await.unwrap()),
            vec![b"back".to_vec()]
        );
    });
    within(SOON, "close", router.close());
    assert!(!path.exists(), "the socket file is removed on close");
}

#[test]
fn multipart_with_empty_and_large_frames_round_trips() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options::default());
    dealer.connect(&endpoint.to_string()).unwrap();
    let big: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    let sent = mp(&[b"", b"head", b"", &big, b"", b"tail", b""]);
    within(Duration::from_secs(10), "round trip", async {
        dealer.send(sent.clone()).await.unwrap();
        let got = router.recv().await.unwrap();
        let (id, body) = got.pop_front();
        let body = body.unwrap();
        assert_eq!(body.len(), 7);
        assert!(body == sent, "the message changed on the way");
        // And back, ROUTER to DEALER.
        let mut reply = body;
        reply.push_front(id);
        router.send(reply).await.unwrap();
        let back = dealer.recv().await.unwrap();
        assert!(back == sent, "the reply changed on the way");
    });
    // A message of only one empty frame, too.
    within(SOON, "an empty frame", async {
        dealer.send(mp(&[b""])).await.unwrap();
        let got = router.recv().await.unwrap();
        assert_eq!(frames(&got)[1], Vec::<u8>::new());
        assert_eq!(got.len(), 2);
    });
}

#[test]
fn ten_thousand_messages_arrive_complete_and_in_order() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options::default());
    dealer.connect(&endpoint.to_string()).unwrap();
    const N: u32 = 10_000;
    within(Duration::from_secs(30), "10 000 messages", async {
        let sender = async {
            for i in 0..N {
                dealer.send(mp(&[b"seq", &i.to_be_bytes()])).await.unwrap();
            }
        };
        let receiver = async {
            for i in 0..N {
                let msg = router.recv().await.unwrap();
                let f = frames(&msg);
                assert_eq!(f.len(), 3);
                assert_eq!(f[2], i.to_be_bytes().to_vec(), "message {i}");
            }
        };
        futures::join!(sender, receiver);
    });
    assert!(router.try_recv().is_none());
}

#[test]
fn mixed_small_and_large_messages_arrive_intact_and_in_order() {
    // Large bodies are written from their own memory with vectored writes, small ones copied
    // together: interleaved, with writes cut short by a full socket, every byte must still
    // arrive in order, both ways.
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options::default());
    dealer.connect(&endpoint.to_string()).unwrap();
    const SIZES: [usize; 6] = [3, 8 * 1024, 100_000, 0, 8 * 1024 - 1, 300_000];
    const N: usize = 300;
    let body = |i: usize| -> Vec<u8> {
        let len = SIZES[i % SIZES.len()];
        (0..len)
            .map(|j| u8::try_from((i * 7 + j) % 253).unwrap())
            .collect()
    };
    within(Duration::from_secs(60), "mixed sizes, both ways", async {
        let sender = async {
            for i in 0..N {
                let seq = u32::try_from(i).unwrap().to_be_bytes();
                dealer.send(mp(&[&seq, &body(i)])).await.unwrap();
            }
        };
        let echo = async {
            for _ in 0..N {
                let msg = router.recv().await.unwrap();
                router.send(msg).await.unwrap();
            }
        };
        let receiver = async {
            for i in 0..N {
                let f = frames(&dealer.recv().await.unwrap());
                assert_eq!(f.len(), 2, "message {i}");
                assert_eq!(
                    f[0],
                    u32::try_from(i).unwrap().to_be_bytes().to_vec(),
                    "message {i}"
                );
                assert!(f[1] == body(i), "message {i}: the body changed on the way");
            }
        };
        futures::join!(sender, echo, receiver);
    });
}

#[test]
fn close_with_linger_delivers_queued_messages() {
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options {
        linger: Duration::from_secs(5),
        ..Options::default()
    });
    let events = dealer.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    let payload = Bytes::from(vec![9u8; 16 * 1024]);
    let unsent = within(Duration::from_secs(10), "send 100 then close", async {
        for i in 0..100u32 {
            let mut msg = mp(&[&i.to_be_bytes()]);
            msg.push_back(payload.clone());
            dealer.send(msg).await.unwrap();
        }
        dealer.close().await
    });
    assert_eq!(unsent, 0);
    within(SOON, "the 100 messages", async {
        for i in 0..100u32 {
            let msg = router.recv().await.unwrap();
            assert_eq!(frames(&msg)[1], i.to_be_bytes().to_vec());
        }
    });
}

#[test]
fn close_with_linger_delivers_messages_sent_before_the_connection_was_up() {
    // libzmq keeps connecting during the linger period: messages sent right after `connect`
    // are not lost because `close` came before the TCP connection.
    let router = Router::new(Options::default());
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options {
        linger: Duration::from_secs(5),
        ..Options::default()
    });
    dealer.connect(&endpoint.to_string()).unwrap();
    let unsent = within(Duration::from_secs(10), "send 100 then close", async {
        for i in 0..100u32 {
            dealer.send(mp(&[&i.to_be_bytes()])).await.unwrap();
        }
        dealer.close().await
    });
    assert_eq!(unsent, 0);
    within(SOON, "the 100 messages", async {
        for i in 0..100u32 {
            let msg = router.recv().await.unwrap();
            assert_eq!(frames(&msg)[1], i.to_be_bytes().to_vec());
        }
    });
}

#[test]
fn close_gives_up_after_linger_when_nobody_is_there() {
    let dealer = Dealer::new(Options {
        linger: Duration::from_millis(200),
        ..Options::default()
    });
    dealer
        .connect(&format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    let unsent = within(SOON, "close without a peer", async {
        for _ in 0..7 {
            dealer.send(mp(&[b"x"])).await.unwrap();
        }
        dealer.close().await
    });
    assert_eq!(unsent, 7);
}

#[test]
fn router_close_with_linger_delivers_queued_replies() {
    let router = Router::new(Options {
        linger: Duration::from_secs(5),
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options {
        routing_id: "d".into(),
        ..Options::default()
    });
    let events = router.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    wait_event(&events, SOON, "handshake", is_handshake_ok);
    within(Duration::from_secs(10), "send 100 then close", async {
        for i in 0..100u32 {
            router.send(mp(&[b"d", &i.to_be_bytes()])).await.unwrap();
        }
        router.close().await;
    });
    within(SOON, "the 100 replies", async {
        for i in 0..100u32 {
            let msg = dealer.recv().await.unwrap();
            assert_eq!(frames(&msg), vec![i.to_be_bytes().to_vec()]);
        }
    });
}

#[test]
fn a_dealer_with_two_connections_uses_both() {
    // The ROUTERs' apps do not read until everything is sent, and their receive queues are
    // small: one connection alone cannot absorb 64 MiB (its peer's queue and the socket
    // buffers fill up), so the DEALER must spread the messages over both.
    let router_options = Options {
        recv_hwm: 8,
        ..Options::default()
    };
    let r1 = Router::new(router_options.clone());
    let r2 = Router::new(router_options);
    let e1 = within(SOON, "bind 1", r1.bind("tcp://127.0.0.1:0")).unwrap();
    let e2 = within(SOON, "bind 2", r2.bind("tcp://127.0.0.1:0")).unwrap();
    let dealer = Dealer::new(Options::default());
    let events = dealer.events();
    dealer.connect(&e1.to_string()).unwrap();
    dealer.connect(&e2.to_string()).unwrap();
    wait_event(&events, SOON, "handshake 1", is_handshake_ok);
    wait_event(&events, SOON, "handshake 2", is_handshake_ok);

    const N: usize = 512;
    let payload = Bytes::from(vec![3u8; 128 * 1024]);
    let recv_either = || async {
        futures::select! {
            m = futures::FutureExt::fuse(r1.recv()) => (1, m.unwrap()),
            m = futures::FutureExt::fuse(r2.recv()) => (2, m.unwrap()),
        }
    };
    let (n1, n2) = within(Duration::from_secs(30), "load balancing", async {
        for i in 0..N {
            let mut msg = mp(&[&i.to_be_bytes()]);
            msg.push_back(payload.clone());
            dealer.send(msg).await.unwrap();
        }
        let (mut n1, mut n2) = (0u32, 0u32);
        let mut seen = vec![false; N];
        for _ in 0..N {
            let (which, msg) = recv_either().await;
            let i = usize::from_be_bytes(frames(&msg)[1].clone().try_into().unwrap());
            assert!(!seen[i], "message {i} delivered twice");
            seen[i] = true;
            assert_eq!(msg.frames()[2].len(), payload.len());
            if which == 1 {
                n1 += 1;
            } else {
                n2 += 1;
            }
        }
        (n1, n2)
    });
    assert!(n1 > 0 && n2 > 0, "both peers get messages: {n1} and {n2}");
    // Replies from both come back to the one DEALER.
    within(SOON, "replies from both", async {
        for (router, body) in [(&r1, b"one"), (&r2, b"two")] {
            let id = router.peers().pop().unwrap();
            let mut reply = mp(&[body]);
            reply.push_front(id);
            router.send(reply).await.unwrap();
        }
        let mut got = vec![
            frames(&dealer.recv().await.unwrap()),
            frames(&dealer.recv().await.unwrap()),
        ];
        got.sort();
        assert_eq!(got, vec![vec![b"one".to_vec()], vec![b"two".to_vec()]]);
    });
}

#[test]
fn a_message_the_peer_refuses_does_not_block_the_queue() {
    // The ROUTER refuses frames over 1 MiB and closes the connection as soon as it sees the
    // header of one. The DEALER must not resend that message forever: the ones after it
    // still arrive.
    let router = Router::new(Options {
        limits: courier_socket::proto::frame::Limits {
            max_frame_size: 1 << 20,
            ..Default::default()
        },
        ..Options::default()
    });
    let endpoint = within(SOON, "bind", router.bind("tcp://127.0.0.1:0")).unwrap();
    let events = router.events();
    let dealer = Dealer::new(Options::default());
    let dealer_events = dealer.events();
    dealer.connect(&endpoint.to_string()).unwrap();
    within(SOON, "sends", async {
        dealer.send(mp(&[b"before"])).await.unwrap();
        let mut big = mp(&[b"big"]);
        big.push_back(Bytes::from(vec![1u8; 16 << 20]));
        dealer.send(big).await.unwrap();
        dealer.send(mp(&[b"after"])).await.unwrap();
    });
    let got = within(
        Duration::from_secs(10),
        "the messages around the refused one",
        async {
            let a = router.recv().await.unwrap();
            let b = router.recv().await.unwrap();
            (frames(&a)[1].clone(), frames(&b)[1].clone())
        },
    );
    assert_eq!(got, (b"before".to_vec(), b"after".to_vec()));
    let (ev, _) = wait_event(&events, SOON, "the refusal", is_disconnected);
    assert!(reason_of(&ev).contains("exceeds the limit"), "{ev:?}");
    // The DEALER reports the message it gave up on.
    let (ev, _) = wait_event(&dealer_events, SOON, "MessagesDropped", |e| {
        matches!(e, courier_socket::SocketEvent::MessagesDropped { .. })
    });
    assert!(
        matches!(
            ev,
            courier_socket::SocketEvent::MessagesDropped { count: 1, .. }
        ),
        "{ev:?}"
    );
}

#[cfg(unix)]
#[test]
fn ipc_connect_before_bind_retries_until_the_socket_exists() {
    let dir = TempDir::new("ipc-late");
    let endpoint = format!("ipc://{}", dir.0.join("late.sock").display());
    let dealer = Dealer::new(Options::default());
    let events = dealer.events();
    dealer.connect(&endpoint).unwrap();
    within(SOON, "send before bind", dealer.send(mp(&[b"early"]))).unwrap();
    wait_event(&events, SOON, "a failed attempt", |e| {
        matches!(e, courier_socket::SocketEvent::ConnectFailed { .. })
    });
    let router = Router::new(Options::default());
    within(SOON, "bind ipc", router.bind(&endpoint)).unwrap();
    let msg = within(Duration::from_secs(5), "the early message", router.recv()).unwrap();
    assert_eq!(frames(&msg)[1], b"early".to_vec());
}
