//! The protocol timers of one connection: the handshake deadline, our heartbeats (PING every
//! interval, a timeout after an unanswered PING) and the peer's heartbeat TTL.
//!
//! Sans-IO like the rest of the crate: no clock is read here. The driver passes the time in
//! ([`Connection::new`](crate::connection::Connection::new),
//! [`receive`](crate::connection::Connection::receive),
//! [`handle_timeout`](crate::connection::Connection::handle_timeout)) and asks
//! [`poll_timeout`](crate::connection::Connection::poll_timeout) when to call back.

use std::time::{Duration, Instant};

use thiserror::Error;

/// Protocol timers of one connection. Default: no handshake limit and no heartbeats (libzmq's
/// heartbeat default; a driver sets the handshake limit it wants).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timers {
    /// The greeting and security handshake must finish within this (None: no limit).
    pub handshake_timeout: Option<Duration>,
    /// Send a PING this often once the handshake is done (ZMTP 3.1 peers only; a 3.0 peer knows no
    /// PING so no heartbeat timers run for it). None: no heartbeats (libzmq's default). Zero
    /// also means none, as in libzmq (it would ask for a PING at every call).
    pub heartbeat_ivl: Option<Duration>,
    /// Close if nothing at all is received this long after a PING we sent. None: = heartbeat_ivl.
    pub heartbeat_timeout: Option<Duration>,
    /// TTL we announce in our PINGs (rounded down to deciseconds, saturating at u16::MAX). None: 0.
    pub heartbeat_ttl: Option<Duration>,
}

impl Timers {
    /// The TTL field of our PINGs, in deciseconds.
    pub(crate) fn ttl_deciseconds(&self) -> u16 {
        self.heartbeat_ttl.map_or(0, |ttl| {
            u16::try_from(ttl.as_millis() / 100).unwrap_or(u16::MAX)
        })
    }
}

/// Which protocol timer expired.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Timeout {
    /// The greeting and security handshake did not finish in time.
    #[error("handshake not completed within {limit:?}")]
    Handshake {
        /// The configured [`Timers::handshake_timeout`].
        limit: Duration,
    },
    /// Nothing at all arrived within the heartbeat timeout after a PING we sent.
    #[error("heartbeat timeout: nothing heard for {silent_for:?} after a PING")]
    Heartbeat {
        /// How long it has been since that PING went out.
        silent_for: Duration,
    },
    /// The peer asked (with the TTL of its last PING) to be dropped after that long without
    /// anything from it, and that time has passed.
    #[error("the peer's heartbeat TTL of {ttl:?} expired")]
    PeerTtl {
        /// The peer's TTL.
        ttl: Duration,
    },
}

/// What `fire` asks the connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing yet.
    Nothing,
    /// Queue a PING now.
    Ping,
}

/// Our heartbeats, in force once the handshake with a ZMTP 3.1 peer is done.
#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    ivl: Duration,
    timeout: Duration,
    last_ping: Instant,
    /// When the oldest PING not yet answered (by anything at all arriving) went out.
    ping_sent: Option<Instant>,
}

/// The timer state of one connection. `active` arguments say whether the handshake is done.
#[derive(Debug, Clone)]
pub(crate) struct TimerState {
    config: Timers,
    started: Instant,
    last_recv: Instant,
    heartbeat: Option<Heartbeat>,
    /// From the peer's last PING (None: it asked for none).
    peer_ttl: Option<Duration>,
}

