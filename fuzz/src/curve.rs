//! The checks behind `curve_server` and `curve_client`: a CURVE [`Connection`] (ROUTER +
//! `CurveServer`, or DEALER + `CurveClient`) fed bytes a fuzzer chose, from fixed long-term
//! keys and scripted random numbers, so that every run is reproducible and a genuine handshake
//! recorded once ([`Transcript`]) replays octet for octet.
//!
//! Because every secret is known (the long-term keys are constants, the transient keys and the
//! cookie key come from [`Stream`]), this module can also *forge* well-formed boxes around
//! plaintext the fuzzer picks (independently of `courier_proto`'s crypto code, over the same
//! primitives): HELLO, INITIATE and MESSAGE for the server, WELCOME, READY and MESSAGE for the
//! client. That takes the fuzzer past the authenticators, to the vouch, the metadata, the
//! nonce checks and the MESSAGE flags.
//!
//! # Input
//!
//! ```text
//! octet 0   bit 7     first replay a genuine handshake (the rest is post-handshake traffic)
//!           bit 6     small limits (40-octet frames, 100-octet messages, 4 frames)
//!           bits 0-5  chunk size minus one for the chunked run (64: all at once)
//! octet 1   mode, modulo 3:
//!           0 raw     the rest is wire bytes, verbatim
//!           1 split   the rest is cut at every "\xF0CUT" into bodies, each sent as one frame
//!                     (a command frame before the handshake, a data frame after it)
//!           2 ops     the rest is a script of operations (see [`OP_RAW`] and below)
//! ```
//!
//! Before the rest, the connection always gets a valid CURVE greeting from its peer (and, with
//! bit 7, the peer's genuine handshake commands).
//!
//! # Properties
//!
//! Each input is run twice: once fed piece by piece (one piece per operation), once in chunks
//! of the control octet's size. Both runs must give the same events, error, output and octets
//! consumed. Then:
//!
//! - no panic; the connection only consumes the front of its input; `wanted()` is at least 1;
//! - events, message octets and output are bounded by the input consumed;
//! - the first error is a real failure (not `Failed`, `NotReady` or `LocalMetadata`) and a
//!   failed connection stays failed (`receive` and `send` return `Failed`);
//! - the handshake completes at most once, first, with the right peer key (the server only
//!   accepts the one authorized client key; the client only accepts the configured server);
//! - what the connection writes is well formed: the server only WELCOME, READY (iff the
//!   handshake completed), ERROR (last, "400" for an unauthorized client) and, after READY,
//!   MESSAGE; the client only HELLO, INITIATE and, once done, MESSAGE, never ERROR;
//! - a forged handshake command with a defect (tampered box, wrong key, bad vouch, unauthorized
//!   key, low-order point, bad version or padding, replayed nonce, wrong length) fails the
//!   connection at once;
//! - a forged MESSAGE whose short nonce is not above the last accepted one fails with exactly
//!   `NonceReplay`, a tampered one (or one boxed for the other direction) with `BadBox`, and a
//!   good one never with either.

use std::sync::OnceLock;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use courier_proto::command::Command;
use courier_proto::connection::{Connection, ConnectionConfig, ConnectionError, Event};
use courier_proto::curve::rand_core::{self, CryptoRng, RngCore};
use courier_proto::curve::{
    Authorizer, ClientConfig, CurveClient, CurveError, CurveServer, Keypair, SecretKey,
    ServerConfig, MESSAGE_OVERHEAD, UNAUTHORIZED_REASON,
};
use courier_proto::frame::{Frame, FrameDecoder, Limits};
use courier_proto::greeting::{Greeting, MechanismName, GREETING_LEN};
use courier_proto::mechanism::HandshakeError;
use courier_proto::message::Multipart;
use courier_proto::metadata::{self, Metadata};
use courier_proto::socket_type::SocketType;
use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Kdf, Key, Nonce, XSalsa20Poly1305};
use curve25519_dalek::montgomery::MontgomeryPoint;

use crate::control;

// ---------------------------------------------------------------------------------------------
// Fixed keys, scripted randomness and an independent crypto_box
// ---------------------------------------------------------------------------------------------

/// The server's long-term secret key.
pub const SERVER_SECRET: [u8; 32] = *b"courier fuzz: server long-term!!";
/// The (only authorized) client's long-term secret key.
pub const CLIENT_SECRET: [u8; 32] = *b"courier fuzz: client long-term!!";
/// Another client's long-term secret key: valid, but not authorized.
pub const OTHER_SECRET: [u8; 32] = *b"courier fuzz: intruder key pair!";
/// First octet of the client's random stream (its transient key, then the vouch nonce).
pub const CLIENT_RNG_START: u8 = 0x00;
/// First octet of the server's random stream (transient key, cookie key, cookie and WELCOME
/// nonces).
pub const SERVER_RNG_START: u8 = 0x80;
/// What `split` mode cuts bodies at.
pub const SEPARATOR: &[u8] = b"\xF0CUT";

/// Scripted randomness: octet k is `(start + k) % 256` (as in `curve_kat.rs`).
#[derive(Debug, Clone)]
pub struct Stream(pub u8);

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

fn take<const N: usize>(rng: &mut Stream) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// X25519 public key of a secret key (memoized for the fixed and scripted keys: a scalar
/// multiplication per call would slow every execution down).
pub fn public_of(secret: &[u8; 32]) -> [u8; 32] {
    static KNOWN: OnceLock<Vec<([u8; 32], [u8; 32])>> = OnceLock::new();
    let compute = |s: &[u8; 32]| MontgomeryPoint::mul_base_clamped(*s).to_bytes();
    let known = KNOWN.get_or_init(|| {
        let client_transient = take::<32>(&mut Stream(CLIENT_RNG_START));
        let server_transient = take::<32>(&mut Stream(SERVER_RNG_START));
        [
            SERVER_SECRET,
            CLIENT_SECRET,
            OTHER_SECRET,
            client_transient,
            server_transient,
        ]
        .iter()
        .map(|s| (*s, compute(s)))
        .collect()
    });
    known
        .iter()
        .find(|(s, _)| s == secret)
        .map_or_else(|| compute(secret), |(_, p)| *p)
}

/// A NaCl box key (`crypto_box_beforenm`, or a `crypto_secretbox` key), for forging.
#[derive(Clone)]
pub struct Sealer(XSalsa20Poly1305);

impl Sealer {
    /// `crypto_box_beforenm(peer_public, our_secret)` (whatever the point: a low-order one
    /// gives the all-zero secret, which the connection under test will refuse anyway).
    pub fn shared(peer_public: &[u8; 32], our_secret: &[u8; 32]) -> Sealer {
        let shared = MontgomeryPoint(*peer_public).mul_clamped(*our_secret);
        let key = <XSalsa20Poly1305 as Kdf>::kdf(
            Key::from_slice(shared.as_bytes()),
            &GenericArray::default(),
        );
        Sealer(XSalsa20Poly1305::new(&key))
    }

    /// A `crypto_secretbox` key.
    pub fn secret(key: &[u8; 32]) -> Sealer {
        Sealer(XSalsa20Poly1305::new(Key::from_slice(key)))
    }

    /// The box of `plain`: 16-octet tag, then the ciphertext.
    pub fn seal(&self, prefix: &[u8], suffix: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = Nonce::default();
        for (slot, b) in nonce.iter_mut().zip(prefix.iter().chain(suffix)) {
            *slot = *b;
        }
        let mut body = plain.to_vec();
        let tag = self
            .0
            .encrypt_in_place_detached(&nonce, b"", &mut body)
            .map(|t| t.to_vec())
            .unwrap_or_else(|_| vec![0; 16]);
        [tag, body].concat()
    }
}

const HELLO_PREFIX: &[u8] = b"CurveZMQHELLO---";
const WELCOME_PREFIX: &[u8] = b"WELCOME-";
const COOKIE_PREFIX: &[u8] = b"COOKIE--";
const INITIATE_PREFIX: &[u8] = b"CurveZMQINITIATE";
const VOUCH_PREFIX: &[u8] = b"VOUCH---";
const READY_PREFIX: &[u8] = b"CurveZMQREADY---";
const MESSAGE_C: &[u8] = b"CurveZMQMESSAGEC";
const MESSAGE_S: &[u8] = b"CurveZMQMESSAGES";

