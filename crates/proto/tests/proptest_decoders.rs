//! Property tests for every decoder of courier-proto: random and mutated-valid bytes, fed in
//! random splits.
//!
//! For each decoder they check that it never panics, that it holds no more than the bytes it
//! was given plus a bounded amount, that whatever it decodes re-encodes to exactly the bytes it
//! consumed (when those were in canonical form), and that the result does not depend on how
//! the input was split.
//!
//! The number of cases per property is proptest's default (256); set `PROPTEST_CASES` to run
//! more.

// clippy.toml allows these in #[test] functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::ops::Range;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use courier_proto::command::{Command, RawCommand, MAX_PING_CONTEXT};
use courier_proto::connection::{Connection, ConnectionConfig, ConnectionError, Event};
use courier_proto::frame::{
    Frame, FrameDecoder, FrameError, Limits, FLAG_COMMAND, FLAG_LONG, FLAG_MORE,
};
use courier_proto::greeting::{Greeting, MechanismName, GREETING_LEN};
use courier_proto::message::{Message, MessageError, Multipart};
use courier_proto::metadata::Metadata;
use courier_proto::null::Null;
use courier_proto::socket_type::SocketType;
use proptest::prelude::*;
use proptest::sample::Index;

const GREETING_DEALER: &[u8] = include_bytes!("vectors/greeting_dealer.bin");
const GREETING_DEALER_ID: &[u8] = include_bytes!("vectors/greeting_dealer_routing_id.bin");
const READY_DEALER: &[u8] = include_bytes!("vectors/ready_dealer.bin");
const READY_ROUTER: &[u8] = include_bytes!("vectors/ready_router.bin");
const MULTIPART_DEALER: &[u8] = include_bytes!("vectors/multipart_dealer.bin");
const PING: &[u8] = include_bytes!("vectors/ping.bin");
const PONG: &[u8] = include_bytes!("vectors/pong.bin");

/// Small limits, so that random input reaches every limit check.
const SMALL: Limits = Limits {
    max_frame_size: 40,
    max_message_size: 100,
    max_frames_per_message: 4,
};

// ---------------------------------------------------------------------------------------------
// Input shaping: random cut points, mutations.
// ---------------------------------------------------------------------------------------------

/// Splits `data` into chunks at the cut points (any number, possibly repeated: empty chunks
/// are fed too).
fn chunks<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut at = 0;
    for p in points {
        out.push(&data[at..p]);
        at = p;
    }
    out.push(&data[at..]);
    out
}

/// Byte overwrites, an optional insertion and an optional truncation.
#[derive(Debug, Clone)]
struct Mutation {
    overwrite: Vec<(Index, u8)>,
    insert: Option<(Index, Vec<u8>)>,
    truncate: Option<Index>,
}

fn mutation() -> impl Strategy<Value = Option<Mutation>> {
    let m = (
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        prop::option::of((any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))),
        prop::option::weighted(0.3, any::<Index>()),
    )
        .prop_map(|(overwrite, insert, truncate)| Mutation {
            overwrite,
            insert,
            truncate,
        });
    // Half the cases keep the valid input intact.
    prop::option::of(m)
}

fn apply(mut data: Vec<u8>, m: &Option<Mutation>) -> Vec<u8> {
    let Some(m) = m else { return data };
    if !data.is_empty() {
        for (at, b) in &m.overwrite {
            let i = at.index(data.len());
            data[i] = *b;
        }
    }
    if let Some((at, bytes)) = &m.insert {
        let i = at.index(data.len() + 1);
        data.splice(i..i, bytes.iter().copied());
    }
    if let Some(at) = &m.truncate {
        let n = at.index(data.len() + 1);
        data.truncate(n);
    }
    data
}

fn bytes_up_to(n: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..n)
}

// ---------------------------------------------------------------------------------------------
// Structured generators of valid wire data.
// ---------------------------------------------------------------------------------------------

