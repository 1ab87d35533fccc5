# Identity check: a ROUTER on inproc://example dumps what two DEALERs send.
#
# Behaves as the ZeroMQ Guide's examples/Python/identity.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq

import zhelpers


def main():
    ctx = zmq.Context()
    sink = ctx.socket(zmq.ROUTER)
    sink.bind("inproc://example")

    anonymous = ctx.socket(zmq.DEALER)
    anonymous.connect("inproc://example")
    anonymous.send(b"ROUTER uses a generated UUID")
    zhelpers.dump(sink)

    identified = ctx.socket(zmq.DEALER)
    identified.setsockopt(zmq.IDENTITY, b"Hello")
    identified.connect("inproc://example")
    identified.send(b"ROUTER socket uses REQ's socket identity")
    zhelpers.dump(sink)


if __name__ == "__main__":
    main()