/// Low-order points (their shared secret with any key is zero).
const LOW_ORDER: [[u8; 32]; 2] = [[0; 32], {
    let mut one = [0u8; 32];
    one[0] = 1;
    one
}];

// ---------------------------------------------------------------------------------------------
// The connections under test and the genuine transcript
// ---------------------------------------------------------------------------------------------

/// Which side of CURVE the connection under test plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A ROUTER with `CurveServer` (its peer: our forged client).
    Server,
    /// A DEALER with `CurveClient` (its peer: our forged server).
    Client,
}

/// A fresh connection for `role`: fixed keys, scripted randomness, the given limits.
pub fn connection(role: Role, limits: Limits) -> Connection {
    match role {
        Role::Server => {
            let mut cfg = ConnectionConfig::new(SocketType::Router);
            cfg.limits = limits;
            let config = ServerConfig::new(
                SecretKey::from_bytes(SERVER_SECRET),
                Authorizer::allow_keys([public_of(&CLIENT_SECRET)]),
            );
            let mech = CurveServer::with_rng(config, Box::new(Stream(SERVER_RNG_START)));
            Connection::new(cfg, Box::new(mech), Instant::now())
        }
        Role::Client => {
            let mut cfg = ConnectionConfig::new(SocketType::Dealer);
            cfg.identity = Bytes::from_static(b"fuzz");
            cfg.limits = limits;
            let config = ClientConfig::new(
                Keypair::from_secret(SecretKey::from_bytes(CLIENT_SECRET)),
                public_of(&SERVER_SECRET),
            );
            let mech = CurveClient::with_rng(config, Box::new(Stream(CLIENT_RNG_START)));
            Connection::new(cfg, Box::new(mech), Instant::now())
        }
    }
}

/// A genuine handshake between [`connection`]`(Server)` and [`connection`]`(Client)`, plus a
/// few messages each way, and every secret behind it.
pub struct Transcript {
    /// The client's greeting (as-server 0).
    pub client_greeting: Vec<u8>,
    /// The server's greeting (as-server 1).
    pub server_greeting: Vec<u8>,
    /// Command bodies.
    pub hello: Bytes,
    /// WELCOME body.
    pub welcome: Bytes,
    /// INITIATE body.
    pub initiate: Bytes,
    /// READY body.
    pub ready: Bytes,
    /// MESSAGE bodies from the client after the handshake (short nonces 3, 4, 5...).
    pub client_messages: Vec<Bytes>,
    /// MESSAGE bodies from the server after the handshake (short nonces 2, 3...).
    pub server_messages: Vec<Bytes>,
    /// Client transient secret c'.
    pub client_transient: [u8; 32],
    /// Server transient secret s'.
    pub server_transient: [u8; 32],
    /// The server's cookie key.
    pub cookie_key: [u8; 32],
    /// The cookie's long nonce.
    pub cookie_nonce: [u8; 16],
    /// WELCOME's long nonce.
    pub welcome_nonce: [u8; 16],
    /// The vouch's long nonce.
    pub vouch_nonce: [u8; 16],
    /// The cookie inside WELCOME (96 octets).
    pub cookie: Vec<u8>,
    /// The client's metadata (as in INITIATE).
    pub client_metadata: Vec<u8>,
    /// The server's metadata (as in READY).
    pub server_metadata: Vec<u8>,
    /// Box(C', s') = Box(S', c'): READY and MESSAGE.
    pub session: Sealer,
}

impl Transcript {
    /// The genuine handshake commands the peer of `role` sends, framed (after its greeting).
    pub fn peer_commands(&self, role: Role) -> Vec<u8> {
        let mut out = BytesMut::new();
        let (a, b) = match role {
            Role::Server => (&self.hello, &self.initiate),
            Role::Client => (&self.welcome, &self.ready),
        };
        Frame::command(a.clone()).encode(&mut out);
        Frame::command(b.clone()).encode(&mut out);
        out.to_vec()
    }

    /// The greeting the peer of `role` sends.
    pub fn peer_greeting(&self, role: Role) -> &[u8] {
        match role {
            Role::Server => &self.client_greeting,
            Role::Client => &self.server_greeting,
        }
    }

    /// The MESSAGE bodies the peer of `role` sent after the handshake.
    pub fn peer_messages(&self, role: Role) -> &[Bytes] {
        match role {
            Role::Server => &self.client_messages,
            Role::Client => &self.server_messages,
        }
    }
}

fn frames_of(wire: &[u8]) -> Vec<Frame> {
    let mut dec = FrameDecoder::new(Limits::default());
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Ok(Some(f)) = dec.decode(&mut buf) {
        out.push(f);
    }
    assert!(buf.is_empty(), "transcript: trailing octets");
    out
}

fn one_command(wire: &[u8]) -> Bytes {
    let mut frames = frames_of(wire);
    assert_eq!(frames.len(), 1, "transcript: one command expected");
    let f = frames.remove(0);
    assert!(f.command);
    f.body
}

fn build_transcript() -> Transcript {
    let mut server = connection(Role::Server, Limits::default());
    let mut client = connection(Role::Client, Limits::default());
    let server_greeting = server.take_output().to_vec();
    let client_greeting = client.take_output().to_vec();
    assert_eq!(server_greeting.len(), GREETING_LEN);
    assert_eq!(client_greeting.len(), GREETING_LEN);

    let feed = |conn: &mut Connection, bytes: &[u8]| {
        let mut input = BytesMut::from(bytes);
        conn.receive(&mut input, Instant::now()).expect("transcript handshake");
        assert!(input.is_empty());
        conn.take_output().to_vec()
    };
    let hello = one_command(&feed(&mut client, &server_greeting));
    let first = [&client_greeting[..], &wire_of(&hello)].concat();
    let welcome = one_command(&feed(&mut server, &first));
    let initiate = one_command(&feed(&mut client, &wire_of(&welcome)));
    let ready = one_command(&feed(&mut server, &wire_of(&initiate)));
    assert!(feed(&mut client, &wire_of(&ready)).is_empty());
    assert!(client.is_active() && server.is_active(), "transcript handshake");

    let mp = |frames: &[&[u8]]| {
        Multipart::new(frames.iter().map(|f| Bytes::copy_from_slice(f)).collect())
            .expect("multipart")
    };
    client.send(&mp(&[b"hello", b"", b"world"])).expect("send");
    client.ping(30, Bytes::from_static(b"ctx")).expect("ping");
    client.send(&mp(&[b"bye"])).expect("send");
    let client_messages = frames_of(&client.take_output())
        .into_iter()
        .map(|f| f.body)
        .collect();
    server.send(&mp(&[b"reply", b"x"])).expect("send");
    server.ping(0, Bytes::new()).expect("ping");
    let server_messages = frames_of(&server.take_output())
        .into_iter()
        .map(|f| f.body)
        .collect();

    // Every secret, from the scripted streams (in the order the mechanisms draw them).
    let mut crng = Stream(CLIENT_RNG_START);
    let client_transient = take::<32>(&mut crng);
    let vouch_nonce = take::<16>(&mut crng);
    let mut srng = Stream(SERVER_RNG_START);
    let server_transient = take::<32>(&mut srng);
    let cookie_key = take::<32>(&mut srng);
    let cookie_nonce = take::<16>(&mut srng);
    let welcome_nonce = take::<16>(&mut srng);
    let c_pub = public_of(&client_transient);
    let s_pub = public_of(&server_transient);
    let cookie = [
        &cookie_nonce[..],
        &Sealer::secret(&cookie_key).seal(
            COOKIE_PREFIX,
            &cookie_nonce,
            &[c_pub, server_transient].concat(),
        ),
    ]
    .concat();
    let meta = |t: SocketType, id: &'static [u8]| {
        let mut m = Metadata::new();
        m.push(metadata::SOCKET_TYPE, t.as_str()).expect("meta");
        m.push(metadata::IDENTITY, Bytes::from_static(id))
            .expect("meta");
        let mut out = BytesMut::new();
        m.encode(&mut out);
        out.to_vec()
    };
    let t = Transcript {
        client_greeting,
        server_greeting,
        hello,
        welcome,
        initiate,
        ready,
        client_messages,
        server_messages,
        client_transient,
        server_transient,
        cookie_key,
        cookie_nonce,
        welcome_nonce,
        vouch_nonce,
        cookie,
        client_metadata: meta(SocketType::Dealer, b"fuzz"),
        server_metadata: meta(SocketType::Router, b""),
        session: Sealer::shared(&s_pub, &client_transient),
    };

    // The forger must reproduce the genuine commands exactly, or its boxes mean nothing.
    let mut f = Forger::new(&t, Role::Server, Limits::default());
    assert_eq!(f.hello_body(&HelloSpec::default()).0, t.hello, "forged HELLO");
    assert_eq!(
        f.initiate_body(&InitiateSpec::default()).0,
        t.initiate,
        "forged INITIATE"
    );
    f.after_handshake();
    assert_eq!(
        f.message_body(&MessageSpec::data(b"hello", true)).0,
        t.client_messages[0],
        "forged MESSAGE"
    );
    let mut f = Forger::new(&t, Role::Client, Limits::default());
    assert_eq!(
        f.welcome_body(&WelcomeSpec::default()).0,
        t.welcome,
        "forged WELCOME"
    );
    assert_eq!(f.ready_body(&ReadySpec::default()).0, t.ready, "forged READY");
    t
}

