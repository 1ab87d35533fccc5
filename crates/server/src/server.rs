//! The server: configuration, client registry, handlers and the run loop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_app::{describe, peer_name, Dispatch, HandlerResult, Handlers, Periodic, Shutdown};
use courier_socket::proto::connection::ConnectionError;
use courier_socket::proto::frame::FrameError;
use courier_socket::{
    Endpoint, Message, Multipart, Options, Properties, Reason, Router, SocketError, SocketEvent,
};
use futures::FutureExt;
use thiserror::Error;

use crate::inbox::save_file;

/// The endpoint the reference apps use.
pub const DEFAULT_ENDPOINT: &str = "tcp://127.0.0.1:5556";

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen.
    pub bind: String,
    /// How often to greet clients (and drop stale ones).
    pub interval: Duration,
    /// A client not heard from for this long is forgotten.
    pub stale_after: Duration,
    /// How often to log a summary at info (clients known, messages in and out per second,
    /// connections refused): per-message lines are debug only, since at thousands of clients
    /// they would be thousands of lines a second.
    pub summary_interval: Duration,
    /// Where to save received files (None: log them only).
    pub inbox: Option<PathBuf>,
    /// Engine options (limits, timeouts, heartbeats, security).
    pub socket: Options,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: DEFAULT_ENDPOINT.to_owned(),
            interval: Duration::from_secs(1),
            stale_after: Duration::from_secs(10),
            summary_interval: Duration::from_secs(10),
            inbox: None,
            socket: Options::default(),
        }
    }
}

/// Why the server could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding failed (address in use, bad endpoint...).
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The inbox directory cannot be created.
    #[error("cannot use inbox directory {path}: {source}")]
    Inbox {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What the server knows about a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRecord {
    /// When its first message arrived.
    pub first_seen: Instant,
    /// When its last message arrived.
    pub last_seen: Instant,
    /// Messages received from it.
    pub messages: u64,
}

/// Traffic counted since the last summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    received: u64,
    sent: u64,
    refused: u64,
}

/// What handlers and periodic tasks see: the clients, the sender of the message being
/// handled, and an outbox.
#[derive(Debug)]
pub struct ServerContext {
    clients: HashMap<Bytes, ClientRecord>,
    peer: Bytes,
    peer_key: Option<[u8; 32]>,
    peer_props: Option<Properties>,
    outbox: Vec<Multipart>,
    inbox: Option<PathBuf>,
    now: Instant,
    counts: Counts,
}

impl ServerContext {
    /// The routing id of the client whose message is being handled (empty in periodic tasks).
    pub fn peer(&self) -> &Bytes {
        &self.peer
    }

    /// The authenticated CURVE public key of the client whose message is being handled (None
    /// without CURVE and in periodic tasks).
    pub fn peer_public_key(&self) -> Option<&[u8; 32]> {
        self.peer_key.as_ref()
    }

    /// What is known of the client whose message is being handled: its User-Id (the PLAIN
    /// user name, the CURVE key in Z85, or what an authenticator gave it), its Peer-Address
    /// and metadata (None in periodic tasks).
    pub fn peer_properties(&self) -> Option<&Properties> {
        self.peer_props.as_ref()
    }

    /// The User-Id of the client whose message is being handled (empty without an
    /// authenticator and in periodic tasks), libzmq's "User-Id" message property.
    pub fn user_id(&self) -> &[u8] {
        self.peer_props.as_ref().map_or(&[], |p| &p.user_id[..])
    }

    /// Queues `msg` for the client `to`.
    pub fn send(&mut self, to: &Bytes, msg: impl Into<Multipart>) {
        let mut msg = msg.into();
        msg.push_front(to.clone());
        self.outbox.push(msg);
    }

    /// Queues `msg` for the client whose message is being handled.
    pub fn reply(&mut self, msg: impl Into<Multipart>) {
        let peer = self.peer.clone();
        self.send(&peer, msg);
    }

    /// The known clients.
    pub fn clients(&self) -> impl Iterator<Item = (&Bytes, &ClientRecord)> {
        self.clients.iter()
    }

    /// Forgets a client; returns its record.
    pub fn forget(&mut self, id: &[u8]) -> Option<ClientRecord> {
        self.clients.remove(id)
    }

    /// The inbox directory, if files are saved.
    pub fn inbox(&self) -> Option<&Path> {
        self.inbox.as_deref()
    }

