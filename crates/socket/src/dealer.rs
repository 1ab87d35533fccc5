//! DEALER: sends to its peers in turn (whichever connection is ready takes the next message),
//! receives from all of them fairly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;

use crate::core::{lock, Attachment, Core, Outgoing, Routing};
use crate::endpoint::Endpoint;
use crate::error::SocketError;
use crate::event::SocketEvent;
use crate::inbox::Inbox;
use crate::options::{Options, WhenFull};
use crate::outbox::{Outbox, PushError};

struct DealerRouting {
    outbox: Arc<Outbox>,
    requeue: Arc<Mutex<VecDeque<Multipart>>>,
    inbox: Arc<Inbox>,
}

impl Routing for DealerRouting {
    fn socket_type(&self) -> SocketType {
        SocketType::Dealer
    }

    fn attach(
        &self,
        _conn_id: u64,
        peer: &PeerInfo,
        _kick: async_channel::Sender<()>,
    ) -> Result<Attachment, String> {
        Ok(Attachment {
            outgoing: Outgoing::Shared {
                queue: Arc::clone(&self.outbox),
                requeue: Arc::clone(&self.requeue),
            },
            inbound: Arc::clone(&self.inbox),
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, _conn_id: u64, _attachment: &Attachment) {}
}

/// A DEALER socket.
///
/// `connect` returns at once; messages sent while no peer is connected wait in the send queue
/// (up to `send_hwm`) and go out when a connection is up. Lost connections are re-established
/// with backoff, and messages a failed connection could not write are sent again on the next.
pub struct Dealer {
    core: Arc<Core>,
    routing: Arc<DealerRouting>,
    outbox: Arc<Outbox>,
    inbox: Arc<Inbox>,
}

impl Dealer {
    /// A DEALER with these options. Needs no runtime until it is used.
    pub fn new(options: Options) -> Dealer {
        let outbox = Arc::new(Outbox::new(options.send_hwm));
        let inbox = Arc::new(Inbox::new(options.recv_hwm));
        let routing = Arc::new(DealerRouting {
            outbox: Arc::clone(&outbox),
            requeue: Arc::new(Mutex::new(VecDeque::new())),
            inbox: Arc::clone(&inbox),
        });
        let core = Core::new(options, routing.clone());
        Dealer {
            core,
            routing,
            outbox,
            inbox,
        }
    }

    /// Connects to `endpoint` (`tcp://host:port` or `ipc://path`) in the background and keeps
    /// the connection up. Fails only for a malformed endpoint.
    pub fn connect(&self, endpoint: &str) -> Result<(), SocketError> {
        self.core.connect(endpoint)
    }

    /// Listens on `endpoint`; returns the endpoint bound (with the real port for port 0).
    pub async fn bind(&self, endpoint: &str) -> Result<Endpoint, SocketError> {
        self.core.bind(endpoint).await
    }

    /// Queues a message. At the high-water mark it waits, or fails with
    /// [`SocketError::QueueFull`] if the socket is set to [`WhenFull::Error`].
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.core.options.when_full {
            WhenFull::Block => self.outbox.push(msg).await.map_err(|_| SocketError::Closed),
            WhenFull::Error => self.try_send(msg),
        }
    }

    /// Queues a message if there is room.
    pub fn try_send(&self, msg: Multipart) -> Result<(), SocketError> {
        self.outbox.try_push(msg).map_err(|e| match e {
            PushError::Full(_) => SocketError::QueueFull {
                hwm: self.core.options.send_hwm,
            },
            PushError::Closed(_) => SocketError::Closed,
        })
    }

    /// Receives the next message.
    pub async fn recv(&self) -> Result<Multipart, SocketError> {
        Ok(self.inbox.pop().await)
    }

    /// Receives a message if one is waiting.
    pub fn try_recv(&self) -> Option<Multipart> {
        self.inbox.try_pop()
    }

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.outbox.len() + lock(&self.routing.requeue).len()
    }

    /// The socket's events (a bounded stream; the oldest are dropped if nobody reads).
    pub fn events(&self) -> async_channel::Receiver<SocketEvent> {
        self.core.events()
    }

    /// Our routing id.
    pub fn routing_id(&self) -> &Bytes {
        &self.core.options.routing_id
    }

    /// Closes the socket: stops accepting, waits up to `linger` for queued messages to be
    /// written (still connecting and reconnecting meanwhile, as libzmq does), then closes
    /// every connection. Returns how many messages were left unsent.
    pub async fn close(self) -> usize {
        let routing = Arc::clone(&self.routing);
        let out = Arc::clone(&self.outbox);
        self.core
            .close(|| out.is_empty() && lock(&routing.requeue).is_empty())
            .await;
        let unsent = self.queued();
        if unsent > 0 {
            log::warn!("DEALER closed with {unsent} message(s) unsent (linger expired)");
        }
        unsent
    }
}

impl Drop for Dealer {
    fn drop(&mut self) {
        self.core.no_new.fire();
        self.core.stop.fire();
        self.outbox.close();
    }
}