fn property_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Socket-Type".to_owned()),
        Just("Identity".to_owned()),
        Just("Resource".to_owned()),
        "[A-Za-z0-9._+-]{1,12}",
        "[A-Za-z0-9._+-]{250,255}",
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::vec((property_name(), bytes_up_to(12)), 0..5).prop_map(|props| {
        let mut m = Metadata::new();
        for (name, value) in props {
            m.push(&name, value).unwrap();
        }
        m
    })
}

fn encoded_metadata(m: &Metadata) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out);
    out.to_vec()
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        metadata().prop_map(Command::Ready),
        prop_oneof![bytes_up_to(40), prop::collection::vec(any::<u8>(), 255)]
            .prop_map(|r| Command::Error { reason: r.into() }),
        (any::<u16>(), bytes_up_to(MAX_PING_CONTEXT + 1)).prop_map(|(ttl, c)| Command::Ping {
            ttl_deciseconds: ttl,
            context: c.into(),
        }),
        bytes_up_to(MAX_PING_CONTEXT + 1).prop_map(|c| Command::Pong { context: c.into() }),
        (
            prop_oneof![
                Just(b"SUBSCRIBE".to_vec()),
                Just(b"CANCEL".to_vec()),
                prop::collection::vec(any::<u8>(), 1..10)
            ],
            bytes_up_to(20)
        )
            .prop_map(|(name, data)| Command::Other(RawCommand {
                name: name.into(),
                data: data.into(),
            })),
    ]
}

/// One item of a post-handshake stream.
#[derive(Debug, Clone)]
enum Item {
    /// A data frame, optionally in the non-canonical long form.
    Data {
        more: bool,
        body: Vec<u8>,
        long: bool,
    },
    /// A whole multipart message of small frames (MORE on all but the last).
    Message(Vec<Vec<u8>>),
    /// A command frame.
    Command(Command),
    /// Raw bytes.
    Raw(Vec<u8>),
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => bytes_up_to(48),
        1 => prop::collection::vec(any::<u8>(), 250..300),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        5 => (any::<bool>(), body(), prop::bool::weighted(0.1))
            .prop_map(|(more, body, long)| Item::Data { more, body, long }),
        3 => prop::collection::vec(bytes_up_to(30), 1..7).prop_map(Item::Message),
        3 => command().prop_map(Item::Command),
        1 => bytes_up_to(12).prop_map(Item::Raw),
    ]
}

fn put_frame(out: &mut Vec<u8>, flags: u8, body: &[u8], long: bool) {
    if long || body.len() > 255 {
        out.push(flags | FLAG_LONG);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    } else {
        out.push(flags);
        out.push(u8::try_from(body.len()).unwrap());
    }
    out.extend_from_slice(body);
}

fn encode_items(items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Data { more, body, long } => {
                put_frame(&mut out, if *more { FLAG_MORE } else { 0 }, body, *long);
            }
            Item::Message(frames) => {
                for (i, body) in frames.iter().enumerate() {
                    let more = i + 1 < frames.len();
                    put_frame(&mut out, if more { FLAG_MORE } else { 0 }, body, false);
                }
            }
            Item::Command(cmd) => put_frame(&mut out, FLAG_COMMAND, &cmd.encode_body(), false),
            Item::Raw(raw) => out.extend_from_slice(raw),
        }
    }
    out
}

/// A stream of frames (and some raw bytes), possibly mutated.
fn frame_stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => bytes_up_to(64),
        4 => (prop::collection::vec(item(), 0..10), mutation())
            .prop_map(|(items, m)| apply(encode_items(&items), &m)),
    ]
}

fn greeting_bytes(version: (u8, u8), mechanism: [u8; 20], as_server: u8, pad: [u8; 8]) -> Vec<u8> {
    let mut g = vec![0u8; GREETING_LEN];
    g[0] = 0xFF;
    g[1..9].copy_from_slice(&pad);
    g[9] = 0x7F;
    g[10] = version.0;
    g[11] = version.1;
    g[12..32].copy_from_slice(&mechanism);
    g[32] = as_server;
    g
}

