# Helpers of the Guide's Python examples: dump() prints a message frame by frame.
#
# Behaves as the ZeroMQ Guide's examples/Python/zhelpers.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import binascii


def dump(socket):
    print("----------------------------------------")
    for part in socket.recv_multipart():
        try:
            text = part.decode("ascii")
        except UnicodeDecodeError:
            text = "0x%s" % binascii.hexlify(part).decode("ascii")
        print("[%03d] %s" % (len(part), text))
