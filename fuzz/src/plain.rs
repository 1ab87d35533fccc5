//! The checks behind `plain_command`, `plain_server` and `plain_client`.
//!
//! `plain_command`: a command body. `PlainCommand::parse` never panics; what parses
//! re-encodes to exactly the input; a body `RawCommand::parse` refuses is refused the same way.
//!
//! `plain_server` / `plain_client`: a ROUTER `Connection` with `PlainServer` (its
//! authenticator accepts exactly user "admin" with password "secret", answering 400 otherwise)
//! or a DEALER `Connection` with `PlainClient`, given a valid PLAIN greeting from its peer,
//! then the rest of the input cut at every `"\xF0CUT"` into command bodies (each sent as one
//! command frame; bit 7 of the first octet: as raw wire bytes instead). Each input is run all
//! at once and in chunks of (first octet & 0x3F) + 1 octets; both runs must agree. Then:
//!
//! - no panic; the connection consumes only the front of its input;
//! - the server asks its authenticator at most once, with exactly two credentials, and
//!   completes the handshake only if they were "admin"/"secret"; the client completes only
//!   after sending HELLO and INITIATE;
//! - what the server writes is only WELCOME, READY (whenever it completed) and ERROR "400" (iff it
//!   refused the credentials, in libzmq's form), READY only after accepted credentials, and what the client
//!   writes only HELLO and INITIATE;
//! - a failed connection stays failed.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use courier_proto::command::RawCommand;
use courier_proto::connection::{Connection, ConnectionConfig, ConnectionError, Event};
use courier_proto::frame::{Frame, FrameDecoder, Limits};
use courier_proto::greeting::{Greeting, MechanismName, GREETING_LEN};
use courier_proto::mechanism::{HandshakeError, Mechanism, ZapReply, ZapStatus};
use courier_proto::plain::{PlainClient, PlainCommand, PlainServer, LIBZMQ_ERROR_PREFIX};
use courier_proto::socket_type::SocketType;

/// `plain_command`: parse, round trip, agreement with `RawCommand`.
pub fn check_plain_command(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    match PlainCommand::parse(&body) {
        Ok(cmd) => {
            assert_eq!(&cmd.encode_body()[..], data, "{cmd:?}");
            assert_eq!(PlainCommand::parse(&cmd.encode_body()), Ok(cmd));
        }
        Err(e) => {
            // libzmq's ERROR form is read before RawCommand would refuse its name length.
            if !body.starts_with(LIBZMQ_ERROR_PREFIX) {
                if let Err(raw) = RawCommand::parse(&body) {
                    assert_eq!(e, raw);
                }
            }
        }
    }
}

/// Which end of PLAIN the connection plays.
#[derive(Clone, Copy, Debug)]
pub enum PlainRole {
    /// ROUTER with `PlainServer` and an authenticator.
    Server,
    /// DEALER with `PlainClient`.
    Client,
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    events: Vec<Event>,
    error: Option<ConnectionError>,
    output: Vec<u8>,
    consumed: usize,
    asked: Vec<Vec<Bytes>>,
}

fn authenticator(credentials: &[Bytes]) -> ZapReply {
    if credentials == [Bytes::from_static(b"admin"), Bytes::from_static(b"secret")] {
        ZapReply::accept("admin")
    } else {
        ZapReply::refuse(ZapStatus::AuthFailure, "bad credentials")
    }
}

fn run(role: PlainRole, stream: &[u8], chunk: Option<usize>) -> Run {
    let now = Instant::now();
    let (mut config, mechanism, peer): (_, Box<dyn Mechanism>, _) = match role {
        PlainRole::Server => (
            ConnectionConfig::new(SocketType::Router),
            Box::new(PlainServer::new()),
            Greeting::new(MechanismName::PLAIN, false),
        ),
        PlainRole::Client => (
            ConnectionConfig::new(SocketType::Dealer),
            match PlainClient::new("admin", "secret") {
                Ok(c) => Box::new(c),
                Err(e) => panic!("valid credentials refused: {e}"),
            },
            Greeting::new(MechanismName::PLAIN, true),
        ),
    };
    config.authenticate = true;
    let mut conn = Connection::new(config, mechanism, now);
    let mut wire = peer.encode().to_vec();
    wire.extend_from_slice(stream);
    let mut input = BytesMut::new();
    let mut out = Run {
        events: Vec::new(),
        error: None,
        output: Vec::new(),
        consumed: 0,
        asked: Vec::new(),
    };
    let pieces: Vec<&[u8]> = match chunk {
        Some(n) => wire.chunks(n).collect(),
        None => vec![&wire[..]],
    };
    for piece in pieces {
        input.extend_from_slice(piece);
        let before = input.len();
        let mut result = conn.receive(&mut input, now);
        out.consumed += before - input.len();
        while result.is_ok() {
            let Some(event) = conn.poll_event() else {
                break;
            };
            if let Event::AuthRequest(req) = &event {
                assert!(conn.awaiting_auth());
                assert_eq!(req.mechanism, MechanismName::PLAIN);
                out.asked.push(req.credentials.clone());
                let before = input.len();
                result = conn.auth_reply(authenticator(&req.credentials), &mut input, now);
                out.consumed += before - input.len();
            }
            out.events.push(event);
        }
        out.output.extend_from_slice(&conn.take_output());
        if let Err(e) = result {
            assert!(!matches!(
                e,
                ConnectionError::Failed | ConnectionError::NotReady
            ));
            assert_eq!(
                conn.receive(&mut BytesMut::from(&b"x"[..]), now),
                Err(ConnectionError::Failed)
            );
            out.error = Some(e);
            break;
        }
    }
    out
}