fn mechanism_wire() -> impl Strategy<Value = [u8; 20]> {
    prop_oneof![
        Just(*MechanismName::NULL.wire()),
        Just(*MechanismName::CURVE.wire()),
        Just(*MechanismName::PLAIN.wire()),
        any::<[u8; 20]>(),
    ]
}

/// A valid NULL greeting (any version 3.x or later, any padding) and a READY with a
/// Socket-Type, Identity and random extra properties.
fn null_handshake(socket_types: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        3u8..=255,
        any::<u8>(),
        any::<[u8; 8]>(),
        prop::sample::select(socket_types),
        bytes_up_to(12),
        metadata(),
    )
        .prop_map(|(major, minor, pad, socket_type, identity, extra)| {
            let mut wire = greeting_bytes((major, minor), *MechanismName::NULL.wire(), 0, pad);
            let mut meta = Metadata::new();
            meta.push("Socket-Type", socket_type.as_bytes().to_vec())
                .unwrap();
            meta.push("Identity", identity).unwrap();
            for (name, value) in extra.iter() {
                meta.push(name, value.clone()).unwrap();
            }
            put_frame(
                &mut wire,
                FLAG_COMMAND,
                &Command::Ready(meta).encode_body(),
                false,
            );
            wire
        })
}

// ---------------------------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------------------------

/// The greeting as we would re-encode it: insignificant octets (padding, the low-bit-set
/// octet 9, the as-server value beyond 0/1, the filler) made canonical.
fn canonical_greeting(raw: &[u8]) -> [u8; GREETING_LEN] {
    let mut c = [0u8; GREETING_LEN];
    c[0] = 0xFF;
    c[9] = 0x7F;
    c[10..32].copy_from_slice(&raw[10..32]);
    c[32] = u8::from(raw[32] != 0);
    c
}

fn greeting_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes_up_to(80),
        (
            (prop_oneof![0u8..=3, any::<u8>()], any::<u8>()),
            mechanism_wire(),
            any::<u8>(),
            any::<[u8; 8]>(),
            bytes_up_to(16),
            mutation()
        )
            .prop_map(|(version, mech, as_server, pad, tail, m)| {
                let mut g = greeting_bytes(version, mech, as_server, pad);
                g.extend_from_slice(&tail);
                apply(g, &m)
            }),
        Just(GREETING_DEALER.to_vec()),
        Just(GREETING_DEALER_ID.to_vec()),
    ]
}

