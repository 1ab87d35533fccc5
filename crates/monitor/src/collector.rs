//! The collector: gathers agents' samples and forwards them to viewers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use courier_app::{peer_name, Shutdown};
use courier_socket::proto::message::MetricValues;
use courier_socket::{runtime, Endpoint, Message, Multipart, Options, Router, SocketError};
use futures::FutureExt;

/// Collector settings.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// Where agents connect.
    pub agents_bind: String,
    /// Where viewers connect.
    pub viewers_bind: String,
    /// How often to ping agents and viewers.
    pub ping_interval: Duration,
    /// Forget an agent or viewer silent for this long.
    pub stale_after: Duration,
    /// Socket options for the agents' side.
    pub agent_socket: Options,
    /// Socket options for the viewers' side.
    pub viewer_socket: Options,
}

impl CollectorConfig {
    /// Defaults: ping every 5 s, forget after 30 s, NULL security.
    pub fn new(agents_bind: impl Into<String>, viewers_bind: impl Into<String>) -> Self {
        CollectorConfig {
            agents_bind: agents_bind.into(),
            viewers_bind: viewers_bind.into(),
            ping_interval: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            agent_socket: Options::default(),
            viewer_socket: Options::default(),
        }
    }
}

struct AgentState {
    hostname: Option<String>,
    last_seen: Instant,
    last_model_ask: Option<Instant>,
}

/// What the collector knows; separate from the sockets so that it can be tested alone.
#[derive(Default)]
struct State {
    agents: HashMap<Bytes, AgentState>,
    /// hostname -> the agent's routing id (a new connection for a host replaces the old).
    hosts: HashMap<String, Bytes>,
    models: HashMap<String, MetricValues>,
    viewers: HashMap<Bytes, Instant>,
}

/// Messages to send: (routing id, message), to the agents' or the viewers' socket.
#[derive(Default)]
struct Outbox {
    agents: Vec<(Bytes, Message)>,
    viewers: Vec<(Bytes, Multipart)>,
}

/// How often to re-ask a host for its model while its metrics come without one (the agent
/// answers at most once per 5 s, so asking often only shortens the gap after a restart).
const MODEL_ASK_INTERVAL: Duration = Duration::from_secs(1);

impl State {
    fn on_agent(&mut self, id: Bytes, body: &Multipart, now: Instant, out: &mut Outbox) {
        let name = peer_name(&id);
        let agent = self.agents.entry(id.clone()).or_insert_with(|| {
            log::info!("agent {name} connected");
            AgentState {
                hostname: None,
                last_seen: now,
                last_model_ask: None,
            }
        });
        agent.last_seen = now;
        match Message::decode(body) {
            Ok(Message::Control { text }) if text == Message::CTRL_HELLO => {
                log::info!("hello from agent {name}: asking for its model");
                agent.last_model_ask = Some(now);
                out.agents.push((id, crate::control(Message::CTRL_MODEL)));
            }
            Ok(Message::Control { text }) => log::debug!("CTRL {text:?} from agent {name}"),
            Ok(Message::Metrics {
                hostname,
                values,
                kind,
            }) => {
                if agent.hostname.as_deref() != Some(hostname.as_str()) {
                    agent.hostname = Some(hostname.clone());
                }
                if let Some(old) = self.hosts.insert(hostname.clone(), id.clone()) {
                    if old != id {
                        log::info!(
                            "host {hostname:?} now reports through agent {name} (was {})",
                            peer_name(&old)
                        );
                        self.agents.remove(&old);
                    }
                }
                if kind == Message::KIND_MODEL {
                    log::info!("model of {hostname:?} received ({} values)", values.len());
                    self.models.insert(hostname.clone(), values);
                } else if !self.models.contains_key(&hostname) {
                    let agent = self.agents.get_mut(&id);
                    if let Some(agent) = agent {
                        let due = agent
                            .last_model_ask
                            .is_none_or(|t| now.saturating_duration_since(t) >= MODEL_ASK_INTERVAL);
                        if due {
                            log::info!("metrics from {hostname:?} without a model: asking for it");
                            agent.last_model_ask = Some(now);
                            out.agents
                                .push((id.clone(), crate::control(Message::CTRL_MODEL)));
                        }
                    }
                }
                for viewer in self.viewers.keys() {
                    let mut msg = body.clone();
                    msg.push_front(viewer.clone());
                    out.viewers.push((viewer.clone(), msg));
                }
            }
            Ok(other) => log::warn!("unexpected {} from agent {name}; ignored", other.name()),
            Err(e) => log::warn!("malformed message from agent {name}: {e}"),
        }
    }

