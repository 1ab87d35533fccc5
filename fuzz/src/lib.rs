//! The checks behind the fuzz targets in `fuzz_targets/`: each decodes arbitrary bytes and
//! panics (which libFuzzer reports as a crash) if a decoder panics, holds more than it was
//! given, decodes differently depending on how the input was split, or decodes something
//! that does not re-encode to the bytes it consumed.
//!
//! Inputs that carry options start with a control octet:
//!
//! ```text
//! bit 7     connection_null: prepend a valid NULL greeting + READY (reach the active phase)
//! bit 6     small limits (40-octet frames, 100-octet messages, 4 frames) instead of defaults
//! bits 0-5  chunk size minus one: the rest is also fed in chunks of 1 to 64 octets
//! ```
//!
//! The CURVE targets (`curve_server`, `curve_client`) live in [`curve`].

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use courier_proto::command::{Command, RawCommand};
use courier_proto::connection::{Connection, ConnectionConfig, ConnectionError, Event};
use courier_proto::frame::{Frame, FrameDecoder, FrameError, Limits, FLAG_LONG};
use courier_proto::greeting::{Greeting, MechanismName, GREETING_LEN};
use courier_proto::message::{Message, MessageError, Multipart};
use courier_proto::metadata::Metadata;
use courier_proto::null::Null;
use courier_proto::socket_type::SocketType;

pub mod curve;
pub mod plain;
pub mod publisher;

/// pyzmq's captured greetings and READY commands (see `crates/proto/tests/vectors`).
pub mod vectors {
    /// A pyzmq DEALER's greeting (no routing id).
    pub const GREETING_DEALER: &[u8] =
        include_bytes!("../../crates/proto/tests/vectors/greeting_dealer.bin");
    /// A pyzmq DEALER's greeting (routing id `client-1`).
    pub const GREETING_DEALER_ID: &[u8] =
        include_bytes!("../../crates/proto/tests/vectors/greeting_dealer_routing_id.bin");
    /// A pyzmq DEALER's READY (routing id `client-1`).
    pub const READY_DEALER: &[u8] =
        include_bytes!("../../crates/proto/tests/vectors/ready_dealer.bin");
    /// A pyzmq ROUTER's READY.
    pub const READY_ROUTER: &[u8] =
        include_bytes!("../../crates/proto/tests/vectors/ready_router.bin");
}

/// Small limits, so that fuzz input reaches every limit check.
pub const SMALL: Limits = Limits {
    max_frame_size: 40,
    max_message_size: 100,
    max_frames_per_message: 4,
};

/// Options taken from the control octet.
#[derive(Debug, Clone, Copy)]
pub struct Control {
    /// Prepend a valid handshake (connection_null).
    pub handshake: bool,
    /// The limits to decode with.
    pub limits: Limits,
    /// Chunk size for the split run.
    pub chunk: usize,
}

/// Splits off the control octet.
pub fn control(data: &[u8]) -> Option<(Control, &[u8])> {
    let (&ctl, rest) = data.split_first()?;
    let control = Control {
        handshake: ctl & 0x80 != 0,
        limits: if ctl & 0x40 != 0 {
            SMALL
        } else {
            Limits::default()
        },
        chunk: usize::from(ctl & 0x3F) + 1,
    };
    Some((control, rest))
}

/// The input in chunks of `chunk` octets (`None`: all at once).
fn pieces(data: &[u8], chunk: Option<usize>) -> Vec<&[u8]> {
    match chunk {
        Some(n) if !data.is_empty() => data.chunks(n).collect(),
        _ => vec![data],
    }
}

// ---------------------------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------------------------

/// The greeting as we re-encode it: padding, octet 9, as-server and filler made canonical.
fn canonical_greeting(raw: &[u8]) -> [u8; GREETING_LEN] {
    let mut c = [0u8; GREETING_LEN];
    c[0] = 0xFF;
    c[9] = 0x7F;
    c[10..32].copy_from_slice(&raw[10..32]);
    c[32] = u8::from(raw[32] != 0);
    c
}

