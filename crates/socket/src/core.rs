//! What every socket type shares: binding and connecting (handed to the I/O threads),
//! events, and closing with linger. The routing policy is the socket type's
//! [`Pattern`](crate::pattern::Pattern).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
}

const EVENT_CAPACITY: usize = 1024;
/// How often `close` looks whether the queues are drained.
const CLOSE_POLL: Duration = Duration::from_millis(5);
/// How long `close` waits for the connections to be gone after stopping them.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

impl Core {
    pub fn new(options: Options, pattern: Arc<dyn Pattern>) -> Arc<Core> {
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
        })
    }

    /// Logs an event and offers it to the event stream (the oldest is dropped when nobody
    /// reads the stream).
    pub fn emit(&self, event: SocketEvent) {
        self.emit_at(None, event)
    }

    /// Like [`emit`](Core::emit), with the log level chosen by the caller.
    pub fn emit_at(&self, level: Option<log::Level>, event: SocketEvent) {
        let level = level.unwrap_or(match &event {
            SocketEvent::Listening { .. }
            | SocketEvent::HandshakeSucceeded { .. }
            | SocketEvent::Disconnected { .. } => log::Level::Info,
            SocketEvent::Connected { .. } | SocketEvent::ConnectFailed { .. } => log::Level::Debug,
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
