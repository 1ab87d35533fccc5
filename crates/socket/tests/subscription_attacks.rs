//! Attacks on a publisher's subscriptions, from a raw ZMTP peer (std::net, bytes written by
//! hand) against a courier PUB or XPUB while a good courier SUB is being served: a huge
//! subscription, floods of ZMTP 3.1 SUBSCRIBE commands and of ZMTP 3.0 `\x01topic` messages
//! past `max_subscriptions`, a flood of one repeated subscription, and malformed or
//! meaningless SUBSCRIBE/CANCEL (empty topics, cancels of topics never subscribed, messages
//! that are neither).
//!
//! Each attack ends in a typed, bounded outcome: the attacker is disconnected with
//! [`Reason::TooManySubscriptions`] (exact counts asserted) or with a protocol error, or its
//! input is ignored as libzmq ignores it; the good subscriber keeps receiving; and what the
//! publisher holds for the attacker is bounded (its receive budget drains back to zero, and a
//! flood at the default limits costs the process a bounded amount of memory).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use courier_socket::proto::command::Command;
use courier_socket::proto::connection::ConnectionError;
use courier_socket::proto::frame::{Frame, FrameError, Limits};
use courier_socket::{Endpoint, Multipart, Options, Pub, Reason, SocketEvent, Sub, XPub};

// ---- helpers ---------------------------------------------------------------------------------

/// One data frame (the last of its message unless `more`), in wire form.
fn data_frame(body: &[u8], more: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    Frame::data(Bytes::copy_from_slice(body), more).encode(&mut out);
    out.to_vec()
}

/// A command frame, in wire form.
fn command(c: Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    c.encode(&mut out);
    out.to_vec()
}

fn subscribe_cmd(topic: &[u8]) -> Vec<u8> {
    command(Command::Subscribe {
        topic: Bytes::copy_from_slice(topic),
    })
}

fn cancel_cmd(topic: &[u8]) -> Vec<u8> {
    command(Command::Cancel {
        topic: Bytes::copy_from_slice(topic),
    })
}

/// A ZMTP 3.0 subscription message (`kind` 1) or cancellation (`kind` 0), in wire form.
fn subscription_msg(kind: u8, topic: &[u8]) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(topic);
    data_frame(&body, false)
}

/// A raw SUB connected to `endpoint`, past its NULL handshake.
fn raw_subscriber(endpoint: &Endpoint) -> RawPeer {
    let mut raw = RawPeer::connect(port_of(endpoint));
    raw.handshake("SUB", None);
    raw
}

/// Writes `bytes` on a thread of its own: the publisher may close the connection part way
/// (that is the point), so write errors are expected and ignored.
fn write_in_background(raw: &RawPeer, bytes: Vec<u8>) -> JoinHandle<()> {
    let mut stream: TcpStream = raw.stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = stream.write_all(&bytes);
    })
}

/// Waits for the attacker's disconnection; returns its reason.
fn disconnect_reason(events: &async_channel::Receiver<SocketEvent>, what: &str) -> Reason {
    let (ev, _) = wait_event(events, SOON, what, is_disconnected);
    match ev {
        SocketEvent::Disconnected { reason, .. } => reason,
        other => panic!("not a disconnection: {other:?}"),
    }
}

