#!/usr/bin/env bash
# The test suite.
#
#   ./scripts/test.sh           everything (CI runs this): formatting, lints, the no-C check,
#                               bounded fuzzing, the Raspberry Pi builds under qemu, and every
#                               test (unit, protocol vectors, engine, interop against pyzmq);
#                               about 14 minutes on 2 idle cores once built
#   ./scripts/test.sh --quick   day-to-day: formatting, lints and every test (no fuzzing, no ARM
#                               builds); under 5 minutes once built
#   ./scripts/test.sh --plan    prints what either would run and install, and exits
#
# It says at the start what it is going to install (only what is missing) and where.
# Whatever a tool lets us put in the project goes under target/: pyzmq (a venv the interop
# tests make) and cargo-fuzz (target/tools). The rest is the machine's: python3-venv and
# tmux (apt, full and quick), the nightly toolchain and three rustup targets (rustup, in
# ~/.rustup), and cross linkers and qemu-user (apt, as root); full run only for those.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
plan_only=false
for arg in "$@"; do
    case "$arg" in
        --quick) mode=quick ;;
        --plan) plan_only=true ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "test.sh: unknown option '$arg' (use --quick, --plan or --help)" >&2
            exit 2
            ;;
    esac
done

step() { printf '\n== %s ==\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# What is missing, and so would be installed (nothing is installed by this part).
installs=()
python_ok=true
python3 -c 'import venv, ensurepip' 2>/dev/null || python_ok=false
$python_ok || installs+=("python3, python3-venv, python3-pip (apt-get, system-wide; the interop tests need a venv)")
have tmux || installs+=("tmux (apt-get, system-wide; drives courier-top's terminal UI in a test)")
if [ "$mode" = full ]; then
    have cargo && cargo +nightly --version >/dev/null 2>&1 \
        || installs+=("the nightly toolchain, minimal profile (rustup, in ~/.rustup; cargo-fuzz needs it)")
    { have cargo-fuzz || [ -x target/tools/bin/cargo-fuzz ]; } \
        || installs+=("cargo-fuzz (cargo install --locked --root target/tools)")
    if have rustup; then
        targets=$(rustup target list --installed 2>/dev/null || true)
        missing=()
        for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl; do
            grep -qx "$t" <<<"$targets" || missing+=("$t")
        done
        [ "${#missing[@]}" -eq 0 ] \
            || installs+=("rustup targets ${missing[*]} (rustup, in ~/.rustup)")
    fi
    # As scripts/cross.sh decides (it does the installing).
    pkgs=()
    { have aarch64-linux-gnu-gcc && [ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]; } \
        || pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    { have arm-linux-gnueabihf-gcc && [ -e /usr/arm-linux-gnueabihf/lib/libc.so.6 ]; } \
        || pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
    { have qemu-aarch64 && have qemu-arm; } || pkgs+=(qemu-user)
    [ "${#pkgs[@]}" -eq 0 ] || installs+=("${pkgs[*]} (apt-get as root, system-wide; ARM builds run under qemu)")
fi
[ -x "${CARGO_TARGET_DIR:-target}/interop-venv/bin/python" ] \
    || installs+=("pyzmq from PyPI (pip, into the venv target/interop-venv, by the interop tests)")

phase() { printf '  - %-56s %s\n' "$1" "$2"; }
echo "test.sh: $mode run. Phases, with rough times on 2 idle cores once built (a first build"
echo "of the workspace adds about 5 minutes):"
phase "cargo fmt --check" "seconds"
phase "cargo clippy --all-targets -- -D warnings" "about 1 minute"
if [ "$mode" = full ]; then
    phase "no C in the dependency tree (scripts/check-no-c.sh)" "seconds"
    phase "fuzzing, every target for ${FUZZ_SECONDS:-20}s (FUZZ_SECONDS)" "about 4.5 minutes at 20s"
    phase "Raspberry Pi builds under qemu (scripts/cross.sh)" "about 4 minutes (6 from nothing)"
fi
phase "cargo test (unit, vectors, engine, interop with pyzmq)" "about 4 minutes"
if [ "${#installs[@]}" -eq 0 ]; then
    echo "It installs nothing: everything it needs is here."
else
    echo "It installs what is missing:"
    printf '  - %s\n' "${installs[@]}"
fi
[ "$mode" = quick ] || echo "(./scripts/test.sh --quick skips fuzzing and the ARM builds.)"
$plan_only && exit 0

# Python with venv and pip is needed by the interop tests; install it if this machine lacks it.
if ! $python_ok; then
    step "installing python3-venv"
    if have apt-get; then
        (apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip) \
            || { echo "error: cannot install python3-venv; the interop tests need it" >&2; exit 1; }
    else
        echo "error: python3 with the venv module is required for the interop tests" >&2
        exit 1
    fi
fi

# tmux drives courier-top's terminal UI in the metrics interop tests.
if ! have tmux; then
    step "installing tmux"
    have apt-get && (apt-get update -qq && apt-get install -y -qq tmux) \
        || { echo "error: cannot install tmux; the terminal UI test needs it" >&2; exit 1; }
fi

step "cargo fmt --check"
cargo fmt --all --check

# The default members: the product, its tests and interop tests. The benchmark crate (which
# links libzmq on purpose) is not one; scripts/bench.sh builds and checks it.
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

if [ "$mode" = full ]; then
    step "no C in the product's dependency tree"
    ./scripts/check-no-c.sh

    # Every cargo-fuzz target for a bounded time (20 s each by default; FUZZ_SECONDS
    # overrides). fuzz.sh installs cargo-fuzz (into target/tools) and nightly (through rustup)
    # if missing and fails loudly if it cannot, or if any target crashes (inputs in
    # fuzz/artifacts/). See fuzz/README.md.
    step "fuzz (bounded)"
    FUZZ_SECONDS="${FUZZ_SECONDS:-20}" ./scripts/fuzz.sh \
        || { echo "error: fuzz (bounded) failed: see the fuzz.sh output above" >&2; exit 1; }

    # ARM builds run under qemu-user against pyzmq (installs cross linkers and qemu if missing).
    step "Raspberry Pi targets under qemu"
    ./scripts/cross.sh
fi

step "cargo test"
cargo test