/// Greeting: re-encoding is canonical, and every prefix is "need more" or the same refusal.
pub fn check_greeting(data: &[u8]) {
    let full = Greeting::decode(data);
    if let Ok(Some(g)) = &full {
        let wire = g.encode();
        assert_eq!(wire, canonical_greeting(data));
        assert_eq!(Greeting::decode(&wire), Ok(Some(*g)));
        let _ = Greeting::new(MechanismName::NULL, false).check_peer(g);
    }
    if data.len() >= GREETING_LEN {
        assert!(!matches!(full, Ok(None)));
    }
    for n in 0..data.len().min(GREETING_LEN) {
        match Greeting::decode(&data[..n]) {
            Ok(None) => {}
            Ok(Some(g)) => panic!("decoded {g:?} from {n} octets"),
            Err(e) => assert_eq!(Err(e), full, "prefix of {n} octets"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/// What a decoder made of an input.
#[derive(Debug, PartialEq)]
pub struct FrameRun {
    /// Each frame with the range of input it was decoded from.
    pub frames: Vec<(Frame, std::ops::Range<usize>)>,
    /// The error that stopped decoding.
    pub error: Option<FrameError>,
    /// Octets consumed.
    pub consumed: usize,
}

/// Feeds `data` to a decoder (in chunks), checking that the buffer left is always exactly the
/// unconsumed suffix of the input.
pub fn run_frames(limits: Limits, data: &[u8], chunk: Option<usize>) -> FrameRun {
    let mut dec = FrameDecoder::new(limits);
    let mut buf = BytesMut::new();
    let (mut fed, mut frame_start) = (0, 0);
    let mut frames = Vec::new();
    let mut error = None;
    let largest = Limits::MAX_COMMAND_SIZE
        .min(limits.max_frame_size.max(512))
        .max(limits.max_frame_size)
        .max(9);
    'feed: for piece in pieces(data, chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let result = dec.decode(&mut buf);
            let consumed = fed - buf.len();
            assert_eq!(
                &buf[..],
                &data[consumed..fed],
                "decoder must only consume the front"
            );
            let hint = dec.wanted(buf.len());
            assert!((1..=largest).contains(&hint), "wanted() = {hint}");
            match result {
                Ok(Some(frame)) => {
                    frames.push((frame, frame_start..consumed));
                    frame_start = consumed;
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }
    FrameRun {
        frames,
        error,
        consumed: fed - buf.len(),
    }
}

/// Frames: split independence, canonical re-encoding, limits respected.
pub fn check_frames(limits: Limits, data: &[u8], chunk: usize) {
    let whole = run_frames(limits, data, None);
    let split = run_frames(limits, data, Some(chunk));
    assert_eq!(split, whole, "chunks of {chunk}");
    let (mut message_len, mut message_frames) = (0usize, 0usize);
    for (frame, span) in &whole.frames {
        let raw = &data[span.clone()];
        let mut again = BytesMut::new();
        frame.encode(&mut again);
        if (raw[0] & FLAG_LONG != 0) == (frame.body.len() > 255) {
            assert_eq!(
                &again[..],
                raw,
                "canonical frame must re-encode identically"
            );
        } else {
            // A short body in the long form re-encodes in the short form.
            assert_eq!(again[0], raw[0] & !FLAG_LONG);
            assert_eq!(usize::from(again[1]), frame.body.len());
            assert_eq!(&again[2..], &raw[9..]);
        }
        assert_eq!(
            FrameDecoder::new(limits).decode(&mut again),
            Ok(Some(frame.clone()))
        );
        if frame.command {
            assert!(!frame.more && message_frames == 0);
            assert!(frame.body.len() <= Limits::MAX_COMMAND_SIZE);
        } else {
            assert!(frame.body.len() <= limits.max_frame_size);
            message_len += frame.body.len();
            message_frames += 1;
            assert!(message_len <= limits.max_message_size);
            assert!(message_frames <= limits.max_frames_per_message);
            if !frame.more {
                (message_len, message_frames) = (0, 0);
            }
        }
    }
    let last_end = whole.frames.last().map_or(0, |(_, s)| s.end);
    assert!(matches!(whole.consumed - last_end, 0 | 2 | 9));
    if whole.error.is_some() {
        assert_eq!(whole.consumed, last_end, "a refused header is not consumed");
    }
}

// ---------------------------------------------------------------------------------------------
// Commands and metadata
// ---------------------------------------------------------------------------------------------

/// Commands: whatever parses re-encodes to exactly the body.
pub fn check_command(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    match RawCommand::parse(&body) {
        Ok(raw) => {
            assert!(!raw.name.is_empty());
            let mut again = vec![u8::try_from(raw.name.len()).unwrap_or(0)];
            again.extend_from_slice(&raw.name);
            again.extend_from_slice(&raw.data);
            assert_eq!(&again[..], data);
            let _ = raw.name_lossy();
        }
        Err(e) => assert_eq!(Command::parse(&body), Err(e)),
    }
    if let Ok(cmd) = Command::parse(&body) {
        assert_eq!(&cmd.encode_body()[..], data, "{cmd:?}");
        let mut framed = BytesMut::new();
        cmd.encode(&mut framed);
        let frame = FrameDecoder::new(Limits::default()).decode(&mut framed);
        if body.len() <= Limits::MAX_COMMAND_SIZE {
            assert_eq!(frame, Ok(Some(Frame::command(body))));
            assert!(framed.is_empty());
        }
    }
}

/// Metadata: whatever decodes re-encodes to exactly the input, alone and inside a READY.
pub fn check_metadata(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(meta) = Metadata::decode(&bytes) {
        let mut again = BytesMut::new();
        meta.encode(&mut again);
        assert_eq!(&again[..], data);
        assert!(meta.len() <= data.len() / 6);
        for (name, value) in meta.iter() {
            assert!(meta.get(name).is_some());
            assert!(value.len() <= data.len());
        }
        let mut body = b"\x05READY".to_vec();
        body.extend_from_slice(data);
        assert_eq!(Command::parse(&Bytes::from(body)), Ok(Command::Ready(meta)));
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// Application messages: whatever decodes re-encodes to the same frames (METR: to a message
/// that decodes the same, its JSON being re-serialised).
pub fn check_message(frames: Vec<Bytes>) {
    let Ok(mp) = Multipart::new(frames) else {
        return;
    };
    let decoded = Message::try_from(&mp);
    assert_eq!(decoded, Message::try_from(mp.clone()));
    match decoded {
        Ok(msg) => {
            let again = Multipart::from(msg.clone());
            assert_eq!(Message::try_from(&again), Ok(msg.clone()), "{again:?}");
            if matches!(msg, Message::Metrics { .. }) {
                assert_eq!(again.len(), mp.len());
                for i in [0, 1, 3] {
                    assert_eq!(again.frames()[i], mp.frames()[i]);
                }
            } else {
                assert_eq!(again, mp);
            }
            let _ = format!("{msg:?}");
        }
        Err(MessageError::UnknownHeader(h)) => assert!(h.len() <= 32),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// ZAP replies (RFC 27): whatever decodes has exactly seven frames, and its fields are the
/// frames it came from (metadata re-encodes to exactly its frame); its request id is the one
/// `reply_request_id` finds.
pub fn check_zap_reply(frames: Vec<Bytes>) {
    let Ok(mp) = Multipart::new(frames) else {
        return;
    };
    let found = courier_proto::zap::reply_request_id(&mp).cloned();
    match courier_proto::zap::decode_reply(&mp) {
        Ok((id, reply)) => {
            let f = mp.frames();
            assert_eq!(f.len(), 7);
            assert!(f[0].is_empty());
            assert_eq!(&f[1][..], courier_proto::zap::VERSION);
            assert_eq!(found, Some(id.clone()));
            assert_eq!(id, f[2]);
            assert_eq!(reply.status_code.code().as_bytes(), &f[3][..]);
            if let Ok(text) = std::str::from_utf8(&f[4]) {
                assert_eq!(reply.status_text, text);
            }
            assert_eq!(reply.user_id, f[5]);
            let mut meta = BytesMut::new();
            reply.metadata.encode(&mut meta);
            assert_eq!(&meta[..], &f[6][..]);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// What a connection made of an input.
#[derive(Debug, PartialEq)]
pub struct ConnRun {
    /// Events, in order.
    pub events: Vec<Event>,
    /// The error that closed the connection.
    pub error: Option<ConnectionError>,
    /// Octets consumed.
    pub consumed: usize,
    /// Everything the connection wrote, greeting included.
    pub output: Vec<u8>,
}

/// Feeds `data` to a fresh NULL connection (in chunks), checking what it holds after each
/// call.
pub fn run_conn(t: SocketType, limits: Limits, data: &[u8], chunk: Option<usize>) -> ConnRun {
    let mut cfg = ConnectionConfig::new(t);
    cfg.limits = limits;
    let mut conn = Connection::new(cfg, Box::new(Null::new()), Instant::now());
    let mut output = conn.take_output().to_vec();
    assert_eq!(output.len(), GREETING_LEN);
    let mut input = BytesMut::new();
    let mut fed = 0;
    let mut events = Vec::new();
    let mut error = None;
    for piece in pieces(data, chunk) {
        input.extend_from_slice(piece);
        fed += piece.len();
        let result = conn.receive(&mut input, Instant::now());
        let consumed = fed - input.len();
        assert_eq!(
            &input[..],
            &data[consumed..fed],
            "connection must only consume the front"
        );
        assert!(conn.wanted(input.len()) >= 1);
        output.extend_from_slice(&conn.take_output());
        events.extend(std::iter::from_fn(|| conn.poll_event()));
        // Bounded by what was consumed: at most one event per 2-octet frame, message bytes
        // no more than the input, output no more than greeting + READY + ERROR + one PONG
        // (shorter than its PING) per frame.
        assert!(events.len() <= consumed / 2 + 1);
        let message_bytes: usize = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => m.total_len(),
                _ => 0,
            })
            .sum();
        assert!(message_bytes <= consumed);
        assert!(
            output.len() <= 64 + 512 + consumed,
            "output {}",
            output.len()
        );
        if let Err(e) = result {
            let _ = e.to_string();
            error = Some(e);
            assert_eq!(
                conn.receive(&mut BytesMut::from(&b"\x00\x00"[..]), Instant::now()),
                Err(ConnectionError::Failed)
            );
            break;
        }
    }
    ConnRun {
        events,
        error,
        consumed: fed - input.len(),
        output,
    }
}

/// The canonical wire form of what a connection decoded.
pub fn canonical_stream(events: &[Event]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for event in events {
        match event {
            Event::HandshakeComplete(peer) => {
                let g = Greeting {
                    version: peer.version,
                    mechanism: MechanismName::NULL,
                    as_server: false,
                };
                out.extend_from_slice(&g.encode());
                Command::Ready(peer.metadata.clone()).encode(&mut out);
            }
            Event::Message(m) => {
                let last = m.len() - 1;
                for (i, body) in m.iter().enumerate() {
                    Frame::data(body.clone(), i < last).encode(&mut out);
                }
            }
            Event::Ping { ttl_deciseconds } => Command::Ping {
                ttl_deciseconds: *ttl_deciseconds,
                context: Bytes::new(),
            }
            .encode(&mut out),
            Event::Pong { context } => Command::Pong {
                context: context.clone(),
            }
            .encode(&mut out),
            // No authenticator in these runs.
            Event::AuthRequest(req) => {
                panic!("authentication request without authenticator: {req:?}")
            }
        }
    }
    out.to_vec()
}

/// A connection of type `t`: split independence, bounded state, and the canonical encoding
/// of what it decoded decodes to the same events.
pub fn check_connection(t: SocketType, limits: Limits, data: &[u8], chunk: usize) {
    let whole = run_conn(t, limits, data, None);
    let split = run_conn(t, limits, data, Some(chunk));
    assert_eq!(split, whole, "{t:?}, chunks of {chunk}");
    for e in &whole.events {
        if let Event::Message(m) = e {
            let _ = Message::try_from(m);
        }
    }
    match whole.events.first() {
        Some(Event::HandshakeComplete(peer)) => {
            assert!(t.compatible_with(peer.socket_type));
            assert_eq!(peer.public_key, None);
        }
        Some(other) => panic!("first event {other:?}"),
        None => {}
    }
    let canonical = canonical_stream(&whole.events);
    let again = run_conn(t, limits, &canonical, None);
    assert_eq!(again.events, whole.events, "canonical re-encoding");
    assert_eq!(again.error, None);
    assert_eq!(again.consumed, canonical.len());
}

/// The valid handshake prepended for a connection of type `t`: a pyzmq peer's greeting and
/// READY.
pub fn handshake_for(t: SocketType) -> Vec<u8> {
    match t {
        SocketType::Router => [vectors::GREETING_DEALER_ID, vectors::READY_DEALER].concat(),
        _ => [vectors::GREETING_DEALER, vectors::READY_ROUTER].concat(),
    }
}
