//! The socket types with courier peers on loopback: PUSH/PULL, PAIR, PUB/SUB, XPUB/XSUB,
//! REQ/REP, and the socket-type compatibility table.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use courier_socket::{
    DropReason, Endpoint, Multipart, Options, Pair, Pub, Pull, Push, Rep, Req, Router, SocketError,
    SocketEvent, Sub, WhenFull, XPub, XSub,
};

fn ep(endpoint: &Endpoint) -> String {
    endpoint.to_string()
}

fn numbered(prefix: &str, n: usize) -> Multipart {
    mp(&[format!("{prefix}{n}").as_bytes()])
}

fn text(msg: &Multipart) -> String {
    String::from_utf8_lossy(msg.first()).into_owned()
}

/// Waits for `n` handshakes on a socket's events.
fn handshakes(events: &async_channel::Receiver<SocketEvent>, n: usize) {
    for _ in 0..n {
        wait_event(events, SOON, "handshake", is_handshake_ok);
    }
}

fn is_handshake_failed(ev: &SocketEvent) -> bool {
    matches!(ev, SocketEvent::HandshakeFailed { .. })
}

fn is_failure(ev: &SocketEvent) -> bool {
    matches!(
        ev,
        SocketEvent::HandshakeFailed { .. } | SocketEvent::Disconnected { .. }
    )
}

/// Slow reconnects keep a refused peer from coming back during a test.
fn slow_reconnect() -> Options {
    Options {
        reconnect_ivl: Duration::from_secs(30),
        reconnect_ivl_max: Duration::from_secs(30),
        ..Options::default()
    }
}

// ---- PUSH / PULL -----------------------------------------------------------------------------

#[test]
fn push_deals_messages_to_its_pulls_in_turn_each_in_order() {
    let push = Push::new(Options::default());
    let endpoint = push.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let events = push.events();
    let pulls: Vec<Pull> = (0..3).map(|_| Pull::new(Options::default())).collect();
    for pull in &pulls {
        pull.connect(&ep(&endpoint)).unwrap();
    }
    handshakes(&events, 3);
    for n in 0..300 {
        push.send_blocking(numbered("task", n)).unwrap();
    }
    let mut firsts = Vec::new();
    for pull in &pulls {
        let got: Vec<usize> = (0..100)
            .map(|_| {
                let msg = pull.recv_timeout(SOON).unwrap();
                text(&msg).trim_start_matches("task").parse().unwrap()
            })
            .collect();
        // Round robin: every third message, in order.
        for pair in got.windows(2) {
            assert_eq!(pair[1], pair[0] + 3, "{got:?}");
        }
        firsts.push(got[0]);
        assert!(pull.try_recv().is_none(), "more than its share");
    }
    firsts.sort_unstable();
    assert_eq!(firsts, vec![0, 1, 2]);
}

#[test]
fn messages_pushed_before_any_pull_connects_wait_for_it() {
    let port = free_port();
    let push = Push::new(Options::default());
    push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    for n in 0..20 {
        push.send_blocking(numbered("early", n)).unwrap();
    }
    assert_eq!(push.queued(), 20);
    let pull = Pull::new(Options::default());
    pull.bind_blocking(&format!("tcp://127.0.0.1:{port}"))
        .unwrap();
    for n in 0..20 {
        assert_eq!(text(&pull.recv_timeout(SOON).unwrap()), format!("early{n}"));
    }
}

#[test]
fn push_blocks_at_its_high_water_mark_until_a_pull_takes() {
    let port = free_port();
    let push = Push::new(Options {
        send_hwm: 4,
        ..Options::default()
    });
    push.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    for n in 0..4 {
        push.try_send(numbered("m", n)).unwrap();
    }
    assert!(matches!(
        push.try_send(numbered("m", 4)),
        Err(SocketError::QueueFull { hwm: 4 })
    ));
    assert!(matches!(
        push.send_timeout(numbered("m", 4), Duration::from_millis(50)),
        Err(SocketError::Timeout(_))
    ));
    std::thread::scope(|s| {
        let blocked = s.spawn(|| push.send_blocking(numbered("m", 4)));
        let pull = Pull::new(Options::default());
        pull.bind_blocking(&format!("tcp://127.0.0.1:{port}"))
            .unwrap();
        let got: Vec<String> = (0..5)
            .map(|_| text(&pull.recv_timeout(SOON).unwrap()))
            .collect();
        assert_eq!(got, vec!["m0", "m1", "m2", "m3", "m4"]);
        blocked.join().unwrap().unwrap();
    });

    let erring = Push::new(Options {
        send_hwm: 1,
        when_full: WhenFull::Error,
        ..Options::default()
    });
    erring.send_blocking(numbered("x", 0)).unwrap();
    assert!(matches!(
        within(SOON, "send", erring.send(numbered("x", 1))),
        Err(SocketError::QueueFull { hwm: 1 })
    ));
}