fn wire_of(body: &Bytes) -> Vec<u8> {
    wire_frame(Frame::command(body.clone()))
}

/// The genuine transcript (built, and cross-checked against the forger, once per process).
pub fn transcript() -> &'static Transcript {
    static T: OnceLock<Transcript> = OnceLock::new();
    T.get_or_init(build_transcript)
}

// ---------------------------------------------------------------------------------------------
// Forging
// ---------------------------------------------------------------------------------------------

/// Reads operation arguments; missing octets read as zero.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn key(&mut self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.iter_mut()
            .zip(self.bytes(32))
            .for_each(|(s, b)| *s = *b);
        k
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A key the fuzzer picks: the genuine one, one made from a secret octet, a low-order point,
/// or 32 raw octets (secret unknown).
#[derive(Debug, Clone, Copy, Default)]
enum KeyChoice {
    #[default]
    Genuine,
    Secret(u8),
    LowOrder(u8),
    Raw([u8; 32]),
}

impl KeyChoice {
    fn read(sel: u8, r: &mut Reader<'_>) -> KeyChoice {
        match sel & 3 {
            0 => KeyChoice::Genuine,
            1 => KeyChoice::Secret(r.u8()),
            2 => KeyChoice::LowOrder(r.u8()),
            _ => KeyChoice::Raw(r.key()),
        }
    }

    /// (public, secret if known), `genuine` being the genuine secret.
    fn resolve(self, genuine: &[u8; 32]) -> ([u8; 32], Option<[u8; 32]>) {
        match self {
            KeyChoice::Genuine => (public_of(genuine), Some(*genuine)),
            KeyChoice::Secret(b) => {
                let mut s = [b; 32];
                s[31] = 0x5A;
                (public_of(&s), Some(s))
            }
            KeyChoice::LowOrder(b) => (LOW_ORDER[usize::from(b & 1)], None),
            KeyChoice::Raw(k) => {
                let s = (k == public_of(genuine)).then_some(*genuine);
                (k, s)
            }
        }
    }
}

/// Metadata the fuzzer picks: raw octets, or encoded properties with a chosen Socket-Type.
#[derive(Debug, Clone, Default)]
enum MetaChoice {
    /// The genuine metadata.
    #[default]
    Genuine,
    /// Raw octets (maybe malformed).
    Raw(Vec<u8>),
    /// Socket-Type from a list (or none, or garbage), and an Identity.
    Typed(u8, Vec<u8>),
}

const SOCKET_TYPES: [&str; 7] = ["DEALER", "ROUTER", "REQ", "PUB", "dealer", "X", ""];

impl MetaChoice {
    fn read(r: &mut Reader<'_>) -> MetaChoice {
        let sel = r.u8();
        match sel % 3 {
            0 => MetaChoice::Genuine,
            1 => {
                let n = usize::from(r.u8());
                MetaChoice::Raw(r.bytes(n).to_vec())
            }
            _ => {
                let n = usize::from(r.u8() % 32);
                MetaChoice::Typed(sel / 3, r.bytes(n).to_vec())
            }
        }
    }

    fn bytes(&self, genuine: &[u8]) -> Vec<u8> {
        match self {
            MetaChoice::Genuine => genuine.to_vec(),
            MetaChoice::Raw(b) => b.clone(),
            MetaChoice::Typed(t, id) => {
                let mut m = Metadata::new();
                let i = usize::from(*t) % (SOCKET_TYPES.len() + 1);
                if let Some(name) = SOCKET_TYPES.get(i) {
                    let _ = m.push(metadata::SOCKET_TYPE, *name);
                }
                let _ = m.push(metadata::IDENTITY, Bytes::from(id.clone()));
                let mut out = BytesMut::new();
                m.encode(&mut out);
                out.to_vec()
            }
        }
    }
}

/// A flip of one octet (`at` modulo the length) with a non-zero mask.
#[derive(Debug, Clone, Copy)]
struct Tamper {
    at: u8,
    mask: u8,
}

impl Tamper {
    fn read(on: bool, r: &mut Reader<'_>) -> Option<Tamper> {
        on.then(|| Tamper {
            at: r.u8(),
            mask: r.u8() | 1,
        })
    }

    fn apply(t: Option<Tamper>, bytes: &mut [u8]) {
        if let (Some(t), false) = (t, bytes.is_empty()) {
            let i = usize::from(t.at) % bytes.len();
            if let Some(b) = bytes.get_mut(i) {
                *b ^= t.mask;
            }
        }
    }
}

/// A change of length: drop `n` octets from the end (n > 0), or append one.
fn resize(bytes: &mut Vec<u8>, delta: Option<u8>) {
    match delta {
        Some(0) => bytes.push(0),
        Some(n) => bytes.truncate(bytes.len().saturating_sub(usize::from(n))),
        None => {}
    }
}

fn short_nonce(sel: u8, r: &mut Reader<'_>, next: u64) -> u64 {
    match sel & 3 {
        0 => next,
        1 => next.saturating_sub(1),
        2 => u64::from(r.u8()),
        _ => {
            let (hi, lo) = (r.u8(), r.u8());
            if lo & 0x80 != 0 {
                u64::MAX
            } else {
                next.saturating_add(u64::from(hi) << 32)
            }
        }
    }
}

/// A HELLO the fuzzer describes.
#[derive(Debug, Clone, Default)]
struct HelloSpec {
    version: Option<(u8, u8)>,
    padding: Option<(u8, u8)>,
    transient: KeyChoice,
    nonce_sel: u8,
    nonce_arg: Vec<u8>,
    signature: Option<Tamper>,
    tamper: Option<Tamper>,
    resize: Option<u8>,
    wrong_server: bool,
}

/// An INITIATE the fuzzer describes.
#[derive(Debug, Clone, Default)]
struct InitiateSpec {
    /// 0 genuine for the HELLO, 1 random octets, 2 tampered, 3 made for another s'.
    cookie: u8,
    cookie_arg: Vec<u8>,
    nonce_sel: u8,
    nonce_arg: Vec<u8>,
    client_key: KeyChoice,
    other_client: bool,
    vouch_content: Option<Tamper>,
    vouch_box: Option<Tamper>,
    tamper: Option<Tamper>,
    resize: Option<u8>,
    metadata: MetaChoice,
}

