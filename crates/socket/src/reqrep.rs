//! REQ and REP (RFC 28, request-reply).
//!
//! A REQ sends a request to one peer (in turn, over its peers) with an empty delimiter frame in
//! front, and accepts only that peer's reply to it; a REP takes each request's envelope (the
//! frames up to and including the delimiter: routing ids added by ROUTERs on the way), hands
//! the body to the application, and puts the envelope back in front of the reply. Both
//! alternate strictly between sending and receiving, as libzmq's do: a call out of turn fails
//! with [`SocketError::WrongState`] (libzmq's EFSM).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;
use event_listener::{Event, Listener};

use crate::budget::Budget;
use crate::common::{socket_basics, Drain};
use crate::core::{lock, Core};
use crate::error::SocketError;
use crate::event::{DropReason, SocketEvent};
use crate::inbox::Inbox;
use crate::io::ConnHandle;
use crate::options::Options;
use crate::outbox::{Outbox, PushError};
use crate::pattern::{Attachment, Outgoing, Pattern};

// ---- REQ -------------------------------------------------------------------------------------

struct ReqPeer {
    conn_id: u64,
    queue: Arc<Outbox>,
}

/// The request whose reply the connections may accept.
struct Awaiting {
    conn_id: u64,
    /// Our number for the request (tags its reply in the receive queue).
    seq: u64,
    /// REQ_CORRELATE: the request id frame the reply must start with.
    id: Option<Bytes>,
}

#[derive(Default)]
struct ReqState {
    /// Connected peers, in the order they came.
    peers: Vec<ReqPeer>,
    /// The next peer to take a request (round robin).
    next: usize,
    /// The request out (None once its reply has arrived).
    awaiting: Option<Awaiting>,
    /// The request whose reply the application has yet to receive.
    expecting: Option<u64>,
    seq: u64,
    next_id: u32,
}

struct ReqPattern {
    state: Mutex<ReqState>,
    inbox: Arc<Inbox>,
    send_hwm: usize,
    correlate: bool,
    /// A peer connected (a request may be waiting for one).
    joined: Event,
}

