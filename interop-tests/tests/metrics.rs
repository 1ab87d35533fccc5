//! courier's metrics programs (`courier-agent`, `courier-collector`,
//! `courier-top` of the `courier-monitor` package) against the pyzmq mirrors
//! of the reference apps (`ref_agent.py`, `ref_collector.py`,
//! `ref_viewer.py`), all over CURVE with keys made by `make_keys.py`:
//!
//! 1. our agent against the Python collector, seen by the Python viewer;
//! 2. the Python agent against our collector, seen by both viewers, and late
//!    viewers getting the cached models first;
//! 3. mixed fleets (one agent of each kind) on either collector, with
//!    `courier-top --json` as the viewer;
//! 4. a collector killed (SIGKILL) and restarted on the same ports: agents and
//!    viewer recover on their own (with either collector);
//! 5. our collector survives garbage from an agent;
//! 6. allowlists of our collector (viewers, agents, and a live reload);
//! 7. `courier-top`'s terminal UI in tmux.
//!
//! Keys live in per-test scratch directories (never `~/.curve`); every peer
//! uses 127.0.0.1 and its own free ports; intervals are shortened by flags;
//! every wait is bounded. Measured times go to stderr (`--nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use courier_interop_tests::{
    cargo_bin_of, event, free_port, is_event, make_keys, parse_event, python, Peer,
    METRIC_KEYS as METRICS, MODEL_KEYS as MODEL,
};
use serde_json::Value;

/// Upper bound of every single wait.
const WAIT: Duration = Duration::from_secs(10);

/// Grace period for a clean exit after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Keys and processes
// ---------------------------------------------------------------------------

/// A binary of `courier-monitor` (built once per test process).
fn bin(name: &str) -> PathBuf {
    cargo_bin_of("courier-monitor", name)
}

/// `args` as owned strings.
fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_string()).collect()
}

/// Spawns our binary `name` with `args`, logging at info level.
fn spawn_ours(name: &str, args: &[String], label: &str) -> Peer {
    let mut cmd = Command::new(bin(name));
    cmd.args(args).env("RUST_LOG", "info");
    Peer::spawn(cmd, label)
}

fn keys_arg(keys: &Path) -> String {
    keys.display().to_string()
}

/// Our collector: agents on `agent_port`, viewers on `viewer_port`, pinging
/// every 500 ms.
fn our_collector(keys: &Path, agent_port: u16, viewer_port: u16, extra: &[&str]) -> Peer {
    let mut args = strings(&[
        "127.0.0.1",
        "--port",
        &agent_port.to_string(),
        "--viewer-bind",
        &format!("tcp://127.0.0.1:{viewer_port}"),
        "--ping-interval",
        "500ms",
        "--stale-after",
        "10s",
        "--curve-dir",
        &keys_arg(keys),
    ]);
    args.extend(strings(extra));
    let mut collector = spawn_ours("courier-collector", &args, "courier-collector");
    let ready = format!(
        "collector: agents on tcp://127.0.0.1:{agent_port}, viewers on tcp://127.0.0.1:{viewer_port}"
    );
    collector.expect_line(|l| l.contains(&ready), WAIT);
    collector
}

/// Our agent reporting as `hostname`; returns it and its routing id (from its
/// log), checked to be 16 `[A-Z0-9]` characters.
fn our_agent(
    keys: &Path,
    port: u16,
    hostname: &str,
    silence: &str,
    extra: &[&str],
) -> (Peer, String) {
    let mut args = strings(&[
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--interval",
        "300ms",
        "--silence",
        silence,
        "--hostname",
        hostname,
        "--curve-dir",
        &keys_arg(keys),
    ]);
    args.extend(strings(extra));
    let mut agent = spawn_ours("courier-agent", &args, &format!("courier-agent-{hostname}"));
    let marker = format!(" for host {hostname:?} connecting to tcp://127.0.0.1:{port}");
    let line = agent.expect_line(|l| l.contains(&marker), WAIT);
    let rid = line
        .split("courier_monitor: agent ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no routing id in {line:?}"))
        .to_string();
    check_routing_id(&rid);
    (agent, rid)
}

fn check_routing_id(rid: &str) {
    assert_eq!(rid.len(), 16, "routing id {rid:?}");
    assert!(
        rid.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "routing id not [A-Z0-9]{{16}}: {rid}"
    );
}

/// `courier-top --json` with key pair `key_name`, saying hello every second.
fn our_top(keys: &Path, port: u16, key_name: &str, label: &str) -> Peer {
    our_top_with(keys, port, key_name, label, &[])
}

/// [`our_top`] with more arguments.
fn our_top_with(keys: &Path, port: u16, key_name: &str, label: &str, extra: &[&str]) -> Peer {
    let mut args = strings(&[
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--json",
        "--hello-interval",
        "1s",
        "--curve-dir",
        &keys_arg(keys),
        "--key-name",
        key_name,
    ]);
    args.extend(strings(extra));
    spawn_ours("courier-top", &args, label)
}

fn ref_collector(keys: &Path, agent_port: u16, viewer_port: u16) -> Peer {
    let agent_port = agent_port.to_string();
    let viewer_bind = format!("tcp://127.0.0.1:{viewer_port}");
    let keys = keys_arg(keys);
    let args = [
        "127.0.0.1",
        "--port",
        &agent_port,
        "--curve-dir",
        &keys,
        "--viewer-bind",
        &viewer_bind,
        "--ping-interval",
        "0.5",
        "--stale-after",
        "10",
    ];
    let mut collector = Peer::python("ref_collector.py", args, "ref_collector");
    collector.expect_event("listening", &[("side", "agent")], WAIT);
    collector.expect_event("listening", &[("side", "viewer")], WAIT);
    collector
}

/// `ref_agent.py` reporting as `hostname`; returns it and its routing id.
fn ref_agent(
    keys: &Path,
    port: u16,
    hostname: &str,
    silence: &str,
    extra: &[&str],
) -> (Peer, String) {
    let port = port.to_string();
    let keys = keys_arg(keys);
    let mut args = vec![
        "127.0.0.1",
        "--port",
        &port,
        "--curve-dir",
        &keys,
        "--hostname",
        hostname,
        "--interval",
        "0.3",
        "--silence",
        silence,
    ];
    args.extend_from_slice(extra);
    let mut agent = Peer::python("ref_agent.py", &args, &format!("ref_agent-{hostname}"));
    let connecting = agent.expect_event("connecting", &[("hostname", hostname)], WAIT);
    let rid = connecting["routing_id"].as_str().unwrap().to_string();
    check_routing_id(&rid);
    (agent, rid)
}