/// A WELCOME the fuzzer describes.
#[derive(Debug, Clone, Default)]
struct WelcomeSpec {
    transient: KeyChoice,
    random_cookie: Option<Vec<u8>>,
    wrong_server: bool,
    wrong_client: bool,
    tamper: Option<Tamper>,
    resize: Option<u8>,
    long_nonce: u8,
}

/// A READY the fuzzer describes.
#[derive(Debug, Clone, Default)]
struct ReadySpec {
    nonce: Option<u64>,
    tamper: Option<Tamper>,
    resize: Option<u8>,
    metadata: MetaChoice,
}

/// A MESSAGE the fuzzer describes.
#[derive(Debug, Clone)]
struct MessageSpec {
    nonce_sel: u8,
    nonce_arg: Vec<u8>,
    flags: u8,
    payload: Vec<u8>,
    tamper: Option<Tamper>,
    wrong_direction: bool,
    outer_command: bool,
    outer_long: bool,
}

impl MessageSpec {
    fn data(payload: &[u8], more: bool) -> MessageSpec {
        MessageSpec {
            nonce_sel: 0,
            nonce_arg: Vec::new(),
            flags: u8::from(more),
            payload: payload.to_vec(),
            tamper: None,
            wrong_direction: false,
            outer_command: false,
            outer_long: false,
        }
    }
}

/// What the run must see when a piece is fed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Nothing in particular.
    Any,
    /// The piece carries a defective handshake command: the connection must fail on it.
    Fail,
    /// The piece completes the handshake if it succeeds: MESSAGE checks may start.
    Handshake,
    /// A forged MESSAGE, checked if the connection is active and its state is known.
    Message {
        /// Its short nonce.
        nonce: u64,
        /// The last short nonce the connection accepted from the peer (per the model).
        previous: u64,
        /// Tampered with, or boxed for the other direction.
        bad_box: bool,
    },
}

/// One piece of input and what feeding it must do.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Octets.
    pub bytes: Vec<u8>,
    /// Expectation.
    pub expect: Expect,
}

/// Builds wire input for a role's peer, keeping a model of what the connection has accepted.
struct Forger<'t> {
    t: &'t Transcript,
    role: Role,
    limits: Limits,
    /// Every piece so far was whole frames (no raw octets).
    synced: bool,
    /// The model's session state is valid (no unmodelled frames since it was set).
    known: bool,
    /// Server role: the accepted HELLO's C' (public, secret if known) and short nonce.
    hello_transient: ([u8; 32], Option<[u8; 32]>),
    hello_nonce: u64,
    hello_known: bool,
    /// Client role: the S' of the last WELCOME (public, secret if known).
    server_transient: ([u8; 32], Option<[u8; 32]>),
    /// The session key the peer seals MESSAGE with.
    session: Sealer,
    /// The last short nonce the connection accepted from the peer (model).
    peer_nonce: u64,
    /// The peer's short nonce counter (for "next").
    next_nonce: u64,
    /// The connection is active (model).
    active: bool,
}

impl<'t> Forger<'t> {
    fn new(t: &'t Transcript, role: Role, limits: Limits) -> Self {
        Forger {
            t,
            role,
            limits,
            synced: true,
            known: false,
            hello_transient: (public_of(&t.client_transient), Some(t.client_transient)),
            hello_nonce: 1,
            hello_known: false,
            server_transient: (public_of(&t.server_transient), Some(t.server_transient)),
            session: t.session.clone(),
            peer_nonce: 0,
            next_nonce: 1,
            active: false,
        }
    }

    /// After the genuine handshake.
    fn after_handshake(&mut self) {
        self.known = true;
        self.active = true;
        self.hello_known = true;
        self.session = self.t.session.clone();
        (self.peer_nonce, self.next_nonce) = match self.role {
            Role::Server => (2, 3),
            Role::Client => (1, 2),
        };
    }

    fn hello_body(&mut self, s: &HelloSpec) -> (Bytes, bool) {
        let (c_pub, c_sec) = s.transient.resolve(&self.t.client_transient);
        let mut r = Reader(&s.nonce_arg);
        let nonce = short_nonce(s.nonce_sel, &mut r, 1);
        let server = if s.wrong_server {
            public_of(&OTHER_SECRET)
        } else {
            public_of(&SERVER_SECRET)
        };
        let mut signature = [0u8; 64];
        Tamper::apply(s.signature, &mut signature);
        let sealed = Sealer::shared(&server, &c_sec.unwrap_or(self.t.client_transient)).seal(
            HELLO_PREFIX,
            &nonce.to_be_bytes(),
            &signature,
        );
        let (major, minor) = s.version.unwrap_or((1, 0));
        let mut body = b"\x05HELLO".to_vec();
        body.extend_from_slice(&[major, minor]);
        let mut padding = [0u8; 72];
        if let Some((at, v)) = s.padding {
            padding[usize::from(at) % 72] = v | 1;
        }
        body.extend_from_slice(&padding);
        body.extend_from_slice(&c_pub);
        body.extend_from_slice(&nonce.to_be_bytes());
        let box_start = body.len();
        body.extend_from_slice(&sealed);
        Tamper::apply(s.tamper, &mut body[box_start..]);
        resize(&mut body, s.resize);
        let defective = (major, minor) != (1, 0)
            || s.padding.is_some()
            || c_sec.is_none()
            || s.signature.is_some()
            || s.tamper.is_some()
            || s.resize.is_some()
            || s.wrong_server;
        self.hello_transient = (c_pub, c_sec);
        self.hello_nonce = nonce;
        self.hello_known = true;
        (Bytes::from(body), defective)
    }

    fn initiate_body(&mut self, s: &InitiateSpec) -> (Bytes, bool) {
        let t = self.t;
        let (c_t_pub, c_t_sec) = self.hello_transient;
        let mut defective = c_t_sec.is_none();
        // The cookie: what the server made for the HELLO (C' and its s'), or not.
        // Mode 3: a cookie for another s' (valid: the cookie key is what authenticates it).
        let s_t = match s.cookie & 3 {
            3 => [s.cookie_arg.first().copied().unwrap_or(0) | 0x40; 32],
            _ => t.server_transient,
        };
        let sealed = Sealer::secret(&t.cookie_key).seal(
            COOKIE_PREFIX,
            &t.cookie_nonce,
            &[c_t_pub, s_t].concat(),
        );
        let good_cookie = [&t.cookie_nonce[..], &sealed].concat();
        let cookie = match s.cookie & 3 {
            1 => {
                let mut c = s.cookie_arg.clone();
                c.resize(96, 0);
                c
            }
            2 => {
                let mut c = good_cookie.clone();
                let at = s.cookie_arg.first().copied().unwrap_or(0);
                Tamper::apply(Some(Tamper { at, mask: 0x80 }), &mut c);
                c
            }
            _ => good_cookie.clone(),
        };
        defective |= cookie != good_cookie;
        let mut r = Reader(&s.nonce_arg);
        let nonce = short_nonce(s.nonce_sel, &mut r, self.hello_nonce.saturating_add(1));
        if self.hello_known && nonce <= self.hello_nonce {
            defective = true;
        }
        let genuine_client = if s.other_client {
            OTHER_SECRET
        } else {
            CLIENT_SECRET
        };
        let (c_pub, c_sec) = s.client_key.resolve(&genuine_client);
        // Only the authorized key may pass (whatever other key the fuzzer picks).
        let authorized = public_of(&CLIENT_SECRET);
        let vouch_secret = if c_pub == authorized {
            CLIENT_SECRET
        } else {
            c_sec.unwrap_or(CLIENT_SECRET)
        };
        defective |= c_pub != authorized;
        let s_t_pub = public_of(&s_t);
        let mut vouched = [c_t_pub, public_of(&SERVER_SECRET)].concat();
        Tamper::apply(s.vouch_content, &mut vouched);
        let mut vouch = Sealer::shared(&s_t_pub, &vouch_secret).seal(
            VOUCH_PREFIX,
            &t.vouch_nonce,
            &vouched,
        );
        Tamper::apply(s.vouch_box, &mut vouch);
        let meta = s.metadata.bytes(&t.client_metadata);
        let plain = [&c_pub[..], &t.vouch_nonce, &vouch, &meta].concat();
        let session = Sealer::shared(&s_t_pub, &c_t_sec.unwrap_or(t.client_transient));
        let sealed = session.seal(INITIATE_PREFIX, &nonce.to_be_bytes(), &plain);
        let mut body = b"\x08INITIATE".to_vec();
        body.extend_from_slice(&cookie);
        body.extend_from_slice(&nonce.to_be_bytes());
        let box_start = body.len();
        body.extend_from_slice(&sealed);
        Tamper::apply(s.tamper, &mut body[box_start..]);
        resize(&mut body, s.resize);
        defective |= s.vouch_content.is_some()
            || s.vouch_box.is_some()
            || s.tamper.is_some()
            || s.resize.is_some();
        self.session = session;
        self.peer_nonce = nonce;
        self.next_nonce = nonce.saturating_add(1);
        (Bytes::from(body), defective)
    }