impl Pattern for ReqPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Req
    }

    fn attach(&self, conn_id: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        let queue = Arc::new(Outbox::new(self.send_hwm));
        lock(&self.state).peers.push(ReqPeer {
            conn_id,
            queue: Arc::clone(&queue),
        });
        self.joined.notify(usize::MAX);
        Ok(Attachment {
            outgoing: Outgoing::Own(queue),
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: true,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, conn_id: u64, _: &Attachment) {
        // A request out on this connection gets no reply: as in libzmq, the application learns
        // it from a receive timeout (and with `req_relaxed` may send the request again).
        let mut state = lock(&self.state);
        if let Some(i) = state.peers.iter().position(|p| p.conn_id == conn_id) {
            state.peers.remove(i).queue.close();
        }
    }

    fn incoming(&self, conn_id: u64, _: &Attachment, msg: Multipart) -> Option<Multipart> {
        let mut state = lock(&self.state);
        let awaiting = state.awaiting.as_ref()?;
        if awaiting.conn_id != conn_id {
            // Not the peer we asked (or a reply to an abandoned request): dropped, as libzmq.
            return None;
        }
        let mut frames = msg.iter();
        if let Some(id) = &awaiting.id {
            if frames.next() != Some(id) {
                return None;
            }
        }
        if !frames.next().is_some_and(Bytes::is_empty) {
            return None;
        }
        let seq = awaiting.seq;
        let tagged = Multipart::from_frames(
            std::iter::once(Bytes::copy_from_slice(&seq.to_be_bytes())).chain(frames.cloned()),
        )
        .ok()
        .filter(|m| m.len() > 1)?;
        state.awaiting = None;
        Some(tagged)
    }
}

impl Drain for ReqPattern {
    fn drained(&self) -> bool {
        lock(&self.state).peers.iter().all(|p| p.queue.is_empty())
    }
    fn unsent(&self) -> usize {
        lock(&self.state).peers.iter().map(|p| p.queue.len()).sum()
    }
}

/// What `ReqPattern::start` did.
enum Started {
    Sent,
    /// No peer is connected: wait for one.
    NoPeer(Multipart),
}

impl ReqPattern {
    /// Sends `body` as a request to the next peer, if one is connected.
    fn start(&self, body: Multipart, relaxed: bool) -> Result<Started, SocketError> {
        let mut state = lock(&self.state);
        if state.expecting.is_some() && !relaxed {
            return Err(SocketError::WrongState(
                "REQ: the last request has not been answered yet; receive the reply first \
                 (or set req_relaxed to abandon it)",
            ));
        }
        if state.peers.is_empty() {
            return Ok(Started::NoPeer(body));
        }
        let id = self.correlate.then(|| {
            state.next_id = state.next_id.wrapping_add(1);
            Bytes::copy_from_slice(&state.next_id.to_ne_bytes())
        });
        let mut request = body;
        request.push_front(Bytes::new());
        if let Some(id) = &id {
            request.push_front(id.clone());
        }
        // Round robin over the peers, skipping those whose queue is full (libzmq's lb).
        let n = state.peers.len();
        let mut taken = None;
        for k in 0..n {
            let i = (state.next + k) % n;
            let Some(peer) = state.peers.get(i) else {
                continue;
            };
            match peer.queue.try_push(request) {
                Ok(()) => {
                    taken = Some((i, peer.conn_id));
                    break;
                }
                Err(PushError::Full(m) | PushError::Closed(m)) => request = m,
            }
        }
        let Some((i, conn_id)) = taken else {
            return Err(SocketError::QueueFull { hwm: self.send_hwm });
        };
        state.next = (i + 1) % n;
        state.seq += 1;
        let seq = state.seq;
        state.awaiting = Some(Awaiting { conn_id, seq, id });
        state.expecting = Some(seq);
        Ok(Started::Sent)
    }

    /// The request whose reply `recv` waits for.
    fn expecting(&self) -> Result<u64, SocketError> {
        lock(&self.state).expecting.ok_or(SocketError::WrongState(
            "REQ: no request to receive a reply to; send one first",
        ))
    }

    /// A reply from the receive queue: the body if it answers the request expected (stale
    /// replies to abandoned requests are dropped).
    fn accept(&self, tagged: Multipart) -> Option<Multipart> {
        let (tag, body) = tagged.pop_front();
        let seq = (tag.len() == 8).then(|| tag.clone().get_u64())?;
        let mut state = lock(&self.state);
        if state.expecting != Some(seq) {
            return None;
        }
        state.expecting = None;
        body
    }
}

/// A REQ socket: sends a request, receives its reply, and so on, strictly in turn.
///
/// Each request goes to the next connected peer (round robin) with an empty delimiter frame
/// in front; only that peer's reply is accepted, without the delimiter. `recv` before `send`,
/// or a second `send` before the reply, fails with [`SocketError::WrongState`], unless
/// [`Options::req_relaxed`] is set: then a new request abandons the old one (a late reply to
/// it is dropped) and goes to the next peer, which is how a client retries on a receive
/// timeout. [`Options::req_correlate`] adds a request id frame and checks it in the reply.
///
/// A request sent while no peer is connected waits for one (libzmq's REQ blocks too):
/// `send` waits, `send_timeout` gives up after its timeout and `try_send` fails at once
/// with [`SocketError::QueueFull`] (as does any `send` in the rare case that every peer's
/// queue is at `send_hwm`, which only abandoned relaxed requests can cause). A request whose
/// peer disconnects before replying gets no reply: use `recv_timeout` and `req_relaxed` to
/// retry elsewhere (the Guide's "lazy pirate").
pub struct Req {
    core: Arc<Core>,
    drain: Arc<ReqPattern>,
    inbox: Arc<Inbox>,
}

impl Req {
    /// A REQ with these options.
    pub fn new(options: Options) -> Req {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let drain = Arc::new(ReqPattern {
            state: Mutex::new(ReqState {
                next_id: crate::router::random_u32(),
                ..ReqState::default()
            }),
            inbox: Arc::clone(&inbox),
            send_hwm: options.send_hwm,
            correlate: options.req_correlate,
            joined: Event::new(),
        });
        Req {
            core: Core::new(options, drain.clone(), budget),
            drain,
            inbox,
        }
    }

    /// Sends a request, waiting for a peer if none is connected.
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        let mut msg = msg;
        loop {
            msg = match self.try_start(msg)? {
                Started::Sent => return Ok(()),
                Started::NoPeer(m) => m,
            };
            let listener = self.drain.joined.listen();
            msg = match self.try_start(msg)? {
                Started::Sent => return Ok(()),
                Started::NoPeer(m) => m,
            };
            listener.await;
        }
    }

    /// [`send`](Req::send), blocking the calling thread while no peer is connected.
    pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
        self.send_until(msg, None)
    }

    /// Sends a request, blocking the calling thread for at most `timeout` while no peer is
    /// connected; [`SocketError::Timeout`] if none came.
    pub fn send_timeout(&self, msg: Multipart, timeout: Duration) -> Result<(), SocketError> {
        self.send_until(msg, Some(Instant::now() + timeout))
            .map_err(|e| match e {
                SocketError::QueueFull { .. } => SocketError::Timeout(timeout),
                e => e,
            })
    }

    /// Sends a request if a peer is connected; [`SocketError::QueueFull`] if not.
    pub fn try_send(&self, msg: Multipart) -> Result<(), SocketError> {
        match self.try_start(msg)? {
            Started::Sent => Ok(()),
            Started::NoPeer(_) => Err(SocketError::QueueFull {
                hwm: self.core.options.send_hwm,
            }),
        }
    }

    fn try_start(&self, msg: Multipart) -> Result<Started, SocketError> {
        if self.core.no_new.fired() {
            return Err(SocketError::Closed);
        }
        self.drain.start(msg, self.core.options.req_relaxed)
    }

    fn send_until(&self, msg: Multipart, deadline: Option<Instant>) -> Result<(), SocketError> {
        let mut msg = msg;
        loop {
            msg = match self.try_start(msg)? {
                Started::Sent => return Ok(()),
                Started::NoPeer(m) => m,
            };
            let listener = self.drain.joined.listen();
            msg = match self.try_start(msg)? {
                Started::Sent => return Ok(()),
                Started::NoPeer(m) => m,
            };
            match deadline {
                None => listener.wait(),
                Some(d) => {
                    if listener.wait_deadline(d).is_none() && Instant::now() >= d {
                        return match self.try_start(msg)? {
                            Started::Sent => Ok(()),
                            Started::NoPeer(_) => Err(SocketError::QueueFull {
                                hwm: self.core.options.send_hwm,
                            }),
                        };
                    }
                }
            }
        }
    }

    /// Receives the reply to the last request (its body, without the delimiter).
    pub async fn recv(&self) -> Result<Multipart, SocketError> {
        self.drain.expecting()?;
        loop {
            if let Some(body) = self.drain.accept(self.inbox.pop().await) {
                return Ok(body);
            }
        }
    }

    /// [`recv`](Req::recv), blocking the calling thread until the reply comes.
    pub fn recv_blocking(&self) -> Result<Multipart, SocketError> {
        self.recv_until(None, Duration::ZERO)
    }

    /// [`recv`](Req::recv), blocking the calling thread for at most `timeout`;
    /// [`SocketError::Timeout`] if no reply came (the request stays the one expected).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Multipart, SocketError> {
        self.recv_until(Some(Instant::now() + timeout), timeout)
    }

    /// The reply, if it is here.
    pub fn try_recv(&self) -> Result<Option<Multipart>, SocketError> {
        self.drain.expecting()?;
        while let Some(tagged) = self.inbox.try_pop() {
            if let Some(body) = self.drain.accept(tagged) {
                return Ok(Some(body));
            }
        }
        Ok(None)
    }

    fn recv_until(
        &self,
        deadline: Option<Instant>,
        timeout: Duration,
    ) -> Result<Multipart, SocketError> {
        self.drain.expecting()?;
        loop {
            let tagged = self
                .inbox
                .pop_blocking(deadline)
                .ok_or(SocketError::Timeout(timeout))?;
            if let Some(body) = self.drain.accept(tagged) {
                return Ok(body);
            }
        }
    }
}