proptest! {
    #[test]
    fn greeting_decode(input in greeting_input()) {
        let full = Greeting::decode(&input);
        if let Ok(Some(g)) = &full {
            let wire = g.encode();
            prop_assert_eq!(wire, canonical_greeting(&input));
            prop_assert_eq!(Greeting::decode(&wire), Ok(Some(*g)));
            prop_assert!(g.version.0 >= 3);
        }
        // Split independence: every prefix says "need more", or refuses with the very error
        // the whole input gets (refusing early never changes the verdict).
        for n in 0..input.len().min(GREETING_LEN) {
            match Greeting::decode(&input[..n]) {
                Ok(None) => {}
                Ok(Some(g)) => prop_assert!(false, "decoded {g:?} from {n} octets"),
                Err(e) => {
                    let early: Result<Option<Greeting>, _> = Err(e);
                    prop_assert_eq!(&early, &full, "prefix of {} octets", n);
                }
            }
        }
        if input.len() >= GREETING_LEN {
            prop_assert!(!matches!(full, Ok(None)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// FrameDecoder
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct FrameRun {
    /// Each frame with the range of the input it was decoded from.
    frames: Vec<(Frame, Range<usize>)>,
    error: Option<FrameError>,
    consumed: usize,
}

/// Feeds `data` to a decoder chunk by chunk, decoding as much as it can after each chunk.
fn run_frames(limits: Limits, data: &[u8], cuts: &[Index]) -> FrameRun {
    let mut dec = FrameDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut frames = Vec::new();
    let mut frame_start = 0;
    let mut error = None;
    'feed: for chunk in chunks(data, cuts) {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            let result = dec.decode(&mut buf);
            // The decoder only ever takes bytes off the front of the buffer: what is left is
            // exactly the unconsumed suffix of the input, and the decoder itself keeps none.
            let consumed = fed - buf.len();
            assert_eq!(&buf[..], &data[consumed..fed]);
            // Its read-size hint is bounded by the limits, whatever the peer announced.
            let hint = dec.wanted(buf.len());
            let largest = Limits::MAX_COMMAND_SIZE.min(limits.max_frame_size.max(512));
            let largest = largest.max(limits.max_frame_size).max(9);
            assert!(hint >= 1 && hint <= largest, "{hint}");
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

fn check_frames(limits: Limits, data: &[u8], cuts: &[Index]) -> Result<(), TestCaseError> {
    let whole = run_frames(limits, data, &[]);
    let split = run_frames(limits, data, cuts);
    prop_assert_eq!(&split, &whole, "split {:?}", chunks(data, cuts));
    let mut message = (0usize, 0usize); // bytes, frames of the current message
    for (frame, span) in &whole.frames {
        let raw = &data[span.clone()];
        let mut again = BytesMut::new();
        frame.encode(&mut again);
        let flags = raw[0];
        let canonical = (flags & FLAG_LONG != 0) == (frame.body.len() > 255);
        if canonical {
            prop_assert_eq!(&again[..], raw);
        } else {
            // A short frame sent in the long form: the same frame in the short form.
            prop_assert_eq!(again[0], flags & !FLAG_LONG);
            prop_assert_eq!(usize::from(again[1]), frame.body.len());
            prop_assert_eq!(&again[2..], &raw[9..]);
        }
        let mut dec = FrameDecoder::new(limits);
        prop_assert_eq!(dec.decode(&mut again), Ok(Some(frame.clone())));
        // Every accepted frame is within the limits.
        if frame.command {
            prop_assert!(!frame.more);
            prop_assert!(frame.body.len() <= Limits::MAX_COMMAND_SIZE);
            prop_assert_eq!(message.1, 0, "command inside a message");
        } else {
            prop_assert!(frame.body.len() <= limits.max_frame_size);
            message = (message.0 + frame.body.len(), message.1 + 1);
            prop_assert!(message.0 <= limits.max_message_size);
            prop_assert!(message.1 <= limits.max_frames_per_message);
            if !frame.more {
                message = (0, 0);
            }
        }
    }
    // Nothing is consumed past the last frame except, possibly, the header of a frame whose
    // body has not fully arrived.
    let last_end = whole.frames.last().map_or(0, |(_, s)| s.end);
    prop_assert!(matches!(whole.consumed - last_end, 0 | 2 | 9));
    if whole.error.is_some() {
        prop_assert_eq!(whole.consumed, last_end);
    }
    Ok(())
}

proptest! {
    #[test]
    fn frame_decoder_small_limits(
        data in frame_stream(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        check_frames(SMALL, &data, &cuts)?;
    }

    #[test]
    fn frame_decoder_default_limits(
        data in frame_stream(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        check_frames(Limits::default(), &data, &cuts)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Command and Metadata
// ---------------------------------------------------------------------------------------------

fn command_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes_up_to(40),
        (command(), mutation()).prop_map(|(c, m)| apply(c.encode_body().to_vec(), &m)),
        Just(READY_DEALER[2..].to_vec()),
        Just(READY_ROUTER[2..].to_vec()),
        Just(PING[2..].to_vec()),
        Just(PONG[2..].to_vec()),
    ]
}

fn metadata_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes_up_to(40),
        (metadata(), mutation()).prop_map(|(md, m)| apply(encoded_metadata(&md), &m)),
        Just(READY_DEALER[8..].to_vec()),
    ]
}

proptest! {
    #[test]
    fn command_parse(input in command_input()) {
        let body = Bytes::from(input);
        match RawCommand::parse(&body) {
            Ok(raw) => {
                prop_assert!(!raw.name.is_empty());
                let mut again = vec![u8::try_from(raw.name.len()).unwrap()];
                again.extend_from_slice(&raw.name);
                again.extend_from_slice(&raw.data);
                prop_assert_eq!(&again[..], &body[..]);
            }
            Err(e) => prop_assert_eq!(Command::parse(&body), Err(e)),
        }
        if let Ok(cmd) = Command::parse(&body) {
            // Every command we accept is in its one canonical form.
            prop_assert_eq!(&cmd.encode_body()[..], &body[..]);
            let mut framed = BytesMut::new();
            cmd.encode(&mut framed);
            let frame = FrameDecoder::new(Limits::default()).decode(&mut framed);
            prop_assert_eq!(frame, Ok(Some(Frame::command(body.clone()))));
            prop_assert!(framed.is_empty());
        }
    }

    #[test]
    fn valid_commands_round_trip(cmd in command()) {
        let reserved = matches!(&cmd, Command::Other(raw)
            if [&b"READY"[..], b"ERROR", b"PING", b"PONG", b"SUBSCRIBE", b"CANCEL"]
                .contains(&&raw.name[..]));
        let parsed = Command::parse(&cmd.encode_body());
        if !reserved {
            prop_assert_eq!(parsed, Ok(cmd));
        }
    }

    #[test]
    fn metadata_decode(input in metadata_input()) {
        let data = Bytes::from(input);
        if let Ok(meta) = Metadata::decode(&data) {
            prop_assert_eq!(encoded_metadata(&meta), data.to_vec());
            // Each property takes at least 6 octets (name size, a 1-octet name, value size).
            prop_assert!(meta.len() <= data.len() / 6);
            // Through a READY command too.
            let mut body = b"\x05READY".to_vec();
            body.extend_from_slice(&data);
            prop_assert_eq!(Command::parse(&Bytes::from(body)), Ok(Command::Ready(meta)));
        }
    }

    #[test]
    fn valid_metadata_round_trips(meta in metadata()) {
        let wire = Bytes::from(encoded_metadata(&meta));
        prop_assert_eq!(Metadata::decode(&wire), Ok(meta));
    }
}

// ---------------------------------------------------------------------------------------------
// Message
// ---------------------------------------------------------------------------------------------

fn message_frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => bytes_up_to(24),
        2 => "\\PC{0,8}".prop_map(Vec::from),
        3 => json_frame(),
    ]
}

fn json_frame() -> impl Strategy<Value = Vec<u8>> {
    let json = [
        r#"{"cpu":1,"mem":2.5}"#,
        "{}",
        r#"{"a": -1e3, "a": 0}"#,
        r#"{"big": 18446744073709551616, "neg": -0, "tiny": 5e-324}"#,
        r#"{"x": 1e400}"#,
        "[1]",
        r#"{"x":"y"}"#,
        "{",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ];
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "-?[0-9]{1,25}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?",
    ];
    let object = prop::collection::vec(("[a-z\"\\\\]{0,4}", number), 0..4).prop_map(|kv| {
        let fields: Vec<String> = kv.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
        format!("{{{}}}", fields.join(", ")).into_bytes()
    });
    prop_oneof![
        2 => object,
        2 => prop::sample::select(json.to_vec()).prop_map(Vec::from),
        1 => (prop::sample::select(json.to_vec()), mutation())
            .prop_map(|(j, m)| apply(j.as_bytes().to_vec(), &m)),
    ]
}

fn multipart_input() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let layouts = vec![("HELLO", 0), ("FILE", 2), ("CTRL", 1), ("METR", 3)];
    // Half the cases have the frame count their header calls for.
    let well_formed = prop::sample::select(layouts).prop_flat_map(|(h, n)| {
        prop::collection::vec(message_frame(), n).prop_map(move |rest| {
            let mut frames = vec![h.as_bytes().to_vec()];
            frames.extend(rest);
            frames
        })
    });
    let header = prop_oneof![
        prop::sample::select(vec!["HELLO", "FILE", "CTRL", "METR"]).prop_map(Vec::from),
        bytes_up_to(40),
    ];
    let any_shape = (header, prop::collection::vec(message_frame(), 0..5)).prop_map(|(h, rest)| {
        let mut frames = vec![h];
        frames.extend(rest);
        frames
    });
    // METR with text fields and (mostly valid) JSON values.
    let metr = ("\\PC{0,8}", json_frame(), "\\PC{0,8}").prop_map(|(host, values, kind)| {
        vec![
            b"METR".to_vec(),
            host.into_bytes(),
            values,
            kind.into_bytes(),
        ]
    });
    prop_oneof![well_formed, any_shape, metr]
}

proptest! {
    #[test]
    fn message_decode(frames in multipart_input()) {
        let mp = Multipart::new(frames.into_iter().map(Bytes::from).collect()).unwrap();
        let by_ref = Message::try_from(&mp);
        let decoded = Message::try_from(mp.clone());
        prop_assert_eq!(&by_ref, &decoded);
        match decoded {
            Ok(msg) => {
                let again = Multipart::from(msg.clone());
                prop_assert_eq!(Message::try_from(&again), Ok(msg.clone()));
                if matches!(msg, Message::Metrics { .. }) {
                    // JSON is re-serialised (whitespace, duplicate keys, number spelling), but
                    // the other frames are kept verbatim.
                    prop_assert_eq!(again.len(), mp.len());
                    for i in [0, 1, 3] {
                        prop_assert_eq!(&again.frames()[i], &mp.frames()[i]);
                    }
                } else {
                    prop_assert_eq!(again, mp);
                }
            }
            Err(MessageError::UnknownHeader(h)) => prop_assert!(h.len() <= 32),
            Err(_) => {}
        }
    }
}

#[test]
fn empty_multipart_is_refused() {
    assert_eq!(Multipart::new(Vec::new()), Err(MessageError::Empty));
}

// ---------------------------------------------------------------------------------------------
// Connection (NULL mechanism)
// ---------------------------------------------------------------------------------------------

fn connection(t: SocketType, limits: Limits) -> Connection {
    let mut cfg = ConnectionConfig::new(t);
    cfg.limits = limits;
    Connection::new(cfg, Box::new(Null::new()), Instant::now())
}

#[derive(Debug, PartialEq)]
struct ConnRun {
    events: Vec<Event>,
    error: Option<ConnectionError>,
    consumed: usize,
    output: Vec<u8>,
}

/// Feeds `data` to a fresh connection chunk by chunk, collecting events and output, and checks
/// what the connection holds after each call.
fn run_conn(t: SocketType, limits: Limits, data: &[u8], cuts: &[Index]) -> ConnRun {
    let mut conn = connection(t, limits);
    let mut output = conn.take_output().to_vec();
    assert_eq!(output.len(), GREETING_LEN);
    let mut input = BytesMut::new();
    let mut fed = 0;
    let mut events = Vec::new();
    let mut error = None;
    for chunk in chunks(data, cuts) {
        input.extend_from_slice(chunk);
        fed += chunk.len();
        let result = conn.receive(&mut input, Instant::now());
        let consumed = fed - input.len();
        assert_eq!(&input[..], &data[consumed..fed]);
        assert!(conn.wanted(input.len()) >= 1);
        output.extend_from_slice(&conn.take_output());
        while let Some(e) = conn.poll_event() {
            events.push(e);
        }
        // What the connection produced is bounded by what it consumed: one event per frame
        // at most (a frame is at least 2 octets), message bytes no more than the input, and
        // output no more than greeting + READY + one PONG (smaller than its PING) per frame +
        // one ERROR command.
        assert!(events.len() <= consumed / 2 + 1, "{} events", events.len());
        let message_bytes: usize = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => m.total_len(),
                _ => 0,
            })
            .sum();
        assert!(message_bytes <= consumed);
        assert!(output.len() <= 64 + 512 + consumed, "{} out", output.len());
        if let Err(e) = result {
            error = Some(e);
            // A failed connection stays failed.
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

/// The canonical wire form of what a connection decoded: a greeting with the peer's version,
/// a READY with the peer's metadata, then each message and heartbeat.
fn canonical_stream(events: &[Event]) -> Vec<u8> {
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
            // These connections have no authenticator: a request would be a bug.
            Event::AuthRequest(req) => {
                panic!("authentication request without authenticator: {req:?}")
            }
        }
    }
    out.to_vec()
}

fn check_connection(
    t: SocketType,
    limits: Limits,
    data: &[u8],
    cuts: &[Index],
) -> Result<(), TestCaseError> {
    let whole = run_conn(t, limits, data, &[]);
    let split = run_conn(t, limits, data, cuts);
    prop_assert_eq!(&split, &whole, "split {:?}", chunks(data, cuts));
    for e in &whole.events {
        if let Event::Message(m) = e {
            // The application layer on top must not panic either.
            let _ = Message::try_from(m);
        }
    }
    if let Some(Event::HandshakeComplete(peer)) = whole.events.first() {
        prop_assert!(t.compatible_with(peer.socket_type));
        prop_assert_eq!(peer.public_key, None);
    } else {
        prop_assert!(whole.events.is_empty());
    }
    // Round trip: the canonical encoding of what was decoded decodes to the same events.
    let canonical = canonical_stream(&whole.events);
    let again = run_conn(t, limits, &canonical, &[]);
    prop_assert_eq!(&again.events, &whole.events);
    prop_assert_eq!(again.error, None);
    prop_assert_eq!(again.consumed, canonical.len());
    Ok(())
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![Just(SMALL), Just(Limits::default())]
}

/// Input for a connection: random bytes, a greeting followed by random frames (handshake
/// phase), or a complete NULL handshake (generated or pyzmq's) followed by frames.
fn connection_input(
    socket_types: &'static [&'static str],
    pyzmq_prefix: &'static [u8],
) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => bytes_up_to(80),
        1 => (any::<[u8; 8]>(), frame_stream()).prop_map(|(pad, tail)| {
            let mut g = greeting_bytes((3, 1), *MechanismName::NULL.wire(), 0, pad);
            g.extend_from_slice(&tail);
            g
        }),
        3 => (null_handshake(socket_types), frame_stream()).prop_map(|(mut hs, tail)| {
            hs.extend_from_slice(&tail);
            hs
        }),
        2 => frame_stream().prop_map(move |tail| {
            let mut wire = pyzmq_prefix.to_vec();
            wire.extend_from_slice(&tail);
            wire
        }),
        1 => (null_handshake(socket_types), mutation()).prop_map(|(hs, m)| apply(hs, &m)),
    ]
}

