//! CURVE end to end in memory: our client and server roles driven by `Connection`s, with
//! metadata, multipart messages, heartbeats, refusals, replays, tampering and wrong keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use courier_proto::command::Command;
use courier_proto::connection::{Connection, ConnectionConfig, ConnectionError, Event};
use courier_proto::curve::{
    Authorizer, ClientConfig, CurveClient, CurveConfig, CurveError, CurveServer, Keypair,
    ServerConfig, MESSAGE_OVERHEAD, UNAUTHORIZED_REASON,
};
use courier_proto::frame::{Frame, FrameDecoder, Limits};
use courier_proto::greeting::{Greeting, MechanismName, GREETING_LEN};
use courier_proto::mechanism::{HandshakeError, Mechanism};
use courier_proto::message::Multipart;
use courier_proto::metadata::Metadata;
use courier_proto::socket_type::SocketType;
use courier_proto::z85;

struct Keys {
    server: Keypair,
    client: Keypair,
}

fn keys() -> Keys {
    Keys {
        server: Keypair::generate(),
        client: Keypair::generate(),
    }
}

fn client_config(keys: &Keys) -> CurveConfig {
    CurveConfig::Client(ClientConfig::new(
        keys.client.clone(),
        *keys.server.public(),
    ))
}

fn server_config(keys: &Keys, authorizer: Authorizer) -> CurveConfig {
    CurveConfig::Server(ServerConfig::new(keys.server.secret().clone(), authorizer))
}

fn conn(t: SocketType, id: &'static [u8], curve: &CurveConfig) -> Connection {
    let mut cfg = ConnectionConfig::new(t);
    cfg.identity = Bytes::from_static(id);
    cfg.extra_metadata
        .push(
            "X-Role",
            if t == SocketType::Dealer {
                "client"
            } else {
                "server"
            },
        )
        .unwrap();
    Connection::new(cfg, curve.mechanism(), Instant::now())
}

