//! The state of a connecting socket's link to its peer, read from the socket's events: whether
//! it is connected and, when it is not, why. A socket retries on its own, so the same failure
//! comes back every few hundred milliseconds; [`LinkWatch`] reports only changes of state
//! (a new failure, a different reason, connected again), which programs log at the default
//! level: the reason a connection fails must be visible without `-v`, once, not once per retry.

use std::fmt;
use std::time::{Duration, Instant};

use courier_socket::SocketEvent;

/// Where a connecting socket's link stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkState {
    /// No attempt has finished yet.
    Connecting,
    /// Connecting failed (unknown host, connection refused, timed out); retrying.
    Unreachable {
        /// Why, as the socket reported it.
        reason: String,
    },
    /// The peer took the connection but the handshake failed (e.g. it refused our CURVE key,
    /// or we refused its); retrying.
    Refused {
        /// Why, as the socket reported it.
        reason: String,
    },
    /// The handshake succeeded: messages flow.
    Connected,
    /// A connection that was up is gone; reconnecting.
    Lost {
        /// Why, as the socket reported it.
        reason: String,
    },
}

impl LinkState {
    /// A short name: `connecting`, `unreachable`, `refused`, `connected` or `lost`.
    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Unreachable { .. } => "unreachable",
            LinkState::Refused { .. } => "refused",
            LinkState::Connected => "connected",
            LinkState::Lost { .. } => "lost",
        }
    }

    /// Why the link is down, if it is down for a known reason.
    pub fn reason(&self) -> Option<&str> {
        match self {
            LinkState::Unreachable { reason }
            | LinkState::Refused { reason }
            | LinkState::Lost { reason } => Some(reason),
            LinkState::Connecting | LinkState::Connected => None,
        }
    }

    /// Whether messages can flow.
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected)
    }
}

/// A link state with the endpoint it is about, for log lines and status displays:
/// e.g. `cannot connect to tcp://127.0.0.1:5556: Connection refused (os error 111); retrying`.
#[derive(Clone, Copy, Debug)]
pub struct LinkDescription<'a> {
    endpoint: &'a str,
    state: &'a LinkState,
}

impl fmt::Display for LinkDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = self.endpoint;
        match self.state {
            LinkState::Connecting => write!(f, "connecting to {endpoint}"),
            LinkState::Unreachable { reason } => {
                write!(f, "cannot connect to {endpoint}: {reason}; retrying")
            }
            LinkState::Refused { reason } => write!(
                f,
                "{endpoint} accepted the connection but the handshake failed: {reason}{}; retrying",
                auth_hint(reason)
            ),
            LinkState::Connected => write!(f, "connected to {endpoint}"),
            LinkState::Lost { reason } => {
                write!(f, "connection to {endpoint} lost: {reason}; reconnecting")
            }
        }
    }
}

/// What a ZAP status code in a refusal means for the user (libzmq servers send the bare code).
fn auth_hint(reason: &str) -> &'static str {
    match reason.rsplit(": ").next() {
        Some("400") => {
            " (the server's authenticator refused us: check the PLAIN user name and password, \
             our CURVE key, or whether the server allows our address)"
        }
        Some("300") => " (the server's authenticator failed temporarily)",
        Some("500") => " (the server's authenticator failed)",
        _ => "",
    }
}

/// Follows a connecting socket's events (DEALER `events()`) and says when its link changes
/// state. Time is passed in, so it is testable.
#[derive(Clone, Debug)]
pub struct LinkWatch {
    endpoint: String,
    state: LinkState,
    since: Instant,
}

impl LinkWatch {
    /// A watch of the link to `endpoint`, connecting since `now`.
    pub fn new(endpoint: impl Into<String>, now: Instant) -> Self {
        LinkWatch {
            endpoint: endpoint.into(),
            state: LinkState::Connecting,
            since: now,
        }
    }

    /// The endpoint watched.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The current state.
    pub fn state(&self) -> &LinkState {
        &self.state
    }

