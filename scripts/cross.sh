#!/usr/bin/env bash
# Cross-builds courier's programs for the Raspberry Pi (32- and 64-bit ARM with glibc, and a
# static 64-bit musl build), then runs every ARM binary under qemu-user against a pyzmq (libzmq)
# peer on 127.0.0.1: HELLO both ways, with NULL and with CURVE, using CURVE keys made by the ARM binaries' own
# `keygen` and loaded by pyzmq's zmq.auth.
#
#   ./scripts/cross.sh                 install what is missing, build, test, print sizes
#   CROSS_TARGETS="aarch64-unknown-linux-gnu" ./scripts/cross.sh     other targets (see below)
#   CROSS_SKIP_QEMU=1 ./scripts/cross.sh                             build and sizes only
#   CROSS_KEEP_LOGS=1 ./scripts/cross.sh                             keep the processes' logs
#
# Installs only what is missing: rustup targets, and (as root, after one `apt-get update`)
# Debian's gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf (linkers and ARM glibc for the -gnu
# targets) and qemu-user. The musl targets need no C toolchain at all: they link with rust-lld
# and the musl CRT objects that the Rust target ships (self-contained), giving static binaries.
#
# Builds each target once (one cargo invocation per target, release profile), prints PASS/FAIL
# per check, a size table, and exits non-zero if anything failed. Every process it starts runs
# under `timeout` and is stopped by its own PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Static musl for 32-bit ARM (armv7-unknown-linux-musleabihf) works the same way as for aarch64,
# but its rust-std could not be downloaded on our build machines (rustup: 404), so it is not a
# default; CROSS_TARGETS="... armv7-unknown-linux-musleabihf" tries it where rustup has it.
ALL_TARGETS="aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf"
DEFAULT_TARGETS="aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl"
TARGETS=${CROSS_TARGETS:-$DEFAULT_TARGETS}
PROC_TIMEOUT=${CROSS_PROC_TIMEOUT:-40} # seconds any one process may live
WAIT=${CROSS_WAIT:-20}                 # seconds to wait for an expected log line

SCRIPT_START=$(date +%s)
step() { printf '\n== %s ==\n' "$*"; }
die() { echo "cross.sh: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Processes we started (PIDs of their `timeout` wrappers); stopped on exit, by PID only.
PIDS=()
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true # `timeout` passes the TERM on to its command
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ -n "${WORK:-}" ]]; then
        if [[ -n "${CROSS_KEEP_LOGS:-}" ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg LOGFILE CMD... : runs CMD under timeout in the background; its PID is in $BG_PID.
start_bg() {
    local log=$1
    shift
    timeout -k 3 "$PROC_TIMEOUT" "$@" >"$log" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# wait_for FILE REGEX [PID]: until FILE has a line matching REGEX (true), WAIT seconds pass or
# PID exits (false).
wait_for() {
    local file=$1 re=$2 pid=${3:-} deadline=$((SECONDS + WAIT))
    while ((SECONDS < deadline)); do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            grep -Eq -- "$re" "$file" 2>/dev/null && return 0
            return 1
        fi
        sleep 0.1
    done
    return 1
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); echo "PASS  $*"; }
fail() {
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
    echo "FAIL  $1"
    shift
    local f
    for f in "$@"; do # logs that explain it
        [[ -s "$f" ]] && { echo "  --- $(basename "$f") (last 15 lines):"; tail -n 15 "$f" | sed 's/^/  | /'; }
    done
    return 0
}

# ---------------------------------------------------------------------------------------------
step "what to build"
command -v cargo >/dev/null || die "cargo is not on PATH"
command -v rustup >/dev/null || die "rustup is needed to add the cross targets"
# courier-server and courier-client, and courier-agent once a workspace package has that binary
# (a package named courier-agent, or a bin target of that name in another package).
meta_bins() {
    cargo metadata --no-deps --format-version 1 --offline 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "bin" in t["kind"]:
            print(p["name"], t["name"])
' 2>/dev/null || true
}
BIN_MAP=$(meta_bins)
BINS=(courier-server courier-client)
PKGS=(-p courier-server -p courier-client)
AGENT_PKG=$(awk '$2 == "courier-agent" { print $1; exit }' <<<"$BIN_MAP")
if [[ -n "$AGENT_PKG" ]]; then
    BINS+=(courier-agent)
    [[ "$AGENT_PKG" != courier-server && "$AGENT_PKG" != courier-client ]] && PKGS+=(-p "$AGENT_PKG")
    echo "courier-agent found (package $AGENT_PKG): building it too"
else
    echo "courier-agent: no such binary in the workspace yet; building courier-server and courier-client"
fi
BIN_ARGS=()
for b in "${BINS[@]}"; do BIN_ARGS+=(--bin "$b"); done
echo "targets: $TARGETS"

# ---------------------------------------------------------------------------------------------
step "installing what is missing"
T0=$(date +%s)
# Rust targets (for the toolchain this directory uses).
installed_targets=$(rustup target list --installed)
missing_targets=()
for t in $TARGETS; do
    grep -qx "$t" <<<"$installed_targets" || missing_targets+=("$t")
done
if ((${#missing_targets[@]})); then
    echo "rustup target add ${missing_targets[*]}"
    rustup target add "${missing_targets[@]}" || die "rustup could not add ${missing_targets[*]}"
else
    echo "rust targets: all installed"
fi

# Debian packages: cross linkers (with the ARM glibc they link against, which qemu then uses as
# its -L sysroot) for the -gnu targets; qemu-user for every target; python3-venv for pyzmq.
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
for t in $TARGETS; do
    case $t in
    aarch64-unknown-linux-gnu)
        have aarch64-linux-gnu-gcc && [[ -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]] ||
            need_pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
        ;;
    armv7-unknown-linux-gnueabihf)
        have arm-linux-gnueabihf-gcc && [[ -e /usr/arm-linux-gnueabihf/lib/libc.so.6 ]] ||
            need_pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
        ;;
    esac
    case $t in
    aarch64-*) have qemu-aarch64 || need_pkgs+=(qemu-user) ;;
    armv7-*) have qemu-arm || need_pkgs+=(qemu-user) ;;
    *) die "unknown target $t (known: $ALL_TARGETS)" ;;
    esac
