# Custom routing ROUTER to DEALER: ipc://routing.ipc, workers A and B.
#
# Behaves as the ZeroMQ Guide's examples/Python/rtdealer.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import random
import time
from threading import Thread

import zmq


def worker(ctx, name):
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, name.encode())
    dealer.connect("ipc://routing.ipc")
    total = 0
    while True:
        if dealer.recv() == b"END":
            print("%s received: %s" % (name, total))
            break
        total += 1


def main():
    ctx = zmq.Context()
    client = ctx.socket(zmq.ROUTER)
    client.bind("ipc://routing.ipc")
    for name in ("A", "B"):
        Thread(target=worker, args=(ctx, name)).start()
    time.sleep(1)  # let the workers connect

    for _ in range(10):
        address = b"A" if random.randint(0, 2) > 0 else b"B"
        client.send_multipart([address, b"This is the workload"])
    client.send_multipart([b"A", b"END"])
    client.send_multipart([b"B", b"END"])
    time.sleep(1)


if __name__ == "__main__":
    main()
