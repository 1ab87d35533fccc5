# Request-reply worker: REP to the broker at tcp://localhost:5560.
#
# Behaves as the ZeroMQ Guide's examples/Python/rrworker.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq


def main():
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.connect("tcp://localhost:5560")
    while True:
        request = rep.recv()
        print("Received request: %s" % request)
        rep.send(b"World")


if __name__ == "__main__":
    main()
