//! Socket events: what happened to connections, for logs and monitoring (libzmq's
//! zmq_socket_monitor, as a stream of values).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::endpoint::Endpoint;

/// Something that happened on a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// Listening on an endpoint (with the port actually bound).
    Listening {
        /// The endpoint.
        endpoint: Endpoint,
    },
    /// A TCP (or ipc) connection is open; the handshake starts.
    Connected {
        /// The peer's address.
        peer_addr: String,
    },
    /// Connecting failed; another attempt follows.
    ConnectFailed {
        /// The endpoint.
        endpoint: Endpoint,
        /// The error.
        reason: String,
        /// When the next attempt is made.
        retry_in: Duration,
    },
    /// Accepting a connection failed (e.g. out of file descriptors); accepting pauses.
    AcceptFailed {
        /// The error.
        reason: String,
        /// The pause.
        retry_in: Duration,
    },
    /// A connection was refused because the socket is at `max_connections`.
    ConnectionLimit {
        /// The peer's address.
        peer_addr: String,
        /// The limit.
        max: usize,
    },
    /// The handshake succeeded.
    HandshakeSucceeded {
        /// The peer's address.
        peer_addr: String,
        /// The routing id under which the peer is known (ROUTER) or the peer's Identity.
        routing_id: Bytes,
    },
    /// The handshake failed.
    HandshakeFailed {
        /// The peer's address.
        peer_addr: String,
        /// Why.
        reason: String,
    },
    /// A connection closed.
    Disconnected {
        /// The peer's address.
        peer_addr: String,
        /// The peer's routing id, if the handshake had succeeded.
        routing_id: Option<Bytes>,
        /// Why.
        reason: String,
    },
    /// Messages were discarded (ROUTER: unknown peer, full queue, or a peer that left with
    /// messages still queued; either type: a message cut off by a failed connection).
    MessagesDropped {
        /// The routing id they were for.
        routing_id: Bytes,
        /// How many.
        count: usize,
        /// Why.
        reason: String,
    },
}

/// A routing id for display: text when printable, else `0x` and hex (generated ids start with
/// a zero octet).
struct RoutingId<'a>(&'a [u8]);

impl fmt::Display for RoutingId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.iter().all(u8::is_ascii_graphic) {
            return write!(f, "{}", self.0.escape_ascii());
        }
        f.write_str("0x")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Display for SocketEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketEvent::Listening { endpoint } => write!(f, "listening on {endpoint}"),
            SocketEvent::Connected { peer_addr } => write!(f, "connected to {peer_addr}"),
            SocketEvent::ConnectFailed {
                endpoint,
                reason,
                retry_in,
            } => write!(
                f,
                "connecting to {endpoint} failed ({reason}); retrying in {retry_in:?}"
            ),
            SocketEvent::AcceptFailed { reason, retry_in } => {
                write!(f, "accept failed ({reason}); pausing {retry_in:?}")
            }
            SocketEvent::ConnectionLimit { peer_addr, max } => write!(
                f,
                "refused connection from {peer_addr}: at the limit of {max} connections"
            ),
            SocketEvent::HandshakeSucceeded {
                peer_addr,
                routing_id,
            } if routing_id.is_empty() => write!(f, "handshake with {peer_addr} done"),
            SocketEvent::HandshakeSucceeded {
                peer_addr,
                routing_id,
            } => write!(
                f,
                "handshake with {peer_addr} done (routing id {})",
                RoutingId(routing_id)
            ),
            SocketEvent::HandshakeFailed { peer_addr, reason } => {
                write!(f, "handshake with {peer_addr} failed: {reason}")
            }
            SocketEvent::Disconnected {
                peer_addr, reason, ..
            } => write!(f, "disconnected from {peer_addr}: {reason}"),
            SocketEvent::MessagesDropped {
                routing_id,
                count,
                reason,
            } => write!(
                f,
                "dropped {count} message(s) for {}: {reason}",
                RoutingId(routing_id)
            ),
        }
    }
}
