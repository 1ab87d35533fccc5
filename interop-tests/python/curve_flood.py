#!/usr/bin/env python3
"""A CURVE handshake flood, in pyzmq, for courier's attack suite (interop-tests/tests/attacks.rs).

Completes CURVE handshakes against --connect in a loop for --duration seconds: --in-flight DEALER
sockets at a time, each with the client key pair of --key-file (a NAME.key_secret) and the server
public key of --server-key-file (a NAME.key); a socket is closed as soon as its handshake is
done (or failed, or not done within 5 s) and a new one takes its place. The server pays for
every handshake (several X25519 operations, an allowlist look-up) and the flood never sends a
message, so what it costs established clients is the handshake work alone.

Prints one JSON object per line, flushed:
  {"event":"started","pid":N}
  {"event":"progress","ok":N,"failed":N,"timeouts":N,"seconds":S}   (every second)
  {"event":"exit","ok":N,"failed":N,"timeouts":N,"seconds":S}
and exits 0 after --duration seconds or on SIGTERM/SIGINT.
"""

import argparse
import json
import os
import signal
import sys
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}
TIMEOUT = 5.0
DONE = zmq.EVENT_HANDSHAKE_SUCCEEDED
FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_signal(signum, _frame):
    STOP["reason"] = signal.Signals(signum).name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True)
    ap.add_argument("--key-file", required=True, help="the client's NAME.key_secret")
    ap.add_argument("--server-key-file", required=True, help="the server's NAME.key")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--in-flight", type=int, default=8)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    public, secret = zmq.auth.load_certificate(args.key_file)
    server_public, _ = zmq.auth.load_certificate(args.server_key_file)
    ctx = zmq.Context()
    poller = zmq.Poller()
    flight = {}  # monitor socket -> (DEALER, started)
    counts = {"ok": 0, "failed": 0, "timeouts": 0}

    def launch():
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        # One attempt per socket: a refused connection is counted, not retried by libzmq.
        s.reconnect_ivl = -1
        s.curve_publickey = public
        s.curve_secretkey = secret
        s.curve_serverkey = server_public
        m = s.get_monitor_socket(DONE | FAILED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED)
        s.connect(args.connect)
        poller.register(m, zmq.POLLIN)
        flight[m] = (s, time.monotonic())

    def retire(m, outcome):
        counts[outcome] += 1
        s, _ = flight.pop(m)
        poller.unregister(m)
        s.disable_monitor()
        m.close(0)
        s.close(0)
        launch()

    emit("started", pid=os.getpid())
    start = time.monotonic()
    next_report = start + 1.0
    for _ in range(args.in_flight):
        launch()
    while STOP["reason"] is None:
        now = time.monotonic()
        if now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        for m, _ in poller.poll(100):
            try:
                ev = recv_monitor_message(m, zmq.NOBLOCK)
            except zmq.Again:
                continue
            if ev["event"] == DONE:
                retire(m, "ok")
            elif ev["event"] & (FAILED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED):
                retire(m, "failed")
        now = time.monotonic()
        for m, (_, started) in list(flight.items()):
            if now - started > TIMEOUT:
                retire(m, "timeouts")
        if now >= next_report:
            emit("progress", seconds=round(now - start, 3), **counts)
            next_report += 1.0

    emit("exit", reason=STOP["reason"], seconds=round(time.monotonic() - start, 3), **counts)
    for m, (s, _) in list(flight.items()):
        s.disable_monitor()
        m.close(0)
        s.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
