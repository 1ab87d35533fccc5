#!/usr/bin/env python3
"""A pyzmq (libzmq) peer of any socket type, for courier's socket-type interop tests
(crates/socket/tests/types_pyzmq.rs). Its script is given as steps on the command line (stdin is
closed), and it reports what happens as one JSON object per line.

    socket_peer.py TYPE (--bind EP | --connect EP)... [--sndhwm N] [--rcvhwm N]
                   [--identity TEXT] [--req-relaxed] [--req-correlate] [--xpub-verbose]
                   [--brief] [--monitor] [--timeout SECONDS] [--exit]
                   [--step STEP]...

TYPE is PUSH, PULL, PAIR, PUB, SUB, XPUB, XSUB, REQ, REP, DEALER or ROUTER. Steps run in order:

    send:HEX,HEX,...        send a message (frames in hex; an empty string is an empty frame)
    recv                    receive one message and report it
    recv:N                  receive N messages, reporting each
    recv_until:HEX          receive (reporting each) until a message whose first frame is HEX
    sub:HEX / unsub:HEX     SUBSCRIBE / UNSUBSCRIBE (SUB)
    wait_file:PATH          wait until PATH exists (the test's go-ahead)
    sleep:SECONDS           pause
    publish:HEX,HEX,...     until stopped, send every 10 ms one message per topic: [topic + n]
    echo                    until stopped, receive and send back [b"echo", *frames]
    send_until_blocked:N    send N-byte messages [n, body] without blocking until EAGAIN;
                            reports how many were sent

    socket_peer.py proxy FRONT_TYPE BACK_TYPE
        Binds a FRONT_TYPE and a BACK_TYPE socket on 127.0.0.1 (random ports), reports both,
        and runs zmq.proxy between them (a ROUTER/DEALER broker, or XSUB/XPUB forwarding).

Events:
    {"event":"listening","endpoint":"tcp://127.0.0.1:PORT"}      (per --bind, or "front"/"back")
    {"event":"ready"}                                           (bound and connected)
    {"event":"recv","frames":["<hex>",...]}                      (--brief: only the first frame,
                                                                  and "count": frames)
    {"event":"sent","count":N}                                  (send_until_blocked)
    {"event":"monitor","name":"HANDSHAKE_SUCCEEDED"|...}         (--monitor)
    {"event":"timeout","step":"..."}                            (a receive took over --timeout)
    {"event":"done"}                                            (every step ran)
After the steps it runs until SIGTERM (or exits with --exit, after a short linger).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

STOP = threading.Event()
LOCK = threading.Lock()

MONITOR_NAMES = {
    value: name[len("EVENT_"):]
    for name, value in vars(zmq).items()
    if name.startswith("EVENT_") and isinstance(value, int) and name != "EVENT_ALL"
}


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    with LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def on_signal(_signum, _frame):
    STOP.set()


def parse_message(text):
    return [bytes.fromhex(part) for part in text.split(",")]


def socket_type(name):
    return getattr(zmq, name.upper())


def watch(monitor):
    while not STOP.is_set():
        if monitor.poll(100):
            try:
                ev = recv_monitor_message(monitor)
            except zmq.ZMQError:
                return
            emit("monitor", name=MONITOR_NAMES.get(ev["event"], str(ev["event"])), value=ev["value"])


def report(frames, brief):
    if brief:
        emit("recv", frames=[frames[0].hex()], count=len(frames))
    else:
        emit("recv", frames=[f.hex() for f in frames])


def recv(sock, timeout, step):
    """One message, or None after `timeout` seconds (reported) or on stop."""
    deadline = time.monotonic() + timeout
    while not STOP.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            emit("timeout", step=step)
            return None
        if sock.poll(int(min(left, 0.1) * 1000) + 1):
            return sock.recv_multipart()
    return None


def run_step(sock, step, args):
    kind, _, arg = step.partition(":")
    if kind == "send":
        sock.send_multipart(parse_message(arg))
    elif kind == "recv":
        for _ in range(int(arg or "1")):
            frames = recv(sock, args.timeout, step)
            if frames is None:
                return False
            report(frames, args.brief)
    elif kind == "recv_until":
        end = bytes.fromhex(arg)
        while True:
            frames = recv(sock, args.timeout, step)
            if frames is None:
                return False
            report(frames, args.brief)
            if frames[0] == end:
                break
    elif kind == "sub":
        sock.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(arg))
    elif kind == "unsub":
        sock.setsockopt(zmq.UNSUBSCRIBE, bytes.fromhex(arg))
    elif kind == "wait_file":
        while not os.path.exists(arg):
            if STOP.wait(0.01):
                return False
    elif kind == "sleep":
        STOP.wait(float(arg))
    elif kind == "publish":
        topics = parse_message(arg)
        n = 0
        while not STOP.is_set():
            for topic in topics:
                sock.send_multipart([topic + str(n).encode()])
            n += 1
            STOP.wait(0.01)
    elif kind == "echo":
        while not STOP.is_set():
            if sock.poll(100):
                frames = sock.recv_multipart()
                report(frames, args.brief)
                sock.send_multipart([b"echo"] + frames)
    elif kind == "send_until_blocked":
        body = b"\x07" * int(arg)
        n = 0
        while True:
            try:
                sock.send_multipart([str(n).encode(), body], flags=zmq.NOBLOCK)
            except zmq.Again:
                break
            n += 1
        emit("sent", count=n)
    else:
        raise SystemExit(f"unknown step {step!r}")
    return True


def proxy(front_type, back_type):
    ctx = zmq.Context()
    front = ctx.socket(socket_type(front_type))
    back = ctx.socket(socket_type(back_type))
    front.bind("tcp://127.0.0.1:0")
    back.bind("tcp://127.0.0.1:0")
    emit("listening", side="front", endpoint=front.getsockopt_string(zmq.LAST_ENDPOINT))
    emit("listening", side="back", endpoint=back.getsockopt_string(zmq.LAST_ENDPOINT))
    emit("ready")
    # zmq.proxy runs until the context ends: SIGTERM's default action ends the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    zmq.proxy(front, back)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("type")
    parser.add_argument("sides", nargs="*")
    parser.add_argument("--bind", action="append", default=[])
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--sndhwm", type=int)
    parser.add_argument("--rcvhwm", type=int)
    parser.add_argument("--identity")
    parser.add_argument("--req-relaxed", action="store_true")
    parser.add_argument("--req-correlate", action="store_true")
    parser.add_argument("--xpub-verbose", action="store_true")
    parser.add_argument("--brief", action="store_true")
    parser.add_argument("--monitor", action="store_true")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--exit", action="store_true")
    parser.add_argument("--step", action="append", default=[])
    args = parser.parse_args()

    if args.type == "proxy":
        return proxy(*args.sides)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ctx = zmq.Context()
    sock = ctx.socket(socket_type(args.type))
    sock.linger = 1000
    if args.sndhwm is not None:
        sock.sndhwm = args.sndhwm
    if args.rcvhwm is not None:
        sock.rcvhwm = args.rcvhwm
    if args.identity:
        sock.identity = args.identity.encode()
    if args.req_relaxed:
        sock.setsockopt(zmq.REQ_RELAXED, 1)
    if args.req_correlate:
        sock.setsockopt(zmq.REQ_CORRELATE, 1)
    if args.xpub_verbose:
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
    watcher = None
    if args.monitor:
        monitor = sock.get_monitor_socket()
        watcher = threading.Thread(target=watch, args=(monitor,), daemon=True)
        watcher.start()
    for ep in args.bind:
        sock.bind(ep)
        emit("listening", endpoint=sock.getsockopt_string(zmq.LAST_ENDPOINT))
    for ep in args.connect:
        sock.connect(ep)
    emit("ready")

    completed = True
    for step in args.step:
        if STOP.is_set() or not run_step(sock, step, args):
            completed = False
            break
    if completed:
        emit("done")
    if not args.exit:
        while not STOP.wait(0.1):
            pass
    STOP.set()
    if watcher is not None:
        watcher.join(1)
    sock.close()
    ctx.term()


if __name__ == "__main__":
    main()
