//! The Markdown tables of a run, from its JSON results.

use std::fmt::Write;

use serde_json::Value;

const IMPLS: [&str; 3] = ["courier", "libzmq", "zmqrs"];

/// The median result of a case, or its error.
fn median(case: &Value) -> Result<&Value, String> {
    let r = &case["result"];
    match r.get("error") {
        Some(e) => Err(e.as_str().unwrap_or("failed").to_owned()),
        None => Ok(&r["median"]),
    }
}

fn find<'a>(results: &'a [Value], pred: impl Fn(&Value) -> bool, imp: &str) -> Option<&'a Value> {
    results.iter().find(|c| c["impl"] == imp && pred(c))
}

/// "1.23 M", "45.6 k", "789".
fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn size_name(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// `a / b`, or a dash when either is missing or not a number (a cell without a figure).
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => {
            format!("{:.2}x", a / b)
        }
        _ => "–".to_owned(),
    }
}

/// One table row: a label, a cell per implementation, and courier/libzmq, courier/zmq.rs
/// ratios of `metric` (None for a cell: not run; Err: failed).
fn row(out: &mut String, label: &str, cells: &[Cell; 3]) -> std::fmt::Result {
    row_with(out, label, cells, &[(0, 1), (0, 2)])
}

/// One table row: a label, the cells, then for each `(i, j)` of `ratios` the ratio of cell i's
/// metric to cell j's.
fn row_with(
    out: &mut String,
    label: &str,
    cells: &[Cell],
    ratios: &[(usize, usize)],
) -> std::fmt::Result {
    let mut line = format!("| {label} |");
    for c in cells {
        let text = match c {
            None => "n/a".to_owned(),
            Some(Ok((t, _))) => t.clone(),
            Some(Err(e)) => format!("FAILED ({})", e.chars().take(60).collect::<String>()),
        };
        write!(line, " {text} |")?;
    }
    let metric = |i: usize| match cells.get(i) {
        Some(Some(Ok((_, v)))) => Some(*v),
        _ => None,
    };
    for &(i, j) in ratios {
        write!(line, " {} |", ratio(metric(i), metric(j)))?;
    }
    writeln!(out, "{line}")
}

fn header(out: &mut String, first: &str) -> std::fmt::Result {
    writeln!(
        out,
        "| {first} | courier | libzmq | zmq.rs | courier/libzmq | courier/zmq.rs |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")
}

type Cell = Option<Result<(String, f64), String>>;

fn cells(
    results: &[Value],
    pred: impl Fn(&Value) -> bool,
    show: impl Fn(&Value) -> Option<(String, f64)>,
) -> [Cell; 3] {
    IMPLS.map(|imp| {
        find(results, &pred, imp)
            .map(|case| median(case).and_then(|m| show(m).ok_or_else(|| "no data".to_owned())))
    })
}

/// One row per throughput case, NULL sizes then CURVE sizes, each cell shown by `show`.
fn thr_rows(
    out: &mut String,
    results: &[Value],
    [null_sizes, curve_sizes]: [&Vec<u64>; 2],
    show: impl Fn(&Value) -> Option<(String, f64)>,
) -> std::fmt::Result {
    for (security, sizes) in [("null", null_sizes), ("curve", curve_sizes)] {
        for &size in sizes {
            let c = cells(
                results,
                |c| c["case"] == "thr" && c["security"] == security && c["size"] == size,
                &show,
            );
            let label = if security == "curve" {
                format!("CURVE {}", size_name(size))
            } else {
                size_name(size)
            };
            row(out, &label, &c)?;
        }
    }
    Ok(())
}

/// The tables of a run.
pub fn markdown(all: &Value) -> String {
    let mut out = String::new();
    let _ = write_tables(&mut out, all);
    out
}

