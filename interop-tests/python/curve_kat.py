"""Known-answer vectors for courier's CURVE mechanism (crates/proto/tests/curve_kat.rs).

Builds a whole CurveZMQ (RFC 26) transcript -- HELLO, WELCOME (with its cookie), INITIATE
(with its vouch), READY and MESSAGE in both directions -- from fixed keys and nonces, with
libsodium (through PyNaCl's raw bindings) for every box and pyzmq's Z85 for the keys. It
shares no code with courier: the layouts below are written from RFC 26 and libzmq 4.3.5's
wire behaviour (short nonces big-endian, counting from 1 per direction; MESSAGE flags bit 0
MORE, bit 1 COMMAND).

The "random" octets courier's scripted RNGs hand out are fixed streams:
  client RNG: octet k is k % 256       -> transient secret c' = 00..1f, vouch nonce = 20..2f
  server RNG: octet k is (0x80+k) % 256 -> transient secret s' = 80..9f, cookie key = a0..bf,
                                          cookie nonce = c0..cf, WELCOME nonce = d0..df

Usage (needs pyzmq and pynacl):
    target/interop-venv/bin/pip install pynacl
    target/interop-venv/bin/python interop-tests/python/curve_kat.py
and paste the printed constants into crates/proto/tests/curve_kat.rs.
"""

import struct

from nacl import bindings as sodium
from zmq.utils import z85

# The test key pairs of libzmq's zmq_curve(7) manual page.
CLIENT_SECRET = z85.decode(b"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs")
SERVER_SECRET = z85.decode(b"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6")
CLIENT_PUBLIC = sodium.crypto_scalarmult_base(CLIENT_SECRET)
SERVER_PUBLIC = sodium.crypto_scalarmult_base(SERVER_SECRET)
assert CLIENT_PUBLIC == z85.decode(b"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID")
assert SERVER_PUBLIC == z85.decode(b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")


def stream(start):
    k = start
    while True:
        yield k % 256
        k += 1


def take(gen, n):
    return bytes(next(gen) for _ in range(n))


client_rng = stream(0)
server_rng = stream(0x80)


def prop(name, value):
    return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value


CLIENT_META = prop(b"Socket-Type", b"DEALER") + prop(b"Identity", b"")
SERVER_META = prop(b"Socket-Type", b"ROUTER") + prop(b"Identity", b"")


def box(msg, nonce, pk, sk):
    # PyNaCl returns the box without NaCl's 16 leading zero octets: tag, then ciphertext.
    return sodium.crypto_box(msg, nonce, pk, sk)


def short(n):
    return struct.pack(">Q", n)


# HELLO (client short nonce 1)
c_sec = take(client_rng, 32)
c_pub = sodium.crypto_scalarmult_base(c_sec)
hello = (b"\x05HELLO" + b"\x01\x00" + bytes(72) + c_pub + short(1)
         + box(bytes(64), b"CurveZMQHELLO---" + short(1), SERVER_PUBLIC, c_sec))
assert len(hello) == 200

# WELCOME
s_sec = take(server_rng, 32)
s_pub = sodium.crypto_scalarmult_base(s_sec)
cookie_key = take(server_rng, 32)
cookie_nonce = take(server_rng, 16)
welcome_nonce = take(server_rng, 16)
cookie = cookie_nonce + sodium.crypto_secretbox(c_pub + s_sec, b"COOKIE--" + cookie_nonce, cookie_key)
welcome = (b"\x07WELCOME" + welcome_nonce
           + box(s_pub + cookie, b"WELCOME-" + welcome_nonce, c_pub, SERVER_SECRET))
assert len(welcome) == 168

# INITIATE (client short nonce 2)
vouch_nonce = take(client_rng, 16)
vouch = vouch_nonce + box(c_pub + SERVER_PUBLIC, b"VOUCH---" + vouch_nonce, s_pub, CLIENT_SECRET)
initiate = (b"\x08INITIATE" + cookie + short(2)
            + box(CLIENT_PUBLIC + vouch + CLIENT_META, b"CurveZMQINITIATE" + short(2), s_pub, c_sec))

# READY (server short nonce 1)
ready = b"\x05READY" + short(1) + box(SERVER_META, b"CurveZMQREADY---" + short(1), c_pub, s_sec)

# MESSAGE, with the precomputed key (crypto_box_beforenm) as libzmq does.
shared = sodium.crypto_box_beforenm(s_pub, c_sec)
assert shared == sodium.crypto_box_beforenm(c_pub, s_sec)


def message(prefix, n, flags, payload):
    return (b"\x07MESSAGE" + short(n)
            + sodium.crypto_box_afternm(bytes([flags]) + payload, prefix + short(n), shared))


client_messages = [
    message(b"CurveZMQMESSAGEC", 3, 0x01, b"Hello"),  # data, MORE
    message(b"CurveZMQMESSAGEC", 4, 0x00, b""),  # data, last frame
]
server_messages = [
    message(b"CurveZMQMESSAGES", 2, 0x02, b"\x04PING\x00\x0a"),  # a command (PING, TTL 1 s)
    message(b"CurveZMQMESSAGES", 3, 0x00, b"World"),  # data
]


def rust(name, data):
    hexed = data.hex()
    lines = [hexed[i:i + 96] for i in range(0, len(hexed), 96)]
    body = "".join(f'    "{line}",\n' for line in lines)
    print(f"const {name}: &[&str] = &[\n{body}];")


rust("HELLO", hello)
rust("WELCOME", welcome)
rust("INITIATE", initiate)
rust("READY", ready)
rust("CLIENT_MESSAGE_1", client_messages[0])
rust("CLIENT_MESSAGE_2", client_messages[1])
rust("SERVER_MESSAGE_1", server_messages[0])
rust("SERVER_MESSAGE_2", server_messages[1])
