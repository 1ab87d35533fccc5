//! The driver: runs every case with each side in its own process on 127.0.0.1, collects the
//! peers' JSON results, prints a Markdown table and writes all results as JSON.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use courier_proto::curve::Keypair;
use serde_json::{json, Value};

use crate::peer::{Impl, CLIENT_PUBLIC, CLIENT_SECRET, SERVER_PUBLIC, SERVER_SECRET};
use crate::report;
use crate::util::{cpu_seconds, proc_status_kb, Flags, FANOUT_SUBSCRIBERS, GO, SUBSCRIBED};

const USAGE: &str = "\
courier-bench: courier vs libzmq vs zmq.rs, each side in its own process on 127.0.0.1.
Run through ./scripts/bench.sh (it builds everything, including the libzmq peer).

  courier-bench [--quick] [--only GROUPS] [--impls courier,libzmq,zmqrs] [--reps N]
                [--scale-clients 1000,10000] [--handshake-clients 5000]
                [--json PATH] [--markdown PATH] [--libzmq-peer PATH] [--server PATH]

GROUPS (comma-separated): thr, lat, pipe, big, push, fanout, reqrep, curve-thr, curve-lat, scale
--quick: a few seconds in all (smoke test); default: the full run for BENCHMARKS.md.
push: PUSH -> PULL throughput at 64 B; fanout: one PUB to 10 SUB sockets (in one process),
  messages delivered per second in all; reqrep: REQ/REP round trips (and, unless lat runs
  too, courier's DEALER/ROUTER round trips as the baseline of its target).
scale: N courier clients at 1 Hz against courier-server and against the libzmq peer's
  hello-server (those of --impls), NULL and CURVE; then CURVE handshakes per second of one
  server core, with --handshake-clients clients that only connect.
";

/// Every group of cases, in run order.
const GROUPS: [&str; 10] = [
    "thr",
    "lat",
    "pipe",
    "big",
    "push",
    "fanout",
    "reqrep",
    "curve-thr",
    "curve-lat",
    "scale",
];

/// Sizes and times of a run.
struct Plan {
    quick: bool,
    reps: usize,
    thr_secs: f64,
    lat_secs: f64,
    pipe_secs: f64,
    sizes: Vec<usize>,
    curve_sizes: Vec<usize>,
    lat_size: usize,
    inflight: usize,
    big_size: usize,
    big_reps: usize,
    scale_clients: Vec<usize>,
    scale_window_secs: f64,
    scale_settle_secs: f64,
    /// Most clients per client process.
    clients_per_proc: usize,
    /// Most handshakes in progress at once per client process.
    handshake_window: usize,
    /// Clients of the handshake-rate case.
    handshake_clients: usize,
}

impl Plan {
    fn new(flags: &Flags) -> Result<Plan, String> {
        let quick = flags.on("quick");
        let list = |name: &str, default: Vec<usize>| -> Result<Vec<usize>, String> {
            match flags.get(name) {
                None => Ok(default),
                Some(v) => v
                    .split(',')
                    .map(|x| {
                        x.trim()
                            .parse()
                            .map_err(|_| format!("--{name}: bad list {v:?}"))
                    })
                    .collect(),
            }
        };
        let full_sizes = vec![8, 64, 1024, 16 * 1024, 128 * 1024];
        Ok(Plan {
            quick,
            reps: flags.num("reps", if quick { 1 } else { 3 })?,
            thr_secs: if quick { 0.2 } else { 2.0 },
            lat_secs: if quick { 0.2 } else { 3.0 },
            pipe_secs: if quick { 0.2 } else { 2.0 },
            sizes: list(
                "sizes",
                if quick {
                    vec![64, 128 * 1024]
                } else {
                    full_sizes.clone()
                },
            )?,
            curve_sizes: list("curve-sizes", if quick { vec![64] } else { full_sizes })?,
            lat_size: 64,
            inflight: 1024,
            big_size: 64 << 20,
            big_reps: flags.num("big-reps", if quick { 1 } else { 3 })?,
            scale_clients: list(
                "scale-clients",
                if quick { vec![200] } else { vec![1000, 10_000] },
            )?,
            scale_window_secs: if quick { 1.0 } else { 10.0 },
            scale_settle_secs: if quick { 0.5 } else { 3.0 },
            clients_per_proc: flags.num("clients-per-proc", 5000)?,
            handshake_window: flags.num("handshake-window", 256)?,
            handshake_clients: flags.num("handshake-clients", if quick { 200 } else { 5000 })?,
        })
    }
}

/// Programs, keys and options of a run.
struct Driver {
    exe: PathBuf,
    libzmq_peer: PathBuf,
    server: PathBuf,
    out_dir: PathBuf,
    plan: Plan,
    impls: Vec<Impl>,
    groups: HashSet<String>,
    keys: Vec<(&'static str, String)>,
}

/// A started child process whose output lines arrive on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    name: String,
}

impl Proc {
    fn start(mut cmd: Command, name: String) -> Result<Proc, String> {
        cmd.stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| format!("{name}: no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(Proc { child, lines, name })
    }

    /// The next line starting with `prefix`, before `deadline`.
    fn line(&mut self, prefix: &str, deadline: Instant) -> Result<String, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return Ok(l),
                Ok(l) if l.starts_with('{') => {
                    // A result where another line was expected: the peer failed early.
                    return Err(format!("{}: {l}", self.name));
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("{}: timed out waiting for {prefix:?}", self.name))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!(
                        "{}: exited ({status}) before printing {prefix:?}",
                        self.name
                    ));
                }
            }
        }
    }

    /// The result line (JSON), before `deadline`.
    fn result(&mut self, deadline: Instant) -> Result<Value, String> {
        let line = loop {
            let l = self.line("", deadline)?;
            if l.starts_with('{') {
                break l;
            }
        };
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{}: bad result {line:?}: {e}", self.name))?;
        match v.get("error") {
            Some(e) => Err(format!("{}: {e}", self.name)),
            None => Ok(v),
        }
    }

    /// Waits for the process to exit (killing it after `grace`).
    fn finish(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Entry point of the driver; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return 0;
    }
    let flags = match Flags::parse(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let driver = match Driver::new(&flags) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    driver.run(&flags)
}