#[test]
fn push_blocks_while_its_pull_does_not_read_and_loses_nothing() {
    let pull = Pull::new(Options {
        recv_hwm: 1,
        ..Options::default()
    });
    let endpoint = pull.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let push = Push::new(Options {
        send_hwm: 2,
        ..Options::default()
    });
    let events = push.events();
    push.connect(&ep(&endpoint)).unwrap();
    handshakes(&events, 1);
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    let mut sent = 0usize;
    // The PULL reads nothing: its queue, the TCP buffers and ours fill, then sending waits.
    loop {
        let msg = Multipart::new(vec![Bytes::from(sent.to_string()), body.clone()]).unwrap();
        match push.send_timeout(msg, Duration::from_millis(200)) {
            Ok(()) => sent += 1,
            Err(SocketError::Timeout(_)) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100_000, "PUSH never blocked");
    }
    for n in 0..sent {
        let msg = pull.recv_timeout(SOON).unwrap();
        assert_eq!(text(&msg), n.to_string());
    }
    assert!(pull.try_recv().is_none());
}

#[test]
fn a_pull_receives_from_every_push_each_in_order() {
    let pull = Pull::new(Options::default());
    let endpoint = pull.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let pushes: Vec<Push> = (0..2).map(|_| Push::new(Options::default())).collect();
    for (i, push) in pushes.iter().enumerate() {
        push.connect(&ep(&endpoint)).unwrap();
        for n in 0..50 {
            push.send_blocking(numbered(&format!("p{i}-"), n)).unwrap();
        }
    }
    let mut next = [0usize; 2];
    for _ in 0..100 {
        let msg = text(&pull.recv_timeout(SOON).unwrap());
        let (who, n) = msg.trim_start_matches('p').split_once('-').unwrap();
        let who: usize = who.parse().unwrap();
        assert_eq!(n.parse::<usize>().unwrap(), next[who], "{msg}");
        next[who] += 1;
    }
    assert_eq!(next, [50, 50]);
}

// ---- PAIR ------------------------------------------------------------------------------------

#[test]
fn pair_talks_both_ways_and_refuses_a_second_peer() {
    let a = Pair::new(Options::default());
    let endpoint = a.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let a_events = a.events();
    let b = Pair::new(Options::default());
    b.connect(&ep(&endpoint)).unwrap();
    b.send_blocking(mp(&[b"ping", b"2"])).unwrap();
    assert_eq!(
        frames(&a.recv_timeout(SOON).unwrap()),
        vec![b"ping".to_vec(), b"2".to_vec()]
    );
    a.send_blocking(mp(&[b"pong"])).unwrap();
    assert_eq!(
        frames(&b.recv_timeout(SOON).unwrap()),
        vec![b"pong".to_vec()]
    );

    let c = Pair::new(slow_reconnect());
    let c_events = c.events();
    c.connect(&ep(&endpoint)).unwrap();
    let (refused, _) = wait_event(&a_events, SOON, "refusal", is_handshake_failed);
    assert!(
        reason_of(&refused).contains("already has its one peer"),
        "{refused:?}"
    );
    let (told, _) = wait_event(&c_events, SOON, "refusal", is_failure);
    assert!(
        reason_of(&told).contains("already has its one peer"),
        "{told:?}"
    );

    // The first peer is undisturbed.
    b.send_blocking(mp(&[b"still here"])).unwrap();
    assert_eq!(text(&a.recv_timeout(SOON).unwrap()), "still here");
}

// ---- PUB / SUB -------------------------------------------------------------------------------