    /// When the current state began.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// The current state in words, with the endpoint.
    pub fn describe(&self) -> LinkDescription<'_> {
        LinkDescription {
            endpoint: &self.endpoint,
            state: &self.state,
        }
    }

    /// Takes in an event seen at `now`; returns the state it was in before when the event
    /// changed it (a retry failing for the same reason changes nothing).
    pub fn on_event(&mut self, event: &SocketEvent, now: Instant) -> Option<(LinkState, Duration)> {
        let next = match event {
            SocketEvent::ConnectFailed { reason, .. } => LinkState::Unreachable {
                reason: reason.to_string(),
            },
            SocketEvent::HandshakeFailed { reason, .. } => LinkState::Refused {
                reason: reason.to_string(),
            },
            SocketEvent::HandshakeSucceeded { .. } => LinkState::Connected,
            SocketEvent::Disconnected { reason, .. } => LinkState::Lost {
                reason: reason.to_string(),
            },
            // A TCP connection alone says nothing yet: the handshake decides.
            _ => return None,
        };
        if next == self.state {
            return None;
        }
        let before = std::mem::replace(&mut self.state, next);
        let lasted = now.saturating_duration_since(self.since);
        self.since = now;
        Some((before, lasted))
    }

    /// Like [`on_event`](LinkWatch::on_event), and logs a change. Refused and lost are
    /// warnings (a key or peer to look at); unreachable is info, since a client may start
    /// before its server on purpose (its messages wait in the queue), and connected is info
    /// (with how long the link was down, after a failure). `what` names the peer in the logs,
    /// e.g. `server` or `collector`. Returns whether the state changed.
    pub fn log_event(&mut self, what: &str, event: &SocketEvent, now: Instant) -> bool {
        let Some((before, lasted)) = self.on_event(event, now) else {
            return false;
        };
        match (&self.state, before.reason()) {
            (LinkState::Connected, Some(_)) => log::info!(
                "{what}: {} (after {:.1}s without)",
                self.describe(),
                lasted.as_secs_f64()
            ),
            (LinkState::Connected | LinkState::Unreachable { .. }, _) => {
                log::info!("{what}: {}", self.describe())
            }
            _ => log::warn!("{what}: {}", self.describe()),
        }
        true
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_authentication_refusal_says_what_to_check() {
        let state = LinkState::Refused {
            reason: "peer refused the handshake: 400".into(),
        };
        let line = LinkDescription {
            endpoint: "tcp://127.0.0.1:5556",
            state: &state,
        }
        .to_string();
        assert!(line.contains("PLAIN user name and password"), "{line}");
        let other = LinkState::Refused {
            reason: "peer refused the handshake: go away".into(),
        };
        let line = LinkDescription {
            endpoint: "tcp://127.0.0.1:5556",
            state: &other,
        }
        .to_string();
        assert!(!line.contains("authenticator"), "{line}");
    }
    use super::*;
    use bytes::Bytes;
    use courier_socket::Endpoint;

    fn endpoint() -> Endpoint {
        "tcp://127.0.0.1:5556".parse().unwrap()
    }

    fn connect_failed(reason: &str, retry_ms: u64) -> SocketEvent {
        SocketEvent::ConnectFailed {
            endpoint: endpoint(),
            reason: courier_socket::Reason::Refused(reason.into()),
            retry_in: Duration::from_millis(retry_ms),
        }
    }

    fn handshake_failed(reason: &str) -> SocketEvent {
        SocketEvent::HandshakeFailed {
            peer_addr: "tcp://127.0.0.1:5556".into(),
            reason: courier_socket::Reason::Refused(reason.into()),
        }
    }

    fn up() -> SocketEvent {
        SocketEvent::HandshakeSucceeded {
            peer_addr: "tcp://127.0.0.1:5556".into(),
            routing_id: Bytes::new(),
        }
    }

    #[test]
    fn retries_with_the_same_reason_are_one_change() {
        let t0 = Instant::now();
        let mut watch = LinkWatch::new("tcp://127.0.0.1:5556", t0);
        assert_eq!(watch.state(), &LinkState::Connecting);
        let refused = "Connection refused (os error 111)";
        let first = watch.on_event(&connect_failed(refused, 100), t0);
        assert_eq!(first, Some((LinkState::Connecting, Duration::ZERO)));
        // Backoff changes the retry delay, not the state.
        for (i, ms) in [200, 400, 800, 1000].into_iter().enumerate() {
            let at = t0 + Duration::from_secs(i as u64 + 1);
            assert_eq!(watch.on_event(&connect_failed(refused, ms), at), None);
        }
        assert_eq!(watch.since(), t0);
        assert_eq!(
            watch.describe().to_string(),
            "cannot connect to tcp://127.0.0.1:5556: Connection refused (os error 111); retrying"
        );
        // A different reason is a change.
        let later = t0 + Duration::from_secs(9);
        let changed = watch.on_event(&connect_failed("timed out after 10s", 100), later);
        assert!(changed.is_some());
        assert_eq!(watch.state().reason(), Some("timed out after 10s"));
    }

    #[test]
    fn a_tcp_connection_alone_changes_nothing() {
        let t0 = Instant::now();
        let mut watch = LinkWatch::new("tcp://127.0.0.1:5556", t0);
        let tcp = SocketEvent::Connected {
            peer_addr: "tcp://127.0.0.1:5556".into(),
        };
        assert_eq!(watch.on_event(&tcp, t0), None);
        assert_eq!(watch.state(), &LinkState::Connecting);
    }

    #[test]
    fn refused_up_lost_and_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut watch = LinkWatch::new("tcp://127.0.0.1:5556", t0);
        let why = "peer closed the connection with ERROR: 400";
        assert!(watch.on_event(&handshake_failed(why), t0).is_some());
        assert_eq!(watch.state().name(), "refused");
        assert!(!watch.state().is_connected());
        assert_eq!(watch.on_event(&handshake_failed(why), t0 + s(1)), None);
        assert!(watch.describe().to_string().contains(why));

        let (before, lasted) = watch.on_event(&up(), t0 + s(3)).unwrap();
        assert_eq!(before.name(), "refused");
        assert_eq!(lasted, s(3));
        assert!(watch.state().is_connected());
        assert_eq!(watch.state().reason(), None);
        assert_eq!(watch.on_event(&up(), t0 + s(4)), None);

        let gone = SocketEvent::Disconnected {
            peer_addr: "tcp://127.0.0.1:5556".into(),
            routing_id: Some(Bytes::new()),
            reason: courier_socket::Reason::PeerClosed,
        };
        assert!(watch.on_event(&gone, t0 + s(5)).is_some());
        assert_eq!(
            watch.describe().to_string(),
            "connection to tcp://127.0.0.1:5556 lost: peer closed the connection; reconnecting"
        );
        // Reconnecting then fails: a new state, the server being down.
        assert!(watch
            .on_event(&connect_failed("Connection refused", 100), t0 + s(6))
            .is_some());
        assert_eq!(watch.state().name(), "unreachable");
        // Other events are not about the link.
        let dropped = SocketEvent::MessagesDropped {
            routing_id: Bytes::new(),
            count: 3,
            reason: courier_socket::DropReason::UnknownPeer,
        };
        assert_eq!(watch.on_event(&dropped, t0 + s(7)), None);
    }

    #[test]
    fn log_event_reports_changes_only() {
        let t0 = Instant::now();
        let mut watch = LinkWatch::new("tcp://[::1]:1", t0);
        assert!(watch.log_event("server", &connect_failed("nope", 100), t0));
        assert!(!watch.log_event("server", &connect_failed("nope", 200), t0));
        assert!(watch.log_event("server", &up(), t0));
        assert_eq!(watch.endpoint(), "tcp://[::1]:1");
    }
}