/// The command bodies a connection wrote after its greeting.
fn written(output: &[u8]) -> Vec<Bytes> {
    assert!(output.len() >= GREETING_LEN);
    let mut rest = BytesMut::from(&output[GREETING_LEN..]);
    let mut decoder = FrameDecoder::new(Limits::default());
    let mut bodies = Vec::new();
    while let Ok(Some(Frame { body, command, .. })) = decoder.decode(&mut rest) {
        assert!(command, "only commands during a PLAIN handshake");
        bodies.push(body);
    }
    assert!(rest.is_empty(), "output is whole frames");
    bodies
}

/// `plain_server` and `plain_client`.
pub fn check_plain(role: PlainRole, data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let stream: Vec<u8> = if ctl & 0x80 != 0 {
        rest.to_vec()
    } else {
        let mut wire = BytesMut::new();
        let mut parts = Vec::new();
        let mut from = 0;
        let mut i = 0;
        while i + 4 <= rest.len() {
            if &rest[i..i + 4] == b"\xF0CUT" {
                parts.push(&rest[from..i]);
                i += 4;
                from = i;
            } else {
                i += 1;
            }
        }
        parts.push(&rest[from..]);
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            Frame::command(Bytes::copy_from_slice(part)).encode(&mut wire);
        }
        wire.to_vec()
    };
    let whole = run(role, &stream, None);
    let chunked = run(role, &stream, Some(usize::from(ctl & 0x3F) + 1));
    assert_eq!(whole, chunked);
    assert!(whole.consumed <= GREETING_LEN + stream.len());

    let completed = whole
        .events
        .iter()
        .filter(|e| matches!(e, Event::HandshakeComplete(_)))
        .count();
    assert!(completed <= 1);
    let bodies = written(&whole.output);
    let names: Vec<Bytes> = bodies
        .iter()
        .map(|b| {
            if b.starts_with(LIBZMQ_ERROR_PREFIX) {
                Bytes::from_static(b"ERROR")
            } else {
                RawCommand::parse(b).map(|r| r.name).unwrap_or_default()
            }
        })
        .collect();
    match role {
        PlainRole::Server => {
            assert!(whole.asked.len() <= 1);
            let accepted = whole
                .asked
                .first()
                .is_some_and(|c| authenticator(c).is_success());
            if completed == 1 {
                assert!(accepted);
                assert!(matches!(
                    whole.events.iter().find(|e| matches!(e, Event::HandshakeComplete(_))),
                    Some(Event::HandshakeComplete(p)) if &p.user_id[..] == b"admin"
                ));
            }
            if completed == 1 {
                assert!(names.iter().any(|n| &n[..] == b"READY"));
            }
            for (name, body) in names.iter().zip(&bodies) {
                match &name[..] {
                    b"WELCOME" => assert!(accepted),
                    // READY goes out before the client's metadata is checked (its socket type
                    // may still be refused), so it implies acceptance, not completion.
                    b"READY" => assert!(accepted),
                    b"ERROR" => {
                        // libzmq's form (see courier_proto::plain).
                        assert_eq!(&body[..], b"\x5eRROR\x03400");
                        assert!(matches!(
                            whole.error,
                            Some(ConnectionError::Handshake(
                                HandshakeError::AuthRefused { .. }
                            ))
                        ));
                    }
                    other => panic!("the server wrote {other:?}"),
                }
            }
        }
        PlainRole::Client => {
            assert!(whole.asked.is_empty());
            for name in &names {
                assert!(matches!(&name[..], b"HELLO" | b"INITIATE"), "{name:?}");
            }
            if completed == 1 {
                assert_eq!(names.len(), 2);
            }
        }
    }
}