socket_basics!(Req, "REQ");

impl Drop for Req {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}

// ---- REP -------------------------------------------------------------------------------------

/// The frame a REP puts in front of a received request, for its own `recv`: the connection
/// (8 bytes) and how many envelope frames follow (4 bytes).
const REQUEST_TAG_LEN: usize = 12;

struct RepPattern {
    peers: Mutex<HashMap<u64, Arc<Outbox>>>,
    inbox: Arc<Inbox>,
    send_hwm: usize,
}

impl Pattern for RepPattern {
    fn socket_type(&self) -> SocketType {
        SocketType::Rep
    }

    fn attach(&self, conn_id: u64, peer: &PeerInfo, _: ConnHandle) -> Result<Attachment, String> {
        let queue = Arc::new(Outbox::new(self.send_hwm));
        lock(&self.peers).insert(conn_id, Arc::clone(&queue));
        Ok(Attachment {
            outgoing: Outgoing::Own(queue),
            inbound: Some(Arc::clone(&self.inbox)),
            filter_incoming: true,
            prefix: None,
            routing_id: peer.identity.clone(),
        })
    }

    fn detach(&self, conn_id: u64, _: &Attachment) {
        if let Some(queue) = lock(&self.peers).remove(&conn_id) {
            queue.close();
        }
    }