done
if [[ -z "${CROSS_SKIP_QEMU:-}" ]] && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    need_pkgs+=(python3-venv)
fi
if ((${#need_pkgs[@]})); then
    mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
    have apt-get || die "missing ${need_pkgs[*]} and no apt-get to install them"
    ((EUID == 0)) || die "missing ${need_pkgs[*]}; run as root (or: sudo apt-get install ${need_pkgs[*]})"
    echo "apt-get install ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
else
    echo "debian packages: all installed"
fi
echo "install step: $(($(date +%s) - T0))s"

# ---------------------------------------------------------------------------------------------
# How each target links and runs.
linker_env() { # prints NAME=VALUE lines for cargo
    local t=$1 up
    up=$(tr 'a-z-' 'A-Z_' <<<"$t")
    case $t in
    aarch64-unknown-linux-gnu) echo "CARGO_TARGET_${up}_LINKER=aarch64-linux-gnu-gcc" ;;
    armv7-unknown-linux-gnueabihf) echo "CARGO_TARGET_${up}_LINKER=arm-linux-gnueabihf-gcc" ;;
    *-musl*)
        # No C toolchain: rustc's own lld, and the crt objects and libc.a shipped with the target.
        echo "CARGO_TARGET_${up}_LINKER=rust-lld"
        echo "CARGO_TARGET_${up}_RUSTFLAGS=-C link-self-contained=yes"
        ;;
    esac
}
qemu_cmd() { # the qemu-user invocation prefix for a target
    case $1 in
    aarch64-unknown-linux-gnu) echo "qemu-aarch64 -L /usr/aarch64-linux-gnu" ;;
    armv7-unknown-linux-gnueabihf) echo "qemu-arm -L /usr/arm-linux-gnueabihf" ;;
    aarch64-*) echo "qemu-aarch64" ;; # static: needs no sysroot
    armv7-*) echo "qemu-arm" ;;
    esac
}