    fn welcome_body(&mut self, s: &WelcomeSpec) -> (Bytes, bool) {
        let t = self.t;
        let (s_pub, s_sec) = s.transient.resolve(&t.server_transient);
        let cookie = s.random_cookie.clone().map_or_else(
            || t.cookie.clone(),
            |mut c| {
                c.resize(96, 0);
                c
            },
        );
        let server = if s.wrong_server {
            OTHER_SECRET
        } else {
            SERVER_SECRET
        };
        let client_t = if s.wrong_client {
            public_of(&OTHER_SECRET)
        } else {
            public_of(&t.client_transient)
        };
        let mut long_nonce = t.welcome_nonce;
        long_nonce[0] ^= s.long_nonce;
        let sealed = Sealer::shared(&client_t, &server).seal(
            WELCOME_PREFIX,
            &long_nonce,
            &[&s_pub[..], &cookie].concat(),
        );
        let mut body = b"\x07WELCOME".to_vec();
        body.extend_from_slice(&long_nonce);
        let box_start = body.len();
        body.extend_from_slice(&sealed);
        Tamper::apply(s.tamper, &mut body[box_start..]);
        resize(&mut body, s.resize);
        let defective = matches!(s.transient, KeyChoice::LowOrder(_))
            || s.wrong_server
            || s.wrong_client
            || s.tamper.is_some()
            || s.resize.is_some();
        self.server_transient = (s_pub, s_sec);
        (Bytes::from(body), defective)
    }

    fn ready_body(&mut self, s: &ReadySpec) -> (Bytes, bool) {
        let t = self.t;
        let (s_pub, s_sec) = self.server_transient;
        let nonce = s.nonce.unwrap_or(1);
        let session = match s_sec {
            Some(sec) => Sealer::shared(&public_of(&t.client_transient), &sec),
            None => t.session.clone(),
        };
        let meta = s.metadata.bytes(&t.server_metadata);
        let sealed = session.seal(READY_PREFIX, &nonce.to_be_bytes(), &meta);
        let mut body = b"\x05READY".to_vec();
        body.extend_from_slice(&nonce.to_be_bytes());
        let box_start = body.len();
        body.extend_from_slice(&sealed);
        Tamper::apply(s.tamper, &mut body[box_start..]);
        resize(&mut body, s.resize);
        let defective = (s_sec.is_none() && s_pub != public_of(&t.server_transient))
            || s.tamper.is_some()
            || s.resize.is_some();
        self.session = session;
        self.peer_nonce = nonce;
        self.next_nonce = nonce.saturating_add(1);
        (Bytes::from(body), defective)
    }

    /// A MESSAGE body and its expectation (before the model is updated).
    fn message_body(&mut self, s: &MessageSpec) -> (Bytes, Expect) {
        let mut r = Reader(&s.nonce_arg);
        let nonce = short_nonce(s.nonce_sel, &mut r, self.next_nonce);
        let prefix = match (self.role, s.wrong_direction) {
            (Role::Server, false) | (Role::Client, true) => MESSAGE_C,
            _ => MESSAGE_S,
        };
        let plain = [&[s.flags][..], &s.payload].concat();
        let sealed = self.session.seal(prefix, &nonce.to_be_bytes(), &plain);
        let mut body = b"\x07MESSAGE".to_vec();
        body.extend_from_slice(&nonce.to_be_bytes());
        let box_start = body.len();
        body.extend_from_slice(&sealed);
        Tamper::apply(s.tamper, &mut body[box_start..]);
        let expect = Expect::Message {
            nonce,
            previous: self.peer_nonce,
            bad_box: s.tamper.is_some() || s.wrong_direction,
        };
        if nonce > self.peer_nonce && s.tamper.is_none() && !s.wrong_direction {
            self.peer_nonce = nonce;
        }
        self.next_nonce = nonce.saturating_add(1);
        (Bytes::from(body), expect)
    }

    /// Whether a wire frame of `len` octets gets past the frame decoder once active.
    fn fits(&self, len: usize, command: bool) -> bool {
        let max = self.limits.max_frame_size.saturating_add(MESSAGE_OVERHEAD);
        if command {
            len <= Limits::MAX_COMMAND_SIZE.min(max.max(512))
        } else {
            len <= max && len <= self.limits.max_message_size.saturating_add(MESSAGE_OVERHEAD)
        }
    }

    fn framed(body: Bytes, command: bool, long: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let flags = if command { 0x04 } else { 0x00 };
        if long {
            out.push(flags | 0x02);
            out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        } else if let Ok(n) = u8::try_from(body.len()) {
            out.extend_from_slice(&[flags, n]);
        } else {
            return wire_frame(Frame {
                more: false,
                command,
                body,
            });
        }
        out.extend_from_slice(&body);
        out
    }

    /// A handshake command; a defective one must fail the connection whatever its state
    /// (after the handshake, any command that is not a MESSAGE fails too).
    fn command_piece(&mut self, body: Bytes, defective: bool) -> Piece {
        let bytes = wire_frame(Frame::command(body));
        let expect = if defective && self.synced {
            Expect::Fail
        } else {
            Expect::Any
        };
        Piece { bytes, expect }
    }

    fn message_piece(&mut self, s: &MessageSpec) -> Piece {
        let (body, expect) = self.message_body(s);
        let fits = self.fits(body.len(), s.outer_command);
        let bytes = Self::framed(body, s.outer_command, s.outer_long);
        let expect = if self.synced && self.known && self.active && fits {
            expect
        } else {
            Expect::Any
        };
        Piece { bytes, expect }
    }

