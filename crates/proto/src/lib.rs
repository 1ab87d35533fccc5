//! # courier-proto
//!
//! The ZeroMQ wire protocol (ZMTP 3.1, RFC 23 and RFC 37) for DEALER and ROUTER sockets,
//! written sans IO in the manner of `quinn-proto`: bytes in, typed values out, and typed values
//! to bytes. No sockets, no async, no clocks; the async engine (`courier-socket`) drives it.
//!
//! What is here:
//! - [`greeting`]: the 64-byte greeting (version, mechanism, as-server).
//! - [`frame`]: short and long frames with MORE and COMMAND flags, and an incremental decoder
//!   that checks [`Limits`](frame::Limits) on the header, before buffering a body.
//! - [`command`] and [`metadata`]: READY, ERROR, PING, PONG and connection properties.
//! - [`mechanism`] and [`null`]: the security-mechanism interface and the NULL handshake.
//! - [`plain`]: the PLAIN mechanism (RFC 24): user name and password, in the clear.
//! - ZAP (RFC 27) as a decision point: a server-side mechanism hands the peer's credentials
//!   to the driver ([`mechanism::ZapRequest`]) and goes on with its answer
//!   ([`mechanism::ZapReply`]); [`zap`] has RFC 27's request and reply messages, for a ZAP
//!   handler reached over a socket.
//! - [`curve`]: the CURVE mechanism (CurveZMQ, RFC 26), with [`z85`] keys and [`cert`] key files.
//! - [`connection`]: one connection's state machine tying the above together, with its
//!   protocol timers (handshake deadline, heartbeats, the peer's TTL) driven by instants the
//!   caller passes in.
//! - [`message`]: multipart messages and courier's typed application messages.
//!
//! What is not here: sockets, queues, reconnection and clocks (see `courier-socket`).
//!
//! ## Example: two connections handshake in memory
//!
//! ```
//! use std::time::Instant;
//!
//! use bytes::BytesMut;
//! use courier_proto::connection::{Connection, ConnectionConfig, Event};
//! use courier_proto::message::{Message, Multipart};
//! use courier_proto::null::Null;
//! use courier_proto::socket_type::SocketType;
//!
//! let now = Instant::now();
//! let mut dealer = Connection::new(ConnectionConfig::new(SocketType::Dealer), Box::new(Null::new()), now);
//! let mut router = Connection::new(ConnectionConfig::new(SocketType::Router), Box::new(Null::new()), now);
//! let (mut to_router, mut to_dealer) = (BytesMut::new(), BytesMut::new());
//! // Exchange greetings, then READY commands.
//! for _ in 0..2 {
//!     to_router.extend_from_slice(&dealer.take_output());
//!     to_dealer.extend_from_slice(&router.take_output());
//!     dealer.receive(&mut to_dealer, now)?;
//!     router.receive(&mut to_router, now)?;
//! }
//! assert!(dealer.is_active() && router.is_active());
//!
//! dealer.send(&Multipart::from(Message::Hello))?;
//! to_router.extend_from_slice(&dealer.take_output());
//! router.receive(&mut to_router, now)?;
//! assert!(matches!(router.poll_event(), Some(Event::HandshakeComplete(_))));
//! let Some(Event::Message(msg)) = router.poll_event() else { panic!() };
//! assert_eq!(Message::try_from(msg)?, Message::Hello);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation)]

pub mod cert;
pub mod command;
pub mod connection;
pub mod curve;
pub mod frame;
pub mod greeting;
pub mod mechanism;
pub mod message;
pub mod metadata;
pub mod null;
pub mod plain;
pub mod socket_type;
mod timers;
pub mod z85;
pub mod zap;

pub use bytes::Bytes;