fn ref_viewer(keys: &Path, port: u16, label: &str, extra: &[&str]) -> Peer {
    let port = port.to_string();
    let keys = keys_arg(keys);
    let mut args = vec![
        "127.0.0.1",
        "--port",
        &port,
        "--curve-dir",
        &keys,
        "--hello-interval",
        "1",
    ];
    args.extend_from_slice(extra);
    let mut viewer = Peer::python("ref_viewer.py", &args, label);
    viewer.expect_event("connecting", &[], WAIT);
    viewer
}

/// SIGTERM to a Python peer: its `exit` event and a zero status.
fn stop_ref(peer: &mut Peer) {
    peer.terminate();
    peer.expect_event("exit", &[("reason", "SIGTERM")], GRACE);
    let status = peer.expect_exit(GRACE);
    assert!(status.success(), "{} exited with {status}", peer.name());
}

/// SIGTERM to one of our programs: a zero status, and no panic in its output.
fn stop_ours(peer: &mut Peer) {
    peer.terminate();
    let status = peer.expect_exit(GRACE);
    if !status.success() {
        peer.fail(&format!("exited with {status} after SIGTERM"));
    }
    assert_no_panic(peer);
}

fn assert_no_panic(peer: &mut Peer) {
    let out = peer.lines_so_far().join("\n");
    let err = peer.stderr_so_far();
    if out.contains("panicked") || err.contains("panicked") {
        peer.fail("panicked");
    }
}

// ---------------------------------------------------------------------------
// What viewers print
// ---------------------------------------------------------------------------

