# Hello World client: REQ to tcp://localhost:5555, ten Hello requests.
#
# Behaves as the ZeroMQ Guide's examples/Python/hwclient.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq


def main():
    ctx = zmq.Context()
    print("Connecting to hello world server...")
    req = ctx.socket(zmq.REQ)
    req.connect("tcp://localhost:5555")
    for n in range(10):
        print("Sending request %s ..." % n)
        req.send(b"Hello")
        reply = req.recv()
        print("Received reply %s [ %s ]" % (n, reply))


if __name__ == "__main__":
    main()
