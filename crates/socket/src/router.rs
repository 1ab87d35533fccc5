//! ROUTER: knows each peer by its routing id; received messages start with the sender's
//! routing id, and the first frame of a sent message names the peer to send it to.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;

use crate::auth::Properties;
use crate::budget::Budget;
use crate::core::{lock, Core};
use crate::endpoint::Endpoint;
use crate::error::SocketError;
use crate::event::{DropReason, SocketEvent};
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::{Options, WhenFull};
use crate::outbox::{Outbox, PushError};
use crate::pattern::{Attachment, Outgoing, Pattern};

struct PeerEntry {
    conn_id: u64,
    public_key: Option<[u8; 32]>,
    queue: Arc<Outbox>,
    handle: ConnHandle,
    properties: Option<Properties>,
}

/// ROUTER's pattern: each peer has its own send queue, found by routing id; received
/// messages get the sender's routing id in front.
struct RouterPattern {
    peers: Mutex<HashMap<Bytes, PeerEntry>>,
    inbox: Arc<Inbox>,
    next_id: AtomicU32,
    handover: bool,
    send_hwm: usize,
}

impl RouterPattern {
    /// A libzmq-style generated routing id: a zero octet and a 32-bit counter.
    fn generate_id(&self) -> Bytes {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut id = BytesMut::with_capacity(5);
        id.put_u8(0);
        id.put_u32(n);
        id.freeze()
    }
}

impl Pattern for RouterPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Router
    }

    fn attach(
        &self,
        conn_id: u64,
        peer: &PeerInfo,
        handle: ConnHandle,
    ) -> Result<Attachment, String> {
        let mut peers = lock(&self.peers);
        let routing_id = if peer.identity.is_empty() {
            let mut id = self.generate_id();
            while peers.contains_key(&id) {
                id = self.generate_id();
            }
            id
        } else {
            peer.identity.clone()
        };
        if let Some(old) = peers.get(&routing_id) {
            if !self.handover {
                return Err(format!(
                    "routing id {} is already in use by another connection (refusing the new one)",
                    routing_id.escape_ascii()
                ));
            }
            log::info!(
                "ROUTER socket: routing id {} reconnected; handing over from the old connection",
                routing_id.escape_ascii()
            );
            old.handle.kick();
            old.queue.close();
        }
        // Grows as used (a `VecDeque`), holding up to `send_hwm`.
        let queue = Arc::new(Outbox::new(self.send_hwm));
        peers.insert(
            routing_id.clone(),
            PeerEntry {
                conn_id,
                public_key: peer.public_key,
                queue: Arc::clone(&queue),
                handle,
                properties: None,
            },
        );
        Ok(Attachment {
            outgoing: Outgoing::Own(queue),
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: false,
            prefix: Some(routing_id.clone()),
            routing_id,
        })
    }

    fn set_properties(&self, conn_id: u64, routing_id: &Bytes, properties: Properties) {
        let mut peers = lock(&self.peers);
        if let Some(peer) = peers.get_mut(routing_id).filter(|p| p.conn_id == conn_id) {
            peer.properties = Some(properties);
        }
    }

    fn detach(&self, conn_id: u64, attachment: &Attachment) {
        let mut peers = lock(&self.peers);
        if peers
            .get(&attachment.routing_id)
            .is_some_and(|p| p.conn_id == conn_id)
        {
            if let Some(peer) = peers.remove(&attachment.routing_id) {
                peer.queue.close();
            }
        }
    }
}

/// A ROUTER socket.
///
/// Each peer has its own bounded send queue, so a slow or stopped peer never holds up the
/// others. Peers without a routing id of their own get a generated one (a zero octet and a
/// 32-bit counter, as libzmq does).
pub struct Router {
    core: Arc<Core>,
    routing: Arc<RouterPattern>,
    inbox: Arc<Inbox>,
}

impl Router {
    /// A ROUTER with these options.
    pub fn new(options: Options) -> Router {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let routing = Arc::new(RouterPattern {
            peers: Mutex::new(HashMap::new()),
            inbox: Arc::clone(&inbox),
            next_id: AtomicU32::new(random_u32()),
            handover: options.router_handover,
            send_hwm: options.send_hwm,
        });
        let core = Core::new(options, routing.clone(), budget);
        Router {
            core,
            routing,
            inbox,
        }
    }

