#!/usr/bin/env bash
# courier demo: a server and three clients talking on loopback, on the default endpoint
# (tcp://127.0.0.1:5556). One client starts before the server to show that what it sends
# meanwhile is queued and delivered; one sends a file. Ends by itself after DEMO_SECONDS
# (default 12) or on Ctrl-C.
#
# It fails loudly (a message and a non-zero status) when the port is taken, when the build
# fails, and when any program exits on its own, fails to stop cleanly, or did not do its part
# (server listening, every client greeted, the file saved).
#
# For tests: DEMO_BIN_DIR=DIR uses the programs in DIR instead of building them;
# DEMO_ENDPOINT=tcp://127.0.0.1:PORT runs on another endpoint (passed as --bind/--connect;
# unset, the programs run on their defaults).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${DEMO_SECONDS:-12}"
endpoint="${DEMO_ENDPOINT:-tcp://127.0.0.1:5556}"
hostport="${endpoint#tcp://}"
host="${hostport%:*}"
port="${hostport##*:}"

fail() {
    printf 'demo: error: %s\n' "$*" >&2
    exit 1
}

# The port first: a busy one would otherwise show up only after the build, as a server that
# exits at once.
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    fail "$host:$port is already in use, and the demo's server needs it (it runs on the \
default endpoint $endpoint).
  Something listens there: often a courier-server or courier-collector (whose agents' port is
  5556 too) left running, or another demo. Find it with:  ss -ltnp 'sport = :$port'
  stop it, and run ./scripts/demo.sh again."
fi

if [ -n "${DEMO_BIN_DIR:-}" ]; then
    bin="$DEMO_BIN_DIR"
    echo "== using the programs in $bin (DEMO_BIN_DIR) =="
else
    echo "== building courier-server and courier-client (release; the first build takes about"
    echo "   a minute and a half on 2 cores, later ones seconds) =="
    cargo build --release -p courier-server -p courier-client \
        || fail "the build failed (see cargo's messages above)"
    bin=target/release
fi
for program in courier-server courier-client; do
    [ -x "$bin/$program" ] || fail "$bin/$program is missing or not executable"
done

inbox=$(mktemp -d "${TMPDIR:-/tmp}/courier-demo-inbox.XXXXXX")
work=$(mktemp -d "${TMPDIR:-/tmp}/courier-demo.XXXXXX")
sample="$work/courier-demo-note.txt"
printf 'Hello from the courier demo at %s\n' "$(date)" > "$sample"

names=()
pids=()
cleanup() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$inbox" "$work"
}
trap cleanup INT TERM EXIT

# Runs a program in the background: its log lines on the terminal, prefixed with its name and
# without the date for readability, and in $work/NAME.log for the checks below.
run() {
    local name=$1; shift
    "$@" > >(tee "$work/$name.log" | sed -u -E "s/^[0-9T:.-]+Z /[$name] /") 2>&1 &
    names+=("$name")
    pids+=($!)
}

# Fails if a program already exited (none should before the end).
check_running() {
    local i
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            local status=0
            wait "${pids[$i]}" || status=$?
            fail "${names[$i]} exited early with status $status (its last lines are above)"
        fi
    done
}

# Waits up to 10 s for a line containing $2 in program $1's log.
expect_log() {
    local name=$1 text=$2 i
    for i in $(seq 100); do
        grep -qF -- "$text" "$work/$name.log" 2>/dev/null && return 0
        check_running
        sleep 0.1
    done
    fail "$name never logged \"$text\""
}

server_args=()
client_args=()
if [ -n "${DEMO_ENDPOINT:-}" ]; then
    server_args=(--bind "$endpoint")
    client_args=(--connect "$endpoint")
fi

echo "== client 'alice' starts first: the server is not up yet, her HELLOs wait in the queue =="
run alice "$bin/courier-client" "${client_args[@]}" --identity alice --server-timeout 2s
sleep 2
echo "== server starts on $endpoint =="
run server "$bin/courier-server" "${server_args[@]}" --inbox "$inbox"
expect_log server "listening on $endpoint"
echo "== clients 'bob' (sends a file) and 'carol' join =="
run bob "$bin/courier-client" "${client_args[@]}" --identity bob --send-file "$sample"
run carol "$bin/courier-client" "${client_args[@]}" --identity carol
for name in alice bob carol; do
    expect_log "$name" "received HELLO"
done
sleep "$seconds"
check_running

echo "== stopping (SIGTERM): every program shuts down cleanly =="
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
failed=()
for i in "${!pids[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    [ "$status" -eq 0 ] || failed+=("${names[$i]} (status $status)")
done
pids=()
sleep 0.2
saved="$inbox/$(basename "$sample")"
[ -f "$saved" ] || fail "the server did not save bob's file"
echo "== the server saved bob's file: $(cat "$saved") =="
[ "${#failed[@]}" -eq 0 ] || fail "did not stop cleanly: ${failed[*]}"
echo "== demo done: every part worked =="
