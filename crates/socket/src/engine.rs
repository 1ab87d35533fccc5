//! The driver of one connection: a reader and a writer running side by side in one task around
//! a sans-IO [`Connection`], plus the handshake and heartbeat timers.
//!
//! The reader feeds received bytes to the connection and hands out what it decodes; it waits
//! when the socket's receive queue is full, which stops reading and lets TCP push back on the
//! peer. The writer writes what the connection queued (greeting, handshake, PONGs) and the
//! messages it takes from its outgoing queue, several at a time.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use courier_proto::connection::{Connection, ConnectionConfig, Event, PeerInfo};
use courier_proto::message::Multipart;
use std::future::Future;
use std::pin::Pin;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::core::{lock, Attachment, Core, LiveGuard, Outgoing, Signal};
use crate::event::SocketEvent;
use crate::outbox::{count_within, Outbox};
use crate::runtime::{self, Instant, Stream};

/// Bytes read per read call.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read per read call before the handshake is done, and while the traffic is light.
const HANDSHAKE_CHUNK: usize = 512;
/// Most room made ahead of arriving data for a large frame body.
const RESERVE_STEP: usize = 4 * 1024 * 1024;
/// Output gathered before a write when several messages are waiting.
const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// Messages gathered before a write.
const WRITE_BATCH_MESSAGES: usize = 512;
/// How long a failing connection may take to write its last words (an ERROR command).
const CLOSING_FLUSH: Duration = Duration::from_secs(1);
/// How often a blocked write re-checks its timers.
const WRITE_TICK: Duration = Duration::from_millis(250);

