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

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace
