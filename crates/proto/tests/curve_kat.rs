//! Known-answer tests of the CURVE mechanism: a whole CurveZMQ transcript (HELLO, WELCOME and
//! its cookie, INITIATE and its vouch, READY, MESSAGE both ways) made by our client and server
//! from fixed keys and scripted random numbers, compared octet for octet with the same
//! transcript made by libsodium.
//!
//! The vectors come from `interop-tests/python/curve_kat.py`, which builds every box with
//! libsodium through PyNaCl's raw bindings (`crypto_box`, `crypto_secretbox`,
//! `crypto_box_beforenm`/`afternm`) and pyzmq's Z85, sharing no code with courier. Regenerate:
//! `target/interop-venv/bin/pip install pynacl` then
//! `target/interop-venv/bin/python interop-tests/python/curve_kat.py`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Bytes;
use courier_proto::command::Command;
use courier_proto::curve::rand_core::{self, CryptoRng, RngCore};
use courier_proto::curve::{
    Authorizer, ClientConfig, CurveClient, CurveServer, Keypair, SecretKey, ServerConfig,
};
use courier_proto::frame::Frame;
use courier_proto::greeting::{Greeting, MechanismName};
use courier_proto::mechanism::{Mechanism, Progress};
use courier_proto::metadata::{self, Metadata};

/// Hands out octet k as `(start + k) % 256`: the streams curve_kat.py assumes.
struct Stream(u8);

