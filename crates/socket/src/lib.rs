//! # courier-socket
//!
//! Asynchronous ZeroMQ DEALER and ROUTER sockets in pure Rust, speaking ZMTP 3.1 over `tcp://`
//! and `ipc://`. It is a thin driver around the sans-IO state machines of `courier-proto`: it
//! reads bytes, feeds the protocol, writes what the protocol asks for and keeps the timers.
//!
//! What libzmq users rely on is here: `connect` never blocks and messages sent before the peer
//! exists are queued up to a high-water mark; lost connections come back with backoff;
//! heartbeats (PING/PONG) detect dead peers; each ROUTER peer has its own bounded queue; a
//! stream of [`SocketEvent`]s says what happens to connections.
//!
//! Every call into the async runtime (async-std today) is in the [`runtime`] module.
//!
//! ## Example
//!
//! ```
//! use courier_proto::message::{Message, Multipart};
//! use courier_socket::{runtime, Dealer, Options, Router};
//!
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
#![forbid(unsafe_code)]

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

pub use dealer::Dealer;
pub use endpoint::{Endpoint, EndpointError};
pub use error::SocketError;
pub use event::{DropReason, Reason, SocketEvent};
pub use io::{io_threads, set_io_threads, Sleep, IO_THREADS_VAR};
pub use options::{Options, Security, WhenFull};
pub use router::Router;

pub use courier_proto as proto;
pub use courier_proto::message::{Message, Multipart};