/// Publishes `topic`-prefixed sync messages until `sub` receives one (a new subscription
/// takes a moment to reach the publisher), then drains the extra ones.
fn sync(publish: &dyn Fn(Multipart), sub: &Sub, topic: &str) {
    let deadline = Instant::now() + SOON;
    loop {
        publish(mp(&[format!("{topic}sync").as_bytes()]));
        if let Ok(msg) = sub.recv_timeout(Duration::from_millis(20)) {
            assert_eq!(text(&msg), format!("{topic}sync"));
            break;
        }
        assert!(Instant::now() < deadline, "subscription never took effect");
    }
    while sub.try_recv().is_some() {}
}

/// Receives until `end`, returning what came before it (sync messages left out).
fn until(sub: &Sub, end: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let msg = text(&sub.recv_timeout(SOON).unwrap());
        if msg == end {
            return got;
        }
        if !msg.ends_with("sync") {
            got.push(msg);
        }
    }
}

#[test]
fn sub_receives_only_what_matches_its_topics_by_prefix() {
    let publisher = Pub::new(Options::default());
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let sub = Sub::new(Options::default());
    // Subscribed before connecting.
    sub.subscribe("a.");
    sub.connect(&ep(&endpoint)).unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    sync(&publish, &sub, "a.");
    for topic in ["b.1", "a.1", "a", "ab", "a.2", ""] {
        publish(mp(&[topic.as_bytes(), b"body"]));
    }
    publish(mp(&[b"a.end"]));
    assert_eq!(until(&sub, "a.end"), vec!["a.1", "a.2"]);

    // Subscribed after connecting; the empty topic matches everything.
    sub.subscribe("");
    sync(&publish, &sub, "");
    for topic in ["b.1", "zz"] {
        publish(mp(&[topic.as_bytes()]));
    }
    publish(mp(&[b"end"]));
    assert_eq!(until(&sub, "end"), vec!["b.1", "zz"]);
    let mut topics = sub.topics();
    topics.sort();
    assert_eq!(topics, vec![Bytes::from(""), Bytes::from("a.")]);
}

#[test]
fn a_topic_subscribed_twice_takes_two_unsubscribes() {
    let publisher = Pub::new(Options::default());
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let sub = Sub::new(Options::default());
    sub.connect(&ep(&endpoint)).unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    sub.subscribe("t.");
    sub.subscribe("t.");
    sub.subscribe("s1.");
    sync(&publish, &sub, "s1.");

    sub.unsubscribe("t.");
    // Subscriptions reach the publisher in order: once "s2." works, the cancel was read.
    sub.subscribe("s2.");
    sync(&publish, &sub, "s2.");
    publish(mp(&[b"t.still"]));
    publish(mp(&[b"s2.end"]));
    assert_eq!(until(&sub, "s2.end"), vec!["t.still"]);

    sub.unsubscribe("t.");
    sub.subscribe("s3.");
    sync(&publish, &sub, "s3.");
    publish(mp(&[b"t.gone"]));
    publish(mp(&[b"s3.end"]));
    assert_eq!(until(&sub, "s3.end"), Vec::<String>::new());
}

#[test]
fn subscriptions_are_sent_again_to_a_restarted_publisher() {
    let port = free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let sub = Sub::new(Options {
        reconnect_ivl: Duration::from_millis(20),
        reconnect_ivl_max: Duration::from_millis(50),
        ..Options::default()
    });
    sub.subscribe("news.");
    sub.connect(&endpoint).unwrap();
    for round in 0..2 {
        let publisher = Pub::new(Options::default());
        publisher.bind_blocking(&endpoint).unwrap();
        let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
        sync(&publish, &sub, "news.");
        publish(mp(&[format!("news.{round}").as_bytes()]));
        publish(mp(&[b"other"]));
        publish(mp(&[b"news.end"]));
        assert_eq!(until(&sub, "news.end"), vec![format!("news.{round}")]);
        publisher.close_blocking();
    }
}

