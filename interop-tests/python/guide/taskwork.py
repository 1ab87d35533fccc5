# Task worker: PULL from tcp://localhost:5557, PUSH results to tcp://localhost:5558.
#
# Behaves as the ZeroMQ Guide's examples/Python/taskwork.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import sys
import time

import zmq


def main():
    ctx = zmq.Context()
    receiver = ctx.socket(zmq.PULL)
    receiver.connect("tcp://localhost:5557")
    sender = ctx.socket(zmq.PUSH)
    sender.connect("tcp://localhost:5558")
    while True:
        workload = receiver.recv()
        sys.stdout.write(".")
        sys.stdout.flush()
        time.sleep(int(workload) * 0.001)
        sender.send(b"")


if __name__ == "__main__":
    main()