/// State shared by the reader and the writer of one connection.
struct Link {
    conn: Mutex<Connection>,
    attachment: Mutex<Option<Arc<Attachment>>>,
    last_recv: Mutex<Instant>,
    peer_ttl: Mutex<Option<Duration>>,
    wake_tx: async_channel::Sender<()>,
    wake_rx: async_channel::Receiver<()>,
    /// Close now.
    closed: Signal,
    /// Write what is queued, then close.
    closing: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Link {
    fn set_reason(&self, reason: String) {
        let mut r = lock(&self.reason);
        if r.is_none() {
            *r = Some(reason);
        }
    }

    /// Close after writing what is queued (it may tell the peer why).
    fn fail(&self, reason: String) {
        self.set_reason(reason);
        self.closing.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Close now.
    fn close(&self, reason: &str) {
        self.set_reason(reason.to_owned());
        self.closed.fire();
    }

    fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }
}

/// Runs one connection until it closes. Returns whether the handshake had succeeded.
pub(crate) async fn drive(
    core: &Arc<Core>,
    stream: Stream,
    peer_addr: String,
    live: LiveGuard,
) -> bool {
    let options = &core.options;
    let mut config = ConnectionConfig::new(core.routing.socket_type());
    config.identity = options.routing_id.clone();
    config.limits = options.limits;
    let connection = Connection::new(config, options.security.mechanism(), Instant::now());
    let (wake_tx, wake_rx) = async_channel::bounded(1);
    let link = Link {
        conn: Mutex::new(connection),
        attachment: Mutex::new(None),
        last_recv: Mutex::new(Instant::now()),
        peer_ttl: Mutex::new(None),
        wake_tx,
        wake_rx,
        closed: Signal::new(),
        closing: AtomicBool::new(false),
        reason: Mutex::new(None),
    };
    let conn_id = core.next_conn_id();
    // The reader and the writer each get their own waker (a plain `join` would poll both on
    // every wake-up: a read attempt, answered EAGAIN, for every message written).
    let mut halves: FuturesUnordered<Pin<Box<dyn Future<Output = ()> + Send + '_>>> =
        FuturesUnordered::new();
    halves.push(Box::pin(read_loop(
        core,
        &link,
        stream.clone(),
        &peer_addr,
        conn_id,
    )));
    halves.push(Box::pin(write_loop(core, &link, stream.clone())));
    while halves.next().await.is_some() {}
    drop(halves);
    stream.shutdown();
    // The connection no longer counts against `max_connections` once its events go out.
    drop(live);

    let reason = lock(&link.reason)
        .take()
        .unwrap_or_else(|| "closed".to_owned());
    let attachment = lock(&link.attachment).take();
    match attachment {
        Some(att) => {
            if let Outgoing::Own(queue) = &att.outgoing {
                let count = queue.len();
                if count > 0 {
                    core.emit(SocketEvent::MessagesDropped {
                        routing_id: att.routing_id.clone(),
                        count,
                        reason: "the peer disconnected with messages still queued".into(),
                    });
                }
            }
            core.routing.detach(conn_id, &att);
            // A connection we closed for a fault (a protocol violation, a limit, a heartbeat
            // timeout) is worth a warning; a peer leaving is routine.
            let level = if link.closing.load(Ordering::Relaxed) {
                log::Level::Warn
            } else {
                log::Level::Info
            };
            core.emit_at(
                Some(level),
                SocketEvent::Disconnected {
                    peer_addr,
                    routing_id: Some(att.routing_id.clone()),
                    reason,
                },
            );
            true
        }
        None if core.stop.fired() => false,
        None => {
            core.emit(SocketEvent::HandshakeFailed { peer_addr, reason });
            false
        }
    }
}

async fn read_loop(core: &Core, link: &Link, mut stream: Stream, peer_addr: &str, conn_id: u64) {
    // Small until the handshake is done: a peer that connects and says nothing (or only a
    // greeting) should cost little memory.
    let mut buf = BytesMut::new();
    // Until the connection's traffic fills small reads, they go straight into `buf`; then
    // through this buffer of READ_CHUNK octets.
    let mut scratch: Vec<u8> = Vec::new();
    let mut attachment: Option<Arc<Attachment>> = None;
    // What the connection decoded, handed on after its lock is released (kept: no allocation
    // per read).
    let mut events = VecDeque::new();
    // Messages decoded from one read, for the receive queue (kept, like `events`).
    let mut pending = VecDeque::new();
    // Whether the last read took all there was (it did not fill the buffer).
    let mut drained = false;
    // Made once: a wait future made anew for each read would register a new listener each time.
    // The socket's `stop` is the writer's to watch (it fires `closed`): the reader polls one
    // listener per wake-up, and that one is its own connection's, not one shared by all.
    let closed = link.closed.wait().fuse();
    futures::pin_mut!(closed);
    loop {
        if drained && scratch.is_empty() && events.is_empty() && pending.is_empty() {
            // A light-traffic connection about to wait: it keeps no decoding queues meanwhile,
            // nor a read buffer if it holds nothing (the next read makes a new one).
            events = VecDeque::new();
            pending = VecDeque::new();
            if buf.is_empty() {
                buf = BytesMut::new();
            }
        }
        let wanted = lock(&link.conn).wanted(buf.len());
        if wanted > READ_CHUNK {
            // A large body is coming (its size already checked against the limits): make room
            // in large steps, but never more than a step ahead of what has arrived, so a peer
            // that announces a big frame and sends nothing costs little.
            buf.reserve(wanted.min(RESERVE_STEP));
        }
        // The read, and the size it asked for.
        let read = if scratch.is_empty() {
            let old = buf.len();
            buf.resize(old + HANDSHAKE_CHUNK, 0);
            let read = futures::select! {
                r = read_some(&mut stream, buf.get_mut(old..).unwrap_or_default(), drained)
                    .fuse() => r,
                _ = closed => return,
            };
            buf.truncate(old + *read.as_ref().unwrap_or(&0));
            read.map(|n| (n, HANDSHAKE_CHUNK))
        } else {
            let read = futures::select! {
                r = read_some(&mut stream, &mut scratch, drained).fuse() => r,
                _ = closed => return,
            };
            if let Ok(n) = read {
                buf.extend_from_slice(scratch.get(..n).unwrap_or_default());
            }
            read.map(|n| (n, scratch.len()))
        };
        match read {
            Ok((0, _)) if attachment.is_none() => {
                return link.close(if core.options.security.is_curve_client() {
                    "peer closed the connection during the handshake (a CURVE server does \
                     that when it does not hold the secret key for our server key: check the \
                     server's .key file)"
                } else {
                    "peer closed the connection during the handshake"
                })
            }
            Ok((0, _)) => return link.close("peer closed the connection"),
            Ok((n, asked)) => {
                drained = n < asked;
                // Go to large reads only for a connection whose traffic fills small ones: an
                // idle or slow peer (a client saying HELLO once a second) keeps costing little.
                if n == asked && attachment.is_some() && scratch.is_empty() {
                    scratch = vec![0u8; READ_CHUNK];
                }
            }
            Err(e) => return link.close(&format!("read error: {e}")),
        }
        *lock(&link.last_recv) = Instant::now();

        let result = {
            let mut conn = lock(&link.conn);
            let result = conn.receive(&mut buf, Instant::now());
            conn.take_events(&mut events);
            if conn.has_output() {
                link.wake();
            }
            result
        };
        while let Some(event) = events.pop_front() {
            match event {
                Event::HandshakeComplete(peer) => {
                    match core.routing.attach(conn_id, &peer, link.closed.sender()) {
                        Ok(att) => {
                            core.emit(SocketEvent::HandshakeSucceeded {
                                peer_addr: peer_addr.to_owned(),
                                routing_id: att.routing_id.clone(),
                            });
                            let att = Arc::new(att);
                            *lock(&link.attachment) = Some(Arc::clone(&att));
                            attachment = Some(att);
                            link.wake();
                        }
                        Err(reason) => {
                            // Say why, so that the peer does not take the finished handshake
                            // for a welcome (libzmq just hangs up).
                            let _ = lock(&link.conn).send_error(&reason);
                            return link.fail(reason);
                        }
                    }
                }
                Event::Message(mut msg) => {
                    let Some(att) = &attachment else { continue };
                    if let Some(prefix) = &att.prefix {
                        msg.push_front(prefix.clone());
                    }
                    pending.push_back(msg);
                }
                Event::Ping { ttl_deciseconds } => {
                    *lock(&link.peer_ttl) = (ttl_deciseconds > 0)
                        .then(|| Duration::from_millis(u64::from(ttl_deciseconds) * 100));
                }
                Event::Pong { .. } => {}
            }
        }
        // This read's messages go to the receive queue together: one lock and one wake-up.
        if let Some(att) = &attachment {
            while !att.inbound.push(&mut pending) {
                // The application is behind: wait, which stops reading and lets TCP push back
                // on the peer.
                let room = att.inbound.room_listener();
                if att.inbound.push(&mut pending) {
                    break;
                }
                futures::select! {
                    _ = room.fuse() => {}
                    _ = closed => return,
                }
            }
        }
        if let Err(e) = result {
            return link.fail(e.to_string());
        }
    }
}

/// Reads what has arrived; if the last read took all there was, first waits until more comes
/// (reading at once would only be told "nothing yet", one wasted system call per message).
async fn read_some(
    stream: &mut Stream,
    buf: &mut [u8],
    wait_first: bool,
) -> std::io::Result<usize> {
    if wait_first {
        stream.readable().await?;
    }
    stream.read(buf).await
}

/// The queue a connection sends from.
fn outbox(att: &Attachment) -> &Outbox {
    match &att.outgoing {
        Outgoing::Shared { queue, .. } | Outgoing::Own(queue) => queue,
    }
}

/// Moves up to `max` messages and about `max_bytes` (at least one message) to send into
/// `into`: first those a failed connection gave back (DEALER), then the queue's. Returns how
/// many.
fn take_outgoing(
    att: &Attachment,
    into: &mut VecDeque<Multipart>,
    max: usize,
    max_bytes: usize,
) -> usize {
    if let Outgoing::Shared { requeue, .. } = &att.outgoing {
        let mut requeue = lock(requeue);
        let n = count_within(&requeue, max, max_bytes);
        if n > 0 {
            into.extend(requeue.drain(..n));
            return n;
        }
    }
    outbox(att).take(into, max, max_bytes)
}

fn min_instant(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

async fn write_loop(core: &Core, link: &Link, mut stream: Stream) {
    let options = &core.options;
    let started = Instant::now();
    let ping_ttl = options.heartbeat_ttl.map_or(0, |ttl| {
        u16::try_from(ttl.as_millis() / 100).unwrap_or(u16::MAX)
    });
    let heartbeat_timeout = options.heartbeat_timeout.or(options.heartbeat_ivl);
    let mut attachment: Option<Arc<Attachment>> = None;
    // Messages in the output being written, with where each ends in it.
    let mut batch: Vec<(usize, usize, Multipart)> = Vec::new();
    let mut last_ping = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    // Heartbeats in force on this connection: only once the handshake is done, and only with
    // a ZMTP 3.1 peer (a 3.0 peer knows no PING, so it would never answer one).
    let mut heartbeat_ivl: Option<Duration> = None;
    // Output taken from the connection: small frames copied together, large bodies by
    // reference, written with vectored writes.
    let mut output: Vec<Bytes> = Vec::new();
    // Made once and kept across waits (see `outgoing_receiver`); the timer is moved, not
    // re-created, and only ever earlier: firing before a deadline that has since moved later
    // just re-checks it.
    let closed = link.closed.wait().fuse();
    let stop = core.stop.wait().fuse();
    futures::pin_mut!(closed, stop);
    let mut wake_rx = Box::pin(link.wake_rx.clone());
    // Messages taken from the queue, on their way into the output (kept: no allocation).
    let mut taken: VecDeque<Multipart> = VecDeque::new();
    // Whether the last messages came one or two at a time (then the buffers are given back
    // when the writer goes idle).
    let mut light = true;
    let mut timer = runtime::Timer::never();
    let mut timer_at: Option<Instant> = None;
    loop {
        lock(&link.conn).take_output_chunks(&mut output);
        if !output.is_empty() {
            let (written, error) =
                write_out(core, link, &mut stream, &output, started, heartbeat_ivl).await;
            output.clear();
            settle(
                core,
                &mut batch,
                attachment.as_deref(),
                written,
                error.is_some(),
            );
            if let Some(error) = error {
                return link.close(&error);
            }
            continue;
        }
        if link.closing.load(Ordering::Relaxed) {
            return link.closed.fire();
        }
        if attachment.is_none() {
            attachment = lock(&link.attachment).clone();
            last_ping = Instant::now();
            if attachment.is_some() {
                let peer_pings = lock(&link.conn)
                    .peer()
                    .is_some_and(PeerInfo::supports_heartbeats);
                heartbeat_ivl = options.heartbeat_ivl.filter(|_| peer_pings);
            }
        }

        let now = Instant::now();
        let mut deadline = None;
        match &attachment {
            None => deadline = min_instant(deadline, started + options.handshake_timeout),
            Some(_) => {
                if let Some(ivl) = heartbeat_ivl {
                    deadline = min_instant(deadline, last_ping + ivl);
                }
                if let (Some(sent), Some(timeout)) = (ping_sent, heartbeat_timeout) {
                    deadline = min_instant(deadline, sent + timeout);
                }
                if let Some(ttl) = *lock(&link.peer_ttl) {
                    deadline = min_instant(deadline, *lock(&link.last_recv) + ttl);
                }
            }
        }
        // Fast path: a message is waiting and no timer is due, so skip the wait (and its
        // timer registration) altogether.
        if let Some(att) = &attachment {
            if deadline.is_none_or(|d| now < d) {
                let n = fill_batch(core, link, att, &mut taken, &mut batch);
                if n > 0 {
                    light = n <= 2;
                    continue;
                }
            }
        }
        // Going idle after light traffic: give back what the working buffers grew to (a
        // connection that sends a message now and then, as a server does to each of its
        // 10 000 clients, holds nothing meanwhile). After heavy traffic they stay: the queue
        // and the writer swap buffers, and a busy writer idles only briefly.
        if light {
            if taken.is_empty() && taken.capacity() > 0 {
                taken = VecDeque::new();
            }
            if batch.is_empty() && batch.capacity() > 0 {
                batch = Vec::new();
            }
            if output.is_empty() && output.capacity() > 0 {
                output = Vec::new();
            }
        }
        if let Some(d) = deadline {
            if timer_at.is_none_or(|t| d < t) {
                timer.set_at(d);
                timer_at = Some(d);
            }
        }
        let next = async {
            match &attachment {
                Some(att) => outbox(att).wait_ready().await,
                None => futures::future::pending().await,
            }
        };
        futures::select! {
            _ = wake_rx.next() => {}
            _ = next.fuse() => {
                // Messages are waiting (taken at the top of the loop), or the queue closed.
                if let Some(att) = &attachment {
                    let queue = outbox(att);
                    if queue.is_closed() && queue.is_empty() {
                        return link.close("socket closed");
                    }
                }
            }
            _ = (&mut timer).fuse() => {
                timer_at = None;
                let now = Instant::now();
                let last_recv = *lock(&link.last_recv);
                if attachment.is_none() {
                    if now >= started + options.handshake_timeout {
                        link.fail(format!(
                            "handshake not completed within {:?}",
                            options.handshake_timeout
                        ));
                    }
                    continue;
                }
                if let Some(sent) = ping_sent {
                    if last_recv >= sent {
                        ping_sent = None;
                    } else if heartbeat_timeout.is_some_and(|t| now >= sent + t) {
                        link.fail(format!(
                            "heartbeat timeout: nothing heard for {:?} after a PING",
                            now - sent
                        ));
                        continue;
                    }
                }
                if let Some(ttl) = *lock(&link.peer_ttl) {
                    if now >= last_recv + ttl {
                        link.fail(format!("the peer's heartbeat TTL of {ttl:?} expired"));
                        continue;
                    }
                }
                if let Some(ivl) = heartbeat_ivl {
                    if now >= last_ping + ivl {
                        last_ping = now;
                        ping_sent.get_or_insert(now);
                        if let Err(e) = lock(&link.conn).ping(ping_ttl, Bytes::new()) {
                            link.fail(e.to_string());
                        }
                    }
                }
            }
            _ = closed => return,
            _ = stop => return link.close("socket closed"),
        }
    }
}

/// Messages taken from the queue at a time while filling a write.
const TAKE_STEP: usize = 64;

/// Encodes waiting messages into the connection's output until a write's worth is there,
/// recording each in `batch` (where it starts and ends in the output). Returns how many.
fn fill_batch(
    core: &Core,
    link: &Link,
    att: &Attachment,
    taken: &mut VecDeque<Multipart>,
    batch: &mut Vec<(usize, usize, Multipart)>,
) -> usize {
    let mut conn = lock(&link.conn);
    let mut count = 0;
    while conn.output_len() < WRITE_BATCH_BYTES && batch.len() < WRITE_BATCH_MESSAGES {
        let room = (WRITE_BATCH_MESSAGES - batch.len()).min(TAKE_STEP);
        let bytes = WRITE_BATCH_BYTES.saturating_sub(conn.output_len());
        let n = take_outgoing(att, taken, room, bytes);
        if n == 0 {
            break;
        }
        core.unflushed.fetch_add(n, Ordering::Relaxed);
        while let Some(m) = taken.pop_front() {
            let start = conn.output_len();
            if let Err(e) = conn.send(&m) {
                // The connection failed (the reader saw a protocol error): nothing of these
                // messages was written, so they go back like unwritten ones.
                let mut back = vec![m];
                back.extend(taken.drain(..));
                core.unflushed.fetch_sub(back.len(), Ordering::Relaxed);
                give_back(core, att, back, Vec::new());
                link.fail(e.to_string());
                return count;
            }
            batch.push((start, conn.output_len(), m));
            count += 1;
        }
    }
    count
}

/// The most pieces of output given to one vectored write.
const MAX_IOV: usize = 16;

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

/// Writes `output` (pieces in order); returns how much was written and, if it could not all
/// be, why.
async fn write_out(
    core: &Core,
    link: &Link,
    stream: &mut Stream,
    output: &[Bytes],
    started: Instant,
    heartbeat_ivl: Option<Duration>,
) -> (usize, Option<String>) {
    let options = &core.options;
    let flush_started = Instant::now();
    let total: usize = output.iter().map(Bytes::len).sum();
    let mut written = 0;
    while written < total {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let n = io_slices(output, written, &mut slices);
        let rest = slices.get(..n).unwrap_or_default();
        // Fast path: the socket takes the bytes at once, so no timer is needed.
        if let Some(r) = stream.write_vectored(rest).now_or_never() {
            match r {
                Ok(0) => return (written, Some("connection closed while writing".into())),
                Ok(n) => written += n,
                Err(e) => return (written, Some(format!("write error: {e}"))),
            }
            continue;
        }
        futures::select! {
            r = stream.write_vectored(rest).fuse() => match r {
                Ok(0) => return (written, Some("connection closed while writing".into())),
                Ok(n) => written += n,
                Err(e) => return (written, Some(format!("write error: {e}"))),
            },
            _ = runtime::sleep(WRITE_TICK).fuse() => {
                // The peer is not reading. Give up only for a reason.
                let now = Instant::now();
                let silent = now - *lock(&link.last_recv);
                let has_peer = lock(&link.attachment).is_some();
                if link.closing.load(Ordering::Relaxed) && now - flush_started > CLOSING_FLUSH {
                    return (written, Some(lock(&link.reason).clone().unwrap_or_default()));
                }
                if !has_peer && now - started > options.handshake_timeout {
                    return (written, Some(format!(
                        "handshake not completed within {:?}", options.handshake_timeout
                    )));
                }
                // The peer's TTL holds whether or not our writes go through.
                if let Some(ttl) = *lock(&link.peer_ttl) {
                    if silent > ttl {
                        return (written, Some(format!(
                            "the peer's heartbeat TTL of {ttl:?} expired (peer silent and not reading)"
                        )));
                    }
                }
                if let Some(ivl) = heartbeat_ivl {
                    let limit = ivl + options.heartbeat_timeout.unwrap_or(ivl);
                    if silent > limit {
                        return (written, Some(format!(
                            "heartbeat timeout: peer silent and not reading for {silent:?}"
                        )));
                    }
                }
            },
            _ = link.closed.wait().fuse() => return (written, Some("closed".into())),
            _ = core.stop.wait().fuse() => return (written, Some("socket closed".into())),
        }
    }
    (written, None)
}

/// Accounts for the messages of a write: those fully written are done. On failure, those not
/// started go back to the front of a DEALER's queue (or are reported dropped for a ROUTER
/// peer); one that was partly written is dropped in both cases, as libzmq does: resending it
/// could fail the same way forever (a peer that closes the connection on seeing it, e.g. for
/// being over its size limit, would otherwise block the queue behind it).
fn settle(
    core: &Core,
    batch: &mut Vec<(usize, usize, Multipart)>,
    attachment: Option<&Attachment>,
    written: usize,
    failed: bool,
) {
    if batch.is_empty() {
        return;
    }
    core.unflushed.fetch_sub(batch.len(), Ordering::Relaxed);
    if !failed {
        batch.clear();
        return;
    }
    let mut unsent = Vec::new();
    let mut partial = Vec::new();
    for (start, end, msg) in batch.drain(..) {
        if end <= written {
            continue;
        }
        if start < written {
            partial.push(msg);
        } else {
            unsent.push(msg);
        }
    }
    if let Some(att) = attachment {
        give_back(core, att, unsent, partial);
    }
}

/// Messages a failed connection did not write: `unsent` (nothing written) go back to the front
/// of a DEALER's queue, in order, or are reported dropped for a ROUTER peer; `partial` (cut off
/// mid-message) are reported dropped.
fn give_back(core: &Core, att: &Attachment, unsent: Vec<Multipart>, partial: Vec<Multipart>) {
    if !partial.is_empty() {
        core.emit(SocketEvent::MessagesDropped {
            routing_id: att.routing_id.clone(),
            count: partial.len(),
            reason: "the connection failed while they were being written".into(),
        });
    }
    if unsent.is_empty() {
        return;
    }
    match &att.outgoing {
        Outgoing::Shared { requeue, .. } => {
            let mut requeue = lock(requeue);
            for msg in unsent.into_iter().rev() {
                requeue.push_front(msg);
            }
        }
        Outgoing::Own(_) => core.emit(SocketEvent::MessagesDropped {
            routing_id: att.routing_id.clone(),
            count: unsent.len(),
            reason: "the connection failed before they were written".into(),
        }),
    }
}
