//! # courier-socket
//!
//! ZeroMQ DEALER and ROUTER sockets in pure Rust, speaking ZMTP 3.1 over `tcp://` and
//! `ipc://`, interoperable with libzmq. It is a thin driver around the sans-IO state machines
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
//! see [`auth`]) can decide who may connect, off the I/O threads.
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
mod core;
mod dealer;
mod endpoint;
mod error;
mod event;
mod inbox;
mod io;
mod options;
mod outbox;
mod pattern;
mod router;
pub mod runtime;

pub use auth::{Authenticator, Properties, ZapReply, ZapRequestFull, ZapStatus};
pub use dealer::Dealer;
pub use endpoint::{Endpoint, EndpointError};
pub use error::SocketError;
pub use event::{DropReason, Reason, SocketEvent};
pub use io::{io_threads, set_io_threads, Sleep, IO_THREADS_VAR};
pub use options::{Options, Security, WhenFull};
pub use router::Router;

pub use courier_proto as proto;
pub use courier_proto::message::{Message, Multipart};
