# Hello World server: REP bound to tcp://*:5555, answers World to each request.
#
# Behaves as the ZeroMQ Guide's examples/Python/hwserver.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import time

import zmq


def main():
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.bind("tcp://*:5555")
    while True:
        request = rep.recv()
        print("Received request: %s" % request)
        time.sleep(1)  # the "work"
        rep.send(b"World")


if __name__ == "__main__":
    main()
