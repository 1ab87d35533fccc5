#!/usr/bin/env python3
"""A pyzmq CURVE server for courier's interop tests (interop-tests/tests/curve.rs).

ref_server.py's behaviour (a ROUTER that learns each client from its first message and sends
it [b"HELLO"] every --interval seconds while it keeps talking; FILE messages are saved in
--inbox), with CURVE: the server's key pair is read with zmq.auth.load_certificate from
--secret-file (a NAME.key_secret written by pyzmq or by `courier-server keygen`), and clients
are authenticated by zmq.auth's ThreadAuthenticator:

    --allow-dir DIR   auth.configure_curve(domain='*', location=DIR): only the public keys of
                      DIR/*.key may connect (re-read on every --interval tick when
                      --reload-allow-dir is given)
    --allow-any       auth.configure_curve(domain='*', location=zmq.auth.CURVE_ALLOW_ANY)

Every event is one JSON object per line on stdout, flushed:
    {"event":"listening","endpoint":...,"public":Z85}
    {"event":"accepted"|"handshake"|"disconnected"|"handshake_failed_auth"|
              "handshake_failed_protocol"|"handshake_failed", "value":N}   (socket monitor)
    {"event":"auth","allowed":true|false,"text":...}                     (ZAP decisions)
    {"event":"recv","peer":"<hex>","header":...,"frames":N,"sizes":[...],"user_id":Z85|null}
    {"event":"learned","peer":"<hex>","user_id":...}
    {"event":"sent","peer":"<hex>","header":"HELLO"}
    {"event":"file","peer":"<hex>","name":...,"size":N,"sha256":...,"path":...}
    {"event":"exit","reason":...}
It exits cleanly (status 0) on SIGTERM/SIGINT or after --duration seconds.
"""

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import time

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}

MONITOR_NAMES = {
    zmq.EVENT_ACCEPTED: "accepted",
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
        elif record.levelno >= logging.WARNING:
            emit("auth_error", text=msg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="tcp://127.0.0.1:0")
    ap.add_argument("--secret-file", required=True, help="the server's NAME.key_secret")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--allow-dir", help="directory of the allowed clients' .key files")
    group.add_argument("--allow-any", action="store_true", help="accept any client key")
    ap.add_argument("--reload-allow-dir", action="store_true",
                    help="call configure_curve again on every --interval tick")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between HELLO rounds")
    ap.add_argument("--stale-after", type=float, default=10.0)
    ap.add_argument("--inbox", default=None, help="directory where FILE contents are saved")
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    public, secret = zmq.auth.load_certificate(args.secret_file)
    if secret is None:
        sys.exit(f"{args.secret_file} holds no secret key")

    ctx = zmq.Context()
    auth = ThreadAuthenticator(ctx)
    auth.log.setLevel(logging.DEBUG)
    auth.log.addHandler(AuthEvents())
    auth.log.propagate = False
    auth.start()
    location = zmq.auth.CURVE_ALLOW_ANY if args.allow_any else args.allow_dir
    auth.configure_curve(domain="*", location=location)

    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    sock.curve_server = True
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    monitor = sock.get_monitor_socket()
    sock.bind(args.bind)
    emit("listening", endpoint=text(sock.getsockopt(zmq.LAST_ENDPOINT)), public=text(public),
         pid=os.getpid(), zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())
    if args.inbox:
        os.makedirs(args.inbox, exist_ok=True)

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    last_seen = {}
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
                handle(frames, last_seen, args)
        now = time.monotonic()
        if now >= next_tick:
            if args.reload_allow_dir and args.allow_dir:
                auth.configure_curve(domain="*", location=args.allow_dir)
            for ident in list(last_seen):
                if now - last_seen[ident] > args.stale_after:
                    del last_seen[ident]
                    emit("dropped", peer=ident.hex())
            for ident in list(last_seen):
                try:
                    sock.send_multipart([ident, b"HELLO"])
                    emit("sent", peer=ident.hex(), header="HELLO")
                except zmq.ZMQError as e:
                    emit("send_error", peer=ident.hex(), error=str(e))
            next_tick = max(next_tick + args.interval, now)

    emit("exit", reason=STOP["reason"])
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    auth.stop()
    ctx.term()
    return 0


def handle(frames, last_seen, args):
    ident = frames[0].bytes
    body = [f.bytes for f in frames[1:]]
    try:
        user_id = frames[-1].get("User-Id")
    except zmq.ZMQError:
        user_id = None
    header = body[0] if body else b""
    peer = ident.hex()
    emit("recv", peer=peer, header=text(header), frames=len(body),
         sizes=[len(f) for f in body], user_id=user_id)
    if ident not in last_seen:
        emit("learned", peer=peer, user_id=user_id)
    last_seen[ident] = time.monotonic()
    if header == b"FILE" and len(body) >= 3:
        name = text(body[1])
        contents = body[2]
        path = None
        if args.inbox:
            path = os.path.join(args.inbox, os.path.basename(name) or "unnamed")
            with open(path, "wb") as f:
                f.write(contents)
        emit("file", peer=peer, name=name, size=len(contents),
             sha256=hashlib.sha256(contents).hexdigest(), path=path)


if __name__ == "__main__":
    sys.exit(main())