impl RngCore for Stream {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Stream {}

fn unhex(lines: &[&str]) -> Vec<u8> {
    let hex: String = lines.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn meta(socket_type: &str) -> Metadata {
    let mut m = Metadata::new();
    m.push(metadata::SOCKET_TYPE, socket_type.to_owned())
        .unwrap();
    m.push(metadata::IDENTITY, Bytes::new()).unwrap();
    m
}

fn one(out: &mut Vec<Frame>) -> Frame {
    assert_eq!(out.len(), 1, "{out:?}");
    let frame = out.pop().unwrap();
    assert!(frame.command && !frame.more);
    frame
}

#[test]
fn transcript_matches_libsodium() {
    let client_keys = Keypair::from_secret(
        SecretKey::from_z85("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs").unwrap(),
    );
    let server_keys = Keypair::from_secret(
        SecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap(),
    );
    let mut client = CurveClient::with_rng(
        ClientConfig::new(client_keys.clone(), *server_keys.public()),
        Box::new(Stream(0)),
    );
    let mut server = CurveServer::with_rng(
        ServerConfig::new(server_keys.secret().clone(), Authorizer::allow_any()),
        Box::new(Stream(0x80)),
    );
    let mut out = Vec::new();

    let to_server = Greeting::new(MechanismName::CURVE, false);
    let to_client = Greeting::new(MechanismName::CURVE, true);
    assert_eq!(
        server.start(&to_server, &meta("ROUTER"), &mut out).unwrap(),
        Progress::Continue
    );
    assert!(out.is_empty(), "the server speaks only after HELLO");
    client.start(&to_client, &meta("DEALER"), &mut out).unwrap();
    let hello = one(&mut out);
    assert_eq!(hello.body.as_ref(), unhex(HELLO), "HELLO");

    server.on_command(hello.body, &mut out).unwrap();
    let welcome = one(&mut out);
    assert_eq!(welcome.body.as_ref(), unhex(WELCOME), "WELCOME");

    assert_eq!(
        client.on_command(welcome.body, &mut out).unwrap(),
        Progress::Continue
    );
    let initiate = one(&mut out);
    assert_eq!(initiate.body.as_ref(), unhex(INITIATE), "INITIATE");

    let Progress::Done(client_meta) = server.on_command(initiate.body, &mut out).unwrap() else {
        panic!("the server is done after INITIATE")
    };
    assert_eq!(client_meta, meta("DEALER"));
    assert_eq!(server.peer_public_key(), Some(*client_keys.public()));
    let ready = one(&mut out);
    assert_eq!(ready.body.as_ref(), unhex(READY), "READY");

    let Progress::Done(server_meta) = client.on_command(ready.body, &mut out).unwrap() else {
        panic!("the client is done after READY")
    };
    assert_eq!(server_meta, meta("ROUTER"));
    assert_eq!(client.peer_public_key(), Some(*server_keys.public()));

    // Client to server: "Hello" with MORE, then an empty last frame.
    for (frame, expected) in [
        (Frame::data(&b"Hello"[..], true), CLIENT_MESSAGE_1),
        (Frame::data(Bytes::new(), false), CLIENT_MESSAGE_2),
    ] {
        let wire = client.encode(frame.clone()).unwrap();
        assert!(
            !wire.command && !wire.more,
            "libzmq 4.3.5 sends MESSAGE as a plain data frame"
        );
        assert_eq!(wire.body.as_ref(), unhex(expected));
        assert_eq!(server.decode(wire).unwrap(), frame);
    }
    // Server to client: a PING command, then "World".
    let ping = Command::Ping {
        ttl_deciseconds: 10,
        context: Bytes::new(),
    }
    .to_frame();
    for (frame, expected) in [
        (ping, SERVER_MESSAGE_1),
        (Frame::data(&b"World"[..], false), SERVER_MESSAGE_2),
    ] {
        let wire = server.encode(frame.clone()).unwrap();
        assert_eq!(wire.body.as_ref(), unhex(expected));
        assert_eq!(client.decode(wire).unwrap(), frame);
    }
}

// Generated by interop-tests/python/curve_kat.py (libsodium via PyNaCl 1.6, pyzmq 27.3).
const HELLO: &[&str] = &[
    "0548454c4c4f010000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000000000000000000000000000000000008f40c5adb68f25624ae5b214ea767a6e",
    "c94d829d3d7b5e1ad1ba6f3e2138285f000000000000000178490e29e5e6f089ef54e4f6ad14338a0a01ed142e6b9ca1",
    "36bfa3755d990f93b3dc2629851cd1e50d36e98b94b8d59c540cce051bc864074607194fd88d7d1e2052296aad0f7e3c",
    "359ee915acd54eac",
];
const WELCOME: &[&str] = &[
    "0757454c434f4d45d0d1d2d3d4d5d6d7d8d9dadbdcdddedfd6d06d61739aa098c9bfbbc6701acbed6609ad02f8410b42",
    "7984c9a8800656f4ac4156256aa7b31c8c820ae1fb7052b385a29b3a774908a93257c445e7b1c6818e0129a66ad60048",
    "af520b531c486a3aa08c18ad1f31e5017a2e00272c867f4af6b1a46eca298b521498937b4fcef87b295bf338ab57657a",
    "5842c06b28c7acc9bc260a1123b4d836844d4130e415d686",
];
const INITIATE: &[&str] = &[
    "08494e495449415445c0c1c2c3c4c5c6c7c8c9cacbcccdcecf2edd09b0a0def68d25082574aef65cb11a2fa1791f2fe3",
    "93207aea29a50a727ce9e399714db2c916f95bf68f4c19911b4ce06d1a02e2c2bdd3aed1b88f8dfd1337a1591f5139d0",
    "9052f2ae80b7e83ebf00000000000000024bd398447e73a2f39c2adb9f40e00d98dfb26c60c7f52b2061b8879dce81ae",
    "c7818766b4cc170b318e9d018bb47f067ea480766cb4c2c28ecab5a986f9319f0b997b93e73ddddfe298fc4efe7313dd",
    "7944dee2e399b702822d480391eb1e16dc1262ed2f6e3741e05fba24b0a0e5889a90695542ea82d9e5649083b6651500",
    "b4594327ca5afecabfc188768287f66713e3c4a4d1788aa37dfbaa7de049b445b4e3201c6b2d395928f9af06a43b2ccb",
    "7dcf2c29",
];
const READY: &[&str] = &[
    "05524541445900000000000000016d7243367ccaf3f0c90a415fe4c4a01ff0d1fb44999e8b303209cf49cf7b6f0d43dd",
    "62e335ff8dbc6fc2d13925ceda017a5bc7",
];
const CLIENT_MESSAGE_1: &[&str] =
    &["074d45535341474500000000000000037ae41d1520a4afe6ca0023dfed4d90c40cf1cfdf4b96"];
const CLIENT_MESSAGE_2: &[&str] =
    &["074d4553534147450000000000000004ba1d52e13d3a256eab5d5594500a1bb800"];
const SERVER_MESSAGE_1: &[&str] =
    &["074d4553534147450000000000000002107b69a95b2b77441af763dfec29f3b7dc349bc38916f05c"];
const SERVER_MESSAGE_2: &[&str] =
    &["074d455353414745000000000000000328256dc42bf31ca7803dabc00a9221419f68d33ef1d1"];