step "building (release profile, one cargo invocation per target)"
declare -A BUILD_SECS
BUILT=()
for t in $TARGETS; do
    echo "-- $t"
    env_args=()
    while read -r kv; do [[ -n "$kv" ]] && env_args+=("$kv"); done < <(linker_env "$t")
    T0=$(date +%s)
    if env "${env_args[@]}" cargo build --release --target "$t" "${PKGS[@]}" "${BIN_ARGS[@]}"; then
        BUILD_SECS[$t]=$(($(date +%s) - T0))
        pass "$t build (${BUILD_SECS[$t]}s)"
        BUILT+=("$t")
    else
        BUILD_SECS[$t]=$(($(date +%s) - T0))
        fail "$t build (${BUILD_SECS[$t]}s; linker settings: ${env_args[*]})"
    fi
done

# ---------------------------------------------------------------------------------------------
step "binary sizes (release profile, stripped)"
linkage() {
    if readelf -lW "$1" 2>/dev/null | grep -q 'Requesting program interpreter'; then
        echo "dynamic (glibc)"
    else
        echo "static"
    fi
}
printf '| %-32s | %-16s | %11s | %9s | %s\n' target binary bytes MiB linkage
for t in "${BUILT[@]}"; do
    for b in "${BINS[@]}"; do
        f=target/$t/release/$b
        if [[ -f "$f" ]]; then
            sz=$(stat -c %s "$f")
            printf '| %-32s | %-16s | %11s | %9s | %s\n' "$t" "$b" "$sz" \
                "$(awk -v s="$sz" 'BEGIN { printf "%.2f", s / 1048576 }')" "$(linkage "$f")"
        else
            fail "$t: $f missing after the build"
        fi
    done
done

# ---------------------------------------------------------------------------------------------
if [[ -n "${CROSS_SKIP_QEMU:-}" ]]; then
    echo "CROSS_SKIP_QEMU set: not running the binaries"
else
    step "pyzmq peer (venv at target/interop-venv)"
    VENV=$ROOT/target/interop-venv
    PY=$VENV/bin/python
    if ! "$PY" -c 'import zmq, zmq.auth' 2>/dev/null; then
        echo "creating $VENV with interop-tests/python/requirements.txt"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q -r interop-tests/python/requirements.txt
    fi
    "$PY" -c 'import zmq; print("pyzmq", zmq.__version__, "libzmq", zmq.zmq_version())'

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/courier-cross.XXXXXX")
    # The pyzmq side of each check. One JSON object per line on stdout.
    #   keys DIR                        load DIR/{server,client}.key with zmq.auth, print Z85
    #   dealer ENDPOINT ID [DIR]        greet a courier-server: HELLO every 200 ms until a HELLO
    #                                   comes back (exit 0) or the timeout passes (exit 1)
    #   router ENDPOINT ID [DIR]        serve a courier-client: answer each HELLO from routing
    #                                   id ID with HELLO, until SIGTERM or the timeout
    # With DIR, CURVE: keys from DIR (made by the ARM keygen), loaded with zmq.auth.
    cat >"$WORK/peer.py" <<'PYEOF'
import json, os, signal, sys, time
import zmq, zmq.auth

def emit(event, **kw):
    kw = {"event": event, **kw}
    print(json.dumps(kw), flush=True)

def load(d, name, secret=False):
    path = os.path.join(d, name + (".key_secret" if secret else ".key"))
    public, sec = zmq.auth.load_certificate(path)
    if secret and sec is None:
        raise SystemExit(f"{path}: no secret key in it")
    return public, sec

mode = sys.argv[1]
if mode == "keys":
    d = sys.argv[2]
    for name in ("server", "client"):
        pub, _ = load(d, name)
        pub2, sec = load(d, name, secret=True)
        assert pub == pub2 and sec and len(sec) == 40, name
        emit("key", name=name, public=pub.decode())
    sys.exit(0)

