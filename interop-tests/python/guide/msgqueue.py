# Message queue broker: rrbroker's sockets joined by zmq.proxy.
#
# Behaves as the ZeroMQ Guide's examples/Python/msgqueue.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq


def main():
    ctx = zmq.Context()
    frontend = ctx.socket(zmq.ROUTER)
    frontend.bind("tcp://*:5559")
    backend = ctx.socket(zmq.DEALER)
    backend.bind("tcp://*:5560")
    zmq.proxy(frontend, backend)


if __name__ == "__main__":
    main()
