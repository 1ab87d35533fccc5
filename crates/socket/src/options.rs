//! Socket options, with libzmq's defaults where libzmq has one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use courier_proto::curve::{Authorizer, ClientConfig, CurveConfig, Keypair, PublicKey, SecretKey};
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
    /// CURVE (CurveZMQ, RFC 26): every connection encrypted and the server authenticated by
    /// its long-term key, the client by its own. The role is part of the config and is
    /// independent of bind and connect, as in libzmq (ZMQ_CURVE_SERVER).
    Curve(CurveConfig),
    /// PLAIN client (RFC 24): logs in with a user name and password, sent in the clear
    /// (libzmq's ZMQ_PLAIN_USERNAME and ZMQ_PLAIN_PASSWORD).
    PlainClient(courier_proto::plain::PlainClient),
    /// PLAIN server (libzmq's ZMQ_PLAIN_SERVER): the socket's
    /// [`authenticator`](Options::authenticator) checks the credentials; without one, a ZAP
    /// handler bound to `inproc://zeromq.zap.01` does (see [`crate::zap`]), and without
    /// either every user is accepted, as libzmq does without a ZAP handler.
    PlainServer,
}

impl Security {
    /// CURVE client: our long-term key pair, and the long-term public key of the server we
    /// expect (libzmq's ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SECRETKEY and ZMQ_CURVE_SERVERKEY).
    pub fn curve_client(keypair: Keypair, server_key: PublicKey) -> Self {
        Security::Curve(CurveConfig::Client(ClientConfig::new(keypair, server_key)))
    }

    /// CURVE server: our long-term secret key, and which clients may connect, by their
    /// long-term public key (libzmq's ZMQ_CURVE_SERVER and ZMQ_CURVE_SECRETKEY, with the
    /// authorizer in place of a ZAP handler). A refused client is sent an ERROR command, and
    /// the handshake fails with a reason naming its key in Z85.
    pub fn curve_server(secret: SecretKey, authorizer: Authorizer) -> Self {
        Security::Curve(CurveConfig::Server(
            courier_proto::curve::ServerConfig::new(secret, authorizer),
        ))
    }

    /// Whether this is the client side of CURVE.
    pub fn is_curve_client(&self) -> bool {
        matches!(self, Security::Curve(CurveConfig::Client(_)))
    }

    /// A fresh handshake state machine for one connection.
    pub(crate) fn mechanism(&self) -> Box<dyn courier_proto::mechanism::Mechanism> {
        match self {
            Security::Null => Box::new(courier_proto::null::Null::new()),
            Security::Curve(config) => config.mechanism(),
            Security::PlainClient(client) => Box::new(client.clone()),
            Security::PlainServer => Box::new(courier_proto::plain::PlainServer::new()),
        }
    }
}

/// Options shared by every socket type (each reads those that concern it).
#[derive(Clone, Debug)]
pub struct Options {
    /// Our routing id, sent as the Identity property (empty: none).
    pub routing_id: Bytes,
    /// Messages queued for sending, per socket (DEALER, PUSH, PAIR) or per peer (ROUTER, PUB,
    /// XPUB, REQ, REP). Default 1000.
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
    /// REQ: a new request may be sent before the last one's reply came; the old request is
    /// abandoned and its reply, if it comes, dropped (libzmq ZMQ_REQ_RELAXED).
    pub req_relaxed: bool,
    /// REQ: each request carries a request id frame before the delimiter, and only a reply
    /// with the same id is accepted (libzmq ZMQ_REQ_CORRELATE; use with `req_relaxed`).
    pub req_correlate: bool,
    /// XPUB: deliver every subscription to the application, not only a topic's first
    /// (libzmq ZMQ_XPUB_VERBOSE).
    pub xpub_verbose: bool,
    /// XPUB: deliver every subscription and every cancellation, not only a topic's first and
    /// last (libzmq ZMQ_XPUB_VERBOSER).
    pub xpub_verboser: bool,
    /// PUB, XPUB: the most distinct topics one subscriber may hold; a subscriber that asks
    /// for more is disconnected with [`Reason::TooManySubscriptions`](crate::Reason). Default
    /// 100 000.
    pub max_subscriptions: usize,
    /// PUB, XPUB: the most bytes one subscriber's topics may add up to (a single huge topic
    /// included); over it, as `max_subscriptions`. Default 16 MiB.
    pub max_subscription_bytes: usize,
    /// How long `close` waits for queued messages to be written. Default 1 s.
    pub linger: Duration,
    /// Most simultaneous connections a bound socket accepts (None: no limit).
    pub max_connections: Option<usize>,
    /// Most simultaneous connections a bound socket accepts from one IP address (None: no
    /// limit), so that one address cannot take every slot. Default 256.
    pub max_connections_per_address: Option<usize>,
    /// Most handshakes in progress at once on a bound socket (None: no limit); past it, new
    /// connections wait in the system's accept queue. Bounds the CPU a flood of CURVE
    /// handshakes can take. Default 512.
    pub max_handshakes: Option<usize>,
    /// The receive-memory budget: most bytes held for partial messages and messages not yet
    /// taken by `recv`, across all connections (see the crate's budget policy: the last 1/8
    /// is kept for peers sending small messages). Default 128 MiB.
    pub max_buffered: usize,
    /// A connection holding a partial message that grows by less than 4 KiB in this long is
    /// closed, freeing its memory (None: never). Default 30 s.
    pub stall_timeout: Option<Duration>,
    /// Limits on what peers may send.
    pub limits: Limits,
    /// Security mechanism.
    pub security: Security,
    /// Who may connect: asked about every peer's handshake (NULL, PLAIN, CURVE server) on a
    /// worker thread (see [`crate::auth`]). None: a ZAP handler bound to
    /// `inproc://zeromq.zap.01` decides for PLAIN and CURVE servers, and for NULL with a
    /// [`zap_domain`](Options::zap_domain) (see [`crate::zap`]); without a handler NULL and
    /// PLAIN accept everyone and CURVE asks its `Authorizer`.
    pub authenticator: Option<Arc<dyn crate::auth::Authenticator>>,
    /// The ZAP domain passed to the authenticator (libzmq's ZMQ_ZAP_DOMAIN). Default empty.
    /// A NULL socket asks the inproc ZAP handler only when it is set, as libzmq does.
    pub zap_domain: String,
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
            req_relaxed: false,
            req_correlate: false,
            xpub_verbose: false,
            xpub_verboser: false,
            max_subscriptions: 100_000,
            max_subscription_bytes: 16 * 1024 * 1024,
            linger: Duration::from_secs(1),
            max_connections: None,
            max_connections_per_address: Some(256),
            max_handshakes: Some(512),
            max_buffered: 128 << 20,
            stall_timeout: Some(Duration::from_secs(30)),
            limits: Limits::default(),
            security: Security::Null,
            authenticator: None,
            zap_domain: String::new(),
        }
    }
}
