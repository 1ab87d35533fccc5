//! The network side of the viewer: says hello to the collector and hands on what it sends, and
//! the state of its link to the collector (connecting, refused and why, silent...) each time
//! it changes, so that the viewer can say why it shows nothing.

use std::time::{Duration, Instant, SystemTime};

use courier_app::{LinkState, LinkWatch, Shutdown};
use courier_metrics::{LinkKind, ViewerStatus};
use courier_socket::{runtime, Dealer, Message, Multipart, Options, SocketError};
use futures::FutureExt;

/// Viewer settings.
#[derive(Clone, Debug)]
pub struct ViewerConfig {
    /// The collector's viewer endpoint.
    pub collector: String,
    /// How often to say hello.
    pub hello_interval: Duration,
    /// Connected but nothing received (not even a ping, which collectors send every 5 s) for
    /// this long: the link is reported `silent`.
    pub silent_after: Duration,
    /// Socket options (security...).
    pub socket: Options,
}

impl ViewerConfig {
    /// Defaults: hello every 15 s, silent after 15 s, NULL security.
    pub fn new(collector: impl Into<String>) -> Self {
        ViewerConfig {
            collector: collector.into(),
            hello_interval: Duration::from_secs(15),
            silent_after: Duration::from_secs(15),
            socket: Options::default(),
        }
    }
}

/// What the viewer hands on.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewerEvent {
    /// A `METR` message from the collector.
    Metrics(Message),
    /// The link to the collector changed state (the first is `connecting`).
    Status(ViewerStatus),
}

/// Runs until `shutdown` fires, calling `on_metrics` with every METR message received.
pub async fn run_viewer(
    config: ViewerConfig,
    mut on_metrics: impl FnMut(Message),
    shutdown: Shutdown,
) -> Result<(), SocketError> {
    let only_metrics = move |event| {
        if let ViewerEvent::Metrics(msg) = event {
            on_metrics(msg);
        }
    };
    run_viewer_with_status(config, only_metrics, shutdown).await
}

/// Follows the link's events and the collector's silence; says when what a viewer should
/// show changes.
struct StatusTracker {
    link: LinkWatch,
    silent_after: Duration,
    /// When the collector last sent anything (or the link came up).
    last_heard: Instant,
    last_heard_wall: SystemTime,
    silent: bool,
    shown: ViewerStatus,
}

impl StatusTracker {
    fn new(endpoint: &str, silent_after: Duration, now: Instant, wall: SystemTime) -> Self {
        StatusTracker {
            link: LinkWatch::new(endpoint, now),
            silent_after,
            last_heard: now,
            last_heard_wall: wall,
            silent: false,
            shown: ViewerStatus::new(LinkKind::Connecting, endpoint, wall),
        }
    }

    /// The status as it stands; `since` is `wall` for a state that changes now.
    fn current(&self, wall: SystemTime) -> ViewerStatus {
        let endpoint = self.link.endpoint();
        let state = self.link.state();
        let kind = match state {
            LinkState::Connected if self.silent => LinkKind::Silent,
            LinkState::Connected => LinkKind::Connected,
            LinkState::Unreachable { .. } => LinkKind::Unreachable,
            LinkState::Refused { .. } => LinkKind::Refused,
            LinkState::Lost { .. } => LinkKind::Lost,
            _ => LinkKind::Connecting,
        };
        let since = match kind {
            LinkKind::Silent => self.last_heard_wall,
            _ => wall,
        };
        let mut status = ViewerStatus::new(kind, endpoint, since);
        status.reason = state.reason().map(str::to_owned);
        status
    }

    /// Recomputes the status; returns it if it changed (state or reason).
    fn update(&mut self, wall: SystemTime) -> Option<ViewerStatus> {
        let next = self.current(wall);
        if next.kind == self.shown.kind && next.reason == self.shown.reason {
            return None;
        }
        self.shown = next.clone();
        Some(next)
    }

    fn on_event(
        &mut self,
        event: &courier_socket::SocketEvent,
        now: Instant,
        wall: SystemTime,
    ) -> Option<ViewerStatus> {
        if !self.link.log_event("collector", event, now) {
            return None;
        }
        if self.link.state().is_connected() {
            // The silence is counted from the moment the link came up.
            self.heard(now, wall);
        }
        self.update(wall)
    }

    fn heard(&mut self, now: Instant, wall: SystemTime) {
        self.last_heard = now;
        self.last_heard_wall = wall;
        self.silent = false;
    }

    /// When the link would turn silent, if it is up and not silent yet.
    fn silence_due(&self) -> Option<Instant> {
        (self.link.state().is_connected() && !self.silent)
            .then(|| self.last_heard + self.silent_after)
    }

    fn check_silence(&mut self, now: Instant, wall: SystemTime) -> Option<ViewerStatus> {
        if self.silence_due().is_some_and(|due| now >= due) {
            self.silent = true;
            log::warn!(
                "collector: {} but nothing received for {:.0}s",
                self.link.describe(),
                now.saturating_duration_since(self.last_heard).as_secs_f64()
            );
        }
        self.update(wall)
    }
}