fn write_tables(out: &mut String, all: &Value) -> std::fmt::Result {
    let empty = Vec::new();
    let results = all["results"].as_array().unwrap_or(&empty);
    let m = &all["machine"];
    writeln!(
        out,
        "Run: {} mode, median of {} run(s) per case; {} CPUs ({}), kernel {}; libzmq {}, \
         zeromq crate {}, courier {}{}; load average at start {}, at end {}.\n",
        all["mode"].as_str().unwrap_or("?"),
        all["reps"],
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        m["libzmq"]["libzmq"].as_str().unwrap_or("?"),
        m["zeromq_crate"].as_str().unwrap_or("?"),
        m["courier_commit"].as_str().unwrap_or("?"),
        if m["courier_tree_modified"].as_bool() == Some(true) {
            " (modified tree)"
        } else {
            ""
        },
        m["loadavg_start"].as_str().unwrap_or("?"),
        m["loadavg_end"].as_str().unwrap_or("?"),
    )?;

    let thr = |security: &'static str| {
        let mut sizes: Vec<u64> = results
            .iter()
            .filter(|c| c["case"] == "thr" && c["security"] == security)
            .filter_map(|c| c["size"].as_u64())
            .collect();
        sizes.dedup();
        sizes
    };
    let null_sizes = thr("null");
    let curve_sizes = thr("curve");
    if !null_sizes.is_empty() || !curve_sizes.is_empty() {
        writeln!(
            out,
            "**Throughput**, one-way DEALER -> ROUTER, 2 frames (4-byte header + body), measured \
             at the receiver (MB = 10^6 bytes of body). Ratios: msg/s, higher is better.\n"
        )?;
        header(out, "body")?;
        thr_rows(out, results, [&null_sizes, &curve_sizes], |m| {
            let r = m["msg_per_s"].as_f64()?;
            let mb = m["mb_per_s"].as_f64()?;
            Some((format!("{} msg/s, {mb:.1} MB/s", si(r)), r))
        })?;
        writeln!(out)?;
        writeln!(
            out,
            "CPU time per message in the throughput runs (sender + receiver process, µs; \
             lower is better):\n"
        )?;
        header(out, "body")?;
        thr_rows(out, results, [&null_sizes, &curve_sizes], |m| {
            let msgs = m["msgs"].as_f64()?;
            let cpu = m["receiver"]["cpu_s"].as_f64()? + m["sender"]["cpu_s"].as_f64()?;
            let sent = m["sender"]["sent"].as_f64().unwrap_or(msgs).max(msgs);
            let us = cpu / sent.max(1.0) * 1e6;
            Some((format!("{us:.2}"), us))
        })?;
        writeln!(out)?;
    }

    let lat_cases: Vec<&Value> = results
        .iter()
        .filter(|c| c["case"] == "lat" || c["case"] == "pipe")
        .collect();
    if !lat_cases.is_empty() {
        writeln!(
            out,
            "**Latency**: DEALER -> ROUTER echo, one message in flight, 64-byte body (µs, lower \
             is better); **pipelined**: 1024 requests in flight (requests/s, higher is better).\n"
        )?;
        header(out, "case")?;
        for security in ["null", "curve"] {
            for (key, name) in [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")] {
                if !results
                    .iter()
                    .any(|c| c["case"] == "lat" && c["security"] == security)
                {
                    continue;
                }
                let c = cells(
                    results,
                    |c| c["case"] == "lat" && c["security"] == security,
                    |m| {
                        let v = m[key].as_f64()?;
                        Some((format!("{v:.1} µs"), v))
                    },
                );
                let prefix = if security == "curve" { "CURVE " } else { "" };
                row(out, &format!("{prefix}RTT {name}"), &c)?;
            }
        }
        if results.iter().any(|c| c["case"] == "pipe") {
            let c = cells(
                results,
                |c| c["case"] == "pipe",
                |m| {
                    let v = m["req_per_s"].as_f64()?;
                    Some((format!("{} req/s", si(v)), v))
                },
            );
            row(out, "pipelined, 1024 in flight", &c)?;
        }
        writeln!(out)?;
    }

    if results.iter().any(|c| c["case"] == "big") {
        let size = results
            .iter()
            .find(|c| c["case"] == "big")
            .and_then(|c| c["size"].as_u64())
            .unwrap_or(0);
        let mib = size as f64 / (1 << 20) as f64;
        writeln!(
            out,
            "**One {} message** (send until the receiver's ACK; peak RSS = VmHWM of each \
             process, and its multiple of the message size; lower is better).\n",
            size_name(size)
        )?;
        header(out, "")?;
        let big = |c: &Value| c["case"] == "big";
        let c = cells(results, big, |m| {
            let v = m["secs"].as_f64()?;
            Some((
                format!("{:.0} ms ({:.0} MB/s)", v * 1e3, size as f64 / v / 1e6),
                v,
            ))
        });
        row(out, "time", &c)?;
        for (key, name) in [
            ("sender_peak_rss_kb", "sender peak RSS"),
            ("receiver_peak_rss_kb", "receiver peak RSS"),
        ] {
            let c = cells(results, big, |m| {
                let kb = m[key].as_f64()?;
                let mb = kb / 1024.0;
                Some((format!("{mb:.0} MiB ({:.2}x)", mb / mib), kb))
            });
            row(out, name, &c)?;
        }
        writeln!(out)?;
    }

    socket_type_tables(out, results)?;

    let empty_scale = Vec::new();
    let scale = all["scale"].as_array().unwrap_or(&empty_scale);
    scale_tables(out, scale)?;
    Ok(())
}

/// CPU µs per message of a throughput-like result: both processes' CPU time over the messages
/// sent (`per_delivered`: over those delivered, for fan-out, where one message sent is up to
/// ten delivered).
fn cpu_per_msg(m: &Value, per_delivered: bool) -> Option<(String, f64)> {
    let msgs = m["msgs"].as_f64()?;
    let cpu = m["receiver"]["cpu_s"].as_f64()? + m["sender"]["cpu_s"].as_f64()?;
    let n = if per_delivered {
        msgs
    } else {
        m["sender"]["sent"].as_f64().unwrap_or(msgs).max(msgs)
    };
    let us = cpu / n.max(1.0) * 1e6;
    Some((format!("{us:.2}"), us))
}

fn rate_cell(m: &Value) -> Option<(String, f64)> {
    let r = m["msg_per_s"].as_f64()?;
    Some((format!("{} msg/s", si(r)), r))
}

/// The median of `case` for `imp`, if it ran and succeeded.
fn median_of<'a>(results: &'a [Value], case: &str, imp: &str) -> Option<&'a Value> {
    find(results, |c| c["case"] == case, imp).and_then(|c| median(c).ok())
}

/// The PUSH/PULL, fan-out and REQ/REP tables, then the targets for them.
fn socket_type_tables(out: &mut String, results: &[Value]) -> std::fmt::Result {
    let has = |case: &str| results.iter().any(|c| c["case"] == case);
    if has("push") {
        writeln!(
            out,
            "**PUSH/PULL**: one-way PUSH -> PULL, 2 frames (4-byte header + 64-byte body), \
             measured at the receiver as the DEALER -> ROUTER throughput is. Ratios: msg/s \
             higher is better; CPU per message (sender + receiver process), lower is better.\n"
        )?;
        header(out, "64 B")?;
        let push = |c: &Value| c["case"] == "push";
        row(out, "throughput", &cells(results, push, rate_cell))?;
        row(
            out,
            "CPU per message (µs)",
            &cells(results, push, |m| cpu_per_msg(m, false)),
        )?;
        writeln!(out)?;
    }
    if has("fanout") {
        let n = results
            .iter()
            .find(|c| c["case"] == "fanout")
            .map_or(Value::Null, |c| c["subscribers"].clone());
        writeln!(
            out,
            "**Fan-out**: one PUB process, {n} SUB sockets in one other process (courier and \
             libzmq read them all from one thread, zmq.rs from one task each), all subscribed \
             to everything, 2 frames (4-byte header + 64-byte body). Delivered: messages \
             received by all subscribers together per second, from the first to the last \
             subscriber's END (higher is better); PUB drops for a subscriber at its HWM (1000), \
             so the share of published messages delivered is shown too; CPU per delivered \
             message (publisher + subscriber process, lower is better).\n"
        )?;
        header(out, "64 B")?;
        let fan = |c: &Value| c["case"] == "fanout";
        row(out, "delivered, in all", &cells(results, fan, rate_cell))?;
        row(
            out,
            "share delivered",
            &cells(results, fan, |m| {
                let f = m["delivered_fraction"].as_f64()?;
                Some((format!("{:.1}%", f * 100.0), f))
            }),
        )?;
        row(
            out,
            "CPU per delivered message (µs)",
            &cells(results, fan, |m| cpu_per_msg(m, true)),
        )?;
        writeln!(out)?;
    }
    if has("reqrep") {
        writeln!(
            out,
            "**REQ/REP**: REQ -> REP echo, one request at a time, 2 frames (4-byte header + \
             64-byte body), as the DEALER -> ROUTER latency case (µs, lower is better).\n"
        )?;
        header(out, "case")?;
        for (key, name) in [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")] {
            let c = cells(
                results,
                |c| c["case"] == "reqrep",
                |m| {
                    let v = m[key].as_f64()?;
                    Some((format!("{v:.1} µs"), v))
                },
            );
            row(out, &format!("RTT {name}"), &c)?;
        }
        writeln!(out)?;
    }
    if has("push") || has("fanout") || has("reqrep") {
        targets_table(out, results)?;
    }
    Ok(())
}

/// "yes", "no", or "not measured" for a target whose figure is `x` (None: not measured).
fn met(x: Option<f64>, ok: impl Fn(f64) -> bool) -> &'static str {
    match x {
        Some(v) if ok(v) => "**yes**",
        Some(_) => "no",
        None => "not measured",
    }
}

/// Issue #13's targets for the socket types: this run's figures and whether they were met.
fn targets_table(out: &mut String, results: &[Value]) -> std::fmt::Result {
    writeln!(
        out,
        "**Against the targets** (issue #13): PUSH/PULL and fan-out at 64 B at least 1.5x \
         libzmq's msg/s; REQ/REP round trips no slower than courier's DEALER/ROUTER ones (p50).\n"
    )?;
    writeln!(out, "| target | this run | met |")?;
    writeln!(out, "|---|---|---|")?;
    for (case, name) in [("push", "PUSH/PULL"), ("fanout", "fan-out (delivered)")] {
        if !results.iter().any(|c| c["case"] == case) {
            continue;
        }
        let rate = |imp: &str| median_of(results, case, imp).and_then(|m| m["msg_per_s"].as_f64());
        let (c, l) = (rate("courier"), rate("libzmq"));
        let x = match (c, l) {
            (Some(c), Some(l)) if l > 0.0 => Some(c / l),
            _ => None,
        };
        let figure = match (x, c, l) {
            (Some(x), Some(c), Some(l)) => {
                format!("{x:.2}x ({} vs {} msg/s)", si(c), si(l))
            }
            _ => "– (needs courier and libzmq figures)".to_owned(),
        };
        writeln!(
            out,
            "| {name} 64 B >= 1.5x libzmq | {figure} | {} |",
            met(x, |v| v >= 1.5)
        )?;
    }
    if results.iter().any(|c| c["case"] == "reqrep") {
        let p = |case: &str, key: &str| {
            let m = if case == "lat" {
                find(
                    results,
                    |c| c["case"] == "lat" && c["security"] == "null",
                    "courier",
                )
                .and_then(|c| median(c).ok())
            } else {
                median_of(results, case, "courier")
            };
            m.and_then(|m| m[key].as_f64())
        };
        // The DEALER/ROUTER latency case of this run, or the baseline the reqrep group ran.
        let base = |key: &str| p("lat", key).or_else(|| p("reqrep-baseline", key));
        let (r50, b50) = (p("reqrep", "p50_us"), base("p50_us"));
        let (r99, b99) = (p("reqrep", "p99_us"), base("p99_us"));
        let x = match (r50, b50) {
            (Some(r), Some(b)) if b > 0.0 => Some(r / b),
            _ => None,
        };
        let figure = match (r50, b50) {
            (Some(r), Some(b)) => format!(
                "p50 {r:.1} vs {b:.1} µs ({}); p99 {} vs {} µs ({})",
                ratio(Some(r), Some(b)),
                r99.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
                b99.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
                ratio(r99, b99)
            ),
            _ => "– (needs courier's REQ/REP and DEALER/ROUTER figures)".to_owned(),
        };
        writeln!(
            out,
            "| REQ/REP RTT <= DEALER/ROUTER's | {figure} | {} |",
            met(x, |v| v <= 1.0)
        )?;
    }
    writeln!(out)
}