    fn on_viewer(&mut self, id: Bytes, body: &Multipart, now: Instant, out: &mut Outbox) {
        let name = peer_name(&id);
        match Message::decode(body) {
            Ok(Message::Control { text }) if text == Message::CTRL_HELLO => {
                let first = self.viewers.insert(id.clone(), now).is_none();
                if first {
                    log::info!(
                        "viewer {name} said hello: sending the {} cached model(s)",
                        self.models.len()
                    );
                    for (hostname, values) in &self.models {
                        let mut msg =
                            Multipart::from(Message::model(hostname.clone(), values.clone()));
                        msg.push_front(id.clone());
                        out.viewers.push((id.clone(), msg));
                    }
                }
            }
            Ok(Message::Control { text }) => {
                if let Some(seen) = self.viewers.get_mut(&id) {
                    *seen = now;
                }
                log::debug!("CTRL {text:?} from viewer {name}");
            }
            Ok(other) => log::warn!("unexpected {} from viewer {name}; ignored", other.name()),
            Err(e) => log::warn!("malformed message from viewer {name}: {e}"),
        }
    }

    /// Forgets silent agents (and their hosts) and viewers; pings the others.
    fn tick(&mut self, now: Instant, stale_after: Duration, out: &mut Outbox) {
        let stale = |seen: Instant| now.saturating_duration_since(seen) > stale_after;
        let gone: Vec<Bytes> = self
            .agents
            .iter()
            .filter(|(_, a)| stale(a.last_seen))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(agent) = self.agents.remove(&id) {
                log::info!(
                    "agent {} dropped: silent for more than {stale_after:?}",
                    peer_name(&id)
                );
                if let Some(host) = agent.hostname {
                    if self.hosts.get(&host) == Some(&id) {
                        self.hosts.remove(&host);
                        self.models.remove(&host);
                    }
                }
            }
        }
        self.viewers.retain(|id, seen| {
            let keep = !stale(*seen);
            if !keep {
                log::info!(
                    "viewer {} dropped: silent for more than {stale_after:?}",
                    peer_name(id)
                );
            }
            keep
        });
        for id in self.agents.keys() {
            out.agents
                .push((id.clone(), crate::control(Message::CTRL_PING)));
        }
        for id in self.viewers.keys() {
            let mut msg = Multipart::from(crate::control(Message::CTRL_PING));
            msg.push_front(id.clone());
            out.viewers.push((id.clone(), msg));
        }
    }
}

/// A collector that is listening.
pub struct BoundCollector {
    config: CollectorConfig,
    agents: Router,
    viewers: Router,
    agents_endpoint: Endpoint,
    viewers_endpoint: Endpoint,
}

impl BoundCollector {
    /// Binds both endpoints.
    pub async fn bind(config: CollectorConfig) -> Result<BoundCollector, SocketError> {
        let agents = Router::new(config.agent_socket.clone());
        let agents_endpoint = agents.bind(&config.agents_bind).await?;
        let viewers = Router::new(config.viewer_socket.clone());
        let viewers_endpoint = viewers.bind(&config.viewers_bind).await?;
        log::info!("collector: agents on {agents_endpoint}, viewers on {viewers_endpoint}");
        Ok(BoundCollector {
            config,
            agents,
            viewers,
            agents_endpoint,
            viewers_endpoint,
        })
    }

    /// Where agents connect.
    pub fn agents_endpoint(&self) -> &Endpoint {
        &self.agents_endpoint
    }

    /// Where viewers connect.
    pub fn viewers_endpoint(&self) -> &Endpoint {
        &self.viewers_endpoint
    }

    /// Runs until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), SocketError> {
        let BoundCollector {
            config,
            agents,
            viewers,
            ..
        } = self;
        let mut state = State::default();
        let mut next_tick = Instant::now() + config.ping_interval;
        loop {
            let mut out = Outbox::default();
            let now = Instant::now();
            futures::select! {
                msg = agents.recv().fuse() => {
                    let (id, body) = msg?.pop_front();
                    if let Some(body) = body {
                        state.on_agent(id, &body, Instant::now(), &mut out);
                    }
                }
                msg = viewers.recv().fuse() => {
                    let (id, body) = msg?.pop_front();
                    if let Some(body) = body {
                        state.on_viewer(id, &body, Instant::now(), &mut out);
                    }
                }
                _ = runtime::sleep(next_tick.saturating_duration_since(now)).fuse() => {
                    state.tick(Instant::now(), config.stale_after, &mut out);
                    next_tick += config.ping_interval;
                }
                _ = shutdown.wait().fuse() => break,
            }
            for (id, msg) in out.agents {
                let mut msg = Multipart::from(msg);
                msg.push_front(id);
                agents.send(msg).await?;
            }
            for (_, msg) in out.viewers {
                viewers.send(msg).await?;
            }
        }
        log::info!("collector shutting down");
        agents.close().await;
        viewers.close().await;
        Ok(())
    }
}

