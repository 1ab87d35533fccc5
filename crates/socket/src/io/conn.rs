//! One connection, owned by its I/O thread: reads feed the sans-IO [`Connection`], what it
//! decodes goes to the socket's receive queue, messages from the send queue are encoded and
//! written, and the connection's protocol timers are kept. No lock is held on any of it: only
//! the queues are shared with application threads.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use courier_proto::connection::{Connection, ConnectionConfig, Event, Timers};
use courier_proto::mechanism::ZapRequest;
use courier_proto::message::Multipart;
use mio::Token;

use super::{After, ConnHandle, Ctx, Followup, Stream};
use crate::auth::{address_only, Properties, ReplySlot, ZapRequestFull};
use crate::core::{AddressSlot, Core, HandshakeSlot, LiveGuard};
use crate::event::{DropReason, Reason, SocketEvent};
use crate::outbox::count_within;
use crate::pattern::{Attachment, Outgoing};

/// Bytes asked of one read once traffic fills small reads.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes asked of one read before the handshake is done and while traffic is light: a peer
/// that connects and says little costs little memory.
const SMALL_READ: usize = 512;
/// Frame bodies at least this large are read straight into their own buffer.
const IN_PLACE_MIN: usize = 8 * 1024;
/// Reads per turn before other connections get theirs.
const READ_BUDGET: usize = 16;
/// Output gathered before a write when several messages are waiting.
const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// Messages gathered before a write.
const WRITE_BATCH_MESSAGES: usize = 512;
/// Messages taken from the queue at a time while filling a write.
const TAKE_STEP: usize = 64;
/// Writes per turn before other connections get theirs.
const WRITE_BUDGET: usize = 16;
/// How long a failing connection may take to write its last words (an ERROR command).
const CLOSING_FLUSH: Duration = Duration::from_secs(1);
/// The most pieces of output given to one vectored write.
const MAX_IOV: usize = 16;
/// A partial message that grows by less than this within the stall timeout is stalled.
const STALL_PROGRESS: usize = 4 * 1024;

/// What a connection holds of its socket's limits while it lives (given back on drop).
#[allow(dead_code)] // held for their Drop
pub(crate) struct Guards {
    /// It counts against `max_connections`.
    pub live: LiveGuard,
    /// One of its address's slots (accepted TCP connections).
    pub address: Option<AddressSlot>,
    /// It counts against `max_handshakes` until its handshake ends (accepted connections).
    pub handshake: Option<HandshakeSlot>,
}

pub(crate) struct Conn {
    pub core: Arc<Core>,
    pub gen: u64,
    pub timer_at: Option<Instant>,
    stream: Stream,
    proto: Connection,
    conn_id: u64,
    peer_addr: String,
    handle: Option<ConnHandle>,
    guards: Option<Guards>,
    /// Bytes counted against the socket's receive-memory budget: undecoded input, the partial
    /// message, and messages waiting for room in the receive queue.
    held: usize,
    /// Since when the partial message has not grown by STALL_PROGRESS, and its size then.
    stall: Option<(Instant, usize)>,
    att: Option<Attachment>,
    /// Readiness known from the poller (edge-triggered: true until a read or write says
    /// otherwise).
    readable: bool,
    writable: bool,
    buf: BytesMut,
    /// A large frame body being read into its own buffer, and how much of it has arrived.
    body: Option<(BytesMut, usize)>,
    /// Traffic fills small reads: read in large chunks.
    big_reads: bool,
    events: VecDeque<Event>,
    /// Received messages waiting for room in the receive queue (reading is paused meanwhile).
    pending: VecDeque<Multipart>,
    /// Output being written, and how much of it is.
    out: Vec<Bytes>,
    out_total: usize,
    written: usize,
    /// The messages in `out`, with where each ends.
    batch: Vec<(usize, usize, Multipart)>,
    taken: VecDeque<Multipart>,
    /// The last write carried one or two messages (then buffers are given back when idle).
    light: bool,
    /// Failing: write what is queued (it may tell the peer why), then close, by this time.
    closing: Option<(Reason, Instant)>,
    /// The socket stopped.
    stopped: bool,
    /// The poller reported an error on the socket (e.g. a reset).
    errored: bool,
    /// The connector that made this connection.
    origin: Option<(usize, u64)>,
    started: Instant,
    /// The authenticator's answer, once its worker has it (None: no request out).
    auth_pending: Option<ReplySlot>,
}

