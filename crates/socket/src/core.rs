//! What DEALER and ROUTER share: listeners, connectors with reconnect backoff, the task
//! registry, events and shutdown. The routing policy (which queue a connection reads from and
//! delivers to) is the [`Routing`] of each socket type.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use courier_proto::connection::PeerInfo;
use courier_proto::message::Multipart;
use courier_proto::socket_type::SocketType;
use futures::FutureExt;

use crate::endpoint::Endpoint;
use crate::engine;
use crate::error::SocketError;
use crate::event::SocketEvent;
use crate::inbox::Inbox;
use crate::options::Options;
use crate::outbox::Outbox;
use crate::runtime::{self, Listener, Stream, Task};

/// Locks a mutex, recovering the data if a panicking thread poisoned it (our critical sections
/// leave the data consistent at every step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a connection takes the messages it sends.
pub(crate) enum Outgoing {
    /// DEALER: one queue for the whole socket, shared by its connections (load balancing), and
    /// a front queue of messages taken back from a connection that failed to write them.
    Shared {
        queue: Arc<Outbox>,
        requeue: Arc<Mutex<VecDeque<Multipart>>>,
    },
    /// ROUTER: this peer's own queue.
    Own(Arc<Outbox>),
}

/// What a connection gets when its handshake succeeds.
pub(crate) struct Attachment {
    pub outgoing: Outgoing,
    /// Where received messages go.
    pub inbound: Arc<Inbox>,
    /// ROUTER: the routing id to put in front of each received message.
    pub prefix: Option<Bytes>,
    /// The routing id the peer is known by.
    pub routing_id: Bytes,
}

/// A socket type's routing policy.
pub(crate) trait Routing: Send + Sync + 'static {
    /// Our socket type.
    fn socket_type(&self) -> SocketType;
    /// A connection finished its handshake: give it its queues, or refuse it with a reason.
    /// `kick` closes that connection (used for ROUTER handover).
    fn attach(
        &self,
        conn_id: u64,
        peer: &PeerInfo,
        kick: async_channel::Sender<()>,
    ) -> Result<Attachment, String>;
    /// A connection that was attached has closed.
    fn detach(&self, conn_id: u64, attachment: &Attachment);
}

/// A one-shot broadcast: closing the channel wakes every waiter, now and later.
#[derive(Clone)]
pub(crate) struct Signal {
    tx: async_channel::Sender<()>,
    rx: async_channel::Receiver<()>,
}

impl Signal {
    pub fn new() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Signal { tx, rx }
    }
    pub fn fire(&self) {
        self.tx.close();
    }
    pub fn fired(&self) -> bool {
        self.tx.is_closed()
    }
    /// Resolves once fired.
    pub async fn wait(&self) {
        let _ = self.rx.recv().await;
    }
    pub fn sender(&self) -> async_channel::Sender<()> {
        self.tx.clone()
    }
}

pub(crate) struct Core {
    pub options: Options,
    pub routing: Arc<dyn Routing>,
    events_tx: async_channel::Sender<SocketEvent>,
    events_rx: async_channel::Receiver<SocketEvent>,
    /// Stop accepting connections and refuse new binds and connects (close has begun;
    /// connectors go on until `stop`, to deliver what is queued).
    pub no_new: Signal,
    /// Stop everything now.
    pub stop: Signal,
    tasks: Mutex<Vec<Task<()>>>,
    /// Connections alive (accepted or connected, handshaken or not).
    pub live: AtomicUsize,
    next_conn: AtomicU64,
    /// Messages taken from a queue and not yet written out.
    pub unflushed: AtomicUsize,
}

const EVENT_CAPACITY: usize = 1024;
/// A connection that lasted this long resets the reconnection backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(1);