fn exe_dir(exe: &Path) -> PathBuf {
    exe.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl Driver {
    fn new(flags: &Flags) -> Result<Driver, String> {
        let known = [
            "quick",
            "only",
            "impls",
            "reps",
            "big-reps",
            "sizes",
            "curve-sizes",
            "scale-clients",
            "clients-per-proc",
            "handshake-window",
            "handshake-clients",
            "json",
            "markdown",
            "libzmq-peer",
            "server",
        ];
        if let Some(bad) = flags.names().into_iter().find(|n| !known.contains(n)) {
            return Err(format!("unknown flag --{bad}\n\n{USAGE}"));
        }
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let dir = exe_dir(&exe);
        // target/release/courier-bench -> target/bench/
        let out_dir = dir
            .parent()
            .map_or_else(|| PathBuf::from("bench-out"), |t| t.join("bench"));
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
        let libzmq_peer = flags
            .get("libzmq-peer")
            .map_or_else(|| out_dir.join("libzmq-peer"), PathBuf::from);
        let server = flags
            .get("server")
            .map_or_else(|| dir.join("courier-server"), PathBuf::from);
        let impls = match flags.get("impls") {
            None => vec![Impl::Courier, Impl::Libzmq, Impl::Zmqrs],
            Some(list) => list
                .split(',')
                .map(|s| Impl::parse(s.trim()).ok_or_else(|| format!("unknown impl {s:?}")))
                .collect::<Result<_, _>>()?,
        };
        let groups: HashSet<String> = match flags.get("only") {
            None => GROUPS.iter().map(|s| s.to_string()).collect(),
            Some(list) => {
                let g: HashSet<String> = list.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(bad) = g.iter().find(|x| !GROUPS.contains(&x.as_str())) {
                    return Err(format!("unknown group {bad:?} (groups: {GROUPS:?})"));
                }
                g
            }
        };
        if impls.contains(&Impl::Libzmq) && !libzmq_peer.exists() {
            return Err(format!(
                "no libzmq peer at {} (scripts/bench.sh builds it; or --impls courier,zmqrs)",
                libzmq_peer.display()
            ));
        }
        if groups.contains("scale") && !server.exists() {
            return Err(format!(
                "no courier-server at {} (cargo build --release -p courier-server)",
                server.display()
            ));
        }
        let server_keys = Keypair::generate();
        let client_keys = Keypair::generate();
        let keys = vec![
            (SERVER_SECRET, server_keys.secret().to_z85().to_string()),
            (SERVER_PUBLIC, server_keys.public_z85()),
            (CLIENT_SECRET, client_keys.secret().to_z85().to_string()),
            (CLIENT_PUBLIC, client_keys.public_z85()),
        ];
        Ok(Driver {
            exe,
            libzmq_peer,
            server,
            out_dir,
            plan: Plan::new(flags)?,
            impls,
            groups,
            keys,
        })
    }

    fn wants(&self, group: &str) -> bool {
        self.groups.contains(group)
    }

    /// The command of one peer.
    fn peer(&self, imp: Impl, role: &str, args: &[(&str, String)], curve: bool) -> Command {
        let mut cmd = match imp {
            Impl::Libzmq => Command::new(&self.libzmq_peer),
            Impl::Courier | Impl::Zmqrs => {
                let mut c = Command::new(&self.exe);
                c.args(["peer", "--impl", imp.name()]);
                c
            }
        };
        cmd.args(["--role", role]);
        for (k, v) in args {
            cmd.arg(format!("--{k}")).arg(v);
        }
        if curve {
            cmd.arg("--curve");
            cmd.envs(self.keys.iter().map(|(k, v)| (*k, v.as_str())));
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs a binding peer and a connecting one; returns (binder's, connector's) results.
    fn pair(
        &self,
        imp: Impl,
        roles: (&str, &str),
        args: &[(&str, String)],
        curve: bool,
        limit: Duration,
    ) -> Result<(Value, Value), String> {
        let deadline = Instant::now() + limit;
        let mut limit_args = args.to_vec();
        limit_args.push(("limit", format!("{:.1}", limit.as_secs_f64())));
        let mut binder = Proc::start(
            self.peer(imp, roles.0, &limit_args, curve),
            format!("{} {}", imp.name(), roles.0),
        )?;
        let ready = match binder.line("READY ", Instant::now() + Duration::from_secs(10)) {
            Ok(l) => l,
            Err(e) => {
                binder.kill();
                return Err(e);
            }
        };
        let endpoint = ready.trim_start_matches("READY ").trim().to_owned();
        limit_args.push(("endpoint", endpoint));
        let mut connector = match Proc::start(
            self.peer(imp, roles.1, &limit_args, curve),
            format!("{} {}", imp.name(), roles.1),
        ) {
            Ok(p) => p,
            Err(e) => {
                binder.kill();
                return Err(e);
            }
        };
        // The peers give up at `limit` and say how far they got; the driver waits a little
        // longer for that.
        let deadline = deadline + Duration::from_secs(3);
        let results = match connector.result(deadline) {
            Ok(c) => binder.result(deadline).map(|b| (b, c)),
            Err(e) => Err(
                match binder.result(Instant::now() + Duration::from_secs(2)) {
                    Ok(b) => format!("{e}; {} said {b}", binder.name),
                    Err(b) => format!("{e}; {b}"),
                },
            ),
        };
        match results {
            Ok(r) => {
                connector.finish(Duration::from_secs(15));
                binder.finish(Duration::from_secs(15));
                Ok(r)
            }
            Err(e) => {
                connector.kill();
                binder.kill();
                Err(e)
            }
        }
    }

    /// Runs a case `reps` times; returns every run and the median one by `key` (or the error
    /// of the last failure if none succeeded).
    fn repeat(
        &self,
        label: &str,
        reps: usize,
        key: &str,
        mut run: impl FnMut() -> Result<Value, String>,
    ) -> Value {
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for rep in 1..=reps {
            match run() {
                Ok(v) => {
                    eprintln!("  {label} [{rep}/{reps}]: {key} = {}", fmt_num(&v[key]));
                    ok.push(v);
                }
                Err(e) => {
                    eprintln!("  {label} [{rep}/{reps}]: FAILED: {e}");
                    errors.push(e);
                }
            }
        }
        if ok.is_empty() {
            return json!({ "error": errors.last().cloned().unwrap_or_default() });
        }
        let mut sorted = ok.clone();
        sorted.sort_by(|a, b| {
            let x = a[key].as_f64().unwrap_or(0.0);
            let y = b[key].as_f64().unwrap_or(0.0);
            x.total_cmp(&y)
        });
        let median = sorted.get(sorted.len() / 2).cloned().unwrap_or(Value::Null);
        json!({ "median": median, "runs": ok, "errors": errors })
    }

    /// The bound on one run of a case lasting `secs`.
    fn limit(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs * 2.0 + if self.plan.quick { 5.0 } else { 30.0 })
    }

    fn throughput(&self, curve: bool, out: &mut Vec<Value>) {
        let sizes = if curve {
            &self.plan.curve_sizes
        } else {
            &self.plan.sizes
        };
        let security = if curve { "curve" } else { "null" };
        for &size in sizes {
            for &imp in &self.impls {
                if curve && imp == Impl::Zmqrs {
                    continue;
                }
                let label = format!("thr {security} {size} B {}", imp.name());
                let secs = self.plan.thr_secs;
                let r = self.repeat(&label, self.plan.reps, "msg_per_s", || {
                    let (recv, send) = self.pair(
                        imp,
                        ("thr-recv", "thr-send"),
                        &[
                            ("size", size.to_string()),
                            ("duration", secs.to_string()),
                            ("max-msgs", max_msgs(size, secs).to_string()),
                        ],
                        curve,
                        self.limit(secs),
                    )?;
                    let mut v = recv.clone();
                    v["receiver"] = recv;
                    v["sender"] = send;
                    Ok(v)
                });
                out.push(json!({ "case": "thr", "security": security, "size": size,
                                 "impl": imp.name(), "result": r }));
            }
        }
    }

    fn latency(&self, curve: bool, out: &mut Vec<Value>) {
        let security = if curve { "curve" } else { "null" };
        for &imp in &self.impls {
            if curve && imp == Impl::Zmqrs {
                continue;
            }
            let label = format!("lat {security} {} B {}", self.plan.lat_size, imp.name());
            let secs = self.plan.lat_secs;
            let r = self.repeat(&label, self.plan.reps, "p50_us", || {
                let (_, lat) = self.pair(
                    imp,
                    ("echo", "lat"),
                    &[
                        ("size", self.plan.lat_size.to_string()),
                        ("duration", secs.to_string()),
                    ],
                    curve,
                    self.limit(secs),
                )?;
                Ok(lat)
            });
            out.push(
                json!({ "case": "lat", "security": security, "size": self.plan.lat_size,
                             "impl": imp.name(), "result": r }),
            );
        }
    }

    fn pipelined(&self, out: &mut Vec<Value>) {
        for &imp in &self.impls {
            let label = format!("pipe {} in flight {}", self.plan.inflight, imp.name());
            let secs = self.plan.pipe_secs;
            let r = self.repeat(&label, self.plan.reps, "req_per_s", || {
                let (_, pipe) = self.pair(
                    imp,
                    ("echo", "pipe"),
                    &[
                        ("size", self.plan.lat_size.to_string()),
                        ("duration", secs.to_string()),
                        ("inflight", self.plan.inflight.to_string()),
                        // Room for every request in every queue: no drop, no deadlock.
                        ("hwm", (self.plan.inflight * 4).to_string()),
                    ],
                    false,
                    self.limit(secs),
                )?;
                Ok(pipe)
            });
            out.push(
                json!({ "case": "pipe", "security": "null", "size": self.plan.lat_size,
                             "inflight": self.plan.inflight, "impl": imp.name(), "result": r }),
            );
        }
    }

    fn big(&self, out: &mut Vec<Value>) {
        for &imp in &self.impls {
            let label = format!("big {} MiB {}", self.plan.big_size >> 20, imp.name());
            let r = self.repeat(&label, self.plan.big_reps, "secs", || {
                let (recv, send) = self.pair(
                    imp,
                    ("big-recv", "big-send"),
                    &[("size", self.plan.big_size.to_string())],
                    false,
                    Duration::from_secs(60),
                )?;
                Ok(json!({
                    "secs": send["secs"],
                    "sender_peak_rss_kb": send["peak_rss_kb"],
                    "receiver_peak_rss_kb": recv["peak_rss_kb"],
                    "sender": send,
                    "receiver": recv,
                }))
            });
            out.push(
                json!({ "case": "big", "security": "null", "size": self.plan.big_size,
                             "impl": imp.name(), "result": r }),
            );
        }
    }

    /// PUSH -> PULL throughput at the socket-type size (64 B), as `thr`.
    fn push(&self, out: &mut Vec<Value>) {
        let size = self.plan.lat_size;
        for &imp in &self.impls {
            let label = format!("push {size} B {}", imp.name());
            let secs = self.plan.thr_secs;
            let r = self.repeat(&label, self.plan.reps, "msg_per_s", || {
                let (recv, send) = self.pair(
                    imp,
                    ("push-recv", "push-send"),
                    &[
                        ("size", size.to_string()),
                        ("duration", secs.to_string()),
                        ("max-msgs", max_msgs(size, secs).to_string()),
                    ],
                    false,
                    self.limit(secs),
                )?;
                let mut v = recv.clone();
                v["receiver"] = recv;
                v["sender"] = send;
                Ok(v)
            });
            out.push(json!({ "case": "push", "security": "null", "size": size,
                             "impl": imp.name(), "result": r }));
        }
    }

    /// One PUB to [`FANOUT_SUBSCRIBERS`] SUB sockets in one process, 64 B.
    fn fanout(&self, out: &mut Vec<Value>) {
        let size = self.plan.lat_size;
        for &imp in &self.impls {
            let label = format!(
                "fanout {size} B to {FANOUT_SUBSCRIBERS} subscribers {}",
                imp.name()
            );
            let secs = self.plan.thr_secs;
            let r = self.repeat(&label, self.plan.reps, "msg_per_s", || {
                self.fan(imp, size, secs)
            });
            out.push(json!({ "case": "fanout", "security": "null", "size": size,
                             "subscribers": FANOUT_SUBSCRIBERS, "impl": imp.name(),
                             "result": r }));
        }
    }

    /// One fan-out run: the publisher binds and sends WARM until the subscriber process says
    /// every SUB socket has a message (so every subscription is in: the slow joiner is not
    /// timed); then GO on the publisher's input starts the timed part; the publisher repeats
    /// END (which a subscriber at its HWM may miss) until its input is closed.
    fn fan(&self, imp: Impl, size: usize, secs: f64) -> Result<Value, String> {
        // Room for connecting and subscribing before the timed part.
        let limit = self.limit(secs) + Duration::from_secs(10);
        let deadline = Instant::now() + limit + Duration::from_secs(3);
        let mut args = vec![
            ("size", size.to_string()),
            ("duration", secs.to_string()),
            ("max-msgs", max_msgs(size, secs).to_string()),
            ("limit", format!("{:.1}", limit.as_secs_f64())),
        ];
        let mut cmd = self.peer(imp, "fan-pub", &args, false);
        cmd.stdin(Stdio::piped());
        let mut publisher = Proc::start(cmd, format!("{} fan-pub", imp.name()))?;
        let ready = match publisher.line("READY ", Instant::now() + Duration::from_secs(10)) {
            Ok(l) => l,
            Err(e) => {
                publisher.kill();
                return Err(e);
            }
        };
        args.push((
            "endpoint",
            ready.trim_start_matches("READY ").trim().to_owned(),
        ));
        args.push(("count", FANOUT_SUBSCRIBERS.to_string()));
        let mut subs = match Proc::start(
            self.peer(imp, "fan-sub", &args, false),
            format!("{} fan-sub", imp.name()),
        ) {
            Ok(p) => p,
            Err(e) => {
                publisher.kill();
                return Err(e);
            }
        };
        let fail = |publisher: Proc, subs: Proc, e: String| {
            publisher.kill();
            subs.kill();
            Err(e)
        };
        if let Err(e) = subs.line(SUBSCRIBED, Instant::now() + Duration::from_secs(10)) {
            return fail(publisher, subs, e);
        }
        let go = publisher.child.stdin.as_mut().map_or_else(
            || Err("fan-pub: no stdin".to_owned()),
            |stdin| {
                use std::io::Write;
                writeln!(stdin, "{GO}")
                    .and_then(|()| stdin.flush())
                    .map_err(|e| format!("fan-pub: cannot say GO: {e}"))
            },
        );
        if let Err(e) = go {
            return fail(publisher, subs, e);
        }
        let received = match subs.result(deadline) {
            Ok(r) => r,
            Err(e) => return fail(publisher, subs, e),
        };
        // The subscribers are done: the publisher may stop repeating END.
        drop(publisher.child.stdin.take());
        let published = match publisher.result(Instant::now() + Duration::from_secs(10)) {
            Ok(p) => p,
            Err(e) => return fail(publisher, subs, e),
        };
        subs.finish(Duration::from_secs(15));
        publisher.finish(Duration::from_secs(15));
        let sent = published["sent"].as_f64().unwrap_or(0.0);
        let msgs = received["msgs"].as_f64().unwrap_or(0.0);
        let mut v = received.clone();
        // What reached the subscribers of what was published to them (the rest was dropped at
        // a subscriber's HWM, as PUB does).
        v["delivered_fraction"] = if sent > 0.0 {
            json!(msgs / (sent * FANOUT_SUBSCRIBERS as f64))
        } else {
            Value::Null
        };
        v["receiver"] = received;
        v["sender"] = published;
        Ok(v)
    }

    /// REQ/REP round trips at 64 B, as `lat`; and courier's DEALER/ROUTER round trips when the
    /// `lat` group does not run, the baseline of the REQ/REP target.
    fn reqrep(&self, out: &mut Vec<Value>) {
        let size = self.plan.lat_size;
        let secs = self.plan.lat_secs;
        let mut cases = self
            .impls
            .iter()
            .map(|&imp| ("reqrep", imp, ("rep", "req")))
            .collect::<Vec<_>>();
        if !self.wants("lat") && self.impls.contains(&Impl::Courier) {
            cases.push(("reqrep-baseline", Impl::Courier, ("echo", "lat")));
        }
        for (case, imp, roles) in cases {
            let label = format!("{case} {size} B {}", imp.name());
            let r = self.repeat(&label, self.plan.reps, "p50_us", || {
                let (_, lat) = self.pair(
                    imp,
                    roles,
                    &[("size", size.to_string()), ("duration", secs.to_string())],
                    false,
                    self.limit(secs),
                )?;
                Ok(lat)
            });
            out.push(json!({ "case": case, "security": "null", "size": size,
                             "impl": imp.name(), "result": r }));
        }
    }

    fn run(&self, flags: &Flags) -> i32 {
        let started = Instant::now();
        let machine = machine_info(&self.libzmq_peer, self.impls.contains(&Impl::Libzmq));
        eprintln!(
            "courier-bench: {} run; load average at start {}",
            if self.plan.quick { "quick" } else { "full" },
            machine["loadavg_start"].as_str().unwrap_or("?")
        );
        let mut results = Vec::new();
        if self.wants("thr") {
            self.throughput(false, &mut results);
        }
        if self.wants("lat") {
            self.latency(false, &mut results);
        }
        if self.wants("pipe") {
            self.pipelined(&mut results);
        }
        if self.wants("big") {
            self.big(&mut results);
        }
        if self.wants("push") {
            self.push(&mut results);
        }
        if self.wants("fanout") {
            self.fanout(&mut results);
        }
        if self.wants("reqrep") {
            self.reqrep(&mut results);
        }
        if self.impls.contains(&Impl::Courier) || self.impls.contains(&Impl::Libzmq) {
            if self.wants("curve-thr") {
                self.throughput(true, &mut results);
            }
            if self.wants("curve-lat") {
                self.latency(true, &mut results);
            }
        }
        let mut scale = Vec::new();
        if self.wants("scale") {
            self.scale_all(&mut scale);
        }
        let mut machine = machine;
        machine["loadavg_end"] = read_trim("/proc/loadavg").into();
        let all = json!({
            "mode": if self.plan.quick { "quick" } else { "full" },
            "reps": self.plan.reps,
            "wall_secs": started.elapsed().as_secs_f64(),
            "machine": machine,
            "results": results,
            "scale": scale,
        });
        let table = report::markdown(&all);
        println!("{table}");
        let json_path = flags
            .get("json")
            .map_or_else(|| self.out_dir.join("results.json"), PathBuf::from);
        let text = serde_json::to_string_pretty(&all).unwrap_or_default();
        if let Err(e) = std::fs::write(&json_path, text + "\n") {
            eprintln!("error: cannot write {}: {e}", json_path.display());
            return 1;
        }
        eprintln!("JSON results: {}", json_path.display());
        if let Some(md) = flags.get("markdown") {
            if let Err(e) = std::fs::write(md, &table) {
                eprintln!("error: cannot write {md}: {e}");
                return 1;
            }
        }
        let failed = results
            .iter()
            .chain(scale.iter())
            .filter(|r| r["result"].get("error").is_some())
            .count();
        if failed > 0 {
            eprintln!("{failed} case(s) failed (see the table and the JSON)");
        }
        eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
        i32::from(failed > 0)
    }

    /// The server-scale cases, each against courier-server and the libzmq hello-server (those
    /// of `--impls`) with the same courier clients, then the CURVE handshake rate of each.
    fn scale_all(&self, out: &mut Vec<Value>) {
        let keydir = self.out_dir.join("scale-keys");
        let server_public = match self.keygen(&keydir) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("  scale: CURVE keygen failed: {e}");
                None
            }
        };
        let servers: Vec<ScaleServer> = [
            (Impl::Courier, ScaleServer::Courier),
            (Impl::Libzmq, ScaleServer::Libzmq),
        ]
        .into_iter()
        .filter(|(imp, _)| self.impls.contains(imp))
        .map(|(_, s)| s)
        .collect();
        let mut cases: Vec<ScaleCase> = Vec::new();
        for curve in [false, true] {
            for &n in &self.plan.scale_clients {
                cases.push(ScaleCase {
                    n,
                    curve,
                    log: None,
                    silent: false,
                });
            }
        }
        // What logging costs: courier-server logs every message it receives at info level
        // (the libzmq server logs nothing, so it is not run again).
        if let Some(&max) = self
            .plan
            .scale_clients
            .iter()
            .max()
            .filter(|_| !self.plan.quick)
        {
            cases.push(ScaleCase {
                n: max,
                curve: false,
                log: Some("warn"),
                silent: false,
            });
        }
        // The handshake rate: clients that only connect, so that the server's CPU time over the
        // connect phase is all handshakes.
        cases.push(ScaleCase {
            n: self.plan.handshake_clients,
            curve: true,
            log: None,
            silent: true,
        });
        for case in &cases {
            for &server in &servers {
                if case.log.is_some() && server == ScaleServer::Libzmq {
                    continue;
                }
                out.push(self.scale_case(server, case, &keydir, server_public.as_deref()));
            }
        }
    }

    /// Runs one scale case against one server; returns its entry of the "scale" results.
    fn scale_case(
        &self,
        server: ScaleServer,
        case: &ScaleCase,
        keydir: &Path,
        server_public: Option<&str>,
    ) -> Value {
        let label = format!(
            "{} {} clients {} vs {}{}",
            case.kind(),
            case.n,
            case.security(),
            server.program(),
            case.log.map(|l| format!(" log={l}")).unwrap_or_default()
        );
        let r = if case.curve && server == ScaleServer::Courier && server_public.is_none() {
            json!({ "error": "no CURVE keys" })
        } else {
            match self.scale(server, case, keydir, server_public) {
                Ok(v) => {
                    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
                    if case.silent {
                        eprintln!(
                            "  {label}: {} connected in {:.2} s, {:.0} µs of server CPU each \
                             = {} handshakes/s of one core",
                            v["reached"],
                            f("connect_secs"),
                            f("server_cpu_per_handshake_us"),
                            v["handshakes_per_core_s"]
                                .as_f64()
                                .map_or_else(|| "?".to_owned(), |x| format!("{x:.0}")),
                        );
                    } else {
                        eprintln!(
                            "  {label}: {} connected in {:.2} s, {} greeted in {}, \
                             server CPU {:.1}%, RSS {} KiB",
                            v["reached"],
                            f("connect_secs"),
                            v["greeted"],
                            v["greeted_secs"]
                                .as_f64()
                                .map_or_else(|| "(not all)".to_owned(), |s| format!("{s:.2} s")),
                            f("server_cpu_pct"),
                            v["server_rss_kb"]
                        );
                    }
                    v
                }
                Err(e) => {
                    eprintln!("  {label}: FAILED: {e}");
                    json!({ "error": e })
                }
            }
        };
        let server_log = match (server, case.log) {
            (ScaleServer::Libzmq, _) => "none",
            (ScaleServer::Courier, log) => log.unwrap_or("info"),
        };
        json!({ "case": case.kind(), "server": server.name(), "clients": case.n,
                "security": case.security(), "server_log": server_log, "result": r })
    }

    /// Creates the server's CURVE key files with `courier-server keygen`; returns its public
    /// key in Z85.
    fn keygen(&self, dir: &Path) -> Result<String, String> {
        let _ = std::fs::remove_dir_all(dir);
        let out = Command::new(&self.server)
            .args(["keygen", "--name", "server", "--dir"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("public key (Z85): "))
            .map(|k| k.trim().to_owned())
            .ok_or_else(|| format!("unexpected keygen output: {text}"))
    }

    /// The command of a scale server listening on `endpoint`, and the CURVE keys its clients
    /// need (each server's public key with the clients' pair).
    fn scale_server_command(
        &self,
        server: ScaleServer,
        case: &ScaleCase,
        endpoint: &str,
        keydir: &Path,
        server_public: Option<&str>,
    ) -> (Command, Vec<(&'static str, String)>) {
        let mut client_keys = self.keys.clone();
        let cmd = match server {
            ScaleServer::Courier => {
                let mut cmd = Command::new(&self.server);
                cmd.args([
                    "--bind",
                    endpoint,
                    "--interval",
                    "1s",
                    "--stale-after",
                    "10s",
                ])
                .args(["--max-connections", &(case.n * 2 + 100).to_string()])
                // Every client comes from 127.0.0.1: lift the per-address and handshake limits.
                .args(["--max-per-address", &(case.n * 2 + 100).to_string()])
                .args(["--max-handshakes", &(case.n * 2 + 100).to_string()]);
                if case.curve {
                    cmd.args(["--curve", "--key-name", "server", "--allow-any-client"])
                        .arg("--curve-dir")
                        .arg(keydir);
                    client_keys.retain(|(k, _)| *k != SERVER_PUBLIC);
                    client_keys.push((SERVER_PUBLIC, server_public.unwrap_or_default().to_owned()));
                }
                if let Some(level) = case.log {
                    cmd.env("RUST_LOG", level);
                }
                // courier-server does not read standard input.
                cmd.stdin(Stdio::null());
                cmd
            }
            ScaleServer::Libzmq => {
                let mut cmd = Command::new(&self.libzmq_peer);
                cmd.args(["--role", "hello-server", "--endpoint", endpoint]);
                if case.curve {
                    // The run's server key pair, from the environment like every libzmq role.
                    cmd.arg("--curve");
                    cmd.envs(self.keys.iter().map(|(k, v)| (*k, v.as_str())));
                }
                // Its end of input is a second way to stop it, should the driver die.
                cmd.stdin(Stdio::piped());
                cmd
            }
        };
        (cmd, client_keys)
    }

    fn scale(
        &self,
        server_kind: ScaleServer,
        case: &ScaleCase,
        keydir: &Path,
        server_public: Option<&str>,
    ) -> Result<Value, String> {
        let plan = &self.plan;
        let n = case.n;
        let port = free_port()?;
        let endpoint = format!("tcp://127.0.0.1:{port}");
        let log_path = self.out_dir.join(format!(
            "{}-{}-{n}-{}-{}.log",
            case.kind(),
            server_kind.name(),
            case.security(),
            case.log.unwrap_or("info")
        ));
        let log_file = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let (mut cmd, client_keys) =
            self.scale_server_command(server_kind, case, &endpoint, keydir, server_public);
        cmd.stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file);
        let mut server = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server_kind.program()))?;
        let pid = server.id();
        let listen_deadline = Instant::now() + Duration::from_secs(10);
        while !is_listening(port) {
            if Instant::now() > listen_deadline || matches!(server.try_wait(), Ok(Some(_))) {
                let _ = server.kill();
                let _ = server.wait();
                return Err(format!(
                    "{} did not listen on {endpoint} (log: {})",
                    server_kind.program(),
                    log_path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let cpu_start = cpu_seconds(Some(pid)).unwrap_or(0.0);
        let procs = n.div_ceil(plan.clients_per_proc.max(1)).max(1);
        // Generous: CURVE handshakes of 10 000 clients on two busy cores take a while.
        let connect_limit = Duration::from_secs(if plan.quick { 30 } else { 120 });
        let hold = if case.silent {
            0.0
        } else {
            plan.scale_settle_secs + plan.scale_window_secs
        };
        let mut clients = Vec::new();
        for p in 0..procs {
            let count = n / procs + usize::from(p < n % procs);
            let mut cmd = Command::new(&self.exe);
            cmd.args(["peer", "--impl", "courier", "--role", "hello-clients"])
                .args(["--endpoint", &endpoint, "--count", &count.to_string()])
                .args(["--window", &plan.handshake_window.to_string()])
                .args(["--duration", &format!("{hold:.1}")])
                .args(["--greet-limit", &format!("{GREET_LIMIT_SECS:.1}")])
                .args([
                    "--limit",
                    &format!(
                        "{:.1}",
                        connect_limit.as_secs_f64() + hold + GREET_LIMIT_SECS
                    ),
                ])
                .stdin(Stdio::piped());
            if case.silent {
                cmd.arg("--silent");
            }
            if case.curve {
                cmd.arg("--curve");
                cmd.envs(client_keys.iter().map(|(k, v)| (*k, v.as_str())));
            }
            match Proc::start(cmd, format!("hello-clients #{p}")) {
                Ok(c) => clients.push(c),
                Err(e) => {
                    clients.into_iter().for_each(Proc::kill);
                    stop_server(&mut server);
                    return Err(e);
                }
            }
        }
        let connect_deadline = Instant::now() + connect_limit + Duration::from_secs(10);
        let connected = match lines_of(&mut clients, "CONNECTED ", connect_deadline) {
            Ok(c) => c,
            Err(e) => {
                clients.into_iter().for_each(Proc::kill);
                stop_server(&mut server);
                return Err(e);
            }
        };
        let cpu_connected = cpu_seconds(Some(pid)).unwrap_or(0.0);
        let reached: u64 = connected
            .iter()
            .map(|c| c["connected"].as_u64().unwrap_or(0))
            .sum();
        let first = connected
            .iter()
            .filter_map(|c| c["first_connect_unix"].as_f64())
            .fold(f64::INFINITY, f64::min);
        let last = connected
            .iter()
            .filter_map(|c| c["last_handshake_unix"].as_f64())
            .fold(0.0, f64::max);
        let connect_secs = (last - first).max(0.0);
        let mut greeted_reports = Vec::new();
        let mut steady = json!({});
        if !case.silent {
            let greet_deadline = Instant::now() + Duration::from_secs_f64(GREET_LIMIT_SECS + 10.0);
            greeted_reports = match lines_of(&mut clients, "GREETED ", greet_deadline) {
                Ok(g) => g,
                Err(e) => {
                    clients.into_iter().for_each(Proc::kill);
                    stop_server(&mut server);
                    return Err(e);
                }
            };
            std::thread::sleep(Duration::from_secs_f64(plan.scale_settle_secs));
            let (cpu0, t0) = (cpu_seconds(Some(pid)).unwrap_or(0.0), Instant::now());
            let clients_cpu0: f64 = clients
                .iter()
                .filter_map(|c| cpu_seconds(Some(c.child.id())))
                .sum();
            std::thread::sleep(Duration::from_secs_f64(plan.scale_window_secs));
            let cpu1 = cpu_seconds(Some(pid)).unwrap_or(0.0);
            let window = t0.elapsed().as_secs_f64();
            let clients_cpu1: f64 = clients
                .iter()
                .filter_map(|c| cpu_seconds(Some(c.child.id())))
                .sum();
            steady = json!({
                "window_secs": window,
                "server_cpu_pct": (cpu1 - cpu0) / window * 100.0,
                "clients_cpu_pct": (clients_cpu1 - clients_cpu0) / window * 100.0,
            });
        }
        let rss = proc_status_kb(Some(pid), "VmRSS").unwrap_or(0);
        let hwm = proc_status_kb(Some(pid), "VmHWM").unwrap_or(0);
        let threads = proc_status_kb(Some(pid), "Threads").unwrap_or(0);
        let server_alive = matches!(server.try_wait(), Ok(None));
        // Stop the clients: closing their standard input ends them.
        let mut finals = Vec::new();
        let end_deadline = Instant::now() + Duration::from_secs(20);
        for c in &mut clients {
            drop(c.child.stdin.take());
        }
        for mut c in clients {
            finals.push(
                c.result(end_deadline)
                    .unwrap_or_else(|e| json!({ "error": e })),
            );
            c.finish(Duration::from_secs(5));
        }
        let server_exit = stop_server(&mut server);
        let sum = |key: &str| -> u64 { finals.iter().filter_map(|f| f[key].as_u64()).sum() };
        let greeted: u64 = greeted_reports
            .iter()
            .filter_map(|g| g["greeted"].as_u64())
            .sum();
        let last_greeted = greeted_reports
            .iter()
            .filter_map(|g| g["last_first_hello_unix"].as_f64())
            .fold(f64::NEG_INFINITY, f64::max);
        // Only a figure when every client was greeted: otherwise "the last client" is unknown.
        let greeted_secs = (!case.silent && greeted == n as u64 && last_greeted.is_finite())
            .then(|| (last_greeted - first).max(0.0));
        let cpu_per_handshake_us = if reached > 0 {
            (cpu_connected - cpu_start) / reached as f64 * 1e6
        } else {
            0.0
        };
        let mut v = json!({
            "server": server_kind.name(),
            "wanted": n,
            "reached": reached,
            "client_procs": procs,
            "handshake_window_per_proc": plan.handshake_window,
            "connect_secs": connect_secs,
            "handshakes_per_s": if connect_secs > 0.0 { reached as f64 / connect_secs } else { 0.0 },
            "server_cpu_connect_s": cpu_connected - cpu_start,
            "server_cpu_per_handshake_us": cpu_per_handshake_us,
            // None when the server's CPU time did not reach one clock tick (10 ms): too few
            // handshakes to tell.
            "handshakes_per_core_s":
                (cpu_per_handshake_us > 0.0).then(|| 1e6 / cpu_per_handshake_us),
            "greeted": greeted,
            "greeted_secs": greeted_secs,
            "server_rss_kb": rss,
            "server_peak_rss_kb": hwm,
            "server_threads": threads,
            "server_alive": server_alive,
            "server_exit": server_exit,
            "server_report": last_json_line(&log_path),
            "hellos_sent": sum("hellos_sent"),
            "replies": sum("replies"),
            "failed_handshakes": sum("failed_handshakes"),
            "clients_rss_kb": sum("rss_kb"),
            "server_log": log_path.display().to_string(),
            "connected_reports": connected,
            "greeted_reports": greeted_reports,
            "final_reports": finals,
        });
        if let (Some(obj), Some(steady)) = (v.as_object_mut(), steady.as_object()) {
            obj.extend(steady.clone());
        }
        Ok(v)
    }
}

/// How long the scale clients wait, once connected, for every first HELLO from the server (it
/// greets every second, so a few seconds is the norm; this only bounds a broken server).
const GREET_LIMIT_SECS: f64 = 20.0;

/// Which server a scale case runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScaleServer {
    /// courier-server (release build), as shipped.
    Courier,
    /// The `hello-server` role of the libzmq peer: courier-server's behaviour on libzmq.
    Libzmq,
}

impl ScaleServer {
    /// The implementation's name in results.
    fn name(self) -> &'static str {
        match self {
            ScaleServer::Courier => "courier",
            ScaleServer::Libzmq => "libzmq",
        }
    }

    /// The program's name in messages.
    fn program(self) -> &'static str {
        match self {
            ScaleServer::Courier => "courier-server",
            ScaleServer::Libzmq => "libzmq hello-server",
        }
    }
}