    fn incoming(&self, conn_id: u64, _: &Attachment, msg: Multipart) -> Option<Multipart> {
        // The envelope ends at the first empty frame; a request without one, or without a
        // body after it, is dropped (libzmq does the same).
        let delimiter = msg.iter().position(Bytes::is_empty)?;
        if delimiter + 1 >= msg.len() {
            return None;
        }
        let envelope_len = u32::try_from(delimiter + 1).ok()?;
        let mut tag = BytesMut::with_capacity(REQUEST_TAG_LEN);
        tag.put_u64(conn_id);
        tag.put_u32(envelope_len);
        let mut tagged = msg;
        tagged.push_front(tag.freeze());
        Some(tagged)
    }
}

impl Drain for RepPattern {
    fn drained(&self) -> bool {
        lock(&self.peers).values().all(|q| q.is_empty())
    }
    fn unsent(&self) -> usize {
        lock(&self.peers).values().map(|q| q.len()).sum()
    }
}

/// The request a REP has received and not yet answered.
struct Pending {
    conn_id: u64,
    envelope: Vec<Bytes>,
}

/// A REP socket: receives a request, sends its reply, and so on, strictly in turn.
///
/// Requests come from all peers, fairly; `recv` gives the body (what follows the empty
/// delimiter frame) and keeps the envelope, and `send` puts it back in front of the reply and
/// sends it to the peer the request came from. `send` before a `recv`, or a second `recv`
/// before the reply, fails with [`SocketError::WrongState`]. A reply never waits: if the
/// requester has gone, or its queue is full, it is dropped (an event says so), as libzmq does.
pub struct Rep {
    core: Arc<Core>,
    drain: Arc<RepPattern>,
    inbox: Arc<Inbox>,
    pending: Mutex<Option<Pending>>,
}

impl Rep {
    /// A REP with these options.
    pub fn new(options: Options) -> Rep {
        let budget = Arc::new(Budget::new(options.max_buffered));
        let inbox = Arc::new(Inbox::new(options.recv_hwm, Arc::clone(&budget)));
        let drain = Arc::new(RepPattern {
            peers: Mutex::new(HashMap::new()),
            inbox: Arc::clone(&inbox),
            send_hwm: options.send_hwm,
        });
        Rep {
            core: Core::new(options, drain.clone(), budget),
            drain,
            inbox,
            pending: Mutex::new(None),
        }
    }