impl Conn {
    pub fn new(
        core: Arc<Core>,
        stream: Stream,
        peer_addr: String,
        guards: Guards,
        origin: Option<(usize, u64)>,
        now: Instant,
    ) -> Conn {
        let options = &core.options;
        let mut config = ConnectionConfig::new(core.pattern.socket_type());
        config.identity = options.routing_id.clone();
        config.limits = options.limits;
        config.timers = Timers {
            handshake_timeout: Some(options.handshake_timeout),
            heartbeat_ivl: options.heartbeat_ivl,
            heartbeat_timeout: options.heartbeat_timeout,
            heartbeat_ttl: options.heartbeat_ttl,
        };
        // Its own authenticator, or else a ZAP handler bound on inproc (libzmq's rule of
        // which mechanisms ask is in `zap::decides`).
        config.authenticate = options.authenticator.is_some() || crate::zap::decides(options);
        let proto = Connection::new(config, options.security.mechanism(), now);
        let conn_id = core.next_conn_id();
        Conn {
            core,
            gen: 0,
            timer_at: None,
            stream,
            proto,
            conn_id,
            peer_addr,
            handle: None,
            guards: Some(guards),
            held: 0,
            stall: None,
            att: None,
            readable: true,
            writable: true,
            buf: BytesMut::new(),
            body: None,
            big_reads: false,
            events: VecDeque::new(),
            pending: VecDeque::new(),
            out: Vec::new(),
            out_total: 0,
            written: 0,
            batch: Vec::new(),
            taken: VecDeque::new(),
            light: true,
            closing: None,
            stopped: false,
            errored: false,
            origin,
            started: now,
            auth_pending: None,
        }
    }

    /// Registers the connection under its token.
    pub fn start(&mut self, token: usize, gen: u64, ctx: &mut Ctx) -> io::Result<()> {
        self.gen = gen;
        self.handle = Some(ctx.handle(token, gen));
        self.stream.register(ctx.registry(), Token(token))
    }

    /// It could not be registered: report it as a failed handshake.
    pub fn refuse(mut self: Box<Self>, e: io::Error, ctx: &Ctx, follow: &mut Vec<Followup>) {
        self.closing = Some((Reason::io(&e), ctx.now()));
        self.finish(ctx, follow);
    }

