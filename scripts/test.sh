#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, protocol vectors, engine,
# and interop tests against real pyzmq processes, which install pyzmq into a venv under
# target/ themselves and fail loudly if they cannot).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

# Python with venv and pip is needed by the interop tests; install it if this machine lacks it.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    step "installing python3-venv"
    if command -v apt-get >/dev/null; then
        (apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip) \
            || { echo "error: cannot install python3-venv; the interop tests need it" >&2; exit 1; }
    else
        echo "error: python3 with the venv module is required for the interop tests" >&2
        exit 1
    fi
fi

# tmux drives courier-top's terminal UI in the metrics interop tests.
if ! command -v tmux >/dev/null; then
    step "installing tmux"
    command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq tmux) \
        || { echo "error: cannot install tmux; the terminal UI test needs it" >&2; exit 1; }
fi

step "cargo fmt --check"
cargo fmt --all --check

# The default members: the product, its tests and interop tests. The benchmark crate (which
# links libzmq on purpose) is not one; scripts/bench.sh builds and checks it.
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "no C in the product's dependency tree"
./scripts/check-no-c.sh

# Every cargo-fuzz target for a bounded time (20 s each by default; FUZZ_SECONDS overrides).
# fuzz.sh installs cargo-fuzz (and nightly, through rustup) if missing and fails loudly if it
# cannot, or if any target crashes (inputs in fuzz/artifacts/). See fuzz/README.md.
step "fuzz (bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" ./scripts/fuzz.sh \
    || { echo "error: fuzz (bounded) failed: see the fuzz.sh output above" >&2; exit 1; }

# ARM builds run under qemu-user against pyzmq (installs cross linkers and qemu if missing).
step "Raspberry Pi targets under qemu"
./scripts/cross.sh

step "cargo test"
cargo test
