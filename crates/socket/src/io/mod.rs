//! The I/O threads, libzmq's model: each thread is a loop over a readiness poller (mio:
//! epoll/kqueue, edge-triggered, every socket registered once for its life) that owns the
//! connections, listeners and connectors given to it, and their timers. Nothing else in the
//! crate touches a socket or the poller.
//!
//! Application threads meet an I/O thread only at the send and receive queues and through a
//! [`IoWaker`]: a token pushed into the thread's mailbox, with one poller wake-up when the
//! mailbox goes from empty to not empty.

mod conn;
mod connect;
mod listen;
mod pipe;
mod sleep;
mod stream;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token};
use slab::Slab;

use crate::core::{lock, Core};
use crate::endpoint::Endpoint;
use crate::event::Reason;
use conn::Conn;
use connect::Connector;
use listen::Listening;
use pipe::Pipe;
pub use sleep::Sleep;
pub(crate) use stream::{literal, resolve, Listener, Stream};

/// Environment variable that sets how many I/O threads run the connections (default 1).
pub const IO_THREADS_VAR: &str = "COURIER_IO_THREADS";
/// The variable earlier versions read for the same thing; still honoured.
const OLD_IO_THREADS_VAR: &str = "ASYNC_STD_THREAD_COUNT";
/// The name of every I/O thread.
pub const IO_THREAD_NAME: &str = "courier-io";

const WAKER: Token = Token(usize::MAX);

static THREADS_WANTED: AtomicUsize = AtomicUsize::new(0);
static CONTEXT: OnceLock<Context> = OnceLock::new();

/// Sets how many I/O threads to start (before the first socket is used; later calls have no
/// effect). Without it, [`IO_THREADS_VAR`] decides, and else one thread, as libzmq has.
pub fn set_io_threads(n: usize) -> bool {
    THREADS_WANTED.store(n.max(1), Ordering::Relaxed);
    CONTEXT.get().is_none()
}

/// How many I/O threads run (starting them if they are not running yet).
pub fn io_threads() -> usize {
    context().threads.len()
}

fn threads_wanted() -> usize {
    match THREADS_WANTED.load(Ordering::Relaxed) {
        0 => [IO_THREADS_VAR, OLD_IO_THREADS_VAR]
            .iter()
            .find_map(|v| std::env::var(v).ok()?.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 64),
        n => n,
    }
}

/// The I/O threads of the process.
pub(crate) struct Context {
    threads: Vec<Arc<Shared>>,
    next: AtomicUsize,
    /// Why no thread could be started, if none could.
    error: Option<String>,
}