/// Binds and runs a collector until `shutdown` fires.
pub async fn run_collector(config: CollectorConfig, shutdown: Shutdown) -> Result<(), SocketError> {
    BoundCollector::bind(config).await?.run(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_socket::proto::message::MetricValues;

    fn metr(host: &str, kind: &str, key: &str, v: i64) -> Multipart {
        let mut values = MetricValues::new();
        values.insert(key.into(), v.into());
        Message::Metrics {
            hostname: host.into(),
            values,
            kind: kind.into(),
        }
        .into()
    }

    fn ctrl(text: &str) -> Multipart {
        crate::control(text).into()
    }

    fn id(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn hello_is_answered_with_model_and_metrics_are_forwarded() {
        let mut s = State::default();
        let now = Instant::now();
        let mut out = Outbox::default();
        s.on_viewer(id("V1"), &ctrl("hello"), now, &mut out);
        s.on_agent(id("A1"), &ctrl("hello"), now, &mut out);
        assert_eq!(out.agents, vec![(id("A1"), crate::control("model"))]);
        let mut out = Outbox::default();
        s.on_agent(
            id("A1"),
            &metr("h1", "model", "mem.total", 100),
            now,
            &mut out,
        );
        s.on_agent(
            id("A1"),
            &metr("h1", "metrics", "mem.avail", 50),
            now,
            &mut out,
        );
        assert!(out.agents.is_empty());
        assert_eq!(out.viewers.len(), 2);
        let (to, msg) = &out.viewers[1];
        assert_eq!(to, &id("V1"));
        assert_eq!(msg.frames()[0], id("V1"));
        assert_eq!(
            msg.frames()[1..],
            metr("h1", "metrics", "mem.avail", 50).frames()[..]
        );
    }

    #[test]
    fn metrics_without_model_ask_for_it_at_most_every_second() {
        let mut s = State::default();
        let t0 = Instant::now();
        let mut out = Outbox::default();
        s.on_agent(id("A1"), &metr("h1", "metrics", "x", 1), t0, &mut out);
        s.on_agent(
            id("A1"),
            &metr("h1", "metrics", "x", 1),
            t0 + Duration::from_millis(500),
            &mut out,
        );
        assert_eq!(out.agents.len(), 1);
        s.on_agent(
            id("A1"),
            &metr("h1", "metrics", "x", 1),
            t0 + Duration::from_secs(1),
            &mut out,
        );
        assert_eq!(out.agents.len(), 2);
    }

    #[test]
    fn a_new_viewer_gets_cached_models_on_its_first_hello_only() {
        let mut s = State::default();
        let now = Instant::now();
        let mut out = Outbox::default();
        s.on_agent(
            id("A1"),
            &metr("h1", "model", "mem.total", 1),
            now,
            &mut out,
        );
        s.on_agent(
            id("A2"),
            &metr("h2", "model", "mem.total", 2),
            now,
            &mut out,
        );
        let mut out = Outbox::default();
        s.on_viewer(id("V"), &ctrl("hello"), now, &mut out);
        assert_eq!(out.viewers.len(), 2);
        let mut out = Outbox::default();
        s.on_viewer(id("V"), &ctrl("hello"), now, &mut out);
        assert!(out.viewers.is_empty());
    }

    #[test]
    fn stale_agents_leave_the_host_map_and_a_new_connection_replaces_the_old() {
        let mut s = State::default();
        let t0 = Instant::now();
        let mut out = Outbox::default();
        s.on_agent(
            id("OLD"),
            &metr("h1", "model", "mem.total", 1),
            t0,
            &mut out,
        );
        s.on_agent(id("NEW"), &metr("h1", "metrics", "x", 1), t0, &mut out);
        assert_eq!(s.hosts.get("h1"), Some(&id("NEW")));
        assert!(!s.agents.contains_key(&id("OLD")));
        s.tick(
            t0 + Duration::from_secs(31),
            Duration::from_secs(30),
            &mut out,
        );
        assert!(s.agents.is_empty() && s.hosts.is_empty() && s.models.is_empty());
    }

    #[test]
    fn bad_messages_are_survived() {
        let mut s = State::default();
        let now = Instant::now();
        let mut out = Outbox::default();
        s.on_agent(id("A"), &Multipart::from("GARBAGE"), now, &mut out);
        s.on_agent(id("A"), &Multipart::from("METR"), now, &mut out);
        s.on_viewer(id("V"), &Multipart::from("HELLO"), now, &mut out);
        assert!(out.agents.is_empty() && out.viewers.is_empty());
    }

    #[test]
    fn pings_go_to_everyone() {
        let mut s = State::default();
        let now = Instant::now();
        let mut out = Outbox::default();
        s.on_agent(id("A"), &ctrl("hello"), now, &mut out);
        s.on_viewer(id("V"), &ctrl("hello"), now, &mut out);
        let mut out = Outbox::default();
        s.tick(now, Duration::from_secs(30), &mut out);
        assert_eq!(out.agents, vec![(id("A"), crate::control("ping"))]);
        assert_eq!(out.viewers.len(), 1);
    }
}
