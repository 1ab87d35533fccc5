//! PAIR (RFC 31): exactly one peer, messages both ways.

use std::sync::{Arc, Mutex};

use courier_proto::connection::PeerInfo;
use courier_proto::socket_type::SocketType;

use crate::budget::Budget;
use crate::common::{recv_methods, shared_send_methods, socket_basics, SharedQueue};
use crate::core::{lock, Core};
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::Options;
use crate::pattern::{Attachment, Pattern};

/// PAIR's pattern: DEALER's queues, with room for one connection only.
struct PairPattern {
    queue: Arc<SharedQueue>,
    inbox: Arc<Inbox>,
    /// The connection of the one peer, if any.
    peer: Mutex<Option<u64>>,
}

impl Pattern for PairPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Pair
    }

    fn attach(&self, conn_id: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        let mut current = lock(&self.peer);
        if current.is_some() {
            return Err("this PAIR socket already has its one peer (refusing a second)".into());
        }
        *current = Some(conn_id);
        Ok(Attachment {
            outgoing: self.queue.outgoing(),
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: false,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, conn_id: u64, _: &Attachment) {
        let mut current = lock(&self.peer);
        if *current == Some(conn_id) {
            *current = None;
        }
    }
}

/// A PAIR socket: talks to one PAIR peer. A second peer is refused after its handshake with an
/// ERROR command saying why (libzmq just closes it); when the peer leaves, another may come.
/// Messages sent while no peer is connected wait in the send queue (up to `send_hwm`), and
/// `send` blocks at the high-water mark.
pub struct Pair {
    core: Arc<Core>,
    drain: Arc<SharedQueue>,
    inbox: Arc<Inbox>,
}

impl Pair {
    /// A PAIR with these options.
    pub fn new(options: Options) -> Pair {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let drain = Arc::new(SharedQueue::new(options.send_hwm));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let pattern = Arc::new(PairPattern {
            queue: Arc::clone(&drain),
            inbox: Arc::clone(&inbox),
            peer: Mutex::new(None),
        });
        Pair {
            core: Core::new(options, pattern, budget),
            drain,
            inbox,
        }
    }
}

socket_basics!(Pair, "PAIR");
shared_send_methods!(Pair);
recv_methods!(Pair);

impl Drop for Pair {
    fn drop(&mut self) {
        self.core.stop_now();
        self.drain.close();
    }
}