/// One server-scale case: N clients that send HELLO at 1 Hz (or, `silent`, only connect).
struct ScaleCase {
    n: usize,
    curve: bool,
    /// courier-server's `RUST_LOG` (None: as shipped, info).
    log: Option<&'static str>,
    silent: bool,
}

impl ScaleCase {
    /// "scale", or "handshakes" for silent clients.
    fn kind(&self) -> &'static str {
        if self.silent {
            "handshakes"
        } else {
            "scale"
        }
    }

    fn security(&self) -> &'static str {
        if self.curve {
            "curve"
        } else {
            "null"
        }
    }
}

/// The next line starting with `prefix` from each process, parsed as JSON after the prefix.
fn lines_of(procs: &mut [Proc], prefix: &str, deadline: Instant) -> Result<Vec<Value>, String> {
    procs
        .iter_mut()
        .map(|p| {
            let l = p.line(prefix, deadline)?;
            Ok(serde_json::from_str::<Value>(l.trim_start_matches(prefix)).unwrap_or(Value::Null))
        })
        .collect()
}

/// Stops a server as an operator would, with SIGTERM (both servers then close and exit), and
/// kills it if it is still there after 10 s; returns how it ended.
fn stop_server(server: &mut Child) -> String {
    drop(server.stdin.take());
    let termed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if termed {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.try_wait() {
                return status.to_string();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = server.kill();
    let status = server.wait().map(|s| s.to_string()).unwrap_or_default();
    format!("killed after SIGTERM did not stop it ({status})")
}

/// The last line of a file that is a JSON object (the libzmq server's report), or Null.
fn last_json_line(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .and_then(|l| serde_json::from_str(l).ok())
        })
        .unwrap_or(Value::Null)
}

