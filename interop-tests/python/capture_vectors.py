#!/usr/bin/env python3
"""Capture byte-exact ZMTP 3.x wire vectors from a real libzmq (via pyzmq).

Method: a hand-written "raw" ZMTP peer built on a plain TCP `socket` talks to a
real pyzmq socket over 127.0.0.1 (ephemeral ports) and records exactly the
bytes libzmq puts on the wire. Each vector is written to
crates/proto/tests/vectors/<name>.bin and hex-dumped to stdout.

Re-run:
    python3 -m venv target/interop-venv
    target/interop-venv/bin/pip install pyzmq
    target/interop-venv/bin/python interop-tests/python/capture_vectors.py [OUTDIR]

Notes on the raw peer:
  * It always sends its full 64-byte greeting in one write. libzmq sends its
    own greeting in parts (signature first, then the rest once it has seen
    ours), so the reader loops until it has 64 bytes.
  * After the greeting each side sends a READY command (NULL mechanism).
  * Frame flags: bit0 MORE, bit1 LONG (8-byte BE size), bit2 COMMAND.
"""
import os
import socket
import struct
import sys
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "..", "crates", "proto", "tests", "vectors"))
OUT = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
TIMEOUT = 5.0

FLAG_MORE, FLAG_LONG, FLAG_COMMAND = 0x01, 0x02, 0x04


# --------------------------------------------------------------------------- helpers

def hexdump(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hx = " ".join(f"{b:02x}" for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"  {off:04x}  {hx:<47}  |{asc}|")
    return "\n".join(lines)


def save(name: str, data: bytes) -> None:
    assert data, f"{name}: empty vector"
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    print(f"== {name} ({len(data)} bytes)")
    print(hexdump(data))


def greeting(mechanism: bytes = b"NULL", as_server: bool = False, minor: int = 1) -> bytes:
    g = (b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, minor])
         + mechanism.ljust(20, b"\x00") + bytes([1 if as_server else 0]) + b"\x00" * 31)
    assert len(g) == 64
    return g


def command_frame(body: bytes) -> bytes:
    if len(body) > 255:
        return bytes([FLAG_COMMAND | FLAG_LONG]) + struct.pack(">Q", len(body)) + body
    return bytes([FLAG_COMMAND, len(body)]) + body


