//! Socket options, with libzmq's defaults where libzmq has one.

use std::time::Duration;

use bytes::Bytes;
use courier_proto::frame::Limits;

/// What `send` does when the send queue is at its high-water mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Wait until there is room (libzmq's blocking send).
    #[default]
    Block,
    /// Fail at once with [`SocketError::QueueFull`](crate::SocketError::QueueFull).
    Error,
}

/// The security mechanism of a socket.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Security {
    /// No security (ZMTP NULL).
    #[default]
    Null,
}

impl Security {
    /// A fresh handshake state machine for one connection.
    pub(crate) fn mechanism(&self) -> Box<dyn courier_proto::mechanism::Mechanism> {
        match self {
            Security::Null => Box::new(courier_proto::null::Null::new()),
        }
    }
}

/// Options shared by DEALER and ROUTER sockets.
#[derive(Clone, Debug)]
pub struct Options {
    /// Our routing id, sent as the Identity property (empty: none).
    pub routing_id: Bytes,
    /// Messages queued for sending, per socket (DEALER) or per peer (ROUTER). Default 1000.
    pub send_hwm: usize,
    /// Messages received but not yet taken by `recv`. Default 1000.
    pub recv_hwm: usize,
    /// What `send` does at the high-water mark.
    pub when_full: WhenFull,
    /// First wait before reconnecting. Default 100 ms.
    pub reconnect_ivl: Duration,
    /// Longest wait between reconnection attempts (the wait doubles up to this). Default 1 s.
    pub reconnect_ivl_max: Duration,
    /// How long a TCP connect may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long the greeting and security handshake may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// Send a PING this often (None: no heartbeats, libzmq's default).
    pub heartbeat_ivl: Option<Duration>,
    /// Close the connection if nothing arrives this long after a PING. Default: the interval.
    pub heartbeat_timeout: Option<Duration>,
    /// Ask the peer to close the connection if it hears nothing from us this long (PING TTL).
    pub heartbeat_ttl: Option<Duration>,
    /// ROUTER: sending to an unknown peer, or a peer whose queue is full, is an error instead
    /// of a logged drop (libzmq ROUTER_MANDATORY).
    pub router_mandatory: bool,
    /// ROUTER: a new connection with a routing id already in use takes over from the old one
    /// (libzmq ROUTER_HANDOVER); by default the new one is refused.
    pub router_handover: bool,
    /// How long `close` waits for queued messages to be written. Default 1 s.
    pub linger: Duration,
    /// Most simultaneous connections a bound socket accepts (None: no limit).
    pub max_connections: Option<usize>,
    /// Limits on what peers may send.
    pub limits: Limits,
    /// Security mechanism.
    pub security: Security,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            routing_id: Bytes::new(),
            send_hwm: 1000,
            recv_hwm: 1000,
            when_full: WhenFull::Block,
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            router_mandatory: false,
            router_handover: false,
            linger: Duration::from_secs(1),
            max_connections: None,
            limits: Limits::default(),
            security: Security::Null,
        }
    }
}