    pub fn on_event(&mut self, event: &mio::event::Event) {
        if event.is_error() {
            // Seen even while reading is paused (budget, full receive queue): a reset
            // connection gives back what it holds now, not at the stall timeout.
            self.errored = true;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }

    /// The socket is stopping: close without flushing.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Starts failing: what is queued is still written (it may tell the peer why).
    fn fail(&mut self, reason: Reason, now: Instant) {
        if self.closing.is_none() {
            self.closing = Some((reason, now + CLOSING_FLUSH));
        }
    }

    /// Its protocol timer (or the closing deadline) came.
    pub fn on_timer(&mut self, token: usize, ctx: &mut Ctx, follow: &mut Vec<Followup>) -> After {
        let now = ctx.now();
        if self.closing.is_none() {
            if let Err(e) = self.proto.handle_timeout(now) {
                self.fail(e.into(), now);
            }
        }
        if let (Some((since, _)), Some(limit)) = (self.stall, self.core.options.stall_timeout) {
            if self.closing.is_none() && now >= since + limit {
                // Nothing more is read from it: close now and free what it holds.
                self.closing = Some((
                    Reason::Stalled {
                        held: self.partial_len(),
                        after: now.saturating_duration_since(since),
                    },
                    now,
                ));
            }
        }
        self.drive(token, ctx, follow)
    }

    /// The stall deadline, if a partial message is held.
    fn stall_deadline(&self) -> Option<Instant> {
        let (since, _) = self.stall?;
        Some(since + self.core.options.stall_timeout?)
    }

    /// Re-counts what the connection holds against the budget, and whether its partial
    /// message progresses.
    /// Bytes of the message in progress held now.
    fn partial_len(&self) -> usize {
        self.buf.len()
            + self.body.as_ref().map_or(0, |(_, filled)| *filled)
            + self.proto.partial_message_len()
    }

    fn account(&mut self, now: Instant) {
        let partial = self.partial_len();
        let pending: usize = self.pending.iter().map(Multipart::total_len).sum();
        let held = partial + pending;
        let budget = &self.core.budget;
        if held > self.held {
            budget.add(held - self.held);
        } else {
            budget.sub(self.held - held);
        }
        self.held = held;
        self.stall = match self.stall {
            _ if partial == 0 => None,
            Some((since, size)) if partial < size + STALL_PROGRESS => Some((since, size)),
            _ => Some((now, partial)),
        };
    }

    /// Does all there is to do now: read, deliver, take and write, and says when to come back.
    pub fn drive(&mut self, token: usize, ctx: &mut Ctx, follow: &mut Vec<Followup>) -> After {
        let _ = follow;
        let now = ctx.now();
        if self.stopped || self.core.stop.fired() {
            self.stopped = true;
            self.closing = Some((Reason::SocketClosed, now));
            return After::Remove;
        }
        if self.errored {
            if let Some(e) = self.stream.take_error() {
                self.closing.get_or_insert((Reason::io(&e), now));
                return After::Remove;
            }
            self.errored = false;
        }
        if let Some(handle) = self.handle.as_ref().filter(|h| h.kicked()) {
            self.closing = Some((handle.kick_reason(), now));
            return After::Remove;
        }
        // An I/O error ends the connection at once; a reason already given stands (a peer
        // hanging up on our ERROR is not the news).
        if let Err(reason) = self.read(token, ctx).and_then(|()| self.write(token, ctx)) {
            self.closing.get_or_insert((reason, now));
            return After::Remove;
        }
        if let Some((_, deadline)) = &self.closing {
            if self.out.is_empty() && !self.proto.has_output() || now >= *deadline {
                return After::Remove;
            }
            return After::Keep(Some(*deadline));
        }
        let next = [self.proto.poll_timeout(), self.stall_deadline()]
            .into_iter()
            .flatten()
            .min();
        After::Keep(next)
    }

    /// Reads while there is data, room in the receive queue and budget left.
    fn read(&mut self, token: usize, ctx: &mut Ctx) -> Result<(), Reason> {
        self.poll_auth(ctx.now());
        // Deliver what waited for room first.
        if !self.pending.is_empty() {
            let delivered = self.deliver()?;
            self.account(ctx.now());
            if !delivered {
                return Ok(());
            }
        }
        let mut budget = READ_BUDGET;
        while self.readable && self.closing.is_none() {
            if self.proto.awaiting_auth() {
                // Nothing more is read until the authenticator answers (TCP pushes back);
                // `readable` stays set, so reading resumes when the answer wakes us.
                break;
            }
            if budget == 0 {
                ctx.run_again(token, self.gen);
                break;
            }
            budget -= 1;
            if !self.proto.is_active() && !ctx.take_handshake_step() {
                // This turn's handshake work is done; established connections go first.
                ctx.run_again(token, self.gen);
                break;
            }
            // The socket's receive-memory budget: wait for room (TCP pushes back meanwhile).
            // Its message in progress: what it holds and the rest of the frame it announced.
            let announced = match &self.body {
                Some((body, filled)) => body.len() - filled,
                None => self.proto.wanted(self.buf.len()),
            };
            let holding = self.held.saturating_add(announced);
            let room = self.core.budget.room(holding);
            if room == 0 {
                if let Some(handle) = &self.handle {
                    self.core.budget.wait(handle.waker(), holding);
                }
                break;
            }
            // A large frame body (its size checked against the limits on its header) is read
            // straight into a buffer of its own, made once, zeroed lazily by the system, and
            // handed to the protocol whole: no copy through a read buffer, and CURVE opens it
            // in place.
            if self.body.is_none() && self.proto.is_active() {
                let wanted = self.proto.wanted(self.buf.len());
                if wanted >= IN_PLACE_MIN {
                    let have = self.buf.len();
                    let mut body = BytesMut::zeroed(have + wanted);
                    if let Some(head) = body.get_mut(..have) {
                        head.copy_from_slice(&self.buf);
                    }
                    self.buf = BytesMut::new();
                    self.body = Some((body, have));
                }
            }
            let read = match &mut self.body {
                Some((body, filled)) => {
                    let end = body.len().min(filled.saturating_add(room));
                    let ask = end - *filled;
                    let target = body.get_mut(*filled..end).unwrap_or_default();
                    match self.stream.read(target) {
                        Ok(n) => {
                            *filled += n;
                            if n < ask {
                                self.readable = false;
                            }
                            Ok(n)
                        }
                        Err(e) => Err(e),
                    }
                }
                None => {
                    let chunk = if self.big_reads {
                        READ_CHUNK
                    } else {
                        SMALL_READ
                    }
                    .min(room);
                    let old = self.buf.len();
                    self.buf.resize(old + chunk, 0);
                    let read = self
                        .stream
                        .read(self.buf.get_mut(old..).unwrap_or_default());
                    self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
                    if let Ok(n) = read {
                        if n < chunk {
                            // Edge-triggered: a short read took all there was; more data
                            // brings a new event.
                            self.readable = false;
                        }
                        if self.att.is_some() {
                            self.big_reads = n == chunk || (self.big_reads && n > SMALL_READ);
                        }
                    }
                    read
                }
            };
            match read {
                Ok(0) => {
                    return Err(if self.att.is_some() {
                        Reason::PeerClosed
                    } else {
                        Reason::PeerClosedInHandshake {
                            curve_client: self.core.options.security.is_curve_client(),
                        }
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Reason::io(&e)),
            }
            // A large body goes to the protocol only once it is whole.
            if let Some((body, filled)) = &self.body {
                if *filled < body.len() {
                    self.account(ctx.now());
                    continue;
                }
                if let Some((body, _)) = self.body.take() {
                    self.buf = body;
                }
            }
            let result = self.proto.receive(&mut self.buf, ctx.now());
            self.proto.take_events(&mut self.events);
            self.handle_events(ctx.now());
            if let Err(e) = result {
                self.fail(e.into(), ctx.now());
            }
            let delivered = self.deliver()?;
            self.account(ctx.now());
            if !delivered {
                break;
            }
        }
        if !self.readable && self.buf.is_empty() && !self.big_reads {
            // A quiet connection keeps no read buffer nor decoding queues (10 000 idle clients
            // cost little).
            self.buf = BytesMut::new();
            if self.events.capacity() > 0 && self.events.is_empty() {
                self.events = VecDeque::new();
            }
            if self.pending.capacity() > 0 && self.pending.is_empty() {
                self.pending = VecDeque::new();
            }
        }
        Ok(())
    }

    /// Goes on with the handshake once the authenticator has answered.
    fn poll_auth(&mut self, now: Instant) {
        let Some(slot) = &self.auth_pending else {
            return;
        };
        let Some(reply) = crate::core::lock(slot).take() else {
            return;
        };
        self.auth_pending = None;
        if self.closing.is_some() {
            return;
        }
        let result = self.proto.auth_reply(reply, &mut self.buf, now);
        self.proto.take_events(&mut self.events);
        self.handle_events(now);
        if let Err(e) = result {
            self.fail(e.into(), now);
        }
    }

    /// Hands an authentication request to a worker, or to the inproc ZAP handler (never
    /// decided here: either may take its time).
    fn ask_authenticator(&mut self, request: ZapRequest, now: Instant) {
        let Some(handle) = &self.handle else {
            // Not registered, so it could not be woken with the answer: refuse rather than hang.
            self.fail(Reason::Refused("connection not registered".into()), now);
            return;
        };
        let waker = handle.waker().clone();
        let options = &self.core.options;
        let full = ZapRequestFull {
            domain: options.zap_domain.clone(),
            address: address_only(&self.peer_addr),
            routing_id: options.routing_id.clone(),
            mechanism: request.mechanism,
            credentials: request.credentials,
        };
        // The connection asks only with an authenticator or a ZAP handler (see `new`).
        self.auth_pending = Some(match options.authenticator.clone() {
            Some(authenticator) => crate::auth::submit(authenticator, full, waker),
            None => crate::zap::submit(full, &options.security, waker, options.handshake_timeout),
        });
    }

    fn handle_events(&mut self, now: Instant) {
        while let Some(event) = self.events.pop_front() {
            match event {
                Event::AuthRequest(request) => self.ask_authenticator(request, now),
                Event::HandshakeComplete(peer) => {
                    let Some(handle) = self.handle.clone() else {
                        continue;
                    };
                    match self.core.pattern.attach(self.conn_id, &peer, handle) {
                        Ok(att) => {
                            if let Some(g) = &mut self.guards {
                                g.handshake = None;
                            }
                            self.core.pattern.set_properties(
                                self.conn_id,
                                &att.routing_id,
                                Properties {
                                    user_id: peer.user_id.clone(),
                                    peer_address: address_only(&self.peer_addr),
                                    metadata: peer.metadata.clone(),
                                    auth_metadata: peer.auth_metadata.clone(),
                                },
                            );
                            self.core.emit(SocketEvent::HandshakeSucceeded {
                                peer_addr: self.peer_addr.clone(),
                                routing_id: att.routing_id.clone(),
                            });
                            self.att = Some(att);
                        }
                        Err(reason) => {
                            // Say why, so that the peer does not take the finished handshake
                            // for a welcome (libzmq just hangs up).
                            let _ = self.proto.send_error(&reason);
                            self.fail(Reason::Refused(reason), now);
                        }
                    }
                }
                Event::Message(mut msg) => {
                    let Some(att) = &self.att else { continue };
                    if att.filter_incoming {
                        match self.core.pattern.incoming(self.conn_id, att, msg) {
                            Some(m) => msg = m,
                            None => continue,
                        }
                    }
                    if att.inbound.is_none() {
                        continue;
                    }
                    if let Some(prefix) = &att.prefix {
                        msg.push_front(prefix.clone());
                    }
                    self.pending.push_back(msg);
                }
                Event::Ping { .. } | Event::Pong { .. } => {}
            }
        }
    }

    /// Hands received messages to the receive queue; `Ok(false)` if it is full (reading
    /// pauses until the application makes room, and TCP pushes back on the peer).
    fn deliver(&mut self) -> Result<bool, Reason> {
        if self.pending.is_empty() {
            return Ok(true);
        }
        let (Some(inbox), Some(handle)) = (
            self.att.as_ref().and_then(|a| a.inbound.as_ref()),
            &self.handle,
        ) else {
            self.pending.clear();
            return Ok(true);
        };
        Ok(inbox.push(&mut self.pending, handle.waker()))
    }

    /// Writes what the connection has to say and what the send queue holds.
    fn write(&mut self, token: usize, ctx: &mut Ctx) -> Result<(), Reason> {
        let mut budget = WRITE_BUDGET;
        loop {
            if self.out.is_empty() {
                self.fill();
                self.proto.take_output_chunks(&mut self.out);
                if self.out.is_empty() {
                    self.idle();
                    return Ok(());
                }
                self.out_total = self.out.iter().map(Bytes::len).sum();
                self.written = 0;
            }
            if !self.writable {
                return Ok(());
            }
            if budget == 0 {
                ctx.run_again(token, self.gen);
                return Ok(());
            }
            budget -= 1;
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let n = io_slices(&self.out, self.written, &mut slices);
            let asked: usize = slices.iter().take(n).map(|s| s.len()).sum();
            match self
                .stream
                .write_vectored(slices.get(..n).unwrap_or_default())
            {
                Ok(0) => {
                    let e = io::Error::from(io::ErrorKind::WriteZero);
                    self.settle(true);
                    return Err(Reason::io(&e));
                }
                Ok(w) => {
                    self.written += w;
                    if w < asked {
                        // The socket's buffer is full: wait for the poller's word.
                        self.writable = false;
                    }
                    if self.written >= self.out_total {
                        self.out.clear();
                        self.settle(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.settle(true);
                    return Err(Reason::io(&e));
                }
            }
        }
    }

    /// Encodes waiting messages into the connection's output until a write's worth is there;
    /// with nothing waiting, asks the queue to wake this connection when a message comes.
    fn fill(&mut self) {
        if self.closing.is_some() {
            return;
        }
        let (Some(att), Some(handle)) = (&self.att, &self.handle) else {
            return;
        };
        let mut count = 0;
        while self.proto.output_len() < WRITE_BATCH_BYTES && self.batch.len() < WRITE_BATCH_MESSAGES
        {
            let room = (WRITE_BATCH_MESSAGES - self.batch.len()).min(TAKE_STEP);
            let bytes = WRITE_BATCH_BYTES.saturating_sub(self.proto.output_len());
            let n = take_outgoing(att, &mut self.taken, room, bytes, handle);
            if n == 0 {
                break;
            }
            self.core.unflushed.fetch_add(n, Ordering::Relaxed);
            while let Some(m) = self.taken.pop_front() {
                let start = self.proto.output_len();
                if let Err(e) = self.proto.send(&m) {
                    // Nothing of these was written: they go back like unwritten ones.
                    let mut back = vec![m];
                    back.extend(self.taken.drain(..));
                    self.core.unflushed.fetch_sub(back.len(), Ordering::Relaxed);
                    give_back(&self.core, att, back, Vec::new());
                    let now = Instant::now();
                    self.fail(e.into(), now);
                    return;
                }
                self.batch.push((start, self.proto.output_len(), m));
                count += 1;
            }
        }
        if count > 0 {
            self.light = count <= 2;
        }
    }

    /// Going idle: after light traffic, give back what the working buffers grew to.
    fn idle(&mut self) {
        if self.light {
            if self.taken.capacity() > 0 {
                self.taken = VecDeque::new();
            }
            if self.batch.capacity() > 0 {
                self.batch = Vec::new();
            }
            if self.out.capacity() > 0 {
                self.out = Vec::new();
            }
        }
    }

    /// Accounts for the messages of a write: all done, or (on failure) those not started go
    /// back to a DEALER's queue and one cut off mid-way is dropped, as libzmq does.
    fn settle(&mut self, failed: bool) {
        if self.batch.is_empty() {
            return;
        }
        self.core
            .unflushed
            .fetch_sub(self.batch.len(), Ordering::Relaxed);
        if !failed {
            self.batch.clear();
            return;
        }
        let written = self.written;
        let mut unsent = Vec::new();
        let mut partial = Vec::new();
        for (start, end, msg) in self.batch.drain(..) {
            if end <= written {
                continue;
            }
            if start < written {
                partial.push(msg);
            } else {
                unsent.push(msg);
            }
        }
        if let Some(att) = &self.att {
            give_back(&self.core, att, unsent, partial);
        }
    }

    /// The connection is gone: release it and say why.
    pub fn finish(mut self: Box<Self>, ctx: &Ctx, follow: &mut Vec<Followup>) {
        // What was being written did not all go out.
        if !self.out.is_empty() {
            self.settle(true);
        }
        self.stream.deregister(ctx.registry());
        self.stream.shutdown();
        // What it held is freed, and it no longer counts against the socket's limits once
        // its events go out.
        self.core.budget.sub(self.held);
        self.held = 0;
        drop(self.guards.take());
        let (reason, faulted) = match self.closing.take() {
            Some((Reason::SocketClosed, _)) => (Reason::SocketClosed, false),
            Some((Reason::Kicked, _)) => (Reason::Kicked, false),
            Some((r @ (Reason::PeerClosed | Reason::PeerClosedInHandshake { .. }), _)) => {
                (r, false)
            }
            Some((r, _)) => (r, true),
            None => (Reason::SocketClosed, false),
        };
        let handshaken = self.att.is_some();
        match self.att.take() {
            Some(att) => {
                // The pattern first: it may hand what is left in the peer's queue to other
                // peers (PUSH); what stays there is lost.
                self.core.pattern.detach(self.conn_id, &att);
                if let Outgoing::Own(queue) = &att.outgoing {
                    let count = queue.len();
                    if count > 0 {
                        self.core.emit(SocketEvent::MessagesDropped {
                            routing_id: att.routing_id.clone(),
                            count,
                            reason: DropReason::LeftQueued,
                        });
                    }
                }
                // A connection we closed for a fault (a protocol violation, a limit, a
                // heartbeat timeout) is worth a warning; a peer leaving is routine.
                let level = if faulted {
                    log::Level::Warn
                } else {
                    log::Level::Info
                };
                self.core.emit_at(
                    Some(level),
                    SocketEvent::Disconnected {
                        peer_addr: std::mem::take(&mut self.peer_addr),
                        routing_id: Some(att.routing_id.clone()),
                        reason,
                    },
                );
            }
            None if self.stopped || self.core.stop.fired() => {}
            None => self.core.emit(SocketEvent::HandshakeFailed {
                peer_addr: std::mem::take(&mut self.peer_addr),
                reason,
            }),
        }
        if let Some(origin) = self.origin {
            follow.push(Followup::ConnClosed {
                origin,
                handshaken,
                lived: ctx.now().saturating_duration_since(self.started),
            });
        }
    }
}

/// Moves up to `max` messages and about `max_bytes` to send into `into`: first those a failed
/// connection gave back (DEALER), then the queue's; with none, the queue will wake `handle`.
pub(super) fn take_outgoing(
    att: &Attachment,
    into: &mut VecDeque<Multipart>,
    max: usize,
    max_bytes: usize,
    handle: &ConnHandle,
) -> usize {
    let queue = match &att.outgoing {
        Outgoing::Shared { queue, requeue } => {
            let mut requeue = crate::core::lock(requeue);
            let n = count_within(&requeue, max, max_bytes);
            if n > 0 {
                into.extend(requeue.drain(..n));
                return n;
            }
            queue
        }
        Outgoing::Own(queue) => queue,
        Outgoing::Nothing => return 0,
    };
    queue.take_or_wait(into, max, max_bytes, Some(handle.waker()))
}

/// Messages a failed connection did not write: `unsent` go back to the front of a DEALER's
/// queue, in order, or are reported dropped for a ROUTER peer; `partial` (cut off mid-message)
/// are reported dropped.
fn give_back(core: &Core, att: &Attachment, unsent: Vec<Multipart>, partial: Vec<Multipart>) {
    if !partial.is_empty() {
        core.emit(SocketEvent::MessagesDropped {
            routing_id: att.routing_id.clone(),
            count: partial.len(),
            reason: DropReason::CutOff,
        });
    }
    if unsent.is_empty() {
        return;
    }
    match &att.outgoing {
        Outgoing::Shared { requeue, queue } => {
            {
                let mut requeue = crate::core::lock(requeue);
                for msg in unsent.into_iter().rev() {
                    requeue.push_front(msg);
                }
            }
            // Another connection may be waiting for messages.
            queue.wake_writers();
        }
        Outgoing::Own(_) | Outgoing::Nothing => core.emit(SocketEvent::MessagesDropped {
            routing_id: att.routing_id.clone(),
            count: unsent.len(),
            reason: DropReason::Unwritten,
        }),
    }
}

/// Fills `slices` with the pieces of `chunks` after the first `skip` bytes; returns how many.
fn io_slices<'a>(chunks: &'a [Bytes], mut skip: usize, slices: &mut [IoSlice<'a>]) -> usize {
    let mut n = 0;
    for chunk in chunks {
        if skip >= chunk.len() {
            skip -= chunk.len();
            continue;
        }
        let Some(slot) = slices.get_mut(n) else { break };
        *slot = IoSlice::new(chunk.get(skip..).unwrap_or_default());
        skip = 0;
        n += 1;
    }
    n
}
