//! PUSH and PULL (RFC 30, the pipeline pattern): PUSH hands each message to one of its peers
//! in turn (round robin) and blocks at its high-water mark; PULL receives from all of its peers fairly.
//! Neither takes anything from the other direction.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;

use crate::budget::Budget;
use crate::common::{recv_methods, socket_basics, Drain};
use crate::core::{lock, Core};
use crate::error::SocketError;
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::{Options, WhenFull};
use crate::outbox::{Outbox, PushError};
use crate::pattern::{Attachment, Outgoing, Pattern};

/// PUSH's pattern: a send queue per peer, chosen in turn by `send` (libzmq's load balancing:
/// one message to each peer in turn, skipping peers whose queue is full), and a lobby for
/// messages sent while no peer is connected. Nothing is received (what a peer sends is
/// dropped).
struct PushPattern {
    state: Mutex<PushState>,
    /// Messages sent while no peer was connected; the first peer to connect takes them.
    lobby: Arc<Outbox>,
    send_hwm: usize,
}

#[derive(Default)]
struct PushState {
    /// Connected peers, in the order they came.
    peers: Vec<(u64, Arc<Outbox>)>,
    /// The next peer to take a message.
    next: usize,
}

/// Where `send` put a message, or where it must wait for room.
enum Placed {
    Queued,
    Wait(Multipart, Arc<Outbox>),
}

impl Pattern for PushPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Push
    }

    fn attach(&self, conn_id: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        let queue = Arc::new(Outbox::new(self.send_hwm));
        let mut state = lock(&self.state);
        // The lobby holds at most `send_hwm` messages: they all fit.
        for msg in self.lobby.take_all() {
            let _ = queue.push_over_hwm(msg);
        }
        state.peers.push((conn_id, Arc::clone(&queue)));
        Ok(Attachment {
            outgoing: Outgoing::Own(queue),
            inbound: None,
            filter_incoming: false,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, conn_id: u64, _: &Attachment) {
        let mut state = lock(&self.state);
        let Some(i) = state.peers.iter().position(|(id, _)| *id == conn_id) else {
            return;
        };
        let (_, queue) = state.peers.remove(i);
        queue.close();
        // What the peer had not taken goes to the others, in turn, or back to the lobby (as
        // libzmq's PUSH keeps a reconnecting peer's queue), so a lost connection loses only
        // what it was writing.
        for msg in queue.take_all() {
            let n = state.peers.len();
            let target = match n {
                0 => &self.lobby,
                _ => {
                    state.next %= n;
                    let i = state.next;
                    state.next = (i + 1) % n;
                    match state.peers.get(i) {
                        Some((_, q)) => q,
                        None => &self.lobby,
                    }
                }
            };
            let _ = target.push_over_hwm(msg);
        }
    }
}

impl PushPattern {
    /// Queues `msg` for the next peer with room (or the lobby if none is connected).
    fn place(&self, msg: Multipart) -> Result<Placed, SocketError> {
        let mut state = lock(&self.state);
        let n = state.peers.len();
        if n == 0 {
            return match self.lobby.try_push(msg) {
                Ok(()) => Ok(Placed::Queued),
                Err(PushError::Full(m)) => Ok(Placed::Wait(m, Arc::clone(&self.lobby))),
                Err(PushError::Closed(_)) => Err(SocketError::Closed),
            };
        }
        let first = state.next % n;
        let mut msg = msg;
        for k in 0..n {
            let i = (first + k) % n;
            let Some((_, queue)) = state.peers.get(i) else {
                continue;
            };
            match queue.try_push(msg) {
                Ok(()) => {
                    state.next = (i + 1) % n;
                    return Ok(Placed::Queued);
                }
                Err(PushError::Full(m) | PushError::Closed(m)) => msg = m,
            }
        }
        // Every peer is full: wait for the next one in turn to make room.
        let queue = state
            .peers
            .get(first)
            .map_or_else(|| Arc::clone(&self.lobby), |(_, q)| Arc::clone(q));
        Ok(Placed::Wait(msg, queue))
    }

    fn queued(&self) -> usize {
        let state = lock(&self.state);
        self.lobby.len() + state.peers.iter().map(|(_, q)| q.len()).sum::<usize>()
    }
}

impl Drain for PushPattern {
    fn drained(&self) -> bool {
        self.queued() == 0
    }
    fn unsent(&self) -> usize {
        self.queued()
    }
}

/// A PUSH socket: each message goes to one connected PULL peer, the peers taking turns
/// (libzmq's round robin; a peer whose queue is full is skipped).
///
/// Messages sent while no peer is connected wait (up to `send_hwm`) and go to the first peer
/// that connects. When every peer's queue is full (or the waiting room is), `send` waits
/// (libzmq's PUSH blocks), or fails if the socket is set to
/// [`WhenFull::Error`](crate::WhenFull::Error). Messages queued for a peer that disconnects
/// go to the other peers (or wait for the next one).
pub struct Push {
    core: Arc<Core>,
    drain: Arc<PushPattern>,
}

impl Push {
    /// A PUSH with these options (`send_hwm` is per peer).
    pub fn new(options: Options) -> Push {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let drain = Arc::new(PushPattern {
            state: Mutex::new(PushState::default()),
            lobby: Arc::new(Outbox::new(options.send_hwm)),
            send_hwm: options.send_hwm,
        });
        Push {
            core: Core::new(options, drain.clone(), budget),
            drain,
        }
    }

    /// Queues a message for the next peer. When every queue is full it waits, or fails with
    /// [`SocketError::QueueFull`] if the socket is set to [`WhenFull::Error`].
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        let mut msg = msg;
        loop {
            match self.drain.place(msg)? {
                Placed::Queued => return Ok(()),
                Placed::Wait(m, queue) => {
                    if self.core.options.when_full == WhenFull::Error {
                        return Err(self.full());
                    }
                    msg = m;
                    queue.wait_room().await;
                }
            }
        }
    }

    /// [`send`](Push::send), blocking the calling thread while every queue is full.
    pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.core.options.when_full {
            WhenFull::Block => self.send_until(msg, None),
            WhenFull::Error => self.try_send(msg),
        }
    }

    /// Queues a message, blocking the calling thread for at most `timeout` while every queue
    /// is full; [`SocketError::Timeout`] if they stay full.
    pub fn send_timeout(&self, msg: Multipart, timeout: Duration) -> Result<(), SocketError> {
        self.send_until(msg, Some(Instant::now() + timeout))
            .map_err(|e| match e {
                SocketError::QueueFull { .. } => SocketError::Timeout(timeout),
                e => e,
            })
    }

    /// Queues a message if a queue has room.
    pub fn try_send(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.drain.place(msg)? {
            Placed::Queued => Ok(()),
            Placed::Wait(..) => Err(self.full()),
        }
    }

    fn send_until(&self, msg: Multipart, deadline: Option<Instant>) -> Result<(), SocketError> {
        let mut msg = msg;
        loop {
            match self.drain.place(msg)? {
                Placed::Queued => return Ok(()),
                Placed::Wait(m, queue) => {
                    msg = m;
                    if !queue.wait_room_blocking(deadline) {
                        return self.try_send(msg);
                    }
                }
            }
        }
    }

    fn full(&self) -> SocketError {
        SocketError::QueueFull {
            hwm: self.core.options.send_hwm,
        }
    }

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.drain.queued()
    }
}

