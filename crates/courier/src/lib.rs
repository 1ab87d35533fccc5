//! # courier
//!
//! ZeroMQ in pure Rust: every common socket type (REQ, REP, DEALER, ROUTER, PUB, SUB, XPUB,
//! XSUB, PUSH, PULL, PAIR) speaking ZMTP 3.1 over `tcp://` and `ipc://`, interoperable with
//! libzmq (pyzmq, czmq, ...) in both directions, plus `inproc://` between sockets of one
//! process, CURVE encryption, and a [`proxy`]. There is no C in it and no runtime to pick:
//! every socket has async methods (plain futures: tokio, smol, async-std or none) and blocking
//! ones.
//!
//! This crate is the one to depend on. It gathers what an application needs from the crates
//! that do the work (`courier-socket`, the sockets and their I/O threads; `courier-proto`,
//! the sans-IO protocol) and adds nothing of its own. The ZeroMQ Guide's examples, ported,
//! are in its `examples/` (`cargo run --release -p courier --example hwserver`).
//!
//! ## Request-reply (REQ and REP)
//!
//! A REQ sends a request and waits for its reply; a REP answers each request in turn. The
//! blocking calls need no runtime at all:
//!
//! ```
//! use std::time::Duration;
//! use courier::{Multipart, Options, Rep, Req};
//!
//! let server = Rep::new(Options::default());
//! // Port 0: the system picks a free port; `bind_blocking` says which.
//! let endpoint = server.bind_blocking("tcp://127.0.0.1:0")?;
//!
//! let client = Req::new(Options::default());
//! client.connect(&endpoint.to_string())?;
//! client.send_blocking(Multipart::single("Hello"))?;
//!
//! let request = server.recv_timeout(Duration::from_secs(10))?;
//! assert_eq!(&request.first()[..], b"Hello");
//! server.send_blocking(Multipart::single("World"))?;
//!
//! let reply = client.recv_timeout(Duration::from_secs(10))?;
//! assert_eq!(&reply.first()[..], b"World");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same with the async methods, under any executor (here courier's own minimal
//! [`runtime::block_on`]; inside tokio or smol just `.await` them):
//!
//! ```
//! use courier::{runtime, Multipart, Options, Rep, Req};
//!
//! runtime::block_on(async {
//!     let server = Rep::new(Options::default());
//!     let endpoint = server.bind("tcp://127.0.0.1:0").await?;
//!     let client = Req::new(Options::default());
//!     client.connect(&endpoint.to_string())?;
//!
//!     client.send(Multipart::single("Hello")).await?;
//!     let request = server.recv().await?;
//!     server.send(Multipart::single("World")).await?;
//!     let reply = client.recv().await?;
//!     assert_eq!((&request.first()[..], &reply.first()[..]), (&b"Hello"[..], &b"World"[..]));
//!     Ok::<(), courier::SocketError>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Publish-subscribe (PUB and SUB)
//!
//! A PUB sends each message to every subscriber whose subscription is a prefix of it; a SUB
//! chooses its topics with [`Sub::subscribe`]. A subscription takes a moment to reach the
//! publisher after connecting (the Guide's "slow joiner"): messages published before it
//! arrives are not delivered to that subscriber, so this example publishes until one gets
//! through.
//!
//! ```
//! use std::time::Duration;
//! use courier::{Multipart, Options, Pub, Sub};
//!
//! let publisher = Pub::new(Options::default());
//! let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0")?;
//! let subscriber = Sub::new(Options::default());
//! subscriber.subscribe("10001 ");
//! subscriber.connect(&endpoint.to_string())?;
//!
//! let mut tries = 0;
//! let update = loop {
//!     tries += 1;
//!     assert!(tries < 500, "the subscription never reached the publisher");
//!     publisher.send_blocking(Multipart::single("90210 21 40"))?; // not subscribed: filtered
//!     publisher.send_blocking(Multipart::single("10001 17 35"))?;
//!     if let Ok(update) = subscriber.recv_timeout(Duration::from_millis(20)) {
//!         break update;
//!     }
//! };
//! assert_eq!(&update.first()[..], b"10001 17 35");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Pipeline (PUSH and PULL)
//!
//! A PUSH deals its messages out to its PULL peers in turn (and waits when they do not keep
//! up: nothing is dropped); a PULL takes from all its PUSH peers fairly. A message of several
//! frames travels as one:
//!
//! ```
//! use std::time::Duration;
//! use courier::{Bytes, Multipart, Options, Pull, Push};
//!
//! let sink = Pull::new(Options::default());
//! let endpoint = sink.bind_blocking("tcp://127.0.0.1:0")?;
//! let ventilator = Push::new(Options::default());
//! ventilator.connect(&endpoint.to_string())?;
//!
//! for n in 0..3 {
//!     let task = Multipart::from_frames([Bytes::from("task"), Bytes::from(n.to_string())])?;
//!     ventilator.send_blocking(task)?;
//! }
//! for n in 0..3 {
//!     let task = sink.recv_timeout(Duration::from_secs(10))?;
//!     assert_eq!(task.frames()[1], n.to_string());
//! }
//! // Closing waits (up to `Options::linger`) for queued messages to be written.
//! assert_eq!(ventilator.close_blocking(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## More
//!
//! * ROUTER and DEALER for asynchronous request-reply and brokers; [`proxy`] joins two
//!   sockets as libzmq's `zmq_proxy` does (a ROUTER and a DEALER make a broker, an XSUB and an
//!   XPUB a pub-sub forwarder). Waiting on several sockets at once is `select` over their
//!   `recv` futures (see [`proxy`]'s module docs and the `rrbroker` example).
//! * [`Options`] has libzmq's options (high-water marks, reconnect intervals, heartbeats,
//!   routing id, `router_mandatory`, `req_relaxed`, `xpub_verbose`, linger, limits) with
//!   libzmq's defaults; [`Security`] selects NULL or CURVE ([`curve`] has the key types).
//! * [`SocketEvent`]s, with typed [`Reason`]s, say what happens to connections (libzmq's
//!   socket monitor): `socket.events()`.
//! * Which socket types talk to which: the table in `courier-socket`'s docs and in the
//!   README. A refused pair fails the handshake with "socket type mismatch" at both ends.
#![forbid(unsafe_code)]

