//! An inproc pipe: two sockets of this process joined without a stream or ZMTP. It is run by
//! an I/O thread like a connection, and meets each socket's pattern as a connection does
//! (attach, incoming, detach), so every socket type works over inproc as over TCP; it moves
//! each message from one side's send queue to the other side's receive queue (the frames are
//! moved, never copied). One waker serves both directions: a send queue wakes the pipe when a
//! message comes, a full receive queue when room is made.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::metadata::Metadata;

use super::conn::take_outgoing;
use super::{After, ConnHandle, Ctx};
use crate::core::{Core, LiveGuard};
use crate::event::{DropReason, Reason, SocketEvent};
use crate::pattern::{Attachment, Outgoing};

/// Takes from a send queue per turn and direction before the other direction (and the other
/// entries of the thread) get theirs.
const MOVE_BUDGET: usize = 16;
/// Messages taken from a send queue at a time.
const TAKE_STEP: usize = 64;

/// One side of a pipe.
struct End {
    core: Arc<Core>,
    conn_id: u64,
    att: Option<Attachment>,
    live: Option<LiveGuard>,
    /// Messages for this side, waiting for room in its receive queue.
    pending: VecDeque<Multipart>,
}

impl End {
    fn new(core: Arc<Core>) -> End {
        End {
            conn_id: core.next_conn_id(),
            live: Some(LiveGuard::new(&core)),
            core,
            att: None,
            pending: VecDeque::new(),
        }
    }

    /// What this side looks like to the other's pattern.
    fn as_peer(&self) -> PeerInfo {
        PeerInfo {
            version: (3, 1),
            socket_type: self.core.pattern.socket_type(),
            identity: self.core.options.routing_id.clone(),
            metadata: Metadata::new(),
            public_key: None,
            user_id: bytes::Bytes::new(),
            auth_metadata: Metadata::new(),
        }
    }

    /// Moves pending messages into the receive queue; false if it is full (the queue wakes
    /// `handle` when room is made).
    fn deliver(&mut self, handle: &ConnHandle) -> bool {
        deliver(self.att.as_ref(), &mut self.pending, handle)
    }
}

/// Moves `pending` into the receive queue of `att`; false if it is full.
fn deliver(
    att: Option<&Attachment>,
    pending: &mut VecDeque<Multipart>,
    handle: &ConnHandle,
) -> bool {
    if pending.is_empty() {
        return true;
    }
    match att.and_then(|a| a.inbound.as_ref()) {
        Some(inbox) => inbox.push(pending, handle.waker()),
        None => {
            pending.clear();
            true
        }
    }
}

pub(crate) struct Pipe {
    pub gen: u64,
    pub timer_at: Option<Instant>,
    /// `inproc://name`, the "peer address" in events.
    name: String,
    /// The connecting side, then the bound side.
    ends: [End; 2],
    handle: Option<ConnHandle>,
    stopped: bool,
    taken: VecDeque<Multipart>,
}

impl Pipe {
    pub fn new(connector: Arc<Core>, binder: Arc<Core>, name: String) -> Pipe {
        Pipe {
            gen: 0,
            timer_at: None,
            name,
            ends: [End::new(connector), End::new(binder)],
            handle: None,
            stopped: false,
            taken: VecDeque::new(),
        }
    }

    /// Whether `core` is one of the two sockets.
    pub fn involves(&self, core: &Arc<Core>) -> bool {
        self.ends.iter().any(|e| Arc::ptr_eq(&e.core, core))
    }

    /// The socket is stopping: close the pipe.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// The "handshake": the socket-type check, then both patterns attach. False if refused
    /// (both sides get a HandshakeFailed event saying why).
    pub fn start(&mut self, token: usize, gen: u64, ctx: &Ctx) -> bool {
        self.gen = gen;
        let handle = ctx.handle(token, gen);
        self.handle = Some(handle.clone());
        let [a, b] = &mut self.ends;
        let (ta, tb) = (a.core.pattern.socket_type(), b.core.pattern.socket_type());
        if !ta.compatible_with(tb) {
            for (end, ours, theirs) in [(&*a, ta, tb), (&*b, tb, ta)] {
                let why =
                    format!("socket type mismatch: a {ours} socket cannot talk to a {theirs} peer");
                refused(&self.name, end, why);
            }
            return false;
        }
        let (peer_a, peer_b) = (b.as_peer(), a.as_peer());
        let att_a = match a.core.pattern.attach(a.conn_id, &peer_a, handle.clone()) {
            Ok(att) => att,
            Err(why) => {
                refused(&self.name, a, why.clone());
                refused(&self.name, b, format!("the peer refused us: {why}"));
                return false;
            }
        };
        let att_b = match b.core.pattern.attach(b.conn_id, &peer_b, handle) {
            Ok(att) => att,
            Err(why) => {
                a.core.pattern.detach(a.conn_id, &att_a);
                refused(&self.name, a, format!("the peer refused us: {why}"));
                refused(&self.name, b, why);
                return false;
            }
        };
        for (end, att) in [(&mut *a, att_a), (&mut *b, att_b)] {
            end.core.emit(SocketEvent::HandshakeSucceeded {
                peer_addr: self.name.clone(),
                routing_id: att.routing_id.clone(),
            });
            end.att = Some(att);
        }
        true
    }