pub(crate) fn context() -> &'static Context {
    CONTEXT.get_or_init(|| {
        let mut threads = Vec::new();
        let mut error = None;
        for index in 0..threads_wanted() {
            match start_thread(index) {
                Ok(shared) => threads.push(shared),
                Err(e) => {
                    log::error!("cannot start I/O thread {index}: {e}");
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        Context {
            threads,
            next: AtomicUsize::new(0),
            error,
        }
    })
}

impl Context {
    /// The thread for the next piece of work (round robin).
    pub fn pick(&self) -> Result<&Arc<Shared>, std::io::Error> {
        let n = self.threads.len();
        if n == 0 {
            return Err(std::io::Error::other(format!(
                "no I/O thread could be started: {}",
                self.error.as_deref().unwrap_or("unknown error")
            )));
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
        self.threads
            .get(i)
            .ok_or_else(|| std::io::Error::other("no I/O thread"))
    }

    /// Every thread.
    pub fn all(&self) -> &[Arc<Shared>] {
        &self.threads
    }
}

/// What an application thread asks of an I/O thread.
pub(crate) enum Command {
    /// Accept connections on this listener.
    Listen {
        core: Arc<Core>,
        listener: Listener,
        endpoint: Endpoint,
    },
    /// Connect (and reconnect) to this endpoint.
    Connect { core: Arc<Core>, endpoint: Endpoint },
    /// Run this connection (accepted by another thread).
    Adopt {
        core: Arc<Core>,
        stream: Stream,
        peer_addr: String,
        guards: conn::Guards,
    },
    /// A host name was resolved for a connector.
    Resolved {
        token: usize,
        gen: u64,
        result: std::io::Result<Vec<std::net::SocketAddr>>,
    },
    /// Stop accepting for this socket.
    StopListening(Arc<Core>),
    /// Close everything of this socket.
    Stop(Arc<Core>),
    /// Wake a future at a time.
    Sleep(sleep::Entry),
    /// Join two sockets of this process (inproc://).
    Pipe {
        connector: Arc<Core>,
        binder: Arc<Core>,
        name: String,
    },
}

#[derive(Default)]
struct Mailbox {
    commands: Vec<Command>,
    wakes: Vec<(usize, u64)>,
    /// A sender has seen to it that the thread looks at the mailbox (woke it, or found it
    /// awake); until the thread takes the mail, later senders need not.
    notified: bool,
}

/// The part of an I/O thread that other threads reach.
pub(crate) struct Shared {
    waker: mio::Waker,
    mailbox: Mutex<Mailbox>,
    /// Whether the thread may be blocked in the poller (a wake-up is needed).
    parked: AtomicBool,
    /// When the parked thread wakes by itself (its next timer), as nanoseconds since
    /// [`epoch`]; u64::MAX: never. A timer due no earlier needs no wake-up.
    wakes_at: AtomicU64,
}

/// The instant timers are counted from (for [`Shared::wakes_at`]).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch()).as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    /// Puts something in the mailbox; `urgent`: the thread must look at it before it would
    /// wake by itself.
    fn post(&self, urgent: impl FnOnce(u64) -> bool, put: impl FnOnce(&mut Mailbox)) {
        let notify = {
            let mut mb = lock(&self.mailbox);
            put(&mut mb);
            // Read under the lock the thread sets it under: never a stale wake-up time.
            let notify = !mb.notified && urgent(self.wakes_at.load(Ordering::SeqCst));
            if notify {
                mb.notified = true;
            }
            notify
        };
        if notify && self.parked.load(Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }

    /// Hands a command to the thread.
    pub fn send(&self, command: Command) {
        self.post(|_| true, |mb| mb.commands.push(command));
    }

    /// Hands a future's timer to the thread, waking it only if the timer is due before the
    /// thread would wake by itself (a program re-arming the same timer in a loop costs the
    /// I/O thread nothing).
    pub fn send_sleep(&self, entry: sleep::Entry) {
        let at = nanos_since_epoch(entry.at());
        self.post(
            |wakes_at| at < wakes_at,
            |mb| mb.commands.push(Command::Sleep(entry)),
        );
    }

    fn wake(&self, token: usize, gen: u64) {
        self.post(|_| true, |mb| mb.wakes.push((token, gen)));
    }
}

/// Wakes one connection (or connector) on its I/O thread: it will look at its queues again.
#[derive(Clone)]
pub(crate) struct IoWaker {
    shared: Arc<Shared>,
    token: usize,
    gen: u64,
}

impl IoWaker {
    pub fn wake(&self) {
        self.shared.wake(self.token, self.gen);
    }

    /// Whether both wake the same connection.
    pub fn same(&self, other: &IoWaker) -> bool {
        self.token == other.token
            && self.gen == other.gen
            && Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// A connection's handle for the socket: wake it, or close it (ROUTER handover, disconnect).
#[derive(Clone)]
pub(crate) struct ConnHandle {
    waker: IoWaker,
    kicked: Arc<AtomicBool>,
    /// Why the socket closed the connection, when it is a fault of the peer's.
    why: Arc<Mutex<Option<Reason>>>,
}

impl ConnHandle {
    /// Closes the connection; returns whether it was open.
    pub fn kick(&self) -> bool {
        let first = !self.kicked.swap(true, Ordering::SeqCst);
        self.waker.wake();
        first
    }

    pub fn kicked(&self) -> bool {
        self.kicked.load(Ordering::SeqCst)
    }

    /// Closes the connection for a fault of the peer's, reported with `reason`.
    pub fn kick_because(&self, reason: Reason) -> bool {
        lock(&self.why).get_or_insert(reason);
        self.kick()
    }

    /// Why the connection was closed ([`Reason::Kicked`] unless a fault was given).
    pub fn kick_reason(&self) -> Reason {
        lock(&self.why).clone().unwrap_or(Reason::Kicked)
    }

    pub fn waker(&self) -> &IoWaker {
        &self.waker
    }
}

fn start_thread(index: usize) -> std::io::Result<Arc<Shared>> {
    let poll = Poll::new()?;
    let waker = mio::Waker::new(poll.registry(), WAKER)?;
    let registry = poll.registry().try_clone()?;
    let shared = Arc::new(Shared {
        waker,
        mailbox: Mutex::new(Mailbox::default()),
        parked: AtomicBool::new(false),
        wakes_at: AtomicU64::new(u64::MAX),
    });
    let thread = Thread {
        poll,
        shared: Arc::clone(&shared),
        slab: Slab::new(),
        ctx: Ctx {
            registry,
            shared: Arc::clone(&shared),
            timers: BinaryHeap::new(),
            again: Vec::new(),
            gen: 0,
            now: Instant::now(),
            handshake_steps: 0,
            handshake_until: Instant::now(),
        },
        sleeps: sleep::Sleeps::default(),
    };
    std::thread::Builder::new()
        .name(IO_THREAD_NAME.to_owned())
        .spawn(move || thread.run())?;
    let _ = index;
    Ok(shared)
}

/// What an I/O thread runs.
enum Entry {
    Listener(Listening),
    Connector(Connector),
    Conn(Box<Conn>),
    Pipe(Box<Pipe>),
}

impl Entry {
    fn gen(&self) -> u64 {
        match self {
            Entry::Listener(l) => l.gen,
            Entry::Connector(c) => c.gen,
            Entry::Conn(c) => c.gen,
            Entry::Pipe(p) => p.gen,
        }
    }

    /// Whether the entry belongs to this socket (a pipe belongs to two).
    fn involves(&self, core: &Arc<Core>) -> bool {
        match self {
            Entry::Listener(l) => Arc::ptr_eq(&l.core, core),
            Entry::Connector(c) => Arc::ptr_eq(&c.core, core),
            Entry::Conn(c) => Arc::ptr_eq(&c.core, core),
            Entry::Pipe(p) => p.involves(core),
        }
    }

    fn timer_at(&mut self) -> &mut Option<Instant> {
        match self {
            Entry::Listener(l) => &mut l.timer_at,
            Entry::Connector(c) => &mut c.timer_at,
            Entry::Conn(c) => &mut c.timer_at,
            Entry::Pipe(p) => &mut p.timer_at,
        }
    }
}

/// What an entry asks of the loop after it ran.
pub(crate) enum After {
    /// Keep it; wake it at this time (if any).
    Keep(Option<Instant>),
    /// Remove it.
    Remove,
}

/// The loop's state that entries use while they run.
pub(crate) struct Ctx {
    registry: Registry,
    shared: Arc<Shared>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Entries with work left over from their last turn (fairness budget), run again soon.
    again: Vec<(usize, u64)>,
    gen: u64,
    now: Instant,
    /// Handshake steps taken in this turn of the loop, and until when more may be taken
    /// (CURVE's X25519 is costly: a flood of handshakes must leave time for established
    /// connections; NULL handshakes are cheap and many fit in a turn).
    handshake_steps: usize,
    handshake_until: Instant,
}

/// Time an I/O thread spends on handshakes per turn of its loop, before it serves the rest
/// (at least one step is always taken).
const HANDSHAKE_TIME_PER_TURN: Duration = Duration::from_millis(2);

impl Ctx {
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn waker(&self, token: usize, gen: u64) -> IoWaker {
        IoWaker {
            shared: Arc::clone(&self.shared),
            token,
            gen,
        }
    }

    pub fn handle(&self, token: usize, gen: u64) -> ConnHandle {
        ConnHandle {
            waker: self.waker(token, gen),
            kicked: Arc::new(AtomicBool::new(false)),
            why: Arc::new(Mutex::new(None)),
        }
    }

    pub fn run_again(&mut self, token: usize, gen: u64) {
        self.again.push((token, gen));
    }

    /// Takes one handshake step of this turn; false if there is none left (the caller comes
    /// back next turn).
    pub fn take_handshake_step(&mut self) -> bool {
        if self.handshake_steps > 0 && Instant::now() >= self.handshake_until {
            return false;
        }
        self.handshake_steps += 1;
        true
    }

    /// A new turn of the loop: the handshake time starts again.
    fn new_turn(&mut self, now: Instant) {
        self.now = now;
        self.handshake_steps = 0;
        self.handshake_until = now + HANDSHAKE_TIME_PER_TURN;
    }

    fn next_gen(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }
}

/// Something the loop must do after an entry ran, that involves other entries.
pub(crate) enum Followup {
    /// A connector's connection is up: run it as a new entry.
    NewConn(Box<Conn>),
    /// A connection closed: tell the connector that made it.
    ConnClosed {
        origin: (usize, u64),
        handshaken: bool,
        lived: Duration,
    },
    /// An accepted connection goes to another thread.
    Handoff(Arc<Shared>, Command),
}

struct Thread {
    poll: Poll,
    shared: Arc<Shared>,
    slab: Slab<Entry>,
    ctx: Ctx,
    sleeps: sleep::Sleeps,
}

const POLL_EVENTS: usize = 1024;

impl Thread {
    fn run(mut self) {
        let mut events = Events::with_capacity(POLL_EVENTS);
        let mut mail = Mailbox::default();
        let mut again = Vec::new();
        let mut follow = Vec::new();
        loop {
            let now = Instant::now();
            let next = [
                self.ctx.timers.peek().map(|Reverse((t, _, _))| *t),
                self.sleeps.next(),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = if !self.ctx.again.is_empty() {
                Some(Duration::ZERO)
            } else {
                next.map(|t| t.saturating_duration_since(now))
            };
            // Announce that we may sleep, and until when, then look at the mailbox once more:
            // a sender that saw `parked` false (or a later wake-up time) relies on us seeing
            // its message here.
            self.shared.parked.store(true, Ordering::SeqCst);
            {
                let mut mb = lock(&self.shared.mailbox);
                self.shared
                    .wakes_at
                    .store(next.map_or(u64::MAX, nanos_since_epoch), Ordering::SeqCst);
                std::mem::swap(&mut *mb, &mut mail);
                mb.notified = false;
            }
            let timeout = if mail.commands.is_empty() && mail.wakes.is_empty() {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            let polled = self.poll.poll(&mut events, timeout);
            self.shared.parked.store(false, Ordering::SeqCst);
            if let Err(e) = polled {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("I/O thread: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            self.ctx.new_turn(Instant::now());
            for event in events.iter() {
                let token = event.token().0;
                if event.token() == WAKER {
                    continue;
                }
                let Some(entry) = self.slab.get_mut(token) else {
                    continue;
                };
                let gen = entry.gen();
                let after = match entry {
                    Entry::Listener(l) => l.on_ready(token, &mut self.ctx, &mut follow),
                    Entry::Connector(c) => c.on_ready(token, &mut self.ctx, &mut follow),
                    Entry::Conn(c) => {
                        c.on_event(event);
                        c.drive(token, &mut self.ctx, &mut follow)
                    }
                    // Never registered with the poller.
                    Entry::Pipe(_) => After::Keep(None),
                };
                self.after(token, gen, after, &mut follow);
            }
            // The mailbox taken before polling, then anything that came in meanwhile.
            {
                let mut mb = lock(&self.shared.mailbox);
                mail.commands.append(&mut mb.commands);
                mail.wakes.append(&mut mb.wakes);
            }
            for command in mail.commands.drain(..) {
                self.command(command, &mut follow);
            }
            std::mem::swap(&mut again, &mut self.ctx.again);
            for (token, gen) in mail.wakes.drain(..).chain(again.drain(..)) {
                self.run_entry(token, gen, &mut follow);
            }
            self.fire_timers(&mut follow);
            self.sleeps.fire(self.ctx.now);
        }
    }

    /// Runs an entry because it was woken.
    fn run_entry(&mut self, token: usize, gen: u64, follow: &mut Vec<Followup>) {
        let Some(entry) = self.slab.get_mut(token) else {
            return;
        };
        if entry.gen() != gen {
            return;
        }
        let after = match entry {
            Entry::Listener(l) => l.on_ready(token, &mut self.ctx, follow),
            Entry::Connector(c) => c.on_timer(token, &mut self.ctx, follow),
            Entry::Conn(c) => c.drive(token, &mut self.ctx, follow),
            Entry::Pipe(p) => p.drive(token, &mut self.ctx),
        };
        self.after(token, gen, after, follow);
    }

    fn fire_timers(&mut self, follow: &mut Vec<Followup>) {
        while let Some(Reverse((at, token, gen))) = self.ctx.timers.peek().copied() {
            if at > self.ctx.now {
                break;
            }
            self.ctx.timers.pop();
            let Some(entry) = self.slab.get_mut(token) else {
                continue;
            };
            if entry.gen() != gen || *entry.timer_at() != Some(at) {
                continue;
            }
            *entry.timer_at() = None;
            let after = match entry {
                Entry::Listener(l) => l.on_ready(token, &mut self.ctx, follow),
                Entry::Connector(c) => c.on_timer(token, &mut self.ctx, follow),
                Entry::Conn(c) => c.on_timer(token, &mut self.ctx, follow),
                Entry::Pipe(p) => p.drive(token, &mut self.ctx),
            };
            self.after(token, gen, after, follow);
        }
    }

    /// Applies what an entry asked for, then the follow-ups it produced.
    fn after(&mut self, token: usize, gen: u64, after: After, follow: &mut Vec<Followup>) {
        match after {
            After::Keep(Some(at)) => self.schedule(token, gen, at),
            After::Keep(None) => {}
            After::Remove => {
                if self.slab.get(token).is_some_and(|e| e.gen() == gen) {
                    let entry = self.slab.remove(token);
                    self.remove(entry, follow);
                }
            }
        }
        while let Some(f) = follow.pop() {
            self.follow(f, follow);
        }
    }

    fn schedule(&mut self, token: usize, gen: u64, at: Instant) {
        let Some(entry) = self.slab.get_mut(token) else {
            return;
        };
        let slot = entry.timer_at();
        if slot.is_none_or(|t| at < t) {
            *slot = Some(at);
            self.ctx.timers.push(Reverse((at, token, gen)));
        }
    }

    fn remove(&mut self, entry: Entry, follow: &mut Vec<Followup>) {
        match entry {
            Entry::Listener(mut l) => l.close(&self.ctx),
            Entry::Connector(mut c) => c.close(&self.ctx),
            Entry::Conn(c) => c.finish(&self.ctx, follow),
            Entry::Pipe(p) => p.finish(),
        }
    }

    fn follow(&mut self, f: Followup, follow: &mut Vec<Followup>) {
        match f {
            Followup::NewConn(conn) => self.add_conn(conn, follow),
            Followup::ConnClosed {
                origin: (token, gen),
                handshaken,
                lived,
            } => {
                if let Some(Entry::Connector(c)) = self.slab.get_mut(token) {
                    if c.gen == gen {
                        let after = c.conn_closed(handshaken, lived, &mut self.ctx);
                        self.after(token, gen, after, follow);
                    }
                }
            }
            Followup::Handoff(shared, command) => shared.send(command),
        }
    }

    fn add_conn(&mut self, mut conn: Box<Conn>, follow: &mut Vec<Followup>) {
        let gen = self.ctx.next_gen();
        let entry = self.slab.vacant_entry();
        let token = entry.key();
        match conn.start(token, gen, &mut self.ctx) {
            Ok(()) => {
                entry.insert(Entry::Conn(conn));
                // Registration reports what is ready, but a connection may have bytes to
                // write (its greeting) already: run it once now.
                let after = match self.slab.get_mut(token) {
                    Some(Entry::Conn(c)) => c.drive(token, &mut self.ctx, follow),
                    _ => After::Keep(None),
                };
                self.after(token, gen, after, follow);
            }
            Err(e) => conn.refuse(e, &self.ctx, follow),
        }
    }

    fn command(&mut self, command: Command, follow: &mut Vec<Followup>) {
        match command {
            Command::Listen {
                core,
                listener,
                endpoint,
            } => {
                let gen = self.ctx.next_gen();
                let entry = self.slab.vacant_entry();
                let token = entry.key();
                match Listening::new(core, listener, endpoint, token, gen, &self.ctx) {
                    Ok(l) => {
                        entry.insert(Entry::Listener(l));
                        // Connections may be waiting already (edge-triggered: no event for them).
                        self.run_entry(token, gen, follow);
                    }
                    Err(e) => log::error!("cannot watch a listening socket: {e}"),
                }
            }
            Command::Connect { core, endpoint } => {
                let gen = self.ctx.next_gen();
                let entry = self.slab.vacant_entry();
                let token = entry.key();
                entry.insert(Entry::Connector(Connector::new(core, endpoint, gen)));
                self.run_entry(token, gen, follow);
            }
            Command::Adopt {
                core,
                stream,
                peer_addr,
                guards,
            } => {
                let conn = Conn::new(core, stream, peer_addr, guards, None, self.ctx.now);
                self.add_conn(Box::new(conn), follow);
            }
            Command::Resolved { token, gen, result } => {
                if let Some(Entry::Connector(c)) = self.slab.get_mut(token) {
                    if c.gen == gen {
                        let after = c.resolved(token, result, &mut self.ctx, follow);
                        self.after(token, gen, after, follow);
                    }
                }
            }
            Command::StopListening(core) => self.stop(&core, true),
            Command::Stop(core) => self.stop(&core, false),
            Command::Sleep(entry) => self.sleeps.add(entry),
            Command::Pipe {
                connector,
                binder,
                name,
            } => {
                let gen = self.ctx.next_gen();
                let entry = self.slab.vacant_entry();
                let token = entry.key();
                let mut pipe = Box::new(Pipe::new(connector, binder, name));
                if pipe.start(token, gen, &self.ctx) {
                    entry.insert(Entry::Pipe(pipe));
                    // Messages may be queued already on either side.
                    self.run_entry(token, gen, follow);
                }
            }
        }
    }

    /// Closes the listeners (`listeners_only`) or everything of a socket.
    fn stop(&mut self, core: &Arc<Core>, listeners_only: bool) {
        let doomed: Vec<(usize, u64)> = self
            .slab
            .iter()
            .filter(|(_, e)| e.involves(core))
            .filter(|(_, e)| !listeners_only || matches!(e, Entry::Listener(_)))
            .map(|(k, e)| (k, e.gen()))
            .collect();
        let mut follow = Vec::new();
        for (token, gen) in doomed {
            match self.slab.get_mut(token) {
                Some(Entry::Conn(c)) => c.stop(),
                Some(Entry::Pipe(p)) => p.stop(),
                _ => {}
            }
            self.after(token, gen, After::Remove, &mut follow);
        }
    }
}