    /// Interprets one operation.
    fn op(&mut self, r: &mut Reader<'_>) -> Piece {
        let op = r.u8() % 8;
        match op {
            OP_RAW => {
                let n = usize::from(r.u8());
                self.synced = false;
                Piece {
                    bytes: r.bytes(n).to_vec(),
                    expect: Expect::Any,
                }
            }
            OP_CMD => {
                let n = usize::from(u16::from_be_bytes([r.u8(), r.u8()]));
                self.known = false;
                self.hello_known = false;
                let body = Bytes::copy_from_slice(r.bytes(n));
                let bytes = if self.active {
                    wire_frame(Frame::data(body, false))
                } else {
                    wire_frame(Frame::command(body))
                };
                Piece {
                    bytes,
                    expect: Expect::Any,
                }
            }
            OP_GENUINE => {
                let which = r.u8();
                let t = self.t;
                match (self.role, which % 3) {
                    (Role::Server, 0) => {
                        self.hello_transient =
                            (public_of(&t.client_transient), Some(t.client_transient));
                        self.hello_nonce = 1;
                        self.hello_known = true;
                        self.command_piece(t.hello.clone(), false)
                    }
                    (Role::Client, 0) => {
                        self.server_transient =
                            (public_of(&t.server_transient), Some(t.server_transient));
                        self.command_piece(t.welcome.clone(), false)
                    }
                    (role, 1) => {
                        let body = match role {
                            Role::Server => t.initiate.clone(),
                            Role::Client => t.ready.clone(),
                        };
                        let piece = self.command_piece(body, false);
                        self.after_handshake();
                        Piece {
                            expect: Expect::Handshake,
                            ..piece
                        }
                    }
                    (role, _) => {
                        // A genuine post-handshake MESSAGE, framed as its sender framed it.
                        let msgs = t.peer_messages(role);
                        let i = usize::from(r.u8()) % msgs.len().max(1);
                        let body = msgs.get(i).cloned().unwrap_or_default();
                        self.known = false;
                        Piece {
                            bytes: wire_frame(Frame::data(body, false)),
                            expect: Expect::Any,
                        }
                    }
                }
            }
            OP_HANDSHAKE_1 => match self.role {
                Role::Server => {
                    let f = r.u8();
                    let g = r.u8();
                    let spec = HelloSpec {
                        version: (f & 1 != 0).then(|| (r.u8(), r.u8())),
                        padding: (f & 2 != 0).then(|| (r.u8(), r.u8())),
                        transient: KeyChoice::read(f >> 2, r),
                        nonce_sel: g & 3,
                        nonce_arg: r.bytes(if g & 3 >= 2 { 2 } else { 0 }).to_vec(),
                        signature: Tamper::read(f & 0x10 != 0, r),
                        tamper: Tamper::read(f & 0x20 != 0, r),
                        resize: (f & 0x40 != 0).then(|| r.u8()),
                        wrong_server: f & 0x80 != 0,
                    };
                    let (body, defective) = self.hello_body(&spec);
                    self.command_piece(body, defective)
                }
                Role::Client => {
                    let f = r.u8();
                    let spec = WelcomeSpec {
                        transient: KeyChoice::read(f, r),
                        random_cookie: (f & 4 != 0).then(|| r.bytes(96).to_vec()),
                        wrong_server: f & 8 != 0,
                        wrong_client: f & 0x10 != 0,
                        tamper: Tamper::read(f & 0x20 != 0, r),
                        resize: (f & 0x40 != 0).then(|| r.u8()),
                        long_nonce: if f & 0x80 != 0 { r.u8() } else { 0 },
                    };
                    let (body, defective) = self.welcome_body(&spec);
                    self.command_piece(body, defective)
                }
            },
            OP_HANDSHAKE_2 => {
                let (body, defective) = match self.role {
                    Role::Server => {
                        let f = r.u8();
                        let g = r.u8();
                        let spec = InitiateSpec {
                            cookie: f & 3,
                            cookie_arg: match f & 3 {
                                0 => Vec::new(),
                                1 => r.bytes(96).to_vec(),
                                _ => vec![r.u8()],
                            },
                            nonce_sel: (f >> 2) & 3,
                            nonce_arg: r.bytes(if (f >> 2) & 3 >= 2 { 2 } else { 0 }).to_vec(),
                            client_key: KeyChoice::read(f >> 4, r),
                            other_client: f & 0x40 != 0,
                            vouch_content: Tamper::read(g & 1 != 0, r),
                            vouch_box: Tamper::read(g & 2 != 0, r),
                            tamper: Tamper::read(g & 4 != 0, r),
                            resize: (g & 8 != 0).then(|| r.u8()),
                            metadata: if f & 0x80 != 0 {
                                MetaChoice::read(r)
                            } else {
                                MetaChoice::Genuine
                            },
                        };
                        self.initiate_body(&spec)
                    }
                    Role::Client => {
                        let f = r.u8();
                        let spec = ReadySpec {
                            nonce: (f & 1 != 0).then(|| u64::from(r.u8())),
                            tamper: Tamper::read(f & 2 != 0, r),
                            resize: (f & 4 != 0).then(|| r.u8()),
                            metadata: if f & 8 != 0 {
                                MetaChoice::read(r)
                            } else {
                                MetaChoice::Genuine
                            },
                        };
                        self.ready_body(&spec)
                    }
                };
                let piece = self.command_piece(body, defective);
                if piece.expect == Expect::Fail {
                    return piece;
                }
                // If it succeeds, the handshake is done with the model's session.
                self.known = self.synced;
                self.active = true;
                Piece {
                    expect: Expect::Handshake,
                    ..piece
                }
            }
            OP_MESSAGE => {
                let f = r.u8();
                let flags = r.u8();
                let n = usize::from(r.u8());
                let spec = MessageSpec {
                    nonce_sel: f & 3,
                    nonce_arg: r.bytes(if f & 3 >= 2 { 2 } else { 0 }).to_vec(),
                    flags,
                    tamper: Tamper::read(f & 4 != 0, r),
                    wrong_direction: f & 8 != 0,
                    outer_command: f & 0x10 != 0,
                    outer_long: f & 0x20 != 0,
                    payload: r.bytes(n).to_vec(),
                };
                self.message_piece(&spec)
            }
            OP_COMMAND_MESSAGE => {
                // A command inside a MESSAGE (COMMAND flag): PING, PONG, ERROR, READY,
                // SUBSCRIBE or raw.
                let f = r.u8();
                let n = usize::from(r.u8());
                let arg = r.bytes(n);
                let cmd = match f % 6 {
                    0 => Command::Ping {
                        ttl_deciseconds: u16::from(f),
                        context: Bytes::copy_from_slice(arg),
                    },
                    1 => Command::Pong {
                        context: Bytes::copy_from_slice(arg),
                    },
                    2 => Command::Error {
                        reason: Bytes::copy_from_slice(arg),
                    },
                    3 => Command::parse(&Bytes::from([b"\x05READY", arg].concat()))
                        .unwrap_or(Command::Ready(Metadata::new())),
                    4 => Command::parse(&Bytes::from([b"\x09SUBSCRIBE", arg].concat()))
                        .unwrap_or(Command::Ready(Metadata::new())),
                    _ => {
                        let spec = MessageSpec {
                            flags: 0x02,
                            ..MessageSpec::data(arg, false)
                        };
                        return self.message_piece(&spec);
                    }
                };
                let spec = MessageSpec {
                    flags: 0x02,
                    ..MessageSpec::data(&cmd.encode_body(), false)
                };
                self.message_piece(&spec)
            }
            _ => {
                // OP_RAW_REST
                self.synced = false;
                Piece {
                    bytes: r.rest().to_vec(),
                    expect: Expect::Any,
                }
            }
        }
    }
}

/// Operation: `0, n, n octets`: raw wire octets.
pub const OP_RAW: u8 = 0;
/// Operation: `1, n (2 octets, big-endian), n octets`: one frame with that body (a command
/// frame before the handshake, a data frame after it).
pub const OP_CMD: u8 = 1;
/// Operation: `2, which`: a genuine command of the peer (0: HELLO / WELCOME, 1: INITIATE /
/// READY, 2 + index: a genuine post-handshake MESSAGE).
pub const OP_GENUINE: u8 = 2;
/// Operation: `3, flags...`: a forged HELLO (server) or WELCOME (client).
pub const OP_HANDSHAKE_1: u8 = 3;
/// Operation: `4, flags...`: a forged INITIATE (server) or READY (client).
pub const OP_HANDSHAKE_2: u8 = 4;
/// Operation: `5, flags, inner flags, n, [args], n octets`: a forged MESSAGE.
pub const OP_MESSAGE: u8 = 5;
/// Operation: `6, which, n, n octets`: a forged MESSAGE carrying a command.
pub const OP_COMMAND_MESSAGE: u8 = 6;
/// Operation: `7, rest`: the rest of the input, raw.
pub const OP_RAW_REST: u8 = 7;

fn wire_frame(frame: Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    out.to_vec()
}

