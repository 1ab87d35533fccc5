//! A listening socket on its I/O thread: accepts connections and hands each to an I/O thread.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;

use super::conn::Conn;
use super::conn::Guards;
use super::{context, After, Command, Ctx, Followup, Listener};
use crate::core::{Core, HandshakeSlot, LiveGuard};
use crate::endpoint::Endpoint;
use crate::event::{Reason, SocketEvent};

/// Connections accepted in one turn before the others get theirs.
const ACCEPT_BUDGET: usize = 64;
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// How soon accepting looks again when `max_handshakes` are under way.
const HANDSHAKES_FULL_RECHECK: Duration = Duration::from_millis(10);

pub(crate) struct Listening {
    pub core: Arc<Core>,
    listener: Listener,
    #[allow(dead_code)]
    endpoint: Endpoint,
    pub gen: u64,
    pub timer_at: Option<Instant>,
    /// After an accept error (out of file descriptors...): no accepting until then.
    paused_until: Option<Instant>,
    pause: Duration,
}

impl Listening {
    pub fn new(
        core: Arc<Core>,
        mut listener: Listener,
        endpoint: Endpoint,
        token: usize,
        gen: u64,
        ctx: &Ctx,
    ) -> io::Result<Listening> {
        listener.register(ctx.registry(), Token(token))?;
        Ok(Listening {
            core,
            listener,
            endpoint,
            gen,
            timer_at: None,
            paused_until: None,
            pause: FIRST_PAUSE,
        })
    }

    /// Accepts what is waiting.
    pub fn on_ready(&mut self, token: usize, ctx: &mut Ctx, follow: &mut Vec<Followup>) -> After {
        if self.core.no_new.fired() {
            return After::Remove;
        }
        let now = ctx.now();
        if let Some(until) = self.paused_until {
            if now < until {
                return After::Keep(Some(until));
            }
            self.paused_until = None;
        }
        for _ in 0..ACCEPT_BUDGET {
            // Enough handshakes under way: the next connections wait in the system's accept
            // queue (a flood of CURVE handshakes cannot take all the thread's time).
            if self
                .core
                .options
                .max_handshakes
                .is_some_and(|max| self.core.handshaking.load(Ordering::Relaxed) >= max)
            {
                return After::Keep(Some(now + HANDSHAKES_FULL_RECHECK));
            }
            match self.listener.accept() {
                Ok((stream, peer_addr, ip)) => {
                    self.pause = FIRST_PAUSE;
                    if let Some(max) = self.core.options.max_connections {
                        if self.core.live.load(Ordering::Relaxed) >= max {
                            stream.shutdown();
                            self.core
                                .emit(SocketEvent::ConnectionLimit { peer_addr, max });
                            continue;
                        }
                    }
                    let slot = match ip {
                        Some(ip) => match self.core.take_address_slot(ip) {
                            Some(slot) => Some(slot),
                            None => {
                                stream.shutdown();
                                let max = self
                                    .core
                                    .options
                                    .max_connections_per_address
                                    .unwrap_or_default();
                                self.core.refuse_address(ip, peer_addr, max, now);
                                continue;
                            }
                        },
                        None => None,
                    };
                    let guards = Guards {
                        live: LiveGuard::new(&self.core),
                        address: slot,
                        handshake: Some(HandshakeSlot::new(&self.core)),
                    };
                    let _ = stream.set_nodelay();
                    self.core.emit(SocketEvent::Connected {
                        peer_addr: peer_addr.clone(),
                    });
                    // The guards were taken before the next accept, so that a burst of
                    // connections cannot slip past the limits.
                    let core = Arc::clone(&self.core);
                    match context().pick() {
                        Ok(target) if !Arc::ptr_eq(target, &ctx.shared) => {
                            follow.push(Followup::Handoff(
                                Arc::clone(target),
                                Command::Adopt {
                                    core,
                                    stream,
                                    peer_addr,
                                    guards,
                                },
                            ));
                        }
                        _ => follow.push(Followup::NewConn(Box::new(Conn::new(
                            core, stream, peer_addr, guards, None, now,
                        )))),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return After::Keep(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS...: back off instead of spinning.
                    self.core.emit(SocketEvent::AcceptFailed {
                        reason: Reason::io(&e),
                        retry_in: self.pause,
                    });
                    let until = now + self.pause;
                    self.paused_until = Some(until);
                    self.pause = (self.pause * 2).min(LONGEST_PAUSE);
                    return After::Keep(Some(until));
                }
            }
        }
        ctx.run_again(token, self.gen);
        After::Keep(None)
    }

    pub fn close(&mut self, ctx: &Ctx) {
        self.listener.deregister(ctx.registry());
    }
}
