//! `courier-bench peer --impl courier|zmqrs --role ROLE ...`: one side of a benchmark, in its own
//! process. Binding roles print `READY <endpoint>` first; every role ends with one JSON line
//! (its result, or `{"error": ...}`).
//!
//! Roles (the libzmq peer in `bench/c/peer.c` has the same ones, with the same flags):
//!
//! | role        | socket          | does                                                        |
//! |-------------|-----------------|-------------------------------------------------------------|
//! | `thr-recv`  | ROUTER, binds   | counts `[DATA, body]` until `END`, answers `ACK`; msg/s, MB/s |
//! | `thr-send`  | DEALER          | sends `[DATA, body]` for `--duration`, then `END`, waits `ACK` |
//! | `echo`      | ROUTER, binds   | sends every message back, until `END`                        |
//! | `lat`       | DEALER          | one message at a time for `--duration`: RTT percentiles      |
//! | `pipe`      | DEALER          | keeps `--inflight` requests outstanding: replies per second  |
//! | `big-recv`  | ROUTER, binds   | receives one `[BIG, body]`, answers `ACK`; peak RSS           |
//! | `big-send`  | DEALER          | sends one `[BIG, --size bytes]`, times it until `ACK`         |
//! | `push-recv` | PULL, binds     | counts `[DATA, body]` until `END` (no answer: PULL cannot send); msg/s |
//! | `push-send` | PUSH            | sends `[DATA, body]` for `--duration`, then `END`; closes with linger |
//! | `fan-pub`   | PUB, binds      | `[WARM, ""]` every ms until `GO` on stdin, `[DATA, body]` for `--duration`, then `END` every 10 ms until stdin ends |
//! | `fan-sub`   | `--count` SUBs in one process, subscribed to everything | `SUBSCRIBED` once each has a message; counts `DATA` until each has `END`; total msg/s |
//! | `rep`       | REP, binds      | replies to every request with it, until `END`                |
//! | `req`       | REQ             | one request at a time for `--duration`: RTT percentiles      |
//! | `hello-clients` | many DEALERs (courier only) | the server-scale clients: HELLO at 1 Hz each |
//! | `hello-server` | ROUTER, binds (libzmq only) | courier-server's behaviour on libzmq, for the scale case |

use std::time::Duration;

use crate::util::{print_result, Flags};

/// Which implementation a peer process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// courier-socket.
    Courier,
    /// libzmq through the C peer.
    Libzmq,
    /// The `zeromq` crate (zmq.rs).
    Zmqrs,
}

impl Impl {
    /// Name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Courier => "courier",
            Impl::Libzmq => "libzmq",
            Impl::Zmqrs => "zmqrs",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Impl> {
        match s {
            "courier" => Some(Impl::Courier),
            "libzmq" => Some(Impl::Libzmq),
            "zmqrs" | "zmq.rs" => Some(Impl::Zmqrs),
            _ => None,
        }
    }
}

/// The settings of one peer process.
#[derive(Clone, Debug)]
pub struct PeerArgs {
    /// What to do.
    pub role: String,
    /// Where to connect (connecting roles).
    pub endpoint: String,
    /// Body size in bytes.
    pub size: usize,
    /// How long the timed part lasts.
    pub duration: Duration,
    /// Requests outstanding (`pipe`).
    pub inflight: usize,
    /// Send and receive high-water marks.
    pub hwm: usize,
    /// Use CURVE (keys from the BENCH_CURVE_* environment variables).
    pub curve: bool,
    /// Upper bound on the whole run; past it the peer gives up with an error.
    pub limit: Duration,
    /// `hello-clients`: how many clients; `fan-sub`: how many SUB sockets.
    pub count: usize,
    /// `thr-send`, `push-send`, `fan-pub`: stop after this many messages even if `--duration` has not passed (zmq.rs
    /// has no high-water mark: its sends never wait, and would queue without bound).
    pub max_msgs: u64,
    /// `hello-clients`: most handshakes in progress at once.
    pub window: usize,
    /// `hello-clients`: connect and handshake only, never send (so that a server's CPU time
    /// is all handshakes).
    pub silent: bool,
    /// `hello-clients`: how long to wait, once connected, for every client's first HELLO from
    /// the server (part of `limit`).
    pub greet_limit: Duration,
}

impl PeerArgs {
    fn from_flags(f: &Flags) -> Result<PeerArgs, String> {
        let duration = f.secs("duration", 1.0)?;
        Ok(PeerArgs {
            role: f.get("role").ok_or("--role is required")?.to_owned(),
            endpoint: f.get("endpoint").unwrap_or_default().to_owned(),
            size: f.num("size", 64)?,
            duration,
            inflight: f.num("inflight", 1024)?,
            hwm: f.num("hwm", 1000)?,
            curve: f.on("curve"),
            limit: f.secs("limit", duration.as_secs_f64() + 60.0)?,
            count: f.num("count", 1)?,
            max_msgs: f.num("max-msgs", u64::MAX)?,
            window: f.num("window", 256)?,
            silent: f.on("silent"),
            greet_limit: f.secs("greet-limit", 20.0)?,
        })
    }
}

/// Environment variables holding a run's CURVE keys in Z85 (the libzmq peer reads the same).
pub const SERVER_SECRET: &str = "BENCH_CURVE_SERVER_SECRET";
/// The server's public key.
pub const SERVER_PUBLIC: &str = "BENCH_CURVE_SERVER_PUBLIC";
/// The client's secret key.
pub const CLIENT_SECRET: &str = "BENCH_CURVE_CLIENT_SECRET";
/// The client's public key.
pub const CLIENT_PUBLIC: &str = "BENCH_CURVE_CLIENT_PUBLIC";

/// One of the CURVE key variables.
pub fn curve_var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("--curve needs {name} in the environment"))
}

/// Entry point of `courier-bench peer ...`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let flags = match Flags::parse(args) {
        Ok(f) => f,
        Err(e) => return print_result(Err(e)),
    };
    let args = match PeerArgs::from_flags(&flags) {
        Ok(a) => a,
        Err(e) => return print_result(Err(e)),
    };
    let result = match flags.get("impl").and_then(Impl::parse) {
        Some(Impl::Courier) => crate::courier_peer::run(&args),
        Some(Impl::Zmqrs) => crate::zmqrs_peer::run(&args),
        Some(Impl::Libzmq) => Err("the libzmq peer is the C program bench/c/peer.c".into()),
        None => Err("--impl courier|zmqrs is required".into()),
    };
    print_result(result)
}