/// The pieces an input stands for: the peer's greeting (and genuine handshake), then the
/// rest as raw octets, split frames or operations.
pub fn pieces_for(role: Role, data: &[u8]) -> Option<(crate::Control, Vec<Piece>)> {
    let (ctl, rest) = control(data)?;
    let (&mode, rest) = rest.split_first()?;
    let t = transcript();
    let mut pieces = vec![Piece {
        bytes: t.peer_greeting(role).to_vec(),
        expect: Expect::Any,
    }];
    let mut forger = Forger::new(t, role, ctl.limits);
    if ctl.handshake {
        pieces.push(Piece {
            bytes: t.peer_commands(role),
            expect: Expect::Handshake,
        });
        forger.after_handshake();
    }
    match mode % 3 {
        0 => pieces.push(Piece {
            bytes: rest.to_vec(),
            expect: Expect::Any,
        }),
        1 => {
            let mut at = rest;
            loop {
                let cut = at.windows(SEPARATOR.len()).position(|w| w == SEPARATOR);
                let body = Bytes::copy_from_slice(cut.map_or(at, |i| &at[..i]));
                let frame = if ctl.handshake {
                    Frame::data(body, false)
                } else {
                    Frame::command(body)
                };
                pieces.push(Piece {
                    bytes: wire_frame(frame),
                    expect: Expect::Any,
                });
                match cut {
                    Some(i) => at = &at[i + SEPARATOR.len()..],
                    None => break,
                }
            }
        }
        _ => {
            let mut r = Reader(rest);
            while !r.is_empty() {
                pieces.push(forger.op(&mut r));
            }
        }
    }
    Some((ctl, pieces))
}

// ---------------------------------------------------------------------------------------------
// Running and checking
// ---------------------------------------------------------------------------------------------

/// What a connection made of an input.
#[derive(Debug, PartialEq)]
pub struct CurveRun {
    /// Events, in order.
    pub events: Vec<Event>,
    /// The error that closed the connection.
    pub error: Option<ConnectionError>,
    /// Octets consumed.
    pub consumed: usize,
    /// Everything the connection wrote, greeting included.
    pub output: Vec<u8>,
}

/// Feeds `feeds` (each a slice of `data`) to a fresh connection, checking the generic
/// properties after each; `expects[i]` is checked after feed i when given.
fn run(
    role: Role,
    limits: Limits,
    data: &[u8],
    feeds: &[std::ops::Range<usize>],
    expects: Option<&[Expect]>,
) -> CurveRun {
    let mut conn = connection(role, limits);
    let mut output = conn.take_output().to_vec();
    assert_eq!(output.len(), GREETING_LEN);
    let mut input = BytesMut::new();
    let mut fed = 0;
    let mut events = Vec::new();
    let mut error = None;
    // MESSAGE checks are on once a Handshake piece made the connection active.
    let mut model = false;
    for (i, range) in feeds.iter().enumerate() {
        let was_active = conn.is_active();
        input.extend_from_slice(&data[range.clone()]);
        fed = range.end;
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
        assert!(events.len() <= consumed / 2 + 1);
        let message_bytes: usize = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => m.total_len(),
                _ => 0,
            })
            .sum();
        assert!(message_bytes <= consumed);
        // Greeting 64 + WELCOME 170 / HELLO 202 + READY / INITIATE (under 300 with our
        // metadata) + ERROR (under 270); every PONG is shorter than the PING it answers.
        assert!(
            output.len() <= 64 + 1024 + consumed,
            "output {} for {consumed} octets consumed",
            output.len()
        );
        if let Some(expect) = expects.and_then(|e| e.get(i)) {
            check_expect(expect, &result, was_active, conn.is_active(), &mut model);
        }
        if let Err(e) = result {
            assert!(
                !matches!(
                    e,
                    ConnectionError::Failed
                        | ConnectionError::NotReady
                        | ConnectionError::LocalMetadata(_)
                ),
                "{e:?}"
            );
            assert!(!e.to_string().is_empty());
            assert!(!conn.is_active());
            // A failed connection stays failed.
            assert_eq!(
                conn.receive(&mut BytesMut::from(&b"\x00\x00"[..]), Instant::now()),
                Err(ConnectionError::Failed)
            );
            assert_eq!(
                conn.send(&Multipart::single(&b"x"[..])),
                Err(ConnectionError::Failed)
            );
            assert_eq!(conn.poll_event(), None);
            assert!(conn.take_output().is_empty());
            error = Some(e);
            break;
        }
    }
    CurveRun {
        events,
        error,
        consumed: fed - input.len(),
        output,
    }
}

fn check_expect(
    expect: &Expect,
    result: &Result<(), ConnectionError>,
    was_active: bool,
    is_active: bool,
    model: &mut bool,
) {
    match expect {
        Expect::Any => {}
        Expect::Fail => assert!(
            result.is_err(),
            "a defective handshake command was accepted"
        ),
        Expect::Handshake => *model = !was_active && is_active,
        Expect::Message {
            nonce,
            previous,
            bad_box,
        } => {
            if !(*model && was_active) {
                return;
            }
            let curve = match result {
                Err(ConnectionError::Handshake(HandshakeError::Curve(c))) => Some(c),
                _ => None,
            };
            if nonce <= previous {
                assert_eq!(
                    curve,
                    Some(&CurveError::NonceReplay {
                        command: "MESSAGE",
                        nonce: *nonce,
                        previous: *previous
                    }),
                    "replayed MESSAGE: {result:?}"
                );
            } else if *bad_box {
                assert_eq!(
                    curve,
                    Some(&CurveError::BadBox { command: "MESSAGE" }),
                    "tampered MESSAGE: {result:?}"
                );
            } else {
                assert!(
                    !matches!(
                        curve,
                        Some(CurveError::NonceReplay { .. } | CurveError::BadBox { .. })
                    ),
                    "good MESSAGE refused: {result:?}"
                );
            }
        }
    }
}

/// Checks what the connection wrote: its greeting, then only the frames its role may send.
fn check_output(role: Role, run: &CurveRun) {
    let greeting = Greeting::decode(&run.output).ok().flatten();
    assert_eq!(
        greeting,
        Some(Greeting::new(MechanismName::CURVE, role == Role::Server))
    );
    let mut dec = FrameDecoder::new(Limits::default());
    let mut buf = BytesMut::from(&run.output[GREETING_LEN..]);
    let mut frames = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => break,
            Err(e) => panic!("our output does not frame: {e}"),
        }
    }
    assert!(buf.is_empty(), "our output ends in a partial frame");
    let done = run
        .events
        .iter()
        .any(|e| matches!(e, Event::HandshakeComplete(_)));
    let name = |f: &Frame| {
        let n = usize::from(f.body.first().copied().unwrap_or(0));
        f.body.get(1..1 + n).map(<[u8]>::to_vec).unwrap_or_default()
    };
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        assert!(!f.more, "MORE on {f:?}");
        let last = i + 1 == frames.len();
        if !f.command {
            assert!(done, "data before the handshake finished");
            assert!(
                f.body.starts_with(b"\x07MESSAGE"),
                "plaintext after the handshake: {f:?}"
            );
            assert!(f.body.len() >= MESSAGE_OVERHEAD);
            continue;
        }
        let n = name(f);
        let allowed: &[&[u8]] = match role {
            Role::Server => &[b"WELCOME", b"READY", b"ERROR"],
            Role::Client => &[b"HELLO", b"INITIATE"],
        };
        assert!(
            allowed.contains(&&n[..]),
            "{role:?} sent {}",
            n.escape_ascii()
        );
        assert!(!seen.contains(&n), "{} twice", n.escape_ascii());
        match &n[..] {
            b"HELLO" => assert_eq!(f.body.len(), 200),
            b"WELCOME" => assert_eq!(f.body.len(), 168),
            b"INITIATE" => assert!(seen.iter().any(|s| s == b"HELLO") && f.body.len() >= 257),
            b"READY" => {
                assert!(seen.iter().any(|s| s == b"WELCOME"), "READY before WELCOME");
                // The server sends READY before the connection checks the client's metadata
                // (Socket-Type): if that check fails, the connection closes after READY (at
                // most an ERROR follows).
                if !done {
                    let next = frames.get(i + 1).map(name);
                    assert!(
                        next.is_none() || next.as_deref() == Some(&b"ERROR"[..]),
                        "READY, no handshake, then {next:?}"
                    );
                    assert!(
                        matches!(
                            run.error,
                            Some(ConnectionError::Handshake(
                                HandshakeError::MissingSocketType
                                    | HandshakeError::IncompatibleSocketType { .. }
                            ))
                        ),
                        "READY then {:?}",
                        run.error
                    );
                }
            }
            b"ERROR" => {
                assert!(last, "ERROR is the last thing a server says");
                assert!(
                    matches!(run.error, Some(ConnectionError::Handshake(_))),
                    "ERROR without a handshake failure: {:?}",
                    run.error
                );
            }
            _ => {}
        }
        seen.push(n);
    }
    if role == Role::Server && done {
        assert!(seen.iter().any(|s| s == b"READY"), "handshake without READY");
    }
    if let Some(ConnectionError::Handshake(HandshakeError::Curve(CurveError::Unauthorized {
        client_key,
    }))) = &run.error
    {
        assert_ne!(*client_key, public_of(&CLIENT_SECRET));
        let reason = Command::parse(&frames.last().map(|f| f.body.clone()).unwrap_or_default());
        assert_eq!(
            reason,
            Ok(Command::Error {
                reason: Bytes::from_static(UNAUTHORIZED_REASON.as_bytes())
            })
        );
    }
}