/// Moves bytes both ways until neither side has output or one fails; returns each side's
/// result of its last `receive`.
fn pump(
    a: &mut Connection,
    b: &mut Connection,
) -> (Result<(), ConnectionError>, Result<(), ConnectionError>) {
    let (mut to_a, mut to_b) = (BytesMut::new(), BytesMut::new());
    let (mut ra, mut rb) = (Ok(()), Ok(()));
    for _ in 0..16 {
        if !(a.has_output() || b.has_output()) {
            break;
        }
        to_b.extend_from_slice(&a.take_output());
        to_a.extend_from_slice(&b.take_output());
        if ra.is_ok() {
            ra = a.receive(&mut to_a, Instant::now());
        }
        if rb.is_ok() {
            rb = b.receive(&mut to_b, Instant::now());
        }
        if ra.is_err() || rb.is_err() {
            // Deliver the failing side's last words (an ERROR) once more.
            to_b.extend_from_slice(&a.take_output());
            to_a.extend_from_slice(&b.take_output());
            if ra.is_ok() {
                ra = a.receive(&mut to_a, Instant::now());
            }
            if rb.is_ok() {
                rb = b.receive(&mut to_b, Instant::now());
            }
            break;
        }
    }
    (ra, rb)
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn mp(frames: &[&[u8]]) -> Multipart {
    Multipart::new(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()).unwrap()
}

fn handshake(keys: &Keys) -> (Connection, Connection) {
    let mut dealer = conn(SocketType::Dealer, b"client-1", &client_config(keys));
    let mut router = conn(
        SocketType::Router,
        b"",
        &server_config(keys, Authorizer::allow_keys([*keys.client.public()])),
    );
    let (rd, rr) = pump(&mut dealer, &mut router);
    rd.unwrap();
    rr.unwrap();
    assert!(dealer.is_active() && router.is_active());
    (dealer, router)
}

fn curve_error(e: &ConnectionError) -> &CurveError {
    match e {
        ConnectionError::Handshake(HandshakeError::Curve(c)) => c,
        other => panic!("not a CURVE error: {other:?}"),
    }
}

#[test]
fn handshake_exchanges_metadata_and_keys() {
    let keys = keys();
    let (mut dealer, mut router) = handshake(&keys);
    let Event::HandshakeComplete(server_side) = &events(&mut router)[0] else {
        panic!()
    };
    assert_eq!(server_side.socket_type, SocketType::Dealer);
    assert_eq!(&server_side.identity[..], b"client-1");
    assert_eq!(&server_side.metadata.get("x-role").unwrap()[..], b"client");
    assert_eq!(server_side.public_key, Some(*keys.client.public()));
    let Event::HandshakeComplete(client_side) = &events(&mut dealer)[0] else {
        panic!()
    };
    assert_eq!(client_side.socket_type, SocketType::Router);
    assert_eq!(&client_side.metadata.get("X-Role").unwrap()[..], b"server");
    assert_eq!(client_side.public_key, Some(*keys.server.public()));
}

#[test]
fn greetings_carry_the_configured_roles() {
    let keys = keys();
    let dealer = conn(SocketType::Dealer, b"", &client_config(&keys)).take_output();
    let router = conn(
        SocketType::Router,
        b"",
        &server_config(&keys, Authorizer::allow_any()),
    )
    .take_output();
    let dealer = Greeting::decode(&dealer).unwrap().unwrap();
    let router = Greeting::decode(&router).unwrap().unwrap();
    assert_eq!(dealer.mechanism, MechanismName::CURVE);
    assert!(!dealer.as_server);
    assert!(router.as_server);
}

#[test]
fn server_ignores_the_as_server_octet_of_a_libzmq_client() {
    // libzmq sends as-server = 0 from both roles; roles come from configuration only.
    let keys = keys();
    let mut client = CurveClient::new(ClientConfig::new(
        keys.client.clone(),
        *keys.server.public(),
    ));
    let mut server = CurveServer::new(ServerConfig::new(
        keys.server.secret().clone(),
        Authorizer::allow_any(),
    ));
    let libzmq_greeting = Greeting::new(MechanismName::CURVE, false);
    let mut out = Vec::new();
    server
        .start(&libzmq_greeting, &Metadata::new(), &mut out)
        .unwrap();
    client
        .start(&libzmq_greeting, &Metadata::new(), &mut out)
        .unwrap();
    let hello = out.pop().unwrap();
    server.on_command(hello.body, &mut out).unwrap();
    assert_eq!(out.len(), 1, "WELCOME");
}

#[test]
fn multipart_messages_and_heartbeats_round_trip() {
    let keys = keys();
    let (mut dealer, mut router) = handshake(&keys);
    events(&mut dealer);
    events(&mut router);

    let big = vec![0x5a; 70_000];
    let up = mp(&[b"HELLO", b"", &big]);
    dealer.send(&up).unwrap();
    dealer.send(&mp(&[b"second"])).unwrap();
    dealer.ping(30, Bytes::from_static(b"ctx")).unwrap();
    let wire = dealer.take_output();
    // Three frames, a message and a PING: each a MESSAGE (a data frame, no MORE, as libzmq).
    let mut dec = FrameDecoder::new(Limits::default());
    let mut buf = wire.clone();
    let mut n = 0;
    while let Some(f) = dec.decode(&mut buf).unwrap() {
        assert!(!f.more && !f.command, "{f:?}");
        assert_eq!(&f.body[..8], b"\x07MESSAGE");
        n += 1;
    }
    assert_eq!(n, 5);
    assert_eq!(
        wire.len(),
        5 * MESSAGE_OVERHEAD + (5 + 70_000 + 6 + 10) + 5 * 2 + 7,
        "33 octets of MESSAGE around each frame (plus 7 for the long header of the big one)"
    );

    let mut input = wire;
    router.receive(&mut input, Instant::now()).unwrap();
    assert_eq!(
        events(&mut router),
        vec![
            Event::Message(up.clone()),
            Event::Message(mp(&[b"second"])),
            Event::Ping {
                ttl_deciseconds: 30
            }
        ]
    );
    // The PONG and a reply go back through boxes too.
    router.send(&mp(&[b"reply", b"x"])).unwrap();
    let mut input = router.take_output();
    dealer.receive(&mut input, Instant::now()).unwrap();
    assert_eq!(
        events(&mut dealer),
        vec![
            Event::Pong {
                context: Bytes::from_static(b"ctx")
            },
            Event::Message(mp(&[b"reply", b"x"]))
        ]
    );
}

#[test]
fn unauthorized_client_is_refused_with_error() {
    let keys = keys();
    let mut dealer = conn(SocketType::Dealer, b"", &client_config(&keys));
    let other = Keypair::generate();
    let mut router = conn(
        SocketType::Router,
        b"",
        &server_config(&keys, Authorizer::allow_keys([*other.public()])),
    );
    let (rd, rr) = pump(&mut dealer, &mut router);
    let err = rr.unwrap_err();
    assert_eq!(
        curve_error(&err),
        &CurveError::Unauthorized {
            client_key: *keys.client.public()
        }
    );
    // The server can log who was refused.
    let shown = err.to_string();
    assert!(shown.contains(&keys.client.public_z85()), "{shown}");
    // The client heard an ERROR and never became active.
    assert!(
        matches!(
            rd,
            Err(ConnectionError::Handshake(HandshakeError::PeerError { .. }))
        ),
        "{rd:?}"
    );
    assert!(!dealer.is_active());
    assert!(events(&mut dealer).is_empty());

    // The reason a CURVE server gives is libzmq's: the ZAP status code 400.
    let server = CurveServer::new(ServerConfig::new(
        keys.server.secret().clone(),
        Authorizer::allow_any(),
    ));
    let HandshakeError::Curve(_) = HandshakeError::from(curve_error(&err).clone()) else {
        panic!()
    };
    assert_eq!(
        server.error_reason(&HandshakeError::from(curve_error(&err).clone())),
        Some(Bytes::from_static(UNAUTHORIZED_REASON.as_bytes()))
    );
    // A client never sends ERROR (RFC 26).
    let client = CurveClient::new(ClientConfig::new(
        keys.client.clone(),
        *keys.server.public(),
    ));
    assert_eq!(
        client.error_reason(&HandshakeError::MessageBeforeReady),
        None
    );
}

#[test]
fn authorizer_sees_the_client_long_term_key() {
    let keys = keys();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut dealer = conn(SocketType::Dealer, b"", &client_config(&keys));
    let mut router = conn(
        SocketType::Router,
        b"",
        &server_config(
            &keys,
            Authorizer::new(move |k| {
                log.lock().unwrap().push(*k);
                true
            }),
        ),
    );
    let (rd, rr) = pump(&mut dealer, &mut router);
    rd.unwrap();
    rr.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![*keys.client.public()]);
}

