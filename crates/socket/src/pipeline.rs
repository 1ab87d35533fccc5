//! PUSH and PULL (RFC 30, the pipeline pattern): PUSH hands each message to one of its peers
//! in turn and blocks at its high-water mark; PULL receives from all of its peers fairly.
//! Neither takes anything from the other direction.

use std::sync::Arc;

use courier_proto::connection::PeerInfo;
use courier_proto::socket_type::SocketType;

use crate::common::{recv_methods, shared_send_methods, socket_basics, Drain, SharedQueue};
use crate::core::Core;
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::Options;
use crate::pattern::{Attachment, Outgoing, Pattern};

/// PUSH's pattern: DEALER's sending (one queue, whichever connection is ready takes the next
/// messages), no receiving (what a peer sends is dropped).
struct PushPattern {
    queue: Arc<SharedQueue>,
}

impl Pattern for PushPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Push
    }

    fn attach(&self, _: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        Ok(Attachment {
            outgoing: self.queue.outgoing(),
            inbound: None,
            filter_incoming: false,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, _: u64, _: &Attachment) {}
}

/// A PUSH socket: each message goes to one connected PULL peer, whichever is ready to write
/// next (load balancing).
///
/// Messages sent while no peer is connected wait in the send queue; at its high-water mark
/// `send` waits (libzmq's PUSH blocks), or fails if the socket is set to
/// [`WhenFull::Error`](crate::WhenFull::Error). Messages a failed connection could not write go
/// to the next connection.
pub struct Push {
    core: Arc<Core>,
    drain: Arc<SharedQueue>,
}

impl Push {
    /// A PUSH with these options.
    pub fn new(options: Options) -> Push {
        let drain = Arc::new(SharedQueue::new(options.send_hwm));
        let pattern = Arc::new(PushPattern {
            queue: Arc::clone(&drain),
        });
        Push {
            core: Core::new(options, pattern),
            drain,
        }
    }
}

socket_basics!(Push, "PUSH");
shared_send_methods!(Push);

impl Drop for Push {
    fn drop(&mut self) {
        self.core.stop_now();
        self.drain.close();
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
        let inbox = Arc::new(Inbox::new(options.recv_hwm));
        let pattern = Arc::new(PullPattern {
            inbox: Arc::clone(&inbox),
        });
        Pull {
            core: Core::new(options, pattern),
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