/// The most messages a throughput sender sends in `secs`: what 5 M msg/s or 2.5 GB/s would
/// take (more than any implementation reaches here). Only zmq.rs, whose sends never wait,
/// gets there; without the cap it would queue gigabytes and its receiver would take many
/// times `secs` to drain them.
fn max_msgs(size: usize, secs: f64) -> u64 {
    let rate = (2.5e9 / size.max(1) as f64).min(5e6);
    (rate * secs).ceil() as u64
}

/// A free TCP port on 127.0.0.1 (the OS picks it; released before use).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Whether something listens on 127.0.0.1:`port` (from /proc/net/tcp, without connecting).
fn is_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&want.as_str()) && f.get(3) == Some(&"0A")
        })
    })
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn fmt_num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.2}"),
        None => v.to_string(),
    }
}

/// What the run ran on.
fn machine_info(libzmq_peer: &Path, with_libzmq: bool) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_default();
    let libzmq = if with_libzmq {
        Command::new(libzmq_peer)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let zeromq = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"zeromq\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default();
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    // COURIER_COMMIT names the commit of a tree that is not a git checkout (an export).
    let (commit, dirty) = match std::env::var("COURIER_COMMIT") {
        Ok(c) => (c, false),
        Err(_) => (
            git(&["rev-parse", "--short=12", "HEAD"]),
            !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty(),
        ),
    };
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": model,
        "kernel": read_trim("/proc/sys/kernel/osrelease"),
        "memory_kb": proc_meminfo_total(),
        "libzmq": libzmq,
        "zeromq_crate": zeromq,
        "courier_commit": commit,
        "courier_tree_modified": dirty,
        "rustc": Command::new("rustc").arg("--version").output().ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        "loadavg_start": read_trim("/proc/loadavg"),
        "unix_time": crate::util::unix_now(),
    })
}

fn proc_meminfo_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
