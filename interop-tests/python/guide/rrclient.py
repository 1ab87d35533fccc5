# Request-reply client: REQ to the broker at tcp://localhost:5559.
#
# Behaves as the ZeroMQ Guide's examples/Python/rrclient.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq


def main():
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.connect("tcp://localhost:5559")
    for n in range(1, 11):
        req.send(b"Hello")
        reply = req.recv()
        print("Received reply %s [%s]" % (n, reply))


if __name__ == "__main__":
    main()
