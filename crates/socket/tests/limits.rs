//! What bounds a socket's exposure to hostile peers: the receive-memory budget, the stall
//! timeout for partial messages, connection slots per address, and handshakes in progress.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use courier_socket::{Dealer, Options, Reason, Router, SocketEvent};

const MIB: usize = 1 << 20;

/// The header of a data frame of `len` bytes (long form).
fn long_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x02];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

/// Connects from `source` (a loopback address) to 127.0.0.1:`port`.
fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&src.into()).unwrap();
    let dst: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect(&dst.into()).unwrap();
    socket.into()
}

#[test]
fn partial_messages_stop_at_the_budget_while_small_messages_still_flow() {
    let router = Router::new(Options {
        max_buffered: 8 * MIB,
        ..Options::default()
    });
    let port = port_of(&router.bind_blocking("tcp://127.0.0.1:0").unwrap());
    // Four peers each announce a 64 MiB frame and send as much of it as the server takes.
    let mut writers = Vec::new();
    for _ in 0..4 {
        let mut raw = RawPeer::connect(port);
        raw.handshake("DEALER", None);
        raw.write(&long_header(64 * MIB as u64));
        let mut stream = raw.stream.try_clone().unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        writers.push(std::thread::spawn(move || {
            let chunk = vec![0u8; 256 * 1024];
            let mut sent = 0usize;
            while sent < 16 * MIB && stream.write_all(&chunk).is_ok() {
                sent += chunk.len();
            }
            (sent, raw)
        }));
    }
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        peak = peak.max(router.buffered());
        std::thread::sleep(Duration::from_millis(5));
    }
    // A peer with small messages still gets through.
    let dealer = Dealer::new(Options::default());
    dealer.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    for i in 0..20u8 {
        dealer.send_blocking(mp(&[b"small", &[i]])).unwrap();
        let got = router
            .recv_timeout(SOON)
            .expect("a small message gets through");
        assert_eq!(frames(&got)[1..], [b"small".to_vec(), vec![i]]);
        peak = peak.max(router.buffered());
    }
    let sent: Vec<usize> = writers.into_iter().map(|w| w.join().unwrap().0).collect();
    assert!(
        peak <= 8 * MIB + 64 * 1024,
        "held {peak} bytes, over the 8 MiB budget (peers sent {sent:?})"
    );
    assert!(
        sent.iter().sum::<usize>() > 8 * MIB,
        "the peers were not held back at all: sent {sent:?}"
    );
    assert!(peak >= 6 * MIB, "the budget was not used: peak {peak}");
}

#[test]
fn a_stalled_partial_message_is_closed_and_its_memory_freed() {
    let router = Router::new(Options {
        stall_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    });
    let events = router.events();
    let port = port_of(&router.bind_blocking("tcp://127.0.0.1:0").unwrap());
    let mut raw = RawPeer::connect(port);
    raw.handshake("DEALER", None);
    let mut bytes = long_header(MIB as u64);
    bytes.extend_from_slice(&[7u8; 100 * 1024]);
    raw.write(&bytes);
    // One byte now and then is not progress.
    let trickle = {
        let mut s = raw.stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
                if s.write_all(&[1]).is_err() {
                    break;
                }
            }
        })
    };
    let (ev, _) = wait_event(&events, SOON, "Disconnected", is_disconnected);
    let SocketEvent::Disconnected { reason, .. } = &ev else {
        unreachable!()
    };
    assert!(
        matches!(reason, Reason::Stalled { held, .. } if *held >= 100 * 1024),
        "{reason}"
    );
    assert!(reason.to_string().contains("stalled"), "{reason}");
    assert!(
        raw.wait_closed(SOON).is_some(),
        "the connection was not closed"
    );
    trickle.join().unwrap();
    assert_eq!(router.buffered(), 0, "its memory was not given back");
}

#[test]
fn a_slow_message_that_progresses_is_not_stalled() {
    let router = Router::new(Options {
        stall_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    });
    let port = port_of(&router.bind_blocking("tcp://127.0.0.1:0").unwrap());
    let mut raw = RawPeer::connect(port);
    raw.handshake("DEALER", None);
    let body = vec![9u8; 64 * 1024];
    raw.write(&long_header(body.len() as u64));
    // 8 KiB every 100 ms: 0.8 s in all, more than twice the stall timeout.
    for piece in body.chunks(8 * 1024) {
        raw.write(piece);
        std::thread::sleep(Duration::from_millis(100));
    }
    let msg = router.recv_timeout(SOON).expect("the slow message arrives");
    assert_eq!(frames(&msg)[1], body);
}

#[test]
fn one_address_at_its_slot_limit_does_not_keep_another_out() {
    let router = Router::new(Options {
        max_connections_per_address: Some(3),
        ..Options::default()
    });
    let events = router.events();
    let port = port_of(&router.bind_blocking("tcp://127.0.0.1:0").unwrap());
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut raw = RawPeer::from_stream(connect_from("127.0.0.3", port));
        raw.handshake("DEALER", None);
        held.push(raw);
    }
    // The fourth from that address is refused at once...
    let mut refused = RawPeer::from_stream(connect_from("127.0.0.3", port));
    assert!(refused.wait_closed(SOON).is_some(), "not refused");
    let (ev, _) = wait_event(&events, SOON, "AddressLimit", |e| {
        matches!(e, SocketEvent::AddressLimit { .. })
    });
    assert!(
        matches!(&ev, SocketEvent::AddressLimit { peer_addr, max: 3 } if peer_addr.starts_with("127.0.0.3:"))
    );
    // ...while another address still gets in.
    let mut other = RawPeer::from_stream(connect_from("127.0.0.4", port));
    other.handshake("DEALER", None);
    // A slot is given back when a connection closes.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    let mut again = RawPeer::from_stream(connect_from("127.0.0.3", port));
    again.handshake("DEALER", None);
}

#[test]
fn handshakes_past_the_limit_wait_in_the_accept_queue() {
    let router = Router::new(Options {
        max_handshakes: Some(1),
        handshake_timeout: Duration::from_millis(400),
        ..Options::default()
    });
    let events = router.events();
    let port = port_of(&router.bind_blocking("tcp://127.0.0.1:0").unwrap());
    // A peer that never completes its handshake holds the only slot...
    let _silent = RawPeer::connect(port);
    wait_event(&events, SOON, "Connected", |e| {
        matches!(e, SocketEvent::Connected { .. })
    });
    let mut second = RawPeer::connect(port);
    // ...so the second is taken up only once the first one's handshake has failed.
    second.handshake("DEALER", None);
    let (_, before) = wait_event(&events, SOON, "HandshakeSucceeded", is_handshake_ok);
    let failed = before
        .iter()
        .position(|e| matches!(e, SocketEvent::HandshakeFailed { .. }));
    let connected = before
        .iter()
        .position(|e| matches!(e, SocketEvent::Connected { .. }));
    assert!(
        matches!((failed, connected), (Some(f), Some(c)) if f < c),
        "the second connection was taken up before the first handshake ended: {before:#?}"
    );
}