/// pyzmq DEALER greeting + READY (for our ROUTER), then its multipart message and PING.
fn pyzmq_dealer_session() -> &'static [u8] {
    static WIRE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    WIRE.get_or_init(|| [GREETING_DEALER_ID, READY_DEALER, MULTIPART_DEALER, PING].concat())
}

/// pyzmq ROUTER's READY after a NULL greeting (for our DEALER), then a PONG.
fn pyzmq_router_session() -> &'static [u8] {
    static WIRE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    WIRE.get_or_init(|| [GREETING_DEALER, READY_ROUTER, PONG].concat())
}

/// Peer socket types: mostly compatible ones, some refused.
const ROUTER_PEERS: &[&str] = &[
    "DEALER", "DEALER", "DEALER", "ROUTER", "REQ", "REP", "PUB", "dealer", "",
];
const DEALER_PEERS: &[&str] = &[
    "ROUTER", "ROUTER", "ROUTER", "DEALER", "REP", "REQ", "SUB", "router", "",
];

proptest! {
    #[test]
    fn router_connection(
        data in connection_input(ROUTER_PEERS, pyzmq_dealer_session()),
        limits in limits(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        check_connection(SocketType::Router, limits, &data, &cuts)?;
    }

    #[test]
    fn dealer_connection(
        data in connection_input(DEALER_PEERS, pyzmq_router_session()),
        limits in limits(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        check_connection(SocketType::Dealer, limits, &data, &cuts)?;
    }
}

/// The pyzmq sessions themselves go through with no error (a sanity check of the inputs
/// above).
#[test]
fn pyzmq_sessions_are_accepted() {
    let r = run_conn(
        SocketType::Router,
        Limits::default(),
        pyzmq_dealer_session(),
        &[],
    );
    assert_eq!(r.error, None);
    assert_eq!(r.events.len(), 3);
    let d = run_conn(
        SocketType::Dealer,
        Limits::default(),
        pyzmq_router_session(),
        &[],
    );
    assert_eq!(d.error, None);
    assert_eq!(
        d.events[1],
        Event::Pong {
            context: Bytes::from_static(b"ctx1")
        }
    );
}

// ---------------------------------------------------------------------------------------------
// ZAP replies (RFC 27): seven frames from a handler.
// ---------------------------------------------------------------------------------------------

/// A valid reply (delimiter, "1.0", id, status, text, user id, metadata), then sometimes a
/// frame mutated, dropped or added; and whether it was left intact.
fn zap_reply_input() -> impl Strategy<Value = (Vec<Vec<u8>>, bool)> {
    let valid = (
        bytes_up_to(8),
        prop::sample::select(vec!["200", "300", "400", "500"]),
        "[ -~]{0,20}",
        bytes_up_to(12),
        metadata(),
    )
        .prop_map(|(id, code, text, user, meta)| {
            vec![
                Vec::new(),
                b"1.0".to_vec(),
                id,
                code.as_bytes().to_vec(),
                text.into_bytes(),
                user,
                encoded_metadata(&meta),
            ]
        });
    (
        valid,
        any::<Index>(),
        mutation(),
        prop::option::weighted(0.2, any::<bool>()),
    )
        .prop_map(|(mut frames, at, m, change)| {
            let intact = m.is_none() && change.is_none();
            let i = at.index(frames.len());
            frames[i] = apply(std::mem::take(&mut frames[i]), &m);
            match change {
                Some(true) => frames.push(b"extra".to_vec()),
                Some(false) => {
                    frames.remove(i);
                }
                None => {}
            }
            (frames, intact)
        })
}

proptest! {
    #[test]
    fn zap_reply_decode((frames, intact) in zap_reply_input()) {
        let Ok(mp) = Multipart::new(frames.into_iter().map(Bytes::from).collect()) else {
            return Ok(());
        };
        let found = courier_proto::zap::reply_request_id(&mp).cloned();
        let decoded = courier_proto::zap::decode_reply(&mp);
        prop_assert!(!intact || decoded.is_ok(), "{decoded:?}");
        if let Ok((id, reply)) = decoded {
            let f = mp.frames();
            prop_assert_eq!(f.len(), 7);
            prop_assert!(f[0].is_empty());
            prop_assert_eq!(&f[1][..], b"1.0");
            prop_assert_eq!(found, Some(id.clone()));
            prop_assert_eq!(&id, &f[2]);
            prop_assert_eq!(reply.status_code.code().as_bytes(), &f[3][..]);
            if std::str::from_utf8(&f[4]).is_ok() {
                prop_assert_eq!(reply.status_text.as_bytes(), &f[4][..]);
            }
            prop_assert_eq!(&reply.user_id, &f[5]);
            prop_assert_eq!(&encoded_metadata(&reply.metadata)[..], &f[6][..]);
        }
    }
}