#[test]
fn pub_drops_for_a_subscriber_at_its_hwm_and_never_blocks() {
    let publisher = Pub::new(Options {
        send_hwm: 8,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    // A subscriber that does not read: its receive queue fills, then TCP, then our queue.
    let sub = Sub::new(Options {
        recv_hwm: 1,
        ..Options::default()
    });
    sub.subscribe("");
    sub.connect(&ep(&endpoint)).unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    sync(&publish, &sub, "");
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    const SENT: usize = 2_000;
    for n in 0..SENT {
        // Never blocks: this loop finishes whatever the subscriber does.
        publisher
            .send_blocking(Multipart::new(vec![Bytes::from(n.to_string()), body.clone()]).unwrap())
            .unwrap();
    }
    let (dropped, _) = wait_event(&events, SOON, "a drop", |e| {
        matches!(
            e,
            SocketEvent::MessagesDropped {
                reason: DropReason::QueueFull { hwm: 8 },
                ..
            }
        )
    });
    assert!(matches!(
        dropped,
        SocketEvent::MessagesDropped { count: 1, .. }
    ));
    // What the subscriber gets is in order, with gaps. The end marker is published until
    // it gets through (while the subscriber is behind, it is dropped like the rest).
    let mut got = Vec::new();
    let deadline = Instant::now() + SOON;
    loop {
        assert!(Instant::now() < deadline, "the end marker never came");
        publish(mp(&[b"end"]));
        let Ok(msg) = sub.recv_timeout(Duration::from_millis(20)) else {
            continue;
        };
        if msg.first().as_ref() == b"end" {
            break;
        }
        got.push(text(&msg).parse::<usize>().unwrap());
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "out of order");
    assert!(got.len() < SENT, "nothing was dropped");
}

// ---- XPUB / XSUB -----------------------------------------------------------------------------

fn subscription(kind: u8, topic: &str) -> Vec<Vec<u8>> {
    let mut body = vec![kind];
    body.extend_from_slice(topic.as_bytes());
    vec![body]
}

#[test]
fn xpub_delivers_a_topics_first_subscription_and_last_cancel() {
    let xpub = XPub::new(Options::default());
    let endpoint = xpub.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let (s1, s2) = (Sub::new(Options::default()), Sub::new(Options::default()));
    s1.connect(&ep(&endpoint)).unwrap();
    s2.connect(&ep(&endpoint)).unwrap();
    handshakes(&xpub.events(), 2);
    s1.subscribe("x");
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(1, "x")
    );
    s2.subscribe("x");
    s2.subscribe("y");
    // s2's "x" is not news; its "y" is (and comes after it, on the same connection).
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(1, "y")
    );
    s1.unsubscribe("x");
    s2.unsubscribe("y");
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(0, "y")
    );
    // The last holder of "x" leaves: XPUB reports the topic gone.
    s2.close_blocking();
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(0, "x")
    );
    assert!(xpub.try_recv().is_none());
}

#[test]
fn xpub_verbose_delivers_every_subscription() {
    let xpub = XPub::new(Options {
        xpub_verbose: true,
        ..Options::default()
    });
    let endpoint = xpub.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let (s1, s2) = (Sub::new(Options::default()), Sub::new(Options::default()));
    s1.subscribe("x");
    s1.connect(&ep(&endpoint)).unwrap();
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(1, "x")
    );
    s2.subscribe("x");
    s2.connect(&ep(&endpoint)).unwrap();
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(1, "x")
    );
    // Publishing reaches both.
    let deadline = Instant::now() + SOON;
    let mut got = [false, false];
    while got != [true, true] {
        assert!(Instant::now() < deadline, "{got:?}");
        xpub.send_blocking(mp(&[b"x1"])).unwrap();
        for (i, s) in [&s1, &s2].into_iter().enumerate() {
            if s.recv_timeout(Duration::from_millis(20)).is_ok() {
                got[i] = true;
            }
        }
    }
}

#[test]
fn xsub_sends_subscriptions_as_messages_and_again_after_reconnect() {
    let port = free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let xsub = XSub::new(Options {
        reconnect_ivl: Duration::from_millis(20),
        reconnect_ivl_max: Duration::from_millis(50),
        ..Options::default()
    });
    xsub.connect(&endpoint).unwrap();
    xsub.send_blocking(mp(&[b"\x01w."])).unwrap();
    xsub.send_blocking(mp(&[b"\x01v."])).unwrap();
    xsub.send_blocking(mp(&[b"\x00v."])).unwrap();
    for _ in 0..2 {
        let xpub = XPub::new(Options::default());
        xpub.bind_blocking(&endpoint).unwrap();
        // The new publisher learns the subscriptions held now: "w." only.
        assert_eq!(
            frames(&xpub.recv_timeout(SOON).unwrap()),
            subscription(1, "w.")
        );
        xpub.send_blocking(mp(&[b"v.no"])).unwrap();
        xpub.send_blocking(mp(&[b"w.yes"])).unwrap();
        assert_eq!(text(&xsub.recv_timeout(SOON).unwrap()), "w.yes");
        // Other messages go upstream as they are.
        xsub.send_blocking(mp(&[b"hello", b"upstream"])).unwrap();
        assert_eq!(
            frames(&xpub.recv_timeout(SOON).unwrap()),
            vec![b"hello".to_vec(), b"upstream".to_vec()]
        );
        assert!(xpub.try_recv().is_none());
        xpub.close_blocking();
    }
}

