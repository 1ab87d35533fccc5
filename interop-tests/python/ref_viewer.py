#!/usr/bin/env python3
"""Reference metrics viewer, in pyzmq, for courier's interop tests.

    ref_viewer.py COLLECTOR_HOST [--port 5557] [--curve-dir ~/.curve] ...

A DEALER, CURVE client with the key pair `client` (--key-name) and the
collector's public key `collector.key` (--server-key-name) from --curve-dir
(zmq.auth.load_certificate), connected to tcp://COLLECTOR_HOST:PORT. It sends
CTRL hello at start and every --hello-interval (15 s), and prints each METR it
receives as a metr event (the JSON parsed into `values`).

Messages (frame 0 is an ASCII header):
  CTRL = [b"CTRL", utf-8 text]                 text: hello | model | ping
  METR = [b"METR", utf-8 hostname, JSON object, b"metrics"|b"model"]

Every event is printed to stdout as ONE JSON object per line, flushed:
  {"event":"connecting","endpoint":...,"routing_id":...|null,"public_key":...}
  {"event":"tcp_connected"|"connected"|"disconnected"|"connect_retried"|
           "handshake_failed"|"handshake_failed_protocol"|"handshake_failed_auth",
   "endpoint":...,"value":...}                          (socket monitor; connected =
                                                         CURVE handshake succeeded)
  {"event":"sent","header":"CTRL","text":"hello"}
  {"event":"recv","header":"CTRL","text":"ping"|...,"frames":2}
  {"event":"metr","hostname":...,"kind":"model"|"metrics","values":{...},"frames":4}
      (values is null and `raw` holds the text if the JSON does not parse)
  {"event":"recv","header":...,"frames":N,"sizes":[...]}   (anything else)
  {"event":"send_error","header":...,"error":...}
  {"event":"error","error":...}                         (then exit status 2)
  {"event":"exit","reason":"SIGTERM"|"SIGINT"|"duration","metr":n}
It exits cleanly (status 0) on SIGTERM/SIGINT, or after --duration seconds.
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

MONITOR_NAMES = {
    zmq.EVENT_CONNECTED: "tcp_connected",
    zmq.EVENT_CONNECT_RETRIED: "connect_retried",
    zmq.EVENT_DISCONNECTED: "disconnected",
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


def tcp_endpoint(host, port):
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("collector_host", help="host name or IP of the collector")
    ap.add_argument("--port", type=int, default=5557, help="collector's viewer port")
    ap.add_argument("--curve-dir", default="~/.curve",
                    help="directory with NAME.key / NAME.key_secret certificate files")
    ap.add_argument("--key-name", default="client", help="our key pair name in --curve-dir")
    ap.add_argument("--server-key-name", default="collector",
                    help="the collector's public key name in --curve-dir")
    ap.add_argument("--routing-id", default=None,
                    help="DEALER routing id (default: none, the collector's ROUTER makes one)")
    ap.add_argument("--hello-interval", type=float, default=15.0,
                    help="seconds between CTRL hello messages")
    ap.add_argument("--duration", type=float, default=None, help="exit after this many seconds")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    curve_dir = os.path.expanduser(args.curve_dir)
    try:
        public, secret = zmq.auth.load_certificate(
            os.path.join(curve_dir, f"{args.key_name}.key_secret"))
        if secret is None:
            raise ValueError(f"no secret key in {args.key_name}.key_secret")
        server_public, _ = zmq.auth.load_certificate(
            os.path.join(curve_dir, f"{args.server_key_name}.key"))
    except (OSError, ValueError) as e:
        emit("error", error=f"cannot load CURVE keys from {curve_dir}: {e}")
        return 2

    endpoint = tcp_endpoint(args.collector_host, args.port)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if args.routing_id:
        sock.routing_id = args.routing_id.encode()
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.curve_serverkey = server_public
    if ":" in args.collector_host:
        sock.ipv6 = True
    monitor = sock.get_monitor_socket()
    sock.connect(endpoint)
    emit("connecting", endpoint=endpoint, routing_id=args.routing_id,
         public_key=public.decode("ascii"), pid=os.getpid(),
         zmq=zmq.zmq_version(), pyzmq=zmq.pyzmq_version())

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)

    start = time.monotonic()
    next_hello = start
    metr = 0
    while STOP["reason"] is None:
        now = time.monotonic()
        if args.duration is not None and now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        if now >= next_hello:
            try:
                sock.send_multipart([b"CTRL", b"hello"], zmq.NOBLOCK)
                emit("sent", header="CTRL", text="hello")
            except zmq.ZMQError as e:
                emit("send_error", header="CTRL", text="hello", error=str(e))
            next_hello += args.hello_interval
            if next_hello < now:
                next_hello = now + args.hello_interval
        timeout_ms = max(0, min(100, int((next_hello - now) * 1000)))
        events = dict(poller.poll(timeout_ms))

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
                if header == b"METR" and len(frames) >= 4:
                    metr += 1
                    raw = text(frames[2])
                    fields = {}
                    try:
                        values = json.loads(raw)
                    except ValueError:
                        values = None
                        fields["raw"] = raw
                    emit("metr", hostname=text(frames[1]), kind=text(frames[3]), values=values,
                         frames=len(frames), **fields)
                elif header == b"CTRL" and len(frames) >= 2:
                    emit("recv", header="CTRL", text=text(frames[1]), frames=len(frames))
                else:
                    emit("recv", header=text(header), frames=len(frames),
                         sizes=[len(f) for f in frames])

    emit("exit", reason=STOP["reason"], metr=metr)
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