fn unix_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Waits until `peer` printed at least `n` JSON objects matching `pred`;
/// returns them all.
fn wait_json(peer: &mut Peer, what: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got: Vec<Value> = peer.events_so_far().into_iter().filter(&pred).collect();
        if got.len() >= n {
            return got;
        }
        if Instant::now() >= deadline {
            peer.fail(&format!(
                "wanted {n} {what} within {WAIT:?}, got {}",
                got.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ref_viewer.py`'s `metr` events for `hostname`/`kind`: at least `n`.
fn wait_metr(viewer: &mut Peer, hostname: &str, kind: &str, n: usize) -> Vec<Value> {
    wait_json(viewer, &format!("METR {kind} of {hostname}"), n, |e| {
        e["event"] == "metr" && e["hostname"] == hostname && e["kind"] == kind
    })
}

/// How many `metr` events of `hostname`'s metrics `viewer` printed so far.
fn count_metr(viewer: &mut Peer, hostname: &str) -> usize {
    count_events(
        viewer,
        "metr",
        &[("hostname", hostname), ("kind", "metrics")],
    )
}

/// `courier-top --json` lines for `hostname`/`kind` received at or after
/// `since` (unix ms): at least `n`.
fn wait_top(top: &mut Peer, hostname: &str, kind: &str, n: usize, since: u64) -> Vec<Value> {
    wait_json(
        top,
        &format!("JSON lines {kind} of {hostname} since {since}"),
        n,
        |e| {
            e["hostname"] == hostname
                && e["kind"] == kind
                && e["received"].as_u64().is_some_and(|r| r >= since)
        },
    )
}

/// The keys of a JSON line, in order of appearance.
fn keys_in_order(line: &str, v: &Value) -> Vec<String> {
    let mut keys: Vec<(usize, String)> = v
        .as_object()
        .unwrap()
        .keys()
        .map(|k| {
            (
                line.find(&format!("\"{k}\":")).unwrap_or(usize::MAX),
                k.clone(),
            )
        })
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// A status line of `courier-top --json` (`{"status":...}`, README "Monitoring").
fn is_status(v: &Value) -> bool {
    v.get("status").is_some()
}

/// The status lines `top` printed so far.
fn top_statuses(top: &mut Peer) -> Vec<Value> {
    top.events_so_far().into_iter().filter(is_status).collect()
}

/// Their states, in order.
fn top_states(top: &mut Peer) -> Vec<String> {
    top_statuses(top)
        .iter()
        .map(|v| v["status"].as_str().unwrap().to_string())
        .collect()
}

/// Checks a status line's shape: exactly `status`, `endpoint`, `reason`, `since` in that
/// order; a known state; a reason for the failures only; `since` in milliseconds.
fn check_status_line(line: &str, v: &Value, t0_ms: u64) {
    assert_eq!(
        keys_in_order(line, v),
        ["status", "endpoint", "reason", "since"],
        "{line}"
    );
    let state = v["status"].as_str().unwrap();
    let states = [
        "connecting",
        "unreachable",
        "refused",
        "connected",
        "lost",
        "silent",
    ];
    assert!(states.contains(&state), "{line}");
    assert!(
        v["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("tcp://127.0.0.1:")),
        "{line}"
    );
    let failure = ["unreachable", "refused", "lost"].contains(&state);
    assert_eq!(v["reason"].is_string(), failure, "{line}");
    assert!(failure || v["reason"].is_null(), "{line}");
    let since = v["since"].as_u64().unwrap();
    // `silent` dates from the last message, which may precede t0 by a little.
    assert!(
        (t0_ms.saturating_sub(60_000)..=unix_ms() + 1000).contains(&since),
        "since {since}: {line}"
    );
}

/// Every stdout line of `courier-top --json` is one JSON object: a status line, or a metrics
/// line with exactly `hostname`, `kind`, `values`, `received` in that order.
fn check_top_lines(top: &mut Peer, t0_ms: u64) {
    let now = unix_ms();
    for line in top.lines_so_far() {
        let v = parse_event(&line).unwrap_or_else(|| panic!("not a JSON object: {line:?}"));
        if is_status(&v) {
            check_status_line(&line, &v, t0_ms);
            continue;
        }
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["hostname", "kind", "received", "values"], "{line}");
        let order = ["\"hostname\":", "\"kind\":", "\"values\":", "\"received\":"]
            .map(|k| line.find(k).unwrap_or(usize::MAX));
        assert!(
            line.starts_with("{\"hostname\":") && order.windows(2).all(|w| w[0] < w[1]),
            "keys out of order: {line}"
        );
        let received = v["received"].as_u64().unwrap();
        assert!(
            (t0_ms..=now + 1000).contains(&received),
            "received {received} outside [{t0_ms}, {now}]: {line}"
        );
        assert!(v["values"].is_object(), "{line}");
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

/// Checks the `values` of METR metrics samples: all 9 metrics, and
/// `cpu.percent` 0..=100 from the 2nd sample on. Our agent leaves
/// `cpu.percent` out of its very first sample (documented in
/// `courier_metrics::CpuPercent`: no delta yet), so with `ours` the first one
/// may have the other 8 only.
fn check_metrics_samples(samples: &[Value], ours: bool) {
    for (i, m) in samples.iter().enumerate() {
        let values = &m["values"];
        if i == 0 && ours && values.get("cpu.percent").is_none() {
            check_values(values, &METRICS[..8]);
        } else {
            check_values(values, &METRICS);
        }
        if i > 0 {
            let cpu = values["cpu.percent"].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&cpu), "cpu.percent {cpu}: {m}");
        }
    }
}

/// A field of /proc/meminfo, in kB.
fn meminfo(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    text.lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name == field).then(|| rest.split_whitespace().next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/meminfo"))
}

fn proc_uptime() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// Log lines of one of our programs containing `needle`.
fn count_lines(peer: &mut Peer, needle: &str) -> usize {
    peer.lines_so_far()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

/// Waits until `agent` (ref_agent.py) reported sending METR metrics with
/// exactly `values`: what a viewer got was forwarded unchanged.
fn expect_sent(agent: &mut Peer, values: &Value) {
    agent.expect_seen(
        |l: &str| {
            parse_event(l).is_some_and(|e| e["event"] == "metrics_sent" && e["values"] == *values)
        },
        WAIT,
    );
}

fn count_events(peer: &mut Peer, name: &str, fields: &[(&str, &str)]) -> usize {
    peer.lines_so_far()
        .iter()
        .filter(|l| is_event(l, name, fields))
        .count()
}

// ---------------------------------------------------------------------------
// 1. our agent -> ref_collector -> ref_viewer
// ---------------------------------------------------------------------------

#[test]
fn our_agent_reports_to_the_python_collector() {
    let t0 = Instant::now();
    let keys = make_keys(
        "metrics_ours_1",
        &["agent", "collector", "client"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = ref_collector(&keys, agent_port, viewer_port);
    let mut viewer = ref_viewer(&keys, viewer_port, "ref_viewer", &[]);
    viewer.expect_event("connected", &[], WAIT);
    collector.expect_seen(event("greeted", &[]), WAIT);

    let (mut agent, rid) = our_agent(&keys, agent_port, "rust-one", "5s", &[]);
    let ids = [("side", "agent"), ("routing_id", rid.as_str())];
    collector.expect_seen(event("learned", &ids), WAIT);
    collector.expect_seen(
        event(
            "recv",
            &[
                ("side", "agent"),
                ("routing_id", rid.as_str()),
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
                ("routing_id", rid.as_str()),
                ("header", "CTRL"),
                ("text", "model"),
            ],
        ),
        WAIT,
    );
    // The model, parsed by Python's json.loads, is this machine's.
    let cached = collector.expect_seen(
        event(
            "model_cached",
            &[("hostname", "rust-one"), ("routing_id", rid.as_str())],
        ),
        WAIT,
    );
    let cached = parse_event(&cached).unwrap();
    check_values(&cached["values"], &MODEL);
    assert_eq!(
        cached["values"]["mem.total"].as_u64(),
        Some(meminfo("MemTotal")),
        "{cached}"
    );
    assert_eq!(
        cached["values"]["mem.swap.total"].as_u64(),
        Some(meminfo("SwapTotal")),
        "{cached}"
    );
    collector.expect_seen(
        event(
            "recv",
            &[
                ("side", "agent"),
                ("routing_id", rid.as_str()),
                ("header", "METR"),
                ("hostname", "rust-one"),
                ("kind", "metrics"),
                ("frames", "4"),
            ],
        ),
        WAIT,
    );
    collector.expect_seen(
        event(
            "forwarded",
            &[
                ("hostname", "rust-one"),
                ("kind", "metrics"),
                ("viewers", "1"),
            ],
        ),
        WAIT,
    );

    // The Python viewer gets them forwarded, parsed by Python.
    let models = wait_metr(&mut viewer, "rust-one", "model", 1);
    assert_eq!(models[0]["values"], cached["values"], "{}", models[0]);
    let metrics = wait_metr(&mut viewer, "rust-one", "metrics", 4);
    check_metrics_samples(&metrics, true);
    for m in models.iter().chain(&metrics) {
        assert_eq!(m["frames"], 4, "{m}");
        assert!(m.get("raw").is_none(), "JSON Python could not parse: {m}");
    }
    let uptime = metrics.last().unwrap()["values"]["sys.uptime"]
        .as_f64()
        .unwrap();
    let real = proc_uptime();
    assert!(
        (real - 30.0..=real + 1.0).contains(&uptime),
        "sys.uptime {uptime} vs /proc/uptime {real}"
    );
    // The agent sent its model before its metrics: the collector never had to
    // ask again, nor did the agent go silent or warn.
    assert_eq!(count_events(&mut collector, "model_requested", &[]), 0);
    assert_eq!(count_events(&mut collector, "model_cached", &[]), 1);
    assert_eq!(
        count_lines(&mut agent, "WARN"),
        0,
        "{:?}",
        agent.lines_so_far()
    );
    assert_eq!(
        count_events(
            &mut collector,
            "recv",
            &[("side", "agent"), ("header", "CTRL"), ("text", "hello")]
        ),
        1
    );

    stop_ours(&mut agent);
    assert_eq!(count_lines(&mut agent, "agent shutting down"), 1);
    stop_ref(&mut viewer);
    stop_ref(&mut collector);
    eprintln!(
        "[1] our agent -> ref_collector -> ref_viewer: {:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 2. ref_agent -> our collector -> ref_viewer and courier-top --json
// ---------------------------------------------------------------------------

#[test]
fn python_agents_report_to_our_collector() {
    let t0 = Instant::now();
    let t0_ms = unix_ms();
    let keys = make_keys(
        "metrics_ours_2",
        &["agent", "collector", "client", "top"],
        &["client", "top"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = our_collector(&keys, agent_port, viewer_port, &[]);
    let mut viewer = ref_viewer(&keys, viewer_port, "ref_viewer", &[]);
    let mut top = our_top(&keys, viewer_port, "top", "courier-top");
    viewer.expect_event("connected", &[], WAIT);
    collector.expect_line(
        |l| l.contains("said hello: sending the 0 cached model(s)"),
        WAIT,
    );
    collector.expect_line(
        |l| l.contains("said hello: sending the 0 cached model(s)"),
        WAIT,
    );

    let (mut alpha, alpha_id) = ref_agent(&keys, agent_port, "py-alpha", "5", &[]);
    let (mut beta, beta_id) = ref_agent(&keys, agent_port, "py-beta", "5", &[]);
    for (agent, rid, host) in [
        (&mut alpha, &alpha_id, "py-alpha"),
        (&mut beta, &beta_id, "py-beta"),
    ] {
        // Our collector answers hello with CTRL model, then pings.
        agent.expect_event("connected", &[], WAIT);
        agent.expect_event("recv", &[("header", "CTRL"), ("text", "model")], WAIT);
        let model = agent.expect_event("model_sent", &[], WAIT);
        check_values(&model["values"], &MODEL);
        agent.expect_event("metrics_sent", &[], WAIT);
        agent.expect_event("recv", &[("header", "CTRL"), ("text", "ping")], WAIT);
        collector.expect_seen(
            |l: &str| l.contains(&format!("hello from agent {rid}: asking for its model")),
            WAIT,
        );
        collector.expect_seen(
            |l: &str| l.contains(&format!("model of {host:?} received (2 values)")),
            WAIT,
        );
    }

    // Both viewers get every host's model and metrics, values unchanged.
    for (agent, host) in [(&mut alpha, "py-alpha"), (&mut beta, "py-beta")] {
        let model_sent = agent
            .events_so_far()
            .into_iter()
            .find(|e| e["event"] == "model_sent")
            .unwrap()["values"]
            .clone();
        let models = wait_metr(&mut viewer, host, "model", 1);
        assert_eq!(models[0]["values"], model_sent);
        let metrics = wait_metr(&mut viewer, host, "metrics", 3);
        check_metrics_samples(&metrics, false);
        let top_models = wait_top(&mut top, host, "model", 1, t0_ms);
        assert_eq!(top_models[0]["values"], model_sent);
        let top_metrics = wait_top(&mut top, host, "metrics", 3, t0_ms);
        check_metrics_samples(&top_metrics, false);
        for m in metrics.iter().chain(&top_metrics) {
            expect_sent(agent, &m["values"]);
        }
    }
    check_top_lines(&mut top, t0_ms);

    // Viewers that come later get the cached models of both hosts first.
    let late_ms = unix_ms();
    let mut late_viewer = ref_viewer(&keys, viewer_port, "ref_viewer-late", &[]);
    let mut late_top = our_top(&keys, viewer_port, "client", "courier-top-late");
    let first = [
        late_viewer.expect_event("metr", &[], WAIT),
        late_viewer.expect_event("metr", &[], WAIT),
    ];
    // Its first two metrics lines (status lines say how the link goes meanwhile).
    let metr = |l: &str| !l.contains("\"status\":");
    let first_top = [
        late_top.expect_line(metr, WAIT),
        late_top.expect_line(metr, WAIT),
    ]
    .map(|l| parse_event(&l).unwrap_or_else(|| panic!("not JSON: {l}")));
    for pair in [&first, &first_top] {
        let hosts: BTreeSet<&str> = pair
            .iter()
            .map(|e| {
                assert_eq!(e["kind"], "model", "late viewer's first METR: {e}");
                check_values(&e["values"], &MODEL);
                e["hostname"].as_str().unwrap()
            })
            .collect();
        assert_eq!(hosts, BTreeSet::from(["py-alpha", "py-beta"]));
    }
    collector.expect_seen(|l: &str| l.contains("sending the 2 cached model(s)"), WAIT);
    assert_eq!(
        count_lines(&mut collector, "sending the 2 cached model(s)"),
        2
    );
    wait_metr(&mut late_viewer, "py-alpha", "metrics", 1);
    wait_top(&mut late_top, "py-beta", "metrics", 1, late_ms);
    check_top_lines(&mut late_top, late_ms);
    // Those came from the cache: each agent sent its model once.
    assert_eq!(count_events(&mut alpha, "model_sent", &[]), 1);
    assert_eq!(count_events(&mut beta, "model_sent", &[]), 1);
    assert_eq!(count_events(&mut alpha, "model_skipped", &[]), 0);
    assert_eq!(count_lines(&mut collector, "WARN"), 0);

    // A viewer that goes away (the collector still forwards to it until it
    // is stale) does not disturb the others.
    stop_ref(&mut viewer);
    stop_ours(&mut late_top);
    let gone_ms = unix_ms();
    let seen = count_metr(&mut late_viewer, "py-beta");
    wait_top(&mut top, "py-alpha", "metrics", 3, gone_ms);
    wait_metr(&mut late_viewer, "py-beta", "metrics", seen + 3);
    assert_eq!(count_lines(&mut collector, "WARN"), 0);

    for peer in [&mut top, &mut collector] {
        stop_ours(peer);
    }
    for peer in [&mut late_viewer, &mut alpha, &mut beta] {
        stop_ref(peer);
    }
    eprintln!(
        "[2] ref_agents -> our collector -> both viewers: {:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 3. mixed fleets
// ---------------------------------------------------------------------------

/// One agent of each kind and `courier-top --json` on `collector`; both hosts
/// show up with both kinds.
fn mixed_fleet(keys: &Path, agent_port: u16, viewer_port: u16, tag: &str) -> (Peer, Peer, Peer) {
    let t0_ms = unix_ms();
    let mut top = our_top(keys, viewer_port, "client", "courier-top");
    let rust_host = format!("rust-{tag}");
    let py_host = format!("py-{tag}");
    let (ours, _) = our_agent(keys, agent_port, &rust_host, "5s", &[]);
    let (theirs, _) = ref_agent(keys, agent_port, &py_host, "5", &[]);
    for host in [&rust_host, &py_host] {
        let models = wait_top(&mut top, host, "model", 1, t0_ms);
        check_values(&models[0]["values"], &MODEL);
        assert_eq!(
            models[0]["values"]["mem.total"].as_u64(),
            Some(meminfo("MemTotal"))
        );
        let metrics = wait_top(&mut top, host, "metrics", 4, t0_ms);
        check_metrics_samples(&metrics, *host == rust_host);
    }
    check_top_lines(&mut top, t0_ms);
    let hosts: BTreeSet<String> = top
        .events_so_far()
        .iter()
        .filter(|e| !is_status(e))
        .map(|e| e["hostname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts, BTreeSet::from([rust_host, py_host]));
    (top, ours, theirs)
}

#[test]
fn mixed_fleet_on_our_collector() {
    let t0 = Instant::now();
    let keys = make_keys(
        "metrics_ours_3a",
        &["agent", "collector", "client"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = our_collector(&keys, agent_port, viewer_port, &[]);
    let (mut top, mut ours, mut theirs) = mixed_fleet(&keys, agent_port, viewer_port, "3a");
    assert_eq!(count_lines(&mut collector, "WARN"), 0);
    assert_eq!(count_lines(&mut collector, "without a model"), 0);
    for peer in [&mut top, &mut ours, &mut collector] {
        stop_ours(peer);
    }
    stop_ref(&mut theirs);
    eprintln!("[3a] mixed fleet on our collector: {:?}", t0.elapsed());
}

#[test]
fn mixed_fleet_on_the_python_collector() {
    let t0 = Instant::now();
    let keys = make_keys(
        "metrics_ours_3b",
        &["agent", "collector", "client"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = ref_collector(&keys, agent_port, viewer_port);
    let (mut top, mut ours, mut theirs) = mixed_fleet(&keys, agent_port, viewer_port, "3b");
    // Our viewer is a proper viewer of the Python collector: greeted once,
    // pinged, forwarded to.
    collector.expect_seen(event("greeted", &[]), WAIT);
    collector.expect_seen(
        event(
            "recv",
            &[("side", "viewer"), ("header", "CTRL"), ("text", "hello")],
        ),
        WAIT,
    );
    collector.expect_seen(
        event("forwarded", &[("hostname", "rust-3b"), ("viewers", "1")]),
        WAIT,
    );
    collector.expect_seen(
        event("forwarded", &[("hostname", "py-3b"), ("viewers", "1")]),
        WAIT,
    );
    assert_eq!(count_events(&mut collector, "send_error", &[]), 0);
    assert_eq!(count_events(&mut collector, "model_requested", &[]), 0);
    for peer in [&mut top, &mut ours] {
        stop_ours(peer);
    }
    stop_ref(&mut theirs);
    stop_ref(&mut collector);
    eprintln!("[3b] mixed fleet on ref_collector: {:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------
// 4. collector restart
// ---------------------------------------------------------------------------

/// Kill-to-restart delay: longer than the agents' `--silence 2s`, so that
/// both notice the silence and say hello again.
const RESTART_AFTER: Duration = Duration::from_millis(2500);

/// "Within a few seconds": how soon after the restart the viewer must get
/// metrics of both hosts again (reconnect backoff <= 1 s, hello every 1 s).
const RECOVERY: Duration = Duration::from_secs(6);

/// Runs the restart scenario; `start` starts the collector (ours or Python's)
/// and `asked_for_model` tells whether it asked `hostname` for its model.
fn restart_scenario(
    label: &str,
    start: &dyn Fn(&Path, u16, u16) -> Peer,
    asked_for_model: &dyn Fn(&mut Peer, &str, &str) -> bool,
) {
    let t0 = Instant::now();
    let t0_ms = unix_ms();
    let keys = make_keys(label, &["agent", "collector", "client"], &["client"]);
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = start(&keys, agent_port, viewer_port);
    let mut top = our_top(&keys, viewer_port, "client", "courier-top");
    let (mut ours, ours_id) = our_agent(&keys, agent_port, "rust-r", "2s", &[]);
    let (mut theirs, theirs_id) = ref_agent(&keys, agent_port, "py-r", "2", &[]);
    for host in ["rust-r", "py-r"] {
        wait_top(&mut top, host, "model", 1, t0_ms);
        wait_top(&mut top, host, "metrics", 2, t0_ms);
    }

    collector.stop(); // SIGKILL
    let killed_ms = unix_ms();
    std::thread::sleep(RESTART_AFTER);
    let restart = Instant::now();
    let restart_ms = unix_ms();
    let mut collector = start(&keys, agent_port, viewer_port);

    // Nothing else is touched: metrics of both hosts reach the viewer again.
    let mut recovered = Vec::new();
    for host in ["rust-r", "py-r"] {
        wait_top(&mut top, host, "metrics", 2, restart_ms);
        recovered.push((host, restart.elapsed()));
    }
    for (host, took) in &recovered {
        assert!(
            *took <= RECOVERY,
            "{label}: metrics of {host} back only {took:?} after the restart (want <= {RECOVERY:?})"
        );
    }
    // The agents noticed the silence and said hello again; the new collector
    // heard it and asked them for their models (and got them: a fresh model
    // reaches the viewer).
    ours.expect_seen(|l: &str| l.contains("saying hello again"), WAIT);
    theirs.expect_seen(event("silence", &[]), WAIT);
    let deadline = Instant::now() + WAIT;
    for (host, rid) in [("rust-r", &ours_id), ("py-r", &theirs_id)] {
        while !asked_for_model(&mut collector, host, rid) {
            if Instant::now() >= deadline {
                collector.fail(&format!("never asked {host} ({rid}) for its model"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for host in ["rust-r", "py-r"] {
        wait_top(&mut top, host, "model", 1, restart_ms);
    }
    let models_back = restart.elapsed();
    // Nobody exited meanwhile.
    for peer in [&mut top, &mut ours, &mut theirs] {
        assert!(peer.try_wait().is_none(), "{} exited", peer.name());
    }
    let gap: Vec<u64> = ["rust-r", "py-r"]
        .iter()
        .map(|host| {
            let before = top
                .events_so_far()
                .iter()
                .filter(|e| e["hostname"] == *host && e["kind"] == "metrics")
                .filter_map(|e| e["received"].as_u64())
                .filter(|r| *r < killed_ms)
                .max()
                .unwrap();
            let after = top
                .events_so_far()
                .iter()
                .filter(|e| e["hostname"] == *host && e["kind"] == "metrics")
                .filter_map(|e| e["received"].as_u64())
                .find(|r| *r >= restart_ms)
                .unwrap();
            after - before
        })
        .collect();
    // Samples queued by an agent during the outage arrive together: how many
    // metrics lines per host came within 100 ms of the first one after the
    // restart.
    let burst: Vec<usize> = ["rust-r", "py-r"]
        .iter()
        .map(|host| {
            let times: Vec<u64> = top
                .events_so_far()
                .iter()
                .filter(|e| e["hostname"] == *host && e["kind"] == "metrics")
                .filter_map(|e| e["received"].as_u64())
                .filter(|r| *r >= restart_ms)
                .collect();
            times.iter().filter(|r| **r < times[0] + 100).count()
        })
        .collect();
    check_top_lines(&mut top, t0_ms);
    // The viewer said what happened to its link: up, down while the collector was dead, up.
    let states = top_states(&mut top);
    let down = states
        .iter()
        .position(|s| s == "lost" || s == "unreachable")
        .unwrap_or_else(|| panic!("no outage in the status lines: {states:?}"));
    assert!(
        states[..down].contains(&"connected".to_string()),
        "{states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("connected"),
        "{states:?}"
    );

    stop_ours(&mut top);
    stop_ours(&mut ours);
    stop_ref(&mut theirs);
    collector.terminate();
    let status = collector.expect_exit(GRACE);
    assert!(
        status.success(),
        "{} exited with {status}",
        collector.name()
    );
    eprintln!(
        "[4] {label}: metrics back after restart: {recovered:?}; models back after {models_back:?}; \
         viewer's gap in metrics (ms, rust-r/py-r): {gap:?}; first burst after it: {burst:?} \
         lines; total {:?}",
        t0.elapsed()
    );
}

#[test]
fn our_collector_restart_is_survived() {
    restart_scenario(
        "metrics_ours_4a",
        &|keys, a, v| our_collector(keys, a, v, &[]),
        &|collector, host, rid| {
            let hello = format!("hello from agent {rid}: asking for its model");
            let metrics = format!("metrics from {host:?} without a model: asking for it");
            collector
                .lines_so_far()
                .iter()
                .any(|l| l.contains(&hello) || l.contains(&metrics))
        },
    );
}

#[test]
fn python_collector_restart_is_survived() {
    restart_scenario(
        "metrics_ours_4b",
        &ref_collector,
        &|collector, _host, rid| {
            collector.lines_so_far().iter().any(|l| {
                is_event(
                    l,
                    "sent",
                    &[
                        ("side", "agent"),
                        ("routing_id", rid),
                        ("header", "CTRL"),
                        ("text", "model"),
                    ],
                )
            })
        },
    );
}

// ---------------------------------------------------------------------------
// 5. garbage from an agent
// ---------------------------------------------------------------------------

/// A pyzmq DEALER with the `agent` keys that sends malformed messages
/// (`ROUNDS` times each), then a hello, waits for CTRL model, and sends one
/// valid METR for host `reformed`. One JSON event per line.
const GARBAGE_AGENT: &str = r#"
import json, sys, time, zmq, zmq.auth
host, port, keys, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def emit(ev, **kw):
    kw["event"] = ev
    print(json.dumps(kw), flush=True)
pub, sec = zmq.auth.load_certificate(keys + "/agent.key_secret")
srv, _ = zmq.auth.load_certificate(keys + "/collector.key")
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.linger = 2000
s.routing_id = b"GARBAGEAGENT0001"
s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, srv
s.connect("tcp://%s:%s" % (host, port))
BAD = [
    ("unknown_header", [b"BOGUS", b"x"]),
    ("bad_json", [b"METR", b"garbage", b"{not json", b"metrics"]),
    ("not_a_number", [b"METR", b"garbage", b'{"cpu.percent": "high"}', b"metrics"]),
    ("ctrl_not_utf8", [b"CTRL", b"\xff\xfe\xfd"]),
    ("json_not_object", [b"METR", b"garbage", b"[1, 2]", b"metrics"]),
    ("metr_too_short", [b"METR", b"garbage"]),
    ("metr_too_long", [b"METR", b"garbage", b"{}", b"metrics", b"extra"]),
    ("hostname_not_utf8", [b"METR", b"\xff\xfe", b"{}", b"metrics"]),
    ("empty_frame", [b""]),
    ("nested_value", [b"METR", b"garbage", b'{"a": {"b": 1}}', b"model"]),
    ("null_value", [b"METR", b"garbage", b'{"a": null}', b"metrics"]),
    ("huge_json", [b"METR", b"garbage", b"[" * 100000, b"metrics"]),
]
for _ in range(rounds):
    for name, frames in BAD:
        s.send_multipart(frames)
emit("sent_bad", count=rounds * len(BAD), kinds=len(BAD))
s.send_multipart([b"CTRL", b"hello"])
emit("sent", text="hello")
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    if s.poll(100):
        frames = s.recv_multipart()
        emit("recv", frames=[f.decode("utf-8", "replace") for f in frames])
        if frames == [b"CTRL", b"model"]:
            break
else:
    emit("error", error="no CTRL model")
    sys.exit(2)
s.send_multipart([b"METR", b"reformed", b'{"cpu.percent": 1.5}', b"metrics"])
emit("sent", text="valid METR")
time.sleep(0.5)
s.close()
ctx.term()
emit("exit", reason="done")
"#;

#[test]
fn our_collector_survives_garbage_from_an_agent() {
    let t0 = Instant::now();
    let t0_ms = unix_ms();
    let keys = make_keys(
        "metrics_ours_5",
        &["agent", "collector", "client"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = our_collector(&keys, agent_port, viewer_port, &[]);
    let mut top = our_top(&keys, viewer_port, "client", "courier-top");
    let (mut good, _) = ref_agent(&keys, agent_port, "good", "5", &[]);
    wait_top(&mut top, "good", "metrics", 2, t0_ms);

    const ROUNDS: usize = 20;
    let mut cmd = Command::new(python());
    cmd.arg("-u")
        .arg("-c")
        .arg(GARBAGE_AGENT)
        .arg("127.0.0.1")
        .arg(agent_port.to_string())
        .arg(keys_arg(&keys))
        .arg(ROUNDS.to_string());
    let mut garbage = Peer::spawn(cmd, "garbage-agent");
    let sent = garbage.expect_event("sent_bad", &[], WAIT);
    let bad = usize::try_from(sent["count"].as_u64().unwrap()).unwrap();
    // Still served: its hello is answered, its valid METR is forwarded.
    garbage.expect_event("recv", &[], WAIT);
    garbage.expect_event("exit", &[("reason", "done")], WAIT);
    assert!(garbage.expect_exit(GRACE).success());
    let after_ms = unix_ms();
    wait_top(&mut top, "reformed", "metrics", 1, t0_ms);

    // One warning per bad message, naming the agent.
    let deadline = Instant::now() + WAIT;
    let warnings = loop {
        let n = collector
            .lines_so_far()
            .iter()
            .filter(|l| l.contains("WARN") && l.contains("GARBAGEAGENT0001"))
            .count();
        if n >= bad || Instant::now() >= deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if warnings != bad {
        collector.fail(&format!("{warnings} warnings for {bad} bad messages"));
    }
    // The good agent's metrics keep coming; no garbage reached the viewer.
    let fresh = wait_top(&mut top, "good", "metrics", 3, after_ms);
    check_metrics_samples(&fresh, false);
    let hosts: BTreeSet<String> = top
        .events_so_far()
        .iter()
        .filter(|e| !is_status(e))
        .map(|e| e["hostname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["good".to_string(), "reformed".to_string()])
    );
    check_top_lines(&mut top, t0_ms);
    assert!(collector.try_wait().is_none(), "collector exited");
    let kinds: BTreeSet<String> = collector
        .lines_so_far()
        .iter()
        .filter(|l| l.contains("GARBAGEAGENT0001") && l.contains("WARN"))
        .filter_map(|l| l.split_once("GARBAGEAGENT0001").map(|(_, t)| t.to_string()))
        .collect();
    stop_ours(&mut top);
    stop_ours(&mut collector);
    stop_ref(&mut good);
    eprintln!(
        "[5] {bad} bad messages, {warnings} warnings; distinct texts: {kinds:#?}; {:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 6. allowlists
// ---------------------------------------------------------------------------

#[test]
fn our_collector_enforces_its_allowlists() {
    let t0 = Instant::now();
    let t0_ms = unix_ms();
    let keys = make_keys(
        "metrics_ours_6",
        &["agent", "collector", "client", "rogue"],
        &["client"],
    );
    let agents_allow = keys.parent().unwrap().join("agents_allowlist");
    std::fs::create_dir_all(&agents_allow).unwrap();
    std::fs::copy(keys.join("agent.key"), agents_allow.join("agent.key")).unwrap();
    let (agent_port, viewer_port) = (free_port(), free_port());
    let allow = keys_arg(&agents_allow);
    let mut collector = our_collector(
        &keys,
        agent_port,
        viewer_port,
        &["--agents-allowlist", &allow],
    );
    let mut top = our_top(&keys, viewer_port, "client", "courier-top");
    let mut rogue_top = our_top(&keys, viewer_port, "rogue", "courier-top-rogue");
    let mut rogue_viewer = ref_viewer(
        &keys,
        viewer_port,
        "ref_viewer-rogue",
        &["--key-name", "rogue"],
    );
    let (mut agent, _) = our_agent(&keys, agent_port, "allowed", "5s", &[]);
    let (mut rogue_agent, _) =
        ref_agent(&keys, agent_port, "intruder", "5", &["--key-name", "rogue"]);

    // The authorized viewer works; the refused ones get nothing.
    wait_top(&mut top, "allowed", "metrics", 3, t0_ms);
    rogue_viewer.expect_event("handshake_failed_auth", &[], WAIT);
    rogue_agent.expect_event("handshake_failed_auth", &[], WAIT);
    // The refused courier-top prints no metrics, and says why: one `refused` status line
    // (its socket retries all along: not one line per retry).
    let viewer_endpoint = format!("tcp://127.0.0.1:{viewer_port}");
    let refused = wait_json(&mut rogue_top, "a refused status", 1, |v| {
        v["status"] == "refused"
    });
    assert_eq!(refused[0]["endpoint"], viewer_endpoint.as_str());
    let reason = refused[0]["reason"].as_str().unwrap().to_string();
    assert!(!reason.is_empty());
    rogue_top.expect_no_line(|l| !l.contains("\"status\":"), Duration::from_secs(2));
    assert!(rogue_top.try_wait().is_none(), "refused courier-top exited");
    assert_eq!(top_states(&mut rogue_top), ["connecting", "refused"]);
    assert_eq!(count_events(&mut rogue_viewer, "metr", &[]), 0);
    assert_eq!(count_events(&mut rogue_agent, "recv", &[]), 0);
    let hosts: BTreeSet<String> = top
        .events_so_far()
        .iter()
        .filter(|e| !is_status(e))
        .map(|e| e["hostname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts, BTreeSet::from(["allowed".to_string()]));

    // The allowlist is re-read when it changes: the rogue viewer key is now
    // authorized and that courier-top gets metrics without a restart.
    std::fs::copy(
        keys.join("rogue.key"),
        keys.join("authorized_clients").join("rogue.key"),
    )
    .unwrap();
    let granted = Instant::now();
    let granted_ms = unix_ms();
    wait_top(&mut rogue_top, "allowed", "metrics", 1, granted_ms);
    let took = granted.elapsed();
    assert_eq!(
        top_states(&mut rogue_top),
        ["connecting", "refused", "connected"]
    );
    collector.expect_seen(|l: &str| l.contains("re-read"), WAIT);
    check_top_lines(&mut rogue_top, granted_ms);
    let refusals = collector
        .lines_so_far()
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("refused") || l.contains("denied"))
        .take(3)
        .cloned()
        .collect::<Vec<_>>();
    let rogue_top_log = rogue_top
        .stderr_so_far()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .take(2)
        .map(str::to_string)
        .collect::<Vec<_>>();

    for peer in [&mut top, &mut rogue_top, &mut agent, &mut collector] {
        stop_ours(peer);
    }
    stop_ref(&mut rogue_viewer);
    stop_ref(&mut rogue_agent);
    eprintln!(
        "[6] allowlists: refused peers got nothing; a key added at run time worked after \
         {took:?}; collector said {refusals:?}; refused courier-top said {rogue_top_log:?} and \
         printed the reason {reason:?}; {:?}",
        t0.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 6b. courier-top --json says why it shows nothing
// ---------------------------------------------------------------------------

/// Waits for the next status line (after the cursor) and checks its state.
fn expect_status(top: &mut Peer, state: &str) -> Value {
    let line = top.expect_line(|l| l.contains("\"status\":"), WAIT);
    let v = parse_event(&line).unwrap();
    assert_eq!(v["status"], state, "{line}; all: {:?}", top_states(top));
    v
}

#[test]
fn courier_top_json_status_without_a_collector_then_silent_then_lost() {
    let t0_ms = unix_ms();
    let keys = make_keys("metrics_status_json", &["collector", "client"], &["client"]);
    let (agent_port, viewer_port) = (free_port(), free_port());
    let endpoint = format!("tcp://127.0.0.1:{viewer_port}");
    let mut top = our_top_with(
        &keys,
        viewer_port,
        "client",
        "courier-top",
        &["--silent-after", "1s"],
    );

    // Nobody listens: connecting, then why not, once (the socket retries all along).
    let first = expect_status(&mut top, "connecting");
    assert_eq!(first["endpoint"], endpoint.as_str());
    let unreachable = expect_status(&mut top, "unreachable");
    let reason = unreachable["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("refused"), "{unreachable}");
    top.expect_no_line(|l| l.contains("\"status\":"), Duration::from_secs(2));

    // The collector comes up: connected.
    let mut collector = our_collector(&keys, agent_port, viewer_port, &[]);
    expect_status(&mut top, "connected");
    // Frozen (its pings stop, the connection stays): silent, since the last message.
    collector.send_signal("STOP");
    let frozen_ms = unix_ms();
    let silent = expect_status(&mut top, "silent");
    assert!(silent["since"].as_u64().unwrap() <= frozen_ms, "{silent}");
    collector.send_signal("CONT");
    expect_status(&mut top, "connected");
    // Stopped: the link is lost, then the collector unreachable.
    stop_ours(&mut collector);
    let lost = expect_status(&mut top, "lost");
    assert!(lost["reason"].is_string(), "{lost}");
    expect_status(&mut top, "unreachable");
    check_top_lines(&mut top, t0_ms);
    let log = top.stderr_so_far();
    stop_ours(&mut top);
    // The reason is in the logs (standard error with --json) too, once.
    let logged = log.lines().filter(|l| l.contains(&reason)).count();
    assert!(logged >= 1, "the reason is not in the log:\n{log}");
    eprintln!(
        "[6b] status lines: {:?}; reason {reason:?}",
        top_states(&mut top)
    );
}

// ---------------------------------------------------------------------------
// 7. the terminal UI in tmux
// ---------------------------------------------------------------------------

/// A private tmux server (its own socket name), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux {args:?}: {e}"))
    }

    fn ok(&self, args: &[&str]) {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn capture(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "top"]);
        assert!(out.status.success(), "tmux capture-pane failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred`; returns it.
    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "tmux screen never showed {what} within {WAIT:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Tmux {
    /// A private tmux server with a 120x30 window `top` running a bare bash, once its prompt
    /// (`READY>`) is up.
    fn shell(tag: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("courier-{tag}-{}", std::process::id()),
        };
        tmux.ok(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "120",
            "-y",
            "30",
            "env PS1='READY> ' bash --norc --noprofile -i",
        ]);
        tmux.wait_screen("the shell prompt", |s| s.contains("READY>"));
        tmux
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Whether `screen` has an uptime `HH:MM:SS` (possibly after `Nd `).
fn has_uptime(screen: &str) -> bool {
    screen.as_bytes().windows(8).any(|w| {
        w.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b':',
            _ => c.is_ascii_digit(),
        })
    })
}

/// The line the shell printed after courier-top exited (`TOP-EXIT=<status>`);
/// not the typed command line, which holds `TOP-EXIT=$?`.
fn exit_line(screen: &str) -> Option<&str> {
    screen
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("TOP-EXIT=") && !l.contains('$'))
}

