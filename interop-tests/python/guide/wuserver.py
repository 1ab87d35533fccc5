# Weather update server: PUB bound to tcp://*:5556, random updates for ever.
#
# Behaves as the ZeroMQ Guide's examples/Python/wuserver.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

from random import randrange

import zmq


def main():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind("tcp://*:5556")
    while True:
        update = "%i %i %i" % (randrange(1, 100000), randrange(-80, 135), randrange(10, 60))
        pub.send_string(update)


if __name__ == "__main__":
    main()
