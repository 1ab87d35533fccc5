//! DEALER: sends to its peers in turn (whichever connection is ready takes the next message),
//! receives from all of them fairly.

use std::sync::Arc;

use courier_proto::connection::PeerInfo;
use courier_proto::socket_type::SocketType;

use crate::budget::Budget;
use crate::common::{recv_methods, shared_send_methods, socket_basics, SharedQueue};
use crate::core::Core;
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::Options;
use crate::pattern::{Attachment, Pattern};

/// DEALER's pattern: every connection sends from the socket's one queue (whichever is ready
/// takes the next messages) and delivers to the socket's one receive queue.
struct DealerPattern {
    queue: Arc<SharedQueue>,
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
            outgoing: self.queue.outgoing(),
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
    drain: Arc<SharedQueue>,
    inbox: Arc<Inbox>,
}

impl Dealer {
    /// A DEALER with these options. Needs no runtime until it is used.
    pub fn new(options: Options) -> Dealer {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let drain = Arc::new(SharedQueue::new(options.send_hwm));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let pattern = Arc::new(DealerPattern {
            queue: Arc::clone(&drain),
            inbox: Arc::clone(&inbox),
        });
        Dealer {
            core: Core::new(options, pattern, budget),
            drain,
            inbox,
        }
    }
}

socket_basics!(Dealer, "DEALER");
shared_send_methods!(Dealer);
recv_methods!(Dealer);

impl Drop for Dealer {
    fn drop(&mut self) {
        self.core.stop_now();
        self.drain.close();
    }
}
