//! A connector on its I/O thread: connects to an endpoint, runs the connection, and connects
//! again with backoff when it is lost, until its socket stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;

use super::conn::{Conn, Guards};
use super::{literal, resolve, After, Command, Ctx, Followup, Stream};
use crate::core::{Backoff, Core, LiveGuard};
use crate::endpoint::Endpoint;
use crate::event::{Reason, SocketEvent};

/// A connection that lasted this long resets the reconnection backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(1);

enum State {
    /// About to try.
    Start,
    /// A helper thread is resolving the host name.
    Resolving,
    /// A non-blocking connect is under way; `rest` are the addresses to try after it.
    Connecting {
        stream: Stream,
        rest: Vec<SocketAddr>,
        deadline: Instant,
    },
    /// The connection runs as its own entry.
    Live,
    /// Waiting to try again.
    Waiting { until: Instant },
}

pub(crate) struct Connector {
    pub core: Arc<Core>,
    endpoint: Endpoint,
    backoff: Backoff,
    state: State,
    pub gen: u64,
    pub timer_at: Option<Instant>,
}

impl Connector {
    pub fn new(core: Arc<Core>, endpoint: Endpoint, gen: u64) -> Connector {
        let backoff = Backoff::new(core.options.reconnect_ivl, core.options.reconnect_ivl_max);
        Connector {
            core,
            endpoint,
            backoff,
            state: State::Start,
            gen,
            timer_at: None,
        }
    }

    /// Its time came (or it was just created).
    pub fn on_timer(&mut self, token: usize, ctx: &mut Ctx, follow: &mut Vec<Followup>) -> After {
        if self.core.stop.fired() {
            return After::Remove;
        }
        let now = ctx.now();
        match &self.state {
            State::Start => self.start(token, ctx, follow),
            State::Waiting { until } if now >= *until => self.start(token, ctx, follow),
            State::Waiting { until } => After::Keep(Some(*until)),
            State::Connecting { deadline, .. } if now >= *deadline => {
                let after = self.core.options.connect_timeout;
                self.attempt_failed(token, Reason::ConnectTimeout(after), ctx, follow)
            }
            State::Connecting { deadline, .. } => After::Keep(Some(*deadline)),
            State::Resolving | State::Live => After::Keep(None),
        }
    }

    fn start(&mut self, token: usize, ctx: &mut Ctx, follow: &mut Vec<Followup>) -> After {
        match &self.endpoint {
            Endpoint::Tcp { .. } => {
                let addr = self.endpoint.socket_addr_string().unwrap_or_default();
                if let Some(addrs) = literal(&addr) {
                    return self.try_addrs(token, addrs, ctx, follow);
                }
                // Resolving may block for seconds: not on the I/O thread.
                self.state = State::Resolving;
                let shared = Arc::clone(&ctx.shared);
                let gen = self.gen;
                let spawned = std::thread::Builder::new()
                    .name("courier-resolve".into())
                    .spawn(move || {
                        let result = resolve(&addr);
                        shared.send(Command::Resolved { token, gen, result });
                    });
                match spawned {
                    Ok(_) => After::Keep(None),
                    Err(e) => self.fail(Reason::io(&e), ctx),
                }
            }
            #[cfg(unix)]
            Endpoint::Ipc(path) => match Stream::connect_unix(path) {
                Ok(stream) => self.connecting(token, stream, Vec::new(), ctx, follow),
                Err(e) => self.fail(Reason::io(&e), ctx),
            },
            // inproc:// is joined without the I/O layer's connectors (crate::inproc).
            Endpoint::Inproc(_) => self.fail(
                Reason::Io {
                    kind: std::io::ErrorKind::Unsupported,
                    message: "inproc:// has no connector".into(),
                },
                ctx,
            ),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => self.fail(
                Reason::Io {
                    kind: std::io::ErrorKind::Unsupported,
                    message: "ipc:// needs Unix".into(),
                },
                ctx,
            ),
        }
    }

    /// The resolver thread answered.
    pub fn resolved(
        &mut self,
        token: usize,
        result: std::io::Result<Vec<SocketAddr>>,
        ctx: &mut Ctx,
        follow: &mut Vec<Followup>,
    ) -> After {
        if !matches!(self.state, State::Resolving) {
            return After::Keep(None);
        }
        if self.core.stop.fired() {
            return After::Remove;
        }
        match result {
            Ok(addrs) => self.try_addrs(token, addrs, ctx, follow),
            Err(e) => self.fail(Reason::io(&e), ctx),
        }
    }

