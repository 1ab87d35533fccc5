#!/usr/bin/env python3
"""A pyzmq CURVE client for courier's interop tests (interop-tests/tests/curve.rs).

ref_client.py's behaviour (a DEALER sending [b"HELLO"] every --interval seconds; --send-file
sends [b"FILE", name, contents] once), with CURVE: the client's key pair is read with
zmq.auth.load_certificate from --key-file (a NAME.key_secret), and the server's public key
from --server-key-file (a NAME.key) or given in Z85 with --server-key.

--routing-id sets the routing id; --random-routing-id makes one up the way an agent does
(16 characters of [A-Z0-9]). --heartbeat-ivl MS turns on ZMTP heartbeats (HEARTBEAT_IVL,
HEARTBEAT_TIMEOUT = HEARTBEAT_TTL = 3 x MS).

Every event is one JSON object per line on stdout, flushed:
    {"event":"connecting","endpoint":...,"routing_id":TEXT|null,"public":Z85}
    {"event":"tcp_connected"|"connect_retried"|"connected"|"disconnected"|
              "handshake_failed_auth"|"handshake_failed_protocol"|"handshake_failed",...}
                                                       (socket monitor; connected = handshake done)
    {"event":"sent","header":"HELLO"|"FILE",...}
    {"event":"send_blocked","header":...}      (no connection to queue it on: not sent)
    {"event":"recv","header":...,"frames":N,"sizes":[...]}
    {"event":"exit","reason":...}
It exits cleanly (status 0) on SIGTERM/SIGINT or after --duration seconds.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import string
import sys
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}

MONITOR_NAMES = {
    zmq.EVENT_CONNECTED: "tcp_connected",
    zmq.EVENT_CONNECT_RETRIED: "connect_retried",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_CLOSED: "closed",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake_failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake_failed_auth",
}


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    obj["t"] = round(time.monotonic(), 6)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_signal(signum, _frame):
    STOP["reason"] = signal.Signals(signum).name


def text(b):
    return b.decode("utf-8", errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True)
    ap.add_argument("--key-file", required=True, help="the client's NAME.key_secret")
    server = ap.add_mutually_exclusive_group(required=True)
    server.add_argument("--server-key-file", help="the server's public NAME.key")
    server.add_argument("--server-key", help="the server's public key in Z85")
    ids = ap.add_mutually_exclusive_group()
    ids.add_argument("--routing-id", default=None)
    ids.add_argument("--random-routing-id", action="store_true")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between HELLOs")
    ap.add_argument("--heartbeat-ivl", type=int, default=None, help="ms")
    ap.add_argument("--send-file", action="append", default=[])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--linger", type=int, default=2000)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    public, secret = zmq.auth.load_certificate(args.key_file)
    if secret is None:
        sys.exit(f"{args.key_file} holds no secret key")
    if args.server_key_file:
        server_key, _ = zmq.auth.load_certificate(args.server_key_file)
    else:
        server_key = args.server_key.encode("ascii")

    routing_id = args.routing_id
    if args.random_routing_id:
        alphabet = string.ascii_uppercase + string.digits
        routing_id = "".join(random.SystemRandom().choice(alphabet) for _ in range(16))

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = args.linger
    sock.curve_serverkey = server_key
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    if routing_id:
        sock.routing_id = routing_id.encode("utf-8")
    if args.heartbeat_ivl:
        sock.heartbeat_ivl = args.heartbeat_ivl
        sock.heartbeat_timeout = 3 * args.heartbeat_ivl
        sock.heartbeat_ttl = 3 * args.heartbeat_ivl
    monitor = sock.get_monitor_socket()
    emit("connecting", endpoint=args.connect, routing_id=routing_id, public=text(public),
         pid=os.getpid())
    sock.connect(args.connect)

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    start = time.monotonic()
    next_hello = start
    files_sent = False
    while STOP["reason"] is None:
        now = time.monotonic()
        if now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        if now >= next_hello:
            if send(sock, [b"HELLO"]):
                emit("sent", header="HELLO")
            if not files_sent:
                files_sent = True
                for path in args.send_file:
                    with open(path, "rb") as f:
                        contents = f.read()
                    name = os.path.basename(path)
                    if send(sock, [b"FILE", name.encode("utf-8"), contents]):
                        emit("sent", header="FILE", name=name, size=len(contents),
                             sha256=hashlib.sha256(contents).hexdigest())
            next_hello = max(next_hello + args.interval, now)
        events = dict(poller.poll(max(0, min(100, int((next_hello - now) * 1000) + 1))))
        if monitor in events:
            while True:
                try:
                    ev = recv_monitor_message(monitor, zmq.NOBLOCK)
                except zmq.Again:
                    break
                name = MONITOR_NAMES.get(ev["event"])
                if name is not None:
                    emit(name, endpoint=text(ev["endpoint"]), value=ev["value"])
        if sock in events:
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                header = frames[0] if frames else b""
                emit("recv", header=text(header), frames=len(frames),
                     sizes=[len(f) for f in frames])

    emit("exit", reason=STOP["reason"])
    sock.disable_monitor()
    monitor.close(0)
    sock.close()
    ctx.term()
    return 0


def send(sock, frames):
    """Sends without blocking: after a handshake ERROR libzmq drops the connection for good,
    and a DEALER without one would block in send forever."""
    try:
        sock.send_multipart(frames, zmq.NOBLOCK)
        return True
    except zmq.Again:
        emit("send_blocked", header=text(frames[0]))
        return False


if __name__ == "__main__":
    sys.exit(main())