    /// Listens on `endpoint`; returns the endpoint bound (with the real port for port 0).
    pub async fn bind(&self, endpoint: &str) -> Result<Endpoint, SocketError> {
        self.core.bind(endpoint)
    }

    /// [`bind`](Router::bind) for programs without an async runtime.
    pub fn bind_blocking(&self, endpoint: &str) -> Result<Endpoint, SocketError> {
        self.core.bind(endpoint)
    }

    /// Connects to `endpoint` in the background and keeps the connection up.
    pub fn connect(&self, endpoint: &str) -> Result<(), SocketError> {
        self.core.connect(endpoint)
    }

    /// Sends `msg`, whose first frame is the routing id of the peer to send the rest to.
    ///
    /// An unknown peer or a full peer queue is reported as an event and the message dropped
    /// (libzmq's default), or with `router_mandatory` an error (a full queue waits instead if
    /// the socket is set to [`WhenFull::Block`]).
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.route(msg)? {
            Routed::Done => Ok(()),
            Routed::Wait(queue, rest, routing_id) => queue
                .push(rest)
                .await
                .map_err(|_| SocketError::UnknownPeer(routing_id)),
        }
    }

    /// [`send`](Router::send), blocking the calling thread where `send` would wait.
    pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
        self.send_until(msg, None)
    }

    /// [`send`](Router::send), blocking the calling thread for at most `timeout` where `send`
    /// would wait; [`SocketError::Timeout`] if the peer's queue stays full.
    pub fn send_timeout(&self, msg: Multipart, timeout: Duration) -> Result<(), SocketError> {
        self.send_until(msg, Some(Instant::now() + timeout))
            .map_err(|e| match e {
                SocketError::QueueFull { .. } => SocketError::Timeout(timeout),
                e => e,
            })
    }

    fn send_until(&self, msg: Multipart, deadline: Option<Instant>) -> Result<(), SocketError> {
        match self.route(msg)? {
            Routed::Done => Ok(()),
            Routed::Wait(queue, rest, routing_id) => {
                queue.push_blocking(rest, deadline).map_err(|e| match e {
                    PushError::Full(_) => SocketError::QueueFull {
                        hwm: self.core.options.send_hwm,
                    },
                    PushError::Closed(_) => SocketError::UnknownPeer(routing_id),
                })
            }
        }
    }

    /// Queues `msg` for its peer, or says that the caller must wait for room.
    fn route(&self, msg: Multipart) -> Result<Routed, SocketError> {
        let (routing_id, rest) = msg.pop_front();
        let rest = rest.ok_or(SocketError::MissingRoutingId)?;
        let queue = lock(&self.routing.peers)
            .get(&routing_id)
            .map(|p| p.queue.clone());
        let options = &self.core.options;
        let Some(queue) = queue else {
            if options.router_mandatory {
                return Err(SocketError::UnknownPeer(routing_id));
            }
            // Routine after a peer leaves (servers often still greet it): debug, not warn.
            self.core.emit_at(
                Some(log::Level::Debug),
                SocketEvent::MessagesDropped {
                    routing_id,
                    count: 1,
                    reason: DropReason::UnknownPeer,
                },
            );
            return Ok(Routed::Done);
        };
        match queue.try_push(rest) {
            Ok(()) => Ok(Routed::Done),
            Err(PushError::Full(rest)) => {
                if !options.router_mandatory {
                    self.core.emit(SocketEvent::MessagesDropped {
                        routing_id,
                        count: 1,
                        reason: DropReason::QueueFull {
                            hwm: options.send_hwm,
                        },
                    });
                    return Ok(Routed::Done);
                }
                match options.when_full {
                    // Wait for the peer's connection to make room (mandatory + block).
                    WhenFull::Block => Ok(Routed::Wait(queue, rest, routing_id)),
                    WhenFull::Error => Err(SocketError::QueueFull {
                        hwm: options.send_hwm,
                    }),
                }
            }
            Err(PushError::Closed(_)) => {
                if options.router_mandatory {
                    return Err(SocketError::UnknownPeer(routing_id));
                }
                self.core.emit(SocketEvent::MessagesDropped {
                    routing_id,
                    count: 1,
                    reason: DropReason::PeerGone,
                });
                Ok(Routed::Done)
            }
        }
    }

    /// Receives the next message; its first frame is the sender's routing id.
    pub async fn recv(&self) -> Result<Multipart, SocketError> {
        Ok(self.inbox.pop().await)
    }

    /// Receives the next message, blocking the calling thread until one comes.
    pub fn recv_blocking(&self) -> Result<Multipart, SocketError> {
        self.inbox.pop_blocking(None).ok_or(SocketError::Closed)
    }

    /// Receives the next message, blocking the calling thread for at most `timeout`;
    /// [`SocketError::Timeout`] if none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Multipart, SocketError> {
        self.inbox
            .pop_blocking(Some(Instant::now() + timeout))
            .ok_or(SocketError::Timeout(timeout))
    }

    /// Receives a message if one is waiting.
    pub fn try_recv(&self) -> Option<Multipart> {
        self.inbox.try_pop()
    }

    /// Routing ids of the peers connected now.
    pub fn peers(&self) -> Vec<Bytes> {
        lock(&self.routing.peers).keys().cloned().collect()
    }

    /// Whether a peer with this routing id is connected.
    pub fn is_connected(&self, routing_id: &[u8]) -> bool {
        lock(&self.routing.peers).contains_key(routing_id)
    }

    /// The authenticated long-term public key of the peer with this routing id (CURVE only).
    pub fn peer_public_key(&self, routing_id: &[u8]) -> Option<[u8; 32]> {
        lock(&self.routing.peers)
            .get(routing_id)
            .and_then(|p| p.public_key)
    }

    /// What is known of the peer with this routing id: the user id its authenticator gave
    /// it ("User-Id"), its address ("Peer-Address"), its handshake metadata and the
    /// authenticator's metadata. These are libzmq's per-message properties: every message
    /// received from a routing id came over that peer's one connection, so they apply to each
    /// of its messages. None if no such peer is connected.
    pub fn peer_properties(&self, routing_id: &[u8]) -> Option<Properties> {
        lock(&self.routing.peers)
            .get(routing_id)
            .and_then(|p| p.properties.clone())
    }

    /// Closes the connection of the peer with this routing id; returns whether there was one.
    pub fn disconnect(&self, routing_id: &[u8]) -> bool {
        match lock(&self.routing.peers).get(routing_id) {
            Some(peer) => peer.handle.kick(),
            None => false,
        }
    }

    /// Bytes the socket holds now against its receive-memory budget (`max_buffered`): partial
    /// messages and messages not yet taken by `recv`.
    pub fn buffered(&self) -> usize {
        self.core.budget.used()
    }

    /// The socket's events (a bounded stream; the oldest are dropped if nobody reads).
    pub fn events(&self) -> async_channel::Receiver<SocketEvent> {
        self.core.events()
    }

    /// Closes the socket: stops accepting, waits up to `linger` for queued messages to be
    /// written, then closes every connection.
    pub async fn close(self) {
        let routing = Arc::clone(&self.routing);
        self.core
            .close(|| lock(&routing.peers).values().all(|p| p.queue.is_empty()))
            .await;
    }

    /// [`close`](Router::close), blocking the calling thread.
    pub fn close_blocking(self) {
        let routing = Arc::clone(&self.routing);
        self.core
            .close_blocking(|| lock(&routing.peers).values().all(|p| p.queue.is_empty()));
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}

/// What `route` did with a message.
enum Routed {
    /// Queued or dropped.
    Done,
    /// The peer's queue is full and the caller waits for room.
    Wait(Arc<Outbox>, Multipart, Bytes),
}

/// A random 32-bit number from the standard library's randomly keyed hasher (no RNG crate
/// needed for a starting counter).
pub(crate) fn random_u32() -> u32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x0063_6f75_7269_6572);
    (hasher.finish() >> 32) as u32
}
