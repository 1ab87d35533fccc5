//! What every socket type shares: binding and connecting (handed to the I/O threads),
//! events, and closing with linger. The routing policy is the socket type's
//! [`Pattern`](crate::pattern::Pattern).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::budget::Budget;

use crate::endpoint::Endpoint;
use crate::error::SocketError;
use crate::event::SocketEvent;
use crate::io::{self, Command, Listener};
use crate::options::Options;
use crate::pattern::Pattern;

/// Locks a mutex, recovering the data if a panicking thread poisoned it (our critical sections
/// leave the data consistent at every step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A one-way flag: once fired, fired for good.
#[derive(Default)]
pub(crate) struct Flag(AtomicBool);

impl Flag {
    pub fn fire(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn fired(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) struct Core {
    pub options: Options,
    pub pattern: Arc<dyn Pattern>,
    events_tx: async_channel::Sender<SocketEvent>,
    events_rx: async_channel::Receiver<SocketEvent>,
    /// Stop accepting connections and refuse new binds and connects (close has begun;
    /// connectors go on until `stop`, to deliver what is queued).
    pub no_new: Flag,
    /// Stop everything now.
    pub stop: Flag,
    /// Connections alive (accepted or connected, handshaken or not).
    pub live: AtomicUsize,
    next_conn: AtomicU64,
    /// Messages taken from a queue and not yet written out.
    pub unflushed: AtomicUsize,
    /// The receive-memory budget.
    pub budget: Arc<Budget>,
    /// Accepted connections whose handshake is under way.
    pub handshaking: AtomicUsize,
    /// Accepted connections per peer address, and when a refusal for each was last logged.
    per_address: Mutex<HashMap<IpAddr, usize>>,
    refusals_logged: Mutex<HashMap<IpAddr, Instant>>,
    /// Authentication refusals, logged once per change.
    auth_refusals: crate::auth::RefusalLog,
}

/// A refused address is logged at most once in this long (the rest at debug).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

const EVENT_CAPACITY: usize = 1024;
/// How often `close` looks whether the queues are drained.
const CLOSE_POLL: Duration = Duration::from_millis(5);
/// How long `close` waits for the connections to be gone after stopping them.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

impl Core {
    pub fn new(options: Options, pattern: Arc<dyn Pattern>, budget: Arc<Budget>) -> Arc<Core> {
        let (events_tx, events_rx) = async_channel::bounded(EVENT_CAPACITY);
        Arc::new(Core {
            options,
            pattern,
            events_tx,
            events_rx,
            no_new: Flag::default(),
            stop: Flag::default(),
            live: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            unflushed: AtomicUsize::new(0),
            budget,
            handshaking: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            refusals_logged: Mutex::new(HashMap::new()),
            auth_refusals: crate::auth::RefusalLog::default(),
        })
    }

    /// Takes one of `ip`'s connection slots, or `None` if it has none left.
    pub fn take_address_slot(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let max = self.options.max_connections_per_address;
        let mut map = lock(&self.per_address);
        let n = map.entry(ip).or_insert(0);
        if max.is_some_and(|m| *n >= m) {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            core: Arc::clone(self),
            ip,
        })
    }

    /// Reports a connection refused for its address's limit: an event each time, a warning at
    /// most once per address per interval (a flood from one address is one line, not one per
    /// connection).
    pub fn refuse_address(&self, ip: IpAddr, peer_addr: String, max: usize, now: Instant) {
        let level = {
            let mut logged = lock(&self.refusals_logged);
            logged.retain(|_, at| now.saturating_duration_since(*at) < REFUSAL_LOG_EVERY);
            match logged.entry(ip) {
                std::collections::hash_map::Entry::Occupied(_) => log::Level::Debug,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(now);
                    log::Level::Warn
                }
            }
        };
        if level == log::Level::Warn {
            log::warn!(
                "{} socket: {ip} is at its limit of {max} connections; refusing more from it \
                 (logged again in {REFUSAL_LOG_EVERY:?} at most)",
                self.pattern.socket_type()
            );
        }
        self.emit_at(
            Some(log::Level::Debug),
            SocketEvent::AddressLimit { peer_addr, max },
        );
    }

    /// Logs an event and offers it to the event stream (the oldest is dropped when nobody
    /// reads the stream).
    pub fn emit(&self, event: SocketEvent) {
        self.emit_at(None, event)
    }

    /// Like [`emit`](Core::emit), with the log level chosen by the caller.
    pub fn emit_at(&self, level: Option<log::Level>, event: SocketEvent) {
        let level = level
            .or_else(|| self.auth_refusals.level(&event))
            .unwrap_or(match &event {
                SocketEvent::Listening { .. }
                | SocketEvent::HandshakeSucceeded { .. }
                | SocketEvent::Disconnected { .. } => log::Level::Info,
                SocketEvent::Connected { .. } | SocketEvent::ConnectFailed { .. } => {
                    log::Level::Debug
                }
                _ => log::Level::Warn,
            });
        // Every refused or failed connection gets its own line with its reason (an operator
        // must be able to see why each one was closed).
        log::log!(level, "{} socket: {event}", self.pattern.socket_type());
        let _ = self.events_tx.force_send(event);
    }

