//! Socket errors.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::endpoint::{Endpoint, EndpointError};

/// Why a socket call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SocketError {
    /// A malformed endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Binding failed (address in use, permission, ...).
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint.
        endpoint: Endpoint,
        /// The OS error.
        source: io::Error,
    },
    /// The send queue is at its high-water mark and the socket is set to fail.
    #[error("send queue full ({hwm} messages): the peer is not keeping up or not connected")]
    QueueFull {
        /// The high-water mark.
        hwm: usize,
    },
    /// ROUTER with `router_mandatory`: no connected peer has this routing id.
    #[error("no connected peer with routing id {}", .0.escape_ascii())]
    UnknownPeer(Bytes),
    /// A ROUTER message needs a routing-id frame and at least one more frame.
    #[error("a ROUTER message needs a routing id frame followed by at least one frame")]
    MissingRoutingId,
    /// The call is not allowed in the socket's current state (libzmq's EFSM): REQ and REP
    /// alternate strictly between sending and receiving.
    #[error("{0}")]
    WrongState(&'static str),
    /// The socket type sends nothing (SUB, PULL), yet a proxy was asked to send on it.
    #[error("this socket type sends nothing (SUB, PULL)")]
    CannotSend,
    /// The socket is closed.
    #[error("socket closed")]
    Closed,
    /// A blocking call with a timeout gave up.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}