    fn not_answered(&self) -> Result<(), SocketError> {
        match lock(&self.pending).is_some() {
            true => Err(SocketError::WrongState(
                "REP: the last request has not been answered yet; send the reply first",
            )),
            false => Ok(()),
        }
    }

    /// Keeps the envelope of a received request; returns its body.
    fn take_request(&self, tagged: Multipart) -> Result<Multipart, SocketError> {
        let mut frames = tagged.into_frames().into_iter();
        let mut tag = frames.next().unwrap_or_default();
        if tag.len() != REQUEST_TAG_LEN {
            return Err(SocketError::Closed);
        }
        let conn_id = tag.get_u64();
        let envelope_len = usize::try_from(tag.get_u32()).unwrap_or(usize::MAX);
        let envelope: Vec<Bytes> = frames.by_ref().take(envelope_len).collect();
        let body = Multipart::from_frames(frames).map_err(|_| SocketError::Closed)?;
        let mut pending = lock(&self.pending);
        if pending.is_some() {
            // Another thread received a request meanwhile: this one is lost, as it would be if
            // two threads shared a libzmq socket; say so rather than overwrite the envelope.
            return Err(SocketError::WrongState(
                "REP: another receive took a request at the same time; one socket, one thread",
            ));
        }
        *pending = Some(Pending { conn_id, envelope });
        Ok(body)
    }

    /// Receives the next request's body.
    pub async fn recv(&self) -> Result<Multipart, SocketError> {
        self.not_answered()?;
        let tagged = self.inbox.pop().await;
        self.take_request(tagged)
    }

    /// [`recv`](Rep::recv), blocking the calling thread until a request comes.
    pub fn recv_blocking(&self) -> Result<Multipart, SocketError> {
        self.not_answered()?;
        let tagged = self.inbox.pop_blocking(None).ok_or(SocketError::Closed)?;
        self.take_request(tagged)
    }

    /// [`recv`](Rep::recv), blocking the calling thread for at most `timeout`;
    /// [`SocketError::Timeout`] if no request came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Multipart, SocketError> {
        self.not_answered()?;
        let tagged = self
            .inbox
            .pop_blocking(Some(Instant::now() + timeout))
            .ok_or(SocketError::Timeout(timeout))?;
        self.take_request(tagged)
    }

    /// A request's body, if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Multipart>, SocketError> {
        self.not_answered()?;
        self.inbox
            .try_pop()
            .map(|tagged| self.take_request(tagged))
            .transpose()
    }

    /// Sends the reply to the request received last (never waits).
    pub async fn send(&self, msg: Multipart) -> Result<(), SocketError> {
        self.send_blocking(msg)
    }

    /// [`send`](Rep::send) for programs without a runtime (it never blocks either).
    pub fn send_blocking(&self, msg: Multipart) -> Result<(), SocketError> {
        let Pending { conn_id, envelope } = lock(&self.pending).take().ok_or(
            SocketError::WrongState("REP: no request to reply to; receive one first"),
        )?;
        let queue = lock(&self.drain.peers).get(&conn_id).cloned();
        let reason = match queue {
            None => DropReason::PeerGone,
            Some(queue) => {
                let reply = Multipart::from_frames(envelope.into_iter().chain(msg.into_frames()))
                    .map_err(|_| SocketError::Closed)?;
                match queue.try_push(reply) {
                    Ok(()) => return Ok(()),
                    Err(PushError::Full(_)) => DropReason::QueueFull {
                        hwm: self.core.options.send_hwm,
                    },
                    Err(PushError::Closed(_)) => DropReason::PeerGone,
                }
            }
        };
        // A requester that left before its reply is routine for a server: debug, not warn.
        self.core.emit_at(
            Some(log::Level::Debug),
            SocketEvent::MessagesDropped {
                routing_id: Bytes::new(),
                count: 1,
                reason,
            },
        );
        Ok(())
    }
}

socket_basics!(Rep, "REP");

impl Drop for Rep {
    fn drop(&mut self) {
        self.core.stop_now();
    }
}