    pub fn events(&self) -> async_channel::Receiver<SocketEvent> {
        self.events_rx.clone()
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Binds and starts accepting; returns the endpoint actually bound.
    pub fn bind(self: &Arc<Self>, endpoint: &str) -> Result<Endpoint, SocketError> {
        if self.no_new.fired() {
            return Err(SocketError::Closed);
        }
        let endpoint: Endpoint = endpoint.parse()?;
        if let Endpoint::Inproc(name) = &endpoint {
            crate::inproc::bind(self, name)?;
            self.emit(SocketEvent::Listening {
                endpoint: endpoint.clone(),
            });
            return Ok(endpoint);
        }
        let bind_err = |source| SocketError::Bind {
            endpoint: endpoint.clone(),
            source,
        };
        let thread = io::context().pick().map_err(bind_err)?;
        let (listener, bound) = match &endpoint {
            Endpoint::Tcp { host, .. } => {
                let addr = endpoint.socket_addr_string().unwrap_or_default();
                let addrs = match io::literal(&addr) {
                    Some(a) => a,
                    None => io::resolve(&addr).map_err(bind_err)?,
                };
                let (listener, local) = Listener::bind_tcp(&addrs).map_err(bind_err)?;
                let bound = Endpoint::Tcp {
                    host: host.clone(),
                    port: local.port(),
                    source: None,
                };
                (listener, bound)
            }
            #[cfg(unix)]
            Endpoint::Ipc(path) => (
                Listener::bind_unix(path).map_err(bind_err)?,
                endpoint.clone(),
            ),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => return Err(crate::endpoint::EndpointError::IpcUnsupported.into()),
            Endpoint::Inproc(_) => return Ok(endpoint),
        };
        self.emit(SocketEvent::Listening {
            endpoint: bound.clone(),
        });
        thread.send(Command::Listen {
            core: Arc::clone(self),
            listener,
            endpoint: bound.clone(),
        });
        Ok(bound)
    }

    /// Starts connecting (and reconnecting) to `endpoint`; returns at once. Connecting goes
    /// on during the linger period of `close` (as libzmq does), so that messages queued
    /// before the connection was up still go out.
    pub fn connect(self: &Arc<Self>, endpoint: &str) -> Result<(), SocketError> {
        if self.no_new.fired() {
            return Err(SocketError::Closed);
        }
        let endpoint: Endpoint = endpoint.parse()?;
        if let Endpoint::Inproc(name) = &endpoint {
            return crate::inproc::connect(self, name);
        }
        let thread = io::context().pick().map_err(|source| SocketError::Bind {
            endpoint: endpoint.clone(),
            source,
        })?;
        thread.send(Command::Connect {
            core: Arc::clone(self),
            endpoint,
        });
        Ok(())
    }

    /// Close, first step: stop accepting. Returns the linger deadline.
    fn begin_close(self: &Arc<Self>) -> Instant {
        self.no_new.fire();
        for thread in io::context().all() {
            thread.send(Command::StopListening(Arc::clone(self)));
        }
        Instant::now() + self.options.linger
    }

    /// Whether queued messages are out (`drained` says the queues are empty), twice in a
    /// row: a connection may have just taken a message off a queue and not yet counted it.
    fn drained(&self, drained: &dyn Fn() -> bool, quiet: &mut u32) -> bool {
        if drained() && self.unflushed.load(Ordering::Relaxed) == 0 {
            *quiet += 1;
        } else {
            *quiet = 0;
        }
        *quiet >= 2
    }

    /// Stops every connection and connector of the socket now.
    pub fn stop_now(self: &Arc<Self>) {
        self.no_new.fire();
        if !self.stop.fired() {
            self.stop.fire();
            for thread in io::context().all() {
                thread.send(Command::Stop(Arc::clone(self)));
            }
        }
    }

    /// Graceful close: stop accepting, wait up to the linger time for `drained` to say that
    /// queued messages are out, then stop everything.
    pub async fn close(self: &Arc<Self>, drained: impl Fn() -> bool) {
        let deadline = self.begin_close();
        let mut quiet = 0;
        while !self.drained(&drained, &mut quiet) && Instant::now() < deadline {
            io::Sleep::after(CLOSE_POLL).await;
        }
        self.stop_now();
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.live.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            io::Sleep::after(CLOSE_POLL).await;
        }
    }

    /// [`close`](Core::close), blocking the calling thread.
    pub fn close_blocking(self: &Arc<Self>, drained: impl Fn() -> bool) {
        let deadline = self.begin_close();
        let mut quiet = 0;
        while !self.drained(&drained, &mut quiet) && Instant::now() < deadline {
            std::thread::sleep(CLOSE_POLL);
        }
        self.stop_now();
        let deadline = Instant::now() + CLOSE_WAIT;
        while self.live.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            std::thread::sleep(CLOSE_POLL);
        }
    }
}

/// One of an address's connection slots, given back when dropped.
pub(crate) struct AddressSlot {
    core: Arc<Core>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.core.per_address);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Counts a handshake in progress on an accepted connection until it ends either way.
pub(crate) struct HandshakeSlot(Arc<Core>);

impl HandshakeSlot {
    pub fn new(core: &Arc<Core>) -> Self {
        core.handshaking.fetch_add(1, Ordering::Relaxed);
        HandshakeSlot(Arc::clone(core))
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a live connection for as long as it exists, even if its task is cancelled. The
/// engine drops it as soon as the connection's socket is shut down.
pub(crate) struct LiveGuard(Arc<Core>);

impl LiveGuard {
    pub fn new(core: &Arc<Core>) -> Self {
        core.live.fetch_add(1, Ordering::Relaxed);
        LiveGuard(Arc::clone(core))
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reconnection backoff: doubles from `initial` up to `max`, like libzmq's RECONNECT_IVL and
/// RECONNECT_IVL_MAX.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            current: initial,
        }
    }

    pub fn next(&mut self) -> Duration {
        let now = self.current;
        self.current = (self.current * 2).min(self.max);
        now
    }

    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let seq: Vec<_> = (0..5).map(|_| b.next().as_millis()).collect();
        assert_eq!(seq, vec![100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next().as_millis(), 100);
    }
}