endpoint, ident = sys.argv[2], sys.argv[3].encode()
curve_dir = sys.argv[4] if len(sys.argv) > 4 else None
timeout = float(os.environ.get("PEER_TIMEOUT", "20"))
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
ctx = zmq.Context()
hello = b"HELLO"
if mode == "dealer":
    s = ctx.socket(zmq.DEALER)
    s.identity = ident
    if curve_dir:
        s.curve_serverkey = load(curve_dir, "server")[0]
        s.curve_publickey, s.curve_secretkey = load(curve_dir, "client", secret=True)
    s.linger = 0
    s.connect(endpoint)
    emit("connecting", endpoint=endpoint, curve=bool(curve_dir))
    deadline, next_send, code = time.monotonic() + timeout, 0.0, 1
    while not stop and time.monotonic() < deadline:
        if time.monotonic() >= next_send:
            s.send_multipart([hello])
            next_send = time.monotonic() + 0.2
        if s.poll(100):
            frames = s.recv_multipart()
            emit("recv", frames=[f.decode(errors="replace") for f in frames])
            if frames == [hello]:
                code = 0
                break
    emit("exit", code=code)
elif mode == "router":
    s = ctx.socket(zmq.ROUTER)
    if curve_dir:
        s.curve_server = True
        s.curve_secretkey = load(curve_dir, "server", secret=True)[1]
    s.linger = 0
    s.bind(endpoint)
    emit("listening", endpoint=endpoint, curve=bool(curve_dir))
    deadline, code = time.monotonic() + timeout, 1
    while not stop and time.monotonic() < deadline:
        if s.poll(100):
            frames = s.recv_multipart()
            peer, body = frames[0], frames[1:]
            emit("recv", peer=peer.decode(errors="replace"), frames=[f.decode(errors="replace") for f in body])
            if body == [hello] and peer == ident:
                code = 0
                s.send_multipart([peer, hello])
                emit("sent", peer=peer.decode(), frames=["HELLO"])
    emit("exit", code=code)
else:
    raise SystemExit(f"unknown mode {mode}")