#[test]
fn a_publisher_reads_zmtp_3_1_subscribe_and_cancel_commands() {
    use courier_socket::proto::command::Command;
    let xpub = XPub::new(Options::default());
    let endpoint = xpub.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let mut raw = RawPeer::connect(port_of(&endpoint));
    raw.handshake("SUB", None);
    let command = |c: Command| {
        let mut out = bytes::BytesMut::new();
        c.encode(&mut out);
        out.to_vec()
    };
    raw.write(&command(Command::Subscribe {
        topic: Bytes::from_static(b"a."),
    }));
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(1, "a.")
    );
    xpub.send_blocking(mp(&[b"b.1"])).unwrap();
    xpub.send_blocking(mp(&[b"a.1"])).unwrap();
    assert_eq!(raw.read_frame(), (0, b"a.1".to_vec()));
    raw.write(&command(Command::Cancel {
        topic: Bytes::from_static(b"a."),
    }));
    assert_eq!(
        frames(&xpub.recv_timeout(SOON).unwrap()),
        subscription(0, "a.")
    );
}

#[test]
fn a_subscriber_over_the_subscription_limits_is_disconnected_with_a_typed_reason() {
    let publisher = Pub::new(Options {
        max_subscriptions: 3,
        max_subscription_bytes: 64,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let too_many = |e: &SocketEvent| {
        matches!(
            e,
            SocketEvent::Disconnected {
                reason: courier_socket::Reason::TooManySubscriptions { .. },
                ..
            }
        )
    };

    let greedy = XSub::new(slow_reconnect());
    greedy.connect(&ep(&endpoint)).unwrap();
    for topic in ["a", "b", "b", "c", "d"] {
        greedy
            .send_blocking(mp(&[format!("\x01{topic}").as_bytes()]))
            .unwrap();
    }
    let (ev, _) = wait_event(&events, SOON, "the limit", too_many);
    let SocketEvent::Disconnected { reason, .. } = &ev else {
        unreachable!()
    };
    assert_eq!(
        *reason,
        courier_socket::Reason::TooManySubscriptions {
            topics: 4,
            bytes: 4
        },
        "a repeated topic counts once"
    );

    let huge = XSub::new(slow_reconnect());
    huge.connect(&ep(&endpoint)).unwrap();
    let mut topic = vec![1u8];
    topic.extend_from_slice(&[b'x'; 100]);
    huge.send_blocking(mp(&[&topic])).unwrap();
    let (ev, _) = wait_event(&events, SOON, "the limit", too_many);
    assert!(reason_of(&ev).contains("subscription limits"), "{ev:?}");
    let SocketEvent::Disconnected { reason, .. } = ev else {
        unreachable!()
    };
    assert_eq!(
        reason,
        courier_socket::Reason::TooManySubscriptions {
            topics: 1,
            bytes: 100
        }
    );
}

// ---- REQ / REP -------------------------------------------------------------------------------

fn wrong_state<T: std::fmt::Debug>(r: Result<T, SocketError>) -> bool {
    matches!(r, Err(SocketError::WrongState(_)))
}

#[test]
fn req_and_rep_alternate_strictly() {
    let rep = Rep::new(Options::default());
    let endpoint = rep.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let req = Req::new(Options::default());
    req.connect(&ep(&endpoint)).unwrap();

    assert!(wrong_state(req.recv_timeout(SOON)), "recv before send");
    assert!(
        wrong_state(rep.send_blocking(mp(&[b"no"]))),
        "reply before request"
    );
    for round in 0..3 {
        req.send_blocking(mp(&[b"hello", format!("{round}").as_bytes()]))
            .unwrap();
        assert!(
            wrong_state(req.send_blocking(mp(&[b"again"]))),
            "send twice"
        );
        let request = rep.recv_timeout(SOON).unwrap();
        assert_eq!(
            frames(&request),
            vec![b"hello".to_vec(), format!("{round}").into_bytes()]
        );
        assert!(wrong_state(rep.recv_timeout(SOON)), "recv twice");
        rep.send_blocking(mp(&[b"world", format!("{round}").as_bytes()]))
            .unwrap();
        let reply = req.recv_timeout(SOON).unwrap();
        assert_eq!(
            frames(&reply),
            vec![b"world".to_vec(), format!("{round}").into_bytes()]
        );
    }
}

#[test]
fn rep_keeps_the_envelope_and_drops_requests_without_a_delimiter() {
    let rep = Rep::new(Options::default());
    let endpoint = rep.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let dealer = courier_socket::Dealer::new(Options::default());
    dealer.connect(&ep(&endpoint)).unwrap();
    dealer.send_blocking(mp(&[b"no delimiter"])).unwrap();
    dealer.send_blocking(mp(&[b"hop1", b""])).unwrap();
    dealer
        .send_blocking(mp(&[b"hop1", b"hop2", b"", b"body", b"more"]))
        .unwrap();
    assert_eq!(
        frames(&rep.recv_timeout(SOON).unwrap()),
        vec![b"body".to_vec(), b"more".to_vec()]
    );
    rep.send_blocking(mp(&[b"reply"])).unwrap();
    assert_eq!(
        frames(&dealer.recv_timeout(SOON).unwrap()),
        vec![
            b"hop1".to_vec(),
            b"hop2".to_vec(),
            vec![],
            b"reply".to_vec()
        ]
    );
}

#[test]
fn req_sends_each_request_to_the_next_rep() {
    let reps: Vec<Rep> = (0..2).map(|_| Rep::new(Options::default())).collect();
    let req = Req::new(Options::default());
    let events = req.events();
    for rep in &reps {
        let endpoint = rep.bind_blocking("tcp://127.0.0.1:0").unwrap();
        req.connect(&ep(&endpoint)).unwrap();
    }
    handshakes(&events, 2);
    let mut served = [0usize; 2];
    let mut last = None;
    for n in 0..6 {
        req.send_blocking(numbered("q", n)).unwrap();
        let deadline = Instant::now() + SOON;
        let who = loop {
            assert!(Instant::now() < deadline, "no REP got request {n}");
            if let Some(i) = reps.iter().position(|r| {
                r.try_recv()
                    .unwrap()
                    .is_some_and(|m| text(&m) == format!("q{n}"))
            }) {
                break i;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_ne!(Some(who), last, "the same REP twice in a row");
        last = Some(who);
        served[who] += 1;
        reps[who].send_blocking(numbered("r", n)).unwrap();
        assert_eq!(text(&req.recv_timeout(SOON).unwrap()), format!("r{n}"));
    }
    assert_eq!(served, [3, 3]);
}

#[test]
fn req_accepts_only_the_reply_from_the_peer_it_asked() {
    let (r1, r2) = (
        Router::new(Options::default()),
        Router::new(Options::default()),
    );
    let req = Req::new(Options::default());
    let events = req.events();
    for r in [&r1, &r2] {
        let endpoint = r.bind_blocking("tcp://127.0.0.1:0").unwrap();
        req.connect(&ep(&endpoint)).unwrap();
    }
    handshakes(&events, 2);
    req.send_blocking(mp(&[b"question"])).unwrap();
    let deadline = Instant::now() + SOON;
    let (asked, other) = loop {
        assert!(Instant::now() < deadline, "no router got the request");
        if let Some(m) = r1.try_recv() {
            break ((r1, m), r2);
        }
        if let Some(m) = r2.try_recv() {
            break ((r2, m), r1);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let (asked, request) = asked;
    let f = frames(&request);
    assert_eq!(
        &f[1..],
        &[vec![], b"question".to_vec()],
        "delimiter in front"
    );
    // The other peer answers first, unasked: dropped.
    let wait = Instant::now() + SOON;
    while other.peers().is_empty() {
        assert!(Instant::now() < wait);
        std::thread::sleep(Duration::from_millis(1));
    }
    let intruder = other.peers()[0].clone();
    other
        .send_blocking(Multipart::new(vec![intruder, Bytes::new(), Bytes::from("fake")]).unwrap())
        .unwrap();
    asked
        .send_blocking(
            Multipart::new(vec![
                request.first().clone(),
                Bytes::new(),
                Bytes::from("real"),
            ])
            .unwrap(),
        )
        .unwrap();
    assert_eq!(text(&req.recv_timeout(SOON).unwrap()), "real");
}

#[test]
fn relaxed_correlated_req_abandons_a_request_and_drops_its_late_reply() {
    let router = Router::new(Options::default());
    let endpoint = router.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let req = Req::new(Options {
        req_relaxed: true,
        req_correlate: true,
        ..Options::default()
    });
    req.connect(&ep(&endpoint)).unwrap();
    req.send_blocking(mp(&[b"q1"])).unwrap();
    let first = router.recv_timeout(SOON).unwrap();
    // No reply yet: a relaxed REQ may ask again.
    req.send_blocking(mp(&[b"q2"])).unwrap();
    let second = router.recv_timeout(SOON).unwrap();
    let (f1, f2) = (frames(&first), frames(&second));
    assert_eq!(f1.len(), 4, "[peer, request id, delimiter, body]: {f1:?}");
    assert_eq!(f1[1].len(), 4, "a 4-byte request id");
    assert_ne!(f1[1], f2[1], "each request has its own id");
    assert_eq!(
        (&f1[2..], &f2[2..]),
        (&[vec![], b"q1".to_vec()][..], &[vec![], b"q2".to_vec()][..])
    );

    let reply = |req_frames: &[Vec<u8>], body: &[u8]| {
        let mut r = req_frames[..3].to_vec();
        r.push(body.to_vec());
        Multipart::new(r.into_iter().map(Bytes::from).collect()).unwrap()
    };
    // A reply with the old request's id is dropped; the current one is taken.
    router.send_blocking(reply(&f1, b"late")).unwrap();
    router.send_blocking(reply(&f2, b"current")).unwrap();
    assert_eq!(text(&req.recv_timeout(SOON).unwrap()), "current");
    assert!(wrong_state(req.recv_timeout(Duration::from_millis(10))));
}

#[test]
fn a_request_waits_for_a_peer_to_connect() {
    let port = free_port();
    let req = Req::new(Options::default());
    req.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    assert!(matches!(
        req.try_send(mp(&[b"q"])),
        Err(SocketError::QueueFull { .. })
    ));
    assert!(matches!(
        req.send_timeout(mp(&[b"q"]), Duration::from_millis(30)),
        Err(SocketError::Timeout(_))
    ));
    std::thread::scope(|s| {
        let asking = s.spawn(|| {
            req.send_blocking(mp(&[b"q"]))?;
            req.recv_timeout(SOON)
        });
        let rep = Rep::new(Options::default());
        rep.bind_blocking(&format!("tcp://127.0.0.1:{port}"))
            .unwrap();
        assert_eq!(text(&rep.recv_timeout(SOON).unwrap()), "q");
        rep.send_blocking(mp(&[b"a"])).unwrap();
        assert_eq!(text(&asking.join().unwrap().unwrap()), "a");
    });
}

// ---- the compatibility table -----------------------------------------------------------------

#[test]
fn incompatible_socket_types_are_refused_at_both_ends() {
    let push = Push::new(Options::default());
    let endpoint = push.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let push_events = push.events();
    let req = Req::new(slow_reconnect());
    let req_events = req.events();
    req.connect(&ep(&endpoint)).unwrap();
    let (ours, _) = wait_event(&push_events, SOON, "refusal", is_handshake_failed);
    assert!(
        reason_of(&ours).contains("socket type mismatch: a PUSH socket cannot talk to a REQ peer"),
        "{ours:?}"
    );
    let (theirs, _) = wait_event(&req_events, SOON, "refusal", is_handshake_failed);
    assert!(
        reason_of(&theirs).contains("PUSH"),
        "the REQ end names the peer's type: {theirs:?}"
    );

    let sub = Sub::new(Options::default());
    let sub_events = sub.events();
    let pull = Pull::new(slow_reconnect());
    let sub_end = sub.bind_blocking("tcp://127.0.0.1:0").unwrap();
    pull.connect(&ep(&sub_end)).unwrap();
    let (refused, _) = wait_event(&sub_events, SOON, "refusal", is_handshake_failed);
    assert!(reason_of(&refused).contains("a SUB socket cannot talk to a PULL peer"));
}
