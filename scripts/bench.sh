#!/usr/bin/env bash
# Benchmarks: courier against libzmq and zmq.rs, each side in its own process on 127.0.0.1.
# Not part of the test suite (the courier-bench crate is not a default workspace member).
#
#   ./scripts/bench.sh            the full run (several minutes) whose table is in BENCHMARKS.md
#   ./scripts/bench.sh --quick    a few seconds: a smoke test of every case
#
# The scale group runs courier clients against courier-server and against the libzmq peer's
# hello-server (bench/c/peer.c) side by side, then measures CURVE handshakes per server core.
# Other flags go to courier-bench (./scripts/bench.sh --help). Results: the table on standard
# output, progress on standard error, all figures as JSON in target/bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."

# libzmq (Debian's libzmq3-dev) and a C compiler, for the libzmq peer only: the product itself
# never needs a C toolchain.
if ! pkg-config --exists libzmq 2>/dev/null || ! command -v cc >/dev/null; then
    echo "installing libzmq3-dev, pkg-config and a C compiler (benchmarks only)" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libzmq3-dev pkg-config gcc libc6-dev >&2
fi
mkdir -p target/bench
# shellcheck disable=SC2046
cc -O2 -Wall -o target/bench/libzmq-peer bench/c/peer.c $(pkg-config --cflags --libs libzmq)

cargo build --release -p courier-bench -p courier-server >&2

# 10 000 clients need about 10 000 descriptors in the server and 5 000 per client process.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

exec target/release/courier-bench "$@"
