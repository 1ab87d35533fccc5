//! inproc://: sockets of one process joined without TCP or ZMTP. Each test uses its own names
//! (the registry is process-wide and the tests run in parallel).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use courier_socket::{
    Dealer, Endpoint, Multipart, Options, Pair, Pub, Pull, Push, Rep, Req, Router, SocketError,
    SocketEvent, Sub,
};

fn is_handshake_failed(ev: &SocketEvent) -> bool {
    matches!(ev, SocketEvent::HandshakeFailed { .. })
}

#[test]
fn req_and_rep_over_inproc_with_the_connect_before_the_bind() {
    let req = Req::new(Options::default());
    req.connect("inproc://reqrep").unwrap();
    std::thread::scope(|s| {
        // No peer yet: the request waits for the bind.
        let asking = s.spawn(|| {
            req.send_blocking(mp(&[b"hello"]))?;
            req.recv_timeout(SOON)
        });
        let rep = Rep::new(Options::default());
        assert_eq!(
            rep.bind_blocking("inproc://reqrep").unwrap(),
            Endpoint::Inproc("reqrep".into())
        );
        assert_eq!(
            frames(&rep.recv_timeout(SOON).unwrap()),
            vec![b"hello".to_vec()]
        );
        rep.send_blocking(mp(&[b"world"])).unwrap();
        assert_eq!(
            frames(&asking.join().unwrap().unwrap()),
            vec![b"world".to_vec()]
        );
    });
}

#[test]
fn bodies_are_moved_not_copied() {
    let pull = Pull::new(Options::default());
    pull.bind_blocking("inproc://nocopy").unwrap();
    let push = Push::new(Options::default());
    push.connect("inproc://nocopy").unwrap();
    let body = Bytes::from(vec![42u8; 1 << 20]);
    push.send_blocking(Multipart::single(body.clone())).unwrap();
    let got = pull.recv_timeout(SOON).unwrap();
    assert_eq!(got.first().as_ptr(), body.as_ptr(), "the same buffer");
    assert_eq!(got.first().len(), body.len());
}

#[test]
fn push_to_pull_over_inproc_keeps_order_through_small_queues() {
    let pull = Pull::new(Options {
        recv_hwm: 4,
        ..Options::default()
    });
    pull.bind_blocking("inproc://pipeline").unwrap();
    let push = Push::new(Options {
        send_hwm: 4,
        ..Options::default()
    });
    push.connect("inproc://pipeline").unwrap();
    const N: usize = 5_000;
    std::thread::scope(|s| {
        s.spawn(|| {
            for n in 0..N {
                push.send_blocking(mp(&[n.to_string().as_bytes()])).unwrap();
            }
        });
        for n in 0..N {
            let msg = pull.recv_timeout(SOON).unwrap();
            assert_eq!(msg.first().as_ref(), n.to_string().as_bytes());
        }
    });
}

#[test]
fn pub_and_sub_over_inproc_filter_by_topic() {
    let publisher = Pub::new(Options::default());
    publisher.bind_blocking("inproc://weather").unwrap();
    let sub = Sub::new(Options::default());
    sub.subscribe("w.");
    sub.connect("inproc://weather").unwrap();
    let deadline = Instant::now() + SOON;
    loop {
        assert!(Instant::now() < deadline, "the subscription never arrived");
        publisher.send_blocking(mp(&[b"v.sync"])).unwrap();
        publisher.send_blocking(mp(&[b"w.sync"])).unwrap();
        if sub.recv_timeout(Duration::from_millis(10)).is_ok() {
            break;
        }
    }
    while sub.try_recv().is_some() {}
    publisher.send_blocking(mp(&[b"v.1"])).unwrap();
    publisher.send_blocking(mp(&[b"w.1", b"body"])).unwrap();
    assert_eq!(
        frames(&sub.recv_timeout(SOON).unwrap()),
        vec![b"w.1".to_vec(), b"body".to_vec()]
    );
    assert!(sub.try_recv().is_none());
}

#[test]
fn a_connector_joins_the_next_socket_bound_to_the_name() {
    let push = Push::new(Options::default());
    push.connect("inproc://rebound").unwrap();
    for round in 0..3 {
        let pull = Pull::new(Options::default());
        pull.bind_blocking("inproc://rebound").unwrap();
        push.send_blocking(mp(&[format!("round {round}").as_bytes()]))
            .unwrap();
        assert_eq!(
            frames(&pull.recv_timeout(SOON).unwrap()),
            vec![format!("round {round}").into_bytes()]
        );
        pull.close_blocking();
    }
}

#[test]
fn a_name_is_bound_once_at_a_time() {
    let a = Pull::new(Options::default());
    a.bind_blocking("inproc://taken").unwrap();
    let b = Pull::new(Options::default());
    match b.bind_blocking("inproc://taken") {
        Err(SocketError::Bind { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("{other:?}"),
    }
    a.close_blocking();
    b.bind_blocking("inproc://taken").unwrap();
}

#[test]
fn router_and_dealer_over_inproc_know_routing_ids() {
    let router = Router::new(Options::default());
    router.bind_blocking("inproc://routing").unwrap();
    let dealer = Dealer::new(Options {
        routing_id: Bytes::from_static(b"worker-1"),
        ..Options::default()
    });
    dealer.connect("inproc://routing").unwrap();
    dealer.send_blocking(mp(&[b"ready"])).unwrap();
    let msg = router.recv_timeout(SOON).unwrap();
    assert_eq!(frames(&msg), vec![b"worker-1".to_vec(), b"ready".to_vec()]);
    router.send_blocking(mp(&[b"worker-1", b"job"])).unwrap();
    assert_eq!(
        frames(&dealer.recv_timeout(SOON).unwrap()),
        vec![b"job".to_vec()]
    );
}

#[test]
fn incompatible_types_and_a_second_pair_are_refused_over_inproc() {
    let pull = Pull::new(Options::default());
    let pull_events = pull.events();
    pull.bind_blocking("inproc://mismatch").unwrap();
    let req = Req::new(Options::default());
    let req_events = req.events();
    req.connect("inproc://mismatch").unwrap();
    let (ours, _) = wait_event(&pull_events, SOON, "refusal", is_handshake_failed);
    assert!(
        reason_of(&ours).contains("socket type mismatch: a PULL socket cannot talk to a REQ peer"),
        "{ours:?}"
    );
    let (theirs, _) = wait_event(&req_events, SOON, "refusal", is_handshake_failed);
    assert!(
        reason_of(&theirs).contains("a REQ socket cannot talk to a PULL peer"),
        "{theirs:?}"
    );

    let a = Pair::new(Options::default());
    a.bind_blocking("inproc://pair").unwrap();
    let b = Pair::new(Options::default());
    b.connect("inproc://pair").unwrap();
    b.send_blocking(mp(&[b"one"])).unwrap();
    assert_eq!(
        frames(&a.recv_timeout(SOON).unwrap()),
        vec![b"one".to_vec()]
    );
    let c = Pair::new(Options::default());
    let c_events = c.events();
    c.connect("inproc://pair").unwrap();
    let (refused, _) = wait_event(&c_events, SOON, "refusal", is_handshake_failed);
    assert!(
        reason_of(&refused).contains("already has its one peer"),
        "{refused:?}"
    );
}
