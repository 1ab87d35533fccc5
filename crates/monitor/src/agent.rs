//! The agent: samples this host and sends the samples to the collector.

use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_app::{LinkWatch, Shutdown};
use courier_metrics::{Kind, Registry, Throttle};
use courier_socket::proto::curve::rand_core::{OsRng, RngCore};
use courier_socket::{runtime, Dealer, Message, Multipart, Options, SocketError};
use futures::FutureExt;

/// Agent settings.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The collector's endpoint.
    pub collector: String,
    /// The host name sent with every sample.
    pub hostname: String,
    /// How often to send metrics.
    pub interval: Duration,
    /// Say hello again after this long without a message from the collector.
    pub silence: Duration,
    /// Socket options (security, queue size...). The routing id is set by [`run_agent`].
    pub socket: Options,
}

impl AgentConfig {
    /// Defaults: metrics every second, hello again after 10 s of silence, NULL security.
    pub fn new(collector: impl Into<String>, hostname: impl Into<String>) -> Self {
        AgentConfig {
            collector: collector.into(),
            hostname: hostname.into(),
            interval: Duration::from_secs(1),
            silence: Duration::from_secs(10),
            socket: Options::default(),
        }
    }
}

/// A random 16-character `[A-Z0-9]` routing id, as the reference agent uses.
pub fn random_routing_id() -> Bytes {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut raw = [0u8; 16];
    OsRng.fill_bytes(&mut raw);
    raw.iter()
        .map(|b| {
            ALPHABET
                .get(usize::from(*b) % ALPHABET.len())
                .copied()
                .unwrap_or(b'A')
        })
        .collect::<Vec<u8>>()
        .into()
}

struct Agent {
    dealer: Dealer,
    registry: Registry,
    hostname: String,
    queue_full: bool,
}

impl Agent {
    /// Queues a message; samples are dropped (and said so once per outage) rather than letting
    /// a long collector outage block the agent.
    fn send(&mut self, msg: Message) {
        let name = msg.name();
        match self.dealer.try_send(Multipart::from(msg)) {
            Ok(()) => self.queue_full = false,
            Err(SocketError::QueueFull { hwm }) => {
                if !self.queue_full {
                    log::warn!(
                        "collector unreachable and {hwm} messages queued: dropping new {name} \
                         messages until it is back"
                    );
                }
                self.queue_full = true;
            }
            Err(e) => log::warn!("cannot queue {name}: {e}"),
        }
    }

    fn sample(&mut self, kind: Kind) {
        let msg = self.registry.message(kind, self.hostname.clone());
        if let Message::Metrics { values, .. } = &msg {
            log::debug!("sending {kind} ({} values)", values.len());
        }
        self.send(msg);
    }
}

/// Runs the agent until `shutdown` fires.
pub async fn run_agent(
    config: AgentConfig,
    registry: Registry,
    shutdown: Shutdown,
) -> Result<(), SocketError> {
    let routing_id = random_routing_id();
    let options = Options {
        routing_id: routing_id.clone(),
        ..config.socket.clone()
    };
    let dealer = Dealer::new(options);
    let events = dealer.events();
    dealer.connect(&config.collector)?;
    let mut link = LinkWatch::new(config.collector.clone(), Instant::now());
    log::info!(
        "agent {} for host {:?} connecting to {} (metrics every {:?} once the collector asks)",
        String::from_utf8_lossy(&routing_id),
        config.hostname,
        config.collector,
        config.interval
    );
    let mut agent = Agent {
        dealer,
        registry,
        hostname: config.hostname.clone(),
        queue_full: false,
    };
    agent.send(crate::hello());
    let mut model_throttle = Throttle::new(Throttle::MODEL_INTERVAL);
    let mut sending = false;
    let mut next_metrics = Instant::now();
    let mut last_heard = Instant::now();
    loop {
        let now = Instant::now();
        let mut due = last_heard + config.silence;
        if sending {
            due = due.min(next_metrics);
        }
        futures::select! {
            msg = agent.dealer.recv().fuse() => {
                let msg = match msg {
                    Ok(msg) => msg,
                    Err(e) => {
                        log::error!("socket failed: {e}");
                        break;
                    }
                };
                let now = Instant::now();
                last_heard = now;
                match Message::decode(&msg) {
                    Ok(Message::Control { text }) if text == Message::CTRL_MODEL => {
                        if model_throttle.ready(now) {
                            log::info!("collector asked for the model: sending it");
                            agent.sample(Kind::Model);
                        } else {
                            log::debug!("model asked again within 5 s: not resent");
                        }
                        if !sending {
                            sending = true;
                            next_metrics = now;
                            log::info!("sending metrics every {:?}", config.interval);
                        }
                    }
                    Ok(Message::Control { text }) if text == Message::CTRL_PING => {
                        log::debug!("ping from the collector");
                    }
                    Ok(Message::Control { text }) => {
                        log::debug!("ignoring CTRL {text:?} from the collector");
                    }
                    Ok(other) => log::warn!("unexpected {} from the collector; ignored", other.name()),
                    Err(e) => log::warn!("malformed message from the collector: {e}"),
                }
            }
            event = events.recv().fuse() => {
                // Why the collector cannot be reached, once per change (not once per retry).
                if let Ok(event) = event {
                    link.log_event("collector", &event, Instant::now());
                }
            }
            _ = runtime::sleep(due.saturating_duration_since(now)).fuse() => {
                let now = Instant::now();
                if sending && now >= next_metrics {
                    agent.sample(Kind::Metrics);
                    next_metrics += config.interval;
                    if next_metrics <= now {
                        next_metrics = now + config.interval;
                    }
                }
                if now >= last_heard + config.silence {
                    // The reason was logged once when the link's state began.
                    let why = match link.state().is_connected() {
                        true => String::new(),
                        false => format!(" (link {})", link.state().name()),
                    };
                    log::warn!(
                        "nothing from the collector for {:.0}s{why}; saying hello again",
                        now.saturating_duration_since(last_heard).as_secs_f64()
                    );
                    agent.send(crate::hello());
                    last_heard = now;
                }
            }
            _ = shutdown.wait().fuse() => break,
        }
    }
    log::info!("agent shutting down");
    agent.dealer.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_ids_are_16_upper_alphanumerics() {
        let a = random_routing_id();
        let b = random_routing_id();
        assert_eq!(a.len(), 16);
        assert!(a
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(a, b);
    }
}
