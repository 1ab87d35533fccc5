#!/usr/bin/env python3
"""A pyzmq (libzmq) CURVE peer for courier's interop tests (crates/socket/tests/curve_pyzmq.rs).

    curve_peer.py router --bind ENDPOINT --secret Z85
        A CURVE server ROUTER (no ZAP handler: libzmq accepts any client key). Every message
        [id, *frames] is reported and answered with [id, b"echo", *frames].

    curve_peer.py dealer --connect ENDPOINT --server-key Z85 --public Z85 --secret Z85
                         [--identity TEXT] [--send HEX,HEX,...]... [--heartbeat-ms N]
        A CURVE client DEALER. Sends each --send message (frames in hex, comma-separated; an
        empty string is an empty frame) at once (libzmq queues them until the handshake is
        done), then reports what it receives. With --heartbeat-ms it PINGs (inside CURVE
        MESSAGE boxes, with the COMMAND flag) and drops a connection that does not answer.

Both run until --duration seconds pass or SIGTERM, and print one JSON object per line:
    {"event":"listening","endpoint":"tcp://127.0.0.1:PORT"}
    {"event":"monitor","name":"HANDSHAKE_SUCCEEDED"|"HANDSHAKE_FAILED_AUTH"|...,"value":N}
    {"event":"recv","frames":["<hex>",...],"peer":"<hex>"}      (peer: ROUTER only)
    {"event":"sent","frames":["<hex>",...]}
    {"event":"exit","reason":...}
"""

import argparse
import json
import signal
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

STOP = {"reason": None}

MONITOR_NAMES = {
    value: name[len("EVENT_"):]
    for name, value in vars(zmq).items()
    if name.startswith("EVENT_") and isinstance(value, int) and name != "EVENT_ALL"
}


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_signal(signum, _frame):
    STOP["reason"] = signal.Signals(signum).name


def parse_message(text):
    return [bytes.fromhex(part) for part in text.split(",")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["router", "dealer"])
    parser.add_argument("--bind")
    parser.add_argument("--connect")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--public")
    parser.add_argument("--server-key")
    parser.add_argument("--identity", default="")
    parser.add_argument("--send", action="append", default=[])
    parser.add_argument("--heartbeat-ms", type=int, default=0)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ctx = zmq.Context()
    if args.role == "router":
        sock = ctx.socket(zmq.ROUTER)
        sock.curve_server = True
        sock.curve_secretkey = args.secret.encode()
    else:
        sock = ctx.socket(zmq.DEALER)
        sock.curve_serverkey = args.server_key.encode()
        sock.curve_publickey = args.public.encode()
        sock.curve_secretkey = args.secret.encode()
        if args.identity:
            sock.identity = args.identity.encode()
    sock.linger = 0
    if args.heartbeat_ms:
        # PING every interval; drop the connection if no traffic answers within 3 of them.
        sock.heartbeat_ivl = args.heartbeat_ms
        sock.heartbeat_timeout = 3 * args.heartbeat_ms
    monitor = sock.get_monitor_socket()

    if args.bind:
        sock.bind(args.bind)
        emit("listening", endpoint=sock.getsockopt_string(zmq.LAST_ENDPOINT))
    if args.connect:
        sock.connect(args.connect)
        for text in args.send:
            frames = parse_message(text)
            sock.send_multipart(frames)
            emit("sent", frames=[f.hex() for f in frames])

    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    deadline = time.monotonic() + args.duration
    while STOP["reason"] is None:
        left = deadline - time.monotonic()
        if left <= 0:
            STOP["reason"] = "duration"
            break
        ready = dict(poller.poll(min(left, 0.2) * 1000))
        if monitor in ready:
            ev = recv_monitor_message(monitor)
            emit("monitor", name=MONITOR_NAMES.get(ev["event"], str(ev["event"])), value=ev["value"])
        if sock in ready:
            frames = sock.recv_multipart()
            if args.role == "router":
                peer, body = frames[0], frames[1:]
                emit("recv", frames=[f.hex() for f in body], peer=peer.hex())
                sock.send_multipart([peer, b"echo"] + body)
            else:
                emit("recv", frames=[f.hex() for f in frames])

    emit("exit", reason=STOP["reason"])
    sock.disable_monitor()
    monitor.close(0)
    sock.close(0)
    ctx.term()


if __name__ == "__main__":
    main()