/// `at + d`, or None (never) if that is beyond what `Instant` can hold.
fn after(at: Instant, d: Duration) -> Option<Instant> {
    at.checked_add(d)
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl TimerState {
    /// Timers for a connection whose handshake clock starts at `now`.
    pub(crate) fn new(config: Timers, now: Instant) -> Self {
        TimerState {
            config,
            started: now,
            last_recv: now,
            heartbeat: None,
            peer_ttl: None,
        }
    }

    /// Bytes arrived at `now`.
    pub(crate) fn on_receive(&mut self, now: Instant) {
        // Never backwards, should a driver pass an older instant.
        self.last_recv = self.last_recv.max(now);
    }

    /// The handshake completed at `now`; heartbeats start if configured and the peer knows PING.
    pub(crate) fn on_active(&mut self, now: Instant, peer_pings: bool) {
        self.heartbeat = self
            .config
            .heartbeat_ivl
            .filter(|ivl| peer_pings && !ivl.is_zero())
            .map(|ivl| Heartbeat {
                ivl,
                timeout: self.config.heartbeat_timeout.unwrap_or(ivl),
                last_ping: now,
                ping_sent: None,
            });
    }

    /// The peer sent a PING with this TTL (0: none).
    pub(crate) fn on_peer_ping(&mut self, ttl_deciseconds: u16) {
        self.peer_ttl =
            (ttl_deciseconds > 0).then(|| Duration::from_millis(u64::from(ttl_deciseconds) * 100));
    }

    /// The earliest deadline that matters now.
    pub(crate) fn deadline(&self, active: bool) -> Option<Instant> {
        if !active {
            return self
                .config
                .handshake_timeout
                .and_then(|limit| after(self.started, limit));
        }
        let mut deadline = self.peer_ttl.and_then(|ttl| after(self.last_recv, ttl));
        if let Some(hb) = &self.heartbeat {
            deadline = min_opt(deadline, after(hb.last_ping, hb.ivl));
            // A PING answered by anything arriving since has no deadline left.
            if let Some(sent) = hb.ping_sent.filter(|&sent| self.last_recv < sent) {
                deadline = min_opt(deadline, after(sent, hb.timeout));
            }
        }
        deadline
    }

    /// Acts on what is due at `now`: an expired timer is an error; a PING due is returned for
    /// the connection to queue (it is counted as sent at `now`).
    pub(crate) fn fire(&mut self, now: Instant, active: bool) -> Result<Due, Timeout> {
        if !active {
            if let Some(limit) = self.config.handshake_timeout {
                if after(self.started, limit).is_some_and(|d| now >= d) {
                    return Err(Timeout::Handshake { limit });
                }
            }
            return Ok(Due::Nothing);
        }
        let last_recv = self.last_recv;
        if let Some(hb) = &mut self.heartbeat {
            if let Some(sent) = hb.ping_sent {
                if last_recv >= sent {
                    hb.ping_sent = None;
                } else if after(sent, hb.timeout).is_some_and(|d| now >= d) {
                    return Err(Timeout::Heartbeat {
                        silent_for: now.saturating_duration_since(sent),
                    });
                }
            }
        }
        if let Some(ttl) = self.peer_ttl {
            if after(last_recv, ttl).is_some_and(|d| now >= d) {
                return Err(Timeout::PeerTtl { ttl });
            }
        }
        if let Some(hb) = &mut self.heartbeat {
            if after(hb.last_ping, hb.ivl).is_some_and(|d| now >= d) {
                hb.last_ping = now;
                hb.ping_sent.get_or_insert(now);
                return Ok(Due::Ping);
            }
        }
        Ok(Due::Nothing)
    }

    /// The TTL field of our PINGs.
    pub(crate) fn ping_ttl(&self) -> u16 {
        self.config.ttl_deciseconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_ttl_is_rounded_down_to_deciseconds_and_saturates() {
        let ttl = |ttl| {
            Timers {
                heartbeat_ttl: ttl,
                ..Timers::default()
            }
            .ttl_deciseconds()
        };
        assert_eq!(ttl(None), 0);
        assert_eq!(ttl(Some(Duration::from_millis(99))), 0);
        assert_eq!(ttl(Some(Duration::from_millis(2590))), 25);
        assert_eq!(ttl(Some(Duration::from_millis(6_553_500))), u16::MAX);
        assert_eq!(ttl(Some(Duration::from_millis(6_553_600))), u16::MAX);
        assert_eq!(ttl(Some(Duration::MAX)), u16::MAX);
    }
}
