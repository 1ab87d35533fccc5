//! pyzmq-only tests of the reference metrics apps (`ref_agent.py`,
//! `ref_collector.py`, `ref_viewer.py`, keys by `make_keys.py`): they prove
//! the mirrors talk the series' protocol to each other over CURVE, so they can
//! serve as real peers for courier's own agent, collector and viewer. No
//! courier code is involved.
//!
//! Keys live in per-test scratch directories (never `~/.curve`), every peer
//! uses 127.0.0.1 and free ports, intervals are shortened by flags, and every
//! wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use courier_interop_tests::{
    event, free_port, is_event, make_keys, parse_event, Peer, METRIC_KEYS as METRICS,
    MODEL_KEYS as MODEL,
};
use serde_json::Value;

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(10);

/// Grace period for a clean exit after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

fn start_collector(keys: &Path, agent_port: u16, viewer_port: u16, extra: &[&str]) -> Peer {
    let agent_port = agent_port.to_string();
    let viewer_bind = format!("tcp://127.0.0.1:{viewer_port}");
    let keys = keys.display().to_string();
    let mut args = vec![
        "127.0.0.1",
        "--port",
        &agent_port,
        "--curve-dir",
        &keys,
        "--viewer-bind",
        &viewer_bind,
    ];
    args.extend_from_slice(extra);
    let mut collector = Peer::python("ref_collector.py", &args, "ref_collector");
    let agents_ep = format!("tcp://127.0.0.1:{agent_port}");
    collector.expect_event(
        "listening",
        &[("side", "agent"), ("endpoint", agents_ep.as_str())],
        WAIT,
    );
    collector.expect_event(
        "listening",
        &[("side", "viewer"), ("endpoint", viewer_bind.as_str())],
        WAIT,
    );
    collector
}

/// Starts an agent; returns it and its routing id.
fn start_agent(keys: &Path, port: u16, hostname: &str, extra: &[&str]) -> (Peer, String) {
    let port = port.to_string();
    let keys = keys.display().to_string();
    let mut args = vec![
        "127.0.0.1",
        "--port",
        &port,
        "--curve-dir",
        &keys,
        "--hostname",
        hostname,
    ];
    args.extend_from_slice(extra);
    let mut agent = Peer::python("ref_agent.py", &args, &format!("ref_agent-{hostname}"));
    let connecting = agent.expect_event("connecting", &[("hostname", hostname)], WAIT);
    let rid = connecting["routing_id"].as_str().unwrap().to_string();
    assert_eq!(rid.len(), 16, "{connecting}");
    assert!(
        rid.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "routing id not [A-Z0-9]{{16}}: {rid}"
    );
    (agent, rid)
}

fn start_viewer(keys: &Path, port: u16, name: &str, extra: &[&str]) -> Peer {
    let port = port.to_string();
    let keys = keys.display().to_string();
    let mut args = vec!["127.0.0.1", "--port", &port, "--curve-dir", &keys];
    args.extend_from_slice(extra);
    let mut viewer = Peer::python("ref_viewer.py", &args, name);
    viewer.expect_event("connecting", &[], WAIT);
    viewer
}

/// SIGTERM, then the `exit` event and a zero exit status.
fn stop(peer: &mut Peer) {
    peer.terminate();
    peer.expect_event("exit", &[("reason", "SIGTERM")], GRACE);
    let status = peer.expect_exit(GRACE);
    assert!(status.success(), "{} exited with {status}", peer.name());
}

/// The `metr` events of `viewer` so far for `hostname` and `kind`.
fn metr_events(viewer: &mut Peer, hostname: &str, kind: &str) -> Vec<Value> {
    viewer
        .events_so_far()
        .into_iter()
        .filter(|e| e["event"] == "metr" && e["hostname"] == hostname && e["kind"] == kind)
        .collect()
}