/// Waits until the publisher holds no received bytes (the attacker's partial and refused
/// messages released).
fn budget_drains(buffered: &dyn Fn() -> usize) {
    let deadline = Instant::now() + SOON;
    while buffered() != 0 {
        assert!(
            Instant::now() < deadline,
            "the publisher still holds {} bytes received",
            buffered()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the publisher has `n` subscribers (a kicked one is detached just after its
/// disconnection is reported).
fn subscribers_become(n: usize, count: &dyn Fn() -> usize) {
    let deadline = Instant::now() + SOON;
    while count() != n {
        assert!(
            Instant::now() < deadline,
            "{} subscribers, expected {n}",
            count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A courier SUB subscribed to `good.`, connected and in (a message of its reached it).
struct GoodSubscriber {
    sub: Sub,
    sent: std::cell::Cell<usize>,
}

impl GoodSubscriber {
    fn join(endpoint: &Endpoint, publish: &dyn Fn(Multipart)) -> GoodSubscriber {
        let sub = Sub::new(Options::default());
        sub.subscribe("good.");
        sub.connect(&endpoint.to_string()).unwrap();
        let deadline = Instant::now() + SOON;
        loop {
            publish(mp(&[b"good.sync"]));
            if sub.recv_timeout(Duration::from_millis(20)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the good subscription never took"
            );
        }
        while sub.try_recv().is_some() {}
        GoodSubscriber {
            sub,
            sent: std::cell::Cell::new(0),
        }
    }

    /// Publishes one numbered message and checks that this subscriber gets exactly it next.
    fn still_served(&self, publish: &dyn Fn(Multipart)) {
        let n = self.sent.get() + 1;
        self.sent.set(n);
        let text = format!("good.{n}");
        publish(mp(&[text.as_bytes()]));
        let got = self.sub.recv_timeout(SOON).unwrap();
        // Sync messages may still be queued from `join`; skip them.
        let mut got = got;
        while got.first() == &b"good.sync"[..] {
            got = self.sub.recv_timeout(SOON).unwrap();
        }
        assert_eq!(frames(&got), vec![text.into_bytes()]);
    }
}

/// This process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb * 1024
}

// ---- a huge subscription -----------------------------------------------------------------------

#[test]
fn a_huge_subscription_message_is_refused_and_its_bytes_released() {
    let publisher = Pub::new(Options {
        max_subscription_bytes: 64 * 1024,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);

    let mut raw = raw_subscriber(&endpoint);
    let topic_len = 4 << 20;
    let mut body = vec![b'x'; topic_len + 1];
    body[0] = 1;
    let writer = write_in_background(&raw, data_frame(&body, false));
    drop(body);

    assert_eq!(
        disconnect_reason(&events, "the huge subscription's refusal"),
        Reason::TooManySubscriptions {
            topics: 1,
            bytes: topic_len
        }
    );
    assert!(
        raw.wait_closed(SOON).is_some(),
        "the attacker's connection stays open"
    );
    writer.join().unwrap();
    budget_drains(&|| publisher.buffered());
    good.still_served(&publish);
    subscribers_become(1, &|| publisher.subscribers());
}

#[test]
fn a_huge_subscribe_command_is_refused_at_the_limits() {
    let publisher = XPub::new(Options {
        max_subscription_bytes: 4096,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);
    while publisher.try_recv().is_some() {}

    // Within the command size limit but over max_subscription_bytes: the subscription limit.
    let mut raw = raw_subscriber(&endpoint);
    let topic = vec![b'y'; 60 * 1024];
    raw.write(&subscribe_cmd(&topic));
    assert_eq!(
        disconnect_reason(&events, "the large SUBSCRIBE's refusal"),
        Reason::TooManySubscriptions {
            topics: 1,
            bytes: topic.len()
        }
    );
    assert!(raw.wait_closed(SOON).is_some());
    assert!(
        publisher.try_recv().is_none(),
        "a refused subscription reached the application"
    );

    // Over the command size limit: refused at the frame header, before any of it is read.
    let mut raw = raw_subscriber(&endpoint);
    let topic = vec![b'z'; 1 << 20];
    let writer = write_in_background(&raw, subscribe_cmd(&topic));
    let reason = disconnect_reason(&events, "the oversized SUBSCRIBE's refusal");
    assert!(
        matches!(
            reason,
            Reason::Protocol(ConnectionError::Frame(FrameError::CommandTooLarge { max, .. }))
                if max == Limits::MAX_COMMAND_SIZE
        ),
        "{reason:?}"
    );
    assert!(raw.wait_closed(SOON).is_some());
    writer.join().unwrap();

    budget_drains(&|| publisher.buffered());
    good.still_served(&publish);
    subscribers_become(1, &|| publisher.subscribers());
    assert!(publisher.try_recv().is_none());
}

// ---- floods ------------------------------------------------------------------------------------

#[test]
fn a_flood_of_subscribe_commands_is_cut_off_at_max_subscriptions() {
    let publisher = Pub::new(Options {
        max_subscriptions: 1000,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);

    let mut raw = raw_subscriber(&endpoint);
    let mut flood = Vec::new();
    for i in 0..50_000 {
        flood.extend_from_slice(&subscribe_cmd(format!("topic.{i:06}").as_bytes()));
    }
    let writer = write_in_background(&raw, flood);
    // 1001 distinct topics of 12 bytes: the one over the limit is counted.
    assert_eq!(
        disconnect_reason(&events, "the SUBSCRIBE flood's refusal"),
        Reason::TooManySubscriptions {
            topics: 1001,
            bytes: 1001 * 12
        }
    );
    assert!(raw.wait_closed(SOON).is_some());
    writer.join().unwrap();
    budget_drains(&|| publisher.buffered());
    good.still_served(&publish);
    subscribers_become(1, &|| publisher.subscribers());
}

#[test]
fn a_flood_of_subscription_messages_at_the_default_limits_costs_bounded_memory() {
    let publisher = Pub::new(Options::default());
    let limit = Options::default().max_subscriptions;
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);

    let mut raw = raw_subscriber(&endpoint);
    // 400 000 distinct 16-byte topics: 7.6 MB on the wire, four times the default limit.
    let mut flood = Vec::with_capacity(400_000 * 19);
    for i in 0..400_000u32 {
        flood.extend_from_slice(&subscription_msg(1, format!("topic.{i:010}").as_bytes()));
    }
    let before = peak_rss();
    let writer = write_in_background(&raw, flood);
    assert_eq!(
        disconnect_reason(&events, "the subscription flood's refusal"),
        Reason::TooManySubscriptions {
            topics: limit + 1,
            bytes: (limit + 1) * 16
        }
    );
    assert!(raw.wait_closed(SOON).is_some());
    writer.join().unwrap();
    // 100 000 topics held at the peak (their bytes, the set and the holders' map): a few MiB.
    // A publisher that kept every topic would hold four times that, and one that buffered the
    // flood more again.
    let grew = peak_rss().saturating_sub(before);
    assert!(grew < 48 << 20, "peak RSS grew by {} MiB", grew >> 20);
    budget_drains(&|| publisher.buffered());
    good.still_served(&publish);
    subscribers_become(1, &|| publisher.subscribers());
}

#[test]
fn a_repeated_subscription_counts_once_however_often_it_comes() {
    let publisher = XPub::new(Options {
        max_subscriptions: 10,
        ..Options::default()
    });
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);
    while publisher.try_recv().is_some() {}

    let mut raw = raw_subscriber(&endpoint);
    let mut flood = Vec::new();
    for _ in 0..50_000 {
        flood.extend_from_slice(&subscription_msg(1, b"same."));
        flood.extend_from_slice(&subscribe_cmd(b"same."));
    }
    flood.extend_from_slice(&subscription_msg(1, b"marker"));
    raw.write(&flood);

    // XPUB reports a topic's first subscription only: the flood is one message, then the
    // marker; nothing was held per repetition, and ten topics' room was never exceeded.
    assert_eq!(
        frames(&publisher.recv_timeout(SOON).unwrap()),
        vec![b"\x01same.".to_vec()]
    );
    assert_eq!(
        frames(&publisher.recv_timeout(SOON).unwrap()),
        vec![b"\x01marker".to_vec()]
    );
    publish(mp(&[b"same.1"]));
    assert_eq!(raw.read_frame(), (0, b"same.1".to_vec()));
    assert!(
        !drain_events(&events).iter().any(is_disconnected),
        "the repeating subscriber was disconnected"
    );
    assert_eq!(publisher.subscribers(), 2);
    good.still_served(&publish);
}

// ---- malformed and meaningless subscriptions ---------------------------------------------------

#[test]
fn empty_unknown_and_malformed_subscriptions_are_read_as_libzmq_reads_them() {
    let publisher = XPub::new(Options::default());
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);
    while publisher.try_recv().is_some() {}
    let next = || frames(&publisher.recv_timeout(SOON).unwrap());

    let mut raw = raw_subscriber(&endpoint);
    // A SUBSCRIBE with no topic at all (the command name alone): everything.
    raw.write(&subscribe_cmd(b""));
    assert_eq!(next(), vec![b"\x01".to_vec()]);

    // Cancels of topics never subscribed, as a command and as a message: reported (libzmq
    // reports a cancel of a topic nobody holds), and nothing else changes.
    raw.write(&cancel_cmd(b"never."));
    raw.write(&subscription_msg(0, b"never."));
    assert_eq!(next(), vec![b"\x00never.".to_vec()]);
    assert_eq!(next(), vec![b"\x00never.".to_vec()]);

    // Neither a subscription nor a cancel: an empty message and an unknown first byte. XPUB
    // hands them to the application as they are (libzmq's XPUB passes such messages up);
    // they subscribe to nothing.
    raw.write(&data_frame(b"", false));
    raw.write(&data_frame(b"\x02junk", false));
    assert_eq!(next(), vec![Vec::<u8>::new()]);
    assert_eq!(next(), vec![b"\x02junk".to_vec()]);

    // Still subscribed to everything.
    publish(mp(&[b"any.1"]));
    assert_eq!(raw.read_frame(), (0, b"any.1".to_vec()));

    // An empty CANCEL takes the empty subscription away: after it, only "z." gets through.
    raw.write(&cancel_cmd(b""));
    assert_eq!(next(), vec![b"\x00".to_vec()]);
    raw.write(&subscribe_cmd(b"z."));
    assert_eq!(next(), vec![b"\x01z.".to_vec()]);
    publish(mp(&[b"any.2"]));
    publish(mp(&[b"z.1"]));
    assert_eq!(raw.read_frame(), (0, b"z.1".to_vec()));

    assert!(
        !drain_events(&events).iter().any(is_disconnected),
        "a subscriber was disconnected for input libzmq accepts"
    );
    assert_eq!(publisher.subscribers(), 2);
    good.still_served(&publish);
    assert!(publisher.try_recv().is_none());
}

#[test]
fn a_pub_ignores_what_is_not_a_subscription_and_keeps_serving() {
    let publisher = Pub::new(Options::default());
    let events = publisher.events();
    let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0").unwrap();
    let publish = |m: Multipart| publisher.send_blocking(m).unwrap();
    let good = GoodSubscriber::join(&endpoint, &publish);

    let mut raw = raw_subscriber(&endpoint);
    let mut input = Vec::new();
    for _ in 0..1000 {
        input.extend_from_slice(&data_frame(b"", false));
        input.extend_from_slice(&data_frame(b"\x02junk", false));
        input.extend_from_slice(&cancel_cmd(b"never."));
        input.extend_from_slice(&subscription_msg(0, b"never."));
    }
    input.extend_from_slice(&subscribe_cmd(b"raw."));
    raw.write(&input);
    // A PUB has no way to say it has read the subscription: publish until it is in.
    let deadline = Instant::now() + SOON;
    let mut n = 0;
    raw.stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    loop {
        n += 1;
        publish(mp(&[format!("raw.{n}").as_bytes()]));
        let mut head = [0u8; 2];
        if std::io::Read::read_exact(&mut raw.stream, &mut head).is_ok() {
            raw.stream.set_read_timeout(Some(SOON)).unwrap();
            let body = raw.read_exact(usize::from(head[1]));
            assert_eq!(head[0], 0);
            assert!(body.starts_with(b"raw."), "{body:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never took");
    }
    assert!(!drain_events(&events).iter().any(is_disconnected));
    assert_eq!(publisher.subscribers(), 2);
    budget_drains(&|| publisher.buffered());
    good.still_served(&publish);
}