    fn try_addrs(
        &mut self,
        token: usize,
        mut addrs: Vec<SocketAddr>,
        ctx: &mut Ctx,
        follow: &mut Vec<Followup>,
    ) -> After {
        addrs.reverse();
        let mut last = None;
        while let Some(addr) = addrs.pop() {
            let started = match self.endpoint.source() {
                Some(source) => Stream::connect_tcp_from(addr, source),
                None => Stream::connect_tcp(addr),
            };
            match started {
                Ok(stream) => {
                    addrs.reverse();
                    return self.connecting(token, stream, addrs, ctx, follow);
                }
                Err(e) => last = Some(Reason::io(&e)),
            }
        }
        let reason = last.unwrap_or_else(|| Reason::NoAddress(self.endpoint.to_string()));
        self.fail(reason, ctx)
    }

    fn connecting(
        &mut self,
        token: usize,
        mut stream: Stream,
        rest: Vec<SocketAddr>,
        ctx: &mut Ctx,
        follow: &mut Vec<Followup>,
    ) -> After {
        if let Err(e) = stream.register(ctx.registry(), Token(token)) {
            return self.fail(Reason::io(&e), ctx);
        }
        let deadline = ctx.now() + self.core.options.connect_timeout;
        self.state = State::Connecting {
            stream,
            rest,
            deadline,
        };
        // A connect to a local socket may be done already (edge-triggered: look now).
        self.on_ready(token, ctx, follow)
    }

    /// The connecting socket is ready: connected, or failed.
    pub fn on_ready(&mut self, token: usize, ctx: &mut Ctx, follow: &mut Vec<Followup>) -> After {
        let State::Connecting {
            stream, deadline, ..
        } = &self.state
        else {
            return After::Keep(None);
        };
        match stream.connect_finished() {
            Ok(false) => After::Keep(Some(*deadline)),
            Ok(true) => {
                let State::Connecting { mut stream, .. } =
                    std::mem::replace(&mut self.state, State::Live)
                else {
                    return After::Keep(None);
                };
                stream.deregister(ctx.registry());
                let _ = stream.set_nodelay();
                let peer_addr = self.endpoint.to_string();
                self.core.emit(SocketEvent::Connected {
                    peer_addr: peer_addr.clone(),
                });
                let guards = Guards {
                    live: LiveGuard::new(&self.core),
                    address: None,
                    handshake: None,
                };
                follow.push(Followup::NewConn(Box::new(Conn::new(
                    Arc::clone(&self.core),
                    stream,
                    peer_addr,
                    guards,
                    Some((token, self.gen)),
                    ctx.now(),
                ))));
                After::Keep(None)
            }
            Err(e) => self.attempt_failed(token, Reason::io(&e), ctx, follow),
        }
    }

    /// This address did not work: the next one, or wait and start again.
    fn attempt_failed(
        &mut self,
        token: usize,
        reason: Reason,
        ctx: &mut Ctx,
        follow: &mut Vec<Followup>,
    ) -> After {
        if let State::Connecting {
            mut stream, rest, ..
        } = std::mem::replace(&mut self.state, State::Start)
        {
            stream.deregister(ctx.registry());
            if !rest.is_empty() {
                return self.try_addrs(token, rest, ctx, follow);
            }
        }
        self.fail(reason, ctx)
    }

    fn fail(&mut self, reason: Reason, ctx: &mut Ctx) -> After {
        let retry_in = self.backoff.next();
        self.core.emit(SocketEvent::ConnectFailed {
            endpoint: self.endpoint.clone(),
            reason,
            retry_in,
        });
        let until = ctx.now() + retry_in;
        self.state = State::Waiting { until };
        After::Keep(Some(until))
    }

    /// Its connection closed: connect again after the backoff.
    pub fn conn_closed(&mut self, handshaken: bool, lived: Duration, ctx: &mut Ctx) -> After {
        if self.core.stop.fired() {
            return After::Remove;
        }
        // Start again from the shortest wait only after a connection that worked for a while:
        // a peer that completes the handshake and then refuses us (a routing id in use) must
        // not be hammered every reconnect_ivl.
        if handshaken && lived >= STABLE_CONNECTION {
            self.backoff.reset();
        }
        let until = ctx.now() + self.backoff.next();
        self.state = State::Waiting { until };
        After::Keep(Some(until))
    }

    pub fn close(&mut self, ctx: &Ctx) {
        if let State::Connecting { stream, .. } = &mut self.state {
            stream.deregister(ctx.registry());
        }
    }
}
