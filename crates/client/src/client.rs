//! The client: configuration, handlers and the run loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use courier_app::{describe, Dispatch, HandlerResult, Handlers, LinkWatch, Periodic, Shutdown};
use courier_socket::{runtime, Dealer, Message, Multipart, Options, SocketError};
use futures::FutureExt;
use thiserror::Error;

/// The endpoint the reference apps use.
pub const DEFAULT_ENDPOINT: &str = "tcp://127.0.0.1:5556";

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The server to connect to.
    pub connect: String,
    /// How often to send HELLO.
    pub interval: Duration,
    /// Report the server as unresponsive after this long without a message from it.
    pub server_timeout: Duration,
    /// Engine options (routing id, queue sizes, reconnection, heartbeats, security).
    pub socket: Options,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect: DEFAULT_ENDPOINT.to_owned(),
            interval: Duration::from_secs(1),
            server_timeout: Duration::from_secs(5),
            socket: Options::default(),
        }
    }
}

/// Why the client could not run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A bad endpoint, or the socket failed.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// A file to send cannot be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file to send would make a FILE message over the message size limit, which the
    /// server (libzmq's too) would refuse by dropping the connection.
    #[error(
        "{path} is {size} bytes: as a FILE message ({message} bytes with its name) it is over \
         the {max}-byte message limit; to send it, raise --max-message-size on both ends, e.g. \
         `courier-client --max-message-size {suggest} ...` and `courier-server \
         --max-message-size {suggest}` (both default to 64MiB)"
    )]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The size of the FILE message it would make (all frames).
        message: u64,
        /// The limit.
        max: usize,
        /// A `--max-message-size` that would let it through (whole MiB).
        suggest: String,
    },
}

/// What handlers and periodic tasks see.
#[derive(Debug)]
pub struct ClientContext {
    outbox: Vec<Multipart>,
    last_heard: Instant,
    unresponsive: bool,
    now: Instant,
    link: LinkWatch,
}

impl ClientContext {
    /// Queues a message for the server.
    pub fn send(&mut self, msg: impl Into<Multipart>) {
        self.outbox.push(msg.into());
    }

    /// When the server was last heard from (the start time until then).
    pub fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// Whether the server is currently considered unresponsive.
    pub fn server_unresponsive(&self) -> bool {
        self.unresponsive
    }

    /// The time of the current event.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The state of the connection to the server (connected, or why not).
    pub fn link(&self) -> &LinkWatch {
        &self.link
    }
}

/// Reads `path` into a FILE message named after the file's base name, refusing a file whose
/// message would be over `max_message_size` (all frames) before reading it.
pub fn file_message(path: &Path, max_message_size: usize) -> Result<Message, ClientError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let too_large = |size: u64| {
        // Frames: "FILE", the name, the contents.
        let message = size.saturating_add(4 + name.len() as u64);
        (message > max_message_size as u64).then(|| {
            let mib = message.div_ceil(1 << 20);
            ClientError::FileTooLarge {
                path: path.to_owned(),
                size,
                message,
                max: max_message_size,
                suggest: format!("{mib}MiB"),
            }
        })
    };
    let read_error = |source| ClientError::File {
        path: path.to_owned(),
        source,
    };
    // The size on disk first, so that a huge file is refused without reading it...
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if let Some(e) = too_large(size) {
        return Err(e);
    }
    // ...and what was read, for files whose size the metadata does not tell (a pipe).
    let contents = std::fs::read(path).map_err(read_error)?;
    if let Some(e) = too_large(contents.len() as u64) {
        return Err(e);
    }
    Ok(Message::File {
        name,
        contents: contents.into(),
    })
}

/// A client being set up: add handlers, tasks and first messages, then [`run`](Client::run).
pub struct Client {
    config: ClientConfig,
    handlers: Handlers<ClientContext>,
    periodic: Periodic<ClientContext>,
    first: Vec<Multipart>,
}

impl Client {
    /// A client with the built-in behaviour: HELLO every `interval`, a HELLO handler, and the
    /// watch that reports a silent server.
    pub fn new(config: ClientConfig) -> Client {
        let mut handlers = Handlers::new();
        handlers.on("HELLO", |_ctx: &mut ClientContext, _msg: &Multipart| Ok(()));
        let mut periodic = Periodic::new();
        let start = Instant::now();
        periodic.every(config.interval, start, |ctx: &mut ClientContext| {
            ctx.send(Message::Hello)
        });
        let timeout = config.server_timeout;
        // Check often enough to report within a tenth of the timeout.
        let check = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        periodic.every(check, start, move |ctx: &mut ClientContext| {
            let silent = ctx.now.saturating_duration_since(ctx.last_heard);
            if !ctx.unresponsive && silent >= timeout {
                ctx.unresponsive = true;
                // Which state the link is in, when the connection is what fails (the reason
                // was logged once when the state began: not repeated here).
                let why = match ctx.link.state().is_connected() {
                    true => String::new(),
                    false => format!(" (link {})", ctx.link.state().name()),
                };
                log::warn!(
                    "server unresponsive: nothing received for {:.1}s{why}; still trying",
                    silent.as_secs_f64()
                );
            }
        });
        Client {
            config,
            handlers,
            periodic,
            first: Vec::new(),
        }
    }

