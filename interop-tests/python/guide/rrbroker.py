# Request-reply broker: ROUTER on tcp://*:5559, DEALER on tcp://*:5560, polled.
#
# Behaves as the ZeroMQ Guide's examples/Python/rrbroker.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import zmq


def main():
    ctx = zmq.Context()
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.DEALER)
    frontend.bind("tcp://*:5559")
    backend.bind("tcp://*:5560")
    poller = zmq.Poller()
    poller.register(frontend, zmq.POLLIN)
    poller.register(backend, zmq.POLLIN)
    while True:
        ready = dict(poller.poll())
        if ready.get(frontend) == zmq.POLLIN:
            backend.send_multipart(frontend.recv_multipart())
        if ready.get(backend) == zmq.POLLIN:
            frontend.send_multipart(backend.recv_multipart())


if __name__ == "__main__":
    main()