/// Runs until `shutdown` fires, calling `on_event` with every METR message received and with
/// the link's status each time it changes (first `connecting`).
pub async fn run_viewer_with_status(
    config: ViewerConfig,
    mut on_event: impl FnMut(ViewerEvent),
    shutdown: Shutdown,
) -> Result<(), SocketError> {
    let dealer = Dealer::new(config.socket.clone());
    let events = dealer.events();
    dealer.connect(&config.collector)?;
    log::info!("viewer connecting to {}", config.collector);
    let mut tracker = StatusTracker::new(
        &config.collector,
        config.silent_after,
        Instant::now(),
        SystemTime::now(),
    );
    on_event(ViewerEvent::Status(tracker.shown.clone()));
    let mut next_hello = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_hello {
            if let Err(e) = dealer.try_send(Multipart::from(crate::hello())) {
                log::debug!("hello not queued: {e}");
            }
            next_hello = now + config.hello_interval;
        }
        let wake = tracker
            .silence_due()
            .map_or(next_hello, |due| due.min(next_hello));
        futures::select! {
            msg = dealer.recv().fuse() => {
                let msg = msg?;
                let wall = SystemTime::now();
                tracker.heard(Instant::now(), wall);
                if let Some(status) = tracker.update(wall) {
                    on_event(ViewerEvent::Status(status));
                }
                match Message::decode(&msg) {
                    Ok(msg @ Message::Metrics { .. }) => on_event(ViewerEvent::Metrics(msg)),
                    Ok(Message::Control { text }) => log::debug!("CTRL {text:?} from the collector"),
                    Ok(other) => log::warn!("unexpected {} from the collector; ignored", other.name()),
                    Err(e) => log::warn!("malformed message from the collector: {e}"),
                }
            }
            event = events.recv().fuse() => {
                if let Ok(event) = event {
                    if let Some(status) = tracker.on_event(&event, Instant::now(), SystemTime::now()) {
                        on_event(ViewerEvent::Status(status));
                    }
                }
            }
            _ = runtime::sleep(wake.saturating_duration_since(now)).fuse() => {
                if let Some(status) = tracker.check_silence(Instant::now(), SystemTime::now()) {
                    on_event(ViewerEvent::Status(status));
                }
            }
            _ = shutdown.wait().fuse() => break,
        }
    }
    dealer.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use courier_socket::SocketEvent;

    const EP: &str = "tcp://127.0.0.1:5557";

    fn up() -> SocketEvent {
        SocketEvent::HandshakeSucceeded {
            peer_addr: EP.into(),
            routing_id: Bytes::new(),
        }
    }

    fn refused(reason: &str) -> SocketEvent {
        SocketEvent::HandshakeFailed {
            peer_addr: EP.into(),
            reason: courier_socket::Reason::Refused(reason.into()),
        }
    }

    #[test]
    fn refused_then_connected_then_silent_then_back() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let s = Duration::from_secs;
        let mut tracker = StatusTracker::new(EP, s(15), t0, w0);
        assert_eq!(tracker.shown.kind, LinkKind::Connecting);
        assert_eq!(tracker.silence_due(), None);

        let st = tracker.on_event(&refused("ERROR 400"), t0, w0).unwrap();
        assert_eq!(
            (st.kind, st.reason.as_deref()),
            (LinkKind::Refused, Some("ERROR 400"))
        );
        // Every retry is refused the same way: nothing new to show.
        assert_eq!(tracker.on_event(&refused("ERROR 400"), t0 + s(1), w0), None);

        let st = tracker.on_event(&up(), t0 + s(2), w0 + s(2)).unwrap();
        assert_eq!((st.kind, st.reason), (LinkKind::Connected, None));
        assert_eq!(tracker.silence_due(), Some(t0 + s(17)));
        // Not silent yet; then silent, since the moment the link came up.
        assert_eq!(tracker.check_silence(t0 + s(16), w0 + s(16)), None);
        let st = tracker.check_silence(t0 + s(17), w0 + s(17)).unwrap();
        assert_eq!((st.kind, st.since), (LinkKind::Silent, w0 + s(2)));
        assert_eq!(tracker.silence_due(), None);
        // A message: connected again.
        tracker.heard(t0 + s(20), w0 + s(20));
        let st = tracker.update(w0 + s(20)).unwrap();
        assert_eq!(st.kind, LinkKind::Connected);
        assert_eq!(tracker.silence_due(), Some(t0 + s(35)));
    }

    #[test]
    fn unreachable_and_lost_carry_their_reason() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let mut tracker = StatusTracker::new(EP, Duration::from_secs(15), t0, w0);
        let failed = SocketEvent::ConnectFailed {
            endpoint: EP.parse().unwrap(),
            reason: courier_socket::Reason::Refused("Connection refused (os error 111)".into()),
            retry_in: Duration::from_millis(100),
        };
        let st = tracker.on_event(&failed, t0, w0).unwrap();
        assert_eq!(st.kind, LinkKind::Unreachable);
        assert_eq!(
            st.reason.as_deref(),
            Some("Connection refused (os error 111)")
        );
        tracker.on_event(&up(), t0, w0).unwrap();
        let gone = SocketEvent::Disconnected {
            peer_addr: EP.into(),
            routing_id: None,
            reason: courier_socket::Reason::PeerClosed,
        };
        let st = tracker.on_event(&gone, t0, w0).unwrap();
        assert_eq!(
            (st.kind, st.reason.as_deref()),
            (LinkKind::Lost, Some("peer closed the connection"))
        );
        assert_eq!(tracker.silence_due(), None);
    }
}
