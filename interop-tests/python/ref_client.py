#!/usr/bin/env python3
"""Reference Part-1 client, in pyzmq, for courier's interop tests.

A DEALER that connects to an endpoint (default tcp://127.0.0.1:5556), sends
[b"HELLO"] every --interval seconds, and reports when the server has been
silent for --server-timeout seconds (then keeps trying, and reports when the
server is heard again).

Optional: --send-file PATH sends [b"FILE", basename, contents] once after
connect (repeatable; --file-name NAME, paired in order, overrides the name
sent); --send-ctrl TEXT sends [b"CTRL", text] once; --routing-id sets the
DEALER's routing identity; --heartbeat-ivl MS turns on ZMTP heartbeats
(PING/PONG: ZMQ_HEARTBEAT_IVL, _TIMEOUT, _TTL).

Every event is printed to stdout as ONE JSON object per line, flushed:
  {"event":"connecting","endpoint":...,"routing_id":"<hex>"|null}
  {"event":"connected"|"disconnected"|..., ...}          (socket monitor)
  {"event":"sent","header":"HELLO"}
  {"event":"sent","header":"FILE","name":...,"size":...,"sha256":...}
  {"event":"recv","header":"HELLO","frames":1,"sizes":[5]}
  {"event":"unresponsive","silent_for":...}
  {"event":"back"}
  {"event":"exit","reason":...}
It exits cleanly (status 0) on SIGTERM/SIGINT, after --count received
messages, or after --duration seconds.
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}


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


MONITOR_NAMES = {
    zmq.EVENT_CONNECTED: "tcp_connected",
    zmq.EVENT_CONNECT_RETRIED: "connect_retried",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake_failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake_failed_auth",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", default="tcp://127.0.0.1:5556", help="endpoint to connect to")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between HELLOs")
    ap.add_argument("--server-timeout", type=float, default=5.0,
                    help="report the server unresponsive after this many silent seconds")
    ap.add_argument("--routing-id", default=None, help="DEALER routing identity (utf-8)")
    ap.add_argument("--heartbeat-ivl", type=int, default=None,
                    help="ZMTP heartbeat interval in ms (sets HEARTBEAT_IVL/TIMEOUT/TTL)")
    ap.add_argument("--heartbeat-timeout", type=int, default=None,
                    help="ZMTP heartbeat timeout in ms (default 3 x --heartbeat-ivl)")
    ap.add_argument("--heartbeat-ttl", type=int, default=None,
                    help="ZMTP heartbeat TTL in ms (default 3 x --heartbeat-ivl)")
    ap.add_argument("--send-file", action="append", default=None,
                    help="send this file once after connect (repeatable: each is sent, in order)")
    ap.add_argument("--file-name", action="append", default=None,
                    help="name to send for the matching --send-file instead of its basename "
                         "(repeatable, paired in order; e.g. ../evil to test a server's checks)")
    ap.add_argument("--send-ctrl", default=None, help="send [CTRL, text] once after connect")
    ap.add_argument("--no-hello", action="store_true", help="never send HELLO (a silent client)")
    ap.add_argument("--count", type=int, default=None,
                    help="exit after receiving this many messages")
    ap.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    ap.add_argument("--linger", type=int, default=2000,
                    help="ZMQ_LINGER in ms at exit (lets a queued FILE go out)")
    ap.add_argument("--no-monitor", action="store_true", help="do not report socket monitor events")
    args = ap.parse_args()
    if args.file_name and len(args.file_name) > len(args.send_file or []):
        ap.error("more --file-name than --send-file")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, args.linger)
    routing_id = None
    if args.routing_id is not None:
        routing_id = args.routing_id.encode("utf-8")
        sock.setsockopt(zmq.ROUTING_ID, routing_id)
    if args.heartbeat_ivl:
        sock.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat_ivl)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat_timeout or 3 * args.heartbeat_ivl)
        sock.setsockopt(zmq.HEARTBEAT_TTL, args.heartbeat_ttl or 3 * args.heartbeat_ivl)
    monitor = None if args.no_monitor else sock.get_monitor_socket()

    emit("connecting", endpoint=args.connect, routing_id=routing_id.hex() if routing_id else None,
         pid=os.getpid(), zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())
    sock.connect(args.connect)

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    if monitor is not None:
        poller.register(monitor, zmq.POLLIN)

    start = time.monotonic()
    last_heard = start
    unresponsive = False
    received = 0
    next_hello = start  # the first HELLO goes out at once
    extras_sent = False

    while STOP["reason"] is None:
        now = time.monotonic()
        if args.duration is not None and now - start >= args.duration:
            STOP["reason"] = "duration"
            break

        if now >= next_hello:
            if not args.no_hello:
                sock.send_multipart([b"HELLO"])
                emit("sent", header="HELLO")
            if not extras_sent:
                extras_sent = True
                send_extras(sock, args)
            next_hello += args.interval
            if next_hello < now:
                next_hello = now + args.interval

        silent = now - last_heard
        if not unresponsive and silent > args.server_timeout:
            unresponsive = True
            emit("unresponsive", silent_for=round(silent, 3))

        timeout_ms = max(0, min(100, int((next_hello - time.monotonic()) * 1000) + 1))
        events = dict(poller.poll(timeout_ms))

        if monitor is not None and monitor in events:
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
                received += 1
                last_heard = time.monotonic()
                header = frames[0] if frames else b""
                emit("recv", header=text(header), frames=len(frames),
                     sizes=[len(f) for f in frames])
                if unresponsive:
                    unresponsive = False
                    emit("back")
                if args.count is not None and received >= args.count:
                    STOP["reason"] = "count"
                    break

    emit("exit", reason=STOP["reason"], received=received)
    if monitor is not None:
        sock.disable_monitor()
        monitor.close(0)
    sock.close()  # honours --linger
    ctx.term()
    return 0


def send_extras(sock, args):
    names = args.file_name or []
    for i, path in enumerate(args.send_file or []):
        with open(path, "rb") as f:
            contents = f.read()
        name = names[i] if i < len(names) else os.path.basename(path)
        sock.send_multipart([b"FILE", name.encode("utf-8"), contents])
        emit("sent", header="FILE", name=name, size=len(contents),
             sha256=hashlib.sha256(contents).hexdigest())
    if args.send_ctrl is not None:
        sock.send_multipart([b"CTRL", args.send_ctrl.encode("utf-8")])
        emit("sent", header="CTRL", text=args.send_ctrl)


if __name__ == "__main__":
    sys.exit(main())