#[test]
fn courier_top_terminal_ui_in_tmux() {
    let t0 = Instant::now();
    let which = Command::new("sh")
        .args(["-c", "command -v tmux"])
        .output()
        .unwrap();
    assert!(
        which.status.success(),
        "tmux is not installed: this test needs it (apt-get install -y tmux); not skipping"
    );
    let t0_ms = unix_ms();
    let keys = make_keys(
        "metrics_ours_7",
        &["agent", "collector", "client"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let mut collector = our_collector(&keys, agent_port, viewer_port, &[]);
    let (mut ours, _) = our_agent(&keys, agent_port, "tui-rust", "5s", &[]);
    let (mut theirs, _) = ref_agent(&keys, agent_port, "tui-python", "5", &[]);
    // Both are flowing before the UI starts.
    let mut probe = our_top(&keys, viewer_port, "client", "courier-top-probe");
    wait_top(&mut probe, "tui-rust", "metrics", 1, t0_ms);
    wait_top(&mut probe, "tui-python", "metrics", 1, t0_ms);
    stop_ours(&mut probe);

    let scratch = keys.parent().unwrap().to_path_buf();
    let log_file = scratch.join("courier-top.log");
    let tmux = Tmux::shell("metrics");
    let command = format!(
        "{} 127.0.0.1 --port {viewer_port} --curve-dir {} --hello-interval 1s --log-file {}; \
         echo TOP-EXIT=$?; stty -a | grep -o -- '-\\?icanon' ",
        bin("courier-top").display(),
        keys.display(),
        log_file.display()
    );
    tmux.ok(&["send-keys", "-t", "top", &command, "Enter"]);
    let started = Instant::now();
    let screen = tmux.wait_screen("both hosts with figures and uptimes", |s| {
        s.contains("tui-rust")
            && s.contains("tui-python")
            && s.contains('%')
            && has_uptime(s)
            && s.contains("q quit")
    });
    let shown_after = started.elapsed();
    // Let it redraw a few times with live data.
    std::thread::sleep(Duration::from_secs(2));
    let screen2 = tmux.capture();
    assert!(
        screen2.contains("tui-rust") && screen2.contains("tui-python") && has_uptime(&screen2),
        "after a few redraws:\n{screen2}"
    );
    assert!(exit_line(&screen2).is_none(), "exited early:\n{screen2}");
    let rust_row = screen2
        .lines()
        .find(|l| l.contains("tui-rust"))
        .unwrap()
        .to_string();
    assert!(
        rust_row.matches('%').count() >= 2,
        "a row shows memory and CPU percentages: {rust_row:?}"
    );

    tmux.ok(&["send-keys", "-t", "top", "q"]);
    let after = tmux.wait_screen("the shell again", |s| {
        exit_line(s).is_some() && s.trim_end().ends_with("READY>")
    });
    assert_eq!(
        exit_line(&after),
        Some("TOP-EXIT=0"),
        "courier-top's exit status:\n{after}"
    );
    // The UI is gone (alternate screen left) and the terminal is cooked again.
    assert!(
        !after.contains("tui-rust") && !after.contains("q quit"),
        "the UI is still on screen after quitting:\n{after}"
    );
    let icanon = after
        .lines()
        .skip_while(|l| !l.starts_with("TOP-EXIT="))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string();
    assert_eq!(icanon, "icanon", "terminal left in raw mode:\n{after}");
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    drop(tmux);

    stop_ours(&mut ours);
    stop_ours(&mut collector);
    stop_ref(&mut theirs);
    eprintln!(
        "[7] TUI showed both hosts after {shown_after:?}; screen:\n{screen}\nafter q:\n{}\ntotal {:?}",
        after.trim_end(),
        t0.elapsed()
    );
}

/// courier-top's screen says why it is empty: nothing listening, then a collector that refuses
/// its key; and its logs are on screen without --log-file.
#[test]
fn courier_top_terminal_ui_says_why_it_is_empty() {
    let which = Command::new("sh")
        .args(["-c", "command -v tmux"])
        .output()
        .unwrap();
    assert!(
        which.status.success(),
        "tmux is not installed: this test needs it (apt-get install -y tmux); not skipping"
    );
    // `rogue` is not in the collector's authorized_clients.
    let keys = make_keys(
        "metrics_tui_status",
        &["collector", "client", "rogue"],
        &["client"],
    );
    let (agent_port, viewer_port) = (free_port(), free_port());
    let endpoint = format!("tcp://127.0.0.1:{viewer_port}");
    let tmux = Tmux::shell("metrics-status");
    let command = format!(
        "{} 127.0.0.1 --port {viewer_port} --curve-dir {} --key-name rogue --hello-interval 1s; \
         echo TOP-EXIT=$?",
        bin("courier-top").display(),
        keys.display(),
    );
    tmux.ok(&["send-keys", "-t", "top", &command, "Enter"]);
    let unreachable = tmux.wait_screen("why it cannot connect, and a log line", |s| {
        s.contains(&format!("cannot connect to {endpoint}: Connection refused"))
            && s.contains("waiting for metrics")
            && s.contains(&format!("viewer connecting to {endpoint}"))
            && s.contains("q quit")
    });
    let mut collector = our_collector(&keys, agent_port, viewer_port, &[]);
    let refused = tmux.wait_screen("the refusal and what to check", |s| {
        // The status wraps over lines: look at the screen's text without line breaks.
        let text: String = s
            .lines()
            .map(|l| l.trim().trim_matches('│').trim())
            .collect::<Vec<_>>()
            .join(" ");
        text.contains(&format!("{endpoint} refused us in the handshake"))
            && text.contains("authorized_clients")
    });
    assert!(exit_line(&refused).is_none(), "exited early:\n{refused}");
    tmux.ok(&["send-keys", "-t", "top", "q"]);
    let after = tmux.wait_screen("the shell again", |s| {
        exit_line(s).is_some() && s.trim_end().ends_with("READY>")
    });
    assert_eq!(exit_line(&after), Some("TOP-EXIT=0"), "{after}");
    drop(tmux);
    stop_ours(&mut collector);
    eprintln!(
        "[7b] no collector:\n{}\nrefusing collector:\n{}",
        unreachable.trim_end(),
        refused.trim_end()
    );
}
