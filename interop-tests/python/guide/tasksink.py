# Task sink: PULL bound to tcp://*:5558, times a batch of 100 results.
#
# Behaves as the ZeroMQ Guide's examples/Python/tasksink.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import sys
import time

import zmq


def main():
    ctx = zmq.Context()
    receiver = ctx.socket(zmq.PULL)
    receiver.bind("tcp://*:5558")
    receiver.recv()  # start of batch
    start = time.time()
    for n in range(100):
        receiver.recv()
        sys.stdout.write(":" if n % 10 == 0 else ".")
        sys.stdout.flush()
    print("Total elapsed time: %s msec" % ((time.time() - start) * 1000))


if __name__ == "__main__":
    main()