    /// Handles messages whose first frame is `header`.
    pub fn on(
        &mut self,
        header: &str,
        handler: impl FnMut(&mut ClientContext, &Multipart) -> HandlerResult + Send + 'static,
    ) -> &mut Self {
        self.handlers.on(header, handler);
        self
    }

    /// Runs `task` every `period`, starting one period from now.
    pub fn every(
        &mut self,
        period: Duration,
        task: impl FnMut(&mut ClientContext) + Send + 'static,
    ) -> &mut Self {
        self.periodic.every(period, Instant::now() + period, task);
        self
    }

    /// Queues a message to send as soon as the client starts (before the first HELLO).
    pub fn send(&mut self, msg: impl Into<Multipart>) -> &mut Self {
        self.first.push(msg.into());
        self
    }

    /// Runs until `shutdown` fires, then closes the socket (waiting up to the linger time for
    /// queued messages to go out).
    pub async fn run(self, shutdown: Shutdown) -> Result<(), ClientError> {
        let Client {
            config,
            mut handlers,
            mut periodic,
            first,
        } = self;
        let dealer = Dealer::new(config.socket.clone());
        let events = dealer.events();
        dealer.connect(&config.connect)?;
        log::info!(
            "connecting to {} (HELLO every {:?}; the server counts as unresponsive after {:?} of silence)",
            config.connect,
            config.interval,
            config.server_timeout
        );
        let now = Instant::now();
        let mut ctx = ClientContext {
            outbox: first,
            last_heard: now,
            unresponsive: false,
            now,
            link: LinkWatch::new(config.connect.clone(), now),
        };
        loop {
            for msg in ctx.outbox.drain(..) {
                log::debug!("sending {}", describe(&msg));
                let sent = futures::select! {
                    r = dealer.send(msg).fuse() => r,
                    _ = shutdown.wait().fuse() => break,
                };
                if let Err(e) = sent {
                    log::warn!("send failed: {e}");
                }
            }
            if shutdown.requested() {
                break;
            }
            let now = Instant::now();
            let wait = periodic
                .next_due()
                .map_or(Duration::from_secs(3600), |due| {
                    due.saturating_duration_since(now)
                });
            futures::select! {
                msg = dealer.recv().fuse() => match msg {
                    Ok(msg) => {
                        ctx.now = Instant::now();
                        if ctx.unresponsive {
                            ctx.unresponsive = false;
                            log::info!(
                                "server is back after {:.1}s of silence",
                                ctx.now.saturating_duration_since(ctx.last_heard).as_secs_f64()
                            );
                        }
                        ctx.last_heard = ctx.now;
                        log::info!("received {} from the server", describe(&msg));
                        match handlers.dispatch(&mut ctx, &msg) {
                            Dispatch::Handled => {}
                            Dispatch::Failed(e) => {
                                log::warn!("bad {} from the server: {e}", msg.first().escape_ascii())
                            }
                            Dispatch::Unknown => log::warn!(
                                "unknown message type {:?} from the server; ignored",
                                msg.first().escape_ascii().to_string()
                            ),
                        }
                    }
                    Err(e) => {
                        log::error!("socket failed: {e}");
                        break;
                    }
                },
                event = events.recv().fuse() => {
                    // Once per change of state, at the default level: why the server cannot be
                    // reached (unknown host, refused, handshake refused) is the first thing a
                    // user needs, and the socket retries too often to log every attempt.
                    if let Ok(event) = event {
                        ctx.link.log_event("server", &event, Instant::now());
                    }
                }
                _ = runtime::sleep(wait).fuse() => {
                    ctx.now = Instant::now();
                    periodic.run_due(ctx.now, &mut ctx);
                }
                _ = shutdown.wait().fuse() => break,
            }
        }
        let queued = dealer.queued();
        log::info!(
            "shutting down{}",
            if queued > 0 {
                format!(
                    " ({queued} message(s) still queued; waiting up to {:?})",
                    config.socket.linger
                )
            } else {
                String::new()
            }
        );
        dealer.close().await;
        Ok(())
    }
}

/// Runs a client with `config` until `shutdown` fires.
pub async fn run(config: ClientConfig, shutdown: Shutdown) -> Result<(), ClientError> {
    Client::new(config).run(shutdown).await
}