s.close(0)
ctx.term()
sys.exit(code)
PYEOF
    export PEER_TIMEOUT=$WAIT

    # Our courier-server on ARM <-> a pyzmq DEALER.
    check_server() { # TARGET MECH [CURVE_DIR]
        local t=$1 mech=$2 dir=${3:-} port name logs ok=1 T0=$SECONDS
        local qemu srv_args=() id="pyzmq-dealer-$mech"
        read -ra qemu <<<"$(qemu_cmd "$t")"
        name="$t $mech: courier-server (ARM) <-> pyzmq DEALER, HELLO both ways"
        logs="$WORK/$t-$mech-server"
        port=$(free_port)
        [[ -n "$dir" ]] && srv_args=(--curve --curve-dir "$dir" --authorized-clients "$dir/authorized_clients")
        # -v: the per-message lines checked below are at debug level.
        start_bg "$logs.log" "${qemu[@]}" "target/$t/release/courier-server" \
            --bind "tcp://127.0.0.1:$port" --interval 200ms -v "${srv_args[@]}"
        local srv=$BG_PID
        local peer_dir=()
        [[ -n "$dir" ]] && peer_dir=("$dir")
        wait_for "$logs.log" "listening on tcp://127\.0\.0\.1:$port" "$srv" || ok=0
        ((ok)) && { timeout -k 3 "$PROC_TIMEOUT" "$PY" "$WORK/peer.py" dealer "tcp://127.0.0.1:$port" "$id" \
            "${peer_dir[@]}" >"$logs.peer.log" 2>&1 || ok=0; }
        # The server answers only clients it has heard from, so it must have logged our HELLO.
        wait_for "$logs.log" "received HELLO .*from .*$id" "$srv" || ok=0
        # With CURVE, the server names the client key it authenticated: the ARM keygen's one.
        if [[ -n "$dir" ]]; then
            grep -qF "(CURVE key $(sed -n 's/^public key (Z85): //p' "$dir.client.log"))" "$logs.log" || ok=0
        fi
        stop_pid "$srv"
        if ((ok)); then pass "$name ($((SECONDS - T0))s)"; else fail "$name" "$logs.log" "$logs.peer.log"; fi
    }

    # Our courier-client on ARM <-> a pyzmq ROUTER.
    check_client() { # TARGET MECH [CURVE_DIR]
        local t=$1 mech=$2 dir=${3:-} port name logs ok=1 T0=$SECONDS
        local qemu cli_args=() id="courier-arm-$mech"
        read -ra qemu <<<"$(qemu_cmd "$t")"
        name="$t $mech: courier-client (ARM) <-> pyzmq ROUTER, HELLO both ways"
        logs="$WORK/$t-$mech-client"
        port=$(free_port)
        [[ -n "$dir" ]] && cli_args=(--curve --curve-dir "$dir")
        local peer_dir=()
        [[ -n "$dir" ]] && peer_dir=("$dir")
        start_bg "$logs.peer.log" "$PY" "$WORK/peer.py" router "tcp://127.0.0.1:$port" "$id" "${peer_dir[@]}"
        local peer=$BG_PID
        wait_for "$logs.peer.log" '"listening"' "$peer" || ok=0
        start_bg "$logs.log" "${qemu[@]}" "target/$t/release/courier-client" \
            --connect "tcp://127.0.0.1:$port" --interval 200ms --identity "$id" "${cli_args[@]}"
        local cli=$BG_PID
        wait_for "$logs.log" "received HELLO .*from the server" "$cli" || ok=0
        wait_for "$logs.peer.log" "\"recv\", \"peer\": \"$id\", \"frames\": \\[\"HELLO\"\\]" "$peer" || ok=0
        stop_pid "$cli"
        stop_pid "$peer"
        if ((ok)); then pass "$name ($((SECONDS - T0))s)"; else fail "$name" "$logs.log" "$logs.peer.log"; fi
    }

    for t in "${BUILT[@]}"; do
        step "$t under qemu-user"
        read -ra qemu <<<"$(qemu_cmd "$t")"
        keys=$WORK/$t-keys
        # keygen on ARM: the server's pair with courier-server, the client's with courier-client.
        if "${qemu[@]}" "target/$t/release/courier-server" keygen --name server -d "$keys" >"$keys.server.log" 2>&1 &&
            "${qemu[@]}" "target/$t/release/courier-client" keygen --name client -d "$keys" >"$keys.client.log" 2>&1 &&
            timeout 30 "$PY" "$WORK/peer.py" keys "$keys" >"$keys.pyzmq.log" 2>&1; then
            # pyzmq must read the same public keys the ARM keygen printed.
            srv_z85=$(sed -n 's/^public key (Z85): //p' "$keys.server.log")
            cli_z85=$(sed -n 's/^public key (Z85): //p' "$keys.client.log")
            if [[ -n "$srv_z85" && -n "$cli_z85" ]] &&
                grep -qF "\"name\": \"server\", \"public\": \"$srv_z85\"" "$keys.pyzmq.log" &&
                grep -qF "\"name\": \"client\", \"public\": \"$cli_z85\"" "$keys.pyzmq.log"; then
                pass "$t keygen (ARM courier-server and courier-client) -> zmq.auth.load_certificate reads the same keys"
            else
                fail "$t keygen: pyzmq read different keys than keygen printed" "$keys.server.log" "$keys.client.log" "$keys.pyzmq.log"
            fi
        else
            fail "$t keygen under qemu, or zmq.auth.load_certificate" "$keys.server.log" "$keys.client.log" "$keys.pyzmq.log"
        fi
        mkdir -p "$keys/authorized_clients"
        cp "$keys/client.key" "$keys/authorized_clients/" 2>/dev/null || true

        check_server "$t" NULL
        check_client "$t" NULL
        check_server "$t" CURVE "$keys"
        check_client "$t" CURVE "$keys"

        if [[ " ${BINS[*]} " == *" courier-agent "* ]]; then
            if timeout 30 "${qemu[@]}" "target/$t/release/courier-agent" --help >"$WORK/$t-agent.log" 2>&1; then
                pass "$t courier-agent --help runs under qemu"
            else
                fail "$t courier-agent --help under qemu" "$WORK/$t-agent.log"
            fi
        fi
    done
fi

# ---------------------------------------------------------------------------------------------
step "summary"
for t in "${BUILT[@]}"; do echo "build $t: ${BUILD_SECS[$t]}s"; done
echo "total: $(($(date +%s) - SCRIPT_START))s"
if ((FAILED)); then
    echo "failed:"
    printf '  %s\n' "${FAILURES[@]}"
fi
echo "cross: $PASSED passed, $FAILED failed"
((FAILED == 0))