    /// The time of the current event.
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// A server being set up: add handlers and tasks, then [`bind`](Server::bind).
pub struct Server {
    config: ServerConfig,
    handlers: Handlers<ServerContext>,
    periodic: Periodic<ServerContext>,
}

impl Server {
    /// A server with the built-in behaviour: HELLO and FILE handlers, and the greeter that
    /// sends HELLO every `interval` to fresh clients and forgets stale ones.
    pub fn new(config: ServerConfig) -> Server {
        let mut handlers = Handlers::new();
        handlers.on("HELLO", |_ctx: &mut ServerContext, _msg: &Multipart| Ok(()));
        handlers.on("FILE", handle_file);
        let mut periodic = Periodic::new();
        let stale_after = config.stale_after;
        let start = Instant::now();
        periodic.every(config.interval, start, move |ctx| greet(ctx, stale_after));
        let mut summary = Summary::new(start);
        periodic.every(
            config.summary_interval,
            start + config.summary_interval,
            move |ctx| summary.log(ctx),
        );
        Server {
            config,
            handlers,
            periodic,
        }
    }

    /// Handles messages whose first frame is `header` (replacing a built-in handler of the same
    /// header). An error the handler returns is logged and the server carries on.
    pub fn on(
        &mut self,
        header: &str,
        handler: impl FnMut(&mut ServerContext, &Multipart) -> HandlerResult + Send + 'static,
    ) -> &mut Self {
        self.handlers.on(header, handler);
        self
    }

    /// Runs `task` every `period`, starting one period from now.
    pub fn every(
        &mut self,
        period: Duration,
        task: impl FnMut(&mut ServerContext) + Send + 'static,
    ) -> &mut Self {
        self.periodic.every(period, Instant::now() + period, task);
        self
    }

