//! # courier-socket
//!
//! ZeroMQ sockets in pure Rust, speaking ZMTP 3.1 over `tcp://` and `ipc://`, interoperable
//! with libzmq, and joining sockets of one process over `inproc://` (in-memory queues, no
//! copy of the bodies; connecting before the bind works). [`proxy`] joins two sockets as
//! libzmq's `zmq_proxy` does. It is a thin driver around the sans-IO state machines
//! of `courier-proto`: it reads bytes, feeds the protocol, writes what the protocol asks for,
//! and wakes the protocol's timers. It is not a message broker and has no C in it.
//!
//! The connections run on courier's own I/O threads, as libzmq's do: each thread owns its
//! connections outright and waits on an edge-triggered poller (one thread by default;
//! [`set_io_threads`] or the `COURIER_IO_THREADS` environment variable sets more). The
//! application meets them only at each socket's send and receive queues, so the sockets'
//! async methods are plain futures that work under tokio, smol, async-std or any executor,
//! and every socket also has blocking calls for programs with no runtime at all.
//!
//! What libzmq users rely on is here: `connect` never blocks and messages sent before the peer
//! exists are queued up to a high-water mark; lost connections come back with backoff;
//! heartbeats (PING/PONG) detect dead peers; each ROUTER peer has its own bounded queue; a
//! stream of [`SocketEvent`]s, with typed [`Reason`]s, says what happens to connections.
//! Security is NULL, PLAIN or CURVE ([`Security`]), and an [`Authenticator`] (ZAP as an API,
//! see [`auth`]) can decide who may connect, off the I/O threads. A ZAP handler written as
//! libzmq users write one, a REP socket bound to `inproc://zeromq.zap.01` answering RFC 27's
//! frames, decides for the sockets without an authenticator of their own (see [`zap`]).
//!
//! ## Socket types
//!
//! Each type has libzmq's semantics and talks to the types ZMTP allows (a refused pair fails
//! the handshake with "socket type mismatch", at both ends):
//!
//! | Type | Sends | Receives | Talks to |
//! |------|-------|----------|----------|
//! | [`Req`] | a request to each peer in turn, then waits for its reply | that reply only | REP, ROUTER |
//! | [`Rep`] | the reply, to the requester, envelope restored | requests, fairly | REQ, DEALER |
//! | [`Dealer`] | to whichever peer is ready | from all, fairly | REP, DEALER, ROUTER |
//! | [`Router`] | to the peer named by the first frame | from all, routing id in front | REQ, DEALER, ROUTER |
//! | [`Pub`] | to every matching subscriber; drops for one at its HWM | nothing | SUB, XSUB |
//! | [`XPub`] | as PUB | subscriptions (`\x01topic` / `\x00topic`) | SUB, XSUB |
//! | [`Sub`] | its subscriptions ([`Sub::subscribe`]) | matching messages | PUB, XPUB |
//! | [`XSub`] | subscriptions as messages | matching messages | PUB, XPUB |
//! | [`Push`] | to each peer in turn; blocks at its HWM | nothing | PULL |
//! | [`Pull`] | nothing | from all, fairly | PUSH |
//! | [`Pair`] | to its one peer | from its one peer | PAIR |
//!
//! Every type has `connect`, `bind` (async) and `bind_blocking`, `events` and `close` (async)
//! and `close_blocking`; those that send have `send` (async), `send_blocking` and, where
//! sending can wait, `send_timeout` and `try_send`; those that receive have `recv` (async),
//! `recv_blocking`, `recv_timeout` and `try_recv`.
//!
//! ```
//! use std::time::Duration;
//! use courier_socket::{Multipart, Options, Pub, Sub};
//!
//! let publisher = Pub::new(Options::default());
//! let endpoint = publisher.bind_blocking("tcp://127.0.0.1:0")?;
//! let subscriber = Sub::new(Options::default());
//! subscriber.subscribe("weather.");
//! subscriber.connect(&endpoint.to_string())?;
//! // A subscription takes a moment to reach the publisher ("slow joiner"): publish until
//! // it is in.
//! let mut tries = 0;
//! let msg = loop {
//!     tries += 1;
//!     assert!(tries < 500, "the subscription never took effect");
//!     publisher.send_blocking(Multipart::single("news.none"))?;
//!     publisher.send_blocking(Multipart::single("weather.paris 21C"))?;
//!     if let Ok(msg) = subscriber.recv_timeout(Duration::from_millis(10)) {
//!         break msg;
//!     }
//! };
//! assert_eq!(&msg.first()[..], b"weather.paris 21C");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Example: async (any runtime)
//!
//! ```
//! use courier_proto::message::{Message, Multipart};
//! use courier_socket::{runtime, Dealer, Options, Router};
//!
//! // Any executor will do: tokio's, smol's, async-std's, or this minimal one.
//! runtime::block_on(async {
//!     let router = Router::new(Options::default());
//!     let endpoint = router.bind("tcp://127.0.0.1:0").await?;
//!
//!     let dealer = Dealer::new(Options::default());
//!     dealer.connect(&endpoint.to_string())?;
//!     dealer.send(Message::Hello.encode()).await?;
//!
//!     let msg = router.recv().await?;
//!     let (client, body) = msg.pop_front();
//!     assert_eq!(Message::try_from(body.unwrap())?, Message::Hello);
//!
//!     let mut reply = Message::Hello.encode();
//!     reply.push_front(client);
//!     router.send(reply).await?;
//!     assert_eq!(Message::try_from(dealer.recv().await?)?, Message::Hello);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Example: blocking (no runtime)
//!
//! ```
//! use std::time::Duration;
//! use courier_socket::{Dealer, Multipart, Options, Router};
//!
//! let router = Router::new(Options::default());
//! let endpoint = router.bind_blocking("tcp://127.0.0.1:0")?;
//! let dealer = Dealer::new(Options::default());
//! dealer.connect(&endpoint.to_string())?;
//!
//! dealer.send_blocking(Multipart::single("ping"))?;
//! let msg = router.recv_timeout(Duration::from_secs(5))?;
//! assert_eq!(&msg.frames()[1][..], b"ping");
//! dealer.close_blocking();
//! router.close_blocking();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod auth;
mod budget;
mod common;
mod core;
mod dealer;
mod endpoint;
mod error;
mod event;
mod inbox;
mod inproc;
mod io;
mod options;
mod outbox;
mod pair;
mod pattern;
mod pipeline;
mod proxy;
mod pubsub;
mod reqrep;
mod router;
pub mod runtime;
pub mod zap;

pub use auth::{Authenticator, Properties, ZapReply, ZapRequestFull, ZapStatus};
pub use dealer::Dealer;
pub use endpoint::{Endpoint, EndpointError};
pub use error::SocketError;
pub use event::{DropReason, Reason, SocketEvent};
pub use io::{io_threads, set_io_threads, Sleep, IO_THREADS_VAR};
pub use options::{Options, Security, WhenFull};
pub use pair::Pair;
pub use pipeline::{Pull, Push};
pub use proxy::{proxy, proxy_blocking, proxy_with_capture, ProxySocket};
pub use pubsub::{Pub, Sub, XPub, XSub};
pub use reqrep::{Rep, Req};
pub use router::Router;

pub use courier_proto as proto;
pub use courier_proto::message::{Message, Multipart};
