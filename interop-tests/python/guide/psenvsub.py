# Pub-sub envelope subscriber: SUB to tcp://localhost:5563, envelope B only.
#
# Behaves as the ZeroMQ Guide's examples/Python/psenvsub.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq


def main():
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.connect("tcp://localhost:5563")
    sub.setsockopt(zmq.SUBSCRIBE, b"B")
    while True:
        address, contents = sub.recv_multipart()
        print("[%s] %s\n" % (address, contents))


if __name__ == "__main__":
    main()
