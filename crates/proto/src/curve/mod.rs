//! The CURVE security mechanism: CurveZMQ (RFC 26) inside ZMTP (RFC 25 / RFC 37), both roles,
//! sans IO, interoperable with libzmq 4.3.
//!
//! The client knows the server's long-term public key; the server may check the client's
//! long-term public key (an [`Authorizer`]). Each connection makes fresh transient keys, so
//! recorded traffic stays secret even if the long-term keys leak later.
//!
//! ```text
//! C: HELLO     version 1.0, 72 zero octets, C', short nonce, Box[64 zeros](C'->S)     200 octets
//! S: WELCOME   long nonce, Box[S' + cookie](S->C')                                   168 octets
//!              cookie = long nonce, Box[C' + s'](cookie key)   (the server keeps no s')
//! C: INITIATE  cookie, short nonce, Box[C + vouch + metadata](C'->S')               257+ octets
//!              vouch = long nonce, Box[C' + S](C->S')
//! S: READY     short nonce, Box[metadata](S'->C')                                     30+ octets
//!    (or S: ERROR "400" when the authorizer refuses C, as libzmq does after a ZAP 400)
//! C/S: MESSAGE short nonce, Box[flags + frame](C'->S' or S'->C')                      33+ octets
//! ```
//!
//! Short nonces are 1, 2, 3, ... per direction and must rise strictly: a replayed or reordered
//! command closes the connection. Roles come from configuration, never from the peer's
//! greeting: libzmq sends as-server = 0 even from a CURVE server. We send as-server = 1 from
//! the server role, as RFC 25 and 37 say.
//!
//! Crypto: X25519 (curve25519-dalek) and XSalsa20-Poly1305 with HSalsa20 (our own, in
//! `xsalsa.rs` and `mac.rs`: four Salsa20 blocks at a time, which the compiler vectorises, and
//! 64-bit Poly1305 limbs; tested against RustCrypto's crypto_secretbox), which together are
//! NaCl's `crypto_box`; see `crypto.rs`. Each connection precomputes its shared key once
//! (`crypto_box_beforenm`), and XSalsa20's HSalsa20 step for its MESSAGE nonces once per
//! direction (their first 16 octets are a constant prefix).
//!
//! ## Example: a handshake in memory
//!
//! ```
//! use std::time::Instant;
//!
//! use bytes::BytesMut;
//! use courier_proto::connection::{Connection, ConnectionConfig, Event};
//! use courier_proto::curve::{Authorizer, ClientConfig, CurveConfig, Keypair, ServerConfig};
//! use courier_proto::message::Multipart;
//! use courier_proto::socket_type::SocketType;
//!
//! let server_keys = Keypair::generate();
//! let client_keys = Keypair::generate();
//! let allowed = *client_keys.public();
//! let server = CurveConfig::Server(ServerConfig::new(
//!     server_keys.secret().clone(),
//!     Authorizer::new(move |key| *key == allowed),
//! ));
//! let client = CurveConfig::Client(ClientConfig::new(client_keys, *server_keys.public()));
//!
//! let now = Instant::now();
//! let mut router = Connection::new(ConnectionConfig::new(SocketType::Router), server.mechanism(), now);
//! let mut dealer = Connection::new(ConnectionConfig::new(SocketType::Dealer), client.mechanism(), now);
//! let (mut to_router, mut to_dealer) = (BytesMut::new(), BytesMut::new());
//! while dealer.has_output() || router.has_output() {
//!     to_router.extend_from_slice(&dealer.take_output());
//!     to_dealer.extend_from_slice(&router.take_output());
//!     dealer.receive(&mut to_dealer, now)?;
//!     router.receive(&mut to_router, now)?;
//! }
//! assert_eq!(router.peer().and_then(|p| p.public_key), Some(allowed));
//!
//! dealer.send(&Multipart::single(&b"secret"[..]))?;
//! to_router.extend_from_slice(&dealer.take_output());
//! router.receive(&mut to_router, now)?;
//! assert!(matches!(router.poll_event(), Some(Event::HandshakeComplete(_))));
//! assert!(matches!(router.poll_event(), Some(Event::Message(m)) if m.frames()[0] == "secret"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod crypto;
#[cfg(test)]
mod crypto_diff;
mod keys;
mod mac;
mod server;
mod session;
#[cfg(test)]
mod timing;
mod xsalsa;

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

pub use client::CurveClient;
pub use keys::{Keypair, PublicKey, SecretKey};
pub use rand_core;
pub use server::CurveServer;

use crate::mechanism::Mechanism;
use crate::metadata::MetadataError;
use crate::z85;

/// Octets a MESSAGE adds to the frame it carries: `%d7 "MESSAGE"`, the short nonce, the box's
/// 16-octet tag and the flags octet.
pub const MESSAGE_OVERHEAD: usize = session::MESSAGE_OVERHEAD;

/// The ERROR reason a server sends a client its authorizer refused: libzmq sends the ZAP status
/// code, and a libzmq client reports "400" as an authentication failure
/// (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH).
pub const UNAUTHORIZED_REASON: &str = "400";

/// A source of randomness for transient keys, cookie keys and long nonces.
pub type Rng = Box<dyn rand_core::CryptoRngCore + Send>;

/// Decides which clients a server accepts, by their long-term public key.
#[derive(Clone)]
pub struct Authorizer(Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>);