/// Waits until `viewer` printed at least `n` `metr` events for
/// `hostname`/`kind`; returns them all.
fn wait_metr(viewer: &mut Peer, hostname: &str, kind: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = metr_events(viewer, hostname, kind);
        if got.len() >= n {
            return got;
        }
        if Instant::now() >= deadline {
            viewer.fail(&format!(
                "wanted {n} METR {kind} for {hostname} within {WAIT:?}, got {}",
                got.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_values(values: &Value, names: &[&str]) {
    let obj = values.as_object().unwrap_or_else(|| panic!("{values}"));
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(keys, want, "{values}");
    for (k, v) in obj {
        let x = v
            .as_f64()
            .unwrap_or_else(|| panic!("{k} not a number: {values}"));
        assert!(x >= 0.0, "{k} negative: {values}");
    }
}

fn count(peer: &mut Peer, name: &str, fields: &[(&str, &str)]) -> usize {
    peer.lines_so_far()
        .iter()
        .filter(|l| is_event(l, name, fields))
        .count()
}

#[test]
fn agents_collector_viewers_exchange_model_and_metrics() {
    let t0 = Instant::now();
    let keys = make_keys(
        "metrics_python",
        &["agent", "collector", "client"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = start_collector(
        &keys,
        agent_port,
        viewer_port,
        &["--ping-interval", "0.5", "--stale-after", "10"],
    );

    // The first viewer says hello before any agent exists: nothing cached yet.
    let mut viewer = start_viewer(
        &keys,
        viewer_port,
        "ref_viewer-1",
        &["--hello-interval", "1"],
    );
    viewer.expect_event("connected", &[], WAIT);
    collector.expect_event("greeted", &[("models", "0")], WAIT);

    let agent_flags = ["--interval", "0.3", "--silence", "5"];
    let (mut alpha, alpha_id) = start_agent(&keys, agent_port, "alpha", &agent_flags);
    let (mut beta, beta_id) = start_agent(&keys, agent_port, "beta", &agent_flags);

    // The collector answers each agent's hello with CTRL model.
    for (agent, rid) in [(&mut alpha, &alpha_id), (&mut beta, &beta_id)] {
        let rid = rid.as_str();
        collector.expect_seen(
            event(
                "recv",
                &[
                    ("side", "agent"),
                    ("routing_id", rid),
                    ("header", "CTRL"),
                    ("text", "hello"),
                ],
            ),
            WAIT,
        );
        collector.expect_seen(
            event(
                "sent",
                &[
                    ("side", "agent"),
                    ("routing_id", rid),
                    ("header", "CTRL"),
                    ("text", "model"),
                ],
            ),
            WAIT,
        );
        agent.expect_event("sent", &[("header", "CTRL"), ("text", "hello")], WAIT);
        agent.expect_event("connected", &[], WAIT);
        agent.expect_event("recv", &[("header", "CTRL"), ("text", "model")], WAIT);
        let model = agent.expect_event("model_sent", &[], WAIT);
        check_values(&model["values"], &MODEL);
        agent.expect_event("metrics_sent", &[], WAIT);
        // Pings from the collector are only noted.
        agent.expect_event("recv", &[("header", "CTRL"), ("text", "ping")], WAIT);
    }

    // The viewer gets METR model and METR metrics of both hosts, as sent.
    for (agent, host) in [(&mut alpha, "alpha"), (&mut beta, "beta")] {
        let models = wait_metr(&mut viewer, host, "model", 1);
        check_values(&models[0]["values"], &MODEL);
        assert!(models[0]["values"]["mem.total"].as_f64().unwrap() > 0.0);
        let metrics = wait_metr(&mut viewer, host, "metrics", 3);
        for m in &metrics {
            check_values(&m["values"], &METRICS);
            assert_eq!(m["frames"], 4, "{m}");
        }
        // From the 2nd sample on, cpu.percent is a real 0..=100 percentage.
        for m in metrics.iter().skip(1) {
            let cpu = m["values"]["cpu.percent"].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&cpu), "cpu.percent {cpu}: {m}");
        }
        // Forwarded unchanged: each one is what the agent reported sending.
        for m in models.iter().chain(&metrics) {
            let kind = if m["kind"] == "model" {
                "model_sent"
            } else {
                "metrics_sent"
            };
            let values = m["values"].clone();
            agent.expect_seen(
                |l: &str| {
                    parse_event(l).is_some_and(|e| e["event"] == kind && e["values"] == values)
                },
                WAIT,
            );
        }
    }
    collector.expect_seen(
        event("forwarded", &[("hostname", "alpha"), ("viewers", "1")]),
        WAIT,
    );
    collector.expect_seen(
        event("forwarded", &[("hostname", "beta"), ("viewers", "1")]),
        WAIT,
    );
    viewer.expect_event("recv", &[("header", "CTRL"), ("text", "ping")], WAIT);

    // A viewer that comes later gets the cached model of both hosts on its
    // first hello, before any forwarded metrics.
    let mut late = start_viewer(
        &keys,
        viewer_port,
        "ref_viewer-2",
        &["--hello-interval", "1"],
    );
    late.expect_event("sent", &[("header", "CTRL"), ("text", "hello")], WAIT);
    let first = late.expect_event("metr", &[], WAIT);
    let second = late.expect_event("metr", &[], WAIT);
    let hosts: BTreeSet<&str> = [&first, &second]
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "model", "late viewer: {e}");
            check_values(&e["values"], &MODEL);
            e["hostname"].as_str().unwrap()
        })
        .collect();
    assert_eq!(hosts, BTreeSet::from(["alpha", "beta"]));
    let greeted = collector.expect_event("greeted", &[("models", "2")], WAIT);
    let late_peer = greeted["peer"].as_str().unwrap().to_string();
    wait_metr(&mut late, "alpha", "metrics", 1);
    wait_metr(&mut late, "beta", "metrics", 1);
    collector.expect_seen(
        event("forwarded", &[("hostname", "alpha"), ("viewers", "2")]),
        WAIT,
    );
    // Those models came from the cache: each agent sent its model only once,
    // and the late viewer's later hellos get no more.
    assert_eq!(count(&mut collector, "greeted", &[]), 2);
    collector.expect_event(
        "recv",
        &[
            ("side", "viewer"),
            ("peer", late_peer.as_str()),
            ("text", "hello"),
        ],
        WAIT,
    );
    assert_eq!(count(&mut alpha, "model_sent", &[]), 1);
    assert_eq!(count(&mut beta, "model_sent", &[]), 1);
    assert_eq!(count(&mut collector, "model_sent", &[]), 2);

    for peer in [
        &mut late,
        &mut viewer,
        &mut alpha,
        &mut beta,
        &mut collector,
    ] {
        stop(peer);
    }
    for agent in [&mut alpha, &mut beta] {
        assert!(
            !agent
                .lines_so_far()
                .iter()
                .any(|l| is_event(l, "silence", &[])),
            "{} reported silence",
            agent.name()
        );
    }
    eprintln!(
        "metrics mirrors exchanged model and metrics in {:?}",
        t0.elapsed()
    );
}

#[test]
fn collector_allowlists_stale_peers_replacement_and_restart() {
    let t0 = Instant::now();
    let keys = make_keys(
        "metrics_python_auth",
        &["agent", "collector", "client", "rogue"],
        &["client"],
    );
    let allow = keys.parent().unwrap().join("agents_allowlist");
    std::fs::create_dir_all(&allow).unwrap();
    std::fs::copy(keys.join("agent.key"), allow.join("agent.key")).unwrap();
    let allow_s = allow.display().to_string();
    let (agent_port, viewer_port) = (free_port(), free_port());
    let collector_flags = [
        "--agents-allowlist",
        allow_s.as_str(),
        "--ping-interval",
        "0.5",
        "--stale-after",
        "3",
    ];
    let mut collector = start_collector(&keys, agent_port, viewer_port, &collector_flags);

    // Keys outside the allowlists are refused, on both sides.
    let (mut rogue_agent, _) = start_agent(
        &keys,
        agent_port,
        "rogue",
        &["--key-name", "rogue", "--interval", "0.3"],
    );
    let mut rogue_viewer = start_viewer(
        &keys,
        viewer_port,
        "ref_viewer-rogue",
        &["--key-name", "rogue"],
    );
    rogue_agent.expect_event("handshake_failed_auth", &[], WAIT);
    rogue_viewer.expect_event("handshake_failed_auth", &[], WAIT);
    collector.expect_seen(
        event("auth", &[("side", "agent"), ("allowed", "false")]),
        WAIT,
    );
    collector.expect_seen(
        event("auth", &[("side", "viewer"), ("allowed", "false")]),
        WAIT,
    );

    // A viewer that says hello only once is dropped when stale.
    let mut lazy = start_viewer(
        &keys,
        viewer_port,
        "ref_viewer-lazy",
        &["--hello-interval", "60"],
    );
    lazy.expect_event("connected", &[], WAIT);
    collector.expect_seen(event("greeted", &[]), WAIT);
    collector.expect_seen(event("dropped", &[("side", "viewer")]), WAIT);

    // An allowed agent; then a new agent with the same hostname replaces it.
    let agent_flags = [
        "--interval",
        "0.3",
        "--silence",
        "1.5",
        "--model-min-interval",
        "1",
    ];
    let (mut first, first_id) = start_agent(&keys, agent_port, "gamma", &agent_flags);
    first.expect_event("model_sent", &[], WAIT);
    collector.expect_seen(
        event(
            "model_cached",
            &[("hostname", "gamma"), ("routing_id", first_id.as_str())],
        ),
        WAIT,
    );
    collector.expect_seen(
        event("auth", &[("side", "agent"), ("allowed", "true")]),
        WAIT,
    );
    stop(&mut first);
    let (mut second, second_id) = start_agent(&keys, agent_port, "gamma", &agent_flags);
    second.expect_event("model_sent", &[], WAIT);
    collector.expect_seen(
        event(
            "replaced",
            &[
                ("hostname", "gamma"),
                ("old_routing_id", first_id.as_str()),
                ("new_routing_id", second_id.as_str()),
            ],
        ),
        WAIT,
    );
    second.expect_event("metrics_sent", &[], WAIT);

    // The collector goes away: the agent notices the silence and says hello
    // again, without exiting.
    stop(&mut collector);
    second.expect_event("silence", &[], WAIT);
    second.expect_event("sent", &[("header", "CTRL"), ("text", "hello")], WAIT);
    assert!(second.try_wait().is_none(), "the agent exited on silence");

    // A new collector (nothing cached) gets metrics from gamma first: it asks
    // for the model, and the agent answers.
    let mut collector = start_collector(&keys, agent_port, viewer_port, &collector_flags);
    collector.expect_event(
        "model_requested",
        &[("hostname", "gamma"), ("routing_id", second_id.as_str())],
        WAIT,
    );
    second.expect_event("recv", &[("header", "CTRL"), ("text", "model")], WAIT);
    second.expect_event("model_sent", &[], WAIT);
    collector.expect_event("model_cached", &[("hostname", "gamma")], WAIT);

    // A viewer of the new collector gets gamma's model from the cache.
    let mut viewer = start_viewer(&keys, viewer_port, "ref_viewer", &[]);
    let m = viewer.expect_event("metr", &[], WAIT);
    assert_eq!(
        (m["hostname"].as_str(), m["kind"].as_str()),
        (Some("gamma"), Some("model")),
        "{m}"
    );
    viewer.expect_event("metr", &[("hostname", "gamma"), ("kind", "metrics")], WAIT);

    for peer in [
        &mut viewer,
        &mut lazy,
        &mut rogue_viewer,
        &mut rogue_agent,
        &mut second,
        &mut collector,
    ] {
        stop(peer);
    }
    // The refused peers never got a message through.
    assert_eq!(count(&mut rogue_viewer, "metr", &[]), 0);
    assert_eq!(count(&mut rogue_agent, "recv", &[]), 0);
    eprintln!(
        "collector auth/stale/replace/restart checks in {:?}",
        t0.elapsed()
    );
}
