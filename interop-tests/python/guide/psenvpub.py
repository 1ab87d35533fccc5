# Pub-sub envelope publisher: PUB bound to tcp://*:5563, envelopes A and B every second.
#
# Behaves as the ZeroMQ Guide's examples/Python/psenvpub.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import time

import zmq


def main():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind("tcp://*:5563")
    while True:
        pub.send_multipart([b"A", b"We don't want to see this"])
        pub.send_multipart([b"B", b"We would like to see this"])
        time.sleep(1)


if __name__ == "__main__":
    main()