impl Authorizer {
    /// Accepts the clients for which `allow` returns true.
    pub fn new(allow: impl Fn(&PublicKey) -> bool + Send + Sync + 'static) -> Self {
        Authorizer(Arc::new(allow))
    }

    /// Accepts every client that completes the handshake (libzmq's behaviour without a ZAP
    /// handler): the connection is encrypted, but anyone with a key pair may connect.
    pub fn allow_any() -> Self {
        Authorizer::new(|_| true)
    }

    /// Accepts exactly these client public keys.
    pub fn allow_keys(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let keys: std::collections::HashSet<PublicKey> = keys.into_iter().collect();
        Authorizer::new(move |key| keys.contains(key))
    }

    /// Whether the client with this long-term public key may connect.
    pub fn allows(&self, client_key: &PublicKey) -> bool {
        (self.0)(client_key)
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorizer(..)")
    }
}

/// The client role: our long-term key pair and the server's long-term public key.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Our long-term key pair (its public key is what the server authorizes).
    pub keypair: Keypair,
    /// The server's long-term public key.
    pub server_key: PublicKey,
}

impl ClientConfig {
    /// A client config.
    pub fn new(keypair: Keypair, server_key: PublicKey) -> Self {
        ClientConfig {
            keypair,
            server_key,
        }
    }
}

/// The server role: our long-term key pair and who may connect.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Our long-term key pair (clients are configured with its public key).
    pub keypair: Keypair,
    /// Which clients are accepted.
    pub authorizer: Authorizer,
}

impl ServerConfig {
    /// A server config from our long-term secret key.
    pub fn new(secret: SecretKey, authorizer: Authorizer) -> Self {
        ServerConfig {
            keypair: Keypair::from_secret(secret),
            authorizer,
        }
    }
}

/// A CURVE role and its keys.
#[derive(Clone, Debug)]
pub enum CurveConfig {
    /// We are the CURVE client (whatever the direction of the TCP connection).
    Client(ClientConfig),
    /// We are the CURVE server.
    Server(ServerConfig),
}

impl CurveConfig {
    /// A fresh handshake state machine for one connection.
    pub fn mechanism(&self) -> Box<dyn Mechanism> {
        match self {
            CurveConfig::Client(c) => Box::new(CurveClient::new(c.clone())),
            CurveConfig::Server(s) => Box::new(CurveServer::new(s.clone())),
        }
    }
}

/// Why a CURVE handshake or a CURVE connection failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CurveError {
    /// The WELCOME box does not open with the server key we were given: whoever answered does
    /// not hold the matching secret key.
    #[error(
        "server key mismatch: the server could not prove it holds the secret key for {}",
        z85::encode_key(.server_key)
    )]
    ServerKeyMismatch {
        /// The server public key we were configured with.
        server_key: PublicKey,
    },
    /// The server's authorizer refused this client.
    #[error("CURVE client key {} is not authorized", z85::encode_key(.client_key))]
    Unauthorized {
        /// The client's long-term public key, authenticated by the handshake.
        client_key: PublicKey,
    },
    /// A command of the wrong size or layout.
    #[error("malformed CURVE {command} command: {reason}")]
    Malformed {
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A box that does not open: tampered with, or made with other keys.
    #[error("the CURVE {command} box does not open: it was tampered with or made with other keys")]
    BadBox {
        /// The command (and part of it) whose box failed.
        command: &'static str,
    },
    /// A short nonce that does not rise: a replayed, reordered or forged command.
    #[error("CURVE {command} short nonce {nonce} is not above the previous {previous} (replayed or out of order)")]
    NonceReplay {
        /// The command.
        command: &'static str,
        /// Its short nonce.
        nonce: u64,
        /// The peer's previous short nonce.
        previous: u64,
    },
    /// The INITIATE vouch does not name this connection's transient key and this server.
    #[error("the CURVE INITIATE vouch is not for this connection or this server")]
    VouchMismatch,
    /// A public key that is a low-order point: it would give an all-zero shared secret.
    #[error("the {what} is not a valid CURVE key (a low-order point)")]
    WeakKey {
        /// Which key.
        what: &'static str,
    },
    /// A HELLO for a CurveZMQ version other than 1.0.
    #[error("unsupported CurveZMQ version {major}.{minor} (1.0 expected)")]
    UnsupportedVersion {
        /// Major version.
        major: u8,
        /// Minor version.
        minor: u8,
    },
    /// The metadata inside INITIATE or READY is malformed.
    #[error("malformed CURVE metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// We sent 2^64 - 1 commands on this connection.
    #[error("CURVE short nonces exhausted on this connection")]
    NonceExhausted,
    /// The random number generator failed.
    #[error("no random numbers for CURVE keys: {0}")]
    Entropy(String),
}

impl From<rand_core::Error> for CurveError {
    fn from(e: rand_core::Error) -> Self {
        CurveError::Entropy(e.to_string())
    }
}

/// A 32-octet array from a slice known to be 32 octets (zeros otherwise; callers check
/// lengths first).
pub(crate) fn key32(bytes: &[u8]) -> [u8; 32] {
    <[u8; 32]>::try_from(bytes).unwrap_or([0; 32])
}

/// An 8-octet big-endian integer from a slice known to be 8 octets.
pub(crate) fn u64_be(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_be_bytes)
}
