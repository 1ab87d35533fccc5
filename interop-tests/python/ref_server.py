#!/usr/bin/env python3
"""Reference Part-1 server, in pyzmq, for courier's interop tests.

A ROUTER bound to an endpoint (default tcp://127.0.0.1:5556). It learns a
client from its routing identity on the client's first message, remembers when
it last heard from it, sends [identity, b"HELLO"] every --interval seconds to
each client heard from within the last --stale-after seconds, and drops the
clients it has not heard from for longer than that.

Messages are multipart; frame 0 is an ASCII header:
  HELLO = [b"HELLO"]
  FILE  = [b"FILE", utf-8 name, contents]
  CTRL  = [b"CTRL", text]
  METR  = [b"METR", hostname, JSON, kind]
(on the ROUTER the routing identity is prepended: [identity, b"HELLO"]).

Every event is printed to stdout as ONE JSON object per line, flushed:
  {"event":"listening","endpoint":...}
  {"event":"accepted"|"handshake"|"disconnected", ...}   (socket monitor)
  {"event":"recv","peer":"<hex>","header":"HELLO","frames":1,"sizes":[5]}
  {"event":"learned","peer":"<hex>"}
  {"event":"sent","peer":"<hex>","header":"HELLO"}
  {"event":"dropped","peer":"<hex>","silent_for":...}
  {"event":"file","peer":...,"name":...,"size":...,"sha256":...,"path":...}
  {"event":"ctrl","peer":...,"text":...}
  {"event":"metr","peer":...,"hostname":...,"json":...,"kind":...}
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
    sys.stdout.write(json.dumps(obj, sort_keys=False) + "\n")
    sys.stdout.flush()


def on_signal(signum, _frame):
    STOP["reason"] = signal.Signals(signum).name


def text(b):
    return b.decode("utf-8", errors="replace")


MONITOR_NAMES = {
    zmq.EVENT_LISTENING: "monitor_listening",
    zmq.EVENT_ACCEPTED: "accepted",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "handshake",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake_failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake_failed_protocol",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake_failed_auth",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="tcp://127.0.0.1:5556", help="endpoint to bind")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between HELLO rounds")
    ap.add_argument("--stale-after", type=float, default=10.0,
                    help="drop a client not heard from for this many seconds")
    ap.add_argument("--inbox", default=None, help="directory where FILE contents are saved")
    ap.add_argument("--count", type=int, default=None,
                    help="exit after receiving this many messages")
    ap.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    ap.add_argument("--router-mandatory", action="store_true",
                    help="set ZMQ_ROUTER_MANDATORY (report unroutable sends as errors)")
    ap.add_argument("--no-monitor", action="store_true", help="do not report socket monitor events")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    if args.router_mandatory:
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    monitor = None if args.no_monitor else sock.get_monitor_socket()
    sock.bind(args.bind)
    emit("listening", endpoint=text(sock.getsockopt(zmq.LAST_ENDPOINT)), pid=os.getpid(),
         zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())

    if args.inbox:
        os.makedirs(args.inbox, exist_ok=True)

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    if monitor is not None:
        poller.register(monitor, zmq.POLLIN)

    last_seen = {}  # identity bytes -> monotonic time of the last message
    received = 0
    start = time.monotonic()
    next_tick = start + args.interval

    while STOP["reason"] is None:
        now = time.monotonic()
        if args.duration is not None and now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        timeout_ms = max(0, min(100, int((next_tick - now) * 1000)))
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
                handle(frames, last_seen, args)
                if args.count is not None and received >= args.count:
                    STOP["reason"] = "count"
                    break

        now = time.monotonic()
        if now >= next_tick:
            for ident in list(last_seen):
                silent = now - last_seen[ident]
                if silent > args.stale_after:
                    del last_seen[ident]
                    emit("dropped", peer=ident.hex(), silent_for=round(silent, 3))
            for ident in list(last_seen):
                try:
                    sock.send_multipart([ident, b"HELLO"])
                    emit("sent", peer=ident.hex(), header="HELLO")
                except zmq.ZMQError as e:
                    emit("send_error", peer=ident.hex(), error=str(e))
            next_tick += args.interval
            if next_tick < now:
                next_tick = now + args.interval

    emit("exit", reason=STOP["reason"], received=received)
    if monitor is not None:
        sock.disable_monitor()
        monitor.close(0)
    sock.close(0)
    ctx.term()
    return 0


def handle(frames, last_seen, args):
    ident, body = frames[0], frames[1:]
    header = body[0] if body else b""
    peer = ident.hex()
    emit("recv", peer=peer, header=text(header), frames=len(body), sizes=[len(f) for f in body])
    if ident not in last_seen:
        emit("learned", peer=peer)
    last_seen[ident] = time.monotonic()

    if header == b"FILE" and len(body) >= 3:
        name = text(body[1])
        contents = body[2]
        path = None
        if args.inbox:
            safe = os.path.basename(name.replace("\\", "/")) or "unnamed"
            path = os.path.join(args.inbox, safe)
            with open(path, "wb") as f:
                f.write(contents)
        emit("file", peer=peer, name=name, size=len(contents),
             sha256=hashlib.sha256(contents).hexdigest(), path=path)
    elif header == b"CTRL" and len(body) >= 2:
        emit("ctrl", peer=peer, text=text(body[1]))
    elif header == b"METR" and len(body) >= 4:
        emit("metr", peer=peer, hostname=text(body[1]), json=text(body[2]), kind=text(body[3]))


if __name__ == "__main__":
    sys.exit(main())