pub use courier_socket::{
    io_threads, proxy, proxy_blocking, proxy_with_capture, runtime, set_io_threads, Dealer,
    DropReason, Endpoint, EndpointError, Options, Pair, ProxySocket, Pub, Pull, Push, Reason, Rep,
    Req, Router, Security, SocketError, SocketEvent, Sub, WhenFull, XPub, XSub, IO_THREADS_VAR,
};

/// Messages: a [`Multipart`] is a non-empty list of frames, each a reference-counted
/// [`Bytes`] (cloning a message copies no body).
pub use courier_proto::message::{MessageError, Multipart};
pub use courier_proto::Bytes;

/// Limits on what peers may send (largest frame, message, frames per message):
/// [`Options::limits`].
pub use courier_proto::frame::Limits;

/// Why a connection's protocol failed (inside [`Reason::Protocol`]).
pub use courier_proto::connection::ConnectionError;

/// ZeroMQ socket types as named on the wire (the ZMTP compatibility table).
pub use courier_proto::socket_type::SocketType;

/// CURVE (CurveZMQ, RFC 26): key pairs, Z85 text keys, the server's allowlist.
///
/// ```
/// use courier::curve::{Authorizer, Keypair};
/// use courier::{Options, Security};
///
/// let server_keys = Keypair::generate();
/// let client_keys = Keypair::generate();
/// let server = Options {
///     security: Security::curve_server(
///         server_keys.secret().clone(),
///         Authorizer::allow_keys([*client_keys.public()]),
///     ),
///     ..Options::default()
/// };
/// let client = Options {
///     security: Security::curve_client(client_keys, *server_keys.public()),
///     ..Options::default()
/// };
/// # let _ = (server, client);
/// ```
pub mod curve {
    pub use courier_proto::cert::{parse_certificate, CertError, Certificate};
    pub use courier_proto::curve::{
        Authorizer, ClientConfig, CurveConfig, CurveError, Keypair, PublicKey, SecretKey,
        ServerConfig,
    };
    pub use courier_proto::z85::{decode_key, encode_key, Z85Error};
}

/// Authentication (ZAP, RFC 27): an [`auth::Authenticator`] decides every handshake of a
/// socket that has one (`Options::authenticator`); a ZAP handler bound as a REP socket on
/// [`zap::ZAP_ENDPOINT`] decides for the sockets that have none, as with libzmq.
pub use courier_socket::{auth, zap};

/// The protocol crate, for what this crate does not re-export (frames, commands, the
/// sans-IO connection state machine).
pub use courier_proto as proto;