/// The server of a scale result ("courier" in results made before the libzmq server existed).
fn scale_server(entry: &Value) -> &str {
    entry["server"].as_str().unwrap_or("courier")
}

/// The scale cases' tables: one per (clients, security, courier-server log level), courier-server
/// and the libzmq hello-server side by side; then the CURVE handshake rates.
fn scale_tables(out: &mut String, scale: &[Value]) -> std::fmt::Result {
    let steady: Vec<&Value> = scale.iter().filter(|c| c["case"] == "scale").collect();
    if !steady.is_empty() {
        writeln!(
            out,
            "**Server scale**: one server, N courier DEALER clients (the same for both servers, \
             in a few processes) each sending HELLO at 1 Hz and receiving the server's HELLO \
             each second. courier-server as shipped (logging at info to a file unless said) \
             against the libzmq peer's hello-server (the same behaviour on libzmq, no logging). \
             Handshakes/s: connections made and handshaken per second (at most 256 in progress \
             per client process); per core: 1e6 / server CPU µs per handshake. Greeted: from \
             the first connect until every client has had a first HELLO from the server. CPU \
             is % of one core over a steady window after all are greeted; RSS is VmRSS at its \
             end (peak in parentheses). Ratios: courier/libzmq, lower is better except for \
             handshakes/s.\n"
        )?;
        // (clients, security, courier-server log level), in run order.
        let mut keys: Vec<(u64, String, String)> = Vec::new();
        for c in &steady {
            let log = if scale_server(c) == "courier" {
                c["server_log"].as_str().unwrap_or("info")
            } else {
                "info"
            };
            let key = (
                c["clients"].as_u64().unwrap_or(0),
                c["security"].as_str().unwrap_or("?").to_owned(),
                log.to_owned(),
            );
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for (n, security, log) in keys {
            let courier = steady.iter().copied().find(|c| {
                scale_server(c) == "courier"
                    && c["clients"] == n
                    && c["security"] == security.as_str()
                    && c["server_log"].as_str().unwrap_or("info") == log
            });
            // libzmq logs nothing: the courier run at another log level is compared with the
            // same libzmq run.
            let libzmq = steady.iter().copied().find(|c| {
                scale_server(c) == "libzmq"
                    && c["clients"] == n
                    && c["security"] == security.as_str()
            });
            writeln!(
                out,
                "{n} clients, {}, courier-server log level {log}:\n",
                security.to_uppercase()
            )?;
            two_header(out, "")?;
            let servers = [courier, libzmq];
            let rows: [(&str, ScaleShow<'_>); 9] = [
                ("reached", &|r| {
                    let v = r["reached"].as_f64()?;
                    Some((format!("{v:.0}"), v))
                }),
                ("connect time", &|r| {
                    let v = r["connect_secs"].as_f64()?;
                    Some((format!("{v:.2} s"), v))
                }),
                ("handshakes/s", &|r| {
                    let v = r["handshakes_per_s"].as_f64()?;
                    Some((si(v), v))
                }),
                ("server CPU per handshake", &|r| {
                    let v = r["server_cpu_per_handshake_us"].as_f64()?;
                    Some((format!("{v:.0} µs"), v))
                }),
                ("handshakes/s of one server core", &per_core_cell),
                ("greeted", &greeted_cell),
                ("server CPU (steady)", &|r| {
                    let v = r["server_cpu_pct"].as_f64()?;
                    Some((format!("{v:.1}%"), v))
                }),
                ("server RSS", &|r| {
                    let v = r["server_rss_kb"].as_f64()?;
                    let peak = r["server_peak_rss_kb"].as_f64()?;
                    Some((format!("{:.1} MiB ({:.1})", v / 1024.0, peak / 1024.0), v))
                }),
                ("clients' CPU", &|r| {
                    let v = r["clients_cpu_pct"].as_f64()?;
                    Some((format!("{v:.0}%"), v))
                }),
            ];
            for (label, show) in rows {
                row_with(out, label, &servers.map(|e| scale_cell(e, show)), &[(0, 1)])?;
            }
            writeln!(out)?;
        }
    }

    let handshakes: Vec<&Value> = scale.iter().filter(|c| c["case"] == "handshakes").collect();
    if !handshakes.is_empty() {
        let n = handshakes
            .first()
            .map_or(Value::Null, |c| c["clients"].clone());
        writeln!(
            out,
            "**CURVE handshakes**: {n} courier clients that only connect (at most 256 \
             handshakes in progress per client process) and never send, so that the server's \
             CPU time over the connect phase is all TCP accepts and CURVE handshakes. \
             Handshakes/s of one core = 1e6 / server CPU µs per handshake (higher is better); \
             wall-clock handshakes/s share the 2 cores with the clients.\n"
        )?;
        let find = |server: &str| {
            handshakes
                .iter()
                .copied()
                .find(|c| scale_server(c) == server)
        };
        let servers = [find("courier"), find("libzmq")];
        two_header(out, "")?;
        let rows: [(&str, ScaleShow<'_>); 4] = [
            ("reached", &|r| {
                let v = r["reached"].as_f64()?;
                Some((format!("{v:.0}"), v))
            }),
            ("server CPU per handshake", &|r| {
                let v = r["server_cpu_per_handshake_us"].as_f64()?;
                Some((format!("{v:.0} µs"), v))
            }),
            ("handshakes/s of one server core", &per_core_cell),
            ("handshakes/s (wall clock)", &|r| {
                let v = r["handshakes_per_s"].as_f64()?;
                Some((si(v), v))
            }),
        ];
        for (label, show) in rows {
            row_with(out, label, &servers.map(|e| scale_cell(e, show)), &[(0, 1)])?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// How a scale table shows one figure of a result: its text and the value its ratio uses.
type ScaleShow<'a> = &'a dyn Fn(&Value) -> Option<(String, f64)>;

/// A cell of a scale table: not run, failed, or `show` of the result.
fn scale_cell(entry: Option<&Value>, show: ScaleShow<'_>) -> Cell {
    entry.map(|e| {
        let r = &e["result"];
        match r.get("error") {
            Some(err) => Err(err.as_str().unwrap_or("failed").to_owned()),
            None => show(r).ok_or_else(|| "no data".to_owned()),
        }
    })
}

/// Handshakes per second of one server core, or a dash when the server's CPU time was under
/// one clock tick (no ratio then).
fn per_core_cell(r: &Value) -> Option<(String, f64)> {
    match r["handshakes_per_core_s"].as_f64() {
        Some(v) => Some((si(v), v)),
        None => Some(("– (under 10 ms of CPU)".to_owned(), f64::NAN)),
    }
}

/// Seconds until every client was greeted, or how many were (no ratio then).
fn greeted_cell(r: &Value) -> Option<(String, f64)> {
    match r["greeted_secs"].as_f64() {
        Some(s) => Some((format!("{s:.2} s"), s)),
        None => Some((
            format!("only {} of {}", r["greeted"], r["wanted"]),
            f64::NAN,
        )),
    }
}

fn two_header(out: &mut String, first: &str) -> std::fmt::Result {
    writeln!(
        out,
        "| {first} | courier-server | libzmq hello-server | courier/libzmq |"
    )?;
    writeln!(out, "|---|---:|---:|---:|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_table_shows_values_ratios_and_failures() {
        let ok = |rate: f64| {
            json!({ "median": { "msg_per_s": rate, "mb_per_s": 1.0, "msgs": 10,
            "receiver": { "cpu_s": 0.1 }, "sender": { "cpu_s": 0.1, "sent": 10 } } })
        };
        let all = json!({
            "mode": "quick", "reps": 1, "machine": {},
            "results": [
                { "case": "thr", "security": "null", "size": 64, "impl": "courier", "result": ok(2e6) },
                { "case": "thr", "security": "null", "size": 64, "impl": "libzmq", "result": ok(1e6) },
                { "case": "thr", "security": "null", "size": 64, "impl": "zmqrs",
                  "result": { "error": "boom" } },
            ],
            "scale": [],
        });
        let md = markdown(&all);
        assert!(md.contains("| 64 B | 2.00 M msg/s, 1.0 MB/s | 1.00 M msg/s, 1.0 MB/s | FAILED (boom) | 2.00x | – |"), "{md}");
    }

    #[test]
    fn the_scale_table_puts_both_servers_side_by_side() {
        let run = |server: &str, log: &str, cpu: f64, greeted: Value, per_hs: f64| {
            json!({ "case": "scale", "server": server, "clients": 100, "security": "null",
                    "server_log": log, "result": {
                        "reached": 100, "wanted": 100, "greeted": 100, "connect_secs": 0.5,
                        "handshakes_per_s": 200.0, "server_cpu_per_handshake_us": per_hs,
                        "handshakes_per_core_s": 1e6 / per_hs, "greeted_secs": greeted,
                        "server_cpu_pct": cpu, "server_rss_kb": 2048, "server_peak_rss_kb": 3072,
                        "clients_cpu_pct": 10.0 } })
        };
        let all = json!({
            "mode": "quick", "reps": 1, "machine": {}, "results": [],
            "scale": [
                run("courier", "info", 10.0, json!(2.0), 250.0),
                run("libzmq", "none", 20.0, json!(1.0), 500.0),
                run("courier", "warn", 5.0, Value::Null, 250.0),
                { "case": "handshakes", "server": "courier", "clients": 50, "security": "curve",
                  "server_log": "info", "result": { "reached": 50,
                  "server_cpu_per_handshake_us": 250.0, "handshakes_per_core_s": 4000.0,
                  "handshakes_per_s": 900.0 } },
                { "case": "handshakes", "server": "libzmq", "clients": 50, "security": "curve",
                  "server_log": "none", "result": { "error": "boom" } },
            ],
        });
        let md = markdown(&all);
        assert!(
            md.contains("100 clients, NULL, courier-server log level info:"),
            "{md}"
        );
        assert!(
            md.contains("| server CPU (steady) | 10.0% | 20.0% | 0.50x |"),
            "{md}"
        );
        assert!(md.contains("| greeted | 2.00 s | 1.00 s | 2.00x |"), "{md}");
        assert!(
            md.contains("| handshakes/s of one server core | 4.0 k | 2.0 k | 2.00x |"),
            "{md}"
        );
        assert!(
            md.contains("| server RSS | 2.0 MiB (3.0) | 2.0 MiB (3.0) | 1.00x |"),
            "{md}"
        );
        // The warn run is compared with the one libzmq run of that size and security.
        assert!(
            md.contains("100 clients, NULL, courier-server log level warn:"),
            "{md}"
        );
        assert!(
            md.contains("| server CPU (steady) | 5.0% | 20.0% | 0.25x |"),
            "{md}"
        );
        assert!(
            md.contains("| greeted | only 100 of 100 | 1.00 s | – |"),
            "{md}"
        );
        assert!(
            md.contains("**CURVE handshakes**: 50 courier clients"),
            "{md}"
        );
        assert!(
            md.contains("| handshakes/s of one server core | 4.0 k | FAILED (boom) | – |"),
            "{md}"
        );
    }

    #[test]
    fn the_socket_type_tables_say_whether_the_targets_were_met() {
        let thr = |rate: f64, cpu: f64| {
            json!({ "median": { "msg_per_s": rate, "msgs": 1000, "delivered_fraction": 0.5,
                    "receiver": { "cpu_s": cpu }, "sender": { "cpu_s": cpu, "sent": 1000 } } })
        };
        let lat = |p50: f64, p99: f64| json!({ "median": { "p50_us": p50, "p99_us": p99 } });
        let all = json!({
            "mode": "quick", "reps": 1, "machine": {}, "scale": [],
            "results": [
                { "case": "push", "impl": "courier", "result": thr(3e6, 0.001) },
                { "case": "push", "impl": "libzmq", "result": thr(1e6, 0.002) },
                { "case": "fanout", "subscribers": 10, "impl": "courier", "result": thr(1.2e6, 0.001) },
                { "case": "fanout", "subscribers": 10, "impl": "libzmq", "result": thr(1e6, 0.001) },
                { "case": "fanout", "subscribers": 10, "impl": "zmqrs", "result": { "error": "boom" } },
                { "case": "reqrep", "impl": "courier", "result": lat(100.0, 300.0) },
                { "case": "reqrep", "impl": "libzmq", "result": lat(80.0, 200.0) },
                { "case": "reqrep-baseline", "impl": "courier", "result": lat(110.0, 250.0) },
            ],
        });
        let md = markdown(&all);
        assert!(
            md.contains("| throughput | 3.00 M msg/s | 1.00 M msg/s | n/a | 3.00x | – |"),
            "{md}"
        );
        assert!(
            md.contains("| CPU per message (µs) | 2.00 | 4.00 | n/a | 0.50x | – |"),
            "{md}"
        );
        assert!(
            md.contains("**Fan-out**: one PUB process, 10 SUB sockets"),
            "{md}"
        );
        assert!(
            md.contains("| share delivered | 50.0% | 50.0% | FAILED (boom) | 1.00x | – |"),
            "{md}"
        );
        assert!(
            md.contains("| RTT p50 | 100.0 µs | 80.0 µs | n/a | 1.25x | – |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| PUSH/PULL 64 B >= 1.5x libzmq | 3.00x (3.00 M vs 1.00 M msg/s) | **yes** |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| fan-out (delivered) 64 B >= 1.5x libzmq | 1.20x (1.20 M vs 1.00 M msg/s) | no |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| REQ/REP RTT <= DEALER/ROUTER's | p50 100.0 vs 110.0 µs (0.91x); p99 300.0 vs 250.0 µs (1.20x) | **yes** |"),
            "{md}"
        );
    }

    #[test]
    fn a_target_without_libzmq_figures_is_not_measured() {
        let all = json!({
            "mode": "quick", "reps": 1, "machine": {}, "scale": [],
            "results": [
                { "case": "push", "impl": "courier", "result": { "median": { "msg_per_s": 1e6 } } },
                { "case": "push", "impl": "libzmq", "result": { "error": "boom" } },
            ],
        });
        let md = markdown(&all);
        assert!(
            md.contains("| PUSH/PULL 64 B >= 1.5x libzmq | – (needs courier and libzmq figures) | not measured |"),
            "{md}"
        );
    }

    #[test]
    fn sizes_have_short_names() {
        assert_eq!(size_name(8), "8 B");
        assert_eq!(size_name(16 * 1024), "16 KiB");
        assert_eq!(size_name(64 << 20), "64 MiB");
    }
}
