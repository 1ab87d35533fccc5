#!/usr/bin/env python3
"""pyzmq (libzmq) PLAIN and NULL peers for courier's interop tests (interop-tests/tests/plain.rs).

    plain_peer.py server [--bind EP] [--user NAME:PASSWORD]... [--allow IP]... [--deny IP]...
                         [--null] [--interval S]
        A ROUTER with zmq.auth's ThreadAuthenticator: configure_plain(domain='*', passwords)
        from the --user pairs, allow(*--allow), deny(*--deny). With --null the socket is a NULL
        server (address rules only; pyzmq needs a ZAP domain for NULL to be checked). It learns
        each client from its first message and sends it [b"HELLO"] every --interval seconds,
        as courier-server does.

    plain_peer.py client --connect EP [--user NAME --password PW] [--routing-id TEXT]
                         [--interval S]
        A DEALER (PLAIN client with --user, NULL otherwise) sending [b"HELLO"] every
        --interval seconds. EP may be libzmq's source-address form tcp://SRC:0;HOST:PORT.

Every event is one JSON object per line on stdout, flushed:
    {"event":"listening","endpoint":...}
    {"event":"accepted"|"handshake"|"disconnected"|"handshake_failed_auth"|
              "handshake_failed_protocol"|"handshake_failed"|"tcp_connected"|"connected",
     "value":N}                                                      (socket monitor)
    {"event":"auth","allowed":true|false,"text":...}                 (ZAP decisions)
    {"event":"recv","peer":"<hex>","header":...,"user_id":...,"address":...}
    {"event":"sent","header":"HELLO"}
    {"event":"exit","reason":...}
It exits cleanly (status 0) on SIGTERM/SIGINT or after --duration seconds.
"""

import argparse
import json
import logging
import signal
import sys
import time

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}

MONITOR_NAMES = {
    zmq.EVENT_ACCEPTED: "accepted",
    zmq.EVENT_CONNECTED: "tcp_connected",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "handshake",
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


class AuthEvents(logging.Handler):
    """Reports the authenticator's ALLOWED/DENIED decisions as JSON events."""

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("ALLOWED") or msg.startswith("DENIED"):
            emit("auth", allowed=msg.startswith("ALLOWED"), text=msg)


def prop(frame, name):
    try:
        return frame.get(name)
    except zmq.ZMQError:
        return None


def run(sock, monitor, args, on_message, on_tick):
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    start = time.monotonic()
    next_tick = start + args.interval
    while STOP["reason"] is None:
        now = time.monotonic()
        if now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        events = dict(poller.poll(max(0, min(100, int((next_tick - now) * 1000)))))
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
                    frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                on_message(frames)
        now = time.monotonic()
        if now >= next_tick:
            on_tick()
            next_tick = max(next_tick + args.interval, now)


def server(args):
    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.log.setLevel(logging.DEBUG)
    auth.log.addHandler(AuthEvents())
    auth.log.propagate = False
    auth.start()
    if args.allow:
        auth.allow(*args.allow)
    if args.deny:
        auth.deny(*args.deny)
    passwords = dict(u.split(":", 1) for u in args.user)
    if passwords:
        auth.configure_plain(domain="*", passwords=passwords)

    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    if args.null:
        sock.zap_domain = b"global"
    else:
        sock.plain_server = True
    monitor = sock.get_monitor_socket()
    sock.bind(args.bind)
    emit("listening", endpoint=text(sock.getsockopt(zmq.LAST_ENDPOINT)),
         zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())
    known = set()

    def on_message(frames):
        ident = frames[0].bytes
        body = [f.bytes for f in frames[1:]]
        header = body[0] if body else b""
        emit("recv", peer=ident.hex(), header=text(header),
             user_id=prop(frames[-1], "User-Id"), address=prop(frames[-1], "Peer-Address"))
        known.add(ident)

    def on_tick():
        for ident in list(known):
            try:
                sock.send_multipart([ident, b"HELLO"], zmq.NOBLOCK)
                emit("sent", peer=ident.hex(), header="HELLO")
            except zmq.ZMQError:
                known.discard(ident)

    run(sock, monitor, args, on_message, on_tick)
    emit("exit", reason=STOP["reason"])
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    auth.stop()
    ctx.term()


def client(args):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if args.user is not None:
        sock.plain_username = args.user[0].encode()
        sock.plain_password = (args.password or "").encode()
    if args.routing_id:
        sock.identity = args.routing_id.encode()
    monitor = sock.get_monitor_socket()
    sock.connect(args.connect)
    emit("connecting", endpoint=args.connect)

    def on_message(frames):
        body = [f.bytes for f in frames]
        emit("recv", header=text(body[0]) if body else "")

    def on_tick():
        try:
            sock.send_multipart([b"HELLO"], zmq.NOBLOCK)
            emit("sent", header="HELLO")
        except zmq.Again:
            emit("send_blocked", header="HELLO")

    run(sock, monitor, args, on_message, on_tick)
    emit("exit", reason=STOP["reason"])
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    ctx.term()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--bind", default="tcp://127.0.0.1:0")
    ap.add_argument("--connect")
    ap.add_argument("--user", action="append", default=[],
                    help="server: NAME:PASSWORD (repeatable); client: the user name")
    ap.add_argument("--password")
    ap.add_argument("--allow", action="append", default=[])
    ap.add_argument("--deny", action="append", default=[])
    ap.add_argument("--null", action="store_true")
    ap.add_argument("--routing-id", default="")
    ap.add_argument("--interval", type=float, default=0.3)
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    if args.role == "client" and len(args.user) > 1:
        ap.error("a client has one --user")
    if args.role == "client" and not args.user:
        args.user = None

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.role == "server":
        server(args)
    else:
        client(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