impl Core {
    pub fn new(options: Options, routing: Arc<dyn Routing>) -> Arc<Core> {
        let (events_tx, events_rx) = async_channel::bounded(EVENT_CAPACITY);
        Arc::new(Core {
            options,
            routing,
            events_tx,
            events_rx,
            no_new: Signal::new(),
            stop: Signal::new(),
            tasks: Mutex::new(Vec::new()),
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
        log::log!(level, "{} socket: {event}", self.routing.socket_type());
        let _ = self.events_tx.force_send(event);
    }

    pub fn events(&self) -> async_channel::Receiver<SocketEvent> {
        self.events_rx.clone()
    }

    fn track(&self, task: Task<()>) {
        let mut tasks = lock(&self.tasks);
        tasks.push(task);
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Binds and starts accepting; returns the endpoint actually bound.
    pub async fn bind(self: &Arc<Self>, endpoint: &str) -> Result<Endpoint, SocketError> {
        if self.no_new.fired() {
            return Err(SocketError::Closed);
        }
        let endpoint: Endpoint = endpoint.parse()?;
        let bind_err = |source| SocketError::Bind {
            endpoint: endpoint.clone(),
            source,
        };
        let (listener, bound) = match &endpoint {
            Endpoint::Tcp { host, .. } => {
                let addr = endpoint.socket_addr_string().unwrap_or_default();
                let (listener, local) = Listener::bind_tcp(&addr).await.map_err(bind_err)?;
                let bound = Endpoint::Tcp {
                    host: host.clone(),
                    port: local.port(),
                };
                (listener, bound)
            }
            #[cfg(unix)]
            Endpoint::Ipc(path) => (
                Listener::bind_unix(path).await.map_err(bind_err)?,
                endpoint.clone(),
            ),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => return Err(crate::endpoint::EndpointError::IpcUnsupported.into()),
        };
        self.emit(SocketEvent::Listening {
            endpoint: bound.clone(),
        });
        let core = Arc::clone(self);
        self.track(runtime::spawn(
            async move { core.accept_loop(listener).await },
        ));
        Ok(bound)
    }

    async fn accept_loop(self: Arc<Self>, listener: Listener) {
        let mut pause = Duration::from_millis(10);
        loop {
            let accepted = futures::select! {
                r = listener.accept().fuse() => r,
                _ = self.no_new.wait().fuse() => return,
            };
            match accepted {
                Ok((stream, peer_addr)) => {
                    pause = Duration::from_millis(10);
                    if let Some(max) = self.options.max_connections {
                        if self.live.load(Ordering::Relaxed) >= max {
                            stream.shutdown();
                            self.emit(SocketEvent::ConnectionLimit { peer_addr, max });
                            continue;
                        }
                    }
                    self.emit(SocketEvent::Connected {
                        peer_addr: peer_addr.clone(),
                    });
                    let core = Arc::clone(&self);
                    // Counted here, before the next accept, so that a burst of connections
                    // cannot slip past `max_connections` before their tasks run.
                    let live = LiveGuard::new(&core);
                    // Connection tasks end on `stop`; they are counted in `live`, not tracked.
                    runtime::spawn(async move {
                        engine::drive(&core, stream, peer_addr, live).await;
                    });
                }
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: back off instead of spinning.
                    self.emit(SocketEvent::AcceptFailed {
                        reason: e.to_string(),
                        retry_in: pause,
                    });
                    futures::select! {
                        _ = runtime::sleep(pause).fuse() => {},
                        _ = self.no_new.wait().fuse() => return,
                    }
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Starts connecting (and reconnecting) to `endpoint`; returns at once.
    pub fn connect(self: &Arc<Self>, endpoint: &str) -> Result<(), SocketError> {
        if self.no_new.fired() {
            return Err(SocketError::Closed);
        }
        let endpoint: Endpoint = endpoint.parse()?;
        let core = Arc::clone(self);
        self.track(runtime::spawn(async move {
            core.connect_loop(endpoint).await;
        }));
        Ok(())
    }

    /// Connects and reconnects until the socket stops. It goes on during the linger period
    /// of `close` (as libzmq does), so that messages queued before the connection was up
    /// still go out.
    async fn connect_loop(self: Arc<Self>, endpoint: Endpoint) {
        let mut backoff = Backoff::new(self.options.reconnect_ivl, self.options.reconnect_ivl_max);
        loop {
            if self.stop.fired() {
                return;
            }
            let attempt = async {
                match &endpoint {
                    Endpoint::Tcp { .. } => {
                        let addr = endpoint.socket_addr_string().unwrap_or_default();
                        Stream::connect_tcp(&addr).await
                    }
                    #[cfg(unix)]
                    Endpoint::Ipc(path) => Stream::connect_unix(path).await,
                    #[cfg(not(unix))]
                    Endpoint::Ipc(_) => Err(std::io::Error::other("ipc:// needs Unix")),
                }
            };
            let result = futures::select! {
                r = runtime::timeout(self.options.connect_timeout, attempt).fuse() => r,
                _ = self.stop.wait().fuse() => return,
            };
            let wait = match result {
                Some(Ok(stream)) => {
                    let peer_addr = endpoint.to_string();
                    self.emit(SocketEvent::Connected {
                        peer_addr: peer_addr.clone(),
                    });
                    let live = LiveGuard::new(&self);
                    let started = runtime::Instant::now();
                    let handshaken = engine::drive(&self, stream, peer_addr, live).await;
                    // Start again from the shortest wait only after a connection that worked
                    // for a while: a peer that completes the handshake and then refuses us (a
                    // routing id in use) must not be hammered every reconnect_ivl.
                    if handshaken && started.elapsed() >= STABLE_CONNECTION {
                        backoff.reset();
                    }
                    backoff.next()
                }
                Some(Err(e)) => {
                    let retry_in = backoff.next();
                    self.emit(SocketEvent::ConnectFailed {
                        endpoint: endpoint.clone(),
                        reason: e.to_string(),
                        retry_in,
                    });
                    retry_in
                }
                None => {
                    let retry_in = backoff.next();
                    self.emit(SocketEvent::ConnectFailed {
                        endpoint: endpoint.clone(),
                        reason: format!("timed out after {:?}", self.options.connect_timeout),
                        retry_in,
                    });
                    retry_in
                }
            };
            futures::select! {
                _ = runtime::sleep(wait).fuse() => {},
                _ = self.stop.wait().fuse() => return,
            }
        }
    }

    /// Graceful close: stop accepting, wait up to the linger time for `drained`
    /// to say that queued messages are out, then stop everything.
    pub async fn close(&self, drained: impl Fn() -> bool) {
        self.no_new.fire();
        let deadline = runtime::Instant::now() + self.options.linger;
        // Drained twice in a row: a writer may have just taken a message off a queue and not
        // yet counted it as unflushed.
        let mut quiet = 0;
        while quiet < 2 && runtime::Instant::now() < deadline {
            if drained() && self.unflushed.load(Ordering::Relaxed) == 0 {
                quiet += 1;
            } else {
                quiet = 0;
            }
            if quiet < 2 {
                runtime::sleep(Duration::from_millis(5)).await;
            }
        }
        self.stop.fire();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            runtime::cancel(task).await;
        }
        let deadline = runtime::Instant::now() + Duration::from_secs(1);
        while self.live.load(Ordering::Relaxed) > 0 && runtime::Instant::now() < deadline {
            runtime::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Counts a live connection for as long as it exists, even if its task is cancelled. The
/// engine drops it as soon as the connection's socket is shut down.
pub(crate) struct LiveGuard(Arc<Core>);

impl LiveGuard {
    fn new(core: &Arc<Core>) -> Self {
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
