//! Byte-for-byte comparison with wire vectors captured from pyzmq 27.3 / libzmq 4.3.5
//! (see `tests/vectors/README.md` and `interop-tests/python/capture_vectors.py`).

#![allow(clippy::unwrap_used)] // test helpers

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use courier_proto::command::Command;
use courier_proto::connection::{Connection, ConnectionConfig, Event};
use courier_proto::frame::{Frame, FrameDecoder, Limits};
use courier_proto::greeting::{Greeting, MechanismName};
use courier_proto::message::Multipart;
use courier_proto::null::Null;
use courier_proto::socket_type::SocketType;

const GREETING_DEALER: &[u8] = include_bytes!("vectors/greeting_dealer.bin");
const GREETING_DEALER_ID: &[u8] = include_bytes!("vectors/greeting_dealer_routing_id.bin");
const GREETING_CURVE_SERVER: &[u8] = include_bytes!("vectors/greeting_curve_server.bin");
const READY_DEALER: &[u8] = include_bytes!("vectors/ready_dealer.bin");
const READY_ROUTER: &[u8] = include_bytes!("vectors/ready_router.bin");
const MULTIPART_DEALER: &[u8] = include_bytes!("vectors/multipart_dealer.bin");
const MULTIPART_ROUTER_TO_DEALER: &[u8] = include_bytes!("vectors/multipart_router_to_dealer.bin");
const PING: &[u8] = include_bytes!("vectors/ping.bin");
const PONG: &[u8] = include_bytes!("vectors/pong.bin");

fn connection(t: SocketType, identity: &'static [u8]) -> Connection {
    let mut cfg = ConnectionConfig::new(t);
    cfg.identity = Bytes::from_static(identity);
    Connection::new(cfg, Box::new(Null::new()), Instant::now())
}

#[test]
fn greetings_decode() {
    for g in [GREETING_DEALER, GREETING_DEALER_ID] {
        let got = Greeting::decode(g).unwrap().unwrap();
        assert_eq!(got, Greeting::new(MechanismName::NULL, false));
    }
    let curve = Greeting::decode(GREETING_CURVE_SERVER).unwrap().unwrap();
    assert_eq!(curve.mechanism, MechanismName::CURVE);
    assert_eq!(curve.version, (3, 1));
}

#[test]
fn our_greeting_matches_libzmq_except_the_insignificant_padding() {
    let ours = Greeting::new(MechanismName::NULL, false).encode();
    // Octets 1-8 are padding that RFC 23 calls not significant (libzmq writes the routing id
    // length + 1 there for ZMTP 1.0 peers); everything else is identical.
    assert_eq!(ours[0], GREETING_DEALER[0]);
    assert_eq!(&ours[9..], &GREETING_DEALER[9..]);
}

/// Our connection's output after the greeting, once the peer's greeting has arrived.
fn ready_of(t: SocketType, identity: &'static [u8]) -> BytesMut {
    let mut conn = connection(t, identity);
    let greeting = conn.take_output();
    assert_eq!(greeting.len(), 64);
    let mut input = BytesMut::from(GREETING_DEALER);
    conn.receive(&mut input, Instant::now()).unwrap();
    conn.take_output()
}

#[test]
fn ready_dealer_is_byte_identical() {
    assert_eq!(&ready_of(SocketType::Dealer, b"client-1")[..], READY_DEALER);
}

#[test]
fn ready_router_is_byte_identical() {
    assert_eq!(&ready_of(SocketType::Router, b"")[..], READY_ROUTER);
}

#[test]
fn multipart_encoding_is_byte_identical() {
    let mut out = BytesMut::new();
    Frame::data(&b"HELLO"[..], true).encode(&mut out);
    Frame::data(&b""[..], true).encode(&mut out);
    Frame::data(vec![b'x'; 300], false).encode(&mut out);
    assert_eq!(&out[..], MULTIPART_DEALER);

    out.clear();
    Frame::data(&b"HELLO"[..], false).encode(&mut out);
    assert_eq!(&out[..], MULTIPART_ROUTER_TO_DEALER);
}

#[test]
fn ping_and_pong_are_byte_identical() {
    let mut dec = FrameDecoder::new(Limits::default());
    let frame = dec.decode(&mut BytesMut::from(PING)).unwrap().unwrap();
    let ping = Command::parse(&frame.body).unwrap();
    assert_eq!(
        ping,
        Command::Ping {
            ttl_deciseconds: 20,
            context: Bytes::new()
        }
    );
    let mut out = BytesMut::new();
    ping.encode(&mut out);
    assert_eq!(&out[..], PING);

    out.clear();
    Command::Pong {
        context: Bytes::from_static(b"ctx1"),
    }
    .encode(&mut out);
    assert_eq!(&out[..], PONG);
}

/// Replays everything a pyzmq DEALER sent into our ROUTER connection, split at every possible
/// point, and checks the events and our PONG.
#[test]
fn router_replays_a_pyzmq_dealer_session() {
    let mut wire = Vec::new();
    for part in [GREETING_DEALER_ID, READY_DEALER, MULTIPART_DEALER, PING] {
        wire.extend_from_slice(part);
    }
    for split in 0..wire.len() {
        let mut conn = connection(SocketType::Router, b"");
        conn.take_output();
        let mut input = BytesMut::new();
        let mut events = Vec::new();
        for chunk in [&wire[..split], &wire[split..]] {
            input.extend_from_slice(chunk);
            conn.receive(&mut input, Instant::now()).unwrap();
            while let Some(e) = conn.poll_event() {
                events.push(e);
            }
        }
        assert!(input.is_empty());
        assert_eq!(events.len(), 3, "split {split}: {events:?}");
        let Event::HandshakeComplete(peer) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(&peer.identity[..], b"client-1");
        assert_eq!(peer.socket_type, SocketType::Dealer);
        let expected = Multipart::new(vec![
            Bytes::from_static(b"HELLO"),
            Bytes::new(),
            Bytes::from(vec![b'x'; 300]),
        ])
        .unwrap();
        assert_eq!(events[1], Event::Message(expected));
        assert_eq!(
            events[2],
            Event::Ping {
                ttl_deciseconds: 20
            }
        );
        // READY then the PONG (empty context) are what we sent back.
        let out = conn.take_output();
        assert_eq!(&out[..READY_ROUTER.len()], READY_ROUTER);
        assert_eq!(&out[READY_ROUTER.len()..], b"\x04\x05\x04PONG");
    }
}