    /// Binds the endpoint (so that the caller learns the real port, and an address in use is
    /// reported before anything runs).
    pub async fn bind(self) -> Result<BoundServer, ServerError> {
        if let Some(dir) = &self.config.inbox {
            std::fs::create_dir_all(dir).map_err(|source| ServerError::Inbox {
                path: dir.clone(),
                source,
            })?;
        }
        let router = Router::new(self.config.socket.clone());
        let endpoint = router.bind(&self.config.bind).await?;
        log::info!(
            "listening on {endpoint} (greeting clients every {:?}, forgetting them after {:?} of silence)",
            self.config.interval,
            self.config.stale_after
        );
        Ok(BoundServer {
            server: self,
            router,
            endpoint,
        })
    }
}

/// A server that is listening.
pub struct BoundServer {
    server: Server,
    router: Router,
    endpoint: Endpoint,
}

impl BoundServer {
    /// Where it listens (with the real port if the config said port 0).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves until `shutdown` fires, then closes the socket (waiting up to the linger time for
    /// queued messages).
    pub async fn run(self, shutdown: Shutdown) -> Result<(), ServerError> {
        let BoundServer {
            mut server, router, ..
        } = self;
        let events = router.events();
        let mut ctx = ServerContext {
            clients: HashMap::new(),
            peer: Bytes::new(),
            peer_key: None,
            peer_props: None,
            outbox: Vec::new(),
            inbox: server.config.inbox.clone(),
            now: Instant::now(),
            counts: Counts::default(),
        };
        // One timer for the whole loop, moved only when the next periodic task changes: a
        // timer made anew for every message would be registered anew each time.
        let mut tick = courier_socket::Sleep::after(Duration::from_secs(3600));
        loop {
            let now = Instant::now();
            tick.reset(
                server
                    .periodic
                    .next_due()
                    .unwrap_or_else(|| now + Duration::from_secs(3600)),
            );
            futures::select! {
                msg = router.recv().fuse() => match msg {
                    Ok(msg) => {
                        let id = msg.frames().first();
                        ctx.peer_key = id.and_then(|id| router.peer_public_key(id));
                        ctx.peer_props = id.and_then(|id| router.peer_properties(id));
                        on_message(&mut server.handlers, &mut ctx, msg)
                    }
                    Err(e) => {
                        log::error!("socket failed: {e}");
                        break;
                    }
                },
                event = events.recv().fuse() => {
                    if let Ok(event) = event {
                        on_event(&mut ctx, &event);
                    }
                }
                () = (&mut tick).fuse() => {
                    ctx.now = Instant::now();
                    ctx.peer = Bytes::new();
                    ctx.peer_key = None;
                    ctx.peer_props = None;
                    server.periodic.run_due(ctx.now, &mut ctx);
                }
                _ = shutdown.wait().fuse() => break,
            }
            for msg in ctx.outbox.drain(..) {
                match router.send(msg).await {
                    Ok(()) => ctx.counts.sent += 1,
                    Err(e) => log::warn!("send failed: {e}"),
                }
            }
        }
        log::info!(
            "shutting down ({})",
            plural(ctx.clients.len(), "known client", "known clients")
        );
        router.close().await;
        Ok(())
    }
}

/// Serves `config` until `shutdown` fires.
pub async fn run(config: ServerConfig, shutdown: Shutdown) -> Result<(), ServerError> {
    Server::new(config).bind().await?.run(shutdown).await
}

fn on_message(handlers: &mut Handlers<ServerContext>, ctx: &mut ServerContext, msg: Multipart) {
    let (id, body) = msg.pop_front();
    let name = peer_name(&id);
    let Some(body) = body else {
        log::warn!("empty message from {name}; ignored");
        return;
    };
    ctx.now = Instant::now();
    let now = ctx.now;
    let key = ctx.peer_key;
    let user = ctx
        .peer_props
        .as_ref()
        .map(|p| p.user_id.clone())
        .filter(|u| !u.is_empty());
    let record = ctx.clients.entry(id.clone()).or_insert_with(|| {
        match (key, user) {
            (Some(key), _) => log::info!(
                "client learned: {name} (CURVE key {})",
                courier_socket::proto::z85::encode_key(&key)
            ),
            (None, Some(user)) => {
                log::info!("client learned: {name} (user {})", user.escape_ascii());
            }
            (None, None) => log::info!("client learned: {name}"),
        }
        ClientRecord {
            first_seen: now,
            last_seen: now,
            messages: 0,
        }
    });
    record.last_seen = now;
    record.messages += 1;
    ctx.counts.received += 1;
    // Debug only: one line per message is thousands a second with thousands of clients; the
    // periodic summary counts them at info.
    log::debug!("received {} from {name}", describe(&body));
    ctx.peer = id;
    match handlers.dispatch(ctx, &body) {
        Dispatch::Handled => {}
        Dispatch::Failed(e) => log::warn!("bad {} from {name}: {e}", body.first().escape_ascii()),
        Dispatch::Unknown => log::warn!(
            "unknown message type {:?} from {name}; ignored",
            body.first().escape_ascii().to_string()
        ),
    }
}

/// Counts refused connections and names the clients that disconnect (the socket's own line
/// has only the peer's address).
fn on_event(ctx: &mut ServerContext, event: &SocketEvent) {
    match event {
        SocketEvent::HandshakeFailed { .. }
        | SocketEvent::ConnectionLimit { .. }
        | SocketEvent::AddressLimit { .. } => {
            ctx.counts.refused += 1;
        }
        SocketEvent::Disconnected {
            peer_addr,
            routing_id: Some(id),
            reason,
        } => {
            log::info!(
                "client disconnected: {} ({peer_addr}): {reason}",
                peer_name(id)
            );
            hint_size_limit(peer_addr, reason);
        }
        _ => {}
    }
}

/// A peer closed for sending more than the message limit: say which flag raises it (the
/// socket's own line gives the sizes).
fn hint_size_limit(peer_addr: &str, reason: &Reason) {
    if let Reason::Protocol(ConnectionError::Frame(
        FrameError::MessageTooLarge { max, .. } | FrameError::FrameTooLarge { max, .. },
    )) = reason
    {
        log::warn!(
            "{peer_addr} sent a message over this server's limit of {max} bytes and was \
             disconnected; to accept larger messages, start courier-server with a larger \
             --max-message-size (and the sender with the same)"
        );
    }
}

/// `1 known client`, `2 known clients`.
fn plural(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// The periodic summary at info.
struct Summary {
    last_at: Instant,
    /// Whether the last summary had nothing to say (an idle server logs one such line, not one
    /// every interval).
    last_quiet: bool,
}

impl Summary {
    fn new(start: Instant) -> Self {
        Summary {
            last_at: start,
            last_quiet: false,
        }
    }

    fn log(&mut self, ctx: &mut ServerContext) {
        let counts = std::mem::take(&mut ctx.counts);
        let elapsed = ctx.now.saturating_duration_since(self.last_at);
        self.last_at = ctx.now;
        let known = ctx.clients.len();
        let quiet = known == 0 && counts == Counts::default();
        if quiet && self.last_quiet {
            return;
        }
        self.last_quiet = quiet;
        log::info!("{}", summary_line(known, counts, elapsed));
    }
}

/// `summary: 2 known clients, 2.0 messages/s in, 2.0 messages/s out, 1 connection refused
/// (last 10s)`.
fn summary_line(known: usize, counts: Counts, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let refused = usize::try_from(counts.refused).unwrap_or(usize::MAX);
    // Counts are far below 2^52: the conversions to f64 are exact.
    #[allow(clippy::cast_precision_loss)]
    let (rate_in, rate_out) = (counts.received as f64 / secs, counts.sent as f64 / secs);
    format!(
        "summary: {}, {rate_in:.1} messages/s in, {rate_out:.1} messages/s out, {} (last {:.0}s)",
        plural(known, "known client", "known clients"),
        plural(refused, "connection refused", "connections refused"),
        elapsed.as_secs_f64(),
    )
}

fn handle_file(ctx: &mut ServerContext, msg: &Multipart) -> HandlerResult {
    let Message::File { name, contents } = Message::decode(msg)? else {
        return Err("not a FILE message".into());
    };
    let from = peer_name(ctx.peer());
    log::info!("file {name:?} ({} bytes) from {from}", contents.len());
    if let Some(dir) = ctx.inbox() {
        let path = save_file(dir, &name, &contents)?;
        log::info!("saved {}", path.display());
    }
    Ok(())
}

/// Forgets clients silent for longer than `stale_after`, then greets the rest.
fn greet(ctx: &mut ServerContext, stale_after: Duration) {
    let now = ctx.now;
    ctx.clients.retain(|id, c| {
        let silent = now.saturating_duration_since(c.last_seen);
        let fresh = silent <= stale_after;
        if !fresh {
            log::info!(
                "client dropped as stale: {} (silent for {:.1}s)",
                peer_name(id),
                silent.as_secs_f64()
            );
        }
        fresh
    });
    let ids: Vec<Bytes> = ctx.clients.keys().cloned().collect();
    for id in &ids {
        ctx.send(id, Message::Hello);
    }
    if !ids.is_empty() {
        log::debug!("sent HELLO to {} client(s)", ids.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(
            plural(0, "known client", "known clients"),
            "0 known clients"
        );
        assert_eq!(plural(1, "known client", "known clients"), "1 known client");
        assert_eq!(
            plural(2, "known client", "known clients"),
            "2 known clients"
        );
    }

    #[test]
    fn summary_lines() {
        let counts = Counts {
            received: 25,
            sent: 20,
            refused: 1,
        };
        assert_eq!(
            summary_line(1, counts, Duration::from_secs(10)),
            "summary: 1 known client, 2.5 messages/s in, 2.0 messages/s out, \
             1 connection refused (last 10s)"
        );
        let many = Counts {
            received: 100_000,
            sent: 100_000,
            refused: 3,
        };
        assert_eq!(
            summary_line(10_000, many, Duration::from_secs(10)),
            "summary: 10000 known clients, 10000.0 messages/s in, 10000.0 messages/s out, \
             3 connections refused (last 10s)"
        );
        // A zero interval does not divide by zero.
        assert!(summary_line(0, Counts::default(), Duration::ZERO).contains("0.0 messages/s in"));
    }

    fn ctx_at(now: Instant) -> ServerContext {
        ServerContext {
            clients: HashMap::new(),
            peer: Bytes::new(),
            peer_key: None,
            peer_props: None,
            outbox: Vec::new(),
            inbox: None,
            now,
            counts: Counts::default(),
        }
    }

    #[test]
    fn summary_resets_the_counts_and_counts_refusals() {
        let t0 = Instant::now();
        let mut ctx = ctx_at(t0);
        let mut summary = Summary::new(t0);
        let refused = SocketEvent::HandshakeFailed {
            peer_addr: "127.0.0.1:4000".into(),
            reason: courier_socket::Reason::Refused("not authorized".into()),
        };
        on_event(&mut ctx, &refused);
        on_event(
            &mut ctx,
            &SocketEvent::ConnectionLimit {
                peer_addr: "127.0.0.1:4001".into(),
                max: 1,
            },
        );
        ctx.counts.received = 7;
        assert_eq!(ctx.counts.refused, 2);
        ctx.now = t0 + Duration::from_secs(10);
        summary.log(&mut ctx);
        assert_eq!(ctx.counts, Counts::default());
        assert_eq!(summary.last_at, t0 + Duration::from_secs(10));
        // Idle: the first quiet summary is logged, later ones are not (last_quiet stays).
        summary.log(&mut ctx);
        assert!(summary.last_quiet);
        ctx.counts.received = 1;
        summary.log(&mut ctx);
        assert!(!summary.last_quiet);
    }
}