    /// Moves what there is to move, both ways.
    pub fn drive(&mut self, token: usize, ctx: &mut Ctx) -> After {
        let kicked = self.handle.as_ref().is_some_and(ConnHandle::kicked);
        if self.stopped || kicked || self.ends.iter().any(|e| e.core.stop.fired()) {
            return After::Remove;
        }
        let Pipe {
            ends,
            taken,
            handle: Some(handle),
            ..
        } = self
        else {
            return After::Remove;
        };
        let [a, b] = ends;
        let more = carry(a, b, taken, handle) | carry(b, a, taken, handle);
        if more {
            ctx.run_again(token, self.gen);
        }
        After::Keep(None)
    }

    /// The pipe is gone: both patterns let go, and both sockets hear why.
    pub fn finish(mut self: Box<Self>) {
        let kicked = self
            .handle
            .as_ref()
            .map_or(Reason::Kicked, ConnHandle::kick_reason);
        let Pipe {
            ends: [a, b], name, ..
        } = &mut *self;
        let (a_closed, b_closed) = (a.core.stop.fired(), b.core.stop.fired());
        for (end, closed, peer_closed) in [(a, a_closed, b_closed), (b, b_closed, a_closed)] {
            // Messages already taken from the sender's queue are delivered: the sender counts
            // them as sent (its close may be waiting for exactly that).
            if !closed {
                if let Some(inbox) = end.att.as_ref().and_then(|a| a.inbound.as_ref()) {
                    for msg in end.pending.drain(..) {
                        inbox.push_over_hwm(msg);
                    }
                }
            }
            let Some(att) = end.att.take() else {
                continue;
            };
            end.core.pattern.detach(end.conn_id, &att);
            if let Outgoing::Own(queue) = &att.outgoing {
                let count = queue.len();
                if count > 0 {
                    end.core.emit(SocketEvent::MessagesDropped {
                        routing_id: att.routing_id.clone(),
                        count,
                        reason: DropReason::LeftQueued,
                    });
                }
            }
            let reason = if closed {
                Reason::SocketClosed
            } else if peer_closed {
                Reason::PeerClosed
            } else {
                kicked.clone()
            };
            end.core.emit(SocketEvent::Disconnected {
                peer_addr: name.clone(),
                routing_id: Some(att.routing_id.clone()),
                reason,
            });
            drop(end.live.take());
        }
    }
}

/// Tells one side that the pipe was refused, and why.
fn refused(name: &str, end: &End, why: String) {
    end.core.emit(SocketEvent::HandshakeFailed {
        peer_addr: name.to_owned(),
        reason: Reason::Refused(why),
    });
}

/// Moves messages from `src`'s send queue to `dst`'s receive queue, through `dst`'s pattern;
/// true if the budget ran out with more to do.
fn carry(
    src: &mut End,
    dst: &mut End,
    taken: &mut VecDeque<Multipart>,
    handle: &ConnHandle,
) -> bool {
    if !dst.deliver(handle) {
        return false;
    }
    let End {
        core: dst_core,
        conn_id: dst_id,
        att: dst_att,
        pending,
        ..
    } = dst;
    let (Some(src_att), Some(dst_att)) = (&src.att, &*dst_att) else {
        return false;
    };
    for _ in 0..MOVE_BUDGET {
        if take_outgoing(src_att, taken, TAKE_STEP, usize::MAX, handle) == 0 {
            // The send queue will wake us.
            return false;
        }
        for msg in taken.drain(..) {
            let mut msg = if dst_att.filter_incoming {
                match dst_core.pattern.incoming(*dst_id, dst_att, msg) {
                    Some(m) => m,
                    None => continue,
                }
            } else {
                msg
            };
            if dst_att.inbound.is_none() {
                continue;
            }
            if let Some(prefix) = &dst_att.prefix {
                msg.push_front(prefix.clone());
            }
            pending.push_back(msg);
        }
        if !deliver(Some(dst_att), pending, handle) {
            return false;
        }
    }
    true
}
