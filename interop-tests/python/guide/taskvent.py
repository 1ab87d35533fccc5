# Task ventilator: PUSH bound to tcp://*:5557, PUSH to the sink at tcp://localhost:5558.
#
# Behaves as the ZeroMQ Guide's examples/Python/taskvent.py (booksbyus/zguide, MIT/X11):
# same socket types, endpoints, message contents and printed lines. Written for
# courier's interop tests (guide.rs), which run it against courier's port of the
# same example; the Guide's own file can be put in its place.

import random
import time

import zmq


def main():
    ctx = zmq.Context()
    sender = ctx.socket(zmq.PUSH)
    sender.bind("tcp://*:5557")
    sink = ctx.socket(zmq.PUSH)
    sink.connect("tcp://localhost:5558")

    print("Press Enter when the workers are ready: ")
    input()
    print("Sending tasks to workers...")
    sink.send(b"0")  # start of batch

    total_msec = 0
    for _ in range(100):
        workload = random.randint(1, 100)
        total_msec += workload
        sender.send_string("%s" % workload)
    print("Total expected cost: %s msec" % total_msec)
    time.sleep(1)  # let ZeroMQ deliver


if __name__ == "__main__":
    main()
