#!/usr/bin/env bash
# courier demo: a server and three clients talking on loopback, on the default endpoint
# (tcp://127.0.0.1:5556). One client starts before the server to show that what it sends
# meanwhile is queued and delivered; one sends a file. Ends by itself after DEMO_SECONDS
# (default 12) or on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${DEMO_SECONDS:-12}"
echo "== building courier-server and courier-client (release) =="
cargo build --release -q -p courier-server -p courier-client
bin=target/release

inbox=$(mktemp -d "${TMPDIR:-/tmp}/courier-demo-inbox.XXXXXX")
sample_dir=$(mktemp -d "${TMPDIR:-/tmp}/courier-demo-files.XXXXXX")
sample="$sample_dir/courier-demo-note.txt"
printf 'Hello from the courier demo at %s\n' "$(date)" > "$sample"

pids=()
cleanup() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$inbox" "$sample_dir"
}
trap cleanup INT TERM EXIT

# Each program's log lines, prefixed with its name, without the date for readability.
run() {
    local name=$1; shift
    "$@" > >(sed -u -E "s/^[0-9T:.-]+Z /[$name] /") 2>&1 &
    pids+=($!)
}

echo "== client 'alice' starts first: the server is not up yet, her HELLOs wait in the queue =="
run alice "$bin/courier-client" --identity alice --server-timeout 2s
sleep 2
echo "== server starts on the default endpoint tcp://127.0.0.1:5556 =="
run server "$bin/courier-server" --inbox "$inbox"
sleep 1
echo "== clients 'bob' (sends a file) and 'carol' join =="
run bob "$bin/courier-client" --identity bob --send-file "$sample"
run carol "$bin/courier-client" --identity carol
sleep "$seconds"
echo "== stopping (SIGTERM): every program shuts down cleanly =="
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
wait "${pids[@]}" 2>/dev/null || true
sleep 0.2
if [ -f "$inbox/$(basename "$sample")" ]; then
    echo "== the server saved bob's file: $(cat "$inbox/$(basename "$sample")") =="
fi