/// The whole check for one input; returns what the connection made of it (`None`: too short
/// to mean anything).
pub fn check_curve(role: Role, data: &[u8]) -> Option<CurveRun> {
    let (ctl, pieces) = pieces_for(role, data)?;
    let wire: Vec<u8> = pieces.iter().flat_map(|p| p.bytes.iter().copied()).collect();
    let mut feeds = Vec::with_capacity(pieces.len());
    let mut at = 0;
    for p in &pieces {
        feeds.push(at..at + p.bytes.len());
        at += p.bytes.len();
    }
    let expects: Vec<Expect> = pieces.iter().map(|p| p.expect.clone()).collect();
    let by_piece = run(role, ctl.limits, &wire, &feeds, Some(&expects));

    let chunked: Vec<_> = if ctl.chunk >= 64 {
        vec![0..wire.len()]
    } else {
        (0..wire.len())
            .step_by(ctl.chunk)
            .map(|i| i..(i + ctl.chunk).min(wire.len()))
            .collect()
    };
    let other = run(role, ctl.limits, &wire, &chunked, None);
    assert_eq!(other, by_piece, "{role:?}: pieces vs chunks of {}", ctl.chunk);

    check_output(role, &by_piece);
    for (i, e) in by_piece.events.iter().enumerate() {
        match e {
            Event::HandshakeComplete(peer) => {
                assert_eq!(i, 0, "handshake completes first");
                let (ours, key) = match role {
                    Role::Server => (SocketType::Router, public_of(&CLIENT_SECRET)),
                    Role::Client => (SocketType::Dealer, public_of(&SERVER_SECRET)),
                };
                assert!(ours.compatible_with(peer.socket_type));
                assert_eq!(peer.public_key, Some(key), "wrong peer key");
            }
            _ => assert!(i > 0, "{e:?} before the handshake"),
        }
    }
    Some(by_piece)
}

impl CurveRun {
    /// One line: events, error, octets consumed and written.
    pub fn summary(&self) -> String {
        let events: Vec<String> = self
            .events
            .iter()
            .map(|e| match e {
                Event::HandshakeComplete(p) => format!("handshake({:?})", p.socket_type),
                Event::Message(m) => format!("message({} frames)", m.len()),
                Event::Ping { .. } => "ping".into(),
                Event::Pong { .. } => "pong".into(),
                Event::AuthRequest(_) => "auth request".into(),
            })
            .collect();
        format!(
            "events [{}], error {:?}, consumed {}, wrote {}",
            events.join(", "),
            self.error,
            self.consumed,
            self.output.len()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// The seed inputs for a role: `(name, bytes)`, regenerated by `examples/curve_seeds.rs`.
pub fn seeds(role: Role) -> Vec<(&'static str, Vec<u8>)> {
    let t = transcript();
    let all = 0x3F; // chunk 64: all at once
    let post = 0x80;
    let framed = |bodies: &[&Bytes], command: bool| -> Vec<u8> {
        bodies
            .iter()
            .flat_map(|b| {
                if command {
                    wire_frame(Frame::command((*b).clone()))
                } else {
                    wire_frame(Frame::data((*b).clone(), false))
                }
            })
            .collect()
    };
    let split = |bodies: &[&[u8]]| bodies.join(SEPARATOR);
    let msgs = t.peer_messages(role);
    let msg_refs: Vec<&Bytes> = msgs.iter().collect();
    let (first, second) = match role {
        Role::Server => (&t.hello, &t.initiate),
        Role::Client => (&t.welcome, &t.ready),
    };
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        // Raw wire octets: the genuine handshake (byte by byte, and all at once).
        ("seed-raw_handshake", [&[0x00, 0][..], &framed(&[first, second], true)].concat()),
        (
            "seed-raw_handshake_messages",
            [&[all, 0][..], &framed(&[first, second], true), &framed(&msg_refs, false)].concat(),
        ),
        // Split: command bodies.
        ("seed-split_handshake", [&[0x07, 1][..], &split(&[first, second])].concat()),
        // After a genuine handshake: genuine MESSAGEs, raw and split, then a replay.
        ("seed-post_raw_messages", [&[post | all, 0][..], &framed(&msg_refs, false)].concat()),
        (
            "seed-post_split_replay",
            [&[post | 0x05, 1][..], &split(&[&msgs[0], &msgs[1], &msgs[0]])].concat(),
        ),
        (
            "seed-post_small_limits",
            [&[post | 0x40 | all, 0][..], &framed(&msg_refs, false)].concat(),
        ),
        // Operations: genuine handshake, then forged MESSAGEs (data, multipart, PING, replay).
        (
            "seed-ops_genuine",
            [
                &[all, 2, OP_GENUINE, 0, OP_GENUINE, 1][..],
                &[OP_MESSAGE, 0, 1, 3],
                b"abc",
                &[OP_MESSAGE, 0, 0, 0],
                &[OP_COMMAND_MESSAGE, 0, 3],
                b"ctx",
                &[OP_MESSAGE, 1, 0, 2],
                b"re",
            ]
            .concat(),
        ),
        (
            "seed-ops_forged",
            [
                &[0x0F, 2][..],
                match role {
                    // HELLO (flags, nonce), INITIATE (flags, flags)
                    Role::Server => &[OP_HANDSHAKE_1, 0, 0, OP_HANDSHAKE_2, 0, 0],
                    // WELCOME (flags), READY (flags)
                    Role::Client => &[OP_HANDSHAKE_1, 0, OP_HANDSHAKE_2, 0],
                },
                &[OP_MESSAGE, 0, 0, 5],
                b"hello",
                &[OP_COMMAND_MESSAGE, 2, 4],
                b"gone",
            ]
            .concat(),
        ),
        (
            "seed-ops_post_messages",
            [
                &[post | all, 2, OP_MESSAGE, 0x30, 1, 1][..],
                b"a",
                &[OP_MESSAGE, 0x10, 0, 1],
                b"b",
                &[OP_COMMAND_MESSAGE, 1, 1],
                b"p",
                &[OP_MESSAGE, 4, 0, 1, 7, 1],
                b"c",
            ]
            .concat(),
        ),
    ];
    match role {
        Role::Server => {
            // An unauthorized client (another key) and metadata with a Socket-Type ROUTER
            // cannot use.
            out.push((
                "seed-ops_unauthorized",
                [&[all, 2, OP_GENUINE, 0, OP_HANDSHAKE_2, 0x40, 0][..]].concat(),
            ));
            out.push((
                "seed-ops_initiate_pub",
                [&[all, 2, OP_GENUINE, 0, OP_HANDSHAKE_2, 0x80, 0, 11, 0][..]].concat(),
            ));
        }
        Role::Client => {
            out.push((
                "seed-ops_peer_error",
                [&[all, 2, OP_GENUINE, 0, OP_CMD, 0, 10][..], b"\x05ERROR\x03400"].concat(),
            ));
            out.push((
                "seed-ops_ready_pub",
                [&[all, 2, OP_GENUINE, 0, OP_HANDSHAKE_2, 8, 11, 0][..]].concat(),
            ));
        }
    }
    out
}
