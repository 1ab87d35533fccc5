//! Socket events: what happened to connections, for logs and monitoring (libzmq's
//! zmq_socket_monitor, as a stream of values).

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use courier_proto::connection::ConnectionError;

use crate::endpoint::Endpoint;

/// Why a connection closed, or why a connection attempt failed: the typed cause, with the same
/// text as a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The protocol failed: a malformed greeting, frame or command, a limit exceeded, a refused
    /// handshake, an ERROR from the peer, or a protocol timer (handshake, heartbeat, TTL).
    Protocol(ConnectionError),
    /// A system call failed.
    Io {
        /// The error's kind.
        kind: io::ErrorKind,
        /// The system's message.
        message: String,
    },
    /// The peer closed the connection after the handshake.
    PeerClosed,
    /// The peer closed the connection during the handshake; `curve_client` says that we were a
    /// CURVE client (a CURVE server closes without a word when our server key is not its key).
    PeerClosedInHandshake {
        /// We were a CURVE client.
        curve_client: bool,
    },
    /// The socket refused the peer after its handshake (e.g. its routing id is in use).
    Refused(String),
    /// Another connection with the same routing id took over (ROUTER handover), or the
    /// application disconnected the peer.
    Kicked,
    /// A subscriber's subscriptions went over the publisher's limits
    /// ([`Options::max_subscriptions`](crate::Options::max_subscriptions),
    /// [`Options::max_subscription_bytes`](crate::Options::max_subscription_bytes)).
    TooManySubscriptions {
        /// Distinct topics it held, with the one that went over.
        topics: usize,
        /// Their bytes.
        bytes: usize,
    },
    /// The socket was closed.
    SocketClosed,
    /// The connection attempt did not finish in time.
    ConnectTimeout(Duration),
    /// The host name resolves to no address.
    NoAddress(String),
    /// A partial message made too little progress (see `Options::stall_timeout`).
    Stalled {
        /// Bytes of the partial message held.
        held: usize,
        /// How long it went without progress.
        after: Duration,
    },
}

impl Reason {
    /// A reason from an I/O error.
    pub fn io(e: &io::Error) -> Reason {
        Reason::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<ConnectionError> for Reason {
    fn from(e: ConnectionError) -> Self {
        Reason::Protocol(e)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Protocol(e) => write!(f, "{e}"),
            Reason::Io { message, .. } => write!(f, "{message}"),
            Reason::PeerClosed => f.write_str("peer closed the connection"),
            Reason::PeerClosedInHandshake {
                curve_client: false,
            } => f.write_str("peer closed the connection during the handshake"),
            Reason::PeerClosedInHandshake { curve_client: true } => f.write_str(
                "peer closed the connection during the handshake (a CURVE server does that when \
                 it does not hold the secret key for our server key: check the server's .key file)",
            ),
            Reason::Refused(why) => f.write_str(why),
            Reason::Kicked => f.write_str("closed by the socket (handover or disconnect)"),
            Reason::TooManySubscriptions { topics, bytes } => write!(
                f,
                "the subscriber went over the subscription limits ({topics} topics, {bytes} bytes; \
                 see Options::max_subscriptions and max_subscription_bytes)"
            ),
            Reason::SocketClosed => f.write_str("socket closed"),
            Reason::ConnectTimeout(after) => write!(f, "timed out after {after:?}"),
            Reason::NoAddress(host) => write!(f, "{host} resolves to no address"),
            Reason::Stalled { held, after } => write!(
                f,
                "stalled: a partial message of {held} bytes made no progress for {after:?}; \
                 closed to free its memory"
            ),
        }
    }
}

/// Why messages were dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// ROUTER: no connected peer has the routing id.
    UnknownPeer,
    /// The peer's send queue is at its high-water mark (ROUTER, REP; a PUB or XPUB
    /// subscriber missing a message; an XSUB message a publisher had no room for).
    QueueFull {
        /// The high-water mark.
        hwm: usize,
    },
    /// ROUTER, REP: the peer disconnected before they were sent.
    PeerGone,
    /// The peer disconnected with messages still queued for it.
    LeftQueued,
    /// The connection failed while they were being written.
    CutOff,
    /// The connection failed before they were written.
    Unwritten,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::UnknownPeer => f.write_str("no connected peer has this routing id"),
            DropReason::QueueFull { hwm } => write!(f, "the peer's send queue is full ({hwm})"),
            DropReason::PeerGone => f.write_str("the peer disconnected"),
            DropReason::LeftQueued => {
                f.write_str("the peer disconnected with messages still queued")
            }
            DropReason::CutOff => {
                f.write_str("the connection failed while they were being written")
            }
            DropReason::Unwritten => f.write_str("the connection failed before they were written"),
        }
    }
}

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
        reason: Reason,
        /// When the next attempt is made.
        retry_in: Duration,
    },
    /// Accepting a connection failed (e.g. out of file descriptors); accepting pauses.
    AcceptFailed {
        /// The error.
        reason: Reason,
        /// The pause.
        retry_in: Duration,
    },
    /// A connection was refused because its address is at `max_connections_per_address`.
    AddressLimit {
        /// The peer's address.
        peer_addr: String,
        /// The limit.
        max: usize,
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
        reason: Reason,
    },
    /// A connection closed.
    Disconnected {
        /// The peer's address.
        peer_addr: String,
        /// The peer's routing id, if the handshake had succeeded.
        routing_id: Option<Bytes>,
        /// Why.
        reason: Reason,
    },
    /// Messages were discarded (ROUTER: unknown peer; a full per-peer queue, e.g. a slow PUB
    /// subscriber; a peer that left with messages still queued; any type: a message cut off
    /// by a failed connection).
    MessagesDropped {
        /// The routing id they were for (empty for a peer without one).
        routing_id: Bytes,
        /// How many.
        count: usize,
        /// Why.
        reason: DropReason,
    },
}

/// A routing id for display: text when printable, else `0x` and hex (generated ids start with
/// a zero octet); an empty one (a peer that announced none) as "the peer".
pub(crate) struct RoutingId<'a>(pub &'a [u8]);

impl fmt::Display for RoutingId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the peer (no routing id)");
        }
        if self.0.iter().all(u8::is_ascii_graphic) && self.0.iter().all(u8::is_ascii_graphic) {
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
            SocketEvent::AddressLimit { peer_addr, max } => write!(
                f,
                "refused connection from {peer_addr}: its address is at the limit of {max} \
                 connections"
            ),
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
                peer_addr,
                reason,
                routing_id: Some(id),
            } if !id.is_empty() => write!(
                f,
                "disconnected from {peer_addr}: {reason} (routing id {})",
                RoutingId(id)
            ),
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
