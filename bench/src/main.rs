//! `courier-bench`: courier against libzmq and zmq.rs, each side in its own process on
//! 127.0.0.1. Not part of `cargo test`; run `./scripts/bench.sh` (or `--quick` for a smoke
//! test). See BENCHMARKS.md for what it measures and the latest results.
//!
//! `courier-bench [--quick] ...` is the driver; `courier-bench peer --impl ... --role ...` is one
//! side of a case (started by the driver). The libzmq side is the C program `bench/c/peer.c`.
#![allow(
    clippy::cast_possible_truncation,
    reason = "a benchmark's counters and times are far from the limits of these casts"
)]
#![allow(
    clippy::indexing_slicing,
    reason = "results are serde_json Values, whose indexing gives Null for a missing key"
)]

mod courier_peer;
mod driver;
mod peer;
mod report;
mod util;
mod zmqrs_peer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("peer") => peer::main(args.get(1..).unwrap_or_default()),
        _ => driver::main(&args),
    };
    std::process::exit(code);
}
