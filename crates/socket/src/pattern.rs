//! The pattern layer: how a socket type routes messages, apart from how connections are
//! driven. A pattern decides what a connection gets when its handshake succeeds (where its
//! received messages go, which queue it sends from) and what happens when it leaves; the
//! socket type's public API (in `dealer.rs`, `router.rs`, `pipeline.rs`, `pair.rs`,
//! `pubsub.rs`, `reqrep.rs`) decides how `send` and `recv`
//! use those queues. A new socket type is a new pattern, not a new engine. An inproc pipe
//! (`io/pipe.rs`) meets the patterns exactly as a network connection does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;

use crate::auth::Properties;
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::outbox::Outbox;

/// Where a connection takes the messages it sends.
pub(crate) enum Outgoing {
    /// One queue for the whole socket, shared by its connections (load balancing: each takes
    /// a write's worth when it is ready), and a front queue of messages taken back from a
    /// connection that failed to write them (DEALER).
    Shared {
        queue: Arc<Outbox>,
        requeue: Arc<Mutex<VecDeque<Multipart>>>,
    },
    /// This peer's own queue (ROUTER; a publisher's per-subscriber queue).
    Own(Arc<Outbox>),
    /// The socket sends nothing to its peers (PULL).
    Nothing,
}

/// What a connection gets when its handshake succeeds.
pub(crate) struct Attachment {
    pub outgoing: Outgoing,
    /// Where received messages go (fair-queued with the socket's other connections); None:
    /// the socket takes no messages from its peers (PUSH), they are dropped.
    pub inbound: Option<Arc<Inbox>>,
    /// Received messages pass through [`Pattern::incoming`] first (a publisher reads
    /// subscriptions from them).
    pub filter_incoming: bool,
    /// A frame to put in front of each received message (ROUTER: the routing id).
    pub prefix: Option<Bytes>,
    /// The routing id the peer is known by.
    pub routing_id: Bytes,
}

/// A socket type's routing policy.
pub(crate) trait Pattern: Send + Sync + 'static {
    /// Our socket type.
    fn socket_type(&self) -> SocketType;
    /// A connection finished its handshake: give it its queues, or refuse it with a reason
    /// (sent to the peer in an ERROR command). `handle` closes that connection later.
    fn attach(
        &self,
        conn_id: u64,
        peer: &PeerInfo,
        handle: ConnHandle,
    ) -> Result<Attachment, String>;
    /// A connection that was attached has closed.
    fn detach(&self, conn_id: u64, attachment: &Attachment);
    /// A message from an attached connection whose attachment asks for it
    /// (`filter_incoming`): what to deliver to the receive queue, if anything. Runs on the
    /// connection's I/O thread: it must not block.
    fn incoming(&self, conn_id: u64, attachment: &Attachment, msg: Multipart) -> Option<Multipart> {
        let _ = (conn_id, attachment);
        Some(msg)
    }
    /// What is known of an attached connection's peer (user id, address, metadata), for
    /// sockets that let the application look it up (ROUTER's `peer_properties`).
    fn set_properties(&self, conn_id: u64, routing_id: &Bytes, properties: Properties) {
        let _ = (conn_id, routing_id, properties);
    }
}
