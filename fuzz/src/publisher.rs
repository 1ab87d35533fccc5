//! The publisher side of ZMTP subscriptions: a PUB and an XPUB `Connection` (NULL), after a
//! SUB peer's greeting and READY, fed arbitrary active-phase traffic. ZMTP 3.1 SUBSCRIBE and
//! CANCEL commands must reach the socket as the ZMTP 3.0 subscription messages `\x01topic` and
//! `\x00topic` (what libzmq 4.3 sends, and the one form courier-socket's publisher reads),
//! data messages as they are, in order.
//!
//! The publisher's bookkeeping (topics per subscriber, the `max_subscriptions` and
//! `max_subscription_bytes` limits, XPUB's reports) lives in courier-socket's pattern layer,
//! which is private and attached to live connections (it needs the I/O thread's connection
//! handle to disconnect a subscriber), so it is not reachable without a socket; the attack
//! tests in `crates/socket/tests/subscription_attacks.rs` cover it over TCP. What a fuzzer can
//! reach without a socket, and checks here, is everything before it: the frame decoder, the
//! command parser and the translation of commands into subscription messages.
//!
//! Checked, for both types: what [`run_conn`](crate::run_conn) checks on every call (no panic,
//! only the front of the input consumed, events, message bytes and output bounded by it, a
//! failed connection stays failed), and that feeding the input at once and in chunks gives the
//! same events, output and error. Not the canonical re-encoding of
//! [`check_connection`](crate::check_connection): a publisher delivers a SUBSCRIBE as a data
//! message, which the small limits may not allow as a data frame (a command may be larger).
//! Instead, after a SUB's handshake:
//!
//! - PUB and XPUB read the same input identically (same events, same error);
//! - the messages the connection delivers are exactly those of a model built from the frame
//!   decoder and the command parser alone: each data message as it is, each SUBSCRIBE as
//!   `\x01topic`, each CANCEL as `\x00topic`, other commands nothing, stopping at ERROR or at
//!   a command that does not parse (all of them if the connection did not fail, a prefix of
//!   them if it did);
//! - a subscription message made from a command is never larger than a command may be.

use bytes::{Bytes, BytesMut};
use courier_proto::command::Command;
use courier_proto::connection::Event;
use courier_proto::frame::Limits;
use courier_proto::greeting::{Greeting, MechanismName};
use courier_proto::message::Multipart;
use courier_proto::metadata::{self, Metadata};
use courier_proto::socket_type::SocketType;

use crate::{run_conn, run_frames};

/// A SUB peer's NULL greeting and READY (Socket-Type SUB), encoded by courier-proto.
pub fn sub_handshake() -> Vec<u8> {
    let mut out = Greeting::new(MechanismName::NULL, false).encode().to_vec();
    let mut meta = Metadata::new();
    meta.push(metadata::SOCKET_TYPE, Bytes::from_static(b"SUB"))
        .expect("a valid property");
    let mut ready = BytesMut::new();
    Command::Ready(meta).encode(&mut ready);
    out.extend_from_slice(&ready);
    out
}

/// `\x01topic` or `\x00topic`.
fn subscription(flag: u8, topic: &[u8]) -> Multipart {
    let mut body = Vec::with_capacity(1 + topic.len());
    body.push(flag);
    body.extend_from_slice(topic);
    Multipart::single(body)
}

/// What a publisher should deliver for `stream` (the traffic after the handshake), from the
/// frame decoder and the command parser alone.
pub fn publisher_model(limits: Limits, stream: &[u8]) -> Vec<Multipart> {
    let run = run_frames(limits, stream, None);
    let mut out = Vec::new();
    let mut parts = Vec::new();
    for (frame, _) in run.frames {
        if frame.command {
            match Command::parse(&frame.body) {
                Ok(Command::Subscribe { topic }) => out.push(subscription(1, &topic)),
                Ok(Command::Cancel { topic }) => out.push(subscription(0, &topic)),
                Ok(Command::Error { .. }) | Err(_) => break,
                Ok(_) => {}
            }
        } else {
            parts.push(frame.body);
            if !frame.more {
                out.push(Multipart::new(std::mem::take(&mut parts)).expect("at least one frame"));
            }
        }
    }
    out
}

/// The checks above: for `stream` after a SUB's handshake (`handshake`), or for `stream` alone
/// (whatever handshake the input makes; only the split and bounds checks).
pub fn check_publisher(limits: Limits, stream: &[u8], chunk: usize, handshake: bool) {
    let mut input = if handshake {
        sub_handshake()
    } else {
        Vec::new()
    };
    input.extend_from_slice(stream);
    for t in [SocketType::Pub, SocketType::XPub] {
        let whole = run_conn(t, limits, &input, None);
        let split = run_conn(t, limits, &input, Some(chunk));
        assert_eq!(split, whole, "{t:?}, chunks of {chunk}");
        if let Some(Event::HandshakeComplete(peer)) = whole.events.first() {
            assert!(t.compatible_with(peer.socket_type));
        }
    }
    if !handshake {
        return;
    }
    let publ = run_conn(SocketType::Pub, limits, &input, None);
    let xpub = run_conn(SocketType::XPub, limits, &input, None);
    assert_eq!(publ.events, xpub.events, "PUB and XPUB disagree");
    assert_eq!(publ.error, xpub.error, "PUB and XPUB disagree");
    match publ.events.first() {
        Some(Event::HandshakeComplete(peer)) => assert_eq!(peer.socket_type, SocketType::Sub),
        other => panic!("the SUB handshake did not complete first: {other:?}"),
    }
    let got: Vec<&Multipart> = publ
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    let want = publisher_model(limits, stream);
    if publ.error.is_none() {
        assert_eq!(got.len(), want.len(), "messages delivered");
    } else {
        assert!(got.len() <= want.len(), "more messages than the model");
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(*g, w, "message {i}");
    }
    // A single-frame message no data frame could carry under `limits` came from a command.
    for m in &got {
        if m.len() == 1 && m.total_len() > limits.max_frame_size {
            assert!(m.total_len() <= Limits::MAX_COMMAND_SIZE);
        }
    }
}
