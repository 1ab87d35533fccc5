//! What the socket types share, written once: the methods every socket has (connect, bind,
//! events, close), the receive methods of the types with a plain receive queue, and the
//! socket-wide send queue of DEALER and PAIR with its send methods. (The types with a send
//! queue per peer, in `pipeline.rs`, `pubsub.rs` and `reqrep.rs`, route in their own `send`.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_proto::message::Multipart;

use crate::core::lock;
use crate::error::SocketError;
use crate::options::{Options, WhenFull};
use crate::outbox::{Outbox, PushError};
use crate::pattern::Outgoing;

/// What a socket's `close` waits for, and what it reports as left unsent.
pub(crate) trait Drain {
    /// Whether every queued message has been taken by a connection.
    fn drained(&self) -> bool;
    /// Messages still queued.
    fn unsent(&self) -> usize;
}

/// One send queue for the whole socket, from which whichever connection is ready takes the
/// next messages, and a front queue for messages a failed connection gives back.
pub(crate) struct SharedQueue {
    pub outbox: Arc<Outbox>,
    pub requeue: Arc<Mutex<VecDeque<Multipart>>>,
}

impl SharedQueue {
    pub fn new(hwm: usize) -> SharedQueue {
        SharedQueue {
            outbox: Arc::new(Outbox::new(hwm)),
            requeue: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// A connection's view of the queue.
    pub fn outgoing(&self) -> Outgoing {
        Outgoing::Shared {
            queue: Arc::clone(&self.outbox),
            requeue: Arc::clone(&self.requeue),
        }
    }

    pub async fn send(&self, options: &Options, msg: Multipart) -> Result<(), SocketError> {
        match options.when_full {
            WhenFull::Block => self.outbox.push(msg).await.map_err(|_| SocketError::Closed),
            WhenFull::Error => self.try_send(options, msg),
        }
    }

    pub fn send_blocking(&self, options: &Options, msg: Multipart) -> Result<(), SocketError> {
        match options.when_full {
            WhenFull::Block => self.push_until(options, msg, None),
            WhenFull::Error => self.try_send(options, msg),
        }
    }

    pub fn send_timeout(
        &self,
        options: &Options,
        msg: Multipart,
        timeout: Duration,
    ) -> Result<(), SocketError> {
        self.push_until(options, msg, Some(Instant::now() + timeout))
            .map_err(|e| match e {
                SocketError::QueueFull { .. } => SocketError::Timeout(timeout),
                e => e,
            })
    }

    pub fn try_send(&self, options: &Options, msg: Multipart) -> Result<(), SocketError> {
        self.outbox
            .try_push(msg)
            .map_err(|e| push_error(options, e))
    }

    fn push_until(
        &self,
        options: &Options,
        msg: Multipart,
        deadline: Option<Instant>,
    ) -> Result<(), SocketError> {
        self.outbox
            .push_blocking(msg, deadline)
            .map_err(|e| push_error(options, e))
    }

    pub fn queued(&self) -> usize {
        self.outbox.len() + lock(&self.requeue).len()
    }

    pub fn close(&self) {
        self.outbox.close();
    }
}

impl Drain for SharedQueue {
    fn drained(&self) -> bool {
        self.outbox.is_empty() && lock(&self.requeue).is_empty()
    }
    fn unsent(&self) -> usize {
        self.queued()
    }
}

/// The error for a message a queue would not take.
pub(crate) fn push_error(options: &Options, e: PushError) -> SocketError {
    match e {
        PushError::Full(_) => SocketError::QueueFull {
            hwm: options.send_hwm,
        },
        PushError::Closed(_) => SocketError::Closed,
    }
}

/// The methods every socket type has: connect, bind, events, routing id, close. The type has
/// fields `core: Arc<Core>` and `drain: Arc<impl Drain>`.
macro_rules! socket_basics {
    ($ty:ident, $name:literal) => {
        impl $ty {
            /// Connects to `endpoint` (`tcp://host:port` or `ipc://path`) in the background and keeps
            /// the connection up (reconnecting with backoff). Returns at once; fails only for a
            /// malformed endpoint or a closed socket.
            pub fn connect(&self, endpoint: &str) -> Result<(), $crate::error::SocketError> {
                self.core.connect(endpoint)
            }

            /// Listens on `endpoint`; returns the endpoint bound (with the real port for port 0).
            pub async fn bind(
                &self,
                endpoint: &str,
            ) -> Result<$crate::endpoint::Endpoint, $crate::error::SocketError> {
                self.core.bind(endpoint)
            }

            /// [`bind`](Self::bind) for programs without an async runtime (binding waits for
            /// nothing but the system call).
            pub fn bind_blocking(
                &self,
                endpoint: &str,
            ) -> Result<$crate::endpoint::Endpoint, $crate::error::SocketError> {
                self.core.bind(endpoint)
            }

            /// The socket's events (a bounded stream; the oldest are dropped if nobody reads).
            pub fn events(&self) -> async_channel::Receiver<$crate::event::SocketEvent> {
                self.core.events()
            }

            /// Bytes the socket holds now against its receive-memory budget
            /// (`Options::max_buffered`): partial messages and messages not yet received.
            pub fn buffered(&self) -> usize {
                self.core.budget.used()
            }

            /// Our routing id (sent to peers as the Identity property).
            pub fn routing_id(&self) -> &bytes::Bytes {
                &self.core.options.routing_id
            }

            /// Closes the socket: stops accepting, waits up to `linger` for queued messages to
            /// be written (still connecting and reconnecting meanwhile, as libzmq does), then
            /// closes every connection. Returns how many messages were left unsent.
            pub async fn close(self) -> usize {
                let drain = std::sync::Arc::clone(&self.drain);
                self.core
                    .close(|| $crate::common::Drain::drained(&*drain))
                    .await;
                self.unsent_after_close()
            }

            /// [`close`](Self::close), blocking the calling thread.
            pub fn close_blocking(self) -> usize {
                let drain = std::sync::Arc::clone(&self.drain);
                self.core
                    .close_blocking(|| $crate::common::Drain::drained(&*drain));
                self.unsent_after_close()
            }

            fn unsent_after_close(&self) -> usize {
                let unsent = $crate::common::Drain::unsent(&*self.drain);
                if unsent > 0 {
                    log::warn!(
                        "{} closed with {unsent} message(s) unsent (linger expired)",
                        $name
                    );
                }
                unsent
            }
        }
    };
}
pub(crate) use socket_basics;

/// The receive methods of a socket type whose field `inbox: Arc<Inbox>` holds what the
/// application receives, as it is.
macro_rules! recv_methods {
    ($ty:ident) => {
        impl $ty {
            /// Receives the next message.
            pub async fn recv(
                &self,
            ) -> Result<courier_proto::message::Multipart, $crate::error::SocketError> {
                Ok(self.inbox.pop().await)
            }

            /// Receives the next message, blocking the calling thread until one comes.
            pub fn recv_blocking(
                &self,
            ) -> Result<courier_proto::message::Multipart, $crate::error::SocketError> {
                self.inbox
                    .pop_blocking(None)
                    .ok_or($crate::error::SocketError::Closed)
            }

            /// Receives the next message, blocking the calling thread for at most `timeout`;
            /// [`SocketError::Timeout`]($crate::SocketError::Timeout) if none came.
            pub fn recv_timeout(
                &self,
                timeout: std::time::Duration,
            ) -> Result<courier_proto::message::Multipart, $crate::error::SocketError> {
                self.inbox
                    .pop_blocking(Some(std::time::Instant::now() + timeout))
                    .ok_or($crate::error::SocketError::Timeout(timeout))
            }

            /// Receives a message if one is waiting.
            pub fn try_recv(&self) -> Option<courier_proto::message::Multipart> {
                self.inbox.try_pop()
            }
        }
    };
}
pub(crate) use recv_methods;

/// The send methods of a socket type whose field `drain: Arc<SharedQueue>` is its one send
/// queue (load-balanced over its connections) and which blocks at the high-water mark.
macro_rules! shared_send_methods {
    ($ty:ident) => {
        impl $ty {
            /// Queues a message. At the high-water mark it waits, or fails with
            /// [`SocketError::QueueFull`]($crate::SocketError::QueueFull) if the socket is set
            /// to [`WhenFull::Error`]($crate::WhenFull::Error). Messages sent while no peer is
            /// connected wait in the queue.
            pub async fn send(
                &self,
                msg: courier_proto::message::Multipart,
            ) -> Result<(), $crate::error::SocketError> {
                self.drain.send(&self.core.options, msg).await
            }

            /// [`send`](Self::send), blocking the calling thread while the queue is full.
            pub fn send_blocking(
                &self,
                msg: courier_proto::message::Multipart,
            ) -> Result<(), $crate::error::SocketError> {
                self.drain.send_blocking(&self.core.options, msg)
            }

            /// Queues a message, blocking the calling thread for at most `timeout` while the
            /// queue is full; [`SocketError::Timeout`]($crate::SocketError::Timeout) if it
            /// stays full.
            pub fn send_timeout(
                &self,
                msg: courier_proto::message::Multipart,
                timeout: std::time::Duration,
            ) -> Result<(), $crate::error::SocketError> {
                self.drain.send_timeout(&self.core.options, msg, timeout)
            }

            /// Queues a message if there is room.
            pub fn try_send(
                &self,
                msg: courier_proto::message::Multipart,
            ) -> Result<(), $crate::error::SocketError> {
                self.drain.try_send(&self.core.options, msg)
            }

            /// Messages waiting to be sent.
            pub fn queued(&self) -> usize {
                self.drain.queued()
            }
        }
    };
}
pub(crate) use shared_send_methods;