def message_frame(body: bytes, more: bool = False) -> bytes:
    flags = FLAG_MORE if more else 0
    if len(body) > 255:
        return bytes([flags | FLAG_LONG]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def ready(props) -> bytes:
    body = b"\x05READY"
    for k, v in props:
        body += bytes([len(k)]) + k + struct.pack(">I", len(v)) + v
    return command_frame(body)


def parse_props(data: bytes):
    props, i = [], 0
    while i < len(data):
        n = data[i]; i += 1
        k = data[i:i + n]; i += n
        (vl,) = struct.unpack(">I", data[i:i + 4]); i += 4
        props.append((k, data[i:i + vl])); i += vl
    return props


class Raw:
    """Raw ZMTP peer over a plain TCP socket, with exact-bytes reading."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"peer closed; wanted {n}, have {len(self.buf)}")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """Returns (raw_bytes, flags, body)."""
        hdr = self.read_exact(1)
        flags = hdr[0]
        if flags & FLAG_LONG:
            sz = self.read_exact(8)
            (n,) = struct.unpack(">Q", sz)
        else:
            sz = self.read_exact(1)
            n = sz[0]
        body = self.read_exact(n)
        return hdr + sz + body, flags, body

    def read_greeting(self) -> bytes:
        g = self.read_exact(64)
        assert g[0] == 0xFF and g[9] == 0x7F, g.hex()
        return g

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def handshake(self, props):
        """Send our greeting + READY; read theirs. Returns (greeting, ready_raw, ready_body)."""
        self.send(greeting())
        g = self.read_greeting()
        self.send(ready(props))
        raw, flags, body = self.read_frame()
        assert flags & FLAG_COMMAND and body.startswith(b"\x05READY"), raw.hex()
        return g, raw, body

    def close(self):
        self.sock.close()


def raw_listener():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(TIMEOUT)
    return ls, f"tcp://127.0.0.1:{ls.getsockname()[1]}"


def zmq_connects_to_raw(ctx, sock_type, **opts):
    """pyzmq socket connects to a raw listener. Returns (zsock, Raw)."""
    ls, ep = raw_listener()
    z = ctx.socket(sock_type)
    z.linger = 0
    for k, v in opts.items():
        setattr(z, k, v)
    z.connect(ep)
    conn, _ = ls.accept()
    ls.close()
    return z, Raw(conn)


def raw_connects_to_zmq(ctx, sock_type, **opts):
    """Raw peer connects to a bound pyzmq socket. Returns (zsock, Raw)."""
    z = ctx.socket(sock_type)
    z.linger = 0
    for k, v in opts.items():
        setattr(z, k, v)
    port = z.bind_to_random_port("tcp://127.0.0.1")
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return z, Raw(s)


# --------------------------------------------------------------------------- captures

def capture(ctx):
    # 1: plain DEALER (no routing_id) -> raw ROUTER; its 64-byte greeting.
    #    libzmq fills signature bytes 1..8 with a u64 BE = routing_id length + 1
    #    (ZMTP/1.0 backward-compat trick), so with no routing_id it is 1.
    z, r = zmq_connects_to_raw(ctx, zmq.DEALER)
    r.send(greeting())
    g = r.read_greeting()
    assert g[10] == 3 and g[12:32] == b"NULL".ljust(20, b"\0") and g[32] == 0, g.hex()
    assert g[1:9] == (1).to_bytes(8, "big"), g[1:9].hex()
    save("greeting_dealer.bin", g)
    z.close(); r.close()

    # 1b + 3 + 5: DEALER (routing_id=b"client-1") -> raw ROUTER.
    z, r = zmq_connects_to_raw(ctx, zmq.DEALER, routing_id=b"client-1")
    g, ready_raw, body = r.handshake([(b"Socket-Type", b"ROUTER")])
    assert g[1:9] == (len(b"client-1") + 1).to_bytes(8, "big"), g[1:9].hex()
    save("greeting_dealer_routing_id.bin", g)
    print("   props:", parse_props(body[6:]))
    save("ready_dealer.bin", ready_raw)

    z.send_multipart([b"HELLO", b"", b"x" * 300])
    frames = [r.read_frame() for _ in range(3)]
    assert [f[1] for f in frames] == [FLAG_MORE, FLAG_MORE, FLAG_LONG], [f[1] for f in frames]
    assert [f[2] for f in frames] == [b"HELLO", b"", b"x" * 300]
    save("multipart_dealer.bin", b"".join(f[0] for f in frames))
    z.close(); r.close()

    # 2: ROUTER with curve_server=True -> greeting only (raw peer acts as CURVE client).
    _pub, secret = zmq.curve_keypair()
    z, r = raw_connects_to_zmq(ctx, zmq.ROUTER, curve_server=True, curve_secretkey=secret)
    r.send(greeting(b"CURVE", as_server=False))
    g = r.read_greeting()
    # NB: libzmq 4.3 always writes as-server = 0 in its greeting (it memsets
    # the as-server byte + filler to zero), even for a CURVE server. The role
    # is taken from local options, not from the peer's greeting.
    assert g[12:32] == b"CURVE".ljust(20, b"\0"), g.hex()
    print(f"   as-server byte = {g[32]} (RFC 23 would expect 1 for a CURVE server)")
    save("greeting_curve_server.bin", g)
    z.close(); r.close()

    # 4 + 8: raw DEALER -> bound ROUTER.
    z, r = raw_connects_to_zmq(ctx, zmq.ROUTER)
    g, ready_raw, body = r.handshake([(b"Socket-Type", b"DEALER")])
    print("   router greeting:", g.hex())
    save("ready_router.bin", ready_raw)
    print("   props:", parse_props(body[6:]))
    r.send(message_frame(b"hi"))
    assert z.poll(TIMEOUT * 1000), "ROUTER never received raw dealer's message"
    ident, msg = z.recv_multipart()
    assert msg == b"hi"
    print("   ROUTER-assigned identity:", ident.hex())
    z.send_multipart([ident, b"HELLO"])
    raw, flags, fbody = r.read_frame()
    assert flags == 0 and fbody == b"HELLO", raw.hex()
    save("multipart_router_to_dealer.bin", raw)
    z.close(); r.close()

    # 6: DEALER with heartbeats -> raw ROUTER; first PING it sends.
    z, r = zmq_connects_to_raw(ctx, zmq.DEALER, heartbeat_ivl=100, heartbeat_ttl=2000)
    r.handshake([(b"Socket-Type", b"ROUTER")])
    t0 = time.monotonic()
    raw, flags, body = r.read_frame()
    print(f"   first PING after {time.monotonic() - t0:.3f}s")
    assert flags == FLAG_COMMAND and body.startswith(b"\x04PING"), raw.hex()
    (ttl,) = struct.unpack(">H", body[5:7])
    print(f"   PING ttl={ttl} deciseconds, context={body[7:]!r}")
    save("ping.bin", raw)
    z.close(); r.close()

    # 7: raw ROUTER sends PING(ttl=0, ctx=b"ctx1") to a DEALER; record the PONG.
    z, r = zmq_connects_to_raw(ctx, zmq.DEALER)
    r.handshake([(b"Socket-Type", b"ROUTER")])
    r.send(command_frame(b"\x04PING" + b"\x00\x00" + b"ctx1"))
    raw, flags, body = r.read_frame()
    assert flags == FLAG_COMMAND and body.startswith(b"\x04PONG"), raw.hex()
    print(f"   PONG context={body[5:]!r}")
    save("pong.bin", raw)
    z.close(); r.close()


def main():
    print(f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
    print(f"output: {OUT}")
    ctx = zmq.Context()
    try:
        capture(ctx)
    finally:
        ctx.destroy(linger=0)  # also closes sockets left open by a failed assert
    print("all vectors captured")


if __name__ == "__main__":
    main()