#[test]
fn replayed_and_reordered_messages_are_rejected() {
    let keys = keys();
    let (mut dealer, mut router) = handshake(&keys);
    dealer.send(&mp(&[b"once"])).unwrap();
    let first = dealer.take_output();
    let mut input = first.clone();
    router.receive(&mut input, Instant::now()).unwrap();
    let mut replay = first.clone();
    let err = router.receive(&mut replay, Instant::now()).unwrap_err();
    assert!(
        matches!(
            curve_error(&err),
            CurveError::NonceReplay {
                command: "MESSAGE",
                nonce: 3,
                previous: 3
            }
        ),
        "{err:?}"
    );

    // Out of order: the second MESSAGE first, then the first.
    let (mut dealer, mut router) = handshake(&keys);
    dealer.send(&mp(&[b"one"])).unwrap();
    let one = dealer.take_output();
    dealer.send(&mp(&[b"two"])).unwrap();
    let mut two = dealer.take_output();
    router.receive(&mut two, Instant::now()).unwrap();
    let mut one = one;
    let err = router.receive(&mut one, Instant::now()).unwrap_err();
    assert!(
        matches!(
            curve_error(&err),
            CurveError::NonceReplay {
                nonce: 3,
                previous: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tampered_message_is_rejected() {
    let keys = keys();
    let (mut dealer, mut router) = handshake(&keys);
    dealer.send(&mp(&[b"payload"])).unwrap();
    let mut wire = dealer.take_output();
    let last = wire.len() - 1;
    wire[last] ^= 0x01;
    let err = router.receive(&mut wire, Instant::now()).unwrap_err();
    assert_eq!(
        curve_error(&err),
        &CurveError::BadBox { command: "MESSAGE" }
    );
    assert_eq!(
        router.receive(&mut BytesMut::new(), Instant::now()),
        Err(ConnectionError::Failed)
    );
}

#[test]
fn message_sent_to_the_wrong_direction_does_not_open() {
    // A server's own MESSAGE reflected back at it has the server's nonce prefix.
    let keys = keys();
    let (_dealer, mut router) = handshake(&keys);
    // (Its first MESSAGE has short nonce 2, no more than the client's INITIATE: the second
    // one gets past the nonce check to the box.)
    router.send(&mp(&[b"echo"])).unwrap();
    router.take_output();
    router.send(&mp(&[b"echo"])).unwrap();
    let mut reflected = router.take_output();
    let err = router.receive(&mut reflected, Instant::now()).unwrap_err();
    assert_eq!(
        curve_error(&err),
        &CurveError::BadBox { command: "MESSAGE" }
    );
}

#[test]
fn client_with_the_wrong_server_key_is_refused() {
    // The client thinks the server's key is another: the server cannot open HELLO.
    let keys = keys();
    let impostor_view = Keys {
        server: Keypair::generate(),
        client: keys.client.clone(),
    };
    let mut dealer = conn(SocketType::Dealer, b"", &client_config(&impostor_view));
    let mut router = conn(
        SocketType::Router,
        b"",
        &server_config(&keys, Authorizer::allow_any()),
    );
    let (rd, rr) = pump(&mut dealer, &mut router);
    assert_eq!(
        curve_error(&rr.unwrap_err()),
        &CurveError::BadBox { command: "HELLO" }
    );
    // Like libzmq, the server hangs up without an ERROR (which would be final for a libzmq
    // client): the client hears nothing and stays in the handshake until the connection closes.
    assert!(rd.is_ok(), "the client hears no ERROR: {rd:?}");
    assert!(!dealer.is_active());
}

#[test]
fn server_without_the_secret_key_cannot_welcome() {
    // A WELCOME made by a server holding another secret key (here: a genuine WELCOME for
    // another client's HELLO to another server) does not open: the client names the key.
    let keys = keys();
    let expected_server = *keys.server.public();
    let impostor = Keypair::generate();
    let mut out = Vec::new();
    let greeting = Greeting::new(MechanismName::CURVE, true);

    let mut victim = CurveClient::new(ClientConfig::new(keys.client.clone(), expected_server));
    victim.start(&greeting, &Metadata::new(), &mut out).unwrap();
    let _hello_to_real_server = out.pop().unwrap();

    let mut decoy = CurveClient::new(ClientConfig::new(keys.client.clone(), *impostor.public()));
    decoy.start(&greeting, &Metadata::new(), &mut out).unwrap();
    let decoy_hello = out.pop().unwrap();
    let mut impostor_server = CurveServer::new(ServerConfig::new(
        impostor.secret().clone(),
        Authorizer::allow_any(),
    ));
    impostor_server
        .start(&greeting, &Metadata::new(), &mut out)
        .unwrap();
    impostor_server
        .on_command(decoy_hello.body, &mut out)
        .unwrap();
    let welcome = out.pop().unwrap();

    let err = victim.on_command(welcome.body, &mut out).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::Curve(CurveError::ServerKeyMismatch {
            server_key: expected_server
        })
    );
    assert_eq!(
        err.to_string(),
        format!(
            "server key mismatch: the server could not prove it holds the secret key for {}",
            z85::encode_key(&expected_server)
        )
    );
    assert!(out.is_empty(), "no INITIATE");
}

#[test]
fn low_order_server_key_is_refused_at_once() {
    let keys = keys();
    let mut client = CurveClient::new(ClientConfig::new(keys.client.clone(), [0u8; 32]));
    let err = client
        .start(
            &Greeting::new(MechanismName::CURVE, true),
            &Metadata::new(),
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::Curve(CurveError::WeakKey { .. })
    ));
}

#[test]
fn peer_error_during_handshake() {
    let keys = keys();
    let mut client = CurveClient::new(ClientConfig::new(
        keys.client.clone(),
        *keys.server.public(),
    ));
    let mut out = Vec::new();
    client
        .start(
            &Greeting::new(MechanismName::CURVE, true),
            &Metadata::new(),
            &mut out,
        )
        .unwrap();
    let error = Command::Error {
        reason: Bytes::from_static(b"400"),
    }
    .encode_body();
    assert_eq!(
        client.on_command(error, &mut out),
        Err(HandshakeError::PeerError {
            reason: "400 (the server does not accept our client public key: it must be in the \
                     server's authorized clients)"
                .into()
        })
    );
}

/// Ways to damage a command: cut it short, flip one bit, or add an octet.
#[derive(Clone, Copy, Debug)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Extend,
}

/// A sample of damages for a command of `len` octets: cuts at every field boundary of the
/// handshake commands and a few more, flips every few octets (debug builds of X25519 are slow,
/// so not every octet), and one octet too many.
fn damages(len: usize) -> Vec<Damage> {
    let cuts = [
        0, 1, 5, 6, 7, 8, 9, 14, 24, 25, 30, 80, 105, 112, 113, 120, 168, 200, 257,
    ];
    let mut v: Vec<Damage> = cuts
        .iter()
        .chain(&[len / 2, len.saturating_sub(1)])
        .filter(|&&n| n < len)
        .map(|&n| Damage::Truncate(n))
        .collect();
    for i in (0..len).step_by(len / 6 + 1).chain([5, 8, len - 1]) {
        v.push(Damage::Flip(i, 0x01));
        v.push(Damage::Flip(i, 0x80));
    }
    v.push(Damage::Extend);
    v
}

fn damage(body: &Bytes, how: Damage) -> Bytes {
    match how {
        Damage::Truncate(n) => body.slice(..n),
        Damage::Flip(i, bit) => {
            let mut b = body.to_vec();
            b[i] ^= bit;
            Bytes::from(b)
        }
        Damage::Extend => {
            let mut b = body.to_vec();
            b.push(0);
            Bytes::from(b)
        }
    }
}

/// A client and a server mechanism, started; the client's HELLO.
fn started(keys: &Keys) -> (CurveClient, CurveServer, Bytes) {
    let greeting = Greeting::new(MechanismName::CURVE, true);
    let mut out = Vec::new();
    let mut client = CurveClient::new(ClientConfig::new(
        keys.client.clone(),
        *keys.server.public(),
    ));
    let mut server = CurveServer::new(ServerConfig::new(
        keys.server.secret().clone(),
        Authorizer::allow_any(),
    ));
    server.start(&greeting, &meta(), &mut out).unwrap();
    client.start(&greeting, &meta(), &mut out).unwrap();
    (client, server, out.pop().unwrap().body)
}

fn meta() -> Metadata {
    let mut m = Metadata::new();
    m.push("Socket-Type", "DEALER").unwrap();
    m
}

/// Every truncation and every single-bit flip of each handshake command is refused with a
/// typed error (never a panic), and nothing is sent in reply.
#[test]
fn every_damaged_handshake_command_is_refused() {
    let keys = keys();
    let (_, _, hello) = started(&keys);
    for how in damages(hello.len()) {
        if matches!(how, Damage::Flip(111, 0x80)) {
            // The top bit of C' (its last octet): X25519 ignores it (RFC 7748), as libsodium
            // does, so this HELLO is as good as the genuine one.
            continue;
        }
        let (_, mut server, hello) = started(&keys);
        let mut out = Vec::new();
        assert!(
            server.on_command(damage(&hello, how), &mut out).is_err(),
            "HELLO {how:?}"
        );
        assert!(out.is_empty());
    }
    // WELCOME, INITIATE and READY: a fresh connection for each damage, stopped at the step.
    for step in 1..=3 {
        let mut probe_len = 0;
        for round in 0.. {
            let (mut client, mut server, hello) = started(&keys);
            let mut out = Vec::new();
            server.on_command(hello, &mut out).unwrap();
            let mut body = out.pop().unwrap().body;
            if step >= 2 {
                client.on_command(body, &mut out).unwrap();
                body = out.pop().unwrap().body;
            }
            if step >= 3 {
                server.on_command(body, &mut out).unwrap();
                body = out.pop().unwrap().body;
            }
            if round == 0 {
                probe_len = body.len();
            }
            let Some(&how) = damages(probe_len).get(round) else {
                break;
            };
            let result = if step == 2 {
                server.on_command(damage(&body, how), &mut out)
            } else {
                client.on_command(damage(&body, how), &mut out)
            };
            assert!(result.is_err(), "step {step} {how:?}");
            assert!(out.is_empty(), "step {step} {how:?}: {out:?}");
        }
    }
}

#[test]
fn damaged_messages_are_refused() {
    let keys = keys();
    let mut client = CurveClient::new(ClientConfig::new(
        keys.client.clone(),
        *keys.server.public(),
    ));
    // Before the handshake: no frames at all.
    assert_eq!(
        client.decode(Frame::data(&b"\x07MESSAGE"[..], false)),
        Err(HandshakeError::MessageBeforeReady)
    );
    // After it: short, misnamed and unencrypted frames.
    for body in [
        &b""[..],
        b"\x07MESSAG",
        b"\x07MESSAGE\x00\x00\x00\x00\x00\x00\x00\x09",
        b"\x05READY\x00\x00\x00\x00",
        b"\x04PING\x00\x00",
    ] {
        let mut wire = BytesMut::new();
        Frame::data(Bytes::copy_from_slice(body), false).encode(&mut wire);
        let (mut d, _r) = handshake(&keys);
        let err = d.receive(&mut wire, Instant::now()).unwrap_err();
        assert!(
            matches!(curve_error(&err), CurveError::Malformed { .. }),
            "{body:?}: {err:?}"
        );
    }
    // A MESSAGE in a command frame (as RFC 23 would send a command) is accepted too.
    let (mut d, mut r) = handshake(&keys);
    events(&mut d);
    r.send(&mp(&[b"via command frame"])).unwrap();
    let mut wire = r.take_output();
    wire[0] |= 0x04;
    d.receive(&mut wire, Instant::now()).unwrap();
    assert_eq!(
        events(&mut d),
        vec![Event::Message(mp(&[b"via command frame"]))]
    );
}

#[test]
fn curve_and_null_do_not_mix() {
    let keys = keys();
    let mut dealer = conn(SocketType::Dealer, b"", &client_config(&keys));
    let mut null = Connection::new(
        ConnectionConfig::new(SocketType::Router),
        Box::new(courier_proto::null::Null::new()),
        Instant::now(),
    );
    let (rd, _) = pump(&mut dealer, &mut null);
    assert!(matches!(rd, Err(ConnectionError::Greeting(_))), "{rd:?}");
    assert!(dealer.take_output().len() <= GREETING_LEN + 256);
}

#[test]
fn frame_limits_count_the_frames_not_the_boxes() {
    let keys = keys();
    let limits = Limits {
        max_frame_size: 100,
        max_message_size: 150,
        max_frames_per_message: 4,
    };
    let mk = || {
        let mut cfg = ConnectionConfig::new(SocketType::Router);
        cfg.limits = limits;
        Connection::new(
            cfg,
            server_config(&keys, Authorizer::allow_any()).mechanism(),
            Instant::now(),
        )
    };
    for (msg, ok) in [
        (mp(&[&[1u8; 100]]), true),
        (mp(&[&[1u8; 101]]), false),
        (mp(&[&[1u8; 100], &[2u8; 50]]), true),
        (mp(&[&[1u8; 100], &[2u8; 51]]), false),
    ] {
        let mut dealer = conn(SocketType::Dealer, b"", &client_config(&keys));
        let mut router = mk();
        let (a, b) = pump(&mut dealer, &mut router);
        a.unwrap();
        b.unwrap();
        dealer.send(&msg).unwrap();
        let mut wire = dealer.take_output();
        assert_eq!(
            router.receive(&mut wire, Instant::now()).is_ok(),
            ok,
            "{msg:?}"
        );
    }
}