socket_basics!(Push, "PUSH");

impl Drop for Push {
    fn drop(&mut self) {
        self.core.stop_now();
        self.drain.lobby.close();
    }
}

/// PULL's pattern: every connection delivers to the one receive queue; nothing is sent.
struct PullPattern {
    inbox: Arc<Inbox>,
}

impl Pattern for PullPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Pull
    }

    fn attach(&self, _: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        Ok(Attachment {
            outgoing: Outgoing::Nothing,
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: false,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, _: u64, _: &Attachment) {}
}

/// Nothing to drain: a PULL sends nothing.
pub(crate) struct NothingQueued;

impl Drain for NothingQueued {
    fn drained(&self) -> bool {
        true
    }
    fn unsent(&self) -> usize {
        0
    }
}

/// A PULL socket: receives from all of its PUSH peers, fairly (each connection delivers what
/// one read brought before the next gets its turn). When its receive queue is full, reading
/// pauses and TCP pushes back on the senders.
pub struct Pull {
    core: Arc<Core>,
    drain: Arc<NothingQueued>,
    inbox: Arc<Inbox>,
}

impl Pull {
    /// A PULL with these options.
    pub fn new(options: Options) -> Pull {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let pattern = Arc::new(PullPattern {
            inbox: Arc::clone(&inbox),
        });
        Pull {
            core: Core::new(options, pattern, budget),
            drain: Arc::new(NothingQueued),
            inbox,
        }
    }
}

socket_basics!(Pull, "PULL");
recv_methods!(Pull);

impl Drop for Pull {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}
