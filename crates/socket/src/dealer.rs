//! DEALER: sends to its peers in turn (whichever connection is ready takes the next message),
//! receives from all of them fairly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;

use crate::budget::Budget;
use crate::core::{lock, Core};
use crate::endpoint::Endpoint;
use crate::error::SocketError;
use crate::event::SocketEvent;
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::{Options, WhenFull};
use crate::outbox::{Outbox, PushError};
use crate::pattern::{Attachment, Outgoing, Pattern};

/// DEALER's pattern: every connection sends from the socket's one queue (whichever is ready
/// takes the next messages) and delivers to the socket's one receive queue.
struct DealerPattern {
    outbox: Arc<Outbox>,
    requeue: Arc<Mutex<VecDeque<Multipart>>>,
    inbox: Arc<Inbox>,
}

impl Pattern for DealerPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Dealer
    }

    fn attach(
        &self,
        _conn_id: u64,
        peer: &PeerInfo,
        _handle: ConnHandle,
    ) -> Result<Attachment, String> {
        Ok(Attachment {
            outgoing: Outgoing::Shared {
                queue: Arc::clone(&self.outbox),
                requeue: Arc::clone(&self.requeue),
            },
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: false,
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
    routing: Arc<DealerPattern>,
    outbox: Arc<Outbox>,
    inbox: Arc<Inbox>,
}

impl Dealer {
    /// A DEALER with these options. Needs no runtime until it is used.
    pub fn new(options: Options) -> Dealer {
        let outbox = Arc::new(Outbox::new(options.send_hwm));
        let budget = Arc::new(Budget::new(options.max_buffered));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let routing = Arc::new(DealerPattern {
            outbox: Arc::clone(&outbox),
            requeue: Arc::new(Mutex::new(VecDeque::new())),
            inbox: Arc::clone(&inbox),
        });
        let core = Core::new(options, routing.clone(), budget);
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
        self.core.bind(endpoint)
    }

    /// [`bind`](Dealer::bind) for programs without an async runtime (binding does not wait
    /// for anything but the system call).
    pub fn bind_blocking(&self, endpoint: &str) -> Result<Endpoint, SocketError> {
        self.core.bind(endpoint)
    }

    /// Queues a message. At the high-water mark it waits, or fails with
    /// [`SocketError::QueueFull`] if the socket is set to [`WhenFull::Error`].
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.core.options.when_full {
            WhenFull::Block => self.outbox.push(msg).await.map_err(|_| SocketError::Closed),
            WhenFull::Error => self.try_send(msg),
        }
    }

    /// [`send`](Dealer::send), blocking the calling thread while the queue is full.
    pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.core.options.when_full {
            WhenFull::Block => self.push_until(msg, None),
            WhenFull::Error => self.try_send(msg),
        }
    }

    /// Queues a message, blocking the calling thread for at most `timeout` while the queue
    /// is full; [`SocketError::Timeout`] if it stays full.
    pub fn send_timeout(&self, msg: Multipart, timeout: Duration) -> Result<(), SocketError> {
        self.push_until(msg, Some(Instant::now() + timeout))
            .map_err(|e| match e {
                SocketError::QueueFull { .. } => SocketError::Timeout(timeout),
                e => e,
            })
    }

    fn push_until(&self, msg: Multipart, deadline: Option<Instant>) -> Result<(), SocketError> {
        self.outbox
            .push_blocking(msg, deadline)
            .map_err(|e| self.push_error(e))
    }

    fn push_error(&self, e: PushError) -> SocketError {
        match e {
            PushError::Full(_) => SocketError::QueueFull {
                hwm: self.core.options.send_hwm,
            },
            PushError::Closed(_) => SocketError::Closed,
        }
    }

    /// Queues a message if there is room.
    pub fn try_send(&self, msg: Multipart) -> Result<(), SocketError> {
        self.outbox.try_push(msg).map_err(|e| self.push_error(e))
    }

    /// Receives the next message.
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

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.outbox.len() + lock(&self.routing.requeue).len()
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
        self.unsent_after_close()
    }

    /// [`close`](Dealer::close), blocking the calling thread.
    pub fn close_blocking(self) -> usize {
        let routing = Arc::clone(&self.routing);
        let out = Arc::clone(&self.outbox);
        self.core
            .close_blocking(|| out.is_empty() && lock(&routing.requeue).is_empty());
        self.unsent_after_close()
    }

    fn unsent_after_close(&self) -> usize {
        let unsent = self.queued();
        if unsent > 0 {
            log::warn!("DEALER closed with {unsent} message(s) unsent (linger expired)");
        }
        unsent
    }
}

impl Drop for Dealer {
    fn drop(&mut self) {
        self.core.stop_now();
        self.outbox.close();
    }
}
